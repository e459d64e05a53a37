"""The report page opens with every claim of every entry, linked to its entry, on hand-written results.json
files (no notebook runs)."""
import json
from html.parser import HTMLParser

import pytest

from hwutils import paths, report_page
from hwutils.report import Entry

CLAIMS = {
    "1-1-a": [{"id": "1-1.deeper-lower-loss", "statement": "the deeper net ends at a lower loss <sinc>",
               "source": "report 1-1", "effect": 0.42, "unit": "log ratio", "interval": [0.1, 0.7], "p": 0.01,
               "n": 5, "verdict": "reproduced", "note": "", "control": ""},
              {"id": "1-1.deeper-earlier", "statement": "it gets there in fewer epochs", "source": "report 1-1",
               "effect": -3.0, "unit": "epochs", "interval": [-5.0, -1.0], "p": 0.02, "n": 5,
               "verdict": "contradicted", "note": "", "control": ""}],
    "1-2-b": [{"id": "1-2.gradnorm-oscillation", "statement": "larger gradient norm, larger oscillation",
               "source": "report 1-2", "effect": None, "unit": "Spearman ρ", "interval": [None, None], "p": None,
               "n": 0, "verdict": "inconclusive", "note": "every run diverged", "control": "circular shifts"}],
}


class Page(HTMLParser):
    """Collects ids, the claim rows of the opening table (their links and text) and where each h2 starts."""

    def __init__(self):
        super().__init__()
        self.ids, self.rows, self.order = set(), [], []
        self._row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "h2":
            self.order.append(("h2", attrs.get("id")))
        if tag == "tr" and "claim" in (attrs.get("class") or "").split():
            self._row = {"links": [], "text": "", "classes": []}
            self.order.append(("claim", None))
        if self._row is not None:
            if tag == "a":
                self._row["links"].append(attrs.get("href"))
            self._row["classes"] += (attrs.get("class") or "").split()

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row is not None:
            self._row["text"] += data + " "


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    for entry_id, claims in CLAIMS.items():
        out = tmp_path / "build" / entry_id
        out.mkdir(parents=True)
        (out / "results.json").write_text(json.dumps({
            "notebook": entry_id, "profile": "quick", "seed": 0, "params": {}, "figures": [],
            "findings": [f"{c['statement']} — {c['verdict']}" for c in claims], "claims": claims,
            "wall_time": {"total": 1.0, "stages": {}}}))
    (tmp_path / "build" / "report").mkdir()
    return tmp_path / "build"


def write(build, outcomes=None):
    entries = [Entry("1-1-a"), Entry("1-2-b"), Entry("1-3-c")]
    outcomes = outcomes or {e: {"status": "ok", "skipped": False} for e in ("1-1-a", "1-2-b")}
    path = report_page.write_page(build / "report" / "index.html", entries, outcomes, "quick")
    page = Page()
    page.feed(path.read_text())
    return page, path.read_text()


def test_page_opens_with_every_claim_linked_to_its_entry(build):
    page, text = write(build)
    assert len(page.rows) == 3
    # the claims table comes before the first section
    first_section = next(i for i, (kind, _id) in enumerate(page.order) if kind == "h2" and _id != "claims")
    assert all(i < first_section for i, (kind, _) in enumerate(page.order) if kind == "claim")
    for row, (entry_id, claim) in zip(page.rows, [(e, c) for e, cs in CLAIMS.items() for c in cs]):
        assert row["links"] == [f"#{entry_id}"] and entry_id in page.ids  # the anchor exists
        assert claim["statement"] in row["text"] and claim["source"] in row["text"]
        assert claim["verdict"] in row["classes"]  # coloured by its verdict
    assert "0.42 [0.1, 0.7] log ratio" in page.rows[0]["text"] and "0.01" in page.rows[0]["text"]
    assert "1-1 Deep vs Shallow" in page.rows[0]["text"] and "1-2 Optimization" in page.rows[2]["text"]
    # an undecided claim says why, and names its control
    assert "every run diverged" in page.rows[2]["text"] and "circular shifts" in page.rows[2]["text"]
    assert "&lt;sinc&gt;" in text and "<sinc>" not in text  # escaped
    assert "1 reproduced, 1 contradicted, 1 inconclusive</b> of 3 claims" in text
    # Holm over the family of 3: 3 × 0.01 = 0.03 and max(0.03, 2 × 0.02) = 0.04 still decide; None enters as 1
    assert "after Holm over all 3: <b>1 reproduced, 1 contradicted</b>" in text
    family = json.loads((build / "report" / "claims.json").read_text())
    assert [round(c["holm_p"], 6) for c in family] == [0.03, 0.04, 1.0] and family[0]["entry"] == "1-1-a"
    assert "0.03" in page.rows[0]["text"] and "0.04" in page.rows[1]["text"]
    # the entry without results is listed in the opening table as having none
    assert "not run: no claims" in text


def test_failed_entry_shows_no_stale_claims(build):
    outcomes = {"1-1-a": {"status": "ok", "skipped": False},
                "1-2-b": {"status": "failed", "message": "boom", "skipped": False}}
    page, text = write(build, outcomes)
    assert len(page.rows) == 2 and "every run diverged" not in text
    assert "the notebook failed: no claims" in text and "boom" in text


def test_results_without_claims_still_show_findings(build):
    path = build / "1-1-a" / "results.json"
    results = json.loads(path.read_text())
    del results["claims"]
    path.write_text(json.dumps(results))
    page, text = write(build)
    assert len(page.rows) == 1 and "this run recorded no claims" in text
    assert "the deeper net ends at a lower loss &lt;sinc&gt; — reproduced" in text  # its findings


def test_holm_over_the_family_can_undo_a_verdict(build):
    """Two claims decided on their own (p = 0.01, 0.04) are not both decided over the family of three."""
    path = build / "1-1-a" / "results.json"
    results = json.loads(path.read_text())
    results["claims"][1]["p"] = 0.04
    path.write_text(json.dumps(results))
    page, text = write(build)
    assert "after Holm over all 3: <b>1 reproduced, 0 contradicted</b>" in text  # 0.01·3 = 0.03; 0.04·2 = 0.08
    assert "inconclusive" in page.rows[1]["classes"] and "contradicted" in page.rows[1]["classes"]


def test_an_inconclusive_claim_says_what_would_decide_it(build):
    path = build / "1-2-b" / "results.json"
    results = json.loads(path.read_text())
    results["claims"][0]["n_needed"] = {"at_estimate": 12, "at_far_end": 5, "text": "5–12 runs"}
    path.write_text(json.dumps(results))
    page, _ = write(build)
    assert "5–12 runs" in page.rows[2]["text"]
