"""Every claim the report's notebooks test, defined once and before any run.

Each entry says what the claim states and who made it, the test that decides it, the direction the
claim expects, the margin or threshold (fixed here, with the reason), the unit of replication n counts,
and the unit of the effect. `hwutils.report_claims` builds every verdict from these entries, each
notebook shows its own entries before its claims (`table(stem)`), and the report page and README list
them. A statement may hold `{placeholders}` that the notebook fills from its run (the function's name,
a threshold parameter); nothing else about a claim depends on the run.

Rules every entry follows (design.md, "Claims"): the test could come out either way on real runs (no
verdict fixed by an identity, a stop rule, a restated claim or an unmatched control); one id, one
expectation; the unit of replication is what is independent (a seed counts once, and only with its own
data order).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    notebook: str
    statement: str
    source: str
    test: str
    direction: str
    margin: str
    replication: str
    unit: str
    control: str = ""
    remark: str = ""  # what else a reader must know (another paper's opposite direction, a measure kept beside it)


def _specs(*specs: ClaimSpec) -> dict[str, ClaimSpec]:
    return {s.id: s for s in specs}


REGISTRY = _specs(
    # ----------------------------------------------------------------------------------- 1-1 simulate a function
    ClaimSpec("1-1.deeper-lower-loss", "1-1-simulate-function",
              "At about equal parameter count the deeper net ends with a lower training loss ({title})",
              "report 1-1", "paired t over seeds on log(final loss of the deepest / the shallowest net)",
              "lower (negative log ratio)", "none: any consistent ratio ≠ 1", "seeds",
              "log loss ratio, deepest vs shallowest"),
    ClaimSpec("1-1.deeper-earlier", "1-1-simulate-function",
              "The deeper net's loss falls earlier: it reaches a fixed loss level in fewer epochs ({title})",
              "report 1-1", "exact sign test over seeds on the epochs to reach the level (deepest vs shallowest); "
              "a net that never reaches it is censored at the epoch budget, not dropped",
              "fewer epochs (negative log ratio)",
              "level = level_fraction × the loss of the best constant prediction (the variance of the target): "
              "fixed by the data before training, not by any run's final loss (a level taken from the final "
              "losses would restate 1-1.deeper-lower-loss)",
              "seeds", "median log epoch ratio, deepest vs shallowest"),
    ClaimSpec("1-1.depth-rank-loss", "1-1-simulate-function",
              "Final training loss falls with depth, within every seed ({title})", "report 1-1",
              "Spearman ρ of depth against log final loss within each seed; permutation test within seeds, "
              "t interval over seeds", "negative", "none", "seeds", "mean within-seed Spearman ρ"),
    # ----------------------------------------------------------------------------------- 1-1 actual tasks
    ClaimSpec("1-1.deeper-better-test.cifar10", "1-1-actual-tasks",
              "At about equal parameter count the deeper model reaches a higher test accuracy (CIFAR-10)",
              "report 1-1", "paired t over seeds on test accuracy (deepest − shallowest)", "higher",
              "none", "seeds", "test accuracy, deepest − shallowest",
              remark="the report's expectation on CIFAR-10"),
    ClaimSpec("1-1.deeper-better-test.mnist", "1-1-actual-tasks",
              "At about equal parameter count the deepest model (4 hidden layers) reaches a lower test accuracy "
              "than the shallowest (1) ({dataset})", "report 1-1",
              "paired t over seeds on test accuracy (deepest − shallowest)", "lower (the report on MNIST)",
              "none", "seeds", "test accuracy, deepest − shallowest",
              remark="the report's expectation on MNIST, also tested on the datasets it did not use (digits, "
                     "Fashion-MNIST: small grey-scale images with the MNIST design); CIFAR-10 has its own id"),
    ClaimSpec("1-1.one-two-equal.mnist", "1-1-actual-tasks",
              "One and two hidden layers reach about the same test accuracy ({dataset})", "report 1-1",
              "equivalence: the t interval over seeds of test accuracy (2 hidden − 1 hidden) inside ± 0.02",
              "equal within the margin", "± 0.02 (two accuracy points): 'about the same' read generously, beyond "
              "the few tenths of a point seeds differ by on MNIST", "seeds", "test accuracy, 2 hidden − 1 hidden",
              remark="the report's expectation on MNIST (and the datasets with its design)"),
    ClaimSpec("1-1.deeper-smoother", "1-1-simulate-function",
              "The deeper net fits the function more smoothly: the wide net's prediction has corners ({title})",
              "report 1-1", "paired t over seeds on log(roughness of the deepest / the shallowest net's prediction), "
              "roughness = root-mean-square second difference of the fit's error (prediction − target) over the grid "
              "divided by the target's own (a corner is one large second difference)",
              "lower (the deeper smoother)", "none", "seeds", "log roughness ratio, deepest vs shallowest"),
    ClaimSpec("1-1.depth-rank-test", "1-1-actual-tasks",
              "Test accuracy rises with depth, within every seed ({dataset})", "report 1-1",
              "Spearman ρ of depth against test accuracy within each seed; permutation test within seeds, "
              "t interval over seeds", "positive", "none", "seeds", "mean within-seed Spearman ρ"),
    # ----------------------------------------------------------------------------------- 1-2 trajectories
    ClaimSpec("1-2.runs-accurate", "1-2-trajectories",
              "Every run reaches high training accuracy (≥ {threshold:.0%})", "report 1-2",
              "count of runs at or above the threshold; exact binomial test of a pass rate of 1/2",
              "every run passes", "accuracy_threshold (the report: 97% on MNIST); reproduced needs all n "
              "runs and n ≥ 6 (n of n is then rare at a pass rate of 1/2)", "runs", "fraction of runs"),
    ClaimSpec("1-2.linear-barrier", "1-2-trajectories",
              "Runs from different initialisations end in different minima: the loss on the straight line "
              "between them rises above the chord more than between two runs from one initialisation",
              "report 1-2", "paired t over pairs of runs: chord barrier between runs a and b minus the chord "
              "barrier between run a and its matched control", "higher", "none", "pairs of runs",
              "training loss above the chord (runs − matched control)",
              control="the same initialisation as run a trained on another batch order",
              remark="a straight-line barrier between independently initialised nets is expected from "
                     "permutations of hidden units alone; see 1-2.barrier-after-matching"),
    ClaimSpec("1-2.barrier-after-matching", "1-2-trajectories",
              "The barrier survives aligning the hidden units (weight matching): the minima differ beyond a "
              "permutation", "report 1-2; Ainsworth et al. 2023",
              "paired t over pairs of runs: chord barrier after weight matching b to a, minus the same between "
              "run a and its matched control", "higher", "none", "pairs of runs",
              "training loss above the chord after matching (runs − matched control)",
              control="the same initialisation trained on another batch order; null: a net against its own "
                      "permuted copy has a barrier of 0 after matching",
              remark="narrow networks keep barriers after matching (Ainsworth et al. 2023): the note gives the width"),
    # ----------------------------------------------------------------------------------- 1-2 gradient norm
    ClaimSpec("1-2.gradnorm-oscillation", "1-2-gradient-norm",
              "When the gradient norm is larger, the loss oscillates more (function task)", "report 1-2",
              "within each run, Spearman ρ over non-overlapping windows of the window's mean gradient norm "
              "against the spread of the batch losses in it, both detrended within the run (log against a "
              "running median over 7 windows); the mean over runs against the cross-run null: the same mean "
              "with the runs' loss spreads re-paired to other runs' gradient norms, every permutation",
              "positive", "none", "runs", "mean ρ, runs − cross-run null",
              control="run i's gradient norms against run j's loss spreads: each run's own trend removed, the "
                      "pairing broken"),
    ClaimSpec("1-2.gradnorm-oscillation-image", "1-2-gradient-norm",
              "When the gradient norm is larger, the loss oscillates more (image task)", "report 1-2",
              "as 1-2.gradnorm-oscillation, on the image task", "positive", "none", "runs",
              "mean ρ, runs − cross-run null",
              control="run i's gradient norms against run j's loss spreads: each run's own trend removed, the "
                      "pairing broken"),
    ClaimSpec("1-2.gradnorm-lagged", "1-2-gradient-norm",
              "A large detrended gradient norm is followed by a larger loss oscillation over the next "
              "iterations (function task)", "this project (a lagged form of the report's observation)",
              "detrended log gradient norm at t against the spread of the detrended log loss over t+1…t+h, "
              "Spearman ρ per run, the mean against circular shifts", "positive", "none",
              "runs", "mean Spearman ρ − null median",
              control="circular shift of one series against the other"),
    ClaimSpec("1-2.gradnorm-lagged-image", "1-2-gradient-norm",
              "A large detrended gradient norm is followed by a larger loss oscillation (image task)",
              "this project (a lagged form of the report's observation)", "as 1-2.gradnorm-lagged",
              "positive", "none", "runs", "mean Spearman ρ − null median",
              control="circular shift of one series against the other"),
    ClaimSpec("1-2.no-saddle-during-training", "1-2-gradient-norm",
              "Training did not meet a saddle point: where the gradient norm fell to a plateau, the Hessian had no "
              "negative curvature beyond the band τ (function task)", "report 1-2",
              "every run counted: a plateau is a snapshot whose full-batch gradient norm is a local minimum "
              "below plateau_fraction × its value at the start; at a run's lowest plateaus the exact Hessian's "
              "index (fraction of eigenvalues < −τ) must be 0; a run passes when all of them do",
              "every run passes", "τ: the band of 1-2-zero-gradient (rounding and the remaining gradient); "
              "reproduced needs every run with a plateau and at least 6 of them", "runs", "fraction of runs",
              remark="no plateau at all leaves the claim void (inconclusive): nothing was examined"),
    # ----------------------------------------------------------------------------------- 1-2 zero gradient
    ClaimSpec("1-2.index-vs-loss", "1-2-zero-gradient",
              "At critical points, a higher loss goes with a larger index (fraction of negative eigenvalues)",
              "Dauphin et al. 2014", "Spearman ρ of loss against the index over the runs at ‖∇L‖ < grad_tol; "
              "permutation p and bootstrap interval", "positive",
              "eigenvalues classed against the band τ (rounding and the remaining gradient)", "runs",
              "Spearman ρ", control="runs that did not reach the tolerance are left out and counted",
              remark="the report plotted the minimal ratio (fraction > τ) against the loss: its ρ is in the note"),
    # ----------------------------------------------------------------------------------- 1-2 error surface
    ClaimSpec("1-2.perturbation-linear", "1-2-error-surface",
              "At the smallest noise scales the loss change of a single draw grows about linearly in σ",
              "report 1-2 bonus", "per seed, the log-log slope of the median |L(θ+σn) − L(θ)| of single draws "
              "over the smallest slope_points σ; equivalence over seeds: the t interval of the mean slope "
              "inside 1 ± margin", "slope 1 (first order)",
              "± slope_margin = 0.5: halfway to slope 2 (second order), so the two orders cannot both hold",
              "seeds", "log-log slope of the median |Δloss| − 1",
              remark="the antithetic mean ½σ²nᵀHn grows as σ² at any θ (an identity): kept as the curvature "
                     "slope, a measure, not a claim"),
    ClaimSpec("1-2.at-critical-point", "1-2-error-surface",
              "The trained weights are a critical point at the noise scales measured: the second-order term "
              "dominates the loss change from the smallest σ on", "2nd-order Taylor expansion",
              "per seed, log(σ_min / σ*) with σ* = 2‖∇L‖ / |tr H| (exact gradient norm; tr H by Hutchinson, "
              "its standard error in the note), where the first-order change's root mean square σ‖∇L‖ and the "
              "second-order change's mean ½σ²·tr H are equal; one-sample t over seeds against 0",
              "positive (σ_min above σ*)", "σ_min = σ* (ratio 1): below it the first-order term is the larger",
              "seeds", "log(σ_min / σ*)"),
    # ----------------------------------------------------------------------------------- 1-3 random labels
    ClaimSpec("1-3.random-labels-fit", "1-3-random-labels",
              "A network fits random labels within the budget: every run reaches ≥ 99% training accuracy",
              "report 1-3; Zhang et al. 2017", "count of random-label runs at ≥ 0.99 training accuracy, measured "
              "in a pass over the training set after training; exact binomial test of a pass rate of 1/2",
              "every run passes",
              "0.99 (Zhang et al.'s 'fits perfectly'); the budget is budget_factor × the epochs the true "
              "labels took to fit, fixed before the random-label runs are looked at",
              "runs", "fraction of runs"),
    ClaimSpec("1-3.random-labels-chance", "1-3-random-labels",
              "Test accuracy after fitting random labels is chance (1/{classes})", "Zhang et al. 2017",
              "equivalence: the t interval over seeds of the test accuracy inside chance ± margin",
              "equal to chance", "± chance_margin (parameter, 0.05): a model 5 points above chance has learnt "
              "something", "runs", "accuracy − chance"),
    ClaimSpec("1-3.random-labels-slower", "1-3-random-labels",
              "Random labels take longer to fit than true labels", "Zhang et al. 2017",
              "paired t over seeds on log(epochs to fit random / true labels); a random-label run not fitted "
              "within the budget counts at the budget", "longer (positive)",
              "fitted: training accuracy ≥ fit_threshold in the pass after an epoch", "seeds",
              "log(epochs random / true)",
              remark="counting an unfitted run at the budget understates its time: it can only weaken the claim"),
    ClaimSpec("1-3.corruption-hurts", "1-3-random-labels",
              "Test accuracy falls as the fraction of corrupted labels grows, within every seed",
              "Zhang et al. 2017", "Spearman ρ of the corrupted fraction against test accuracy within each seed; "
              "permutation test within seeds, t interval over seeds", "negative", "none", "seeds",
              "mean within-seed Spearman ρ"),
    # ----------------------------------------------------------------------------------- 1-3 parameters
    ClaimSpec("1-3.params-gap", "1-3-parameters",
              "The gap between test and training loss grows with the number of parameters, within every seed",
              "report 1-3", "Spearman ρ of the parameter count against (test − train loss) within each seed; "
              "permutation test within seeds, t interval over seeds", "positive", "none", "seeds",
              "mean within-seed Spearman ρ"),
    ClaimSpec("1-3.params-gap-accuracy", "1-3-parameters",
              "The gap between training and test accuracy grows with the number of parameters, within every seed",
              "report 1-3", "as 1-3.params-gap, on (train − test accuracy)", "positive", "none", "seeds",
              "mean within-seed Spearman ρ"),
    # ----------------------------------------------------------------------------------- 1-3 flatness
    ClaimSpec("1-3.linear-barrier", "1-3-flatness",
              "The small- and large-batch minima differ: the loss on the straight line between them rises "
              "above the chord more than between two small-batch runs from one initialisation", "report 1-3",
              "paired t over seeds: chord barrier between the pair's two models minus the chord barrier between "
              "the small-batch model and its matched control", "higher", "none", "seeds",
              "train loss above the chord (pair − matched control)",
              control="the small-batch model's initialisation trained at the same batch size on another batch order"),
    ClaimSpec("1-3.barrier-after-matching", "1-3-flatness",
              "The barrier between the small- and large-batch minima survives weight matching",
              "report 1-3; Ainsworth et al. 2023", "as 1-3.linear-barrier, after matching the convolution's "
              "channels and the dense units of the second model (and of the control) to the first", "higher",
              "none", "seeds", "train loss above the chord after matching (pair − matched control)",
              control="matched control as for 1-3.linear-barrier; null: a model against its own permuted copy gives 0"),
    ClaimSpec("1-3.small-batch-flatter", "1-3-flatness",
              "Along the line, the loss rises more slowly around the small-batch minimum than around the "
              "large-batch one", "report 1-3", "paired t over seeds: the loss rise |Δα| = flatness_delta either "
              "side of the large-batch end minus the same at the small-batch end", "higher", "none", "seeds",
              "Δ rise (train loss)"),
    ClaimSpec("1-3.sharpness-vs-batch", "1-3-flatness", "Large-batch training ends in sharper minima",
              "Keskar et al. 2017", "Spearman ρ of batch size against sharpness within each seed (its own data "
              "order); permutation test within seeds, t interval over seeds", "positive", "none", "seeds",
              "mean within-seed Spearman ρ"),
    ClaimSpec("1-3.sensitivity-vs-gap", "1-3-flatness",
              "Sensitivity goes with the generalisation gap (test − training loss)", "Novak et al. 2018",
              "Spearman ρ of sensitivity against the gap within each seed, over batch sizes; permutation test "
              "within seeds, t interval over seeds", "positive", "none", "seeds", "mean within-seed Spearman ρ"),
    ClaimSpec("1-3.lr-pair-barrier", "1-3-flatness",
              "The minima of the learning-rate pair differ: the loss on the line between them rises above the "
              "chord more than between the first model and its matched control", "report 1-3",
              "paired t over seeds: chord barrier of the learning-rate pair minus the matched control's", "higher",
              "none", "seeds", "train loss above the chord (pair − matched control)",
              control="the first model's initialisation at its batch size and learning rate, on another batch order"),
    ClaimSpec("1-3.lr-pair-barrier-after-matching", "1-3-flatness",
              "The barrier between the learning-rate pair survives weight matching", "report 1-3; Ainsworth et al. 2023",
              "as 1-3.lr-pair-barrier, after matching the second model and the control to the first", "higher",
              "none", "seeds", "train loss above the chord after matching (pair − matched control)",
              control="matched control as for 1-3.lr-pair-barrier"),
    ClaimSpec("1-3.large-batch-gap", "1-3-flatness",
              "At equal training loss, large-batch training generalises worse: a lower test accuracy than the "
              "small batch", "Keskar et al. 2017",
              "paired t over seeds on test accuracy (small batch − large batch of the interpolated pair), both "
              "trained to the training-loss target", "higher for the small batch", "none", "seeds",
              "test accuracy, small − large batch"),
    ClaimSpec("1-3.batch64-best-test", "1-3-flatness", "Batch size 64 gives the best test accuracy", "report 1-3",
              "intersection-union test over seeds: a paired t of (batch 64 − b) for every other batch size b; p is "
              "the largest of their p values (1 for a b that does better), so it is reproduced only when batch 64 "
              "beats every other one", "higher than every other batch size", "none", "seeds",
              "test accuracy, batch 64 − its closest competitor",
              remark="contradicted when some batch size does clearly better than 64"),
    ClaimSpec("1-3.sensitivity-sharpness-unrelated", "1-3-flatness", "Sensitivity and sharpness seem unrelated",
              "report 1-3", "equivalence: the t interval over seeds of the within-seed Spearman ρ of sensitivity "
              "against sharpness inside ± 0.5", "no relation within the margin",
              "± 0.5: a rank correlation under 0.5 in size is at most a weak relation", "seeds",
              "mean within-seed Spearman ρ"),
    ClaimSpec("1-3.small-batch-sensitive", "1-3-flatness", "Sensitivity falls as the batch size grows",
              "report 1-3", "Spearman ρ of batch size against sensitivity within each seed; permutation test "
              "within seeds, t interval over seeds", "negative (the report's direction)", "none", "seeds",
              "mean within-seed Spearman ρ",
              remark="Novak et al. 2018 report the opposite: larger batches, a larger generalisation gap, a "
                     "higher sensitivity; this claim tests the report's direction"),
)

# Claims the quick profile cannot measure, with the reason (design.md, "Claims"); empty today: every claim
# above is measured in the quick profile.
NOT_IN_QUICK: dict[str, str] = {}


def spec(claim_id: str) -> ClaimSpec:
    """The entry of `claim_id`; a suffix after the registered id (`1-1.deeper-lower-loss.fixed-epochs`)
    names a variant of the same claim."""
    if claim_id in REGISTRY:
        return REGISTRY[claim_id]
    for known in sorted(REGISTRY, key=len, reverse=True):
        if claim_id.startswith(known + "."):
            return REGISTRY[known]
    raise KeyError(f"no claim {claim_id!r} in the registry (hwutils/claim_registry.py)")


def args(claim_id: str, suffix: str = "", **fill) -> dict:
    """What `hwutils.claims`' functions take from the entry: id (with an optional variant suffix),
    statement (its placeholders filled from `fill`), source, unit, control and replication."""
    s = spec(claim_id)
    return {"id": claim_id + suffix, "statement": s.statement.format(**fill), "source": s.source, "unit": s.unit,
            "control": s.control, "replication": s.replication}


def for_notebook(stem: str) -> list[ClaimSpec]:
    return [s for s in REGISTRY.values() if s.notebook == stem]


def table(stem: str | None = None):
    """The entries (of one notebook, or all) as a pandas DataFrame: what each claim tests, before the run."""
    import pandas as pd
    rows = [asdict(s) for s in (for_notebook(stem) if stem else REGISTRY.values())]
    cols = ["id", "statement", "source", "test", "direction", "margin", "replication", "control", "remark"]
    return pd.DataFrame(rows, columns=["notebook", *cols, "unit"])[cols].set_index("id")
