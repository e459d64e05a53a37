"""Train many same-shaped tiny MLPs at once: the stacked ensemble.

Member m's weights live at index m of stacked variables (kernel [M, in, out], bias [M, out]); one
batched matmul per layer runs every member. The summed loss Σ_m L_m makes every member's gradient
its own, and Adam and SGD act per element, so member m follows the trajectory it would follow
alone from the same initial weights with the same batches. The whole epoch loop runs compiled
(several epochs per call), so the per-step Python and Keras overhead that dominates a plain
`model.fit` of a tiny network is paid once per call instead of once per step.
"""
from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from .models import dense_chain
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
        self.kernels, self.biases = [], []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            limit = math.sqrt(6.0 / (a + b))
            k = rng.uniform(-limit, limit, size=(members, a, b))
            self.kernels.append(keras.Variable(k, dtype=dtype, name=f"kernel_{i}"))
            self.biases.append(keras.Variable(np.zeros((members, b)), dtype=dtype, name=f"bias_{i}"))
        self.variables = [v for pair in zip(self.kernels, self.biases) for v in pair]
        self.optimizer = make_optimizer(optimizer, learning_rate)
        self.optimizer.build(self.variables)
        self.active = tf.Variable(np.ones(members, dtype=bool), trainable=False)
        self.diverged = np.zeros(members, dtype=bool)
        self.epochs_done = 0
        self._compiled = {}

    # ------------------------------------------------------------ the model
    @property
    def n_params(self) -> int:
        return int(sum(np.prod(v.shape[1:]) for v in self.variables))

    def _forward(self, x):
        """x [B, in] shared by all members -> outputs [M, B, out]."""
        h = tf.einsum("bi,mio->mbo", x, self.kernels[0]) + self.biases[0][:, None, :]
        for k, b in zip(self.kernels[1:], self.biases[1:]):
            h = keras.activations.get(self.activation)(h)
            h = tf.matmul(h, k) + b[:, None, :]
        if self.output_activation == "softmax":
            h = keras.activations.softmax(h)
        return h

    def _per_sample_losses(self, x, y):
        """Each member's loss on each sample: [M, B]."""
        out = self._forward(x)
        if self.loss_name == "mse":
            return tf.reduce_mean(tf.square(out - tf.cast(y, out.dtype)[None]), axis=2)
        labels = tf.broadcast_to(tf.cast(y, tf.int64)[None], tf.shape(out)[:2])
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
    def _train_fn(self, record_steps: bool):
        key = ("train", record_steps)
        if key in self._compiled:
            return self._compiled[key]

        # XLA-compiled: one fused program for many epochs. Shapes must be static, so every batch
        # has batch_size slots; the last batch of an epoch is padded and its dummy slots get
        # zero weight, which gives exactly Keras's smaller last batch.
        @tf.function(jit_compile=True, reduce_retracing=True)
        def run(x, y, order, n, batch_size):
            epochs, steps = tf.shape(order)[0], tf.shape(order)[1] // batch_size
            batches = tf.reshape(order, [epochs, steps, batch_size])
            slots = tf.range(batch_size)
            shape = tf.TensorShape([self.members])
            epoch_loss = tf.TensorArray(self.dtype, size=epochs, element_shape=shape)
            step_loss = tf.TensorArray(self.dtype, size=epochs * steps if record_steps else 1, element_shape=shape)
            step_gn = tf.TensorArray(self.dtype, size=epochs * steps if record_steps else 1, element_shape=shape)
            for e in tf.range(epochs):
                running = tf.zeros([self.members], self.dtype)
                for s in tf.range(steps):
                    idx = batches[e, s]
                    valid = tf.cast(s * batch_size + slots < n, self.dtype)
                    weights = valid / tf.reduce_sum(valid)
                    xb, yb = tf.gather(x, idx), tf.gather(y, idx)
                    with tf.GradientTape() as tape:
                        losses = self._member_losses(xb, yb, weights)
                        total = tf.reduce_sum(tf.where(self.active, losses, tf.zeros_like(losses)))
                    grads = tape.gradient(total, self.variables)
                    if record_steps:
                        step_loss = step_loss.write(e * steps + s, losses)
                        step_gn = step_gn.write(e * steps + s, tf.sqrt(self._member_grad_sq(grads)))
                    self._masked_apply(grads, self.optimizer)
                    # Keras's epoch loss: the sample-weighted mean of the batch losses seen.
                    running += losses * tf.reduce_sum(valid) / tf.cast(n, self.dtype)
                epoch_loss = epoch_loss.write(e, running)
            if record_steps:
                return epoch_loss.stack(), step_loss.stack(), step_gn.stack()
            empty = tf.zeros([0, self.members], self.dtype)
            return epoch_loss.stack(), empty, empty

        self._compiled[key] = run
        return run

    def fit(self, x, y, epochs: int, batch_size: int, shuffle_seed: int = 0, record_every: int | None = None,
            record_steps: bool = False, epochs_per_call: int | None = None, verbose: bool | None = None,
            label: str = "ensemble") -> dict:
        """Train every member for `epochs` epochs on the same batches: epoch e visits the points in
        the order np.random.default_rng(shuffle_seed)'s e-th permutation, in batches of batch_size
        (the last one smaller, as in Keras).
        With record_every, "snapshot_metrics" holds each snapshot's full-data metrics() too.

        Returns {"loss": [epochs, M] each epoch's mean batch loss (what Keras's History reports), "snapshots": [(epoch, [M, P])]
        every `record_every` epochs (epoch 0 included), "step_loss"/"step_grad_norm": [steps, M]
        batch loss and batch gradient norm before every step when record_steps, "diverged": [M]}.
        """
        x = tf.convert_to_tensor(np.asarray(x), dtype=self.dtype)
        y = tf.convert_to_tensor(np.asarray(y), dtype=self.dtype if self.loss_name == "mse" else tf.int64)
        n = int(x.shape[0])
        rng = np.random.default_rng(shuffle_seed)
        run = self._train_fn(record_steps)
        chunk = record_every or epochs_per_call or max(1, min(epochs, 200))
        progress = Progress(math.ceil(epochs / chunk), label, enabled=verbose)
        out = {"loss": [], "snapshots": [], "snapshot_metrics": [], "step_loss": [], "step_grad_norm": []}

        def snapshot():
            out["snapshots"].append((self.epochs_done, self.flat_weights()))
            out["snapshot_metrics"].append(self.metrics(x, y))

        if record_every:
            snapshot()
        done, calls = 0, 0
        while done < epochs:
            e = min(chunk, epochs - done)
            steps = -(-n // batch_size)
            order = np.zeros((e, steps * batch_size), dtype=np.int32)  # padded with index 0
            for i in range(e):
                order[i, :n] = rng.permutation(n)
            epoch_loss, step_loss, step_gn = run(x, y, tf.constant(order), tf.constant(n), batch_size)
            epoch_loss = epoch_loss.numpy()
            out["loss"].append(epoch_loss)
            if record_steps:
                out["step_loss"].append(step_loss.numpy())
                out["step_grad_norm"].append(step_gn.numpy())
            done += e
            self.epochs_done += e
            self._check_divergence(epoch_loss[-1])
            if record_every:
                snapshot()
            calls += 1
            finite = epoch_loss[-1][np.isfinite(epoch_loss[-1])]
            progress.update(calls, f"epoch {self.epochs_done}, median loss {np.median(finite) if finite.size else float('nan'):.3g}")
        out["loss"] = np.concatenate(out["loss"])
        for key in ("step_loss", "step_grad_norm"):
            out[key] = np.concatenate(out[key]) if out[key] else np.zeros((0, self.members))
        out["diverged"] = self.diverged.copy()
        return out

    def _check_divergence(self, last_loss) -> None:
        bad = ~np.isfinite(last_loss) & ~self.diverged
        if bad.any():
            self.diverged |= bad
            self.active.assign(self.active.numpy() & ~self.diverged)
            import warnings
            warnings.warn(f"members {np.flatnonzero(bad).tolist()} diverged (non-finite loss): frozen and "
                          f"recorded as diverged", stacklevel=3)

    # ------------------------------------------------------------ gradient-norm phase
    def minimize_gradient_norm(self, x, y, steps: int, tol: float, learning_rate: float = 1e-3,
                               optimizer: str = "adam", steps_per_call: int = 100, verbose: bool | None = None,
                               label: str = "gradient norm") -> dict:
        """Switch every member's objective to its squared full-batch gradient norm ‖∇θ L_m‖²
        (double backpropagation) and descend it; a member whose gradient norm falls below `tol`
        stops there. Returns {"grad_norm": [M] final, "loss": [M] final, "steps": [M] steps
        taken, "converged": [M], "history": [calls, M] gradient norm after each call}."""
        x = tf.convert_to_tensor(np.asarray(x), dtype=self.dtype)
        y = tf.convert_to_tensor(np.asarray(y), dtype=self.dtype if self.loss_name == "mse" else tf.int64)
        opt = make_optimizer(optimizer, learning_rate)
        opt.build(self.variables)
        tol_t = tf.constant(tol, self.dtype)
        steps_taken = tf.Variable(tf.zeros(self.members, tf.int32), trainable=False)

        @tf.function(jit_compile=True)
        def run(k):
            for _ in tf.range(k):
                with tf.GradientTape() as outer:
                    with tf.GradientTape() as inner:
                        total_loss = tf.reduce_sum(self._member_losses(x, y))
                    grads = inner.gradient(total_loss, self.variables)
                    grad_sq = self._member_grad_sq(grads)
                    total = tf.reduce_sum(tf.where(self.active, grad_sq, tf.zeros_like(grad_sq)))
                self.active.assign(self.active & (tf.sqrt(grad_sq) >= tol_t))
                steps_taken.assign_add(tf.cast(self.active, tf.int32))
                self._masked_apply(outer.gradient(total, self.variables), opt)

        start_active = self.active.numpy().copy()
        history = []
        progress = Progress(math.ceil(steps / steps_per_call), label, enabled=verbose)
        done = 0
        while done < steps and self.active.numpy().any():
            k = min(steps_per_call, steps - done)
            run(tf.constant(k))
            done += k
            norms = self.gradient_norms(x, y)
            history.append(norms)
            progress.update(done // steps_per_call, f"{int(np.sum(norms < tol))}/{self.members} below {tol:g}")
        norms = self.gradient_norms(x, y)
        converged = norms < tol
        # Members that stopped for other reasons (diverged) are not reactivated for later phases.
        self.active.assign(start_active & ~self.diverged)
        return {"grad_norm": norms, "loss": self.losses(x, y), "steps": steps_taken.numpy(),
                "converged": converged, "history": np.array(history)}

    # ------------------------------------------------------------ measures
    def losses(self, x, y) -> np.ndarray:
        return self._member_losses(tf.convert_to_tensor(np.asarray(x), self.dtype), self._labels(y)).numpy()

    def metrics(self, x, y) -> dict:
        """Every member's full-data loss, and accuracy for classifiers: {"loss": [M], "accuracy": [M]}."""
        x = tf.convert_to_tensor(np.asarray(x), self.dtype)
        y = self._labels(y)
        out = {"loss": self._member_losses(x, y).numpy()}
        if self.loss_name != "mse":
            pred = tf.argmax(self._forward(x), axis=-1)
            out["accuracy"] = tf.reduce_mean(tf.cast(pred == y[None], tf.float64), axis=1).numpy()
        return out

    def _labels(self, y):
        return tf.convert_to_tensor(np.asarray(y), dtype=self.dtype if self.loss_name == "mse" else tf.int64)

    def gradient_norms(self, x, y) -> np.ndarray:
        """‖∇θ_m L_m‖₂ of every member on all of (x, y): [M]."""
        x = tf.convert_to_tensor(np.asarray(x), self.dtype)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(self._member_losses(x, self._labels(y)))
        return np.sqrt(self._member_grad_sq(tape.gradient(total, self.variables)).numpy())

    def predict(self, x) -> np.ndarray:
        """Outputs of every member: [M, N, out]."""
        return self._forward(tf.convert_to_tensor(np.asarray(x), self.dtype)).numpy()

    def hessians(self, x, y, row_block: int = 64, budget: float = 1e6) -> np.ndarray:
        """Every member's exact Hessian of its mean loss: [M, P, P], float64, symmetric.

        The Hessian of Σ_m L_m is block-diagonal, so row j of every member's Hessian is the
        gradient of Σ_m ∂L_m/∂θ_m[j] with respect to the stacked weights: P rows, not M·P.
        Rows come in blocks and data in chunks of about budget / (rows·M) points, so peak memory
        stays bounded whatever M and N are."""
        x = np.asarray(x)
        y = np.asarray(y)
        p, m, n = self.n_params, self.members, len(x)
        row_block = min(row_block, p)
        chunk = int(max(1, min(n, budget // (row_block * m))))

        @tf.function(reduce_retracing=True)
        def rows_fn(xb, yb, rows):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    total = tf.reduce_sum(self._member_losses(xb, yb))
                grads = inner.gradient(total, self.variables)
                flat = tf.concat([tf.reshape(g, [m, -1]) for g in grads], axis=1)  # [M, P]
                summed = tf.gather(tf.reduce_sum(flat, axis=0), rows)  # [R]
            jac = outer.jacobian(summed, self.variables, experimental_use_pfor=True)
            return tf.concat([tf.reshape(j, [tf.shape(rows)[0], m, -1]) for j in jac], axis=2)  # [R, M, P]

        h = np.zeros((m, p, p))
        for r0 in range(0, p, row_block):
            rows = np.minimum(np.arange(r0, r0 + row_block), p - 1).astype(np.int32)
            take = min(row_block, p - r0)
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                block = rows_fn(tf.convert_to_tensor(x[a:b], self.dtype), self._labels(y[a:b]), tf.constant(rows))
                h[:, r0:r0 + take, :] += (b - a) / n * np.transpose(block.numpy()[:take], (1, 0, 2))
        return 0.5 * (h + np.transpose(h, (0, 2, 1)))

    # ------------------------------------------------------------ weights and export
    def member_weights(self, m: int) -> list[np.ndarray]:
        """Member m's weights in keras.layers.Dense order: kernel_0, bias_0, kernel_1, ..."""
        return [v.numpy()[m] for v in self.variables]

    def set_member_weights(self, m: int, weights: Sequence[np.ndarray]) -> None:
        for var, w in zip(self.variables, weights):
            value = var.numpy()
            value[m] = w
            var.assign(value)

    def flat_weights(self) -> np.ndarray:
        """All members' θ, flattened in their exported model's trainable_weights order: [M, P]."""
        return np.concatenate([v.numpy().reshape(self.members, -1) for v in self.variables], axis=1).astype(np.float64)

    def member(self, m: int) -> keras.Model:
        """Member m as an ordinary compiled keras.Model with its current weights."""
        model = dense_chain(self.widths, self.activation, self.output_activation, dtype=self.dtype,
                            name=f"member_{m}")
        model.set_weights(self.member_weights(m))
        metrics = ["accuracy"] if self.loss_name != "mse" else None
        model.compile(optimizer=make_optimizer(self.optimizer_name, self.learning_rate), loss=self.loss_name,
                      metrics=metrics)
        return model
