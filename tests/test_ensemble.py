"""The stacked ensemble: members follow exactly their solo trajectories; measures agree."""
import numpy as np
import pytest

from hwutils import measures
from hwutils.ensemble import Ensemble, fit_group
from hwutils.models import dense_chain
from tests.helpers import fd_hessian


def sinc(n=100):
    x = np.linspace(0.01, 1, n)[:, None].astype("float32")
    return x, np.sinc(5 * x).astype("float32")


def replay(model, x, y, epochs, batch_size, shuffle_seed):
    """Train a plain Keras model on exactly the batches the ensemble used."""
    for epoch in range(epochs):
        perm = np.random.default_rng([shuffle_seed, epoch]).permutation(len(x))  # the stateless order
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


def member64(ens, m):
    """Member m as a float64 Keras model with exactly its (float32) weights: the oracle's copy."""
    model = dense_chain(ens.widths, ens.activation, ens.output_activation, dtype="float64")
    model.set_weights([w.astype(np.float64) for w in ens.member_weights(m)])
    model.compile(loss=ens.loss_name)
    return model


@pytest.mark.parametrize("activation", ["relu", "tanh"])  # closed-form path and general path
def test_gradient_norms_and_hessians_agree_with_measures_of_exported_members(activation):
    x, y = sinc(60)
    ens = Ensemble([1, 5, 4, 3, 1], 3, activation=activation, seed=2, learning_rate=1e-2)
    ens.fit(x, y, epochs=10, batch_size=16, verbose=False)
    norms = ens.gradient_norms(x, y)
    hessians = ens.hessians(x, y)
    grads = ens.gradients(x, y)
    assert hessians.dtype == np.float64 and grads.dtype == np.float64
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    for m in range(3):
        member = ens.member(m)
        assert norms[m] == pytest.approx(measures.gradient_norm(member, x, y), rel=1e-4)
        oracle = member64(ens, m)
        exact = measures.hessian(oracle, x64, y64)  # float64 autodiff, itself held to finite differences
        scale = np.abs(exact).max()
        assert scale > 0
        # float64 agreement: the band of the minimal ratio relies on ~1e-16 relative, not float32's 1e-7
        np.testing.assert_allclose(hessians[m], exact, rtol=1e-11, atol=1e-13 * scale)
        g = measures.objective(oracle).loss_and_gradient(x64, y64)[1]
        np.testing.assert_allclose(grads[m], g, rtol=1e-11, atol=1e-13 * np.abs(g).max())
    assert not np.allclose(hessians[0], hessians[1])


def test_tanh_hessian_matches_float64_finite_differences():
    x, y = sinc(40)
    ens = Ensemble([1, 4, 3, 1], 2, activation="tanh", seed=5, learning_rate=1e-2)
    ens.fit(x, y, epochs=5, batch_size=16, verbose=False)
    h = ens.hessians(x, y)[1]
    fd = fd_hessian(member64(ens, 1), x.astype(np.float64), y.astype(np.float64))
    assert np.abs(h - fd).max() < 1e-7 * np.abs(fd).max()  # central differences at h = 1e-5: O(h²) error


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_hessian_chunks_bound_memory_and_agree_with_one_chunk(activation):
    x, y = sinc(60)
    ens = Ensemble([1, 5, 4, 3, 1], 3, activation=activation, seed=2, learning_rate=1e-2)
    ens.fit(x, y, epochs=5, batch_size=16, verbose=False)
    m, p = ens.members, ens.n_params
    whole_plan, small_plan = ens.hessian_plan(60, budget=1e12), ens.hessian_plan(60, row_block=64, budget=1000)
    assert whole_plan["chunks"] == 1 and small_plan["chunks"] > 4
    if activation == "relu":  # the output Jacobian [M, chunk, O, P] stays within the budget
        assert m * small_plan["chunk"] * 1 * p <= 1000
    else:  # rows capped by the budget, and [rows, M, chunk, Σ widths] within it
        assert small_plan["row_block"] < p and small_plan["row_block"] * m * p <= 1000
        assert small_plan["row_block"] * m * small_plan["chunk"] * sum(ens.widths) <= 1000
    whole, chunked = ens.hessians(x, y, budget=1e12), ens.hessians(x, y, budget=1000)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-14 * np.abs(whole).max())


def test_classifier_hessians_agree_with_measures():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((90, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.3)
    ens = Ensemble([4, 6, 5, 3], 2, loss="sparse_categorical_crossentropy", seed=0, learning_rate=1e-2)
    ens.fit(x, y, epochs=5, batch_size=16, verbose=False)
    hessians = ens.hessians(x, y, budget=3000)
    for m in range(2):
        exact = measures.hessian(member64(ens, m), x.astype(np.float64), y)
        np.testing.assert_allclose(hessians[m], exact, rtol=1e-11, atol=1e-13 * np.abs(exact).max())


def test_hessian_of_a_dead_unit_is_exactly_zero_and_obeys_the_rescaling_identity():
    x, y = sinc(50)
    ens = Ensemble([1, 4, 3, 1], 2, seed=1, learning_rate=1e-2)
    ens.fit(x, y, epochs=5, batch_size=16, verbose=False)
    w = ens.member_weights(0)
    w[0][:, 2], w[1][2] = 0.5, -10.0  # x in (0, 1]: unit 2 of the first hidden layer never fires
    ens.set_member_weights(0, w)
    h, g, theta = ens.hessians(x, y)[0], ens.gradients(x, y)[0], ens.flat_weights()[0]
    gens = measures.relu_rescaling_generators(ens.widths)
    incoming, outgoing = gens[2]
    dead = np.concatenate([incoming, outgoing])
    assert np.all(h[dead] == 0) and np.all(h[:, dead] == 0)
    for incoming, outgoing in gens:  # H·Dθ = −D·g for every unit's rescaling generator D
        d = np.zeros_like(theta)
        d[incoming], d[outgoing] = 1.0, -1.0
        np.testing.assert_allclose(h @ (d * theta), -d * g, atol=1e-12 * np.abs(h).max())


def test_gradient_norm_phase_lowers_every_members_gradient_norm():
    x, y = sinc(80)
    ens = Ensemble([1, 6, 6, 1], 4, seed=3, learning_rate=1e-2)
    ens.fit(x, y, epochs=20, batch_size=32, verbose=False)
    before = ens.gradient_norms(x, y)
    # Adam on ‖∇L‖² may raise a member's norm for a while before lowering it: 400 steps, not a few
    out = ens.minimize_gradient_norm(x, y, steps=400, tol=1e-9, learning_rate=1e-3, verbose=False)
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


# ---------------------------------------------------------------- oracles of issue 13

def test_one_step_of_the_gradient_norm_phase_moves_theta_by_sgd_of_h_times_g():
    # The phase descends ‖∇L_m‖² (no ½), whose gradient is 2·H_m ∇L_m: one SGD step of rate lr
    # moves member m by exactly −2·lr·H_m ∇L_m, H_m ∇L_m from measures.hvp on the exported member.
    x, y = sinc(50)
    x, y = x.astype("float64"), y.astype("float64")
    ens = Ensemble([1, 5, 4, 1], 3, activation="tanh", seed=6, learning_rate=1e-2, dtype="float64")
    ens.fit(x, y, epochs=5, batch_size=16, verbose=False)
    before = ens.flat_weights()
    expected = []
    for m in range(3):
        member = ens.member(m)
        _, g = measures.objective(member).loss_and_gradient(x, y)
        expected.append(-2 * 0.05 * measures.hvp(member, x, y, g))
    ens.minimize_gradient_norm(x, y, steps=1, tol=0.0, learning_rate=0.05, optimizer="sgd", steps_per_call=1,
                               verbose=False)
    step = ens.flat_weights() - before
    for m in range(3):
        assert np.abs(expected[m]).max() > 1e-6  # the step is not trivially zero
        np.testing.assert_allclose(step[m], expected[m], rtol=1e-7, atol=1e-12)


def replay_recording(model, x, y, epochs, batch_size, shuffle_seed, learning_rate):
    """Plain SGD by hand on the batches the ensemble used, in float64 with measures' gradients (a
    Keras fit computes its loss in float32): θ after every epoch (epoch 0 first) and each step's
    batch gradient norm before the step."""
    obj = measures.objective(model)
    weights, norms = [obj.get_flat()], []
    for epoch in range(epochs):
        perm = np.random.default_rng([shuffle_seed, epoch]).permutation(len(x))
        for s in range(0, len(x), batch_size):
            _, g = obj.loss_and_gradient(x[perm[s:s + batch_size]], y[perm[s:s + batch_size]])
            norms.append(np.linalg.norm(g))
            obj.set_flat(obj.get_flat() - learning_rate * g)
        weights.append(obj.get_flat())
    return np.array(weights), np.array(norms)


def test_snapshots_and_step_gradient_norms_match_an_independent_replay():
    x, y = sinc(45)  # 45 points at batch 16: a smaller last batch
    x, y = x.astype("float64"), y.astype("float64")
    ens = Ensemble([1, 6, 1], 2, seed=8, optimizer="sgd", learning_rate=0.125, dtype="float64")
    solo = [ens.member(m) for m in range(2)]
    out = ens.fit(x, y, epochs=6, batch_size=16, shuffle_seed=4, record_every=2, record_steps=True, verbose=False)
    assert [e for e, _ in out["snapshots"]] == [0, 2, 4, 6]
    assert out["step_grad_norm"].shape == (6 * 3, 2)
    # the callbacks' names (WeightSnapshots, GradientNorm) hold the same records
    assert out["epochs"] == [0, 2, 4, 6] and all(w is t for w, (_, t) in zip(out["weights"], out["snapshots"]))
    assert out["grad_norms"] is out["step_grad_norm"] and out["losses"] is out["step_loss"]
    for m, model in enumerate(solo):
        weights, norms = replay_recording(model, x, y, 6, 16, 4, 0.125)
        for epoch, snap in out["snapshots"]:
            np.testing.assert_allclose(snap[m], weights[epoch], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(out["step_grad_norm"][:, m], norms, rtol=1e-9)


def test_a_second_fit_continues_the_shuffle_instead_of_replaying_it():
    x, y = sinc(40)
    once, twice, fresh = (Ensemble([1, 5, 1], 2, seed=3) for _ in range(3))
    a = once.fit(x, y, 6, 16, shuffle_seed=9, verbose=False)
    b = [twice.fit(x, y, 3, 16, shuffle_seed=9, verbose=False) for _ in range(2)]
    np.testing.assert_array_equal(np.concatenate([r["loss"] for r in b]), a["loss"])
    np.testing.assert_array_equal(twice.flat_weights(), once.flat_weights())
    # The order of epoch e is a function of (seed, e) alone: another seed in between changes nothing.
    fresh.fit(x, y, 3, 16, shuffle_seed=9, verbose=False)
    Ensemble([1, 5, 1], 2, seed=3).fit(x, y, 2, 16, shuffle_seed=4, verbose=False)
    fresh.fit(x, y, 3, 16, shuffle_seed=9, verbose=False)
    np.testing.assert_array_equal(fresh.flat_weights(), once.flat_weights())


def test_epoch_k_trains_on_the_same_batches_whatever_ran_before_and_other_seeds_differ():
    x, y = sinc(40)
    ref = Ensemble([1, 5, 1], 2, seed=3)
    ref.fit(x, y, 2, 16, shuffle_seed=9, verbose=False)
    start = ref.flat_weights().copy()
    # An ensemble told it has trained 2 epochs trains epoch 2 on the batches of default_rng([9, 2]), though it
    # never ran epochs 0 and 1 (SGD: no moments, so one epoch's step depends on its batches alone).
    a = Ensemble([1, 5, 1], 2, seed=3, optimizer="sgd", learning_rate=0.1)
    a.theta.assign(start)
    a.epochs_done = 2
    a.fit(x, y, 1, 16, shuffle_seed=9, verbose=False)
    replayed = Ensemble([1, 5, 1], 2, seed=3, optimizer="sgd", learning_rate=0.1)
    replayed.theta.assign(start)
    solo = replayed.member(0)
    perm = np.random.default_rng([9, 2]).permutation(40)
    for s in range(0, 40, 16):
        solo.train_on_batch(x[perm[s:s + 16]], y[perm[s:s + 16]])
    for w, v in zip(solo.get_weights(), a.member_weights(0)):
        np.testing.assert_allclose(v, w, rtol=1e-5, atol=1e-6)
    other = Ensemble([1, 5, 1], 2, seed=3, optimizer="sgd", learning_rate=0.1)
    other.theta.assign(start)
    other.epochs_done = 2
    other.fit(x, y, 1, 16, shuffle_seed=10, verbose=False)
    assert not np.allclose(other.flat_weights(), a.flat_weights())  # another order seed, other batches


def test_set_member_weights_checks_shapes():
    ens = Ensemble([2, 3, 1], 2, seed=0)
    good = ens.member_weights(1)
    ens.set_member_weights(0, good)
    np.testing.assert_array_equal(ens.flat_weights()[0], ens.flat_weights()[1])
    for bad in ([good[0].T, *good[1:]],  # transposed kernel: the same number of entries
                good[:3], [*good, good[-1]], [good[0], good[1][:2], *good[2:]]):
        with pytest.raises(ValueError, match="shapes"):
            ens.set_member_weights(0, bad)
    with pytest.raises(IndexError):
        ens.set_member_weights(2, good)


def test_full_data_measures_in_chunks_agree_with_one_chunk_and_bound_memory():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((90, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.3)
    ens = Ensemble([4, 6, 5, 3], 3, loss="sparse_categorical_crossentropy", seed=0, learning_rate=1e-2)
    ens.fit(x, y, epochs=3, batch_size=16, verbose=False)
    small = 3 * 18 * 7  # 7 points per chunk: 13 chunks of [M, chunk, Σ widths] within the budget
    assert ens.measure_chunk(90, small) == 7 and ens.measure_chunk(90) == 90
    whole, parts = ens.metrics(x, y), ens.metrics(x, y, budget=small)
    np.testing.assert_allclose(parts["loss"], whole["loss"], rtol=1e-6)
    np.testing.assert_array_equal(parts["accuracy"], whole["accuracy"])
    np.testing.assert_allclose(ens.gradient_norms(x, y, budget=small), ens.gradient_norms(x, y), rtol=1e-5)
    # equal up to rounding: XLA's CPU matmul on JAX rounds a 7-row block differently from a 90-row one
    np.testing.assert_allclose(ens.predict(x, budget=small), ens.predict(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ens.losses(x, y, budget=small), whole["loss"], rtol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "sparse_categorical_crossentropy"])
def test_per_member_orders_train_each_member_as_it_would_train_alone(loss):
    """shuffle_seed with one seed per member: member m follows exactly the trajectory of a one-member
    ensemble with the same initial weights trained on order seed m — and two architectures trained together
    keep pairing member m with member m."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (70, 3)).astype("float32")
    y = (np.sin(3 * x[:, :1]) if loss == "mse" else (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)).astype(
        "float32" if loss == "mse" else "int64")
    out = 1 if loss == "mse" else 3
    seeds = [11, 12, 13]
    group = [Ensemble([3, 6, out], 3, loss=loss, seed=1), Ensemble([3, 4, 4, out], 3, loss=loss, seed=2)]
    alone = [[Ensemble(e.widths, 1, loss=loss, seed=9) for _ in seeds] for e in group]
    for e, singles in zip(group, alone):
        for m, single in enumerate(singles):
            single.set_member_weights(0, e.member_weights(m))
    hist = fit_group(group, x, y, epochs=4, batch_size=16, shuffle_seed=seeds, verbose=False)
    for e, singles, h in zip(group, alone, hist):
        for m, (single, s) in enumerate(zip(singles, seeds)):
            h1 = single.fit(x, y, epochs=4, batch_size=16, shuffle_seed=s, verbose=False)
            np.testing.assert_allclose(e.flat_weights()[m], single.flat_weights()[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(h["loss"][:, m], h1["loss"][:, 0], rtol=1e-5)
    # the orders differ between members: a shared order gives other weights
    shared = Ensemble([3, 6, out], 3, loss=loss, seed=1)
    shared.fit(x, y, epochs=4, batch_size=16, shuffle_seed=11, verbose=False)
    assert not np.allclose(shared.flat_weights()[1], group[0].flat_weights()[1])
    with pytest.raises(ValueError, match="one seed per member"):
        fit_group(group, x, y, epochs=1, batch_size=16, shuffle_seed=[1, 2], verbose=False)


def test_a_family_gives_each_architecture_its_own_initial_weights_stream():
    from hwutils import ensemble as ensemble_mod
    fam = ensemble_mod.family([[1, 4, 1], [1, 4, 1], [1, 3, 3, 1]], 2, seed=7, learning_rate=0.01)
    assert [e.n_params for e in fam] == [13, 13, 22]
    one, two = fam[0].flat_weights(), fam[1].flat_weights()
    assert not np.allclose(one, two)  # same shape, another stream
    np.testing.assert_array_equal(one, ensemble_mod.Ensemble([1, 4, 1], 2, seed=700, learning_rate=0.01).flat_weights())
