"""hwutils.report on tiny stand-in notebooks (no TensorFlow in their kernels, so it stays fast):
resume (after a change of notebook, parameter, code or library version, a missing results.json, a corrupt
state.json), failures and timeouts, the page, --only and -p. The Dask side is in test_sweep.py."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from hwutils import params, paths, report

WRITER = '''
import json, base64, pathlib
out = pathlib.Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
if fail:
    raise RuntimeError("this notebook was asked to fail")
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
(out / "fig.png").write_bytes(png)
(out / "results.json").write_text(json.dumps({"findings": [f"value is {value}"], "figures": ["fig.png"],
    "profile": profile, "seed": 0, "params": {"value": value}, "wall_time": {"total": 0.1, "stages": {}}}))
'''


def fake_notebook(folder: Path, stem: str, extra: str = ""):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    cell = nbformat.v4.new_code_cell("profile = None\nout_dir = None\nvalue = 1\nfail = False")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(WRITER + extra)]
    nbformat.write(nb, folder / f"{stem}.ipynb")


@pytest.fixture
def fake_project(tmp_path, monkeypatch):
    notebooks, build = tmp_path / "notebooks", tmp_path / "build"
    notebooks.mkdir()
    stems = ["1-1-a", "1-2-b", "1-3-c"]
    for stem in stems:
        fake_notebook(notebooks, stem)
    monkeypatch.setattr(paths, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(paths, "BUILD", build)
    monkeypatch.setattr(report, "RUN_LIST", [report.Entry(s) for s in stems])
    spec = [params.Param("profile", "str", optional=True), params.Param("out_dir", "str", optional=True),
            params.Param("value", "int", 1, 1, 1), params.Param("fail", "bool", False, False, False)]
    monkeypatch.setattr(params, "SPECS", {s: spec for s in stems})
    # Other people edit hwutils while these tests run; the code hash is tested on its own below.
    frozen = report.code_hash()
    monkeypatch.setattr(report, "code_hash", lambda root=None: frozen)
    return notebooks, build


def value_of(build, stem):
    return json.loads((build / stem / "results.json").read_text())["params"]["value"]


def test_resume_skips_unchanged_and_reruns_changed(fake_project, capsys):
    notebooks, build = fake_project
    assert report.main(["--profile", "smoke"]) == 0
    first = capsys.readouterr().out
    assert first.count(": ok in") == 3 and "[3/3]" in first
    assert report.main(["--profile", "smoke"]) == 0
    assert capsys.readouterr().out.count("skipped, unchanged") == 3
    fake_notebook(notebooks, "1-2-b", extra="\n# edited")
    assert report.main(["--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped, unchanged") == 2 and "1-2-b: ok in" in out
    assert report.main(["--profile", "smoke", "--force", "--only", "1-1-*"]) == 0
    assert "1-1-a: ok in" in capsys.readouterr().out
    assert report.main(["--profile", "smoke", "--force", "--only", "1-1-*", "--only", "1-3"]) == 0
    out = capsys.readouterr().out
    assert "1-1-a: ok in" in out and "1-3-c: ok in" in out and "1-2-b" not in out


def test_only_and_param_reach_the_notebooks(fake_project, capsys):
    _, build = fake_project
    assert report.main(["--profile", "smoke", "--only", "1-3", "-p", "value", "7"]) == 0
    assert value_of(build, "1-3-c") == 7
    assert not (build / "1-1-a").exists()
    assert report.main(["--profile", "smoke", "-p", "nonexistent", "1"]) == 2


class Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.failed = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "failed" in (attrs.get("class") or "").split():
            self.failed += 1


def test_failure_gives_nonzero_exit_and_a_page_that_marks_it(fake_project, capsys):
    _, build = fake_project
    assert report.main(["--profile", "smoke", "--only", "1-2-b", "-p", "fail", "True"]) == 1
    assert report.main(["--profile", "smoke", "--only", "1-[13]-*"]) == 0
    page = build / "report" / "index.html"
    parser = Images()
    parser.feed(page.read_text())
    text = page.read_text()
    assert len(parser.images) == 2 and "value is 1" in text
    for src in parser.images:
        assert (page.parent / src).is_file(), src
    assert report.main(["--profile", "smoke", "--only", "1-2-b", "-p", "fail", "True"]) == 1
    parser = Images()
    parser.feed(page.read_text())
    assert parser.failed == 1 and "asked to fail" in page.read_text()
    assert "FAILED: 1-2-b" in capsys.readouterr().err


CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


# CI installs Chromium (.ci/run), so there the browser test must run, never skip.
@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="no headless Chromium on this machine (Debian package: chromium)")
def test_page_loads_every_figure_in_headless_chromium(fake_project, tmp_path):
    assert CHROMIUM is not None, "CI must run the browser test: install Debian's chromium (.ci/run does)"
    _, build = fake_project
    assert report.main(["--profile", "smoke"]) == 0
    (build / "1-2-b" / "fig.png").unlink()  # one figure missing: the page must say so
    page = build / "report" / "index.html"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # The loaded figures stay <img>; the missing one was replaced by its message when it failed to load.
    assert dom.count("<img") == 2
    assert dom.count('<p class="missing-figure">figure missing: fig.png</p>') == 1
    # As rendered, the page opens with the section scorecards, and every figure has a caption.
    assert dom.index('class="scorecard"') < dom.index('class="entry"') and dom.count('class="scorecard"') == 3
    assert dom.count("<figcaption>") == 3
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--window-size=1200,900",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_resume_after_a_corrupt_state_a_changed_parameter_and_a_missing_results_file(fake_project, capsys):
    _, build = fake_project
    state_path = build / "report" / "state.json"
    one = ["--profile", "smoke", "--only", "1-1-a"]
    assert report.main(one) == 0
    assert json.loads(state_path.read_text())["1-1-a"]["status"] == "ok"
    assert not [p for p in state_path.parent.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    state_path.write_text('{"1-1-a": {"status": "ok", "fingerp')  # an interrupted in-place write
    assert report.main(one) == 0  # reported, rerun, never a crash
    out, err = capsys.readouterr()
    assert "state.json is unreadable" in err and "1-1-a: ok in" in out
    assert (state_path.parent / "state.json.corrupt").is_file()
    assert json.loads(state_path.read_text())["1-1-a"]["status"] == "ok"
    assert report.main([*one, "-p", "value", "2"]) == 0
    assert "1-1-a: ok in" in capsys.readouterr().out and value_of(build, "1-1-a") == 2
    assert report.main([*one, "-p", "value", "2"]) == 0
    assert "skipped, unchanged" in capsys.readouterr().out
    (build / "1-1-a" / "results.json").unlink()
    assert report.main([*one, "-p", "value", "2"]) == 0
    assert "1-1-a: ok in" in capsys.readouterr().out and value_of(build, "1-1-a") == 2


def test_a_timeout_is_a_recorded_failure(fake_project, capsys):
    _, build = fake_project
    assert report.main(["--profile", "smoke", "--only", "1-3-c", "--timeout", "0.2"]) == 1
    entry = json.loads((build / "report" / "state.json").read_text())["1-3-c"]
    assert entry["status"] == "failed" and "timed out" in entry["message"] and entry["fingerprint"] is None
    assert "FAILED: 1-3-c" in capsys.readouterr().err


def test_unreadable_entries_are_dropped_with_a_warning(tmp_path, capsys):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"a": 5, "b": {"status": "ok"}}))
    assert report.load_state(path) == {"b": {"status": "ok"}}
    assert "unreadable entries a" in capsys.readouterr().err
    path.write_text("[1, 2]")
    assert report.load_state(path) == {}
    assert "expected a JSON object" in capsys.readouterr().err


def test_an_interrupted_write_keeps_the_old_state(tmp_path):
    path = tmp_path / "state.json"
    report.save_state(path, {"a": {"status": "ok"}})
    with pytest.raises(UnicodeEncodeError):  # the write fails half-way (a lone surrogate cannot be encoded)
        report.write_atomic(path, '{"a": "\ud800"}')
    assert json.loads(path.read_text()) == {"a": {"status": "ok"}}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_fingerprint_follows_code_versions_parameters_but_not_the_report_machinery(tmp_path):
    package = tmp_path / "hwutils"
    shutil.copytree(Path(report.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "experiments").mkdir(exist_ok=True)
    (package / "experiments" / "common.py").write_text("x = 1\n")
    base = report.code_hash(package)
    (package / "report.py").write_text("# orchestration only\n")
    assert report.code_hash(package) == base
    shutil.rmtree(package / "experiments")  # the package may go: a different hash, no error
    without = report.code_hash(package)
    assert without != base
    (package / "measures.py").write_text((package / "measures.py").read_text() + "\n# edited\n")
    assert report.code_hash(package) != without
    nb = tmp_path / "n.ipynb"
    nb.write_text("{}")
    versions = report.library_versions()
    assert {"tensorflow", "numpy", "keras", "python"} <= set(versions)
    fp = report.fingerprint(nb, {"seed": 0, "out_dir": "/a"}, "code", versions)
    assert fp == report.fingerprint(nb, {"seed": 0, "out_dir": "/b"}, "code", versions)
    assert fp != report.fingerprint(nb, {"seed": 1}, "code", versions)
    assert fp != report.fingerprint(nb, {"seed": 0}, "code", {**versions, "numpy": "0.0"})
    assert fp != report.fingerprint(nb, {"seed": 0}, "other code", versions)


def test_the_fingerprint_follows_a_profile_change(fake_project, capsys):
    _, build = fake_project
    one = ["--only", "1-1-a"]
    assert report.main(["--profile", "smoke", *one]) == 0
    smoke = json.loads((build / "report" / "state.json").read_text())["1-1-a"]["fingerprint"]
    capsys.readouterr()
    assert report.main(["--profile", "quick", *one]) == 0  # the same parameters otherwise: run again
    assert "1-1-a: ok in" in capsys.readouterr().out
    quick = json.loads((build / "report" / "state.json").read_text())["1-1-a"]["fingerprint"]
    assert quick != smoke and json.loads((build / "1-1-a" / "results.json").read_text())["profile"] == "quick"
    assert report.main(["--profile", "quick", *one]) == 0
    assert "skipped, unchanged" in capsys.readouterr().out


DRIVER = '''import json, sys
from pathlib import Path
from hwutils import params, paths, report
notebooks, build, stems = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
paths.NOTEBOOKS, paths.BUILD = notebooks, build
report.RUN_LIST = [report.Entry(s) for s in stems]
spec = [params.Param("profile", "str", optional=True), params.Param("out_dir", "str", optional=True),
        params.Param("value", "int", 1, 1, 1), params.Param("fail", "bool", False, False, False)]
params.SPECS = {s: spec for s in stems}
sys.exit(report.main(sys.argv[4:]))
'''

# 1-2-b waits (the first time) until the report is killed; its checkpointed loop has saved some epochs by then.
SLOW = '''
import time
from hwutils import checkpoints
here = pathlib.Path(TMP)  # the test's folder (out_dir is the task's scratch folder)
marker = here / "killed-once"
store = checkpoints.Checkpoints(checkpoints.folder_for(out_dir, None), {"params": "toy"}, every=1)
loop = store.loop("toy loop")
found = loop.restore()
start, total = (found[0]["epoch"], found[0]["tree"]["total"]) if found else (0, 0)
if found:
    loop.resumed(start, 6)
for epoch in range(start, 6):
    total += epoch * epoch
    loop.save(epoch + 1, 6, {"total": total})
    if epoch == 2 and not marker.exists():
        (here / "waiting").write_text("")
        time.sleep(120)
(out / "results.json").write_text(json.dumps({"findings": [], "figures": [], "profile": profile, "seed": 0,
    "params": {"value": value}, "total": total, "started_at": start, "resumed": store.resumed}))
store.finish()
'''


def test_a_killed_report_keeps_what_finished_and_its_rerun_resumes_the_interrupted_notebook(fake_project, tmp_path):
    notebooks, build = fake_project
    fake_notebook(notebooks, "1-2-b", extra=SLOW.replace("TMP", repr(str(tmp_path))))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    args = [sys.executable, str(driver), str(notebooks), str(build), json.dumps(["1-1-a", "1-2-b", "1-3-c"]),
            "--profile", "smoke"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])})
    deadline = time.time() + 180
    while not (tmp_path / "waiting").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert (tmp_path / "waiting").exists(), proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)  # the report itself, in the middle of 1-2-b's training
    proc.wait(timeout=60)
    state = json.loads((build / "report" / "state.json").read_text())
    assert state["1-1-a"]["status"] == "ok" and state["1-1-a"]["fingerprint"]  # the finished notebook is kept
    assert "1-2-b" not in state and "1-3-c" not in state
    saved = sorted(p.name for p in (build / "report" / "checkpoints" / "1-2-b" / "toy_loop-0").iterdir())
    assert saved[-1] == "epoch-00000003"
    (tmp_path / "killed-once").write_text("")
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(Path(report.__file__).parents[1])})
    assert rerun.returncode == 0, rerun.stderr
    assert "1-1-a: skipped, unchanged" in rerun.stdout and "resumed from checkpoints: toy loop at epoch 3 of 6" \
        in rerun.stdout
    results = json.loads((build / "1-2-b" / "results.json").read_text())
    assert results["started_at"] == 3 and results["total"] == sum(e * e for e in range(6))
    assert not (build / "report" / "checkpoints" / "1-2-b").exists()  # deleted once the notebook finished


def test_a_worker_that_does_not_see_the_checkpoint_folder_says_the_notebook_would_start_over(tmp_path):
    root = tmp_path / "checkpoints"
    token = report.mark_checkpoint_root(root)
    assert report.mark_checkpoint_root(root) == token  # stable across reruns
    folder, note = report.checkpoint_folder({"checkpoint_dir": str(root / "job"), "checkpoint_token": token})
    assert folder == root / "job" and note == ""
    folder, note = report.checkpoint_folder({"checkpoint_dir": str(root / "job"), "checkpoint_token": "elsewhere"})
    assert folder != root / "job" and "not shared" in note and "starts over" in note


def test_a_missing_dataset_stops_the_report_before_any_notebook(tmp_path, monkeypatch, capsys):
    """Offline, with MNIST nowhere on disk, the standard profile's report names the dataset, the entries that
    need it and where to put it, and runs nothing."""
    import time
    monkeypatch.setenv("HWUTILS_OFFLINE", "1")
    monkeypatch.setenv("HWUTILS_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    from hwutils import data
    monkeypatch.setattr(data, "default_roots", lambda: [tmp_path / "empty"])
    start = time.monotonic()
    code = report.main(["--profile", "standard", "--only", "1-2-trajectories", "--only", "1-1-simulate-function-sinc"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - start < 10
    assert "missing dataset" in err and "mnist (needed by 1-2-trajectories)" in err and "Fix: put" in err
    assert not (tmp_path / "build" / "1-1-simulate-function-sinc" / "results.json").exists()
