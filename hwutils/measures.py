"""Measures of a trained Keras model, each tested against an exact oracle (tests/test_measures.py).

Definitions are those of the design document: θ is every trainable weight flattened in
`model.trainable_weights` order, L the compiled loss averaged over the given samples.
"""
from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from .objective import Objective, chunks

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


def gradient_norm(model, x, y, loss=None, chunk_size: int = 1024) -> float:
    """‖∇θ L‖₂ over all samples."""
    _, grad = objective(model, loss, chunk_size).loss_and_gradient(x, y)
    return float(np.linalg.norm(grad))


def hessian(model, x, y, loss=None, chunk_size: int = 1024, max_params: int = MAX_EXACT_PARAMS) -> np.ndarray:
    """The exact Hessian ∇²θ L, float64 and symmetric, shape (P, P)."""
    obj = objective(model, loss, chunk_size)
    if obj.n_params > max_params:
        raise ValueError(f"the model has {obj.n_params} parameters, above the exact-Hessian limit {max_params} "
                         f"(a {obj.n_params}² matrix); use the matrix-free hvp, top_eigenvalues, hessian_trace "
                         f"or spectral_density, or raise max_params")
    return obj.hessian(x, y)


def hessian_eigenvalues(model, x, y, loss=None, chunk_size: int = 1024) -> np.ndarray:
    """All eigenvalues of the exact Hessian, ascending."""
    return np.linalg.eigvalsh(hessian(model, x, y, loss, chunk_size))


def ratio_of_positive(eigenvalues: np.ndarray, rtol: float = 1e-6) -> float:
    """Fraction of eigenvalues λ > rtol·max|λ|: the minimal ratio."""
    eigenvalues = np.asarray(eigenvalues)
    scale = np.max(np.abs(eigenvalues)) if eigenvalues.size else 0.0
    return float(np.mean(eigenvalues > rtol * scale)) if scale > 0 else 0.0


def ratio_near_zero(eigenvalues: np.ndarray, rtol: float = 1e-6) -> float:
    """Fraction of eigenvalues with |λ| ≤ rtol·max|λ|: the bulk near zero."""
    eigenvalues = np.asarray(eigenvalues)
    scale = np.max(np.abs(eigenvalues)) if eigenvalues.size else 0.0
    return float(np.mean(np.abs(eigenvalues) <= rtol * scale)) if scale > 0 else 1.0


def minimal_ratio(model, x, y, rtol: float = 1e-6, loss=None) -> float:
    """Fraction of Hessian eigenvalues that are positive (λ > rtol·max|λ|)."""
    return ratio_of_positive(hessian_eigenvalues(model, x, y, loss), rtol)


def hvp(model, x, y, v, loss=None, chunk_size: int = 1024) -> np.ndarray:
    """Hessian-vector product H v without forming H (double backpropagation)."""
    return objective(model, loss, chunk_size).hvp(x, y, np.asarray(v, dtype=np.float64))


def _operator(model, x, y, loss, chunk_size):
    from scipy.sparse.linalg import LinearOperator
    obj = objective(model, loss, chunk_size)
    return LinearOperator((obj.n_params, obj.n_params), matvec=lambda v: obj.hvp(x, y, np.ravel(v)),
                          dtype=np.float64), obj.n_params


def top_eigenvalues(model, x, y, k: int = 1, loss=None, tol: float = 1e-6, seed: int = 0,
                    chunk_size: int = 1024) -> np.ndarray:
    """The k Hessian eigenvalues of largest magnitude (implicitly restarted Lanczos on
    Hessian-vector products), ordered by decreasing magnitude."""
    from scipy.sparse.linalg import eigsh
    op, p = _operator(model, x, y, loss, chunk_size)
    if k >= p:
        raise ValueError(f"k={k} must be smaller than the number of parameters {p}; use hessian_eigenvalues")
    v0 = np.random.default_rng(seed).standard_normal(p)
    values = eigsh(op, k=k, which="LM", tol=tol, v0=v0, return_eigenvectors=False)
    return values[np.argsort(-np.abs(values))]


def hessian_trace(model, x, y, samples: int = 100, seed: int = 0, loss=None, chunk_size: int = 1024) -> float:
    """Hutchinson's estimator: the mean of vᵀHv over Rademacher vectors v."""
    obj = objective(model, loss, chunk_size)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(samples):
        v = rng.choice([-1.0, 1.0], size=obj.n_params)
        estimates.append(float(v @ obj.hvp(x, y, v)))
    return float(np.mean(estimates))


def lanczos(matvec, p: int, steps: int, v0: np.ndarray):
    """`steps` Lanczos iterations with full reorthogonalisation: (alpha, beta) of the tridiagonal."""
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


def spectral_density(model, x, y, steps: int = 30, vectors: int = 5, seed: int = 0, loss=None,
                     chunk_size: int = 1024):
    """Stochastic Lanczos quadrature: nodes and weights (summing to one) of the eigenvalue density."""
    obj = objective(model, loss, chunk_size)
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    for _ in range(vectors):
        alpha, beta = lanczos(lambda v: obj.hvp(x, y, v), obj.n_params, steps,
                              rng.choice([-1.0, 1.0], size=obj.n_params))
        t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        ritz, vecs = np.linalg.eigh(t)
        nodes.append(ritz)
        weights.append(vecs[0] ** 2 / vectors)
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    order = np.argsort(nodes)
    return nodes[order], weights[order]


def sensitivity(model, x, per_sample: bool = False, chunk_size: int = 256):
    """Novak et al. (2018): mean over input points of ‖∂f(x)/∂x‖_F, f the model's output (class
    probabilities for a softmax model). Each point's Jacobian is its own, so the value does not
    depend on how the points are grouped into batches."""

    @tf.function(reduce_retracing=True)
    def jacobian_norms(xb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            out = model(xb, training=False)
        jac = tape.batch_jacobian(out, xb)
        return tf.sqrt(tf.reduce_sum(tf.reshape(jac, [tf.shape(jac)[0], -1]) ** 2, axis=1))

    dtype = model.inputs[0].dtype if getattr(model, "inputs", None) else "float32"
    norms = np.concatenate([np.asarray(jacobian_norms(tf.convert_to_tensor(x[a:b], dtype=dtype)), dtype=np.float64)
                            for a, b in chunks(len(x), chunk_size)])
    return norms if per_sample else float(norms.mean())


def sharpness(model, x, y, epsilon: float = 1e-3, subspace_dim: int | None = None, seed: int = 0,
              maxiter: int = 10, loss=None, chunk_size: int = 1024) -> float:
    """Keskar et al. (2017): φ = 100·(max_{z∈C_ε} L(θ+z) − L(θ)) / (1 + L(θ)), the box
    C_ε = {z : |z_i| ≤ ε(|θ_i| + 1)} (in a random subspace z = A y when subspace_dim is given,
    with |y_i| ≤ ε(|(A⁺θ)_i| + 1)). The maximum is approximated with L-BFGS-B from a random point
    of the box. The model's weights are restored afterwards."""
    from scipy.optimize import minimize
    if epsilon < 0:
        raise ValueError(f"epsilon must be ≥ 0, got {epsilon}")
    obj = objective(model, loss, chunk_size)
    theta = obj.get_flat()
    rng = np.random.default_rng(seed)
    if subspace_dim is None:
        basis = None
        bound = epsilon * (np.abs(theta) + 1.0)
    else:
        basis = rng.standard_normal((obj.n_params, subspace_dim))
        bound = epsilon * (np.abs(np.linalg.pinv(basis) @ theta) + 1.0)
    best = {"loss": -np.inf}

    def negative_loss(z):
        step = z if basis is None else basis @ z
        obj.set_flat(theta + step)
        value, grad = obj.loss_and_gradient(x, y)
        best["loss"] = max(best["loss"], value)
        return -value, -(grad if basis is None else basis.T @ grad)

    try:
        base = obj.loss(x, y)
        if epsilon > 0:
            start = rng.uniform(-bound, bound)
            minimize(negative_loss, start, jac=True, method="L-BFGS-B", bounds=np.stack([-bound, bound], 1),
                     options={"maxiter": maxiter})
    finally:
        obj.set_flat(theta)
    peak = max(best["loss"], base)
    return float(100.0 * (peak - base) / (1.0 + base))
