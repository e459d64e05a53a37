"""Model families of the report, parameter counting and the width solver."""
from __future__ import annotations

from typing import Sequence

import keras

# The report's 1-1 architectures (layer widths including input and output).
REPORT_FUNCTION_MODELS = {
    "sinc": {"deep": [1, 5, 10, 10, 10, 10, 5, 1], "middle": [1, 7, 8, 19, 10, 1], "shallow": [1, 20, 19, 1]},
    "xcosx": {"deep": [1, 5, 10, 10, 10, 10, 5, 1], "middle": [1, 10, 15, 12, 6, 1], "shallow": [1, 153, 1]},
}


def dense_params(widths: Sequence[int]) -> int:
    """Parameters of a dense chain widths[0] -> ... -> widths[-1] (kernels and biases)."""
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def dense_chain(widths: Sequence[int], activation: str = "relu", output_activation: str | None = None,
                dtype: str | None = None, name: str | None = None) -> keras.Model:
    """An MLP with layer widths `widths` (input first). Inputs of rank > 2 are flattened first."""
    layers = [keras.layers.Dense(w, activation=activation, dtype=dtype) for w in widths[1:-1]]
    layers.append(keras.layers.Dense(widths[-1], activation=output_activation, dtype=dtype))
    return keras.Sequential([keras.Input((widths[0],), dtype=dtype), *layers], name=name)


def image_mlp(input_shape: Sequence[int], hidden: Sequence[int], classes: int = 10,
              dtype: str | None = None, name: str | None = None) -> keras.Model:
    """Flatten -> Dense(h, relu) for h in hidden -> Dense(classes, softmax)."""
    layers = [keras.layers.Flatten(dtype=dtype)]
    layers += [keras.layers.Dense(h, activation="relu", dtype=dtype) for h in hidden]
    layers.append(keras.layers.Dense(classes, activation="softmax", dtype=dtype))
    return keras.Sequential([keras.Input(tuple(input_shape), dtype=dtype), *layers], name=name)


def conv_front(input_shape: Sequence[int], filters: int, kernel: int = 3, pool: int = 2):
    """(layers, flattened size, parameter count) of input -> conv2d -> max pooling -> flatten."""
    h, w, c = input_shape
    out_h, out_w = (h - kernel + 1) // pool, (w - kernel + 1) // pool
    if out_h < 1 or out_w < 1:
        raise ValueError(f"input {tuple(input_shape)} is too small for a {kernel}x{kernel} conv and {pool}x{pool} pooling")
    layers = [keras.layers.Conv2D(filters, kernel, activation="relu"), keras.layers.MaxPooling2D(pool),
              keras.layers.Flatten()]
    return layers, out_h * out_w * filters, (kernel * kernel * c + 1) * filters


def conv_dense(input_shape: Sequence[int], filters: int, hidden: Sequence[int], classes: int = 10,
               kernel: int = 3, pool: int = 2, name: str | None = None) -> keras.Model:
    """input -> conv2d -> max pooling -> len(hidden) dense hidden layers -> softmax (1-1, 1-3)."""
    layers, _, _ = conv_front(input_shape, filters, kernel, pool)
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
    layers.append(keras.layers.Dense(classes, activation="softmax"))
    return keras.Sequential([keras.Input(tuple(input_shape)), *layers], name=name)


def report_cnn(input_shape: Sequence[int], classes: int = 10, name: str | None = None) -> keras.Model:
    """The report's 1-3 model: Conv2D(32, 3x3) -> Conv2D(64, 3x3) -> Flatten -> Dense(100) -> softmax."""
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ], name=name)


def count_params(model: keras.Model) -> int:
    """Trainable parameters: the count the report quotes."""
    return int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))


def solve_widths(target: int, depth: int, n_in: int, n_out: int, fixed: int = 0, tol: float = 0.03) -> list[int]:
    """Hidden widths [w, ..., w, v] of a dense chain n_in -> depth hidden layers -> n_out whose
    parameter count plus `fixed` (e.g. a conv front) is closest to `target`, within ±tol.

    All hidden layers share the width w except the last one, v, which absorbs the rounding: the
    count is linear in v, so its granularity is only (w + n_out + 1) parameters.
    """
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    best = None
    for w in range(1, max(2, target)):
        head = [n_in] + [w] * (depth - 1)
        a = dense_params(head + [1, n_out]) - (head[-1] + 1) - (1 + 1) * n_out  # count without the v layer terms
        slope = (head[-1] + 1) + n_out  # parameters per unit of v
        v = max(1, round((target - fixed - a) / slope))
        total = fixed + dense_params(head + [v, n_out])
        err = abs(total - target)
        # Prefer, among the width sets within tolerance, the most even one; else the closest.
        key = (err > tol * target, max(v, w) / min(v, w) if err <= tol * target else 0, err)
        if best is None or key < best[0]:
            best = (key, [w] * (depth - 1) + [v], total)
        if fixed + dense_params(head + [w, n_out]) > 2 * target and depth > 1:
            break
        if depth == 1 and w > 1:
            break
    _, widths, total = best
    if abs(total - target) > tol * target:
        raise ValueError(f"no widths for depth {depth} reach {target} parameters within ±{tol:.0%} "
                         f"(closest: {widths}, {total}); change the target or the front")
    return widths
