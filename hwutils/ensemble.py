"""Train many same-shaped tiny MLPs at once: the stacked ensemble.

Member m's weights are row m of one variable θ [M, P], in its exported Keras model's order; one
batched matmul per layer runs every member. The summed loss Σ_m L_m makes every member's gradient
its own, and Adam and SGD act per element, so member m follows the trajectory it would follow
alone from the same initial weights with the same batches. The whole loop over steps runs as one
XLA program (several epochs per call), so the per-step Python and Keras overhead that dominates a plain
`model.fit` of a tiny network is paid once per call instead of once per step.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

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
        self.variables = [self.theta]
        self.optimizer = make_optimizer(optimizer, learning_rate)
        self.optimizer.build(self.variables)
        self.active = tf.Variable(np.ones(members, dtype=bool), trainable=False)
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
        blocks = tf.split(theta, [size for a, b in self._layout for size in (a * b, b)], axis=1)
        kernels = [tf.reshape(k, [self.members, a, b]) for k, (a, b) in zip(blocks[::2], self._layout)]
        return kernels, blocks[1::2]

    @property
    def kernels(self):
        return self._unpack(tf.convert_to_tensor(self.theta))[0]

    @property
    def biases(self):
        return self._unpack(tf.convert_to_tensor(self.theta))[1]

    def _forward(self, x, theta=None):
        """x [B, in] shared by all members, or [M, B, in] (each member its own batch) -> outputs [M, B, out];
        θ [M, P] defaults to the ensemble's weights (the Hessians pass a float64 copy)."""
        # (Folding each bias into its matmul as an extra input row of ones compiles a little
        # faster, but made the double backpropagation of the gradient-norm phase 1.8x slower.)
        kernels, biases = self._unpack(tf.convert_to_tensor(self.theta) if theta is None else theta)
        h = tf.einsum("mbi,mio->mbo" if x.shape.rank == 3 else "bi,mio->mbo", x, kernels[0]) + biases[0][:, None, :]
        for k, b in zip(kernels[1:], biases[1:]):
            h = keras.activations.get(self.activation)(h)
            h = tf.matmul(h, k) + b[:, None, :]
        if self.output_activation == "softmax":
            h = keras.activations.softmax(h)
        return h

    def _per_sample_losses(self, x, y, theta=None):
        """Each member's loss on each sample: [M, B]. With x [M, B, in] (each member its own batch), y
        carries the member axis too ([M, B, out] targets, [M, B] labels)."""
        out = self._forward(x, theta)
        own = x.shape.rank == 3
        if self.loss_name == "mse":
            target = tf.cast(y, out.dtype)
            return tf.reduce_mean(tf.square(out - (target if own else target[None])), axis=2)
        labels = tf.cast(y, tf.int64) if own else tf.broadcast_to(tf.cast(y, tf.int64)[None], tf.shape(out)[:2])
        return keras.ops.sparse_categorical_crossentropy(labels, out)

    def _member_losses(self, x, y, weights=None):
        """Each member's mean loss on (x, y): [M]. `weights` [B] (summing to one) replace the plain
        mean where a padded batch carries dummy samples."""
        per_sample = self._per_sample_losses(x, y)
        if weights is None:
            return tf.reduce_mean(per_sample, axis=1)
        return tf.reduce_sum(per_sample * weights[None], axis=1)

    def _member_grad_sq(self, grads):
        """Per-member squared gradient norms from stacked gradients: [M]."""
        return tf.add_n([tf.reduce_sum(tf.reshape(g, [self.members, -1]) ** 2, axis=1) for g in grads])

    def _masked_apply(self, grads, optimizer):
        """Apply an optimizer step to the active members only; frozen members keep their weights
        exactly (a zero gradient alone would still move them through Adam's momentum)."""
        old = [tf.identity(v) for v in self.variables]
        optimizer.apply_gradients(zip(grads, self.variables))
        mask = self.active
        for var, before in zip(self.variables, old):
            m = tf.reshape(mask, [-1] + [1] * (len(var.shape) - 1))
            var.assign(tf.where(m, var, before))

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
            self.active.assign(self.active.numpy() & ~self.diverged)
            import warnings
            warnings.warn(f"members {np.flatnonzero(bad).tolist()} diverged (non-finite loss): frozen and "
                          f"recorded as diverged", stacklevel=3)

    # ------------------------------------------------------------ state
    def get_state(self) -> dict:
        """Everything training changes: θ, the optimizer's variables, which members are active and
        diverged, the epochs trained (what a checkpoint keeps; set_state puts it back)."""
        return {"theta": self.theta.numpy(), "optimizer": [v.numpy() for v in self.optimizer.variables],
                "active": self.active.numpy(), "diverged": self.diverged.copy(), "epochs_done": self.epochs_done}

    def set_state(self, state: dict) -> None:
        if tuple(np.shape(state["theta"])) != tuple(self.theta.shape):
            raise ValueError(f"a state of θ {np.shape(state['theta'])} given to an ensemble of θ {tuple(self.theta.shape)}")
        self.theta.assign(state["theta"])
        _assign_all(self.optimizer.variables, state["optimizer"])
        self.active.assign(np.asarray(state["active"], dtype=bool))
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
        x = tf.convert_to_tensor(np.asarray(x), dtype=self.dtype)
        y = self._labels(y)
        opt = make_optimizer(optimizer, learning_rate)
        opt.build(self.variables)
        tol_t = tf.constant(tol, self.dtype)
        steps_taken = tf.Variable(tf.zeros(self.members, tf.int32), trainable=False)

        @tf.function(jit_compile=True, autograph=False)
        def run(k):
            def step(i):
                with tf.GradientTape() as outer:
                    with tf.GradientTape() as inner:
                        total_loss = tf.reduce_sum(self._member_losses(x, y))
                    grads = inner.gradient(total_loss, self.variables)
                    grad_sq = self._member_grad_sq(grads)
                    total = tf.reduce_sum(tf.where(self.active, grad_sq, tf.zeros_like(grad_sq)))
                self.active.assign(self.active & (tf.sqrt(grad_sq) >= tol_t))
                steps_taken.assign_add(tf.cast(self.active, tf.int32))
                self._masked_apply(outer.gradient(total, self.variables), opt)
                return i + 1

            tf.while_loop(lambda i: i < k, step, (tf.constant(0),))

        loop = checkpoints.loop(label, "gradient norm", self._identity(), x.numpy(), y.numpy(), steps, tol,
                                learning_rate, optimizer, steps_per_call) if checkpoints is not None else None
        start_active = self.active.numpy().copy()
        history = []
        progress = Progress(steps, label, enabled=verbose, unit="step")
        done = 0

        def state():
            return {"done": done, "ensemble": self.get_state(), "optimizer": [v.numpy() for v in opt.variables],
                    "steps_taken": steps_taken.numpy(), "history": np.array(history).reshape(len(history), self.members),
                    "start_active": start_active}

        found = loop.restore() if loop is not None else None
        if found is not None:
            saved = found[0]["tree"]
            self.set_state(saved["ensemble"])
            _assign_all(opt.variables, saved["optimizer"])
            steps_taken.assign(saved["steps_taken"])
            history, start_active, done = list(saved["history"]), np.asarray(saved["start_active"]), int(saved["done"])
            loop.resumed(done, steps, "step", finished=bool(found[0]["finished"]))
            progress.resumed(done, "step", finished=bool(found[0]["finished"]))
        limit = steps_per_call
        while done < steps and self.active.numpy().any():
            call_end = min(steps, (done // steps_per_call + 1) * steps_per_call)  # where the history records
            k = _next_call(done, call_end, limit, None, loop)
            began = time.monotonic()
            run(tf.constant(k))
            done += k
            finished = done >= steps or not self.active.numpy().any()
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
        self.active.assign(start_active & ~self.diverged)
        return {"grad_norm": norms, "loss": self.losses(x, y), "steps": steps_taken.numpy(),
                "converged": converged, "history": np.array(history).reshape(len(history), self.members)}

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
            yield (tf.convert_to_tensor(x[start:start + step], self.dtype), self._labels(y[start:start + step]))

    def losses(self, x, y, budget: float = 2.5e7) -> np.ndarray:
        """Every member's mean loss on all of (x, y): [M]."""
        return self.metrics(x, y, budget)["loss"]

    def metrics(self, x, y, budget: float = 2.5e7) -> dict:
        """Every member's full-data loss, and accuracy for classifiers: {"loss": [M], "accuracy": [M]}."""
        n = len(x)
        classifier = self.loss_name != "mse"
        if self.measure_chunk(n, budget) >= n:  # one chunk: the plain computation
            x, y = tf.convert_to_tensor(np.asarray(x), self.dtype), self._labels(y)
            out = {"loss": self._member_losses(x, y).numpy()}
            if classifier:
                pred = tf.argmax(self._forward(x), axis=-1)
                out["accuracy"] = tf.reduce_mean(tf.cast(pred == y[None], tf.float64), axis=1).numpy()
            return out
        loss_sum, hits = 0.0, 0.0
        for xb, yb in self._chunks(x, y, budget):
            loss_sum = loss_sum + tf.reduce_sum(tf.cast(self._per_sample_losses(xb, yb), tf.float64), axis=1).numpy()
            if classifier:
                pred = tf.argmax(self._forward(xb), axis=-1)
                hits = hits + tf.reduce_sum(tf.cast(pred == yb[None], tf.float64), axis=1).numpy()
        out = {"loss": (loss_sum / n).astype(self.dtype)}
        if classifier:
            out["accuracy"] = hits / n
        return out

    def _labels(self, y):
        return tf.convert_to_tensor(np.asarray(y), dtype=self.dtype if self.loss_name == "mse" else tf.int64)

    def gradient_norms(self, x, y, budget: float = 2.5e7) -> np.ndarray:
        """‖∇θ_m L_m‖₂ of every member on all of (x, y): [M]."""
        n = len(x)
        if self.measure_chunk(n, budget) >= n:
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(self._member_losses(tf.convert_to_tensor(np.asarray(x), self.dtype),
                                                          self._labels(y)))
            return np.sqrt(self._member_grad_sq(tape.gradient(total, self.variables)).numpy())
        grads = None
        for xb, yb in self._chunks(x, y, budget):  # the mean's gradient: the chunks' sums over n
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(self._per_sample_losses(xb, yb)) / n
            part = tape.gradient(total, self.variables)
            grads = part if grads is None else [g + p for g, p in zip(grads, part)]
        return np.sqrt(self._member_grad_sq(grads).numpy())

    def predict(self, x, budget: float = 2.5e7) -> np.ndarray:
        """Outputs of every member: [M, N, out]."""
        x = np.asarray(x)
        step = self.measure_chunk(len(x), budget)
        return np.concatenate([self._forward(tf.convert_to_tensor(x[s:s + step], self.dtype)).numpy()
                               for s in range(0, len(x), step)], axis=1)

    def gradients(self, x, y) -> np.ndarray:
        """Every member's gradient ∇θ_m L_m of its mean loss on all of (x, y), computed in float64
        like `hessians` (θ and the data cast up): [M, P] float64."""
        theta = tf.cast(tf.convert_to_tensor(self.theta), tf.float64)
        x = tf.convert_to_tensor(np.asarray(x, dtype=np.float64))
        with tf.GradientTape() as tape:
            tape.watch(theta)
            total = tf.reduce_sum(tf.reduce_mean(self._per_sample_losses(x, self._labels(y), theta), axis=1))
        return tape.gradient(total, theta).numpy()

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
        if plan["path"] == "closed form":
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                h += self._relu_hessian_chunk(tf.convert_to_tensor(x[a:b], tf.float64), self._labels(y[a:b]), n)
            return 0.5 * (h + np.transpose(h, (0, 2, 1)))
        rows_per_block = plan["row_block"]
        fn = self._hessian_rows_fn()
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            idx = np.arange(a, a + chunk) % n  # padded with real points of zero weight: one trace
            weights = np.where(np.arange(a, a + chunk) < b, 1.0 / n, 0.0)
            xb = tf.convert_to_tensor(x[idx], tf.float64)
            yb, wb = self._labels(y[idx]), tf.convert_to_tensor(weights, tf.float64)
            for r0 in range(0, p, rows_per_block):
                rows = np.minimum(np.arange(r0, r0 + rows_per_block), p - 1).astype(np.int32)
                take = min(rows_per_block, p - r0)
                block = fn(xb, yb, wb, tf.constant(rows)).numpy()  # [R, M, P]
                h[:, r0:r0 + take, :] += np.transpose(block[:take], (1, 0, 2))
        return 0.5 * (h + np.transpose(h, (0, 2, 1)))

    def _relu_hessian_chunk(self, x, y, n_total: int) -> np.ndarray:
        """This chunk's contribution to every member's Hessian of the mean loss over n_total points,
        in float64 (x is a float64 tensor; θ is cast up here).

        With z_l = a_{l-1}W_l + b_l, a_l = relu(z_l) and f = z_L, for one sample
          ∇²ℓ = JᵀQJ + Σ_o ∂ℓ/∂f_o ∇²f_o,
        J = ∂f/∂θ, Q = ∂²ℓ/∂f². A ReLU net is linear in each layer's weights given its activation
        pattern, so ∇²f_o is zero within a layer; between layers l < k,
          ∂²f_o/∂W_l[p,q]∂W_k[r,s] = a_{l-1}[p] · A_{k-1,l}[q,r] · δ_k[o,s],
          ∂²f_o/∂b_l[q]∂W_k[r,s]   = A_{k-1,l}[q,r] · δ_k[o,s],
        where δ_k = ∂f/∂z_k and A_{k-1,l} = ∂a_{k-1}/∂z_l; bias pairs with no W_k vanish.
        Contracting with ∂ℓ/∂f gives e_k = ∂ℓ/∂z_k in place of δ_k.
        """
        dt = tf.float64
        m, L = self.members, len(self._layout)
        ws, bs = self._unpack(tf.cast(tf.convert_to_tensor(self.theta), dt))
        a = [tf.broadcast_to(x[None], [m, *x.shape])]
        masks = []
        for l in range(L):
            z = tf.matmul(a[-1], ws[l]) + bs[l][:, None, :]
            if l < L - 1:
                masks.append(tf.cast(z > 0, dt))
                a.append(tf.nn.relu(z))
        out_dim = self.widths[-1]
        scale = 1.0 / n_total
        if self.loss_name == "mse":
            g_out = 2.0 * scale / out_dim * (z - tf.cast(y, dt)[None])  # ∂L/∂f [M, n, O]
            q = None  # Q = 2/(n·O)·I
        else:
            prob = tf.nn.softmax(z)
            g_out = scale * (prob - tf.one_hot(y, out_dim, dtype=dt)[None])
            q = scale * (tf.linalg.diag(prob) - prob[..., :, None] * prob[..., None, :])
        nb = tf.shape(x)[0]
        # δ_l = ∂f/∂z_l: [M, n, O, w_l], from δ_L = I backwards.
        deltas = [None] * L
        deltas[L - 1] = tf.broadcast_to(tf.eye(out_dim, dtype=dt), [m, nb, out_dim, out_dim])
        for l in range(L - 2, -1, -1):
            deltas[l] = tf.einsum("mnow,mvw->mnov", deltas[l + 1], ws[l + 1]) * masks[l][:, :, None, :]
        errors = [tf.einsum("mno,mnow->mnw", g_out, d) for d in deltas]  # e_l = ∂L/∂z_l
        # Jacobian of the outputs, in the member's θ order (kernel C-order, then bias, layer by layer).
        jac = []
        for l in range(L):
            jac.append(tf.reshape(a[l][:, :, None, :, None] * deltas[l][:, :, :, None, :], [m, nb, out_dim, -1]))
            jac.append(deltas[l])
        jac = tf.concat(jac, axis=3)  # [M, n, O, P]
        if q is None:
            h = (2.0 * scale / out_dim) * tf.einsum("mnop,mnoq->mpq", jac, jac)
        else:
            h = tf.einsum("mnop,mnor->mpr", jac, tf.einsum("mnoq,mnqp->mnop", q, jac))
        h = h.numpy()
        offsets = self._offsets()
        for l in range(L - 1):
            w_l = self.widths[l + 1]
            acts = masks[l][:, :, :, None] * tf.eye(w_l, dtype=dt)  # A_{l,l} = ∂a_l/∂z_l
            for k in range(l + 1, L):
                if k > l + 1:
                    acts = tf.einsum("mnqr,mrs->mnqs", acts, ws[k - 1]) * masks[k - 1][:, :, None, :]
                p_dim, r_dim, s_dim = self.widths[l], self.widths[k], self.widths[k + 1]
                outer = tf.reshape(a[l][:, :, :, None] * errors[k][:, :, None, :], [m, nb, p_dim * s_dim])
                ww = tf.einsum("mnx,mny->mxy", outer, tf.reshape(acts, [m, nb, w_l * r_dim]))
                ww = tf.reshape(tf.transpose(tf.reshape(ww, [m, p_dim, s_dim, w_l, r_dim]), [0, 1, 3, 4, 2]),
                                [m, p_dim * w_l, r_dim * s_dim]).numpy()
                bw = tf.reshape(tf.einsum("mns,mnqr->mqrs", errors[k], acts), [m, w_l, r_dim * s_dim]).numpy()
                k0, k1, _ = offsets[k]
                l0, l1, l2 = offsets[l]
                h[:, l0:l1, k0:k1] += ww
                h[:, k0:k1, l0:l1] += np.transpose(ww, (0, 2, 1))
                h[:, l1:l2, k0:k1] += bw
                h[:, k0:k1, l1:l2] += np.transpose(bw, (0, 2, 1))
        return h

    def _hessian_rows_fn(self):
        if "hessian_rows" not in self._compiled:
            @tf.function
            def rows_fn(xb, yb, wb, rows):
                # float64 throughout: θ cast up and watched. wb weighs each sample (1/n, or 0 for
                # padding): Σ_chunks gives the full mean's Hessian.
                theta = tf.cast(tf.convert_to_tensor(self.theta), tf.float64)
                with tf.GradientTape() as outer:
                    outer.watch(theta)
                    with tf.GradientTape() as inner:
                        inner.watch(theta)
                        total = tf.reduce_sum(self._per_sample_losses(xb, yb, theta) * wb[None])
                    grads = inner.gradient(total, theta)  # [M, P]
                    summed = tf.gather(tf.reduce_sum(grads, axis=0), rows)  # [R]
                return outer.jacobian(summed, theta, experimental_use_pfor=True)  # [R, M, P]
            self._compiled["hessian_rows"] = rows_fn
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

    Written as an explicit tf.while_loop over every step of every epoch in the call, traced
    without autograph: converting the Python of the loop body (and of everything it calls,
    Keras's optimizer included) cost seconds per trace, more than the training itself in a
    50-epoch run. The program returns each step's per-member batch loss (epoch losses follow
    from them outside) and, with record_steps, each step's per-member gradient norm.
    """
    head = ensembles[0]
    key = ("train", tuple(id(e) for e in ensembles), record_steps, per_member)
    if key in head._compiled:
        return head._compiled[key]
    dtype = head.dtype

    # Shapes must be static under XLA, so every batch has batch_size slots; the last batch of an
    # epoch is padded and its dummy slots weigh zero, which gives exactly Keras's smaller last batch.
    @tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
    def run(x, y, batches, counts, total_steps):
        """The first total_steps rows of batches [T, B] (indices into x), counts [T] real samples
        in each batch. Rows past total_steps are never visited: every call of a fit passes the
        same T, so a shorter last call reuses the compiled program instead of compiling another."""
        slots = tf.range(tf.shape(batches)[-1])

        def body(t, step_losses, step_norms):
            valid = tf.cast(slots < counts[t], dtype)
            weights = valid / tf.reduce_sum(valid)
            xb, yb = tf.gather(x, batches[t]), tf.gather(y, batches[t])
            new_losses, new_norms = [], []
            for ens, losses_so_far, norms_so_far in zip(ensembles, step_losses, step_norms):
                with tf.GradientTape() as tape:
                    losses = ens._member_losses(xb, yb, weights)
                    total = tf.reduce_sum(tf.where(ens.active, losses, tf.zeros_like(losses)))
                grads = tape.gradient(total, ens.variables)
                new_losses.append(losses_so_far.write(t, losses))
                new_norms.append(norms_so_far.write(t, tf.sqrt(ens._member_grad_sq(grads)))
                                 if record_steps else norms_so_far)
                ens._masked_apply(grads, ens.optimizer)
            return t + 1, new_losses, new_norms

        rows = tf.shape(batches)[0]
        losses = [tf.TensorArray(dtype, size=rows, element_shape=[ens.members]) for ens in ensembles]
        norms = [tf.TensorArray(dtype, size=rows if record_steps else 0, element_shape=[ens.members])
                 for ens in ensembles]
        _, losses, norms = tf.while_loop(lambda t, *_: t < total_steps, body, (tf.constant(0), losses, norms))
        return [(l.stack(), g.stack() if record_steps else tf.zeros([0, ens.members], dtype))
                for l, g, ens in zip(losses, norms, ensembles)]

    head._compiled[key] = run
    return run


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
    x = tf.convert_to_tensor(np.asarray(x), dtype=head.dtype)
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
        results = run(x, y, tf.constant(table), tf.constant(np.tile(counts, chunk)), tf.constant(e * steps))
        done += e
        medians = []
        for ens, out, (step_loss, step_gn) in zip(ensembles, outs, results):
            step_loss = step_loss.numpy()[:e * steps].reshape(e, steps, ens.members)
            # Keras's epoch loss: the mean of the batch losses weighted by the samples in each batch.
            epoch_loss = np.einsum("esm,s->em", step_loss.astype(np.float64), counts / n).astype(step_loss.dtype)
            out["loss"].append(epoch_loss)
            if record_steps:
                out["step_loss"].append(step_loss.reshape(e * steps, ens.members))
                out["step_grad_norm"].append(step_gn.numpy()[:e * steps])
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
