"""Keras layers with a member axis: M same-shaped networks computed as one, so a step is a few kernels
whatever M is (hwutils.vectorized builds models from them).

Activations take one of three forms. Member-major, [M, B, ...]: every per-member product is then one
batched matmul whose batch axis leads, as BatchMatMul and dot_general want it, and pooling and flattening
fold M into the batch for free. Shared, [B, ...]: the input, when every member sees the same batch; the
first layer computes all members from it at once (a convolution with M·F filters, a matmul with M·O
columns). Split, a list of M tensors [B, ...]: where a per-member convolution is computed as M
convolutions (TensorFlow on a CPU, large images: `conv_method`), the members stay apart until the output,
so that the graph is that of a `models.stacked` model, whose independent members TensorFlow's executor
runs side by side on the cores, while the weights and the optimizer's update stay one tensor per layer.

Member m's weights are slice m of each variable, laid out so that slice m is the Keras layer's own
weight: a kernel [M, kh, kw, C, F] holds member m's Conv2D kernel [kh, kw, C, F], a kernel [M, I, O]
its Dense kernel. Everything is keras.ops; the only choice made per backend and device is how a
per-member convolution is computed (`conv_method`).
"""
from __future__ import annotations

import os

import keras
from keras import ops


def _activation(name):
    return keras.activations.get(name)


def _same_pad(x, kernel: tuple[int, int]):
    """Zero padding of [N, H, W, C] as Keras's padding="same" does at stride 1 (the extra row below)."""
    (kh, kw) = kernel
    return ops.pad(x, [[0, 0], [(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2], [0, 0]])


def _patches(x, kernel: tuple[int, int]):
    """[N, H, W, C] -> [N, H', W', kh·kw·C] (valid, stride 1), in the order of a Keras kernel
    [kh, kw, C, F] flattened: row offset, column offset, channel."""
    kh, kw = kernel
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return ops.concatenate([x[:, i:i + h, j:j + w, :] for i in range(kh) for j in range(kw)], axis=-1)


# How member_conv computes, measured on this 2-core CPU (benchmarks/stacked_cnn.py times whole models):
# "patches" (kh·kw slices, one batched matmul) was the fastest per-member convolution on both backends for
# small ones (the 1-1 digits CNN, 1.3k multiply-adds per sample and member: 4.8 s against 7.3 s for a loop
# at 20 members, 9.7 s against 23 s at 100); on TensorFlow a "loop" of M oneDNN convolutions, the members
# then kept apart, was fastest for larger ones (the report CNN's second convolution on digits, 295k per
# sample: 5.6 s against 10.4 s at 3 members; on 28×28 MNIST, 10.6M: 185 ms against 409 ms a step of that
# layer at 6 members). XLA's CPU grouped convolution ("grouped"; a jax.vmap of a convolution lowers to it)
# was 10–100× slower than either; on a GPU cuDNN runs grouped convolutions natively. HWUTILS_MEMBER_CONV
# (patches | loop | grouped) overrides the choice, for benchmarks.
LOOP_FROM_MACS = 100_000


def conv_method(macs: int) -> str:
    """How member_conv computes a convolution of `macs` multiply-adds per sample and member, on this
    backend and device."""
    chosen = os.environ.get("HWUTILS_MEMBER_CONV", "auto")
    if chosen != "auto":
        return chosen
    if _on_gpu():
        return "grouped"
    if keras.backend.backend() == "tensorflow" and macs >= LOOP_FROM_MACS:
        return "loop"
    return "patches"


def _on_gpu() -> bool:
    from . import precision
    return precision.accelerator() is not None


def member_conv(x, kernel, padding: str = "valid", method: str = "patches"):
    """Per-member convolution: x [M, B, H, W, C], kernel [M, kh, kw, C, F] -> [M, B, H', W', F], member m
    convolved with its own kernel (stride 1), as patches and one batched matmul or as a grouped convolution
    (the loop of M convolutions is MemberConv2D's, whose output it leaves split)."""
    m, _, height, width, c = x.shape
    kh, kw, f = kernel.shape[1], kernel.shape[2], kernel.shape[4]
    h, w = (height, width) if padding == "same" else (height - kh + 1, width - kw + 1)
    if method == "grouped":  # members as channel groups: [B, H, W, M·C] with an [kh, kw, C, M·F] kernel
        wide = ops.reshape(ops.transpose(x, (1, 2, 3, 0, 4)), (-1, height, width, m * c))
        out = ops.conv(wide, ops.reshape(ops.transpose(kernel, (1, 2, 3, 0, 4)), (kh, kw, c, m * f)), padding=padding)
        return ops.transpose(ops.reshape(out, (-1, h, w, m, f)), (3, 0, 1, 2, 4))
    flat = ops.reshape(x, (-1, height, width, c))  # [M·B, H, W, C]
    if padding == "same":
        flat = _same_pad(flat, (kh, kw))
    patches = _patches(flat, (kh, kw))
    out = ops.matmul(ops.reshape(patches, (m, -1, kh * kw * c)), ops.reshape(kernel, (m, kh * kw * c, f)))
    return ops.reshape(out, (m, -1, h, w, f))


def shared_conv(x, kernel, padding: str = "valid"):
    """Every member's convolution of one shared input: x [B, H, W, C], kernel [M, kh, kw, C, F] ->
    [M, B, H', W', F], as one convolution with M·F filters."""
    m, kh, kw, c, f = kernel.shape
    wide = ops.reshape(ops.transpose(kernel, (1, 2, 3, 0, 4)), (kh, kw, c, m * f))
    out = ops.conv(x, wide, strides=1, padding=padding)  # [B, H', W', M·F], member-major channels
    return ops.transpose(ops.reshape(out, (-1, out.shape[1], out.shape[2], m, f)), (3, 0, 1, 2, 4))


def split(x, members: int) -> list:
    """The split form of member-major activations or weights: one unstack, whose gradient is one stack
    (indexing x[i] M times would make M gradients of x's full size)."""
    # convert_to_tensor: a Keras variable's value (autocast under a mixed policy), which JAX needs explicitly
    return list(x) if isinstance(x, (list, tuple)) else ops.unstack(ops.convert_to_tensor(x), members, axis=0)


def is_split(x) -> bool:
    return isinstance(x, (list, tuple))


class MemberLayer(keras.layers.Layer):
    """A layer of M members with weights: `member_weights(m)` and `set_member_weights(m, ws)` read and write
    member m's weights in the order of the matching Keras layer's get_weights(). Built from the Keras
    layer's own sizes, whatever form of input it is then called on."""

    def __init__(self, members: int, **kwargs):
        super().__init__(**kwargs)
        self.members = int(members)

    def member_weights(self, m: int) -> list:
        return [ops.convert_to_numpy(v)[m] for v in self.weights]

    def set_member_weights(self, m: int, values) -> None:
        for v, value in zip(self.weights, values):
            full = ops.convert_to_numpy(v).copy()
            full[m] = value
            v.assign(full)

    def get_config(self):
        return {**super().get_config(), "members": self.members}


class MemberConv2D(MemberLayer):
    """Conv2D (stride 1, no dilation) of M members on `channels` input channels. Input shared, member-major
    or split; output member-major, or split when computed as M convolutions."""

    def __init__(self, members: int, channels: int, filters: int, kernel_size, activation=None,
                 padding: str = "valid", **kwargs):
        super().__init__(members, **kwargs)
        self.channels, self.filters, self.padding = int(channels), int(filters), padding
        self.kernel_size = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size,) * 2
        self.activation = _activation(activation)

    def build(self, _):
        self.kernel = self.add_weight(shape=(self.members, *self.kernel_size, self.channels, self.filters),
                                      name="kernel", initializer="zeros")
        self.bias = self.add_weight(shape=(self.members, self.filters), name="bias", initializer="zeros")

    def _macs(self, shape) -> int:
        """Multiply-adds per sample and member."""
        (kh, kw), (h, w) = self.kernel_size, shape[-3:-1]
        pixels = h * w if self.padding == "same" else (h - kh + 1) * (w - kw + 1)
        return pixels * kh * kw * self.channels * self.filters

    def call(self, x):
        shape = x[0].shape if is_split(x) else x.shape
        method = "loop" if is_split(x) else conv_method(self._macs(shape))
        if method == "loop":
            xs = [x] * self.members if not is_split(x) and len(shape) == 4 else split(x, self.members)
            ks, bs = split(self.kernel, self.members), split(self.bias, self.members)
            return [self.activation(ops.conv(xs[i], ks[i], padding=self.padding) + bs[i]) for i in range(self.members)]
        y = shared_conv(x, self.kernel, self.padding) if len(shape) == 4 else \
            member_conv(x, self.kernel, self.padding, method)
        y = y + ops.reshape(self.bias, (self.members, 1, 1, 1, self.filters))
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "filters": self.filters,
                "kernel_size": self.kernel_size, "activation": keras.activations.serialize(self.activation),
                "padding": self.padding}


class MemberMaxPooling2D(keras.layers.Layer):
    """MaxPooling2D (stride = pool, valid) of member-major or split activations."""

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(pool_size) if isinstance(pool_size, (list, tuple)) else (pool_size,) * 2

    def _pool(self, x):
        return ops.max_pool(x, self.pool_size, strides=self.pool_size, padding="valid")

    def call(self, x):
        if is_split(x):
            return [self._pool(v) for v in x]
        y = self._pool(ops.reshape(x, (-1, *x.shape[2:])))
        return ops.reshape(y, (x.shape[0], -1, *y.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


class MemberFlatten(keras.layers.Layer):
    """Flatten in Keras's order (rows, columns, channels): member-major [M, B, ...] -> [M, B, D], split
    member by member, and the shared input [B, ...] -> [B, D] (an MLP's first layer)."""

    def __init__(self, shared_rank: int, **kwargs):
        super().__init__(**kwargs)
        self.shared_rank = int(shared_rank)  # the rank of a shared batch: its Keras layer's input rank

    def call(self, x):
        if is_split(x):
            return [ops.reshape(v, (-1, _prod(v.shape[1:]))) for v in x]
        if len(x.shape) == self.shared_rank:
            return ops.reshape(x, (-1, _prod(x.shape[1:])))
        return ops.reshape(x, (x.shape[0], -1, _prod(x.shape[2:])))

    def get_config(self):
        return {**super().get_config(), "shared_rank": self.shared_rank}


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


class MemberDense(MemberLayer):
    """Dense of M members on `inputs` features. Input shared [B, I], member-major [M, B, I] or split;
    output member-major [M, B, O] (split when its input is). A softmax output is computed in float32
    under a mixed precision policy (as Keras's guide asks of an output layer)."""

    def __init__(self, members: int, inputs: int, units: int, activation=None, **kwargs):
        super().__init__(members, **kwargs)
        self.inputs, self.units, self.activation = int(inputs), int(units), _activation(activation)

    def build(self, _):
        self.kernel = self.add_weight(shape=(self.members, self.inputs, self.units), name="kernel",
                                      initializer="zeros")
        self.bias = self.add_weight(shape=(self.members, self.units), name="bias", initializer="zeros")

    def _act(self, y):
        if self.activation is keras.activations.softmax:
            y = ops.cast(y, "float32")
        return self.activation(y)

    def call(self, x):
        m, i, o = self.members, self.inputs, self.units
        if is_split(x):
            ks, bs = split(self.kernel, m), split(self.bias, m)
            return [self._act(ops.matmul(x[j], ks[j]) + bs[j]) for j in range(m)]
        if len(x.shape) == 2:  # shared input: one matmul with M·O columns
            wide = ops.reshape(ops.transpose(self.kernel, (1, 0, 2)), (i, m * o))
            y = ops.transpose(ops.reshape(ops.matmul(x, wide), (-1, m, o)), (1, 0, 2))
        else:
            y = ops.matmul(x, self.kernel)
        return self._act(y + ops.reshape(self.bias, (m, 1, o)))

    def get_config(self):
        return {**super().get_config(), "inputs": self.inputs, "units": self.units,
                "activation": keras.activations.serialize(self.activation)}
