"""The nine notebooks read as experiments: no plumbing in their cells (no lambdas, no `# noqa`, no functions
defined), every figure saved with a caption, and a closing "What this run shows" whose sentences come from
hwutils.conclusions; committed without outputs."""
import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
FORBIDDEN = {"lambda": re.compile(r"\blambda\b"), "# noqa": re.compile(r"#\s*noqa"), "def": re.compile(r"^\s*def\s", re.M)}


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_the_nine_notebooks_are_here():
    assert [p.stem for p in NOTEBOOKS] == sorted([
        "1-1-simulate-function", "1-1-actual-tasks", "1-2-trajectories", "1-2-gradient-norm", "1-2-zero-gradient",
        "1-2-error-surface", "1-3-random-labels", "1-3-parameters", "1-3-flatness"])


def offences(code: str) -> list[str]:
    """What in a code cell is plumbing that belongs in hwutils."""
    found = [name for name, pattern in FORBIDDEN.items() if pattern.search(code)]
    try:
        tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return found + ["does not parse"]
    if any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) for node in ast.walk(tree)):
        found.append("a function or class defined")
    return sorted(set(found))


def test_the_scan_finds_what_it_forbids():
    assert offences("f = lambda x: x") == ["a function or class defined", "lambda"]
    assert offences("x = 1  # noqa: E731") == ["# noqa"]
    assert offences("def grid(t):\n    return t") == ["a function or class defined", "def"]
    assert offences("y = undefined_name(1)\nprint('lambda is a word in a string')") == ["lambda"]  # strict on purpose
    assert offences("model.fit(x, y)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_plumbing_in_the_cells(path):
    bad = {i: offences(source(c)) for i, c in enumerate(cells(path)) if c["cell_type"] == "code"}
    assert not {i: o for i, o in bad.items() if o}, f"{path.name}: move these into hwutils"


def uncaptioned(code: str) -> list[int]:
    """The lines of the save_fig calls in `code` that give no caption: no caption= keyword, or an empty or
    None literal (a count of the text 'caption=' would pass `caption=''`)."""
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "save_fig":
            given = next((k.value for k in node.keywords if k.arg == "caption"), None)
            if given is None or (isinstance(given, ast.Constant) and not (isinstance(given.value, str)
                                                                         and given.value.strip())):
                bad.append(node.lineno)
    return bad


def test_the_caption_scan_finds_a_missing_or_empty_caption():
    assert uncaptioned("plots.save_fig(fig, P, 'a', caption=f'the {x}')\nsave_fig(fig, P, 'b', caption=text)") == []
    assert uncaptioned("plots.save_fig(fig, P, 'a')\nplots.save_fig(fig, P, 'b', caption='')\n"
                       "plots.save_fig(fig, P, 'c', caption=None)\nplots.save_fig(fig, P, 'd', caption='  ')") == [1, 2, 3, 4]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_a_caption_and_the_run_ends_with_what_it_shows(path):
    nb = cells(path)
    saves = [source(c) for c in nb if c["cell_type"] == "code" and "save_fig(" in source(c)]
    assert saves and all(s.count("save_fig(") == s.count("caption=") for s in saves)
    assert not {i: lines for i, s in enumerate(saves) if (lines := uncaptioned(s))}, "a figure without a caption"
    heading = [i for i, c in enumerate(nb) if c["cell_type"] == "markdown" and "## What this run shows" in source(c)]
    assert len(heading) == 1, "one closing section"
    closing = nb[heading[0] + 1]
    assert closing["cell_type"] == "code" and "conclusions.show(" in source(closing)
    claims = max(i for i, c in enumerate(nb) if c["cell_type"] == "code" and "report_claims(" in source(c))
    assert heading[0] > claims  # after the claims it reads


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_with_kernel_python3(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_title_cell_says_which_claims_the_standard_profile_decides(path):
    from hwutils import claim_registry
    title = source(cells(path)[0])
    assert "**What the standard profile decides**" in title, f"{path.stem}: no standard-profile paragraph"
    paragraph = title.split("**What the standard profile decides**", 1)[1].split("\n\n", 1)[0]
    named = {m.replace("<dataset>", "").rstrip(".") for m in re.findall(r"`(1-[123]\.[a-z0-9.<>-]+)`", paragraph)}
    own = {c.id for c in claim_registry.for_notebook(path.stem)}
    assert named, f"{path.stem}: the paragraph names no claim"
    unknown = {n for n in named if not any(o == n or o.startswith(n + ".") for o in own)}
    assert not unknown, f"{path.stem}: names claims that are not this notebook's: {sorted(unknown)}"
    # every claim of the notebook is placed: decided by the standard sizes, or said not to be (with n needed)
    ids = {o.split(".")[0] + "." + o.split(".")[1] for o in own}
    short = {i.split(".", 1)[1] for i in ids}
    missing = {s for s in short if s not in paragraph}
    assert not missing, f"{path.stem}: the paragraph does not place {sorted(missing)}"
