"""Model families of the report, parameter counting and the width solver."""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

# The report's 1-1 architectures (layer widths including input and output).
REPORT_FUNCTION_MODELS = {
    "sinc": {"deep": [1, 5, 10, 10, 10, 10, 5, 1], "middle": [1, 7, 8, 19, 10, 1], "shallow": [1, 20, 19, 1]},
    "xcosx": {"deep": [1, 5, 10, 10, 10, 10, 5, 1], "middle": [1, 10, 15, 12, 6, 1], "shallow": [1, 153, 1]},
}


def dense_params(widths: Sequence[int]) -> int:
    """Parameters of a dense chain widths[0] -> ... -> widths[-1] (kernels and biases)."""
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def numpy_initial_weights(model: keras.Model) -> keras.Model:
    """Redraw the initial kernels and biases of the model's layers in NumPy, from NumPy's global generator
    (which `keras.utils.set_random_seed` and `hwutils.setup` seed), following each layer's own initializer:
    Keras's variance-scaling family (Glorot, He, LeCun: uniform, truncated and untruncated normal), zeros,
    ones and constants. Keras's own draws come from each backend's random stream, so the same seed gives
    other weights on TensorFlow and on JAX; these are the same on both. A weight with any other initializer
    keeps Keras's draw. Returns the model."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for name in ("kernel", "bias", "depthwise_kernel", "pointwise_kernel"):
            init = getattr(layer, f"{name}_initializer", None)
            var = getattr(layer, name, None)
            if init is None or not isinstance(var, keras.Variable):
                continue
            value = _numpy_draw(init, tuple(var.shape))
            if value is not None:
                var.assign(value.astype(np.dtype(var.dtype)))
    return model


def _numpy_draw(init, shape):
    """A draw of initializer `init` for `shape` from NumPy's global generator, or None for one not written here."""
    from keras.src.initializers.random_initializers import compute_fans
    if isinstance(init, keras.initializers.Zeros):
        return np.zeros(shape)
    if isinstance(init, keras.initializers.Ones):
        return np.ones(shape)
    if isinstance(init, keras.initializers.Constant):
        return np.full(shape, float(init.value))
    if not isinstance(init, keras.initializers.VarianceScaling):
        return None
    fan_in, fan_out = compute_fans(shape, init.input_axes, init.output_axes)
    fan = {"fan_in": fan_in, "fan_out": fan_out}.get(init.mode, (fan_in + fan_out) / 2.0)
    scale = init.scale / max(1.0, fan)
    if init.distribution == "truncated_normal":  # within two standard deviations, as Keras truncates
        std = np.sqrt(scale) / 0.87962566103423978
        out = np.random.normal(0.0, std, shape)
        while np.any(bad := np.abs(out) > 2 * std):
            out[bad] = np.random.normal(0.0, std, int(bad.sum()))
        return out
    if init.distribution == "untruncated_normal":
        return np.random.normal(0.0, np.sqrt(scale), shape)
    limit = np.sqrt(3.0 * scale)
    return np.random.uniform(-limit, limit, shape)


def dense_chain(widths: Sequence[int], activation: str = "relu", output_activation: str | None = None,
                dtype: str | None = None, name: str | None = None) -> keras.Model:
    """An MLP with layer widths `widths` (input first). Inputs of rank > 2 are flattened first."""
    layers = [keras.layers.Dense(w, activation=activation, dtype=dtype) for w in widths[1:-1]]
    layers.append(keras.layers.Dense(widths[-1], activation=output_activation, dtype=dtype))
    return numpy_initial_weights(keras.Sequential([keras.Input((widths[0],), dtype=dtype), *layers], name=name))


def image_mlp(input_shape: Sequence[int], hidden: Sequence[int], classes: int = 10,
              dtype: str | None = None, name: str | None = None) -> keras.Model:
    """Flatten -> Dense(h, relu) for h in hidden -> Dense(classes, softmax)."""
    layers = [keras.layers.Flatten(dtype=dtype)]
    layers += [keras.layers.Dense(h, activation="relu", dtype=dtype) for h in hidden]
    layers.append(keras.layers.Dense(classes, activation="softmax", dtype=dtype))
    return numpy_initial_weights(keras.Sequential([keras.Input(tuple(input_shape), dtype=dtype), *layers], name=name))


def conv_front(input_shape: Sequence[int], filters: int, kernel: int = 3, pool: int | None = 2,
               padding: str = "valid"):
    """(layers, flattened size, parameter count) of input -> conv2d -> max pooling -> flatten;
    pool=None: no pooling layer (the report's 1-1 MNIST model: input -> conv2d -> dense);
    padding="same" keeps the image size through the convolution."""
    h, w, c = input_shape
    stride, shrink = pool or 1, (0 if padding == "same" else kernel - 1)
    out_h, out_w = (h - shrink) // stride, (w - shrink) // stride
    if out_h < 1 or out_w < 1:
        raise ValueError(f"input {tuple(input_shape)} is too small for a {kernel}x{kernel} conv and {pool}x{pool} pooling")
    layers = [keras.layers.Conv2D(filters, kernel, activation="relu", padding=padding)]
    layers += [keras.layers.MaxPooling2D(pool)] if pool else []
    layers.append(keras.layers.Flatten())
    return layers, out_h * out_w * filters, (kernel * kernel * c + 1) * filters


def conv_dense(input_shape: Sequence[int], filters: int, hidden: Sequence[int], classes: int = 10,
               kernel: int = 3, pool: int | None = 2, name: str | None = None, padding: str = "valid") -> keras.Model:
    """input -> conv2d -> max pooling (none when pool is None) -> len(hidden) dense hidden layers
    -> softmax (1-1, 1-3)."""
    layers, _, _ = conv_front(input_shape, filters, kernel, pool, padding)
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
    layers.append(keras.layers.Dense(classes, activation="softmax"))
    return numpy_initial_weights(keras.Sequential([keras.Input(tuple(input_shape)), *layers], name=name))


def report_cnn(input_shape: Sequence[int], classes: int = 10, name: str | None = None) -> keras.Model:
    """The report's 1-3 model: Conv2D(32, 3x3) -> Conv2D(64, 3x3) -> Flatten -> Dense(100) -> softmax."""
    return numpy_initial_weights(keras.Sequential([
        keras.Input(tuple(input_shape)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ], name=name))


def seeded(build, seed: int):
    """`build` with Keras seeded by `seed` first: every call builds a model with the same initial weights (the
    members of one seed in a stacked or vectorised model, all from that seed's start)."""
    from functools import partial
    return partial(_build_seeded, build, int(seed))


def _build_seeded(build, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build()


def count_params(model: keras.Model) -> int:
    """Trainable parameters: the count the report quotes."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def solve_widths(target: int, depth: int, n_in: int, n_out: int, fixed: int = 0, tol: float = 0.03,
                 min_width: int = 1) -> list[int]:
    """Hidden widths [w, ..., w, v] of a dense chain n_in -> depth hidden layers -> n_out whose
    parameter count plus `fixed` (e.g. a conv front) is closest to `target`, within ±tol, every width at
    least `min_width` (the number of classes: a narrower layer is a bottleneck that caps the accuracy
    whatever the depth, not depth).

    All hidden layers share the width w except the last one, v, which absorbs the rounding: the
    count is linear in v, so its granularity is only (w + n_out + 1) parameters.
    """
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    best = None
    for w in range(max(1, min_width), max(min_width + 1, target)):
        head = [n_in] + [w] * (depth - 1)
        a = dense_params(head + [1, n_out]) - (head[-1] + 1) - (1 + 1) * n_out  # count without the v layer terms
        slope = (head[-1] + 1) + n_out  # parameters per unit of v
        v = max(min_width, round((target - fixed - a) / slope))
        total = fixed + dense_params(head + [v, n_out])
        err = abs(total - target)
        # Prefer, among the width sets within tolerance, the most even one; else the closest.
        key = (err > tol * target, max(v, w) / min(v, w) if err <= tol * target else 0, err)
        if best is None or key < best[0]:
            best = (key, [w] * (depth - 1) + [v], total)
        if fixed + dense_params(head + [w, n_out]) > 2 * target and depth > 1:
            break
        if depth == 1 and w > max(1, min_width):
            break
    _, widths, total = best
    if abs(total - target) > tol * target:
        raise ValueError(f"no widths of at least {min_width} for depth {depth} reach {target} parameters within "
                         f"±{tol:.0%} (closest: {widths}, {total}); change the target or shrink the front")
    return widths


# ------------------------------------------------------------------ stacked models
def stacked(build, members: int | None = None, loss=None, optimizer=None, metrics=None,
            steps_per_execution: int = 1, jit_compile: bool | str | None = None, name: str = "stacked") -> keras.Model:
    """Several independently initialised copies of a Keras model trained together as one model.

    `build` is a function that returns a fresh, uncompiled Keras model (one input, one output);
    it is called `members` times, so each member draws its own initial weights from the current
    seed (`keras.utils.set_random_seed` before the call makes them reproducible; hwutils' builders draw
    them in NumPy, `numpy_initial_weights`, the same on every backend). `build`
    may also be a list of such functions, one member each (different architectures trained on
    the same batches); `members` is then None or its length.

    Returns a functional Keras model with one input and one output per member; member m is the
    sub-model (a layer) named `member_<m>`, and its output and history keys carry that name
    (`member_0_loss`, `val_member_0_accuracy`, ...). Train it on `[y] * members` as targets.
    With `loss` and `optimizer` (a name or a keras optimizer) given, the model is compiled with the
    same loss on every output; Keras sums the members' losses, so the gradient with respect to
    member m's weights is the gradient of member m's own loss. Adam, SGD and RMSprop act on each
    weight element separately, so member m follows exactly the trajectory it would follow alone
    from the same initial weights on the same batches (tests/test_models.py checks this). Members
    share nothing but the input: no weight, no batch-norm statistic, no gradient clipping across
    members (a global `clipnorm` would couple them).

    `metrics`, e.g. ["accuracy"], is given to every output. One training step then runs every
    member: the per-step overhead that dominates small models on a CPU is paid once, not once
    per member (benchmarks/stacked_cnn.py). Use `member(model, m)` to take a member out.

    `jit_compile` defaults to False on TensorFlow: XLA-compiling the step of 15 small CNNs cost about 90 s of
    CPU here against 40 s of plain tracing, more than it saves over a 30-epoch run ("auto" is Keras's default).
    On JAX it defaults to True: XLA is JAX's only compiler, and False would run every step eagerly.
    """
    if jit_compile is None:
        from .training import TINY_JIT
        jit_compile = TINY_JIT
    builds = list(build) if isinstance(build, (list, tuple)) else None
    if builds is not None:
        if members is not None and members != len(builds):
            raise ValueError(f"members={members} but {len(builds)} build functions were given")
        members = len(builds)
    if not members or members < 1:
        raise ValueError("a stacked model needs at least one member")
    subs = []
    for m in range(members):
        sub = (builds[m] if builds is not None else build)()
        if len(sub.inputs) != 1 or len(sub.outputs) != 1:
            raise ValueError("each member must have one input and one output")
        sub.name = f"member_{m}"  # also names the member's output and its history keys
        subs.append(sub)
    shape = subs[0].inputs[0].shape[1:]
    if any(s.inputs[0].shape[1:] != shape for s in subs):
        raise ValueError("every member must take the same input shape")
    inp = keras.Input(tuple(shape), dtype=subs[0].inputs[0].dtype, name="x")
    model = keras.Model(inp, [s(inp) for s in subs], name=name)
    if loss is not None:
        if isinstance(optimizer, str) or optimizer is None:
            optimizer = keras.optimizers.get(optimizer or "adam")
        model.compile(optimizer=optimizer, loss=[loss] * members,
                      metrics=[list(metrics) for _ in range(members)] if metrics else None,
                      steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return model


def members(model: keras.Model) -> int:
    """How many members a stacked model holds."""
    return sum(1 for layer in model.layers if layer.name.startswith("member_"))


def member(model: keras.Model, m: int, compile: bool = True) -> keras.Model:
    """Member m of a stacked model as its own Keras model, with a copy of its current weights
    (changing one does not change the other). Compiled, when the stacked model is, with the same
    loss and metrics and a fresh optimizer of the same configuration."""
    sub = model.get_layer(f"member_{m}")
    alone = keras.models.clone_model(sub)
    alone.set_weights(sub.get_weights())
    alone.name = f"member_{m}"
    if compile and getattr(model, "compiled", False):
        losses = model.loss if isinstance(model.loss, (list, tuple)) else [model.loss]
        opt = model.optimizer.__class__.from_config(model.optimizer.get_config())
        metrics = _member_metrics(model, m)
        alone.compile(optimizer=opt, loss=losses[m if len(losses) > 1 else 0], metrics=metrics)
    return alone


def _member_metrics(model, m):
    spec = getattr(model, "_compile_config", None)
    metrics = spec.config.get("metrics") if spec is not None else None
    if isinstance(metrics, (list, tuple)) and len(metrics) > m and isinstance(metrics[m], (list, tuple)):
        return list(metrics[m])
    return None


# ------------------------------------------------------------------ where weights live in θ
def _positions(model: keras.Model) -> dict[int, tuple[int, int]]:
    """id(variable) -> (start, stop) of that variable in the model's flat θ (trainable_weights order)."""
    out, start = {}, 0
    for v in model.trainable_weights:
        size = int(np.prod(v.shape))
        out[id(v)] = (start, start + size)
        start += size
    return out


def layer_columns(model: keras.Model, layer: int) -> np.ndarray:
    """Columns of θ (the flat trainable weights of `model`, as measures and callbacks.WeightSnapshots
    flatten them) holding the weights of its `layer`-th layer that has trainable weights (kernel,
    then bias: layer 0 of an MLP is the first Dense layer)."""
    layers = [lay for lay in model.layers if lay.trainable_weights]
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer must be between 0 and {len(layers) - 1}: the model has {len(layers)} layers with weights")
    pos = _positions(model)
    return np.concatenate([np.arange(*pos[id(v)]) for v in layers[layer].trainable_weights])


def member_columns(model: keras.Model, m: int) -> np.ndarray:
    """Columns of a stacked model's θ that hold member m's weights, in the member's own θ order:
    `theta[member_columns(model, m)]` is θ of `member(model, m)`."""
    pos = _positions(model)
    return np.concatenate([np.arange(*pos[id(v)]) for v in model.get_layer(f"member_{m}").trainable_weights])


def copy(model: keras.Model) -> keras.Model:
    """A copy of a Sequential or functional model with its current weights (uncompiled): changing one does
    not change the other."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


# The 1-1 actual-task families: the front (conv → pooling) per dataset and the parameter count of every model.
# MNIST's and Fashion-MNIST's front pools 2×2 after the report's single 3×3 filter — a departure from the report
# (conv2d → dense, no pooling): without it the report's ~3200 parameters leave the deeper nets layers of 4, 3 and
# even 1 unit, narrower than the 10 classes, a bottleneck that caps their accuracy whatever the depth.
ACTUAL_TASK_FRONTS = {"cifar10": dict(filters=16, pool=4, padding="valid", target=28000),
                      "mnist": dict(filters=1, pool=2, padding="valid", target=3200),
                      "fashion_mnist": dict(filters=1, pool=2, padding="valid", target=3200),
                      "digits": dict(filters=4, pool=None, padding="valid", target=2065)}


def depth_family(dataset: str, input_shape, depths, classes: int = 10, target: int | None = None) -> tuple[dict, dict]:
    """(front, {depth: hidden widths}) of the 1-1 actual-task models on `dataset`: conv → pooling → `depth`
    dense hidden layers → classes, every model at the same parameter count (±3%) and no hidden layer narrower
    than the classes (`solve_widths(min_width=classes)`)."""
    if dataset not in ACTUAL_TASK_FRONTS:
        raise ValueError(f"no 1-1 front for dataset {dataset!r}; known: {', '.join(ACTUAL_TASK_FRONTS)}")
    front = ACTUAL_TASK_FRONTS[dataset]
    _, flat, conv_params = conv_front(input_shape, front["filters"], pool=front["pool"], padding=front["padding"])
    widths = {k: solve_widths(target or front["target"], k, flat, classes, fixed=conv_params, min_width=classes)
              for k in depths}
    return front, widths
