"""hwutils.plateaus: plateaus are local minima of the gradient norm below a fraction of its start, and at each
the index comes from the exact float64 Hessian of the network at that snapshot."""
import keras
import numpy as np

import pytest

from hwutils import measures, models, plateaus
from hwutils.objective import flatten, unflatten


def test_find_local_minima_below_the_fraction():
    g = [1.0, 0.5, 0.08, 0.2, 0.05, 0.06, 0.3, 0.09, 0.01]
    assert plateaus.find(g, 0.1) == [2, 4, 8]  # 0.5 is not a minimum; 0.09 is not below its predecessor's next
    assert plateaus.find(g, 0.06) == [4, 8]
    assert plateaus.find([1.0, 1.0, 1.0], 0.5) == [] and plateaus.find([1.0], 0.5) == []
    assert plateaus.find([1.0, 0.5, 0.5, 0.4], 0.9) == [1, 3]  # a flat stretch counts once, at its start


def test_examine_takes_the_index_of_the_exact_hessian_at_each_plateau():
    x = np.linspace(0, 1, 60)[:, None]
    y = np.sinc(5 * x)
    widths = [1, 6, 6, 1]
    keras.utils.set_random_seed(1)
    model = models.dense_chain(widths)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    thetas = [flatten(model.get_weights())]
    for _ in range(12):
        model.fit(x, y, epochs=5, batch_size=20, verbose=0)
        thetas.append(flatten(model.get_weights()) + 0.0)
    out = plateaus.examine(widths, thetas, x, y, fraction=1.0, most=10)
    twin = models.dense_chain(widths, dtype="float64")
    twin.compile(loss="mse")
    for p in out["plateaus"]:
        twin.set_weights(unflatten(thetas[p["snapshot"]].astype("float64"), twin.get_weights()))
        assert p["grad_norm"] == out["grad_norms"][p["snapshot"]]
        assert np.isclose(p["grad_norm"], float(measures.gradient_norm(twin, x, y)), rtol=1e-10)
        eig = np.linalg.eigvalsh(measures.hessian(twin, x, y))
        assert p["smallest"] == pytest.approx(eig[0], rel=1e-8, abs=1e-12)
        assert p["negative"] == int(np.sum(eig < -p["tau"])) and p["index"] == p["negative"] / len(eig)
    assert out["plateaus"], "the training above has plateaus to examine"
    assert len(out["grad_norms"]) == len(thetas)


def test_the_lowest_plateaus_are_examined():
    g = [1.0, 0.3, 0.5, 0.05, 0.4, 0.2, 0.9]
    assert plateaus.find(g, 1.0) == [1, 3, 5]
    from hwutils import perturbation
    assert perturbation.critical_scale(1.0, 4.0) == 0.5 and perturbation.critical_scale(1.0, -4.0) == 0.5


def test_examine_takes_the_lowest(monkeypatch):
    """Of the plateaus found, the `most` with the lowest gradient norm are examined."""
    monkeypatch.setattr(plateaus, "find", lambda norms, fraction: [1, 2, 3])
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, (20, 1)), rng.uniform(0, 1, (20, 1))
    thetas = [rng.standard_normal(10) for _ in range(4)]  # a 1-3-1 chain has 10 weights
    out = plateaus.examine([1, 3, 1], thetas, x, y, 1.0, most=1)
    assert out["found"] == 3 and len(out["plateaus"]) == 1
    assert out["plateaus"][0]["snapshot"] == 1 + int(np.argmin(out["grad_norms"][1:4]))
