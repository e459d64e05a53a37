"""Weight matching (Ainsworth et al. 2023): permute one network's hidden units to line up with another's.

Two networks trained from different initialisations compute with their hidden units in an arbitrary
order; permuting the units of a hidden layer (the columns of its kernel, its bias, and the matching rows of
the next kernel) leaves the function unchanged but moves the weights far away. The straight line between
two networks therefore crosses a loss barrier even when both sit in one basin up to a permutation.
Weight matching picks, for every hidden layer, the permutation π of network b's units that maximises
Σ_layers ⟨W_a, π(W_b)⟩ — the inner product of the two networks' weights — one layer at a time with the
others held fixed (a linear assignment, `scipy.optimize.linear_sum_assignment`), sweeping the layers in
random order until no permutation changes.

Supported: a chain of Dense and Conv2D layers (the last one's outputs are the classes, never permuted),
with BatchNormalization (its four per-channel vectors follow the channels), pooling, Dropout, activation
layers and one Flatten between them. For a convolution the permuted axis is the output channel; after a
Flatten of channels-last feature maps the next kernel's input rows come in blocks of C channels per
position, so the same channel permutation applies inside every block.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from scipy.optimize import linear_sum_assignment

_PASS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Dropout, keras.layers.Activation,
         keras.layers.ReLU, keras.layers.InputLayer)


@dataclass
class _Unit:
    """One weight layer of the chain: its index in model.layers, kind, and whether its input rows are the
    flattened maps of the previous layer's channels (then `positions` rows per channel block)."""
    index: int
    conv: bool
    positions: int = 1  # >1: the input is a Flatten of [positions, channels] (channels last)
    norm: int | None = None  # index of the BatchNormalization that follows, if any


def _chain(model) -> list[_Unit]:
    """The weight layers of a chain model, or a clear error for what matching cannot handle."""
    units: list[_Unit] = []
    flatten_at = None
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            positions = 1
            if flatten_at is not None:
                shape = model.layers[flatten_at].input.shape
                positions = int(np.prod(shape[1:-1]))
                flatten_at = None
            if isinstance(layer, keras.layers.Dense) and units and units[-1].conv and positions == 1:
                raise ValueError("a Dense layer after a convolution needs a Flatten between them")
            units.append(_Unit(i, isinstance(layer, keras.layers.Conv2D), positions))
        elif isinstance(layer, keras.layers.BatchNormalization):
            if not units or units[-1].norm is not None:
                raise ValueError("a BatchNormalization must follow a Dense or Conv2D layer to be matched")
            units[-1].norm = i
        elif isinstance(layer, keras.layers.Flatten):
            flatten_at = i
        elif isinstance(layer, _PASS):
            continue
        else:
            raise ValueError(f"weight matching supports chains of Dense/Conv2D layers; {layer.name} "
                             f"({type(layer).__name__}) is not supported")
    if len(units) < 2:
        raise ValueError("weight matching needs at least one hidden layer (two weight layers)")
    return units


def _rows(kernel: np.ndarray) -> np.ndarray:
    """A kernel as [out units, everything else]: the units a permutation of this layer reorders."""
    k = np.moveaxis(kernel, -1, 0)
    return k.reshape(k.shape[0], -1)


def _permute_input(kernel: np.ndarray, perm: np.ndarray, conv: bool, positions: int) -> np.ndarray:
    """Reorder the input axis of a kernel by the previous layer's permutation."""
    if conv:  # [kh, kw, in, out]
        return kernel[:, :, perm, :]
    if positions == 1:  # [in, out]
        return kernel[perm, :]
    c = len(perm)  # Flatten of [positions, c]: row s·c + j is channel j at position s
    k = kernel.reshape(positions, c, kernel.shape[-1])
    return k[:, perm, :].reshape(kernel.shape)


def _layer_weights(model, units) -> list[dict]:
    out = []
    for u in units:
        w = model.layers[u.index].get_weights()
        entry = {"kernel": np.asarray(w[0], np.float64), "bias": np.asarray(w[1], np.float64) if len(w) > 1 else None}
        if u.norm is not None:
            entry["norm"] = [np.asarray(v, np.float64) for v in model.layers[u.norm].get_weights()]
        out.append(entry)
    return out


def _cost(a: list[dict], b: list[dict], units, perms, layer: int) -> np.ndarray:
    """C[i, j] = the part of Σ ⟨W_a, π(W_b)⟩ that unit j of b contributes when placed at unit i of a's
    hidden layer `layer`, the other permutations fixed."""
    u = units[layer]
    kb = b[layer]["kernel"] if layer == 0 else _permute_input(b[layer]["kernel"], perms[layer - 1], u.conv, u.positions)
    cost = _rows(a[layer]["kernel"]) @ _rows(kb).T
    if a[layer]["bias"] is not None:
        cost += np.outer(a[layer]["bias"], b[layer]["bias"])
    for va, vb in zip(a[layer].get("norm", []), b[layer].get("norm", [])):
        cost += np.outer(va, vb)
    # The next layer: its input rows for unit i of a against those of unit j of b (outputs permuted).
    # Every kernel reshapes to [blocks, c, out] with the c units of this layer in the middle axis: a
    # convolution [kh·kw, c, out], a Dense after a Flatten [positions, c, out], a plain Dense [1, c, out].
    ka, kb = a[layer + 1]["kernel"], b[layer + 1]["kernel"]
    if layer + 1 < len(units) - 1:
        kb = kb[..., perms[layer + 1]]
    c = a[layer]["kernel"].shape[-1]
    ra = np.moveaxis(ka.reshape(-1, c, ka.shape[-1]), 1, 0).reshape(c, -1)
    rb = np.moveaxis(kb.reshape(-1, c, kb.shape[-1]), 1, 0).reshape(c, -1)
    return cost + ra @ rb.T


def match(model_a, model_b, max_sweeps: int = 100, seed: int = 0) -> dict:
    """The permutations of model_b's hidden units that line it up with model_a (same architecture).

    Returns {"permutations": one index array per hidden layer (perm[i]: b's unit placed at a's unit i),
    "sweeps": sweeps over the layers until none changed, "converged": bool, "similarity": Σ⟨W_a, π(W_b)⟩
    before and after}. Neither model is changed; `permuted_weights` applies the result."""
    units_a, units_b = _chain(model_a), _chain(model_b)
    if [(u.conv, u.positions) for u in units_a] != [(u.conv, u.positions) for u in units_b]:
        raise ValueError("the two models do not have the same architecture")
    a, b = _layer_weights(model_a, units_a), _layer_weights(model_b, units_b)
    if [w["kernel"].shape for w in a] != [w["kernel"].shape for w in b]:
        raise ValueError("the two models do not have the same architecture")
    hidden = len(units_a) - 1
    perms = [np.arange(a[l]["kernel"].shape[-1]) for l in range(hidden)]
    rng = np.random.default_rng(seed)
    start = _similarity(a, b, units_a, perms)
    sweeps, converged = 0, False
    while sweeps < max_sweeps:
        sweeps += 1
        changed = False
        for layer in rng.permutation(hidden):
            cost = _cost(a, b, units_a, perms, layer)
            _, cols = linear_sum_assignment(cost, maximize=True)
            # Move only for a strict gain, so ties cannot make the sweep cycle.
            if not np.array_equal(cols, perms[layer]) and \
                    cost[np.arange(len(cols)), cols].sum() > cost[np.arange(len(cols)), perms[layer]].sum() + 1e-12:
                perms[layer] = cols
                changed = True
        if not changed:
            converged = True
            break
    return {"permutations": perms, "sweeps": sweeps, "converged": converged,
            "similarity": (start, _similarity(a, b, units_a, perms))}


def _similarity(a, b, units, perms) -> float:
    pb = _apply(b, units, perms)
    total = 0.0
    for wa, wb in zip(a, pb):
        total += float(np.sum(wa["kernel"] * wb["kernel"]))
        if wa["bias"] is not None:
            total += float(np.sum(wa["bias"] * wb["bias"]))
        for va, vb in zip(wa.get("norm", []), wb.get("norm", [])):
            total += float(np.sum(va * vb))
    return total


def _apply(b: list[dict], units, perms) -> list[dict]:
    out = []
    for layer, (w, u) in enumerate(zip(b, units)):
        kernel = w["kernel"] if layer == 0 else _permute_input(w["kernel"], perms[layer - 1], u.conv, u.positions)
        entry = {"kernel": kernel, "bias": w["bias"]}
        if "norm" in w:
            entry["norm"] = list(w["norm"])
        if layer < len(perms):
            p = perms[layer]
            entry["kernel"] = entry["kernel"][..., p]
            entry["bias"] = None if w["bias"] is None else w["bias"][p]
            if "norm" in w:
                entry["norm"] = [v[p] for v in w["norm"]]
        out.append(entry)
    return out


def permuted_weights(model, permutations) -> list[np.ndarray]:
    """model.get_weights() with its hidden units permuted (the same function, other weights): the
    list to `set_weights` on a model of the same architecture."""
    units = _chain(model)
    moved = _apply(_layer_weights(model, units), units, list(permutations))
    by_layer = {}
    for u, w in zip(units, moved):
        by_layer[u.index] = [w["kernel"]] + ([w["bias"]] if w["bias"] is not None else [])
        if u.norm is not None:
            by_layer[u.norm] = w["norm"]
    out = []
    for i, layer in enumerate(model.layers):
        own = layer.get_weights()
        new = by_layer.get(i, own)
        out += [np.asarray(v, dtype=o.dtype) for v, o in zip(new, own)]
    return out


def aligned(model_a, model_b, max_sweeps: int = 100, seed: int = 0):
    """(a copy of model_b with its hidden units matched to model_a, the `match` record). The copy computes
    exactly what model_b computes; only the order of its hidden units differs."""
    found = match(model_a, model_b, max_sweeps, seed)
    copy = keras.models.clone_model(model_b)
    copy.set_weights(permuted_weights(model_b, found["permutations"]))
    return copy, found


def random_permutation(model, seed: int = 0):
    """A copy of `model` with every hidden layer's units shuffled at random: the same function, other
    weights — the null against which matching must find a barrier of 0."""
    units = _chain(model)
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(model.layers[u.index].get_weights()[0].shape[-1]) for u in units[:-1]]
    copy = keras.models.clone_model(model)
    copy.set_weights(permuted_weights(model, perms))
    return copy, perms
