"""What a run shows, in sentences built from its claims: the effect as a ratio where it is a log ratio, the claimed
direction from the registry, and words that follow the verdict (never a fixed text)."""
import math

import pytest

from hwutils import claims, conclusions

LOWER = {"id": "1-1.deeper-lower-loss", "statement": "The deeper net ends lower (sinc)", "source": "report 1-1",
         "effect": 2.34, "unit": "log loss ratio, deep vs shallow", "interval": [1.0, 3.0], "p": 0.004, "n": 8,
         "verdict": "contradicted", "note": "", "replication": "seeds"}


def test_a_log_ratio_is_also_shown_as_its_ratio():
    text = conclusions.readable_effect(LOWER)
    assert text == f"2.34 [1, 3] log loss ratio, deep vs shallow (ratio ×{math.exp(2.34):.3g} [×2.72, ×20.1])"
    assert conclusions.ratio_text({**LOWER, "unit": "log(σ_min / σ*)"}).startswith("×10.4")
    assert conclusions.ratio_text({**LOWER, "unit": "log-log slope of the median |Δloss|"}) == ""
    assert conclusions.ratio_text({**LOWER, "unit": "log-log slope of |Δloss| / σ"}) == ""  # a slope, not a ratio
    assert conclusions.ratio_text({**LOWER, "unit": "mean within-seed Spearman ρ"}) == ""
    assert conclusions.ratio_text({**LOWER, "effect": None}) == ""


def test_the_sentence_follows_the_verdict_and_names_the_claimed_direction():
    said = conclusions.conclusion(LOWER)
    assert said.startswith("Contradicted — The deeper net ends lower (sinc): the effect, 2.34")
    assert "goes the other way (the claim expects: lower (negative log ratio))" in said
    assert "p = 0.004, n = 8 seeds" in said
    said = conclusions.conclusion({**LOWER, "effect": -2.34, "interval": [-3.0, -1.0], "verdict": "reproduced"})
    assert said.startswith("Reproduced — ") and "goes the claimed way" in said and "×0.0963" in said
    said = conclusions.conclusion({**LOWER, "interval": [-1.0, 3.0], "p": 0.3, "verdict": "inconclusive",
                                   "note": "the interval includes no effect; n needed (an estimate): 9–20 seeds",
                                   "n_needed": {"text": "9–20 seeds"}})
    assert said.startswith("Undecided — ") and "the interval includes no effect" in said
    assert said.endswith("Seeds or runs that would decide it: 9–20 seeds.") and said.count("n needed") == 0


def test_what_this_run_shows_from_real_claims():
    rng = __import__("numpy").random.default_rng(0)
    found = [claims.paired("a.b", "a statement", "a source", rng.normal(1, 0.1, 6), rng.normal(0, 0.1, 6),
                           direction=1, unit="difference"),
             claims.paired("a.c", "another", "a source", rng.normal(0, 1, 6), rng.normal(0, 1, 6), direction=1,
                           unit="difference")]
    lines = conclusions.what_this_run_shows(found)
    assert lines[0] == f"This run tested 2 claims: {sum(c.verdict == 'reproduced' for c in found)} reproduced, " \
                       f"{sum(c.verdict == 'contradicted' for c in found)} contradicted, " \
                       f"{sum(c.verdict == 'inconclusive' for c in found)} undecided."
    assert lines[1].startswith("Reproduced — a statement") and len(lines) == 3


def test_show_prints_the_sentences(capsys):
    conclusions.show([LOWER])
    out = capsys.readouterr().out
    assert out.startswith("This run tested 1 claim: 0 reproduced, 1 contradicted, 0 undecided.")


def test_an_equivalence_verdict_is_said_as_the_interval_inside_or_outside_the_margin():
    """A claim of equality is reproduced when its whole interval lies inside the margin: its interval then holds
    0, so 'goes the claimed way and excludes no effect' would say the opposite of what was found."""
    import numpy as np
    rng = np.random.default_rng(1)
    equal = claims.equivalence("1-1.one-two-equal.mnist", "One and two hidden layers reach about the same test "
                               "accuracy (digits)", "report 1-1", rng.normal(0, 0.002, 8), target=0.0, margin=0.02,
                               unit="test accuracy, 2 hidden − 1 hidden")
    assert equal.verdict == "reproduced" and equal.interval[0] < 0 < equal.interval[1]
    said = conclusions.conclusion(equal.as_dict())
    assert said.startswith("Reproduced — ") and "inside the margin" in said
    assert "excludes no effect" not in said and "claimed way" not in said
    apart = claims.equivalence("1-1.one-two-equal.mnist", "same", "report 1-1", rng.normal(0.1, 0.002, 8),
                               target=0.0, margin=0.02)
    assert apart.verdict == "contradicted"
    said = conclusions.conclusion(apart.as_dict())
    assert "wholly outside the margin" in said and "excludes no effect" not in said
    # without a registry entry, the claim's own note (its margin) says it is one of equality
    assert conclusions.test_kind({**equal.as_dict(), "id": "mine.equal"}) == "equivalence"


def test_an_every_run_verdict_names_the_runs_that_fail_or_that_all_pass():
    failing = claims.every_run("1-2.runs-accurate", "Every run reaches 97%", "report 1-2",
                               [0.99, 0.98, 0.5, 0.99, 0.99, 0.2, 0.99], threshold=0.97)
    assert failing.verdict == "contradicted"
    said = conclusions.conclusion(failing.as_dict())
    assert said.startswith("Contradicted — ") and "2 of the 7 runs fall short" in said
    assert "excludes no effect" not in said and "other way" not in said
    passing = claims.every_run("1-2.runs-accurate", "Every run reaches 97%", "report 1-2", [0.99] * 7, 0.97)
    said = conclusions.conclusion(passing.as_dict())
    assert passing.verdict == "reproduced" and "every one of the 7 runs passes" in said


def test_the_sentence_says_what_holm_makes_of_a_decided_claim():
    decided = {**LOWER, "effect": -2.34, "interval": [-3.0, -1.0], "verdict": "reproduced", "p": 0.004}
    family = claims.holm([decided] + [{**LOWER, "id": f"x{i}", "verdict": "inconclusive", "p": 0.5}
                                      for i in range(19)])
    assert family[0]["holm_verdict"] == "inconclusive"  # 20 × 0.004 > 0.05
    said = conclusions.conclusion(family[0])
    assert said.startswith("Reproduced — ") and "After Holm's adjustment over the report's 20 claims (p = 0.08) " \
                                                "it is inconclusive" in said
    assert conclusions.summary(family).endswith("after Holm's adjustment: 0 reproduced, 0 contradicted, 20 undecided.")
    need = family[0]["n_needed_holm"]["text"]
    assert said.endswith(f"on its own test alone it would be reproduced; {need}.")  # what would carry it past Holm
    floored = claims.holm([{**decided, "min_p": 0.004}] + family[1:])[0]  # held back by its smallest attainable p
    assert floored["n_needed_holm"] is None
    assert conclusions.conclusion(floored).endswith("it would be reproduced. Its smallest attainable p (0.004 at n = "
                                                    f"{decided['n']}) is above Holm's first threshold 0.05/20: at this n "
                                                    "it can pass only after 8 other claims of the family pass.")
    kept = claims.holm([decided])[0]
    assert "it stays reproduced" in conclusions.conclusion(kept)
    assert "Holm" not in conclusions.conclusion(decided) and "Holm" not in conclusions.summary([decided])
