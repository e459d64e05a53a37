"""The stacked ensemble: members follow exactly their solo trajectories; measures agree."""
import numpy as np
import pytest

from hwutils import measures
from hwutils.ensemble import Ensemble, fit_group


def sinc(n=100):
    x = np.linspace(0.01, 1, n)[:, None].astype("float32")
    return x, np.sinc(5 * x).astype("float32")


def replay(model, x, y, epochs, batch_size, shuffle_seed):
    """Train a plain Keras model on exactly the batches the ensemble used."""
    rng = np.random.default_rng(shuffle_seed)
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        for s in range(0, len(x), batch_size):
            model.train_on_batch(x[perm[s:s + batch_size]], y[perm[s:s + batch_size]])


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-2), ("sgd", 0.1)])
def test_member_follows_its_solo_trajectory(optimizer, lr):
    x, y = sinc(90)  # 90 points at batch 32: the last batch is smaller, as Keras does it
    ens = Ensemble([1, 8, 8, 1], 3, optimizer=optimizer, learning_rate=lr, seed=4)
    solo = [ens.member(m) for m in range(3)]
    ens.fit(x, y, epochs=6, batch_size=32, shuffle_seed=7, verbose=False)
    for m, model in enumerate(solo):
        replay(model, x, y, 6, 32, 7)
        for a, b in zip(model.get_weights(), ens.member_weights(m)):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    # Training moved the weights: equality above is not trivial.
    assert not np.allclose(ens.member_weights(0)[0], Ensemble([1, 8, 8, 1], 3, seed=4).member_weights(0)[0])


def test_classifier_member_follows_its_solo_trajectory():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((70, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)
    ens = Ensemble([5, 6, 3], 2, loss="sparse_categorical_crossentropy", learning_rate=1e-2, seed=1)
    solo = ens.member(1)
    ens.fit(x, y, epochs=5, batch_size=16, shuffle_seed=3, verbose=False)
    replay(solo, x, y, 5, 16, 3)
    for a, b in zip(solo.get_weights(), ens.member_weights(1)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    acc = ens.metrics(x, y)["accuracy"][1]
    assert acc == pytest.approx(ens.member(1).evaluate(x, y, verbose=0, return_dict=True)["accuracy"])


@pytest.mark.parametrize("activation", ["relu", "tanh"])  # closed-form path and general path
def test_gradient_norms_and_hessians_agree_with_measures_of_exported_members(activation):
    x, y = sinc(60)
    ens = Ensemble([1, 5, 4, 3, 1], 3, activation=activation, seed=2, learning_rate=1e-2)
    ens.fit(x, y, epochs=10, batch_size=16, verbose=False)
    norms = ens.gradient_norms(x, y)
    hessians = ens.hessians(x, y, row_block=7, budget=2000)  # small blocks and chunks: exercises the chunking
    for m in range(3):
        member = ens.member(m)
        assert norms[m] == pytest.approx(measures.gradient_norm(member, x, y), rel=1e-4)
        exact = measures.hessian(member, x, y)
        np.testing.assert_allclose(hessians[m], exact, rtol=1e-3, atol=1e-5 * np.abs(exact).max())
    assert not np.allclose(hessians[0], hessians[1])


def test_classifier_hessians_agree_with_measures():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((90, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.3)
    ens = Ensemble([4, 6, 5, 3], 2, loss="sparse_categorical_crossentropy", seed=0, learning_rate=1e-2)
    ens.fit(x, y, epochs=5, batch_size=16, verbose=False)
    hessians = ens.hessians(x, y, budget=3000)
    for m in range(2):
        exact = measures.hessian(ens.member(m), x, y)
        np.testing.assert_allclose(hessians[m], exact, rtol=1e-3, atol=1e-5 * np.abs(exact).max())


def test_gradient_norm_phase_lowers_every_members_gradient_norm():
    x, y = sinc(80)
    ens = Ensemble([1, 6, 6, 1], 4, seed=3, learning_rate=1e-2)
    ens.fit(x, y, epochs=20, batch_size=32, verbose=False)
    before = ens.gradient_norms(x, y)
    out = ens.minimize_gradient_norm(x, y, steps=200, tol=1e-9, learning_rate=1e-3, verbose=False)
    assert np.all(out["grad_norm"] < before)
    assert out["history"].shape[1] == 4


def test_member_that_reaches_the_tolerance_stops_there():
    x, y = sinc(80)
    ens = Ensemble([1, 6, 1], 3, seed=3, learning_rate=1e-2)
    ens.fit(x, y, epochs=5, batch_size=32, verbose=False)
    tol = float(np.median(ens.gradient_norms(x, y)))  # about half the members start converged
    start = [ens.member_weights(m) for m in range(3)]
    out = ens.minimize_gradient_norm(x, y, steps=50, tol=tol, verbose=False)
    for m in np.flatnonzero(out["steps"] == 0):
        for a, b in zip(start[m], ens.member_weights(m)):
            np.testing.assert_array_equal(a, b)
    assert (out["steps"] == 0).any() and (out["steps"] > 0).any()


def test_export_round_trips():
    x, _ = sinc(30)
    ens = Ensemble([1, 4, 3, 1], 2, seed=5)
    model = ens.member(1)
    np.testing.assert_allclose(model.predict(x, verbose=0), ens.predict(x)[1], rtol=1e-6)
    other = Ensemble([1, 4, 3, 1], 2, seed=6)
    other.set_member_weights(0, model.get_weights())
    for a, b in zip(other.member_weights(0), ens.member_weights(1)):
        np.testing.assert_array_equal(a, b)
    assert ens.n_params == measures.Objective(model).n_params


def test_divergence_freezes_the_member_and_records_it():
    x, y = sinc(40)
    ens = Ensemble([1, 4, 1], 2, optimizer="sgd", learning_rate=1.0, seed=0)
    ens.set_member_weights(1, [w * 1e4 for w in ens.member_weights(1)])  # member 1 explodes
    with pytest.warns(UserWarning, match="diverged"):
        out = ens.fit(x, y, epochs=5, batch_size=8, epochs_per_call=1, verbose=False)
    assert out["diverged"].tolist() == [False, True]
    assert np.all(np.isfinite(ens.member_weights(0)[0]))


def test_group_of_architectures_trains_as_each_would_alone():
    x, y = sinc(70)
    together = [Ensemble([1, 6, 1], 2, seed=1), Ensemble([1, 3, 4, 1], 2, seed=2)]
    alone = [Ensemble([1, 6, 1], 2, seed=1), Ensemble([1, 3, 4, 1], 2, seed=2)]
    outs = fit_group(together, x, y, epochs=4, batch_size=16, shuffle_seed=5, verbose=False)
    for ens_t, ens_a, out in zip(together, alone, outs):
        ref = ens_a.fit(x, y, epochs=4, batch_size=16, shuffle_seed=5, verbose=False)
        np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-5)
        for a, b in zip(ens_t.member_weights(1), ens_a.member_weights(1)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_training_does_not_depend_on_how_epochs_are_split_into_calls():
    # 7 epochs as calls of 3, 3 and 1 (the last shorter one reuses the compiled program on a
    # padded batch table) against one call of 7: same weights, epoch losses and step records.
    x, y = sinc(90)
    split, whole = Ensemble([1, 8, 8, 1], 2, seed=1), Ensemble([1, 8, 8, 1], 2, seed=1)
    a = split.fit(x, y, 7, 32, epochs_per_call=3, record_steps=True, verbose=False)
    b = whole.fit(x, y, 7, 32, epochs_per_call=7, record_steps=True, verbose=False)
    assert a["loss"].shape == (7, 2) and a["step_loss"].shape == (7 * 3, 2)
    for key in ("loss", "step_loss", "step_grad_norm"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(split.flat_weights(), whole.flat_weights())
