"""claims_table: the README's and docs' tables of a run's claims, and two runs side by side."""
from hwutils import claims_table


def claim(cid, entry, verdict, holm, n, needed=None):
    return {"id": cid, "entry": entry, "verdict": verdict, "holm_verdict": holm, "n": n, "effect": 0.5,
            "interval": [0.1, 0.9], "p": 0.01, "holm_p": 0.04, "unit": "u",
            "n_needed": {"text": needed} if needed else None}


QUICK = [claim("1-1.one-two-equal.digits", "1-1-actual-tasks", "inconclusive", "inconclusive", 5, "9–61 seeds"),
         claim("1-3.params-gap", "1-3-parameters", "reproduced", "reproduced", 3)]
STANDARD = [dict(claim("1-1.one-two-equal.mnist", "1-1-actual-tasks-mnist", "reproduced", "inconclusive", 8),
                 n_needed_holm={"text": "about 14 seeds for an even chance at Holm's first threshold 0.05/3"}),
            claim("1-3.params-gap", "1-3-parameters", "contradicted", "contradicted", 5),
            claim("1-2.index-vs-loss", "1-2-zero-gradient", "inconclusive", "inconclusive", 100, "65 to > 200 runs"),
            dict(claim("1-2.gradnorm-lagged", "1-2-gradient-norm", "inconclusive", "inconclusive", 8, "50 runs"),
                 holm_note="its smallest attainable p is above Holm's first threshold")]


def test_base_id_drops_only_a_dataset_suffix():
    assert claims_table.base_id("1-1.one-two-equal.fashion_mnist") == "1-1.one-two-equal"
    assert claims_table.base_id("1-2.gradnorm-lagged-image") == "1-2.gradnorm-lagged-image"
    assert claims_table.base_id("1-3.params-gap") == "1-3.params-gap"


def test_compact_puts_each_profiles_verdict_of_the_same_claim_side_by_side():
    rows = claims_table.compact(QUICK, STANDARD).splitlines()
    one_two = next(r for r in rows if "one-two-equal.mnist" in r)
    assert "| inconclusive (n 5) | reproduced (n 8; Holm: inconclusive) |" in one_two  # matched across datasets
    assert one_two.endswith("| about 14 seeds for an even chance at Holm's first threshold 0.05/3 |")
    gap = next(r for r in rows if "params-gap" in r)
    assert "| reproduced (n 3) | contradicted (n 5) |" in gap
    index = next(r for r in rows if "index-vs-loss" in r)
    assert "| — | inconclusive (n 100) | 65 to > 200 runs |" in index  # no quick claim: a dash
    assert rows[-1] == "standard: 4 claims, after Holm 0 reproduced, 1 contradicted, 3 inconclusive."


def test_budget_says_what_would_decide_what_the_standard_run_leaves_undecided():
    rows = claims_table.budget(QUICK, STANDARD, {"1-2-zero-gradient": "7.5 min"}).splitlines()
    index = next(r for r in rows if "index-vs-loss" in r)
    assert "| 1-2-zero-gradient | 7.5 min |" in index and index.endswith("| 65 to > 200 runs |")
    gap = next(r for r in rows if "params-gap" in r)
    assert gap.endswith("|  |")  # decided after Holm: nothing to add
    lagged = next(r for r in rows if "gradnorm-lagged" in r)  # its own n needed and the floor note, both
    assert lagged.endswith("| 50 runs; its smallest attainable p is above Holm's first threshold |")
    one_two = next(r for r in rows if "one-two-equal" in r)
    assert "reproduced: " in one_two and "inconclusive: " in one_two  # both runs' verdicts, matched
    assert one_two.endswith("| about 14 seeds for an even chance at Holm's first threshold 0.05/3 |")
