"""hwutils.batches: every form of batched data gives the same samples, any number of times, in bounded memory."""
import numpy as np
import pytest

from hwutils import batches
from hwutils.objective import Objective
from tests.helpers import batch_list, data_sources, two_input_data, two_input_model


def concatenated(source):
    """Every sample of one pass, as (x, y, sample_weight) arrays."""
    parts = list(source)
    join = lambda i, k: np.concatenate([np.asarray(b[i][k]) for b in parts])
    return ({k: join(0, k) for k in ("image", "extra")}, {k: join(1, k) for k in ("cls", "reg")},
            np.concatenate([np.asarray(b[2]) for b in parts]))


@pytest.mark.parametrize("form", ["dataset", "generator", "callable", "pydataset", "list"])
def test_every_source_gives_every_sample_once_per_pass_and_passes_repeat(form):
    x, y, sw = two_input_data()
    data = batches.of(data_sources(x, y, sw)[form])
    for _ in range(3):  # a measure reads the data many times: each pass is the whole dataset again
        bx, by, bsw = concatenated(data)
        for k in x:
            np.testing.assert_array_equal(bx[k], x[k])
        for k in y:
            np.testing.assert_array_equal(by[k], y[k])
        np.testing.assert_array_equal(bsw, sw)


def test_arrays_are_one_batch_cut_by_split_without_copies():
    x, y, sw = two_input_data(10)
    (batch,) = list(batches.of(x, y, sw))
    assert batch[0]["image"] is x["image"] and batch[2] is sw
    pieces = list(batches.split(batch, 4))
    assert [batches.samples(p) for p in pieces] == [4, 4, 2]
    assert np.shares_memory(pieces[1][0]["extra"], x["extra"])
    np.testing.assert_array_equal(pieces[2][1]["cls"], y["cls"][8:])
    assert list(batches.split(batch, 10))[0] is batch


def test_a_list_of_arrays_is_one_structure_and_a_list_of_tuples_is_batches():
    a, b = np.zeros((5, 2)), np.ones((5, 3))
    (batch,) = list(batches.of([a, b], np.zeros(5)))
    assert isinstance(batch[0], list) and batch[0][1] is b
    assert len(list(batches.of([(a, np.zeros(5)), (b[:, :2], np.ones(5))]))) == 2


def test_a_one_shot_generator_is_kept_within_its_bound_and_refused_beyond_it():
    x, y, sw = two_input_data()
    model = two_input_model()
    obj = Objective(model)
    expected = obj.loss(x, y, sw)
    kept = batches.of(b for b in batch_list(x, y, sw, 9))
    assert obj.loss(kept) == pytest.approx(expected, rel=1e-12)
    assert obj.loss(kept) == pytest.approx(expected, rel=1e-12)  # the second pass replays what was kept
    generator = (b for b in batch_list(x, y, sw, 9))
    assert obj.loss(generator) == obj.loss(generator)  # the same generator object again: reused, not exhausted
    too_big = batches.of((b for b in batch_list(x, y, sw, 9)), max_cache_bytes=1000)
    assert obj.loss(too_big) == pytest.approx(expected, rel=1e-12)  # one pass needs no memory
    with pytest.raises(ValueError, match="callable"):
        obj.loss(too_big)


def test_malformed_sources_fail_with_a_message_that_says_what_to_do():
    tf = pytest.importorskip("tensorflow")  # tf.data feeds either backend where TensorFlow is installed
    x, y, sw = two_input_data(12)
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    with pytest.raises(ValueError, match=r"\.batch\(n\)"):
        list(batches.of(unbatched))
    with pytest.raises(ValueError, match="infinite"):
        batches.of(unbatched.batch(4).repeat())
    with pytest.raises(TypeError, match="must be None"):
        batches.of(unbatched.batch(4), y)
    with pytest.raises(ValueError, match="leading"):
        batches.of(x, {"cls": y["cls"][:5], "reg": y["reg"]})
    spent = iter(batch_list(x, y, sw, 5))
    list(spent)
    with pytest.raises(ValueError, match="no batches"):
        list(batches.of(spent))
