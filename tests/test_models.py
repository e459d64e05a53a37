"""hwutils.models: the report's parameter counts and the width solver."""
import keras
import pytest

from hwutils import models


@pytest.mark.parametrize("target,name,count", [
    ("sinc", "deep", 461), ("sinc", "middle", 460), ("sinc", "shallow", 459),
    ("xcosx", "middle", 462), ("xcosx", "shallow", 460)])
def test_report_architectures_have_the_reports_counts(target, name, count):
    widths = models.REPORT_FUNCTION_MODELS[target][name]
    assert models.dense_params(widths) == count
    assert models.count_params(models.dense_chain(widths)) == count


@pytest.mark.parametrize("target", [300, 460, 1000, 3200, 28000, 100000])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6])
def test_width_solver_within_three_percent(target, depth):
    widths = models.solve_widths(target, depth, n_in=1, n_out=1) if target < 3000 else \
        models.solve_widths(target, depth, n_in=144, n_out=10, fixed=40)
    assert len(widths) == depth and min(widths) >= 1
    n_in, n_out, fixed = (1, 1, 0) if target < 3000 else (144, 10, 40)
    assert abs(fixed + models.dense_params([n_in, *widths, n_out]) - target) <= 0.03 * target


def test_width_solver_says_when_impossible():
    with pytest.raises(ValueError, match="within"):
        models.solve_widths(50, 1, n_in=100, n_out=10)


def test_conv_dense_count_matches_front_plus_dense():
    for shape, filters, pool, hidden, *padding in [((28, 28, 1), 4, 4, [20]), ((32, 32, 3), 16, 4, [31, 31, 31, 29]),
                                         ((8, 8, 1), 8, 2, [19, 18]), ((28, 28, 1), 2, None, [4, 4]),
                                         ((8, 8, 1), 4, None, [12]), ((28, 28, 1), 1, None, [4, 3], "same")]:
        padding = padding[0] if padding else "valid"
        _, flat, conv = models.conv_front(shape, filters, pool=pool, padding=padding)
        model = models.conv_dense(shape, filters, hidden, pool=pool, padding=padding)
        assert models.count_params(model) == conv + models.dense_params([flat, *hidden, 10])
        pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
        assert len(pools) == (0 if pool is None else 1)


def test_report_cnn_builds_for_each_image_shape():
    for shape in [(28, 28, 1), (32, 32, 3), (8, 8, 1)]:
        assert models.report_cnn(shape).output_shape == (None, 10)
    assert models.count_params(models.report_cnn((28, 28, 1))) == 320 + 18496 + 36864 * 100 + 100 + 1010


# ------------------------------------------------------------------ stacked models
def _tiny_cnn():
    return models.conv_dense((8, 8, 1), 3, [7, 5], pool=2)


def _image_batch(n=48, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def _stacked_cnn(members=3, lr=1e-2, build=_tiny_cnn):
    import keras
    keras.utils.set_random_seed(1)
    return models.stacked(build, members, loss="sparse_categorical_crossentropy",
                          optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"])


def test_stacked_member_follows_its_own_trajectory_with_adam():
    """Each member of a stacked model trained for 9 Adam steps ends where the same model trained
    alone from the same initial weights on the same batches ends."""
    import numpy as np
    from hwutils import training
    x, y = _image_batch()
    model = _stacked_cnn()
    alone = [models.member(model, m) for m in range(3)]
    start = [a.get_weights() for a in alone]
    assert not np.allclose(start[0][0], start[1][0]), "members must start from their own initial weights"
    hist = training.fit_stacked(model, (x, y), (x, y), epochs=3, batch_size=16, shuffle=False, verbose=False)
    for m, a in enumerate(alone):
        h = a.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_data=(x, y)).history
        trained = models.member(model, m).get_weights()
        moved = max(np.abs(w1 - w0).max() for w1, w0 in zip(trained, start[m]))
        assert moved > 1e-3, "the weights must have moved for the comparison to mean anything"
        for w_stacked, w_alone in zip(trained, a.get_weights()):
            np.testing.assert_allclose(w_stacked, w_alone, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(hist[m]["train_loss"], h["loss"], rtol=1e-4)
        np.testing.assert_allclose(hist[m]["test_accuracy"], h["val_accuracy"])
        assert hist[m]["epochs"] == 3 and not hist[m]["diverged"]


def test_stacked_different_architectures_and_member_is_a_copy():
    import keras
    import numpy as np
    keras.utils.set_random_seed(0)
    builds = [lambda: models.conv_dense((8, 8, 1), 3, [9], pool=2),
              lambda: models.conv_dense((8, 8, 1), 3, [6, 6, 6], pool=2)]
    model = models.stacked(builds, loss="sparse_categorical_crossentropy", optimizer="adam")
    assert models.members(model) == 2 and len(model.outputs) == 2
    counts = [models.count_params(models.member(model, m)) for m in range(2)]
    assert counts == [models.count_params(b()) for b in builds]
    assert models.count_params(model) == sum(counts)
    copy = models.member(model, 0)
    copy.set_weights([w + 1 for w in copy.get_weights()])
    assert not np.allclose(copy.get_weights()[0], model.get_layer("member_0").get_weights()[0])
    x, _ = _image_batch(5)
    np.testing.assert_allclose(models.member(model, 1).predict(x, verbose=0), model.predict(x, verbose=0)[1],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="members"):
        models.stacked(builds, members=3)


def test_fit_stacked_records_a_diverged_member_and_keeps_the_others():
    import keras
    import numpy as np
    from hwutils import training
    x, y = _image_batch()
    model = _stacked_cnn(members=2, lr=1e-2)
    healthy = models.member(model, 1)
    sub = model.get_layer("member_0")
    # NaN in the output layer's bias: a NaN conv kernel is not enough on every CPU (oneDNN's ReLU maps NaN to 0)
    sub.set_weights([np.full_like(w, np.nan) if i == len(sub.get_weights()) - 1 else w
                     for i, w in enumerate(sub.get_weights())])
    hist = training.fit_stacked(model, (x, y), None, epochs=2, batch_size=16, shuffle=False, verbose=False)
    assert hist[0]["diverged"] and hist[0]["diverged_epoch"] == 1 and hist[0]["epochs"] == 0
    assert not hist[1]["diverged"] and hist[1]["epochs"] == 2
    h = healthy.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hist[1]["train_loss"], h["loss"], rtol=1e-4)


def test_history_array_pads_a_stopped_run_with_nan():
    import numpy as np
    from hwutils import training
    out = training.history_array([{"loss": [3.0, 2.0, 1.0]}, {"loss": [5.0]}, {}], "loss")
    np.testing.assert_array_equal(out, [[3, 2, 1], [5, np.nan, np.nan], [np.nan] * 3])


# ------------------------------------------------------------------ where a layer's / a member's weights sit in θ
def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return models.image_mlp((3,), [4, 5], classes=2)


def test_layer_columns_select_exactly_that_layers_kernel_and_bias():
    import numpy as np
    from hwutils.objective import flatten
    model = _mlp()
    theta = flatten(model.get_weights())
    dense = [lay for lay in model.layers if lay.get_weights()]
    for i, lay in enumerate(dense):
        kernel, bias = lay.get_weights()
        cols = models.layer_columns(model, i)
        np.testing.assert_array_equal(theta[cols], np.concatenate([kernel.ravel(), bias.ravel()]))
        assert len(cols) == kernel.size + bias.size
    with pytest.raises(ValueError):
        models.layer_columns(model, len(dense))


def test_member_columns_give_each_members_own_theta():
    import numpy as np
    from hwutils.objective import flatten
    stacked = models.stacked(lambda: models.image_mlp((3,), [4], classes=2), 3)
    theta = flatten([v.numpy() for v in stacked.trainable_weights])
    for m in range(3):
        alone = flatten(models.member(stacked, m, compile=False).get_weights())
        np.testing.assert_array_equal(theta[models.member_columns(stacked, m)], alone)


def test_fit_stacked_with_one_member_reads_kerass_unnamed_keys():
    from hwutils import training
    x, y = _image_batch(32)
    model = _stacked_cnn(members=1)
    hist = training.fit_stacked(model, (x, y), (x, y), epochs=2, batch_size=16, verbose=False)
    assert len(hist) == 1 and len(hist[0]["train_loss"]) == 2 and len(hist[0]["test_accuracy"]) == 2


def test_evaluate_keeps_a_stacked_models_activations_within_its_budget():
    import numpy as np
    from hwutils import training
    x, y = _image_batch(40)
    model = _stacked_cnn(members=3)
    per_sample = training.activations_per_sample(model)
    alone = training.activations_per_sample(models.member(model, 0))
    assert per_sample == 3 * alone and alone > 8 * 8  # every member's every layer
    whole = training.evaluate(model, x, [y] * 3)
    # Batches of 8 (40 points: equal batches, since Keras averages a member's loss over batches)
    small = training.evaluate(model, x, [y] * 3, budget=8 * per_sample + 5)
    for key, value in whole.items():
        assert small[key] == pytest.approx(value, rel=1e-5)
    probe = []
    model.evaluate = lambda *a, **k: probe.append(k["batch_size"]) or whole
    training.evaluate(model, x, [y] * 3, budget=7 * per_sample)
    assert probe == [7] and np.isfinite(whole["loss"])


@pytest.mark.parametrize("dataset, shape", [("mnist", (28, 28, 1)), ("fashion_mnist", (28, 28, 1)),
                                            ("cifar10", (32, 32, 3)), ("digits", (8, 8, 1))])
def test_the_actual_task_families_have_no_layer_narrower_than_the_classes(dataset, shape):
    """What the 1-1 actual-tasks notebook builds: every depth at the front's parameter count (±3%) with no
    hidden layer narrower than the 10 classes (the report's MNIST widths 4, 3, 1 were bottlenecks)."""
    front, widths = models.depth_family(dataset, shape, [1, 2, 4])
    for k, w in widths.items():
        assert len(w) == k and min(w) >= 10, (dataset, k, w)
        n = models.count_params(models.conv_dense(shape, front["filters"], w, pool=front["pool"], padding=front["padding"]))
        assert abs(n - front["target"]) <= 0.03 * front["target"]
    with pytest.raises(ValueError, match="no 1-1 front"):
        models.depth_family("svhn", shape, [1])


def test_a_seeded_build_gives_the_same_initial_weights_every_call_and_another_seed_others():
    import numpy as np
    from functools import partial
    from hwutils import models as models_mod
    build = partial(models_mod.dense_chain, [2, 3, 1])
    a, b, c = models_mod.seeded(build, 5)(), models_mod.seeded(build, 5)(), models_mod.seeded(build, 6)()
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a.get_weights()[0], c.get_weights()[0])
