"""Train many same-shaped tiny MLPs at once: the stacked ensemble.

Member m's weights are row m of one variable θ [M, P], in its exported Keras model's order; one
batched matmul per layer runs every member. The summed loss Σ_m L_m makes every member's gradient
its own, and Adam and SGD act per element, so member m follows the trajectory it would follow
alone from the same initial weights with the same batches. The whole loop over steps runs as one
XLA program (several epochs per call), so the per-step Python and Keras overhead that dominates a plain
`model.fit` of a tiny network is paid once per call instead of once per step.

Everything here is keras.ops on values: θ, the optimizer's variables and the active members go into a
compiled function and come out of it (`hwutils.backend`: the gradient, the optimizer step, jit; the loop is
keras.ops.fori_loop), so the same code runs on TensorFlow (tf.function with XLA, tf.while_loop) and JAX
(jax.jit, lax.fori_loop).
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import keras
import numpy as np
from keras import ops

from . import backend
from .models import dense_chain
from .order import epoch_order
from .progress import Progress
from .training import optimizer as make_optimizer

LOSSES = ("mse", "sparse_categorical_crossentropy")


class Ensemble:
    """M members of the MLP widths[0] -> ... -> widths[-1], each with its own initial weights
    (Glorot-uniform kernels, zero biases, like keras.layers.Dense) and its own optimizer state."""

    def __init__(self, widths: Sequence[int], members: int, activation: str = "relu", loss: str = "mse",
                 optimizer: str = "adam", learning_rate: float = 1e-3, seed: int = 0, dtype: str = "float32"):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if members < 1 or len(widths) < 2:
            raise ValueError("an ensemble needs at least one member and an input and output width")
        self.widths, self.members, self.activation = list(widths), int(members), activation
        self.loss_name, self.dtype = loss, dtype
        self.output_activation = "softmax" if loss == "sparse_categorical_crossentropy" else None
        self.optimizer_name, self.learning_rate = optimizer, learning_rate
        # Drawn in NumPy from the seed: the same initial weights on every backend.
        rng = np.random.default_rng(seed)
        # All of a member's weights live in one row of one variable θ [M, P], in the exported
        # model's order (kernel_0 C-order, bias_0, kernel_1, ...): the optimizer, the masking and
        # the compiled program then handle one tensor per ensemble instead of two per layer, which
        # is what keeps tracing and XLA compilation short.
        self._layout = list(zip(widths[:-1], widths[1:]))  # (fan_in, fan_out) of every layer
        blocks = []
        for a, b in self._layout:
            limit = math.sqrt(6.0 / (a + b))
            blocks += [rng.uniform(-limit, limit, size=(members, a * b)), np.zeros((members, b))]
        self.theta = keras.Variable(np.concatenate(blocks, axis=1), dtype=dtype, name="theta")
        backend.check_dtypes([self.theta], "the ensemble")
        self.variables = [self.theta]
        self.optimizer = make_optimizer(optimizer, learning_rate)
        self.optimizer.build(self.variables)
        self.active = np.ones(members, dtype=bool)  # members still training (a diverged one is frozen)
        self.diverged = np.zeros(members, dtype=bool)
        self.epochs_done = 0
        self._compiled = {}

    # ------------------------------------------------------------ the model
    @property
    def n_params(self) -> int:
        return int(self.theta.shape[1])

    def _offsets(self) -> list[tuple[int, int, int]]:
        """Where each layer lives in a member's θ: (kernel start, bias start, end)."""
        out, start = [], 0
        for a, b in self._layout:
            out.append((start, start + a * b, start + a * b + b))
            start += a * b + b
        return out

    def _unpack(self, theta):
        """Kernels [M, in, out] and biases [M, out] of every layer, split from θ [M, P]."""
        # One split rather than a slice per block: its gradient is a single concatenation,
        # where per-block slices would each add a padded copy of θ to the compiled program.
        cuts = np.cumsum([size for a, b in self._layout for size in (a * b, b)])[:-1].tolist()
        blocks = ops.split(theta, cuts, axis=1)
        kernels = [ops.reshape(k, (self.members, a, b)) for k, (a, b) in zip(blocks[::2], self._layout)]
        return kernels, blocks[1::2]

    @property
    def kernels(self):
        return self._unpack(self.theta.value)[0]

    @property
    def biases(self):
        return self._unpack(self.theta.value)[1]

    def _forward(self, x, theta=None):
        """x [B, in] shared by all members, or [M, B, in] (each member its own batch) -> outputs [M, B, out];
        θ [M, P] defaults to the ensemble's weights (the Hessians pass a float64 copy)."""
        # (Folding each bias into its matmul as an extra input row of ones compiles a little
        # faster, but made the double backpropagation of the gradient-norm phase 1.8x slower.)
        kernels, biases = self._unpack(self.theta.value if theta is None else theta)
        h = ops.einsum("mbi,mio->mbo" if len(x.shape) == 3 else "bi,mio->mbo", x, kernels[0]) + biases[0][:, None, :]
        for k, b in zip(kernels[1:], biases[1:]):
            h = keras.activations.get(self.activation)(h)
            h = ops.matmul(h, k) + b[:, None, :]
        if self.output_activation == "softmax":
            h = keras.activations.softmax(h)
        return h

    def _per_sample_losses(self, x, y, theta=None):
        """Each member's loss on each sample: [M, B]. With x [M, B, in] (each member its own batch), y
        carries the member axis too ([M, B, out] targets, [M, B] labels)."""
        out = self._forward(x, theta)
        own = len(x.shape) == 3
        if self.loss_name == "mse":
            target = ops.cast(y, out.dtype)
            return ops.mean(ops.square(out - (target if own else target[None])), axis=2)
        labels = ops.cast(y, "int32") if own else ops.broadcast_to(ops.cast(y, "int32")[None], ops.shape(out)[:2])
        # cast: under JAX's x64 Keras's one-hot of the labels is float64 whatever the outputs' dtype
        return ops.cast(keras.ops.sparse_categorical_crossentropy(labels, out), out.dtype)

    def _member_losses(self, x, y, weights=None, theta=None):
        """Each member's mean loss on (x, y): [M]. `weights` [B] (summing to one) replace the plain
        mean where a padded batch carries dummy samples."""
        per_sample = self._per_sample_losses(x, y, theta)
        if weights is None:
            return ops.mean(per_sample, axis=1)
        return ops.sum(per_sample * weights[None], axis=1)

    def _member_grad_sq(self, grad):
        """Per-member squared gradient norms from the gradient with respect to θ [M, P]: [M]."""
        return ops.sum(ops.reshape(grad, (self.members, -1)) ** 2, axis=1)

    def _masked_step(self, optimizer, optimizer_values, grad, theta, active):
        """One optimizer step as values: (θ', optimizer values'). Only the active members move; frozen ones
        keep their weights exactly (a zero gradient alone would still move them through Adam's momentum)."""
        new_theta, new_values = backend.optimizer_step(optimizer, self.variables, optimizer_values, [grad], [theta])
        return ops.where(active[:, None], new_theta[0], theta), new_values

    def _values(self, optimizer=None):
        """θ and the optimizer's variables as values, what the compiled loops take."""
        return self.theta.value, [v.value for v in (optimizer or self.optimizer).variables]

    def _assign(self, theta, optimizer_values, optimizer=None) -> None:
        self.theta.assign(theta)
        _assign_all((optimizer or self.optimizer).variables, list(optimizer_values))

    # ------------------------------------------------------------ training
    def fit(self, x, y, epochs: int, batch_size: int, shuffle_seed: int = 0, record_every: int | None = None,
            record_steps: bool = False, epochs_per_call: int | None = None, verbose: bool | None = None,
            label: str = "ensemble", checkpoints=None) -> dict:
        """Train every member for `epochs` epochs on the same batches: epoch e (counted over every
        fit of this ensemble, so a second call continues instead of replaying the first one's
        batches) visits the points in the order `order.epoch_order(shuffle_seed, e, n)` — a function
        of the seed and the epoch alone, as in training.fit — in batches of batch_size (the last one
        smaller, as in Keras). See fit_group for what it returns and for `checkpoints`."""
        return fit_group([self], x, y, epochs, batch_size, shuffle_seed, record_every, record_steps,
                         epochs_per_call, verbose, label, checkpoints)[0]

    def _check_divergence(self, last_loss) -> None:
        bad = ~np.isfinite(last_loss) & ~self.diverged
        if bad.any():
            self.diverged |= bad
            self.active = self.active & ~self.diverged
            import warnings
            warnings.warn(f"members {np.flatnonzero(bad).tolist()} diverged (non-finite loss): frozen and "
                          f"recorded as diverged", stacklevel=3)

    # ------------------------------------------------------------ state
    def get_state(self) -> dict:
        """Everything training changes: θ, the optimizer's variables, which members are active and
        diverged, the epochs trained (what a checkpoint keeps; set_state puts it back)."""
        return {"theta": self.theta.numpy(), "optimizer": [v.numpy() for v in self.optimizer.variables],
                "active": self.active.copy(), "diverged": self.diverged.copy(), "epochs_done": self.epochs_done}

    def set_state(self, state: dict) -> None:
        if tuple(np.shape(state["theta"])) != tuple(self.theta.shape):
            raise ValueError(f"a state of θ {np.shape(state['theta'])} given to an ensemble of θ {tuple(self.theta.shape)}")
        self.theta.assign(state["theta"])
        _assign_all(self.optimizer.variables, state["optimizer"])
        self.active = np.asarray(state["active"], dtype=bool).copy()
        self.diverged = np.asarray(state["diverged"], dtype=bool).copy()
        self.epochs_done = int(state["epochs_done"])

    def _identity(self) -> list:
        """What the ensemble is and where it stands, for a loop's checkpoint identity."""
        return [self.widths, self.activation, self.loss_name, self.optimizer_name, self.learning_rate, self.dtype,
                self.get_state()]

    # ------------------------------------------------------------ gradient-norm phase
    def minimize_gradient_norm(self, x, y, steps: int, tol: float, learning_rate: float = 1e-3,
                               optimizer: str = "adam", steps_per_call: int = 100, verbose: bool | None = None,
                               label: str = "gradient norm", checkpoints=None) -> dict:
        """Switch every member's objective to its squared full-batch gradient norm ‖∇θ L_m‖²
        (double backpropagation) and descend it; a member whose gradient norm falls below `tol`
        stops there. Returns {"grad_norm": [M] final, "loss": [M] final, "steps": [M] steps
        taken, "converged": [M], "history": [calls, M] gradient norm after each call of
        `steps_per_call` steps}.

        `checkpoints` (P.checkpoints): the phase saves its state (θ, both optimizers, the active
        members, the steps taken, the history) every few steps (a full-batch step is one pass over the
        data: checkpoints' `every` counts them) or minutes, and at its end; a rerun resumes from the
        newest checkpoint. Calls are split at the checkpoints; the results do not depend on where."""
        x = ops.convert_to_tensor(np.asarray(x), dtype=self.dtype)
        y = self._labels(y)
        opt = make_optimizer(optimizer, learning_rate)
        opt.build(self.variables)
        steps_taken = np.zeros(self.members, np.int32)
        run = self._gradient_norm_fn(opt, tol)
        x_host, y_host = np.asarray(x), np.asarray(y)

        loop = checkpoints.loop(label, "gradient norm", self._identity(), x_host, y_host, steps, tol,
                                learning_rate, optimizer, steps_per_call) if checkpoints is not None else None
        start_active = self.active.copy()
        history = []
        progress = Progress(steps, label, enabled=verbose, unit="step")
        done = 0

        def state():
            return {"done": done, "ensemble": self.get_state(), "optimizer": [v.numpy() for v in opt.variables],
                    "steps_taken": steps_taken.copy(), "history": np.array(history).reshape(len(history), self.members),
                    "start_active": start_active}

        found = loop.restore() if loop is not None else None
        if found is not None:
            saved = found[0]["tree"]
            self.set_state(saved["ensemble"])
            _assign_all(opt.variables, saved["optimizer"])
            steps_taken = np.asarray(saved["steps_taken"], np.int32).copy()
            history, start_active, done = list(saved["history"]), np.asarray(saved["start_active"]), int(saved["done"])
            loop.resumed(done, steps, "step", finished=bool(found[0]["finished"]))
            progress.resumed(done, "step", finished=bool(found[0]["finished"]))
        limit = steps_per_call
        while done < steps and self.active.any():
            call_end = min(steps, (done // steps_per_call + 1) * steps_per_call)  # where the history records
            k = _next_call(done, call_end, limit, None, loop)
            began = time.monotonic()
            theta, values = self._values(opt)
            theta, values, taken, active = run(theta, values, ops.convert_to_tensor(steps_taken),
                                               ops.convert_to_tensor(self.active), x, y, ops.convert_to_tensor(k, "int32"))
            self._assign(theta, values, opt)
            steps_taken, self.active = np.asarray(taken).astype(np.int32), np.asarray(active).astype(bool)
            done += k
            finished = done >= steps or not self.active.any()
            if done == call_end or finished:  # a member that stops mid-call moves no more: the same record
                norms = self.gradient_norms(x, y)
                history.append(norms)
                progress.update(done, f"{int(np.sum(norms < tol))}/{self.members} below {tol:g}")
            if loop is not None:
                limit = _within_interval(steps_per_call, loop, time.monotonic() - began, k)
                if finished or loop.due(done):
                    loop.save(done, steps, state(), finished)
        progress.close()
        norms = self.gradient_norms(x, y)
        converged = norms < tol
        # Members that stopped for other reasons (diverged) are not reactivated for later phases.
        self.active = start_active & ~self.diverged
        return {"grad_norm": norms, "loss": self.losses(x, y), "steps": steps_taken.copy(),
                "converged": converged, "history": np.array(history).reshape(len(history), self.members)}

    def _gradient_norm_fn(self, opt, tol: float):
        """The compiled k steps of the gradient-norm phase: (θ, optimizer values, steps taken, active, x, y, k)
        -> (θ, optimizer values, steps taken, active)."""
        def run(theta, values, taken, active, x, y, k):
            def objective(th, active):
                grad = backend.grad(lambda t: ops.sum(self._member_losses(x, y, None, t)))(th)
                grad_sq = self._member_grad_sq(grad)
                return ops.sum(ops.where(active, grad_sq, ops.zeros_like(grad_sq))), grad_sq

            def step(i, carry):
                theta, values, taken, active = carry
                (_, grad_sq), grad = backend.value_and_grad(objective, has_aux=True)(theta, active)
                active = ops.logical_and(active, ops.sqrt(grad_sq) >= tol)
                taken = taken + ops.cast(active, "int32")
                theta, values = self._masked_step(opt, values, grad, theta, active)
                return theta, values, taken, active

            return ops.fori_loop(0, k, step, (theta, values, taken, active))
        return backend.jit(run, xla=True, autograph=False)

    # ------------------------------------------------------------ measures
    # The full-data measures hold [M, chunk, Σ widths] activations: the data come in chunks of at most
    # `budget` elements of them (2.5e7 float32: 100 MB), whatever the members and the data, as the
    # Hessians' budget does. One chunk is the plain computation; several give the same values up to the
    # rounding of a sum taken in parts.
    def measure_chunk(self, n: int, budget: float = 2.5e7) -> int:
        """Points per chunk of the full-data measures for n points (see above)."""
        return int(max(1, min(int(n), budget // (self.members * sum(self.widths)))))

    def _chunks(self, x, y, budget):
        x = np.asarray(x)
        y = np.asarray(y)
        step = self.measure_chunk(len(x), budget)
        for start in range(0, len(x), step):
            yield (ops.convert_to_tensor(x[start:start + step], self.dtype), self._labels(y[start:start + step]))

    def losses(self, x, y, budget: float = 2.5e7) -> np.ndarray:
        """Every member's mean loss on all of (x, y): [M]."""
        return self.metrics(x, y, budget)["loss"]

    def metrics(self, x, y, budget: float = 2.5e7) -> dict:
        """Every member's full-data loss, and accuracy for classifiers: {"loss": [M], "accuracy": [M]}."""
        n = len(x)
        classifier = self.loss_name != "mse"
        if self.measure_chunk(n, budget) >= n:  # one chunk: the plain computation
            x, y = ops.convert_to_tensor(np.asarray(x), self.dtype), self._labels(y)
            out = {"loss": np.asarray(self._member_losses(x, y))}
            if classifier:
                pred = np.asarray(ops.argmax(self._forward(x), axis=-1))
                out["accuracy"] = np.mean(pred == np.asarray(y)[None], axis=1, dtype=np.float64)
            return out
        loss_sum, hits = 0.0, 0.0
        for xb, yb in self._chunks(x, y, budget):  # sums in float64 on the host
            loss_sum = loss_sum + np.sum(np.asarray(self._per_sample_losses(xb, yb), np.float64), axis=1)
            if classifier:
                pred = np.asarray(ops.argmax(self._forward(xb), axis=-1))
                hits = hits + np.sum(pred == np.asarray(yb)[None], axis=1, dtype=np.float64)
        out = {"loss": (loss_sum / n).astype(self.dtype)}
        if classifier:
            out["accuracy"] = hits / n
        return out

    def _labels(self, y):
        return ops.convert_to_tensor(np.asarray(y), dtype=self.dtype if self.loss_name == "mse" else "int32")

    def gradient_norms(self, x, y, budget: float = 2.5e7) -> np.ndarray:
        """‖∇θ_m L_m‖₂ of every member on all of (x, y): [M]."""
        n = len(x)
        theta = self.theta.value
        if self.measure_chunk(n, budget) >= n:
            x, y = ops.convert_to_tensor(np.asarray(x), self.dtype), self._labels(y)
            grad = backend.grad(lambda t: ops.sum(self._member_losses(x, y, None, t)))(theta)
            return np.sqrt(np.asarray(self._member_grad_sq(grad)))
        grad = None
        for xb, yb in self._chunks(x, y, budget):  # the mean's gradient: the chunks' sums over n
            part = backend.grad(lambda t: ops.sum(self._per_sample_losses(xb, yb, t)) / n)(theta)
            grad = part if grad is None else grad + part
        return np.sqrt(np.asarray(self._member_grad_sq(grad)))

    def predict(self, x, budget: float = 2.5e7) -> np.ndarray:
        """Outputs of every member: [M, N, out]."""
        x = np.asarray(x)
        step = self.measure_chunk(len(x), budget)
        return np.concatenate([np.asarray(self._forward(ops.convert_to_tensor(x[s:s + step], self.dtype)))
                               for s in range(0, len(x), step)], axis=1)

    def gradients(self, x, y) -> np.ndarray:
        """Every member's gradient ∇θ_m L_m of its mean loss on all of (x, y), computed in float64
        like `hessians` (θ and the data cast up): [M, P] float64."""
        with backend.float64():
            theta = ops.cast(self.theta.value, "float64")
            x = ops.convert_to_tensor(np.asarray(x, dtype=np.float64))
            y = self._labels(y)
            grad = backend.grad(lambda t: ops.sum(ops.mean(self._per_sample_losses(x, y, t), axis=1)))(theta)
            return _float64(grad)

    def hessian_plan(self, n: int, row_block: int = 64, budget: float = 2.5e7) -> dict:
        """How `hessians` splits its work so that no intermediate exceeds about `budget` float64
        elements (8 bytes each: 2.5e7 is 200 MB), whatever M, P and N are.

        - Closed form (ReLU): the largest intermediate is the output Jacobian [M, chunk, O, P], so
          data come in chunks of budget // (M·O·P) points. Every row comes out of one product, so
          there is no row blocking on this path (`row_block` is not used).
        - General path: the vectorised Jacobian of `row_block` rows holds [rows, M, chunk, Σ widths]
          activations and returns [rows, M, P]: rows are capped at budget // (M·P) and the chunk at
          budget // (rows·M·Σ widths).
        The [M, P, P] result itself is not counted. Returns {"path", "chunk", "row_block", "chunks"}.
        """
        m, p, n = self.members, self.n_params, int(n)
        if self.activation == "relu":
            chunk = int(max(1, min(n, budget // (m * p * self.widths[-1]))))
            rows = p
        else:
            rows = int(max(1, min(row_block, p, budget // (m * p))))
            chunk = int(max(1, min(n, budget // (rows * m * sum(self.widths)))))
        return {"path": "closed form" if self.activation == "relu" else "general", "chunk": chunk,
                "row_block": rows, "chunks": -(-n // chunk)}

    def hessians(self, x, y, row_block: int = 64, budget: float = 2.5e7) -> np.ndarray:
        """Every member's exact Hessian of its mean loss: [M, P, P], float64, symmetric.

        Computed in float64 whatever the ensemble's dtype: θ and the data are cast up, so this is the
        Hessian at exactly the trained (float32) weights with float64 rounding (unit round-off
        u = 2⁻⁵³ ≈ 1.1e-16), not float32's 6e-8 — what the minimal ratio's band relies on.

        ReLU members take the closed-form path (`_relu_hessian_chunk`): the Gauss-Newton term
        JᵀQJ plus the second-order term of the network, which for a ReLU net lives only in the
        blocks between two different layers — a few large matrix products instead of P
        backward passes. Other activations use the general path: the Hessian of Σ_m L_m is
        block-diagonal, so row j of every member's Hessian is the gradient of Σ_m ∂L_m/∂θ_m[j]
        with respect to the stacked weights (P rows, not M·P), in blocks of `row_block` rows.
        Memory: see `hessian_plan` — `budget` bounds the largest intermediate on both paths.
        """
        x, y = np.asarray(x), np.asarray(y)
        p, m, n = self.n_params, self.members, len(x)
        plan = self.hessian_plan(n, row_block, budget)
        chunk = plan["chunk"]
        h = np.zeros((m, p, p))
        with backend.float64():  # on JAX, float64 exists inside this scope only (hwutils.backend)
            theta = ops.cast(self.theta.value, "float64")
            if plan["path"] == "closed form":
                for a in range(0, n, chunk):
                    b = min(n, a + chunk)
                    h += self._relu_hessian_chunk(ops.convert_to_tensor(x[a:b], "float64"), self._labels(y[a:b]), n)
                return 0.5 * (h + np.transpose(h, (0, 2, 1)))
            rows_per_block = plan["row_block"]
            fn = self._hessian_rows_fn()
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                idx = np.arange(a, a + chunk) % n  # padded with real points of zero weight: one trace
                weights = np.where(np.arange(a, a + chunk) < b, 1.0 / n, 0.0)
                xb = ops.convert_to_tensor(x[idx], "float64")
                yb, wb = self._labels(y[idx]), ops.convert_to_tensor(weights, "float64")
                for r0 in range(0, p, rows_per_block):
                    rows = np.minimum(np.arange(r0, r0 + rows_per_block), p - 1).astype(np.int32)
                    take = min(rows_per_block, p - r0)
                    block = _float64(fn(theta, xb, yb, wb, ops.convert_to_tensor(rows)))  # [R, M, P]
                    h[:, r0:r0 + take, :] += np.transpose(block[:take], (1, 0, 2))
        return 0.5 * (h + np.transpose(h, (0, 2, 1)))

    def _relu_hessian_chunk(self, x, y, n_total: int) -> np.ndarray:
        """This chunk's contribution to every member's Hessian of the mean loss over n_total points,
        in float64 (x is a float64 tensor; θ is cast up here): the blocks of `_relu_hessian_blocks`, compiled
        once per chunk shape (on JAX every op run eagerly would be compiled on its own), put in place."""
        if "relu_hessian" not in self._compiled:
            self._compiled["relu_hessian"] = backend.jit(self._relu_hessian_blocks)
        gauss_newton, cross = self._compiled["relu_hessian"](ops.cast(self.theta.value, "float64"), x, y,
                                                              ops.convert_to_tensor(1.0 / n_total, "float64"))
        h = _float64(gauss_newton)
        offsets = self._offsets()
        pairs = [(l, k) for l in range(len(self._layout) - 1) for k in range(l + 1, len(self._layout))]
        for (l, k), (ww, bw) in zip(pairs, cross):
            ww, bw = _float64(ww), _float64(bw)
            k0, k1, _ = offsets[k]
            l0, l1, l2 = offsets[l]
            h[:, l0:l1, k0:k1] += ww
            h[:, k0:k1, l0:l1] += np.transpose(ww, (0, 2, 1))
            h[:, l1:l2, k0:k1] += bw
            h[:, k0:k1, l1:l2] += np.transpose(bw, (0, 2, 1))
        return h

    def _relu_hessian_blocks(self, theta, x, y, scale):
        """The Gauss-Newton term [M, P, P] and, for every layer pair l < k, the second-order blocks (W_l–W_k,
        b_l–W_k) of the chunk's contribution, θ [M, P] and x in float64, scale = 1 / n_total.

        With z_l = a_{l-1}W_l + b_l, a_l = relu(z_l) and f = z_L, for one sample
          ∇²ℓ = JᵀQJ + Σ_o ∂ℓ/∂f_o ∇²f_o,
        J = ∂f/∂θ, Q = ∂²ℓ/∂f². A ReLU net is linear in each layer's weights given its activation
        pattern, so ∇²f_o is zero within a layer; between layers l < k,
          ∂²f_o/∂W_l[p,q]∂W_k[r,s] = a_{l-1}[p] · A_{k-1,l}[q,r] · δ_k[o,s],
          ∂²f_o/∂b_l[q]∂W_k[r,s]   = A_{k-1,l}[q,r] · δ_k[o,s],
        where δ_k = ∂f/∂z_k and A_{k-1,l} = ∂a_{k-1}/∂z_l; bias pairs with no W_k vanish.
        Contracting with ∂ℓ/∂f gives e_k = ∂ℓ/∂z_k in place of δ_k.
        """
        dt = "float64"
        m, L = self.members, len(self._layout)
        ws, bs = self._unpack(theta)
        a = [x[None] * ops.ones((m, 1, 1), dt)]  # no static batch size: one trace serves every chunk
        masks = []
        for l in range(L):
            z = ops.matmul(a[-1], ws[l]) + bs[l][:, None, :]
            if l < L - 1:
                masks.append(ops.cast(z > 0, dt))
                a.append(ops.relu(z))
        out_dim = self.widths[-1]
        if self.loss_name == "mse":
            g_out = 2.0 * scale / out_dim * (z - ops.cast(y, dt)[None])  # ∂L/∂f [M, n, O]
            q = None  # Q = 2/(n·O)·I
        else:
            prob = ops.softmax(z, axis=-1)
            g_out = scale * (prob - ops.one_hot(y, out_dim, dtype=dt)[None])
            q = scale * (prob[..., :, None] * ops.eye(out_dim, dtype=dt) - prob[..., :, None] * prob[..., None, :])
        # δ_l = ∂f/∂z_l: [M, n, O, w_l], from δ_L = I backwards.
        deltas = [None] * L
        deltas[L - 1] = ops.eye(out_dim, dtype=dt)[None, None] * ops.ones_like(z[..., :1])[..., None]
        for l in range(L - 2, -1, -1):
            deltas[l] = ops.einsum("mnow,mvw->mnov", deltas[l + 1], ws[l + 1]) * masks[l][:, :, None, :]
        errors = [ops.einsum("mno,mnow->mnw", g_out, d) for d in deltas]  # e_l = ∂L/∂z_l
        # Jacobian of the outputs, in the member's θ order (kernel C-order, then bias, layer by layer).
        jac = []
        for l in range(L):
            jac.append(ops.reshape(a[l][:, :, None, :, None] * deltas[l][:, :, :, None, :],
                                   (m, -1, out_dim, self.widths[l] * self.widths[l + 1])))
            jac.append(deltas[l])
        jac = ops.concatenate(jac, axis=3)  # [M, n, O, P]
        if q is None:
            h = (2.0 * scale / out_dim) * ops.einsum("mnop,mnoq->mpq", jac, jac)
        else:
            h = ops.einsum("mnop,mnor->mpr", jac, ops.einsum("mnoq,mnqp->mnop", q, jac))
        cross = []
        for l in range(L - 1):
            w_l = self.widths[l + 1]
            acts = masks[l][:, :, :, None] * ops.eye(w_l, dtype=dt)  # A_{l,l} = ∂a_l/∂z_l
            for k in range(l + 1, L):
                if k > l + 1:
                    acts = ops.einsum("mnqr,mrs->mnqs", acts, ws[k - 1]) * masks[k - 1][:, :, None, :]
                p_dim, r_dim, s_dim = self.widths[l], self.widths[k], self.widths[k + 1]
                outer = ops.reshape(a[l][:, :, :, None] * errors[k][:, :, None, :], (m, -1, p_dim * s_dim))
                ww = ops.einsum("mnx,mny->mxy", outer, ops.reshape(acts, (m, -1, w_l * r_dim)))
                ww = ops.reshape(ops.transpose(ops.reshape(ww, (m, p_dim, s_dim, w_l, r_dim)), (0, 1, 3, 4, 2)),
                                 (m, p_dim * w_l, r_dim * s_dim))
                bw = ops.reshape(ops.einsum("mns,mnqr->mqrs", errors[k], acts), (m, w_l, r_dim * s_dim))
                cross.append((ww, bw))
        return h, cross

    def _hessian_rows_fn(self):
        """The compiled rows `rows` of every member's Hessian: (θ [M, P] float64, x, y, weights, rows) -> [R, M, P].
        The Hessian of Σ_m L_m is block-diagonal, so H applied to e_j in every member's block gives row j of
        every member's Hessian at once. wb weighs each sample (1/n, or 0 for padding): Σ_chunks gives the full
        mean's Hessian."""
        if "hessian_rows" not in self._compiled:
            def total(theta, xb, yb, wb):
                return ops.sum(self._per_sample_losses(xb, yb, theta) * wb[None])
            apply = backend.hessian_apply(total)

            def rows_fn(theta, xb, yb, wb, rows):
                units = ops.one_hot(rows, self.n_params, dtype=theta.dtype)  # [R, P]
                return apply(theta, units[:, None, :] * ops.ones((1, self.members, 1), theta.dtype), xb, yb, wb)
            self._compiled["hessian_rows"] = backend.jit(rows_fn)
        return self._compiled["hessian_rows"]

    # ------------------------------------------------------------ weights and export
    def member_weights(self, m: int) -> list[np.ndarray]:
        """Member m's weights in keras.layers.Dense order: kernel_0, bias_0, kernel_1, ..."""
        row = self.theta.numpy()[m]
        out = []
        for (k0, k1, end), (a, b) in zip(self._offsets(), self._layout):
            out += [row[k0:k1].reshape(a, b), row[k1:end]]
        return out

    def set_member_weights(self, m: int, weights: Sequence[np.ndarray]) -> None:
        """Member m's weights from a list in keras.layers.Dense order (as member_weights returns)."""
        expected = [shape for a, b in self._layout for shape in ((a, b), (b,))]
        got = [tuple(np.shape(w)) for w in weights]
        if got != expected:
            raise ValueError(f"member weights must have the shapes {expected} (kernel, bias per layer), got {got}")
        if not 0 <= m < self.members:
            raise IndexError(f"member {m} out of range for an ensemble of {self.members}")
        value = self.theta.numpy()
        value[m] = np.concatenate([np.ravel(w) for w in weights])
        self.theta.assign(value)

    def flat_weights(self) -> np.ndarray:
        """All members' θ, flattened in their exported model's trainable_weights order: [M, P]."""
        return self.theta.numpy().astype(np.float64)

    def member(self, m: int) -> keras.Model:
        """Member m as an ordinary compiled keras.Model with its current weights."""
        model = dense_chain(self.widths, self.activation, self.output_activation, dtype=self.dtype,
                            name=f"member_{m}")
        model.set_weights(self.member_weights(m))
        metrics = ["accuracy"] if self.loss_name != "mse" else None
        model.compile(optimizer=make_optimizer(self.optimizer_name, self.learning_rate), loss=self.loss_name,
                      metrics=metrics)
        return model


def _group_train_fn(ensembles: Sequence[Ensemble], record_steps: bool, per_member: bool = False):
    """One XLA program that steps every ensemble of the group on the same batches (per_member: member m
    of every ensemble on its own batch, batches [T, M, B]).

    A compiled loop (keras.ops.fori_loop: lax.fori_loop on JAX, tf.while_loop on TensorFlow, traced
    without autograph: converting the Python of the loop body and of Keras's optimizer cost seconds per
    trace, more than the training itself in a 50-epoch run) over every step of every epoch in the call. Its
    state is values: each ensemble's θ and optimizer variables go in and come out, with each step's
    per-member batch loss (epoch losses follow from them outside) and, with record_steps, each step's
    per-member gradient norm written into arrays [T, M] that the state carries.
    """
    head = ensembles[0]
    key = ("train", tuple(id(e) for e in ensembles), record_steps, per_member)
    if key in head._compiled:
        return head._compiled[key]
    dtype = head.dtype

    # Shapes must be static under XLA, so every batch has batch_size slots; the last batch of an
    # epoch is padded and its dummy slots weigh zero, which gives exactly Keras's smaller last batch.
    def run(states, actives, x, y, batches, counts, total_steps):
        """The first total_steps rows of batches [T, B] (indices into x), counts [T] real samples
        in each batch. Rows past total_steps are never visited: every call of a fit passes the
        same T, so a shorter last call reuses the compiled program instead of compiling another.
        states: (θ, optimizer values) of each ensemble; actives: its active members."""
        rows = batches.shape[0]
        slots = ops.arange(batches.shape[-1])

        def step(t, carry):
            valid = ops.cast(slots < ops.take(counts, t), dtype)
            weights = valid / ops.sum(valid)
            idx = ops.take(batches, t, axis=0)
            xb, yb = ops.take(x, idx, axis=0), ops.take(y, idx, axis=0)
            out = []  # (t, t * 0): the indices of a slice update share one integer type (int64 under JAX's x64)
            for ens, active, (theta, values, losses_so_far, norms_so_far) in zip(ensembles, actives, carry):
                def total(th):
                    losses = ens._member_losses(xb, yb, weights, th)
                    return ops.sum(ops.where(active, losses, ops.zeros_like(losses))), losses
                (_, losses), grad = backend.value_and_grad(total, has_aux=True)(theta)
                losses_so_far = ops.slice_update(losses_so_far, (t, t * 0), losses[None])
                if record_steps:
                    norms_so_far = ops.slice_update(norms_so_far, (t, t * 0), ops.sqrt(ens._member_grad_sq(grad))[None])
                theta, values = ens._masked_step(ens.optimizer, values, grad, theta, active)
                out.append((theta, values, losses_so_far, norms_so_far))
            return out

        start = [(theta, values, ops.zeros((rows, ens.members), dtype),
                  ops.zeros((rows if record_steps else 0, ens.members), dtype))
                 for ens, (theta, values) in zip(ensembles, states)]
        return ops.fori_loop(0, total_steps, step, start)

    head._compiled[key] = backend.jit(run, xla=True, autograph=False)
    return head._compiled[key]


def family(architectures: Sequence[Sequence[int]], members: int, seed: int = 0, **kwargs) -> list[Ensemble]:
    """One Ensemble of `members` per architecture (layer widths), for `fit_group`: architecture i draws its initial
    weights from seed·100 + i, so no two architectures start from the same stream. `kwargs` go to every
    Ensemble (loss, optimizer, learning_rate, ...)."""
    if len(architectures) > 100:
        raise ValueError("at most 100 architectures per family: their initial-weight seeds would collide")
    return [Ensemble(list(w), members, seed=seed * 100 + i, **kwargs) for i, w in enumerate(architectures)]


def fit_group(ensembles: Sequence[Ensemble], x, y, epochs: int, batch_size: int, shuffle_seed: int | Sequence[int] = 0,
              record_every: int | None = None, record_steps: bool = False, epochs_per_call: int | None = None,
              verbose: bool | None = None, label: str = "ensembles", checkpoints=None) -> list[dict]:
    """Train several ensembles (e.g. the three 1-1 architectures) on the same batches in one
    compiled program: one compilation instead of one per architecture.

    `shuffle_seed`: one order seed for every member, or one per member (a sequence of M seeds, every
    ensemble holding M members): member m of every ensemble then visits the points in its own order
    `order.epoch_order(shuffle_seed[m], e, n)` — the seeds of an ensemble become independent runs (each
    its own weights and batches) while member m of one architecture and member m of another still share
    theirs, so they pair up.

    Returns, per ensemble, {"loss": [epochs, M] each epoch's mean batch loss (what Keras's History
    reports), "snapshots": [(epoch, [M, P])] every `record_every` epochs (epoch 0 included) with
    "snapshot_metrics" (full-data metrics() of each snapshot), "step_loss"/"step_grad_norm":
    [steps, M] batch loss and batch gradient norm of every step when record_steps, "diverged": [M]}.
    The same records also go by the names of the Keras callbacks that record them for a Keras model
    (hwutils.callbacks): "epochs" and "weights" (WeightSnapshots: [M, P] per snapshot), "losses" and
    "grad_norms" (GradientNorm: [steps, M]).

    `checkpoints` (P.checkpoints): the fit saves every ensemble's state and the records so far every few
    epochs or minutes and at its end, and a rerun resumes from the newest checkpoint. The compiled
    multi-epoch calls are split so that none runs past a checkpoint (nor, with checkpoints by time,
    lasts longer than their interval); the results do not depend on how the epochs are split.
    """
    head = ensembles[0]
    if any(e.loss_name != head.loss_name or e.dtype != head.dtype for e in ensembles):
        raise ValueError("ensembles trained together need the same loss and dtype")
    loop = None
    if checkpoints is not None:
        loop = checkpoints.loop(label, "fit_group", [e._identity() for e in ensembles], np.asarray(x), np.asarray(y),
                                epochs, batch_size, shuffle_seed, record_every, record_steps)
    seeds = np.atleast_1d(np.asarray(shuffle_seed, dtype=np.int64))
    per_member = not np.isscalar(shuffle_seed)
    if per_member and any(e.members != len(seeds) for e in ensembles):
        raise ValueError(f"{len(seeds)} order seeds for ensembles of {[e.members for e in ensembles]} members: "
                         "give one seed per member, every ensemble the same number of members")
    x = ops.convert_to_tensor(np.asarray(x), dtype=head.dtype)
    y = head._labels(y)
    n = int(x.shape[0])
    run = _group_train_fn(ensembles, record_steps, per_member)
    # The table of one call keeps this size whatever the calls' lengths: a shorter call reuses the program.
    chunk = record_every or epochs_per_call or max(1, min(epochs, 200))
    progress = Progress(epochs, label, enabled=verbose, unit="epoch")
    outs = [{"loss": [], "snapshots": [], "snapshot_metrics": [], "step_loss": [], "step_grad_norm": []}
            for _ in ensembles]

    def snapshot():
        for ens, out in zip(ensembles, outs):
            out["snapshots"].append((ens.epochs_done, ens.flat_weights()))
            out["snapshot_metrics"].append(ens.metrics(x, y))

    done = 0
    found = loop.restore() if loop is not None else None
    if found is not None:
        saved = found[0]["tree"]
        done = int(saved["done"])
        for ens, out, ens_state, out_state in zip(ensembles, outs, saved["ensembles"], saved["records"]):
            ens.set_state(ens_state)
            _restore_records(out, out_state)
        loop.resumed(done, epochs, finished=bool(found[0]["finished"]))
        progress.resumed(done, finished=bool(found[0]["finished"]))
    elif record_every:
        snapshot()
    steps = -(-n // batch_size)
    counts = np.full(steps, batch_size, dtype=np.int32)
    counts[-1] = n - (steps - 1) * batch_size
    limit = chunk
    while done < epochs:
        e = _next_call(done, epochs, limit, record_every, loop)
        order = np.zeros((chunk, len(seeds), steps * batch_size), dtype=np.int32)  # padded with index 0
        for i in range(e):
            for m, member_seed in enumerate(seeds):
                order[i, m, :n] = epoch_order(int(member_seed), head.epochs_done + i, n)
        # [calls' steps, (members,) batch]: step t of member m is row t, column m
        table = order.reshape(chunk, len(seeds), steps, batch_size).transpose(0, 2, 1, 3)
        table = table.reshape(chunk * steps, len(seeds), batch_size) if per_member else table.reshape(chunk * steps, batch_size)
        began = time.monotonic()
        results = run([ens._values() for ens in ensembles], [ops.convert_to_tensor(ens.active) for ens in ensembles],
                      x, y, ops.convert_to_tensor(table), ops.convert_to_tensor(np.tile(counts, chunk)),
                      ops.convert_to_tensor(e * steps, "int32"))
        done += e
        medians = []
        for ens, out, (theta, values, step_loss, step_gn) in zip(ensembles, outs, results):
            ens._assign(theta, values)
            step_loss = np.asarray(step_loss)[:e * steps].reshape(e, steps, ens.members)
            # Keras's epoch loss: the mean of the batch losses weighted by the samples in each batch.
            epoch_loss = np.einsum("esm,s->em", step_loss.astype(np.float64), counts / n).astype(step_loss.dtype)
            out["loss"].append(epoch_loss)
            if record_steps:
                out["step_loss"].append(step_loss.reshape(e * steps, ens.members))
                out["step_grad_norm"].append(np.asarray(step_gn)[:e * steps])
            ens.epochs_done += e
            ens._check_divergence(epoch_loss[-1])
            finite = epoch_loss[-1][np.isfinite(epoch_loss[-1])]
            medians.append(f"{np.median(finite):.3g}" if finite.size else "nan")
        if record_every and (done % record_every == 0 or done == epochs):
            snapshot()
        progress.update(done, f"epoch {head.epochs_done}, median loss {' / '.join(medians)}")
        if loop is not None:
            limit = _within_interval(chunk, loop, time.monotonic() - began, e)
            if done == epochs or loop.due(done):
                loop.save(done, epochs, {"done": done, "ensembles": [ens.get_state() for ens in ensembles],
                                         "records": [_records(out, ens.members) for out, ens in zip(outs, ensembles)]},
                          finished=done == epochs)
    progress.close()
    for ens, out in zip(ensembles, outs):
        out["loss"] = np.concatenate(out["loss"]) if out["loss"] else np.zeros((0, ens.members), ens.dtype)
        for key in ("step_loss", "step_grad_norm"):
            out[key] = np.concatenate(out[key]) if out[key] else np.zeros((0, ens.members))
        out["diverged"] = ens.diverged.copy()
        out["epochs"] = [epoch for epoch, _ in out["snapshots"]]
        out["weights"] = [theta for _, theta in out["snapshots"]]
        out["losses"], out["grad_norms"] = out["step_loss"], out["step_grad_norm"]
    return outs


def _float64(tensor) -> np.ndarray:
    """A tensor as a writable float64 NumPy array (a view of a backend's buffer can be read-only)."""
    return np.array(tensor, dtype=np.float64)


# ---------------------------------------------------------------- checkpointing the engine's loops
def _assign_all(variables, values) -> None:
    if len(variables) != len(values):
        raise ValueError(f"{len(values)} saved values for {len(variables)} optimizer variables")
    for var, value in zip(variables, values):
        var.assign(value)


def _records(out: dict, members: int) -> dict:
    """fit_group's records so far, as a state (arrays, lists, numbers)."""
    def joined(key):
        return np.concatenate(out[key]) if out[key] else np.zeros((0, members))
    return {"loss": joined("loss"), "step_loss": joined("step_loss"), "step_grad_norm": joined("step_grad_norm"),
            "snapshot_epochs": [int(epoch) for epoch, _ in out["snapshots"]],
            "snapshots": [theta for _, theta in out["snapshots"]], "snapshot_metrics": list(out["snapshot_metrics"])}


def _restore_records(out: dict, state: dict) -> None:
    for key in ("loss", "step_loss", "step_grad_norm"):
        out[key] = [state[key]] if len(state[key]) else []
    out["snapshots"] = list(zip(state["snapshot_epochs"], state["snapshots"]))
    out["snapshot_metrics"] = list(state["snapshot_metrics"])


def _next_call(done: int, total: int, limit: int, record_every: int | None, loop) -> int:
    """Units (epochs, or steps) the next compiled call runs: at most `limit`, never past `total`, the next
    record (a multiple of record_every) or the loop's next checkpoint by count."""
    units = min(limit, total - done)
    if record_every:
        units = min(units, record_every - done % record_every)
    if loop is not None and loop.every > 0:
        units = min(units, loop.every - done % loop.every)
    return max(1, units)


def _within_interval(most: int, loop, seconds: float, units: int) -> int:
    """The longest call (in units, at most `most`) that fits the loop's checkpoint interval by time, at
    the last call's pace (which includes any compilation: the next calls may grow back)."""
    interval = 60 * loop.minutes
    if interval <= 0 or seconds <= 0:
        return most
    return max(1, min(most, int(interval / (seconds / units))))
