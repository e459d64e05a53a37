"""Small float64 models and finite differences for the oracle tests."""
import keras
import numpy as np

from hwutils.objective import Objective


def mlp64(widths=(3, 4, 2), activation="tanh", output_activation=None, loss="mse", seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(w, activation=activation, dtype="float64") for w in widths[1:-1]]
    layers.append(keras.layers.Dense(widths[-1], activation=output_activation, dtype="float64"))
    model = keras.Sequential([keras.Input((widths[0],), dtype="float64"), *layers])
    model.compile(loss=loss)
    return model


def regression_data(n=40, d=3, out=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, out))


def fd_gradient(model, x, y, h=1e-6):
    """Central finite differences of the loss in every parameter (float64)."""
    obj = Objective(model)
    theta = obj.get_flat()
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        obj.set_flat(theta + e)
        up = obj.loss(x, y)
        obj.set_flat(theta - e)
        down = obj.loss(x, y)
        grad[i] = (up - down) / (2 * h)
    obj.set_flat(theta)
    return grad


def fd_hessian(model, x, y, h=1e-5):
    """Central finite differences of the exact gradient (float64)."""
    obj = Objective(model)
    theta = obj.get_flat()
    cols = []
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        obj.set_flat(theta + e)
        up = obj.loss_and_gradient(x, y)[1]
        obj.set_flat(theta - e)
        down = obj.loss_and_gradient(x, y)[1]
        cols.append((up - down) / (2 * h))
    obj.set_flat(theta)
    return np.array(cols)


def rel_err(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))


# ---------------------------------------------------------------- a two-input model on any batched data
L2 = 1e-2


def two_input_model(dtype="float64", seed=0, compile_kwargs=None):
    """Two inputs ("image" 5x5x1, "extra" 3) -> Conv2D(tanh, L2) -> BatchNorm -> Flatten -> Dropout,
    concatenated with "extra" -> two outputs: "cls" (softmax over 3) and "reg" (linear, L2), compiled with a
    dict loss and loss_weights {"cls": 1, "reg": 0.5}. P = 112 trainable weights. Every weight, the
    batch-norm moving statistics too, is moved off its initial value so that nothing is trivially 0 or 1."""
    keras.utils.set_random_seed(seed)
    reg = keras.regularizers.L2(L2)
    image = keras.Input((5, 5, 1), name="image", dtype=dtype)
    extra = keras.Input((3,), name="extra", dtype=dtype)
    h = keras.layers.Conv2D(2, 3, activation="tanh", kernel_regularizer=reg, dtype=dtype)(image)
    h = keras.layers.BatchNormalization(dtype=dtype)(h)
    h = keras.layers.Dropout(0.5, dtype=dtype)(keras.layers.Flatten(dtype=dtype)(h))
    h = keras.layers.Concatenate(dtype=dtype)([h, extra])
    outputs = {"cls": keras.layers.Dense(3, activation="softmax", name="cls", dtype=dtype)(h),
               "reg": keras.layers.Dense(1, name="reg", kernel_regularizer=reg, dtype=dtype)(h)}
    model = keras.Model({"image": image, "extra": extra}, outputs)
    model.compile(**(compile_kwargs or dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                                            loss_weights={"cls": 1.0, "reg": 0.5})))
    perturb(model, seed)
    return model


def perturb(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(w + 0.3 * rng.standard_normal(w.shape)) + 0.5 if "moving_variance" in v.path
                       else w + 0.3 * rng.standard_normal(w.shape) for w, v in zip(model.get_weights(), model.weights)])


class TwoInputNet(keras.Model):
    """The same network as `two_input_model`, subclassed (clone_model cannot copy it). `dtype` is the
    model's own (its __call__ casts floating inputs to it), `layers_dtype` that of its layers (default: the same)."""

    def __init__(self, dtype="float64", layers_dtype=None, **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        dtype = layers_dtype or dtype
        reg = keras.regularizers.L2(L2)
        self.conv = keras.layers.Conv2D(2, 3, activation="tanh", kernel_regularizer=reg, dtype=dtype)
        self.norm = keras.layers.BatchNormalization(dtype=dtype)
        self.flat = keras.layers.Flatten(dtype=dtype)
        self.drop = keras.layers.Dropout(0.5, dtype=dtype)
        self.join = keras.layers.Concatenate(dtype=dtype)
        self.cls = keras.layers.Dense(3, activation="softmax", name="cls", dtype=dtype)
        self.reg = keras.layers.Dense(1, name="reg", kernel_regularizer=reg, dtype=dtype)

    def call(self, inputs, training=False):
        h = self.norm(self.conv(inputs["image"]), training=training)
        h = self.join([self.drop(self.flat(h), training=training), inputs["extra"]])
        return {"cls": self.cls(h), "reg": self.reg(h)}


def subclassed_copy(model):
    """A compiled TwoInputNet with the weights of `model` (a two_input_model)."""
    net = TwoInputNet(dtype=model.trainable_weights[0].dtype)
    net(two_input_data(2)[0])
    assert [w.shape for w in net.weights] == [w.shape for w in model.weights]
    net.set_weights(model.get_weights())
    net.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"}, loss_weights={"cls": 1.0, "reg": 0.5})
    return net


def two_input_data(n=40, seed=1, dtype="float64"):
    """(x, y, sample_weight) for two_input_model: dicts of arrays and weights in [0.2, 2]."""
    rng = np.random.default_rng(seed)
    x = {"image": rng.standard_normal((n, 5, 5, 1)).astype(dtype), "extra": rng.standard_normal((n, 3)).astype(dtype)}
    y = {"cls": rng.integers(0, 3, n), "reg": rng.standard_normal((n, 1)).astype(dtype)}
    return x, y, rng.uniform(0.2, 2.0, n).astype(dtype)


def batch_list(x, y, sw, size):
    """The data as a list of (x, y, sample_weight) batches of `size` samples (the last one shorter)."""
    n = len(sw)
    cut = lambda d, a: {k: v[a:a + size] for k, v in d.items()}
    return [(cut(x, a), cut(y, a), sw[a:a + size]) for a in range(0, n, size)]


class ListPyDataset(keras.utils.PyDataset):
    """A keras.utils.PyDataset over a list of batches."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches[i]


def data_sources(x, y, sw):
    """The same data in every form the measures accept besides arrays, each batched differently
    (batch sizes 7, 9, 11, 13, 6; none divides 40). A tf.data.Dataset where TensorFlow is installed, on either
    Keras backend (tf.data feeds JAX models too; hwutils itself never imports TensorFlow on JAX)."""
    sources = {}
    try:
        import tensorflow as tf
        sources["dataset"] = tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(7)
    except ImportError:
        pass
    return {**sources, "generator": (b for b in batch_list(x, y, sw, 9)),
            "callable": lambda: iter(batch_list(x, y, sw, 11)),
            "pydataset": ListPyDataset(batch_list(x, y, sw, 13)),
            "list": batch_list(x, y, sw, 6)}
