"""Every command in the README, CHANGELOG and docs/ is tried.

Fenced blocks marked quick — a line `<!-- quick -->` right before the fence — run as written from the repository
root (`.venv/bin/` is where this test's Python lives: on a fresh checkout that is the .venv `make` created); keep
them few and seconds long. Every other shell command is checked for what it names: make targets exist in the
Makefile, notebooks and scripts exist, `-p NAME` is a parameter of that notebook (of some notebook for the report),
`--flags` exist in the argparse of the module or script run; Python blocks parse and every `hwutils` name they use
exists; a YAML grid names parameters; relative links point at files.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hwutils import params

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICK = "<!-- quick -->"
# Commands that are not this project's: their own documentation covers their flags.
EXTERNAL = {"dask", "jupyter", "git", "chromium", "pip", "cd", "export", "source", ".", "time", "env", "nvidia-smi"}
REPO_DIRS = ("notebooks/", "benchmarks/", "docs/", "hwutils/", "tests/", "data/", ".ci/")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    quick: bool
    text: str

    def __str__(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    lines, out, i = page.read_text().splitlines(), [], 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\S*)", lines[i])
        if fence:
            start, lang = i, fence.group(2)
            previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            i += 1
            body = []
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i][len(fence.group(1)):])
                i += 1
            out.append(Block(page, start + 1, lang, previous == QUICK, "\n".join(body)))
        i += 1
    return out


ALL = [b for page in PAGES for b in blocks(page)]
SHELL = [b for b in ALL if b.lang in ("bash", "sh", "shell")]
PYTHON = [b for b in ALL if b.lang == "python"]


def commands(text: str) -> list[list[str]]:
    """The commands of a shell block as token lists: comments dropped, continuations joined, a trailing `&` and
    leading VAR=value assignments removed, loop syntax skipped."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        while tokens and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]):
            tokens = tokens[1:]
        if tokens and tokens[-1] == "&":
            tokens = tokens[:-1]
        if tokens and tokens[0] not in ("for", "do", "done", "then", "fi"):
            out.append(tokens)
    return out


# ------------------------------------------------------------------ what a command names
def make_targets() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), re.M)}


def argparse_flags(path: Path) -> set[str]:
    """Every option string given to add_argument in `path` (and in hwutils/report.py's add_cluster_arguments where
    `path` uses it)."""
    source = path.read_text()
    flags = {node.value for call in ast.walk(ast.parse(source)) if isinstance(call, ast.Call)
             and isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument"
             for node in call.args if isinstance(node, ast.Constant) and str(node.value).startswith("-")}
    if "add_cluster_arguments" in source and path.name != "report.py":
        flags |= argparse_flags(ROOT / "hwutils" / "report.py")
    return flags | {"-h", "--help"}


def _is_flag(token: str) -> bool:
    return token.startswith("-") and not re.match(r"^-\d", token)


def _flag_problems(tokens: list[str], known: set[str]) -> list[str]:
    return [f"{t.split('=')[0]} is not an option" for t in tokens if _is_flag(t) and t.split("=")[0] not in known]


def _param_names(tokens: list[str]) -> list[str]:
    return [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t in ("-p", "--param")]


def _paths(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t.startswith(REPO_DIRS) and not (ROOT / t).exists()]


def make_variables(text: str | None = None) -> set[str]:
    """The variables the Makefile reads ($(NAME)) or sets (NAME ?= / := / =)."""
    text = text if text is not None else (ROOT / "Makefile").read_text()
    return set(re.findall(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)", text)) | set(
        re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[?:]?=", text, re.M))


def _value_problems(tokens: list[str], stem: str | None) -> list[str]:
    """`-p NAME VALUE` pairs whose value no notebook declaring NAME accepts (of notebook `stem`, or of any), a
    `--profile` that is not a profile, an `--only` that selects no entry of the report."""
    from hwutils.report import parse_value, run_list
    found = []
    specs = [params.spec(stem)] if stem in params.SPECS else list(params.SPECS.values()) if stem is None else []
    for i, t in enumerate(tokens[:-2]):
        if t in ("-p", "--param"):
            name, value = tokens[i + 1], tokens[i + 2]
            declared = [q for spec in specs for q in spec if q.name == name]
            errors = []
            for q in declared:
                try:
                    params._check(q, parse_value(value))
                except params.ParameterError as err:
                    errors.append(str(err))
            if declared and len(errors) == len(declared):
                found.append(f"-p {name} {value}: {errors[0]}")
    for i, t in enumerate(tokens[:-1]):
        if t == "--profile" and tokens[i + 1] not in params.PROFILES:
            found.append(f"--profile {tokens[i + 1]}: not a profile ({', '.join(params.PROFILES)})")
        if t == "--only" and module_is(tokens[1:3], "hwutils.report") and not any(
                run_list(profile, [tokens[i + 1]]) for profile in params.PROFILES):
            found.append(f"--only {tokens[i + 1]}: no entry of the report matches")
    return found


def problems(tokens: list[str]) -> list[str]:
    """What in one command does not exist; [] when everything it names is there."""
    head, rest = tokens[0], tokens[1:]
    found = [f"{p}: no such file" for p in _paths(tokens)]
    if head == "make":
        found += [f"make {t}: no such target" for t in rest if not _is_flag(t) and "=" not in t
                  and t not in make_targets()]
        found += [f"make {t}: the Makefile has no variable {t.split('=')[0]}" for t in rest
                  if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t) and t.split("=")[0] not in make_variables()]
    elif head.endswith(("python", "python3")):
        if rest[:1] == ["-c"]:
            return found
        if rest[:1] == ["-m"]:
            module, args = rest[1], rest[2:]
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None:
                return found + [f"-m {module}: no such module"]
            found += _flag_problems(args, argparse_flags(Path(spec.origin)))
        else:
            script, args = ROOT / rest[0], rest[1:]
            if not script.is_file():
                return found + [f"{rest[0]}: no such script"]
            found += _flag_problems(args, argparse_flags(script))
        names = _param_names(args)
        if module_is(rest, "hwutils.sweep") and args and args[0].endswith(".ipynb"):
            found += _notebook_params(Path(args[0]).stem, names)
        elif names:
            known = {n for stem in params.SPECS for n in params.names(stem)}
            found += [f"-p {n}: no notebook has this parameter" for n in names if n not in known]
        if not module_is(rest, "hwutils.sweep"):  # a sweep's -p takes several values
            found += _value_problems(tokens, None)
    elif head.endswith("papermill"):
        notebook = next((t for t in rest if t.endswith(".ipynb")), None)
        if notebook is None or not (ROOT / notebook).is_file():
            return found + [f"papermill: no notebook {notebook}"]
        found += _notebook_params(Path(notebook).stem, _param_names(rest))
        found += _value_problems(tokens, Path(notebook).stem)
    elif head in ("bash", "sh"):
        found += [f"{rest[0]}: no such script"] if rest and not (ROOT / rest[0]).is_file() else []
    elif head not in EXTERNAL and not head.endswith(("/activate", "jupyter", "dask")):
        found.append(f"{head}: a command this test does not know; add how to check it")
    return found


def module_is(rest: list[str], name: str) -> bool:
    return rest[:2] == ["-m", name]


def _notebook_params(stem: str, names: list[str]) -> list[str]:
    if stem not in params.SPECS:
        return []  # a notebook of one's own: its parameters are its own
    return [f"-p {n}: not a parameter of {stem}" for n in names if n not in params.names(stem)]


# ------------------------------------------------------------------ the checker, on commands known good and bad
def test_the_checker_finds_what_does_not_exist():
    assert problems(["make", "report"]) == []
    assert problems(["make", "reprot"]) == ["make reprot: no such target"]
    assert problems([".venv/bin/papermill", "notebooks/1-3-flatness.ipynb", "out.ipynb", "-p", "epochs", "5"]) == []
    assert problems([".venv/bin/papermill", "notebooks/1-3-flatness.ipynb", "o.ipynb", "-p", "epoch", "5"]) == [
        "-p epoch: not a parameter of 1-3-flatness"]
    assert problems([".venv/bin/papermill", "notebooks/1-3-flat.ipynb", "o.ipynb"])[0].startswith("notebooks/1-3-flat")
    assert problems(["python", "-m", "hwutils.report", "--profile", "full", "--workers", "2"]) == []
    assert problems(["python", "-m", "hwutils.report", "--profil", "full"]) == ["--profil is not an option"]
    assert problems(["python", "-m", "hwutils.report", "-p", "epochz", "3"]) == ["-p epochz: no notebook has this parameter"]
    assert problems(["python", "-m", "hwutils.sweep", "notebooks/1-3-parameters.ipynb", "-p", "seed", "0", "1",
                     "--scheduler", "tcp://h:8786"]) == []  # a cluster option, from the report's
    assert problems(["python", "benchmarks/tiny_nets.py", "--baseline-models", "100"]) == []
    assert problems(["python", "benchmarks/tiny_net.py"]) == ["benchmarks/tiny_net.py: no such file",
                                                              "benchmarks/tiny_net.py: no such script"]
    assert problems(["rm", "-rf", "build"]) == ["rm: a command this test does not know; add how to check it"]
    # what a command gives its names: make variables, parameter values, profiles, report entries
    assert problems(["make", "install-gpu", "CUDA=12"]) == []
    assert problems(["make", "install-gpu", "CUDO=12"]) == ["make CUDO=12: the Makefile has no variable CUDO"]
    assert problems([".venv/bin/papermill", "notebooks/1-3-flatness.ipynb", "o.ipynb", "-p", "profile", "standrd"]
                    )[0].startswith("-p profile standrd: ")
    assert problems([".venv/bin/papermill", "notebooks/1-3-flatness.ipynb", "o.ipynb", "-p", "epochs", "-5"]) != []
    assert problems([".venv/bin/papermill", "notebooks/1-1-actual-tasks.ipynb", "o.ipynb", "-p", "dataset", "svhn"]) != []
    assert problems(["python", "-m", "hwutils.report", "--profile", "ful"]) == ["--profile ful: not a profile "
                                                                              "(smoke, quick, standard, full)"]
    assert problems(["python", "-m", "hwutils.report", "-p", "precision", "float16"])[0].startswith(
        "-p precision float16: ")
    assert problems(["python", "-m", "hwutils.report", "-p", "precision", "mixed_bfloat16", "--only", "1-3-*"]) == []
    assert problems(["python", "-m", "hwutils.report", "--only", "1-4-*"]) == ["--only 1-4-*: no entry of the "
                                                                                "report matches"]
    assert commands("A=1 make test  # a comment\ndask worker x &\nfor i in 1; do\n  x \\\n  y\ndone") == [
        ["make", "test"], ["dask", "worker", "x"], ["x", "y"]]


def test_there_are_commands_and_quick_ones():
    assert len(SHELL) >= 10 and any(b.quick for b in ALL)
    assert sum(b.quick for b in ALL) <= 6, "keep the quick blocks few: they run on every CI"


@pytest.mark.parametrize("block", SHELL, ids=str)
def test_every_shell_command_names_what_exists(block):
    found = {" ".join(cmd): p for cmd in commands(block.text) if (p := problems(cmd))}
    assert not found, f"{block}: {found}"


# ------------------------------------------------------------------ Python blocks
def hwutils_names(tree: ast.AST) -> list[str]:
    """Every hwutils name a block uses that does not exist: imported names and attributes of imported modules."""
    aliases, missing = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hwutils":
            module = importlib.import_module(node.module)
            for a in node.names:
                try:
                    target = importlib.import_module(f"{node.module}.{a.name}")
                except ImportError:
                    target = getattr(module, a.name, None)
                if target is None:
                    missing.append(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = target
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "hwutils":
                    importlib.import_module(a.name)
                    aliases[a.asname or a.name.split(".")[0]] = importlib.import_module(a.asname and a.name or "hwutils")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases and aliases[base.id] is not None:
                obj, path = aliases[base.id], base.id
                for part in chain:
                    if isinstance(obj, type(sys)) and not hasattr(obj, part):
                        try:
                            obj = importlib.import_module(f"{obj.__name__}.{part}")
                            continue
                        except ImportError:
                            pass
                    if not hasattr(obj, part):
                        missing.append(f"{path}.{part}")
                        break
                    obj, path = getattr(obj, part), f"{path}.{part}"
                    if not isinstance(obj, type(sys)) and not isinstance(obj, type):
                        break  # past a module or class: an instance's attributes are the library's business
    return sorted(set(missing)) + _keyword_problems(tree, aliases)


def _keyword_problems(tree: ast.AST, aliases: dict) -> list[str]:
    """Keywords a block passes to a hwutils function (or class) that its signature does not take."""
    import inspect
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.keywords):
            continue
        chain, base = [], node.func
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if not (isinstance(base, ast.Name) and aliases.get(base.id) is not None):
            continue
        obj = aliases[base.id]
        for part in chain:
            obj = getattr(obj, part, None)
        if obj is None or not callable(obj) or not getattr(obj, "__module__", "").startswith("hwutils"):
            continue
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            continue
        found += [f"{'.'.join([base.id, *chain])}({k.arg}=...): no such parameter" for k in node.keywords
                  if k.arg is not None and k.arg not in sig.parameters]
    return found


def test_the_python_check_finds_a_name_that_does_not_exist():
    assert hwutils_names(ast.parse("from hwutils import measures\nmeasures.sharpness(m, x)")) == []
    assert hwutils_names(ast.parse("from hwutils import measures\nmeasures.sharpnes(m, x)")) == ["measures.sharpnes"]
    assert hwutils_names(ast.parse("import hwutils.sweep\nhwutils.sweep.lod('x')")) == ["hwutils.sweep.lod"]
    assert hwutils_names(ast.parse("from hwutils.params import Parm")) == ["hwutils.params.Parm"]
    assert hwutils_names(ast.parse("from hwutils import measures\nmeasures.sharpness(m, x, y, epsilon=1e-3)")) == []
    assert hwutils_names(ast.parse("from hwutils import measures\nmeasures.sharpness(m, x, y, eps=1e-3)")) == [
        "measures.sharpness(eps=...): no such parameter"]


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_every_python_block_parses_and_names_what_exists(block):
    tree = ast.parse(block.text)
    assert hwutils_names(tree) == [], f"{block}"


# ------------------------------------------------------------------ YAML grids and links
def test_a_grid_file_names_parameters():
    import yaml
    grids = [yaml.safe_load(b.text) for b in ALL if b.lang == "yaml" and "grid:" in b.text]
    assert grids
    known = {n for stem in params.SPECS for n in params.names(stem)}
    for grid in grids:
        assert set(grid["grid"]) <= known, set(grid["grid"]) - known


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    dangling = [link for link in links if "://" not in link and not (page.parent / link).exists()]
    assert not dangling, dangling


# ------------------------------------------------------------------ the quick ones, run as written
def as_written(text: str) -> str:
    """`.venv/bin/x` is this interpreter's environment (the .venv on a fresh checkout)."""
    return text.replace(".venv/bin/", f"{Path(sys.executable).parent}/")


@pytest.mark.parametrize("block", [b for b in ALL if b.quick], ids=str)
def test_quick_blocks_run_as_written(block):
    if block.lang == "python":
        cmd = [sys.executable, "-c", block.text]
    else:
        cmd = ["bash", "-ec", as_written(block.text)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"{block}: {done.stderr[-2000:]}"


def test_the_readme_is_read_in_two_minutes():
    """Up to the end of its three recipes (the heading after them) the README is at most 120 lines, and it holds
    one notebook table."""
    lines = (ROOT / "README.md").read_text().splitlines()
    recipes = lines.index("## Recipes")
    end = next(i for i in range(recipes + 1, len(lines)) if lines[i].startswith("## "))
    assert end <= 120, f"{end} lines to the end of the recipes"
    assert sum(line.startswith("| notebook |") for line in lines) == 1
    assert all(f"**{n}." in "\n".join(lines[recipes:end]) for n in (1, 2, 3))
