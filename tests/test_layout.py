"""The package's shape: stages that import one way, no cycles, small modules, a wheel that
holds every subpackage.

The import graph is read with `ast`, so imports inside functions (the lazy ones that keep
`--help` fast) count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sysconfig
import venv
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scalecli"
STAGES = ("sweep", "fit", "report")
MAX_LINES = 400  # a guideline: a module past it is warned about
HARD_MAX_LINES = 600  # a module past it fails
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 5
FORM_NAMES = ("power", "saturating", "chinchilla", "isoflop", "envelope")
# Hits of the form-name check that are not a switch on a form: fit.json's `envelope` field
# (approach 1's points), a data key that shares the form's name.
NOT_A_SWITCH = {("scalecli.fit.envelope", "envelope"), ("scalecli.fit.summary", "envelope")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The scalecli modules that `path` imports anywhere in its body, as module names.

    `from scalecli.sweep import checkpoint` names the module scalecli.sweep.checkpoint;
    `from scalecli.sweep.spec import RunSpec` names scalecli.sweep.spec. A package's
    __init__ is not counted as a dependency of its own modules.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("scalecli"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("scalecli"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, known) - {name} for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search, three colours)."""
    colour = dict.fromkeys(edges, 0)  # 0 unseen, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if colour[nxt] == 1:
                return [*stack[stack.index(nxt):], nxt]
            if colour[nxt] == 0 and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(edges):
        if colour[node] == 0 and (cycle := visit(node)):
            return cycle
    return None


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in STAGES else None


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    # The checker itself: a cycle through an import inside a function must count.
    (tmp_path / "a.py").write_text("def f():\n    from scalecli.b import g\n")
    (tmp_path / "b.py").write_text("from scalecli.a import f\n")
    known = {"scalecli.a", "scalecli.b"}
    edges = {"scalecli.a": imports_of(tmp_path / "a.py", known),
             "scalecli.b": imports_of(tmp_path / "b.py", known)}
    assert find_cycle(edges) == ["scalecli.a", "scalecli.b", "scalecli.a"]
    edges["scalecli.a"] = set()
    assert find_cycle(edges) is None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_stages_import_one_way():
    # sweep -> results.csv -> fit -> fit.json -> report: no stage reaches back up the chain,
    # and nothing imports the CLI but `python -m scalecli`'s entry point.
    forbidden = {"fit": {"sweep", "report"}, "report": {"sweep"}, "sweep": {"fit", "report"}}
    bad = []
    for module, deps in graph().items():
        for dep in deps:
            if dep == "scalecli.cli" and module != "scalecli.__main__":
                bad.append(f"{module} imports scalecli.cli")
            elif stage_of(dep) in forbidden.get(stage_of(module) or "", set()):
                bad.append(f"{module} imports {dep}")
    assert not bad, "\n".join(bad)


def test_the_stages_are_folders_and_every_module_is_in_a_graph():
    mods = modules()
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    assert len([m for m in mods if stage_of(m)]) >= 25


def test_no_module_is_over_the_line_limit():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in modules().items()}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    if long:  # a concept decides the split, not a line count: past 400 is worth a look
        warnings.warn(f"modules over {MAX_LINES} lines: {long}", stacklevel=1)
    too_long = {name: n for name, n in long.items() if n > HARD_MAX_LINES}
    assert not too_long, f"modules over {HARD_MAX_LINES} lines (split them by job): {too_long}"


def long_functions(path: Path, only: set[str] | None = None) -> list[str]:
    """'name: N lines, P parameters' for each function of `path` (`only` these names) over
    MAX_FUNCTION_LINES lines or MAX_PARAMETERS parameters (self and cls not counted)."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if only is not None and node.name not in only:
            continue
        a = node.args
        names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)
                 if x.arg not in ("self", "cls")]
        count = len(names) + (a.vararg is not None) + (a.kwarg is not None)
        lines = node.end_lineno - node.lineno + 1
        if lines >= MAX_FUNCTION_LINES or count > MAX_PARAMETERS:
            bad.append(f"{path.name}:{node.name}: {lines} lines, {count} parameters")
    return bad


def test_the_checker_finds_a_long_function(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "m.py").write_text(f"def f(a, b, c, d, e, f):\n{body}\ndef g(a):\n    pass\n")
    assert long_functions(tmp_path / "m.py") == ["m.py:f: 61 lines, 6 parameters"]


def test_the_fit_driver_functions_are_short_with_few_parameters():
    bad = long_functions(PACKAGE / "fit" / "driver.py")
    assert not bad, f"over {MAX_FUNCTION_LINES} lines or {MAX_PARAMETERS} parameters: {bad}"


def test_the_sweep_driver_and_train_run_are_short_with_few_parameters():
    bad = (long_functions(PACKAGE / "sweep" / "train.py", {"train_run"})
           + long_functions(PACKAGE / "sweep" / "driver.py"))
    assert not bad, f"over {MAX_FUNCTION_LINES} lines or {MAX_PARAMETERS} parameters: {bad}"


def _names_in(node: ast.AST) -> list[str]:
    """The form names among a node's string constants (inside tuples, lists and sets)."""
    if isinstance(node, ast.Constant) and node.value in FORM_NAMES:
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [n for e in node.elts for n in _names_in(e)]
    return []


def form_name_switches(path: Path) -> list[str]:
    """'line: name' where a module compares a form's name, keys a dict by one, looks one up
    (`x["power"]`, `.get("power")`) or lists several: every choice that belongs to the
    form objects (`scalecli.fit.forms`). A name passed as plain data (a keyword value, a
    figure's file name, fit.json written through `form.name`) is not a switch."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        parts: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            parts = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Subscript):
            parts = [node.slice]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "pop", "setdefault", "law", "approach") and node.args):
            parts = [node.args[0]]
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and len(_names_in(node)) > 1:
            parts = [node]
        elif isinstance(node, ast.match_case):
            parts = [node.pattern]
        found += [f"{node.lineno}: {n}" for p in parts for n in _names_in(
            p.value if isinstance(p, ast.MatchValue) else p)]
    return found


def test_the_checker_finds_a_branch_on_a_form_name(tmp_path):
    (tmp_path / "m.py").write_text(
        'if form == "power":\n    pass\nCOLOURS = {"saturating": "C2"}\nfit = fits.get("isoflop")\n'
        'FORMS = ("power", "chinchilla")\nfigure("isoflop", "title")\nr = Fit(form="power")\n')
    assert form_name_switches(tmp_path / "m.py") == [
        "1: power", "3: saturating", "4: isoflop", "5: power", "5: chinchilla"]


def test_no_module_outside_the_forms_branches_on_a_form_name():
    # fit, the diagnostics, the summary and the report ask `fit.forms.registry`; adding a
    # form is one module there and one registry line
    forms = PACKAGE / "fit" / "forms"
    bad = [f"{name} {hit}" for name, path in modules().items()
           if forms not in path.parents
           for hit in form_name_switches(path)
           if (name, hit.split(": ")[1]) not in NOT_A_SWITCH]
    assert not bad, "compares or switches on a form's name:\n" + "\n".join(bad)


def test_sweep_files_ship_under_a_name_apart_from_the_sweep_stage():
    assert not (PACKAGE / "sweeps").exists()
    assert (ROOT / "sweeps" / "default.yaml").is_file()


def test_a_wheel_install_holds_every_subpackage(tmp_path):
    """Install non-editable into a fresh venv; --help and every module import from it.

    The venv borrows this environment's dependencies through a .pth line instead of
    downloading them again; scalecli itself comes only from the wheel (the checkout is
    not on its path, and the editable install's hook is not loaded).
    """
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.check_output(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    Path(site, "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # A copy of the tracked sources, so building leaves nothing in the checkout.
    src = tmp_path / "src"
    files = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).split()
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-deps", str(src)],
                   check=True, cwd=tmp_path, env=environ)
    code = (
        "import importlib, pathlib, scalecli\n"
        f"for name in {sorted(modules())!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert pathlib.Path(module.__file__).is_relative_to({str(env_dir)!r}), module\n"
        "from scalecli.sweep.parse import default_sweep_path\n"
        "print(default_sweep_path())\n"
    )
    out = subprocess.run([py, "-c", code], cwd=tmp_path, env=environ, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(env_dir)
    assert Path(out.stdout.strip()).name == "default.yaml"
    cli = subprocess.run([env_dir / "bin" / "scalecli", "--help"], cwd=tmp_path, env=environ,
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "sweep" in cli.stdout and "fit" in cli.stdout and "report" in cli.stdout


def test_report_reads_fit_json_through_the_schema_alone():
    # report/ may import from fit/ only the fit.json schema and the form registry: the
    # contract, never the fitting code.
    allowed = ("scalecli.fit.schema", "scalecli.fit.forms")
    bad = [f"{module} imports {dep}" for module, deps in graph().items()
           if stage_of(module) == "report" for dep in deps
           if stage_of(dep) == "fit" and not dep.startswith(allowed)]
    assert not bad, "\n".join(bad)
