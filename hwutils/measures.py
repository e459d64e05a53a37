"""Measures of a trained Keras model, each tested against an exact oracle (tests/test_measures.py).

Definitions are those of the design document: θ is every trainable weight flattened in
`model.trainable_weights` order, L the compiled loss averaged over the given samples.

Any compiled Keras model — functional, Sequential or subclassed; several inputs; one loss, or a list or
dict of them with `loss_weights`; sample weights; regularisation (`model.losses`). L is the one loss
definition of `hwutils.loss`: the loss `model.evaluate` reports, with the model in inference mode
(`training=False`: BatchNormalization uses its moving statistics, Dropout is the identity), computed in
the model's own precision.

Any batched data. Every measure of a loss takes `x, y=None, ..., sample_weight=None`: arrays (one array
or a list/dict of them, as `model.fit` takes them), or a source of batches given as x alone — a
tf.data.Dataset, a keras.utils.PyDataset, a callable returning an iterable of (x, y) or (x, y,
sample_weight) batches, a list of such batches, a generator (kept in memory up to a bound: see
`hwutils.batches`). The data are read batch by batch in chunks of at most `chunk_size` samples, so the
result is the full-data mean whatever the batching and memory is bounded by one chunk.

Every result is the value it always was (a float, a float64 array, a (nodes, weights) pair) carrying
`.precision`, the dtype the loss and its derivatives were computed in (float32 for a float32 model,
though stored as float64), and, for estimates, what they were estimated with (`hwutils.results`).
"""
from __future__ import annotations

import weakref

import keras
import numpy as np

from . import backend, batches
from .loss import forward_precision, narrowest, stateless_outputs
from .objective import Objective
from .results import Density, Scalar, Values

MAX_EXACT_PARAMS = 5000
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def objective(model, loss=None, chunk_size: int = 1024) -> Objective:
    """The model's Objective, reused across calls: tracing the compiled loss, gradient and
    Hessian functions costs seconds, evaluating them afterwards milliseconds."""
    effective = model.loss if loss is None else loss
    key = (effective if isinstance(effective, str) else id(effective), int(chunk_size))
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = Objective(model, loss, chunk_size)
    return per_model[key]


def precision(model, loss=None) -> str:
    """The floating dtype the loss measures of `model` compute in, e.g. "float32" (`hwutils.loss`)."""
    return objective(model, loss).precision


def gradient_norm(model, x, y=None, loss=None, chunk_size: int = 1024, *, sample_weight=None) -> float:
    """‖∇θ L‖₂ over all samples. Data: arrays, or a batch source as x (module docstring).
    Returns a float (`results.Scalar`) with `.precision`."""
    obj = objective(model, loss, chunk_size)
    _, grad = obj.loss_and_gradient(x, y, sample_weight)
    return Scalar(np.linalg.norm(grad), precision=obj.precision)


def hessian(model, x, y=None, loss=None, chunk_size: int = 1024, max_params: int = MAX_EXACT_PARAMS, *,
            sample_weight=None) -> np.ndarray:
    """The exact Hessian ∇²θ L, symmetric, shape (P, P), for P ≤ max_params. Data: arrays, or a batch
    source as x. Returns a float64 array (`results.Values`) whose `.precision` says what it was computed
    in: a float32 model's Hessian is computed in float32 and stored as float64 (build the model in
    float64 for a float64 Hessian)."""
    obj = objective(model, loss, chunk_size)
    if obj.n_params > max_params:
        raise ValueError(f"the model has {obj.n_params} parameters, above the exact-Hessian limit {max_params} "
                         f"(a {obj.n_params}² matrix); use the matrix-free hvp, top_eigenvalues, hessian_trace "
                         f"or spectral_density, or raise max_params")
    return Values(obj.hessian(x, y, sample_weight=sample_weight), precision=obj.precision)


def hessian_eigenvalues(model, x, y=None, loss=None, chunk_size: int = 1024, *, sample_weight=None) -> np.ndarray:
    """All eigenvalues of the exact Hessian, ascending: LAPACK's float64 eigvalsh of `hessian`. Returns a
    float64 array with `.precision` (that of the Hessian)."""
    h = hessian(model, x, y, loss, chunk_size, sample_weight=sample_weight)
    return Values(np.linalg.eigvalsh(np.asarray(h)), precision=h.precision)


def unit_roundoff(dtype) -> float:
    """u = ε/2 of a floating dtype: 2⁻²⁴ ≈ 6e-8 for float32, 2⁻⁵³ ≈ 1.1e-16 for float64."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def relu_rescaling_generators(widths) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ReLU rescaling symmetries of the dense chain widths[0] -> ... -> widths[-1], in the θ
    layout of Keras Dense layers (kernel_0 C-order, bias_0, kernel_1, ...): for each hidden unit,
    (θ indices of its incoming kernel column and bias, θ indices of its outgoing kernel row).
    Scaling the first by e^s and the second by e^{-s} leaves the network's function unchanged."""
    widths = list(widths)
    starts, start = [], 0
    for a, b in zip(widths[:-1], widths[1:]):
        starts.append((start, start + a * b))  # kernel start, bias start
        start += a * b + b
    out = []
    for layer in range(len(widths) - 2):  # hidden layers: outputs of layer `layer`
        a, b, c = widths[layer], widths[layer + 1], widths[layer + 2]
        k0, b0 = starts[layer]
        k1, _ = starts[layer + 1]
        for j in range(b):
            incoming = np.concatenate([k0 + np.arange(a) * b + j, [b0 + j]])
            outgoing = k1 + j * c + np.arange(c)
            out.append((incoming.astype(int), outgoing.astype(int)))
    return out


def gradient_band(theta, grad, generators) -> dict:
    """The curvature that a remaining gradient g can put on directions that are exactly flat at a
    critical point: the band (b) of the minimal ratio.

    Derivation. Let D_j be the diagonal generator of a continuous symmetry (a ReLU unit's rescaling:
    +1 on its incoming weights and bias, −1 on its outgoing weights, 0 elsewhere), so that
    L(exp(s D_j) θ) = L(θ) for every θ and s. Differentiating in s at s = 0 gives gᵀ D_j θ = 0 for
    every θ; differentiating that identity in θ gives, wherever L is twice differentiable,

        H v_j = −D_j g,    v_j = D_j θ.

    At an exact critical point (g = 0) every v_j is a null vector of H: these directions are flat
    by symmetry, not by the data. With g ≠ 0 they are only approximately null: for x = V c in their
    span V = [v_1 … v_k], ‖H x‖ = ‖W c‖ with W = [D_1 g … D_k g], so

        r = max_c ‖W c‖ / ‖V c‖   (= ‖W Z S⁻¹‖₂ from the thin SVD V = U S Zᵀ)

    bounds ‖H x‖/‖x‖ on the whole span, and by Courant–Fischer applied to H² the matrix H has at
    least rank(V) eigenvalues in [−r, r]. r is computed exactly from θ and g (no constant to tune);
    it is of order ‖g_j‖/‖θ_j‖, the gradient on a unit's weights over their norm (the unnormalised
    form v_jᵀ H v_j = −Σ_{i∈unit j} g_i θ_i is ‖g‖ times the weight scale), and it is 0 at an exact
    critical point. Eigenvalues inside ±r may be these symmetry directions tilted by g: their sign
    is not curvature of the loss at a critical point.

    Returns {"tau": r, "directions": rank(V)}.
    """
    theta, grad = np.asarray(theta, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    if not generators:
        return {"tau": 0.0, "directions": 0}
    v = np.zeros((len(theta), len(generators)))
    w = np.zeros_like(v)
    for j, (incoming, outgoing) in enumerate(generators):
        v[incoming, j], v[outgoing, j] = theta[incoming], -theta[outgoing]
        w[incoming, j], w[outgoing, j] = grad[incoming], -grad[outgoing]
    _, s, zt = np.linalg.svd(v, full_matrices=False)
    keep = s > (s[0] if s.size else 0) * 1e-10
    if not keep.any():
        return {"tau": 0.0, "directions": 0}
    r = np.linalg.norm(w @ zt[keep].T / s[keep], 2)
    return {"tau": float(r), "directions": int(keep.sum())}


def ratio_of_positive(eigenvalues: np.ndarray, tau: float = 0.0) -> float:
    """Fraction of eigenvalues λ > τ: the minimal ratio (τ from `spectrum_band`)."""
    eigenvalues = np.asarray(eigenvalues)
    return float(np.mean(eigenvalues > tau)) if eigenvalues.size else float("nan")


def ratio_near_zero(eigenvalues: np.ndarray, tau: float = 0.0) -> float:
    """Fraction of eigenvalues with |λ| ≤ τ: the bulk that the band cannot sign."""
    eigenvalues = np.asarray(eigenvalues)
    return float(np.mean(np.abs(eigenvalues) <= tau)) if eigenvalues.size else float("nan")


def spectrum_band(eigenvalues, gradient=None, theta=None, widths=None, dtype="float64") -> dict:
    """The band τ = max(τ_rounding, τ_gradient) inside which an eigenvalue's sign is not measured.

    (a) τ_rounding = √P·u·max|λ|: the eigenvalue error that floating point allows a backward-stable
        eigensolver on a Hessian computed in `dtype` (u its unit round-off).
    (b) τ_gradient: `gradient_band` over the ReLU rescaling symmetries of the dense chain `widths`,
        when gradient, θ and widths are given (else 0).
    """
    eig = np.asarray(eigenvalues, dtype=np.float64)
    scale = float(np.max(np.abs(eig))) if eig.size else 0.0
    rounding = float(np.sqrt(eig.size) * unit_roundoff(dtype) * scale)
    grad = {"tau": 0.0, "directions": 0}
    if gradient is not None and theta is not None and widths is not None:
        grad = gradient_band(theta, gradient, relu_rescaling_generators(widths))
    return {"tau": max(rounding, grad["tau"]), "tau_rounding": rounding, "tau_gradient": grad["tau"],
            "symmetry_directions": grad["directions"]}


def critical_point_spectrum(hessian, gradient=None, theta=None, widths=None, dtype="float64") -> dict:
    """Eigenvalues of a Hessian classed negative, near zero or positive against the band τ
    (`spectrum_band`), for the minimal ratio of Dauphin et al. (2014).

    Rows and columns of H that are exactly zero (a dead ReLU unit: no sample activates it, so
    neither its incoming nor its outgoing weights move the loss) give exact zero eigenvalues:
    degeneracy, not curvature. They are split off before the eigensolver (H is block-diagonal
    with a zero block after a permutation), counted in `exact_zero` and classed near zero.

    Returns {"eigenvalues" (ascending, float64), "negative", "near_zero", "positive" (fractions of
    P summing to one), "exact_zero", "minimal_ratio" (= positive: the report's fraction of
    positive eigenvalues), "minimal_ratio_live" (positive eigenvalues over the P − exact zeros
    directions that are not degenerate), "index" (= negative), "tau", "tau_rounding", "tau_gradient",
    "symmetry_directions"}.
    """
    h = np.asarray(hessian, dtype=np.float64)
    p = h.shape[0]
    live = np.any(h != 0, axis=0) | np.any(h != 0, axis=1)
    eig = np.sort(np.concatenate([np.linalg.eigvalsh(h[np.ix_(live, live)]), np.zeros(p - int(live.sum()))]))
    band = spectrum_band(eig, gradient, theta, widths, dtype)
    tau = band["tau"]
    out = {"eigenvalues": eig, "negative": float(np.mean(eig < -tau)), "near_zero": ratio_near_zero(eig, tau),
           "positive": ratio_of_positive(eig, tau), "exact_zero": float(p - live.sum()) / p, **band}
    out["minimal_ratio"], out["index"] = out["positive"], out["negative"]
    # among the directions that are not degenerate: a dead unit removes parameters, not curvature
    out["minimal_ratio_live"] = float(np.sum(eig > tau) / live.sum()) if live.any() else float("nan")
    return out


def dense_relu_widths(model) -> list[int] | None:
    """The widths of a plain chain of Dense layers with ReLU hidden activations, else None."""
    import keras
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    if not layers or not all(isinstance(l, keras.layers.Dense) and l.use_bias for l in layers):
        return None
    if not all(getattr(l.activation, "__name__", "") == "relu" for l in layers[:-1]):
        return None
    return [int(layers[0].kernel.shape[0])] + [int(l.units) for l in layers]


def minimal_ratio(model, x, y=None, loss=None, *, sample_weight=None) -> float:
    """Fraction of Hessian eigenvalues that are positive, λ > τ (`critical_point_spectrum`): the
    band from rounding in the precision the Hessian was computed in and, for a dense ReLU chain, from the
    remaining gradient. Data: arrays, or a batch source as x. Returns a float with `.precision`."""
    data = batches.of(x, y, sample_weight)
    obj = objective(model, loss)
    _, grad = obj.loss_and_gradient(data)
    value = critical_point_spectrum(hessian(model, data, loss=loss), grad, obj.get_flat(), dense_relu_widths(model),
                                    obj.precision)["minimal_ratio"]
    return Scalar(value, precision=obj.precision)


def hvp(model, x, y=None, v=None, loss=None, chunk_size: int = 1024, *, sample_weight=None) -> np.ndarray:
    """Hessian-vector product H v without forming H (`hwutils.backend.hvp`: forward over reverse on JAX, double
    backpropagation on TensorFlow). v: a vector [P] in θ's
    layout. Data: arrays, or a batch source as x. Returns a float64 array [P] with `.precision`."""
    obj = objective(model, loss, chunk_size)
    return Values(obj.hvp(x, y, np.asarray(v, dtype=np.float64), sample_weight), precision=obj.precision)


def _operator(obj, data):
    """H as a SciPy LinearOperator on `data`, and a one-element list counting its products."""
    from scipy.sparse.linalg import LinearOperator
    count = [0]

    def matvec(v):
        count[0] += 1
        return obj.hvp(data, v=np.ravel(v))
    return LinearOperator((obj.n_params, obj.n_params), matvec=matvec, dtype=np.float64), count


EIGEN_ORDER = {"LA": lambda v: -v, "SA": lambda v: v, "LM": lambda v: -np.abs(v)}


def top_eigenvalues(model, x, y=None, k: int = 1, loss=None, tol: float = 1e-6, seed: int = 0,
                    chunk_size: int = 1024, *, which: str = "LA", maxiter: int | None = None,
                    sample_weight=None) -> np.ndarray:
    """k Hessian eigenvalues from one end of the spectrum, by implicitly restarted Lanczos (ARPACK's
    eigsh) on Hessian-vector products, H never formed:
    which="LA" the k largest, λ_max first (descending); "SA" the k smallest, most negative first
    (ascending); "LM" the k of largest magnitude, by decreasing |λ| (a large negative eigenvalue can come
    first). `maxiter` bounds ARPACK's restarts (None: its default, 10·P); `tol` is its relative accuracy;
    scipy's ArpackNoConvergence is raised when the budget runs out. Data: arrays, or a batch source as x.
    Returns a float64 array [k] with `.precision`, `.which` and `.hvps` (Hessian-vector products used)."""
    from scipy.sparse.linalg import eigsh
    if which not in EIGEN_ORDER:
        raise ValueError(f"which must be one of {sorted(EIGEN_ORDER)}, got {which!r}")
    obj = objective(model, loss, chunk_size)
    p = obj.n_params
    if k >= p:
        raise ValueError(f"k={k} must be smaller than the number of parameters {p}; use hessian_eigenvalues")
    op, count = _operator(obj, batches.of(x, y, sample_weight))
    v0 = np.random.default_rng(seed).standard_normal(p)
    values = eigsh(op, k=k, which=which, tol=tol, v0=v0, maxiter=maxiter, return_eigenvectors=False)
    return Values(values[np.argsort(EIGEN_ORDER[which](values), kind="stable")], precision=obj.precision,
                  which=which, hvps=count[0])


def hessian_trace(model, x, y=None, samples: int = 100, seed: int = 0, loss=None, chunk_size: int = 1024, *,
                  sample_weight=None) -> float:
    """Hutchinson's estimator of tr H: the mean of vᵀHv over `samples` Rademacher vectors v. Data: arrays,
    or a batch source as x. Returns a float with `.se` (the standard error: the sample standard deviation
    of vᵀHv over the probes / √samples; NaN for one probe), `.probes` and `.precision`."""
    obj = objective(model, loss, chunk_size)
    data = batches.of(x, y, sample_weight)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(samples):
        v = rng.choice([-1.0, 1.0], size=obj.n_params)
        estimates.append(float(v @ obj.hvp(data, v=v)))
    se = float(np.std(estimates, ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return Scalar(np.mean(estimates), se=se, probes=int(samples), precision=obj.precision)


def lanczos(matvec, p: int, steps: int, v0: np.ndarray):
    """`steps` Lanczos iterations with full reorthogonalisation: (alpha, beta) of the tridiagonal; fewer
    when the Krylov space is exhausted (len(alpha) is the number of steps run)."""
    q = v0 / np.linalg.norm(v0)
    basis, alpha, beta = [q], [], []
    for j in range(min(steps, p)):
        w = matvec(basis[-1])
        alpha.append(float(basis[-1] @ w))
        for b in basis:  # full reorthogonalisation keeps the Ritz values honest
            w -= (b @ w) * b
        norm = float(np.linalg.norm(w))
        if j == min(steps, p) - 1 or norm < 1e-10:
            break
        beta.append(norm)
        basis.append(w / norm)
    return np.array(alpha), np.array(beta[: len(alpha) - 1])


def spectral_density(model, x, y=None, steps: int = 30, vectors=5, seed: int = 0, loss=None,
                     chunk_size: int = 1024, *, sample_weight=None):
    """Stochastic Lanczos quadrature: nodes and weights (summing to one) of the eigenvalue density.

    `vectors` is the number of Rademacher probes, or the probes themselves as an array [k, P].
    Each probe v contributes the Ritz values of its Lanczos tridiagonal as nodes, weighted by the
    squared first components of the tridiagonal's eigenvectors (over k): with full steps these are
    the eigenvalues λ_i of H and (q_iᵀv)²/‖v‖², so Σ w f(node) estimates trace f(H) / P.
    Data: arrays, or a batch source as x. Returns the pair (nodes, weights), sorted by node
    (`results.Density`: `.nodes`, `.weights`), with `.probes` (k), `.steps` (the steps asked for),
    `.lanczos_steps` (the steps each probe ran: fewer where its Krylov space was exhausted) and
    `.precision`."""
    obj = objective(model, loss, chunk_size)
    data = batches.of(x, y, sample_weight)
    if np.ndim(vectors) == 0:
        rng = np.random.default_rng(seed)
        probes = rng.choice([-1.0, 1.0], size=(int(vectors), obj.n_params))
    else:
        probes = np.asarray(vectors, dtype=np.float64).reshape(-1, obj.n_params)
    nodes, weights, used = [], [], []
    for v in probes:
        alpha, beta = lanczos(lambda u: obj.hvp(data, v=u), obj.n_params, steps, v)
        t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        ritz, vecs = np.linalg.eigh(t)
        nodes.append(ritz)
        weights.append(vecs[0] ** 2 / len(probes))  # first row: each eigenvector's weight on q_1 = v/‖v‖
        used.append(len(alpha))
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    order = np.argsort(nodes)
    return Density(nodes[order], weights[order], probes=len(probes), steps=int(steps), lanczos_steps=used,
                   precision=obj.precision)


def _jacobian_norms_fn(model, batch_x, wrt: tuple):
    """The compiled per-point ‖∂f(x)/∂x‖_F of `model` with respect to the input leaves `wrt` (positions in
    keras.tree.flatten(x)), a function of (weights, non-trainable values, x), cached per model, input signature
    and `wrt`."""
    key = ("sensitivity", batches.signature_key(batch_x), wrt)
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        def jacobian_norms(values, state, xb):
            def outputs(leaves):
                return keras.tree.flatten(stateless_outputs(model, values, state, keras.tree.pack_sequence_as(xb, leaves)))
            squares = []  # one squared Frobenius norm per (output, input) pair, per point
            for per_output in backend.batch_jacobians(outputs, keras.tree.flatten(xb), wrt):
                for jac in per_output:
                    squares.append(keras.ops.sum(keras.ops.reshape(jac, (keras.ops.shape(jac)[0], -1)) ** 2, axis=1))
            return keras.ops.sqrt(sum(squares[1:], squares[0]))
        per_model[key] = backend.jit(jacobian_norms, batch_arg=2)
    return per_model[key]


def _differentiated_inputs(batch_x, inputs) -> tuple:
    """Positions in keras.tree.flatten(x) of the inputs `sensitivity` differentiates: the named ones (dict
    keys or list positions), else every floating input."""
    flat = batches.leaves_with_paths(batch_x)
    if inputs is None:
        wrt = tuple(i for i, (_, leaf) in enumerate(flat) if "float" in keras.backend.standardize_dtype(leaf.dtype))
    else:
        paths = [path for path, _ in flat]
        wanted = [str(n) for n in ([inputs] if isinstance(inputs, (str, int)) else inputs)]
        missing = [n for n in wanted if n not in paths]
        if missing:
            raise ValueError(f"inputs {missing} are not among the model's inputs {paths}")
        wrt = tuple(paths.index(n) for n in wanted)
    if not wrt:
        raise ValueError("no floating input to differentiate with respect to")
    return wrt


def sensitivity(model, x, per_sample: bool = False, chunk_size: int = 256, *, inputs=None):
    """Novak et al. (2018): mean over input points of ‖∂f(x)/∂x‖_F, f the model's output (class
    probabilities for a softmax model), in inference mode. Each point's Jacobian is its own, so the value
    does not depend on how the points are grouped into batches. Compiled once per model and input shape.

    Several inputs or outputs: the Frobenius norm of the Jacobian of all outputs with respect to all
    floating inputs together, √(Σ_o Σ_j ‖∂f_o/∂x_j‖_F²) — the single-input definition applied to the
    concatenated inputs and outputs; integer inputs (token ids) have no derivative and are left out;
    `inputs` (a dict key or list position, or a list of them) differentiates with respect to those only.

    x: the inputs as arrays (one array, or a list/dict of them), or a batch source (module docstring)
    whose batches' x are used (targets ignored). Returns the mean, a float with `.precision` and
    `.points`, or with per_sample=True each point's norm, a float64 array [N] with `.precision`."""
    norms, dtypes = [], []
    for source_batch in batches.of(x):
        for batch in batches.split(source_batch, chunk_size):
            batch_x = batch[0]
            wrt = _differentiated_inputs(batch_x, inputs)
            fn = _jacobian_norms_fn(model, batch_x, wrt)
            norms.append(np.asarray(fn([v.value for v in model.trainable_variables],
                                       [v.value for v in model.non_trainable_variables], batches.as_arrays(batch_x)),
                                    dtype=np.float64))
            dtypes = [keras.tree.flatten(batch_x)[i].dtype for i in wrt]
    norms = np.concatenate(norms)
    used = narrowest([forward_precision(model), *dtypes])
    return Values(norms, precision=used) if per_sample else Scalar(norms.mean(), precision=used, points=len(norms))


def sharpness(model, x, y=None, epsilon: float = 1e-3, subspace_dim: int | None = None, seed: int = 0,
              maxiter: int = 10, loss=None, chunk_size: int = 1024, return_maximizer: bool = False, *,
              sample_weight=None):
    """Keskar et al. (2017): φ = 100·(max_{z∈C_ε} L(θ+z) − L(θ)) / (1 + L(θ)), the box
    C_ε = {z : |z_i| ≤ ε(|θ_i| + 1)} (in a random subspace z = A y when subspace_dim is given,
    with |y_i| ≤ ε(|(A⁺θ)_i| + 1)). The maximum is the value L-BFGS-B (box bounds, `maxiter`
    iterations) reaches from a random point of the box, or L(θ) itself (z = 0 lies in the box)
    should that be higher. Data: arrays, or a batch source as x. Returns φ, a float with `.precision`
    and `.epsilon`; with return_maximizer, (φ, z) with z the maximiser in the full parameter space
    (float64 [P]). The model's weights are restored afterwards."""
    from scipy.optimize import minimize
    if epsilon < 0:
        raise ValueError(f"epsilon must be ≥ 0, got {epsilon}")
    obj = objective(model, loss, chunk_size)
    data = batches.of(x, y, sample_weight)
    theta = obj.get_flat()
    rng = np.random.default_rng(seed)
    if subspace_dim is None:
        basis = None
        bound = epsilon * (np.abs(theta) + 1.0)
    else:
        basis = rng.standard_normal((obj.n_params, subspace_dim))
        bound = epsilon * (np.abs(np.linalg.pinv(basis) @ theta) + 1.0)

    def full(z):
        return z if basis is None else basis @ z

    def negative_loss(z):
        obj.set_flat(theta + full(z))
        value, grad = obj.loss_and_gradient(data)
        return -value, -(grad if basis is None else basis.T @ grad)

    try:
        base = obj.loss_and_gradient(data)[0]  # the function the optimiser evaluates: ε = 0 gives 0 exactly
        result = minimize(negative_loss, rng.uniform(-bound, bound), jac=True, method="L-BFGS-B",
                          bounds=np.stack([-bound, bound], 1), options={"maxiter": maxiter})
    finally:
        obj.set_flat(theta)
    peak, z = -float(result.fun), full(np.asarray(result.x, dtype=np.float64))
    if peak < base:
        peak, z = base, np.zeros(obj.n_params)
    phi = Scalar(100.0 * (peak - base) / (1.0 + base), precision=obj.precision, epsilon=float(epsilon))
    return (phi, z) if return_maximizer else phi


# ------------------------------------------------------------ gradient norm and loss oscillation
def detrend_log(values, window: int = 51, exclude: int | None = None) -> np.ndarray:
    """log(values) minus its centred running median over `window` points (edges: nearest value):
    what is left of a positive series once its slow trend is removed. With `exclude` = h, the median
    at t leaves out the points within ±h of t (edges: only the points that exist), so nothing near t
    moves the trend subtracted from point t."""
    from scipy.ndimage import median_filter
    logs = np.log(np.asarray(values, dtype=np.float64))
    if exclude is None:
        return logs - median_filter(logs, size=int(window), mode="nearest")
    half, h = int(window) // 2, int(exclude)
    if half <= h:
        raise ValueError(f"a window of {window} leaves nothing outside ±{h}")
    w = np.lib.stride_tricks.sliding_window_view(np.pad(logs, half, constant_values=np.nan), 2 * half + 1).copy()
    w[:, half - h: half + h + 1] = np.nan
    return logs - np.nanmedian(w, axis=1)


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata
    r = rankdata(a, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    return r / np.linalg.norm(r, axis=-1, keepdims=True)


def oscillation_coupling(grad_norm, loss, window: int = 51, horizon: int = 10, lags=None):
    """Does a larger gradient norm go with a larger loss oscillation, beyond the shared trend and
    mini-batch sampling? Returns (ρ, ρ at each lag of `lags`).

    g_t: the log gradient norm of iteration t minus its running median over `window` iterations
    that leaves out t ± horizon (detrend_log with exclude=horizon). o_t: how much the loss
    oscillates over the NEXT `horizon` iterations, the log standard deviation of the detrended log
    batch loss r (detrend_log) over t+1 … t+horizon, with no second median filter. Batch t's own
    loss is not in o_t, so a hard batch, which has both a large gradient and a large loss, cannot
    couple them by itself (the sampling effect).

    Why these detrendings: a running median that holds values near t biases ρ below the null, since
    the null's lags (≥ 2·horizon) do not keep that dependence. Had g's median held t+1 … t+horizon,
    hard batches there (large o_t) would raise it and lower g_t; had o been detrended again, its
    median would hold spreads that contain batch t (large g_t) and lower o_t; had both medians left
    out ±horizon, batches in both far windows would lower both (a positive bias). Each of these came out
    beyond one 2.5% tail of the null on no-effect synthetic series 7–11% of the time
    (tests/test_measures.py). Left undetrended, o keeps any slow trend in the oscillation; the
    circular-shift null keeps it too, so that costs power, not validity.

    ρ = Spearman(g_t, o_t). The null: ρ with g circularly shifted by each lag against o (each series
    keeps its autocorrelation and what trend is left; only their alignment is broken) — compare with
    claims.against_null.
    """
    g, r = detrend_log(grad_norm, window, exclude=horizon), detrend_log(loss, window)
    n = len(g) - horizon
    if n < 3:
        raise ValueError(f"{len(g)} iterations are too few for a horizon of {horizon}")
    spread = np.lib.stride_tricks.sliding_window_view(r[1:], horizon).std(axis=1)[:n]
    o = np.log(np.maximum(spread, 1e-300))
    rg, ro = _ranks(g[:n]), _ranks(o)
    rho = float(rg @ ro)
    lags = oscillation_lags(len(g), horizon) if lags is None else np.asarray(lags, dtype=int)
    shifted = np.stack([np.roll(rg, int(k)) for k in lags]) if len(lags) else np.zeros((0, n))
    return rho, shifted @ ro


def oscillation_lags(iterations: int, horizon: int = 10, count: int = 199) -> np.ndarray:
    """Up to `count` evenly spaced circular lags for oscillation_coupling's null, at least 2·horizon
    away from 0 on both sides so a shifted g_t shares no window with its own o_t."""
    n = iterations - horizon
    low, high = 2 * horizon, n - 2 * horizon
    if high <= low:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(low, high, min(count, high - low + 1)).round().astype(int))


def prediction_roughness(prediction, target) -> float:
    """How jagged a fit is: the root-mean-square second difference of the fit's error (prediction − target) on
    an evenly spaced grid, over the target's own. 0: the fit follows the function's curvature exactly; 1: it
    misses all of it (a constant prediction); far above 1: it adds curvature of its own — a corner, a ReLU net's
    kink, is one large second difference, which the square weighs up (a mean |second difference| of the
    prediction would not see it: a piecewise-linear fit has the same total change of slope as the function)."""
    pred, true = np.asarray(prediction, dtype=float).ravel(), np.asarray(target, dtype=float).ravel()
    return float(np.sqrt(np.mean(np.diff(pred - true, 2) ** 2) / np.mean(np.diff(true, 2) ** 2)))
