"""hwutils owns the data order: epoch e's batches are a function of (order_seed, e) alone, in
training.fit, training.fit_stacked and the ensemble (tests/test_ensemble.py)."""
import keras
import numpy as np
import pytest

from hwutils import models, order, training

N, BATCH = 22, 8  # 3 batches per epoch, the last one of 6 points


def _data():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.arange(N), rng.standard_normal((N, 2))]).astype("float32")  # column 0: the point's index
    return x, (x[:, 1] > 0).astype("int32")


def _model(seed=0, record=None):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  run_eagerly=record is not None)
    if record is not None:  # the indices of every batch Keras feeds, read inside the train step itself
        original = model.train_step

        def train_step(*args):  # (data) on TensorFlow, (state, data) on JAX
            record.append(np.asarray(args[-1][0])[:, 0].astype(int).tolist())
            return original(*args)
        model.train_step = train_step
    return model


def _oracle(order_seed, epoch):
    perm = np.random.default_rng([order_seed, epoch]).permutation(N)
    return [perm[s:s + BATCH].tolist() for s in range(0, N, BATCH)]


def test_epoch_order_is_the_stateless_generator_of_seed_and_epoch():
    np.testing.assert_array_equal(order.epoch_order(3, 5, 20), np.random.default_rng([3, 5]).permutation(20))
    assert not np.array_equal(order.epoch_order(3, 5, 20), order.epoch_order(3, 6, 20))
    assert not np.array_equal(order.epoch_order(3, 5, 20), order.epoch_order(4, 5, 20))
    with pytest.raises(ValueError):
        order.epoch_order(-1, 0, 5)


def test_fit_feeds_epoch_k_its_own_batches_whatever_ran_before():
    x, y = _data()
    once = []
    training.fit(_model(record=once), (x, y), epochs=3, batch_size=BATCH, order_seed=7, verbose=False)
    assert once == _oracle(7, 0) + _oracle(7, 1) + _oracle(7, 2)
    split = []
    model = _model(record=split)
    training.fit(model, (x, y), epochs=1, batch_size=BATCH, order_seed=7, verbose=False)
    training.fit(model, (x, y), epochs=2, batch_size=BATCH, order_seed=7, initial_epoch=1, verbose=False)
    training.fit(model, (x, y), epochs=3, batch_size=BATCH, order_seed=7, initial_epoch=2, verbose=False)
    assert split == once  # two fits of one epoch, then epoch 2: the batches of one fit of 3
    jumped = []
    training.fit(_model(record=jumped), (x, y), epochs=3, batch_size=BATCH, order_seed=7, initial_epoch=2,
                 verbose=False)
    assert jumped == _oracle(7, 2)  # epoch 2 alone, nothing before it
    other = []
    training.fit(_model(record=other), (x, y), epochs=1, batch_size=BATCH, order_seed=8, verbose=False)
    assert other != once[:3] and sorted(sum(other, [])) == list(range(N))  # another order, every point once


def test_a_fit_split_at_epoch_k_ends_bit_identical_to_one_fit():
    x, y = _data()
    a, b = _model(), _model()
    whole = training.fit(a, (x, y), (x, y), epochs=4, batch_size=BATCH, order_seed=3, verbose=False)
    first = training.fit(b, (x, y), (x, y), epochs=2, batch_size=BATCH, order_seed=3, verbose=False)
    rest = training.fit(b, (x, y), (x, y), epochs=4, batch_size=BATCH, order_seed=3, initial_epoch=2, verbose=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    for key in ("train_loss", "test_loss"):
        assert whole[key] == first[key] + rest[key]
    assert rest["epochs"] == 2


def _stacked(seed=1):
    keras.utils.set_random_seed(seed)
    return models.stacked(lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                                                    keras.layers.Dense(2, activation="softmax")]),
                          2, loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.05),
                          metrics=["accuracy"], steps_per_execution=2)


def test_fit_stacked_order_seed_is_the_batch_order_and_resumes_at_epoch_k():
    x, y = _data()
    same_start = [_stacked() for _ in range(3)]
    h_a = training.fit_stacked(same_start[0], (x, y), None, epochs=3, batch_size=BATCH, order_seed=0, verbose=False)
    training.fit_stacked(same_start[1], (x, y), None, epochs=1, batch_size=BATCH, order_seed=0, verbose=False)
    h_b = training.fit_stacked(same_start[1], (x, y), None, epochs=3, batch_size=BATCH, order_seed=0,
                               initial_epoch=1, verbose=False)
    for wa, wb in zip(same_start[0].get_weights(), same_start[1].get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert h_a[1]["train_loss"][1:] == h_b[1]["train_loss"]
    training.fit_stacked(same_start[2], (x, y), None, epochs=3, batch_size=BATCH, order_seed=1, verbose=False)
    assert not np.allclose(same_start[2].get_weights()[0], same_start[0].get_weights()[0])  # same start, other order


def test_fit_stacked_takes_each_members_own_labels():
    x, y = _data()
    flipped = 1 - y
    model = _stacked()
    alone = models.member(model, 1)
    training.fit_stacked(model, (x, [y, flipped]), None, epochs=2, batch_size=BATCH, order_seed=5, verbose=False)
    for epoch in range(2):
        for idx in _oracle(5, epoch):
            alone.train_on_batch(x[idx], flipped[idx])
    for w, v in zip(alone.get_weights(), models.member(model, 1).get_weights()):
        np.testing.assert_allclose(v, w, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="label arrays"):
        training.fit_stacked(model, (x, [y]), None, epochs=1, batch_size=BATCH, verbose=False)
