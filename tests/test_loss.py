"""hwutils.loss, the one loss definition: against Keras's own model.evaluate and a NumPy closed form."""
import keras
import numpy as np
import pytest
from keras import ops

from hwutils import measures
from hwutils.loss import ModelLoss
from hwutils.objective import Objective
from tests.helpers import TwoInputNet, two_input_data, two_input_model


def evaluate(model, x, y, sw=None):
    return model.evaluate(x, y, sample_weight=sw, batch_size=7, verbose=0, return_dict=True)["loss"]


def test_loss_is_what_keras_evaluate_reports_for_a_two_input_model_with_dict_loss_weights_and_l2():
    # float32: Keras's evaluate cannot sum a float64 model's regularisation with its float32 loss wrapper.
    model = two_input_model("float32")
    x, y, sw = two_input_data(dtype="float32")
    obj = Objective(model)
    assert obj.loss(x, y, sw) == pytest.approx(evaluate(model, x, y, sw), rel=2e-6)
    assert obj.loss(x, y) == pytest.approx(evaluate(model, x, y), rel=2e-6)
    # Each ingredient moves the loss far beyond that tolerance, so leaving one out cannot pass unseen.
    penalty = float(sum(np.sum(l.kernel.numpy() ** 2) for l in (model.layers[1], model.get_layer("reg")))) * 1e-2
    assert penalty > 1e-2 and abs(obj.loss(x, y, sw) - obj.loss(x, y)) > 1e-2
    halved = two_input_model("float32", compile_kwargs=dict(loss={"cls": "sparse_categorical_crossentropy",
                                                                  "reg": "mse"}))
    assert abs(Objective(halved).loss(x, y) - obj.loss(x, y)) > 0.1  # loss_weights["reg"] = 0.5 matters
    # inference mode: dropout off and batch-norm moving statistics, so the loss is a function of θ
    assert obj.loss(x, y, sw) == obj.loss(x, y, sw)


@pytest.mark.parametrize("form", ["list", "dict_on_list_outputs"])
def test_list_losses_and_dict_losses_on_list_outputs_match_evaluate(form):
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = keras.layers.Dense(5, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.1))(inp)
    model = keras.Model(inp, [keras.layers.Dense(3, activation="softmax", name="a")(h), keras.layers.Dense(2, name="b")(h)])
    if form == "list":
        model.compile(loss=["sparse_categorical_crossentropy", "mae"], loss_weights=[0.3, 2.0])
    else:
        model.compile(loss={"b": "mae", "a": "sparse_categorical_crossentropy"}, loss_weights={"a": 0.3, "b": 2.0})
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 4)).astype("float32"), [rng.integers(0, 3, 30), rng.standard_normal((30, 2))]
    sw = rng.uniform(0, 3, 30)
    assert Objective(model).loss(x, y, sw) == pytest.approx(evaluate(model, x, y, sw), rel=2e-6)


def test_an_output_without_a_loss_is_left_out_and_its_weights_get_zero_gradient():
    model = two_input_model("float32", compile_kwargs=dict(loss={"cls": "sparse_categorical_crossentropy", "reg": None}))
    x, y, sw = two_input_data(dtype="float32")
    obj = Objective(model)
    assert obj.loss(x, y, sw) == pytest.approx(evaluate(model, x, {"cls": y["cls"]}, sw), rel=2e-6)
    _, grad = obj.loss_and_gradient(x, y, sw)
    reg_kernel = [i for i, v in enumerate(obj.vars) if v.path == "reg/kernel"][0]
    start = sum(obj.sizes[:reg_kernel])
    # only its L2 penalty reaches the reg head's kernel: gradient 2·λ·W
    np.testing.assert_allclose(grad[start:start + obj.sizes[reg_kernel]],
                               2e-2 * obj.vars[reg_kernel].numpy().ravel(), rtol=1e-5)
    assert np.all(grad[start + obj.sizes[reg_kernel]:] == 0)  # reg/bias: no loss, no penalty


def test_a_float64_model_has_a_float64_loss_where_keras_would_compute_float32():
    # Linear least squares: L = mean((Xw + b − y)²), exactly in NumPy.
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 1))
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    model.compile(loss="mse")
    w, b = model.get_weights()
    exact = np.mean((x @ w + b - y) ** 2)
    assert Objective(model).precision == "float64"
    assert Objective(model).loss(x, y) == pytest.approx(exact, rel=1e-14)
    # Keras's own float32 wrapper is off by float32 rounding: the test above could tell them apart.
    assert abs(evaluate(model, x, y) - exact) > 1e-12 * exact


def test_precision_is_the_narrowest_dtype_on_the_way():
    assert Objective(two_input_model("float32")).precision == "float32"
    assert Objective(two_input_model("float64")).precision == "float64"
    f32_loss = two_input_model("float64", compile_kwargs=dict(
        loss={"cls": keras.losses.SparseCategoricalCrossentropy(), "reg": "mse"}))
    assert Objective(f32_loss).precision == "float32"  # a Loss instance keeps its float32 dtype
    half = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, dtype="mixed_float16")])
    half.compile(loss="mse")
    assert Objective(half).precision == "float16"
    # a subclassed model casts its inputs to its own dtype (float32 by default) before its float64 layers
    x, y, _ = two_input_data(4)
    default_dtype = TwoInputNet(dtype=None, layers_dtype="float64")
    default_dtype(x)
    default_dtype.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    own = TwoInputNet(dtype="float64")
    own(x)
    own.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    assert Objective(default_dtype).precision == "float32" and Objective(own).precision == "float64"
    assert measures.gradient_norm(own, x, y).precision == "float64"


def test_a_model_that_overrides_compute_loss_is_measured_with_its_own():
    class MeanAbs(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return ops.mean(ops.abs(y_pred - y)) + sum(self.losses)

    inp = keras.Input((2,))
    model = MeanAbs(inp, keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(0.5))(inp))
    model.compile(loss="mse")  # ignored by its compute_loss, as by fit and evaluate
    x, y = np.random.default_rng(4).standard_normal((20, 2)).astype("float32"), np.zeros((20, 1), "float32")
    w, b = model.get_weights()
    assert Objective(model).loss(x, y) == pytest.approx(np.mean(np.abs(x @ w + b)) + 0.5 * np.sum(w ** 2), rel=1e-6)


def test_errors_say_what_is_wrong():
    model = two_input_model("float32")
    x, y, _ = two_input_data(8, dtype="float32")
    with pytest.raises(ValueError, match="list or dict"):
        Objective(model).loss(x, y["reg"])  # one target for two outputs
    with pytest.raises(ValueError, match="not outputs"):
        ModelLoss(model, loss={"cls": "mse", "nope": "mse"}).data_loss(y, model(x))
    bare = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="not compiled"):
        Objective(bare)
