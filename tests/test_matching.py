"""hwutils.matching: a permutation of hidden units keeps the function; matching a network to its own
permuted copy recovers it exactly (the barrier after matching is 0: the null of the barrier claims); a
planted permutation under noise is found; unsupported layers are refused."""
import keras
import numpy as np
import pytest

from hwutils import landscape, matching, models


def _mlp(seed=0, widths=(6, 12, 9, 3)):
    keras.utils.set_random_seed(seed)
    return models.dense_chain(list(widths), output_activation="softmax")


def _cnn(seed=0, norm=False):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((8, 8, 2)), keras.layers.Conv2D(5, 3, activation="relu")]
    layers += [keras.layers.BatchNormalization()] if norm else []
    layers += [keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(7, activation="relu"),
               keras.layers.Dropout(0.2), keras.layers.Dense(4, activation="softmax")]
    model = keras.Sequential(layers)
    if norm:  # non-trivial statistics, so that forgetting to permute them shows
        bn = model.layers[1]
        bn.set_weights([np.random.default_rng(seed).uniform(0.5, 2, 5) for _ in range(2)]
                       + [np.random.default_rng(seed + 1).uniform(-1, 1, 5), np.random.default_rng(seed + 2).uniform(0.5, 2, 5)])
    return model


def _x(shape, seed=1):
    return np.random.default_rng(seed).standard_normal((16, *shape)).astype("float32")


@pytest.mark.parametrize("build, shape", [(_mlp, (6,)), (_cnn, (8, 8, 2)), (lambda s=0: _cnn(s, norm=True), (8, 8, 2))])
def test_a_permutation_keeps_the_function_and_moves_the_weights(build, shape):
    model = build()
    copy, perms = matching.random_permutation(model, seed=3)
    x = _x(shape)
    np.testing.assert_allclose(copy(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-6)
    assert any(not np.array_equal(p, np.arange(len(p))) for p in perms)
    assert not all(np.allclose(a, b) for a, b in zip(copy.get_weights(), model.get_weights()))


@pytest.mark.parametrize("build", [_mlp, _cnn, lambda s=0: _cnn(s, norm=True)])
def test_matching_a_network_to_its_own_permutation_recovers_it(build):
    model = build()
    copy, _ = matching.random_permutation(model, seed=5)
    back, found = matching.aligned(model, copy)
    assert found["converged"] and found["similarity"][1] >= found["similarity"][0]
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_barrier_after_matching_a_permuted_copy_is_zero():
    """The null of 1-2.barrier-after-matching: a trained net against its own permuted copy has a straight-line
    barrier before matching and none after."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    model = _mlp()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=30, batch_size=50, verbose=0)
    copy, _ = matching.random_permutation(model, seed=1)
    alphas = np.linspace(0, 1, 11)
    before = landscape.interpolate(model, copy, alphas, {"train": (x, y)})["train_loss"]
    back, _ = matching.aligned(model, copy)
    after = landscape.interpolate(model, back, alphas, {"train": (x, y)})["train_loss"]
    assert landscape.chord_barrier(before, alphas) > 0.05
    assert abs(landscape.chord_barrier(after, alphas)) < 1e-5


def test_a_planted_permutation_is_found_under_noise():
    model = _cnn(seed=2)
    copy, planted = matching.random_permutation(model, seed=7)
    noisy = [w + 0.05 * np.std(w) * np.random.default_rng(i).standard_normal(w.shape).astype(w.dtype)
             for i, w in enumerate(copy.get_weights())]
    copy.set_weights(noisy)
    found = matching.match(model, copy)
    # planted[l][i] is the unit of the model now at position i of the copy: matching maps a's unit u to
    # the copy's position holding it, the inverse permutation
    for p, q in zip(planted, found["permutations"]):
        np.testing.assert_array_equal(np.argsort(p), q)


def test_unsupported_layers_are_refused():
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    model = keras.Sequential([inp, keras.layers.Dense(3), keras.layers.LayerNormalization(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not supported"):
        matching.match(model, model)
    with pytest.raises(ValueError, match="hidden layer"):
        matching.match(models.dense_chain([3, 2]), models.dense_chain([3, 2]))
    with pytest.raises(ValueError, match="same architecture"):
        matching.match(_mlp(widths=(6, 12, 9, 3)), _mlp(widths=(6, 10, 9, 3)))


def test_matching_uses_the_next_layers_weights():
    """Two hidden units with identical incoming weights and bias, told apart only by their outgoing weights:
    only the next layer's term of the cost can pair them right."""
    model = _mlp(seed=3, widths=(4, 5, 3))
    w = model.get_weights()
    w[0][:, 1] = w[0][:, 0]
    w[1][1] = w[1][0]
    model.set_weights(w)
    copy, planted = matching.random_permutation(model, seed=2)
    back, _ = matching.aligned(model, copy)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_matching_uses_the_biases():
    """Units told apart by their biases alone (identical incoming and outgoing weights)."""
    model = _mlp(seed=4, widths=(4, 5, 3))
    w = model.get_weights()
    w[0][:] = w[0][:, :1]
    w[2][:] = w[2][:1, :]
    w[1][:] = np.arange(5.0)
    model.set_weights(w)
    copy, _ = matching.random_permutation(model, seed=3)
    back, _ = matching.aligned(model, copy)
    np.testing.assert_array_equal(back.get_weights()[1], model.get_weights()[1])
