"""Keras layers with a member axis: M same-shaped networks computed as one, so a step is a few kernels
whatever M is (hwutils.vectorized builds models from them).

Activations are member-major, [M, B, ...]: every per-member product is then one batched matmul whose
batch axis leads, as BatchMatMul and dot_general want it, and pooling and flattening fold M into the
batch for free. A layer that receives the shared input [B, ...] (the first layer, when every member
sees the same batch) computes all members at once from it: a convolution with M·F filters, a matmul
with M·O columns.

Member m's weights are slice m of each variable, laid out so that slice m is the Keras layer's own
weight: a kernel [M, kh, kw, C, F] holds member m's Conv2D kernel [kh, kw, C, F], a kernel [M, I, O]
its Dense kernel. Everything is keras.ops except the convolution of per-member inputs, which has one
implementation per backend (`member_conv`): TensorFlow has no grouped convolution on a CPU outside XLA.
"""
from __future__ import annotations

import keras
from keras import ops


def _activation(name):
    return keras.activations.get(name)


def _same_pad(x, kernel: tuple[int, int]):
    """Zero padding of [N, H, W, C] as Keras's padding="same" does at stride 1 (the extra row below)."""
    (kh, kw) = kernel
    return ops.pad(x, [[0, 0], [(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2], [0, 0]])


def _patches_keras(x, kernel: tuple[int, int]):
    """[N, H, W, C] -> [N, H', W', kh·kw·C] (valid, stride 1), in the order of a Keras kernel
    [kh, kw, C, F] flattened: row offset, column offset, channel."""
    kh, kw = kernel
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return ops.concatenate([x[:, i:i + h, j:j + w, :] for i in range(kh) for j in range(kw)], axis=-1)


def _patches_tf(x, kernel: tuple[int, int]):
    import tensorflow as tf  # only on the TensorFlow backend: one op instead of kh·kw slices
    kh, kw = kernel
    return tf.image.extract_patches(x, [1, kh, kw, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")


def member_conv(x, kernel, padding: str = "valid"):
    """Per-member convolution: x [M, B, H, W, C], kernel [M, kh, kw, C, F] -> [M, B, H', W', F], member m
    convolved with its own kernel (stride 1). As patches and one batched matmul [M, B·H'·W', kh·kw·C] @
    [M, kh·kw·C, F]: measured faster here than M separate convolutions, and needing no grouped convolution."""
    m, b, _, _, c = x.shape
    kh, kw, f = kernel.shape[1], kernel.shape[2], kernel.shape[4]
    flat = ops.reshape(x, (-1, *x.shape[2:]))  # [M·B, H, W, C]
    if padding == "same":
        flat = _same_pad(flat, (kh, kw))
    patches = (_patches_tf if keras.backend.backend() == "tensorflow" else _patches_keras)(flat, (kh, kw))
    h, w = patches.shape[1], patches.shape[2]
    out = ops.matmul(ops.reshape(patches, (m, -1, kh * kw * c)), ops.reshape(kernel, (m, kh * kw * c, f)))
    return ops.reshape(out, (m, -1, h, w, f))


def shared_conv(x, kernel, padding: str = "valid"):
    """Every member's convolution of one shared input: x [B, H, W, C], kernel [M, kh, kw, C, F] ->
    [M, B, H', W', F], as one convolution with M·F filters."""
    m, kh, kw, c, f = kernel.shape
    wide = ops.reshape(ops.transpose(kernel, (1, 2, 3, 0, 4)), (kh, kw, c, m * f))
    out = ops.conv(x, wide, strides=1, padding=padding)  # [B, H', W', M·F], member-major channels
    return ops.transpose(ops.reshape(out, (-1, out.shape[1], out.shape[2], m, f)), (3, 0, 1, 2, 4))


class MemberLayer(keras.layers.Layer):
    """A layer of M members: `member_weights(m)` and `set_member_weights(m, ws)` read and write member m's
    weights in the order of the matching Keras layer's get_weights()."""

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
    """Conv2D (stride 1, no dilation) of M members. Input: shared [B, H, W, C] or member-major
    [M, B, H, W, C]; output [M, B, H', W', F]."""

    def __init__(self, members: int, filters: int, kernel_size, activation=None, padding: str = "valid", **kwargs):
        super().__init__(members, **kwargs)
        self.filters, self.padding = int(filters), padding
        self.kernel_size = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size,) * 2
        self.activation = _activation(activation)

    def build(self, input_shape):
        c = input_shape[-1]
        self.kernel = self.add_weight(shape=(self.members, *self.kernel_size, c, self.filters), name="kernel",
                                      initializer="zeros")
        self.bias = self.add_weight(shape=(self.members, self.filters), name="bias", initializer="zeros")

    def call(self, x):
        conv = shared_conv if len(x.shape) == 4 else member_conv
        y = conv(x, self.kernel, self.padding) + ops.reshape(self.bias, (self.members, 1, 1, 1, self.filters))
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation), "padding": self.padding}


class MemberMaxPooling2D(keras.layers.Layer):
    """MaxPooling2D (stride = pool, valid) of member-major [M, B, H, W, C]."""

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(pool_size) if isinstance(pool_size, (list, tuple)) else (pool_size,) * 2

    def call(self, x):
        m = x.shape[0]
        y = ops.max_pool(ops.reshape(x, (-1, *x.shape[2:])), self.pool_size, strides=self.pool_size, padding="valid")
        return ops.reshape(y, (m, -1, *y.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


class MemberFlatten(keras.layers.Layer):
    """Flatten: member-major [M, B, ...] -> [M, B, D] (Keras's order: rows, columns, channels); the shared
    input [B, ...] -> [B, D] (an MLP's first layer)."""

    def __init__(self, shared_rank: int, **kwargs):
        super().__init__(**kwargs)
        self.shared_rank = int(shared_rank)  # the rank of a shared batch: its input's rank + 1

    def call(self, x):
        lead = 1 if len(x.shape) == self.shared_rank else 2
        return ops.reshape(x, (*([-1] if lead == 1 else [x.shape[0], -1]), int(_prod(x.shape[lead:]))))

    def get_config(self):
        return {**super().get_config(), "shared_rank": self.shared_rank}


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


class MemberDense(MemberLayer):
    """Dense of M members. Input: shared [B, I] or member-major [M, B, I]; output [M, B, O]. A softmax
    output is computed in float32 under a mixed precision policy (as Keras's guide asks of an output)."""

    def __init__(self, members: int, units: int, activation=None, **kwargs):
        super().__init__(members, **kwargs)
        self.units, self.activation = int(units), _activation(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.members, input_shape[-1], self.units), name="kernel",
                                      initializer="zeros")
        self.bias = self.add_weight(shape=(self.members, self.units), name="bias", initializer="zeros")

    def call(self, x):
        m, i, o = self.kernel.shape
        if len(x.shape) == 2:  # shared input: one matmul with M·O columns
            wide = ops.reshape(ops.transpose(self.kernel, (1, 0, 2)), (i, m * o))
            y = ops.transpose(ops.reshape(ops.matmul(x, wide), (-1, m, o)), (1, 0, 2))
        else:
            y = ops.matmul(x, self.kernel)
        y = y + ops.reshape(self.bias, (m, 1, o))
        if self.activation is keras.activations.softmax:
            y = ops.cast(y, "float32")
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}
