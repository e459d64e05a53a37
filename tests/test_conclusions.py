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
