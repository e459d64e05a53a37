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
    """Collects ids, the claim rows (their text and classes), the scorecards' text, figures with their captions,
    and the order in which h2 headings, scorecards and claim rows appear."""

    def __init__(self):
        super().__init__()
        self.ids, self.rows, self.order, self.cards, self.figures = set(), [], [], {}, []
        self._row = self._card = self._caption = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "h2":
            self.order.append(("h2", attrs.get("id")))
        if tag == "div" and "scorecard" in (attrs.get("class") or "").split():
            self._card = attrs["data-section"]
            self.cards[self._card] = ""
            self.order.append(("scorecard", self._card))
        if tag == "tr" and "claim" in (attrs.get("class") or "").split():
            self._row = {"links": [], "text": "", "classes": []}
            self.order.append(("claim", None))
        if tag == "img":
            self.figures.append({"src": attrs["src"], "caption": ""})
        if tag == "figcaption":
            self._caption = self.figures[-1]
        if self._row is not None:
            if tag == "a":
                self._row["links"].append(attrs.get("href"))
            self._row["classes"] += (attrs.get("class") or "").split()

    def handle_endtag(self, tag):
        if tag == "div":
            self._card = None  # a scorecard holds no nested div
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag == "figcaption":
            self._caption = None

    def handle_data(self, data):
        if self._row is not None:
            self._row["text"] += data + " "
        if self._card is not None:
            self.cards[self._card] += data + " "
        if self._caption is not None:
            self._caption["caption"] += data


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    for entry_id, claims in CLAIMS.items():
        out = tmp_path / "build" / entry_id
        out.mkdir(parents=True)
        (out / "results.json").write_text(json.dumps({
            "notebook": entry_id, "profile": "quick", "seed": 0, "params": {},
            "findings": [f"{c['statement']} — {c['verdict']}" for c in claims], "claims": claims,
            "wall_time": {"total": 1.0, "stages": {}}, "versions": {"keras": "3.15.1"}, "device": "CPU (2 cores)",
            "figures": ["loss.png", "uncaptioned.png"],
            "captions": {"loss.png": f"Training loss of {entry_id}: median and interquartile band."}}))
    (tmp_path / "build" / "report").mkdir()
    return tmp_path / "build"


def write(build, outcomes=None):
    entries = [Entry("1-1-a"), Entry("1-2-b"), Entry("1-3-c")]
    outcomes = outcomes or {e: {"status": "ok", "skipped": False} for e in ("1-1-a", "1-2-b")}
    path = report_page.write_page(build / "report" / "index.html", entries, outcomes, "quick")
    page = Page()
    page.feed(path.read_text())
    return page, path.read_text()


def test_page_opens_with_a_scorecard_per_section_then_the_entries(build):
    page, text = write(build)
    kinds = [kind for kind, _ in page.order]
    assert kinds.index("scorecard") < kinds.index("claim")  # the scorecards come first
    first_section = page.order.index(("h2", "section-1-1"))
    assert all(i < first_section for i, (kind, _) in enumerate(page.order) if kind == "scorecard")
    assert all(i > first_section for i, (kind, _) in enumerate(page.order) if kind == "claim")
    assert set(page.cards) == {"1-1", "1-2", "1-3"}
    assert "1 reproduced, 1 contradicted, 0 inconclusive of 2 claims" in " ".join(page.cards["1-1"].split())
    # Holm over the family of 3: 3 × 0.01 = 0.03 and max(0.03, 2 × 0.02) = 0.04 still decide; None enters as 1
    assert "after Holm: 1 reproduced, 1 contradicted, 0 inconclusive" in " ".join(page.cards["1-1"].split())
    assert "0 reproduced, 0 contradicted, 1 inconclusive of 1 claims" in " ".join(page.cards["1-2"].split())
    assert "no results from 1-3-c" in page.cards["1-3"]
    assert "1 reproduced, 1 contradicted, 1 inconclusive</b> of 3 claims" in text
    assert "after Holm over all 3: <b>1 reproduced, 1 contradicted</b>" in text
    family = json.loads((build / "report" / "claims.json").read_text())
    assert [round(c["holm_p"], 6) for c in family] == [0.03, 0.04, 1.0] and family[0]["entry"] == "1-1-a"


def test_each_claim_appears_once_in_its_entry_with_a_readable_effect_and_the_claimed_direction(build):
    page, text = write(build)
    assert len(page.rows) == 3  # once each: no opening table that repeats them
    for row, claim in zip(page.rows, [c for cs in CLAIMS.values() for c in cs]):
        assert claim["statement"] in row["text"] and claim["source"] in row["text"]
        assert claim["verdict"] in row["classes"]  # coloured by its verdict
    # a log ratio also as its ratio: exp(0.42) = 1.52, exp(0.1) = 1.11, exp(0.7) = 2.01
    assert "0.42 [0.1, 0.7] log ratio (ratio ×1.52 [×1.11, ×2.01])" in page.rows[0]["text"]
    assert "×" not in page.rows[1]["text"]  # epochs: not a log ratio
    assert "lower (negative log ratio)" in page.rows[0]["text"]  # the registry's claimed direction
    assert "0.03" in page.rows[0]["text"] and "0.04" in page.rows[1]["text"]
    # an undecided claim says why, and names its control
    assert "every run diverged" in page.rows[2]["text"] and "circular shifts" in page.rows[2]["text"]
    assert "&lt;sinc&gt;" in text and "<sinc>" not in text  # escaped
    assert "not run: no claims" in text


def test_every_figure_has_a_caption_and_a_pdf_link(build):
    page, text = write(build)
    assert len(page.figures) == 4
    captions = [f["caption"] for f in page.figures]
    assert "Training loss of 1-1-a: median and interquartile band." in captions[0]
    assert "uncaptioned (the notebook gave no caption)" in captions[1]
    assert all(f["caption"].strip() for f in page.figures)
    assert 'href="../1-1-a/loss.pdf"' in text


def test_environment_commit_and_fingerprint_once_and_when_a_skipped_entry_ran(build):
    outcomes = {"1-1-a": {"status": "ok", "skipped": True, "finished": "2026-12-01T12:35:14", "fingerprint": "f1"},
                "1-2-b": {"status": "ok", "skipped": False, "finished": "2026-12-01T13:00:00", "fingerprint": "f2"}}
    page, text = write(build, outcomes)
    assert text.count("keras 3.15.1") == 1 and text.count("CPU (2 cores)") == 1
    assert text.count("commit ") == 1 and text.count("run fingerprint ") == 1
    assert page.order.index(("h2", "environment")) > page.order.index(("h2", "section-1-3"))
    assert "unchanged since its run of 2026-12-01 12:35:14" in text
    assert 'class="status' not in text.split('id="1-3-c"')[0]  # no badge on the entries that ran or were skipped
    assert '<span class="status missing">' in text  # the entry that never ran has one


def test_failed_entry_shows_no_stale_claims(build):
    outcomes = {"1-1-a": {"status": "ok", "skipped": False},
                "1-2-b": {"status": "failed", "message": "boom", "skipped": False}}
    page, text = write(build, outcomes)
    assert len(page.rows) == 2 and "every run diverged" not in text
    assert '<span class="status failed">failed</span>' in text and "boom" in text


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
    assert "after Holm: 1 reproduced, 0 contradicted, 1 inconclusive" in " ".join(page.cards["1-1"].split())


def test_an_inconclusive_claim_says_what_would_decide_it(build):
    path = build / "1-2-b" / "results.json"
    results = json.loads(path.read_text())
    results["claims"][0]["n_needed"] = {"at_estimate": 12, "at_far_end": 5, "text": "5–12 runs"}
    path.write_text(json.dumps(results))
    page, _ = write(build)
    assert "5–12 runs" in page.rows[2]["text"]
