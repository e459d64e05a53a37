"""Any batched data as one stream of Keras data tuples that every measure can read again and again.

The measures average the loss and its derivatives over a whole dataset, and most read it many times: a
Lanczos run reads it once per Hessian-vector product, sharpness once per L-BFGS-B evaluation. `of(x, y,
sample_weight)` takes what `model.fit` takes and returns `Batches`, which can be iterated any number of
times and yields Keras data tuples `(x,)`, `(x, y)` or `(x, y, sample_weight)` — x, y and sample_weight
each one array or a list, tuple or dict of arrays (several inputs or outputs), every leaf with the same
leading (batch) dimension. Accepted:

- arrays: NumPy arrays or tensors, or lists/tuples/dicts of them, with y (and sample_weight) given
  separately, as `model.fit(x, y, sample_weight=...)` takes them. Kept as they are, never copied; each
  measure cuts them into chunks of its `chunk_size` (memory is bounded by the chunk, not the dataset).
- a `tf.data.Dataset` or a `keras.utils.PyDataset` of batches, or a list of batch tuples: read again on
  every pass, nothing kept (bounded memory). Infinite ones (`repeat()`) are refused: there is no whole
  dataset to average over.
- a callable returning a fresh iterable of batches (a generator function, `lambda: make_batches()`):
  called once per pass, nothing kept.
- a one-shot iterator (a generator object): it can be read only once, so its batches are kept in memory
  as they are read, at most `max_cache_bytes` (256 MiB by default). A larger one still serves a measure
  that reads the data once (the loss, the gradient norm); a measure that needs a second pass then fails
  and says to pass a callable instead. The same generator object passed again reuses what was kept.

A list or tuple whose elements are all tuples, lists or dicts is a list of batches; any other list, tuple
or dict is one array structure (several inputs). Batches larger than a measure's chunk size are cut
(`split`), so the numbers do not depend on how the data were batched, up to floating-point rounding.
"""
from __future__ import annotations

import sys
import weakref

import keras
import numpy as np

MAX_CACHE_BYTES = 256 * 2 ** 20
# One-shot iterators already wrapped, so that passing the same generator object to several measures (or to
# one measure that calls others) reuses its kept batches instead of finding it exhausted.
_ONE_SHOT: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Batches:
    """A re-iterable source of Keras data tuples `(x,)`, `(x, y)` or `(x, y, sample_weight)` (see the
    module docstring for what `of` accepts). `describe` names the source in error messages."""

    def __init__(self, open_pass, describe: str):
        self._open = open_pass
        self.describe = describe

    def __iter__(self):
        empty = True
        for element in self._open():
            batch = as_tuple(element)
            samples(batch)  # checks that every leaf has the same leading dimension
            empty = False
            yield batch
        if empty:
            raise ValueError(f"{self.describe} gave no batches (an exhausted iterator? pass a callable that "
                             "returns a fresh one, a tf.data.Dataset or a keras.utils.PyDataset)")


def of(x, y=None, sample_weight=None, *, max_cache_bytes: int = MAX_CACHE_BYTES) -> Batches:
    """`Batches` from arrays (x, y, sample_weight as `model.fit` takes them) or from any source of batches
    (x alone: a tf.data.Dataset, a keras.utils.PyDataset, a callable returning an iterable of batches, a
    list of batch tuples, a one-shot iterator; y and sample_weight must then be None). A `Batches` is
    returned as it is."""
    if isinstance(x, Batches) or _is_source(x):
        if y is not None or sample_weight is not None:
            raise TypeError(f"{type(x).__name__} already holds the batches: y and sample_weight must be None "
                            "(give the targets and weights inside the batches, as model.fit takes them)")
        return x if isinstance(x, Batches) else _source(x, max_cache_bytes)
    if sample_weight is not None and y is None:
        raise TypeError("sample_weight was given without y")
    batch = tuple(_arrays(part) for part in (x, y, sample_weight) if part is not None)
    samples(batch)
    return Batches(lambda: iter([batch]), f"arrays of {samples(batch)} samples")


def is_dataset(x) -> bool:
    """Whether x is a tf.data.Dataset. TensorFlow is not imported for it: a dataset exists only where the
    caller imported TensorFlow (on any Keras backend)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and hasattr(tf, "data") and isinstance(x, tf.data.Dataset)


def _is_source(x) -> bool:
    if is_dataset(x) or isinstance(x, keras.utils.PyDataset):
        return True
    if isinstance(x, (np.ndarray, dict, str, bytes)) or keras.ops.is_tensor(x) or np.isscalar(x) or hasattr(x, "__array__"):
        return False  # an array, or something NumPy turns into one (a DataFrame iterates over its columns)
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(isinstance(e, (list, tuple, dict)) for e in x)
    return callable(x) or hasattr(x, "__iter__")


def _source(x, max_cache_bytes) -> Batches:
    name = type(x).__name__
    if is_dataset(x):
        if int(x.cardinality()) == int(sys.modules["tensorflow"].data.INFINITE_CARDINALITY):
            raise ValueError("the tf.data.Dataset is infinite (repeat()?): there is no whole dataset to average over")
        return Batches(lambda: iter(x), "the tf.data.Dataset")
    if isinstance(x, keras.utils.PyDataset):
        count = x.num_batches
        if count is None:
            raise ValueError("the PyDataset is infinite (num_batches is None): there is no whole dataset to average over")
        return Batches(lambda: (x[i] for i in range(count)), f"the {name}")
    if callable(x):
        return Batches(lambda: iter(x()), f"the callable {getattr(x, '__name__', name)}")
    if iter(x) is not x:  # an iterable that starts afresh on every iter(): a list of batches, a custom container
        return Batches(lambda: iter(x), f"the {name}")
    try:
        return _ONE_SHOT[x]
    except (KeyError, TypeError):  # TypeError: an iterator that takes no weak reference
        pass
    batches = Batches(_KeptPasses(x, max_cache_bytes), f"the one-shot {name}")
    try:
        _ONE_SHOT[x] = batches
    except TypeError:
        pass
    return batches


class _KeptPasses:
    """Passes over a one-shot iterator: the first reads it and keeps its batches (up to `max_bytes`), the
    later ones replay what was kept."""

    def __init__(self, iterator, max_bytes: int):
        self.iterator, self.max_bytes = iterator, int(max_bytes)
        self.kept: list | None = []
        self.state = "unread"

    def __call__(self):
        if self.state == "complete":
            return iter(self.kept)
        if self.state == "too large":
            raise ValueError(f"a one-shot iterator of more than {self.max_bytes} bytes can be read only once, and "
                             "this measure needs another pass: pass a callable that returns a fresh iterator (e.g. "
                             "the generator function itself), a tf.data.Dataset or a keras.utils.PyDataset, or "
                             "raise max_cache_bytes in hwutils.batches.of")
        if self.state == "reading":
            raise ValueError("the one-shot iterator was left half read by an earlier pass that failed; "
                             "pass a callable that returns a fresh iterator")
        return self._first_pass()

    def _first_pass(self):
        self.state, size = "reading", 0
        for element in self.iterator:
            if self.kept is not None:
                size += sum(int(np.prod(leaf.shape)) * _itemsize(leaf.dtype)
                            for leaf in keras.tree.flatten(element) if leaf is not None)
                if size <= self.max_bytes:
                    self.kept.append(element)
                else:
                    self.kept = None  # over the bound: keep nothing, the memory goes back
            yield element
        self.state = "complete" if self.kept is not None else "too large"


def _itemsize(dtype) -> int:
    from .loss import dtype_bits
    name = keras.backend.standardize_dtype(dtype)
    return 1 if name == "bool" else max(1, dtype_bits(name) // 8)


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or keras.ops.is_tensor(x) or _foreign_tensor(x)


def _foreign_tensor(x) -> bool:
    """A tensor of another framework than the Keras backend's (a tf.Tensor of a tf.data pipeline on JAX)."""
    return hasattr(x, "__array__") and hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, np.ndarray)


def _arrays(part):
    """A leaf as an array (tensors kept as they are), or a list/tuple/dict of them."""
    if isinstance(part, dict):
        return {k: _arrays(v) for k, v in part.items()}
    if isinstance(part, (list, tuple)) and part and all(isinstance(e, (list, tuple, dict)) or _is_array(e)
                                                      for e in part):
        return type(part)(_arrays(e) for e in part)
    return part if keras.ops.is_tensor(part) or _foreign_tensor(part) else np.asarray(part)


def as_arrays(batch):
    """The batch with every leaf a tensor of the Keras backend (NumPy arrays and another framework's tensors
    converted; the backend's own kept), as the compiled measures take it."""
    return keras.tree.map_structure(lambda leaf: leaf if keras.ops.is_tensor(leaf) else
                                    keras.ops.convert_to_tensor(np.asarray(leaf)), batch)


def as_tuple(element) -> tuple:
    """A batch as the tuple (x,), (x, y) or (x, y, sample_weight), whatever form the source gave it in."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        tuple(element) if isinstance(element, list) else element)
    if sample_weight is not None and y is None:
        raise ValueError("a batch has sample weights but no targets")
    return tuple(part for part in (x, y, sample_weight) if part is not None)


def samples(batch) -> int:
    """The number of samples in a batch: the leading dimension, which every leaf must share."""
    sizes = {int(leaf.shape[0]) if len(leaf.shape) else None for leaf in keras.tree.flatten(batch)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"every array of a batch needs the same leading (batch) dimension, got {sorted(sizes, key=str)}"
                         " (an unbatched tf.data.Dataset? call .batch(n) on it)")
    return sizes.pop()


def split(batch, size: int):
    """The batch cut into consecutive pieces of at most `size` samples (the batch itself when it fits)."""
    n = samples(batch)
    if n <= size:
        yield batch
        return
    for start in range(0, n, size):
        yield keras.tree.map_structure(lambda leaf: leaf[start:start + size], batch)


def leaves_with_paths(structure) -> list:
    """(path, leaf) of every leaf in keras.tree.flatten order; a path joins the dict keys and list
    positions on the way with "/" ("" for a lone array)."""
    return [("/".join(map(str, path)), leaf) for path, leaf in keras.tree.flatten_with_path(structure)]


def signature_key(batch) -> tuple:
    """A hashable form of `signature`: (path, shape without the batch dimension, dtype) of every leaf."""
    return tuple((path, tuple(leaf.shape[1:]), keras.backend.standardize_dtype(leaf.dtype))
                 for path, leaf in leaves_with_paths(batch))
