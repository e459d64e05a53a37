"""Notebook parameters: one spec per notebook, profile defaults, validation before any work.

A notebook's `parameters` cell sets every name to None ("let the profile decide") or to a
literal. `setup()` resolves each name: an explicit value wins, else the profile's value. The
profile is the `profile` parameter, else $HWUTILS_PROFILE, else `quick` (the embedded default that runs
anywhere offline in minutes; `standard` and `full` are chosen explicitly).
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass, replace
from typing import Any

PROFILES = ("smoke", "quick", "standard", "full")
DATASETS = ("mnist", "fashion_mnist", "cifar10", "digits")


class ParameterError(ValueError):
    """A notebook parameter is unknown, of the wrong type, or has an impossible value."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # int | float | str | bool | int_list | float_list
    smoke: Any = None
    quick: Any = None
    full: Any = None
    low: float | None = None  # inclusive lower bound for numbers (and list items)
    high: float | None = None  # inclusive upper bound
    choices: tuple = ()
    optional: bool = False  # None is a valid resolved value (e.g. n_train=None: everything)
    help: str = ""
    # The standard profile: the report's datasets, architectures and optimizers, sized for an hour of a 2-core
    # laptop (see docs/profiles.md). Unset: the full profile's value (the report's own).
    standard: Any = "same as full"

    def default(self, profile: str) -> Any:
        if profile == "standard" and self.standard == "same as full":
            return self.full
        return getattr(self, profile)


def _common(seed=0):
    return [
        Param("seed", "int", seed, seed, seed, low=0, help="makes a CPU run deterministic"),
        Param("out_dir", "str", optional=True, help="where results.json and figures go; None: build/<notebook>/"),
        *CHECKPOINTING,
    ]


# Where and how often the training loops checkpoint (hwutils.checkpoints): none of them changes a result.
# Off in smoke (seconds per notebook); by time elsewhere, so that the cost stays a few saves per notebook.
CHECKPOINTING = [
    Param("checkpoint_every", "int", 0, 0, 0, low=0,
          help="checkpoint every this many epochs (gradient-norm phase: steps); 0: not by epochs"),
    Param("checkpoint_minutes", "float", 0.0, 2.0, 10.0, low=0.0,
          help="checkpoint at least this often (minutes); 0 and checkpoint_every 0: no checkpoints"),
    Param("checkpoint_dir", "str", optional=True,
          help="where the checkpoints go; None: $HWUTILS_CHECKPOINT_DIR, else <out_dir>/checkpoints"),
    Param("keep_checkpoints", "bool", False, False, False, help="keep the checkpoints when the notebook finishes"),
]


# What training computes in (hwutils.precision): float32 everywhere by default; mixed_bfloat16 (float32
# weights, bfloat16 activations) for a GPU's tensor cores. Measures are float32 or float64 either way.
PRECISION = Param("precision", "str", "float32", "float32", "float32", choices=("float32", "mixed_bfloat16"),
                  help="what training computes in: float32, or mixed_bfloat16 on a GPU; measures stay float32/64")


def _image_data(quick="digits", full="mnist", smoke_n=(200, 100), quick_n=(None, None), full_n=(None, None)):
    return [
        Param("dataset", "str", "digits", quick, full, choices=DATASETS),
        Param("n_train", "int", smoke_n[0], quick_n[0], full_n[0], low=1, optional=True,
              help="stratified subset of the training set; None: all"),
        Param("n_test", "int", smoke_n[1], quick_n[1], full_n[1], low=1, optional=True,
              help="stratified subset of the test set; None: all"),
    ]


SPECS: dict[str, list[Param]] = {
    "1-1-simulate-function": _common() + [
        Param("target", "str", "sinc", "sinc", "sinc", choices=("sinc", "xcosx")),
        Param("epochs", "int", 40, 3000, 20000, low=1),
        Param("n_points", "int", 200, 1000, 5000, low=2),
        Param("batch_size", "int", 64, 128, 128, low=1),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("optimizer", "str", "adam", "adam", "adam", choices=("adam", "sgd")),
        Param("seeds_per_model", "int", 2, 8, 8, low=1,
              help="members per architecture (seeds): the bands in the plots, the pairs of the claims"),
        Param("level_fraction", "float", 0.1, 0.01, 0.01, low=1e-9, high=1.0,
              help="the loss level of 1-1.deeper-earlier, as a fraction of the constant predictor's loss"),
    ],
    "1-1-actual-tasks": _common() + _image_data(full="cifar10") + [
        Param("epochs", "int", 2, 30, 30, low=1),
        Param("batch_size", "int", 64, 64, 128, low=1),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("hidden_layers", "int_list", [1, 2, 4], [1, 2, 4], [1, 2, 4], low=1),
        Param("target_params", "int", optional=True, low=50,
              help="parameter count of every model; None: the report's count for the dataset"),
        Param("seeds", "int", 2, 5, 5, low=1, help="initialisations per model, trained together as one vectorised model"),
        PRECISION,
    ],
    "1-2-trajectories": _common() + _image_data(full_n=(None, None)) + [
        Param("runs", "int", 3, 12, 8, low=2,
              help="independent runs (own weights and batch order); 'every run' needs ≥ 6, ≥ 11 to pass Holm"),
        Param("epochs", "int", 6, 45, 30, low=1),
        Param("record_every", "int", 3, 3, 3, low=1),
        Param("batch_size", "int", 64, 64, 128, low=1),
        Param("learning_rate", "float", 0.1, 0.1, 0.1, low=1e-12),
        Param("hidden", "int_list", [16], [32], [64], low=1, help="hidden widths of the MLP"),
        Param("layer", "int", 0, 0, 0, low=0, help="index of the Dense layer whose weights get their own PCA"),
        Param("tsne_perplexity", "float", 5.0, 20.0, 30.0, low=1.0),
        Param("accuracy_threshold", "float", 0.97, 0.97, 0.97, low=0.0, high=1.0,
              help="training accuracy every run should reach (the report: 97% on MNIST)"),
        Param("alpha_points", "int", 6, 11, 21, low=2, help="points of the α grid on [0, 1] between two runs"),
    ],
    "1-2-gradient-norm": _common() + _image_data() + [
        Param("seeds", "int", 3, 6, 8, low=1,
              help="independent runs of each task (own weights and batch order); the cross-run null needs ≥ 5"),
        Param("function_epochs", "int", 10, 100, 2000, low=1),
        Param("image_epochs", "int", 3, 20, 20, low=1),
        Param("n_points", "int", 200, 1000, 5000, low=2),
        Param("batch_size", "int", 32, 32, 128, low=1),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("window", "int", 51, 101, 201, low=3, help="running-median window that removes the trend (iterations)"),
        Param("horizon", "int", 10, 10, 10, low=2, help="iterations after t over which the loss oscillation is measured"),
        Param("comove_window", "int", 5, 50, 100, low=2, help="iterations per window of the co-movement claim"),
        Param("plateau_fraction", "float", 0.5, 0.1, 0.1, low=0.0, high=1.0,
              help="a plateau: a local minimum of the full-batch gradient norm below this × its start"),
        Param("plateaus_per_run", "int", 2, 3, 3, low=1,
              help="the lowest plateaus of each run whose exact Hessian is examined"),
    ],
    "1-2-zero-gradient": _common() + [
        Param("runs", "int", 6, 100, 100, low=2),
        Param("widths", "int_list", [1, 6, 6, 1], [1, 8, 8, 1], [1, 5, 10, 10, 10, 10, 5, 1], low=1),
        Param("n_points", "int", 100, 500, 1000, low=2),
        Param("epochs", "int", 30, 400, 2000, low=1, help="ordinary training before the gradient-norm phase"),
        Param("batch_size", "int", 64, 128, 128, low=1),
        Param("learning_rate", "float", 1e-2, 1e-2, 1e-3, low=1e-12),
        Param("grad_steps", "int", 100, 3000, 10000, low=1, help="budget of the gradient-norm phase (full-batch steps)"),
        Param("grad_learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("grad_tol", "float", 1e-3, 1e-3, 1e-3, low=0.0,
              help="a run counts as at a critical point when its gradient norm is below this"),
    ],
    "1-2-error-surface": _common() + _image_data() + [
        Param("epochs", "int", 3, 30, 20, low=1),
        Param("batch_size", "int", 64, 64, 128, low=1),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("hidden", "int_list", [16], [32], [64], low=1),
        Param("sigmas", "float_list", [0.0, 0.001, 0.01, 0.1], [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
              [0.0, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3], low=0.0, help="noise scales; 0 gives the trained loss"),
        Param("noise_samples", "int", 4, 20, 40, low=2, help="noise draws per σ (the slope's bootstrap resamples them)"),
        Param("slope_points", "int", 3, 3, 3, low=2, help="the smallest positive σ the log-log slope is fitted on"),
        Param("slope_margin", "float", 0.5, 0.5, 0.5, low=1e-6,
              help="equivalence margin around slope 1 for the claim 1-2.perturbation-linear"),
        Param("seeds", "int", 2, 5, 5, low=1,
              help="models trained independently (own weights and batch order), the claims' unit"),
        Param("trace_probes", "int", 10, 100, 100, low=2, help="Rademacher probes of the Hutchinson trace behind σ*"),
        Param("grid", "int", 5, 21, 31, low=3, help="points per axis of the 1-D and 2-D surfaces"),
        Param("span", "float", 1.0, 1.0, 1.0, low=1e-6, help="the surfaces cover [-span, span] along each direction"),
    ],
    "1-3-random-labels": _common() + _image_data(quick_n=(300, None)) + [
        Param("epochs", "int", 3, 200, 100, low=1, help="the epoch cap of the budget"),
        Param("batch_size", "int", 64, 64, 128, low=1),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("corruption_fractions", "float_list", [0.0, 1.0], [0.0, 0.5, 1.0],
              [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], low=0.0, high=1.0,
              help="fractions of corrupted training labels; 0 (true) and 1 (random) are always included"),
        Param("corruption", "str", "permute", "permute", "permute", choices=("permute", "uniform"),
              help="permute: the chosen labels are shuffled among themselves (the report); uniform: redrawn (Zhang et al.)"),
        Param("seeds", "int", 2, 6, 6, low=1,
              help="runs per fraction (initial weights, labelling and batch order); 'every run fits' needs ≥ 6"),
        Param("fit_threshold", "float", 0.95, 0.95, 0.95, low=0.0, high=1.0,
              help="training accuracy (epoch mean) that counts as having fitted, for the epochs to fit"),
        Param("budget_factor", "float", 2.0, 10.0, 10.0, low=1.0,
              help="the budget: this × the epochs the seed's true-label run took to fit"),
        Param("chance_margin", "float", 0.05, 0.05, 0.05, low=1e-6, high=1.0,
              help="test accuracy within chance ± this margin counts as chance"),
        PRECISION,
    ],
    "1-3-parameters": _common() + _image_data(full="cifar10") + [
        Param("widths", "int_list", [4, 16], [2, 4, 8, 16, 32, 64, 128, 256],
              list(range(100, 2001, 100)), low=1, help="the width n of the model family"),
        Param("epochs", "int", 2, 40, 30, low=1),
        Param("batch_size", "int", 64, 64, 128, low=1),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-3, low=1e-12),
        Param("seeds", "int", 2, 3, 5, low=1, help="models per width, each with its own initial weights"),
    ],
    "1-3-flatness": _common() + _image_data() + [
        Param("seeds", "int", 2, 5, 5, low=1,
              help="initialisations per batch size, each with its own batch order: the claims' unit"),
        Param("design", "str", "both", "loss_target", "loss_target", choices=("loss_target", "fixed_epochs", "both"),
              help="loss_target: every batch size trains until its epoch's training loss ≤ target_loss (at most "
                   "`epochs`); fixed_epochs: every batch size trains `epochs` epochs (the report); both: both, "
                   "from the same runs"),
        Param("target_loss", "float", 2.15, 0.1, 0.05, low=0.0, help="training-loss target of the loss_target design"),
        Param("epochs", "int", 4, 300, 200, low=1, help="the epoch cap (loss_target) or the epoch count (fixed_epochs)"),
        Param("learning_rate", "float", 1e-3, 1e-3, 1e-4, low=1e-12),
        Param("pair_batch_sizes", "int_list", [16, 128], [64, 1024], [64, 1024], low=1),
        Param("learning_rate_pair", "float_list", [], [1e-3, 1e-2], [1e-3, 1e-2], low=1e-12,
              help="a second interpolated pair that differs in learning rate; [] skips it"),
        Param("batch_sizes", "int_list", [16, 128], [16, 64, 256, 1024], [32, 64, 128, 512, 1024, 2048, 4096], low=1),
        Param("alpha_points", "int", 7, 16, 61, low=4, help="points on the α grid from -1 to 2 (16: a step of 0.2)"),
        Param("flatness_delta", "float", 0.5, 0.2, 0.2, low=1e-6, high=1.0,
              help="|Δα| either side of α = 0 and α = 1 over which the loss rise is compared"),
        Param("sharpness_epsilon", "float", 1e-3, 1e-3, 1e-3, low=0.0),
        Param("sharpness_subspace", "int", optional=True, low=1,
              help="Keskar's random subspace of this dimension; None: the full parameter space"),
        Param("sharpness_points", "int", 100, 500, 5000, low=1, help="training points the sharpness is measured on"),
        Param("sensitivity_points", "int", 100, 300, 2000, low=1, help="test points the sensitivity is measured on"),
        PRECISION,
    ],
}
# The standard profile's sizes (every other parameter: the full profile's, the report's own): the report's
# datasets, architectures and optimizers; subsets, epochs, seeds and measure sizes chosen on a pilot run on
# real Fashion-MNIST with another seed, then frozen before the confirmatory run (docs/profiles.md: the pilot,
# the costs, which claims the hour decides). Seeds go where they are cheap (the ensemble engine's MLPs) and
# where claims need them to pass Holm; CNN seeds are not cheap on a CPU.
STANDARD: dict[str, dict[str, Any]] = {
    "1-1-simulate-function": dict(epochs=5000, n_points=1000, seeds_per_model=48),
    "1-1-actual-tasks": dict(n_train=10000, n_test=2000, epochs=10, batch_size=64, seeds=8),
    "1-2-trajectories": dict(n_train=10000, n_test=2000, runs=12, epochs=30, alpha_points=11),
    "1-2-gradient-norm": dict(n_train=5000, n_test=1000, seeds=8, function_epochs=300, image_epochs=10, n_points=1000,
                              batch_size=32, window=101, comove_window=50),
    "1-2-zero-gradient": dict(n_points=1000, epochs=1000, grad_steps=3000),
    "1-2-error-surface": dict(n_train=10000, n_test=2000, epochs=10, noise_samples=20, grid=21),
    "1-3-random-labels": dict(n_train=300, n_test=2000, seeds=6, corruption_fractions=[0.0, 0.5, 1.0], epochs=60,
                              batch_size=64, budget_factor=4.0),
    "1-3-parameters": dict(n_train=5000, n_test=2000, widths=[16, 32, 64, 128, 256, 512], epochs=20),
    "1-3-flatness": dict(n_train=2048, n_test=2000, learning_rate=1e-3, batch_sizes=[16, 64, 256, 1024],
                         target_loss=0.1, epochs=300, sharpness_points=1000, sensitivity_points=500, alpha_points=16),
}


def _with_standard(specs: dict[str, list[Param]], standard: dict[str, dict[str, Any]]) -> None:
    from dataclasses import replace
    for stem, values in standard.items():
        names = [p.name for p in specs[stem]]
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"standard sizes for {stem} name no parameter: {sorted(unknown)}")
        specs[stem][:] = [replace(p, standard=values[p.name]) if p.name in values else p for p in specs[stem]]


_with_standard(SPECS, STANDARD)

_PROFILE = Param("profile", "str", optional=True, choices=PROFILES,
                 help="smoke | quick | standard | full; None: $HWUTILS_PROFILE, else quick")
for _spec in SPECS.values():
    _spec.insert(0, _PROFILE)


def names(stem: str, declared: dict[str, Any] | None = None) -> list[str]:
    return [p.name for p in spec(stem, declared)]


def spec(stem: str, declared: dict[str, Any] | None = None) -> list[Param]:
    """The parameters of notebook `stem`: one of the nine from SPECS, or a notebook of your own from
    `declared` (see `own_spec`)."""
    if declared is not None:
        if stem in SPECS:
            raise ParameterError(f"{stem} is one of the report's notebooks: its parameters are declared in "
                                 f"hwutils.params.SPECS; pick another name for a notebook of your own")
        return own_spec(declared)
    if stem not in SPECS:
        raise ParameterError(f"unknown notebook {stem!r}; known: {', '.join(SPECS)}. A notebook of your own "
                             f"declares its parameters: hwutils.setup({stem!r}, globals(), params={{'epochs': 10}})")
    return SPECS[stem]


_KINDS = {bool: "bool", int: "int", float: "float", str: "str"}


def _kind_of(name: str, value: Any) -> str:
    """The kind of a declared default: its literal's type (an int list, a float list of any numbers)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ParameterError(f"parameter {name!r}: an empty list says no item type; declare "
                                 f"Param({name!r}, 'int_list', ...) instead")
        kinds = {_kind_of(name, v) for v in value}
        if kinds == {"int"}:
            return "int_list"
        if kinds <= {"int", "float"}:
            return "float_list"
        raise ParameterError(f"parameter {name!r}: a list of numbers only, got {value!r}")
    kind = _KINDS.get(type(value))
    if kind is None:
        raise ParameterError(f"parameter {name!r}: declare a default literal (int, float, str, bool or a list of "
                             f"numbers) or a Param, got {value!r}")
    return kind


def own_spec(declared: dict[str, Any]) -> list[Param]:
    """The spec of a notebook outside the nine: `profile`, `seed`, `out_dir` and the checkpoint settings like
    every notebook, then each declared name. A declared value is a Param (bounds, choices, per-profile values)
    or a default literal whose type becomes the parameter's kind, the same in every profile."""
    common = {p.name for p in _common()} | {"profile"}
    clash = sorted(set(declared) & common)
    if clash:
        raise ParameterError(f"{', '.join(map(repr, clash))}: every notebook has these already; declare only your "
                             f"own parameters")
    own = []
    for name, value in declared.items():
        if isinstance(value, Param):
            own.append(value if value.name == name else replace(value, name=name))
        else:
            kind = _kind_of(name, value)
            value = list(value) if kind.endswith("_list") else value
            own.append(Param(name, kind, value, value, value, standard=value))
    return [_PROFILE] + _common() + own


def _check(p: Param, value: Any) -> Any:
    """Return value coerced to p's kind, or raise ParameterError saying what is wrong."""
    if value is None:
        if p.optional:
            return None
        raise ParameterError(f"parameter {p.name!r} needs a value ({p.kind})")
    if p.kind.endswith("_list"):
        item_kind = p.kind[:-5]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ParameterError(f"parameter {p.name!r} must be a list of {item_kind}s, got {value!r}")
        item = Param(p.name, item_kind, low=p.low, high=p.high, choices=p.choices)
        return [_check(item, v) for v in value]
    if p.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ParameterError(f"parameter {p.name!r} must be an integer, got {value!r}")
    elif p.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter {p.name!r} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ParameterError(f"parameter {p.name!r} must be finite, got {value!r}")
    elif p.kind == "str":
        if not isinstance(value, str):
            raise ParameterError(f"parameter {p.name!r} must be a string, got {value!r}")
    elif p.kind == "bool":
        if not isinstance(value, bool):
            raise ParameterError(f"parameter {p.name!r} must be True or False, got {value!r}")
    if p.choices and value not in p.choices:
        raise ParameterError(f"parameter {p.name!r} = {value!r} is not one of {', '.join(map(repr, p.choices))}")
    if p.low is not None and value < p.low:
        raise ParameterError(f"parameter {p.name!r} = {value!r} is impossible: it must be ≥ {p.low}")
    if p.high is not None and value > p.high:
        raise ParameterError(f"parameter {p.name!r} = {value!r} is impossible: it must be ≤ {p.high}")
    return value


def resolve(stem: str, given: dict[str, Any], env: dict[str, str] | None = None,
            declared: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolved parameters of notebook `stem` from the explicitly given values (None = not given).

    Raises ParameterError for a name that is not a parameter of this notebook, a wrong type or an
    impossible value: before any work is done. `declared`: the parameters of a notebook of your own
    (`own_spec`), checked the same way.
    """
    params = spec(stem, declared)
    known = {p.name: p for p in params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        import difflib
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ParameterError(f"not a parameter of {stem}: {', '.join(hints)}. "
                             f"Its parameters are: {', '.join(known)}")
    env = os.environ if env is None else env
    # Nothing given: quick, the profile that runs anywhere offline in minutes. standard and full (datasets to
    # find, an hour or days of CPU) are always chosen explicitly.
    profile = given.get("profile") or env.get("HWUTILS_PROFILE") or "quick"
    profile = _check(known["profile"], profile)
    resolved = {"profile": profile}
    for p in params[1:]:
        value = given.get(p.name)
        resolved[p.name] = _check(p, p.default(profile) if value is None else value)
    for ok, message in CROSS_CHECKS.get(stem, ()):
        if not ok(resolved):
            raise ParameterError(f"{stem}: {message}")
    return resolved


# Conditions between parameters, checked after each is resolved.
CROSS_CHECKS = {
    "1-2-trajectories": [(lambda r: r["epochs"] >= 2 * r["record_every"],
                          "epochs must be at least 2 × record_every: the same-basin control compares a run's "
                          "last two snapshots after the start")],
}


def injected_names(history: list[str]) -> dict[str, Any]:
    """Names and literal values assigned by papermill's injected-parameters cell.

    papermill only warns about names the notebook does not declare; reading the cell it injected
    (its source starts with '# Parameters') lets setup() refuse them. The last such cell wins.
    """
    for source in reversed(history or []):
        if source.lstrip().startswith("# Parameters"):
            out = {}
            for node in ast.parse(source).body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            try:
                                out[target.id] = ast.literal_eval(node.value)
                            except ValueError:
                                out[target.id] = None
            return out
    return {}
