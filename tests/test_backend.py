"""hwutils.backend: each primitive against a closed form on the backend in use; JAX without TensorFlow and
without x64 in a fresh process; the same experiment started on both backends."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from keras import ops

from hwutils import backend

ROOT = Path(__file__).resolve().parents[1]
A = np.array([[3.0, 1.0, -2.0], [1.0, 4.0, 0.5], [-2.0, 0.5, 5.0]])
B = np.array([0.5, -1.0, 2.0])


def quadratic(theta, a, b):
    """½θᵀAθ + bᵀθ + Σθ⁴/4: gradient Aθ + b + θ³, Hessian A + diag(3θ²)."""
    return 0.5 * ops.sum(theta * ops.matmul(a, theta)) + ops.sum(b * theta) + ops.sum(theta ** 4) / 4


def test_gradient_hvp_and_hessian_rows_are_the_closed_forms():
    theta = np.array([0.3, -0.7, 1.1])
    a, b, t = (ops.convert_to_tensor(v, "float64") for v in (A, B, theta))
    hessian = A + np.diag(3 * theta ** 2)
    value, grad = backend.jit(backend.value_and_grad(quadratic))(t, a, b)
    assert float(value) == pytest.approx(0.5 * theta @ A @ theta + B @ theta + np.sum(theta ** 4) / 4, rel=1e-14)
    np.testing.assert_allclose(np.asarray(grad), A @ theta + B + theta ** 3, rtol=1e-14)
    v = np.array([1.0, -2.0, 0.25])
    np.testing.assert_allclose(np.asarray(backend.hvp(quadratic)(t, ops.convert_to_tensor(v, "float64"), a, b)),
                               hessian @ v, rtol=1e-14)
    rows = backend.hessian_apply(quadratic)(t, ops.convert_to_tensor(np.eye(3)[[2, 0]], "float64"), a, b)
    np.testing.assert_allclose(np.asarray(rows), hessian[[2, 0]], rtol=1e-14)
    assert np.asarray(grad).dtype == np.float64  # the oracle tests need float64 (tests/conftest.py on JAX)


def test_a_gradient_of_a_gradient_nests():
    theta = ops.convert_to_tensor(np.array([0.3, -0.7, 1.1]), "float64")
    a, b = ops.convert_to_tensor(A, "float64"), ops.convert_to_tensor(B, "float64")
    # ∇ of ½‖∇f‖² is H ∇f: double backpropagation, as the ensemble's gradient-norm phase uses
    half_norm = lambda t: 0.5 * ops.sum(backend.grad(quadratic)(t, a, b) ** 2)
    g = np.asarray(backend.grad(quadratic)(theta, a, b))
    h = A + np.diag(3 * np.asarray(theta) ** 2)
    np.testing.assert_allclose(np.asarray(backend.grad(half_norm)(theta)), h @ g, rtol=1e-13)


def test_batch_jacobians_are_each_points_own():
    w = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 1.0]])  # f(x) = tanh(x W): J_i = diag(1 - tanh²) Wᵀ
    x = np.random.default_rng(0).standard_normal((4, 3))
    fn = lambda xs: [ops.tanh(ops.matmul(xs[0], ops.convert_to_tensor(w, "float64")))]
    jac = np.asarray(backend.batch_jacobians(fn, [ops.convert_to_tensor(x, "float64")], (0,))[0][0])
    d = 1 - np.tanh(x @ w) ** 2
    np.testing.assert_allclose(jac, d[:, :, None] * w.T[None], rtol=1e-13)


def test_jit_counts_its_traces_and_tensorflow_keeps_the_batch_open():
    fn = backend.jit(lambda theta, batch: ops.sum(batch * theta), batch_arg=1)
    theta = ops.convert_to_tensor(np.ones(3))
    for n in (5, 5, 2):
        assert float(fn(theta, ops.convert_to_tensor(np.ones((n, 3))))) == 3 * n
    assert fn.traces == (1 if backend.NAME == "tensorflow" else 2)


# These start their own processes on a chosen backend: run once, in the default (TensorFlow) session.
once = pytest.mark.skipif(backend.NAME != "tensorflow", reason="starts its own processes: run once, with the default")


def _child(code: str, env_extra: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **env_extra}
    env.pop("JAX_ENABLE_X64", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


JAX_WITHOUT_TENSORFLOW = r"""
import json, sys, importlib.abc
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow imported on the JAX backend")
sys.meta_path.insert(0, NoTensorFlow())
import pkgutil, hwutils, numpy as np, keras
for m in pkgutil.iter_modules(hwutils.__path__):
    __import__("hwutils." + m.name)
from hwutils import backend, measures, models
from hwutils.ensemble import Ensemble
out = {"backend": keras.backend.backend(), "x64": backend.float64_enabled()}
keras.utils.set_random_seed(0)
m = models.dense_chain([2, 4, 1]); m.compile(loss="mse")
x = np.random.default_rng(0).standard_normal((16, 2)).astype("float32"); y = x[:, :1] ** 2
g = measures.gradient_norm(m, x, y); out["precision"] = g.precision
try:
    m64 = models.dense_chain([2, 3, 1], dtype="float64"); m64.compile(loss="mse"); measures.gradient_norm(m64, x, y)
    out["float64 model"] = "measured"
except TypeError as err:
    out["float64 model"] = "refused: " + str(err)
ens = Ensemble([2, 4, 1], 2, seed=0); ens.fit(x, y, epochs=2, batch_size=8, verbose=False)
h = ens.hessians(x, y); gr = ens.gradients(x, y)
with backend.float64():
    twin = ens.member(1); twin64 = models.dense_chain([2, 4, 1], dtype="float64"); twin64.compile(loss="mse")
    twin64.set_weights([w.astype("float64") for w in twin.get_weights()])
    exact = measures.hessian(twin64, x.astype("float64"), y.astype("float64"))
    # an exact oracle, not the engine against measures (both would agree if both ran in float32): a linear
    # least-squares model's Hessian is 2AᵀA/n, A = [x, 1]
    lin = models.dense_chain([2, 1], dtype="float64"); lin.compile(loss="mse")
    a = np.hstack([x.astype("float64"), np.ones((len(x), 1))]); closed = 2 * a.T @ a / len(a)
    lin_h = np.asarray(measures.hessian(lin, x.astype("float64"), y.astype("float64")))
    out["linear_hessian_error"] = float(np.max(np.abs(lin_h - closed)) / np.max(np.abs(closed)))
    out["result_type_inside"] = keras.backend.result_type("float64", "float64")
    out["matmul_inside"] = str(keras.ops.matmul(keras.ops.ones((2, 2), "float64"), keras.ops.ones((2, 2), "float64")).dtype)
out["result_type_after"] = keras.backend.result_type("float64", "float64")
out.update(hessian_dtype=str(h.dtype), gradient_dtype=str(gr.dtype), x64_after=backend.float64_enabled(),
           hessian_error=float(np.max(np.abs(h[1] - exact)) / np.max(np.abs(exact))),
           tensorflow="tensorflow" in sys.modules)
print(json.dumps(out))
"""


@once
def test_jax_runs_without_tensorflow_and_without_x64_refuses_float64_models():
    pytest.importorskip("jax")
    out = _child(JAX_WITHOUT_TENSORFLOW, {"KERAS_BACKEND": "jax"})
    assert out["backend"] == "jax" and not out["tensorflow"] and not out["x64"] and not out["x64_after"]
    assert out["precision"] == "float32"
    assert out["float64 model"].startswith("refused") and "x64" in out["float64 model"]  # never silently float32
    # the ensemble's float64 Hessians and gradients: x64 inside their own scope, the exact float64 Hessian
    assert out["hessian_dtype"] == out["gradient_dtype"] == "float64" and out["hessian_error"] < 1e-12
    # inside the scope Keras computes float64 as float64 (its type promotion maps it to float32 on JAX
    # otherwise), measured against a closed form; after it, Keras's promotion is JAX's default again
    assert out["result_type_inside"] == "float64" and out["matmul_inside"] == "float64"
    assert out["linear_hessian_error"] < 1e-13
    assert out["result_type_after"] == "float32"


SAME_START = r"""
import json, numpy as np, keras
from hwutils import models, training
from hwutils.ensemble import Ensemble
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (64, 1)).astype("float32"); y = np.sinc(3 * x).astype("float32")
keras.utils.set_random_seed(5)
model = training.compile_classifier(models.image_mlp((4,), [6]))
xc = rng.standard_normal((40, 4)).astype("float32"); yc = (xc[:, 0] > 0).astype("int32")
h = training.fit(model, (xc, yc), epochs=5, batch_size=8, order_seed=1, verbose=False)
ens = Ensemble([1, 8, 8, 1], 3, seed=2, learning_rate=1e-2)
fit = ens.fit(x, y, epochs=30, batch_size=16, shuffle_seed=[0, 1, 2], verbose=False)
print(json.dumps({"initial": models.image_mlp((4,), [6]).get_weights()[0].ravel().tolist(),
                  "keras_loss": h["train_loss"], "ensemble_loss": fit["loss"][-1].tolist(),
                  "ensemble_first": fit["loss"][0].tolist()}))
"""


@once
def test_the_same_experiment_starts_identically_and_agrees_on_both_backends():
    """Initial weights drawn in NumPy from the seed and hwutils' own data order: the same start on
    TensorFlow and JAX; after 5 Keras epochs and 30 ensemble epochs the losses agree to 1e-4 relative (the
    README's tolerance: float32 rounding that the two backends' kernels order differently)."""
    pytest.importorskip("jax")
    tf_run, jax_run = (_child(SAME_START, {"KERAS_BACKEND": name}) for name in ("tensorflow", "jax"))
    np.testing.assert_array_equal(tf_run["initial"], jax_run["initial"])
    np.testing.assert_allclose(jax_run["ensemble_first"], tf_run["ensemble_first"], rtol=1e-5)
    np.testing.assert_allclose(jax_run["keras_loss"], tf_run["keras_loss"], rtol=1e-4)
    np.testing.assert_allclose(jax_run["ensemble_loss"], tf_run["ensemble_loss"], rtol=1e-4)


@pytest.mark.parametrize("initializer", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
                                         "lecun_uniform"])
def test_numpy_initial_weights_follow_each_initializers_distribution(initializer):
    """The NumPy redraw of every kernel has the spread and the support of the layer's own initializer (Keras's
    draw of it is the oracle), with fans from the kernel's shape (a convolution's receptive field included);
    biases stay zero. Equal draws on both backends mean nothing if both are drawn from the wrong law."""
    import keras
    from hwutils import models
    keras.utils.set_random_seed(0)
    model = models.numpy_initial_weights(keras.Sequential([
        keras.Input((12, 12, 16)), keras.layers.Conv2D(64, 3, kernel_initializer=initializer),
        keras.layers.Flatten(), keras.layers.Dense(300, kernel_initializer=initializer)]))
    for layer in (model.layers[0], model.layers[2]):
        ours = np.asarray(layer.kernel.numpy(), np.float64)
        keras_own = np.asarray(keras.initializers.get(initializer)(tuple(layer.kernel.shape), "float32"), np.float64)
        assert np.std(ours) == pytest.approx(np.std(keras_own), rel=0.03)
        assert abs(np.mean(ours)) < 0.05 * np.std(keras_own)
        assert np.max(np.abs(ours)) <= 1.02 * np.max(np.abs(keras_own))  # uniform's limit, the normal's truncation
        assert not np.array_equal(ours, keras_own)  # redrawn, not Keras's draw
        np.testing.assert_array_equal(layer.bias.numpy(), 0)
