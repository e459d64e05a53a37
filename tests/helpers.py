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
