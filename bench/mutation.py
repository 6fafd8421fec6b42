"""Mutation testing: put small deliberate bugs into a copy of the code, one at a time, and
count how many of them the tests catch.

    python bench/mutation.py [--module scalecli/sweep/lr_search.py ...] [--sample K] [--seed S]

The mutants come from mutmut 3 (operator and comparison swaps, constants changed, arguments
and return values replaced, calls dropped), chosen over cosmic-ray by measurement on
scalecli/sweep/schedule.py with the same tests: mutmut ran its 86 mutants in 75 s (tests
imported once in a fork server, and each mutant runs only the tests that called its
function), where cosmic-ray ran 37 of its 390 in 150 s (a fresh pytest per mutant, every
test of the command each time) and edits the file in place.

Everything happens in a copy of the repository (WORKDIR/repo; the last commit by default,
`--worktree` for the working tree): the shared working tree is never touched. TEST_MAP names the
test files that are meant to catch each module's mutants; mutmut runs them once to learn
which tests call which function, then runs only those (with -x) for each mutant.

Prints a kill rate per module and each survivor as file:line with the mutation. A mutant
that cannot change behaviour (an equivalent mutant) is listed with its reason in
bench/mutation_equivalent.txt and left out of the rate. The last line is KEY=VALUE.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "bench" / "mutation_equivalent.txt"

# The sweep modules the harness covers by default; every module of scalecli/fit/ is added.
SWEEP_MODULES = ("scalecli/sweep/lr_search.py", "scalecli/sweep/branches.py",
                 "scalecli/sweep/schedule.py")

# Module (or folder prefix) -> the tests meant to catch its mutants. The first matching
# prefix wins. Unit tests only: a test that trains a sweep in a module fixture costs tens of
# seconds per mutant that reaches it, and mutmut does not run a mutant's tests fastest
# first, so test_wsd.py's and test_lr_search.py's sweep tests are named out by node id
# (a renamed test fails the run loudly: pytest cannot find it).
WSD_UNITS = [f"tests/sweep/test_wsd.py::{name}" for name in (
    "test_wsd_schedule_at_its_boundaries",
    "test_wsd_lr_before_the_cooldown_does_not_depend_on_the_length",
    "test_degenerate_wsd_schedules", "test_bad_wsd_settings_are_one_clear_error",
    "test_branch_identity", "test_cosine_run_ids_do_not_change_with_the_new_settings")]
LR_SEARCH_UNITS = [f"tests/sweep/test_lr_search.py::{name}" for name in (
    "test_first_grid_is_centred_on_the_start",
    "test_search_walks_past_an_edge_until_the_optimum_is_bracketed",
    "test_search_gives_up_after_max_probes_and_says_not_bracketed",
    "test_diverged_probes_push_the_search_down",
    "test_all_diverged_is_none_and_a_near_tie_goes_to_the_smaller_lr",
    "test_search_goes_past_a_lowest_loss_at_the_top_edge",
    "test_search_ends_with_its_lowest_loss_and_its_choice_inside_the_probes",
    "test_search_trains_only_unrecorded_probes_and_one_budget_at_a_time",
    "test_a_fixed_lr_and_a_grid_still_work_without_a_search")]
TEST_MAP: dict[str, list[str]] = {
    "scalecli/sweep/schedule.py": ["tests/sweep/test_schedule.py", *WSD_UNITS],
    "scalecli/sweep/lr_search.py": [
        "tests/sweep/test_lr_choice.py", *LR_SEARCH_UNITS,
        "tests/sweep/test_flop_budgets.py::"
        "test_lr_search_probes_each_budgets_narrowest_trained_size"],
    "scalecli/sweep/branches.py": ["tests/sweep/test_wsd_accounting.py",
                                   "tests/sweep/test_branches.py", *WSD_UNITS],
    "scalecli/fit/": ["tests/fit"],
}
# Mutants per module when --sample is not given: all of them, except in scalecli/fit/
# (about 12,000 mutants over 36 modules; 10 each keeps the whole default run within an
# hour on 2 cores, with the sweep modules' 423 all run).
DEFAULT_SAMPLE = {"scalecli/fit/": 10}

KILLED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass
class Mutant:
    name: str  # mutmut's: scalecli.sweep.schedule.x_wsd_lr__mutmut_19
    status: str = "not checked"
    line: int = 0
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    why_equivalent: str = ""


@dataclass
class Module:
    path: str
    total: int  # every mutant mutmut makes of it
    mutants: list[Mutant] = field(default_factory=list)  # the ones run (a sample, or all)


def default_modules() -> list[str]:
    fit = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scalecli" / "fit").rglob("*.py")
                 if p.name != "__init__.py")
    return fit + list(SWEEP_MODULES)


def expand(module: str) -> list[str]:
    """A module, or every module under a folder (`scalecli/fit/`, __init__.py left out)."""
    module = module.removeprefix("./")
    if not module.endswith("/"):
        return [module]
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / module).rglob("*.py")
                  if p.name != "__init__.py")


def tests_for(module: str) -> list[str]:
    for prefix, tests in TEST_MAP.items():
        if module == prefix or (prefix.endswith("/") and module.startswith(prefix)):
            return tests
    raise SystemExit(f"{module}: not in bench/mutation.py's TEST_MAP; add the tests that "
                     "are meant to catch its mutants")


def copy_repository(dest: Path, worktree: list[str] | None) -> None:
    """The repository's files into `dest`: the last commit (`worktree` None), the working
    tree's tracked and untracked files (`worktree` empty; not the ignored ones: no .venv,
    no outputs), or the last commit with the paths in `worktree` taken from the working
    tree (a test being written, while others' half-done edits stay out)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if worktree is None or worktree:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard", *(worktree or [])], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode()
    for name in filter(None, listed.split("\0")) if worktree is not None else ():
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


# A pytest plugin written into the copy's tests/: each mutant's tests run fastest first, by
# the durations mutmut measured in its first run (mutants/mutmut-stats.json; pytest's cwd is
# mutants/). mutmut passes a mutant's tests in file order and stops at the first failure, so
# a killed mutant costs the tests before its killer: in file order, that was often a whole
# fit of seconds before a unit test of milliseconds. Survivors cost the same either way.
ORDER_PLUGIN = "mutation_fastest_first"
FASTEST_FIRST = '''"""Run the selected tests fastest first (written by bench/mutation.py)."""
import json
from pathlib import Path


def pytest_collection_modifyitems(session, config, items):
    try:
        stats = json.loads(Path("mutmut-stats.json").read_text(encoding="utf-8"))
        durations = stats["duration_by_test"]
    except (OSError, ValueError, KeyError):  # mutmut's first run, which measures them
        return
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
'''


def configure(repo: Path, modules: list[str], tests: list[str]) -> None:
    """mutmut's settings, appended to the copy's pyproject.toml."""
    also = sorted(p.name + ("/" if p.is_dir() else "") for p in repo.iterdir()
                  if p.name not in {"scalecli", "tests", "mutants", "pyproject.toml"})
    settings = {
        "source_paths": ["scalecli/"],
        "only_mutate": modules,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", f"tests.{ORDER_PLUGIN}"],
        # torch is imported by the tests: fork workers from a process that never ran them.
        "process_isolation": "forkserver",
        # mutmut's CPU limit per mutant is 2 x multiplier x (the tests' time + constant),
        # and the tests' time counts test bodies only: a module fixture that trains a sweep
        # is not in it, so the defaults (15, 1) stopped such tests as "timeouts" that were
        # no loop. 4 x (time + 20 s) lets a fixture finish and still ends a real loop.
        "timeout_multiplier": 2.0,
        "timeout_constant": 20.0,
        "also_copy": also,
    }
    (repo / "tests" / f"{ORDER_PLUGIN}.py").write_text(FASTEST_FIRST, encoding="utf-8")
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}"
                                      for key, value in settings.items()]
    with open(repo / "pyproject.toml", "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def mutant_names(repo: Path, module: str) -> list[str]:
    """Every mutant mutmut makes of `module`, by the names `mutmut run` takes."""
    try:
        from mutmut.mutation.file_mutation import mutate_file_contents
        from mutmut.utils.format_utils import get_mutant_name
    except ImportError as error:
        raise SystemExit(f"mutmut 3.8 is needed: pip install -e '.[bench]' ({error})") from None
    code = (repo / module).read_text(encoding="utf-8")
    here = Path.cwd()
    os.chdir(repo)  # mutmut reads its settings from ./pyproject.toml
    try:
        made = mutate_file_contents(module, code)
    finally:
        os.chdir(here)
    return sorted(get_mutant_name(Path(module), name) for name in made.mutant_names)


def results(repo: Path, module: str) -> dict[str, str]:
    """Each mutant's status (killed, survived, no tests, timeout...) from mutmut's record."""
    from mutmut.stats import status_by_exit_code

    path = repo / "mutants" / (module + ".meta")
    if not path.exists():  # --again with nothing left to run: mutmut never ran here
        return {}
    meta = json.loads(path.read_text(encoding="utf-8"))
    return {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()}


def describe(repo: Path, module: str, mutant: Mutant, env: dict[str, str]) -> None:
    """The mutant's line in the original file and the lines it changed, from `mutmut show`
    (a diff of the function, numbered from its `def` line)."""
    shown = subprocess.run(["mutmut", "show", mutant.name], cwd=repo, env=env,
                           capture_output=True, text=True, encoding="utf-8").stdout
    hunk = re.search(r"^@@ -(\d+)", shown, re.M)
    body = shown[hunk.end():].splitlines()[1:] if hunk else []
    offset = next((i for i, line in enumerate(body) if line[:1] in "-+"), 0)
    mutant.removed = tuple(line[1:].strip() for line in body if line.startswith("-"))
    mutant.added = tuple(line[1:].strip() for line in body if line.startswith("+"))
    start = int(hunk.group(1)) if hunk else 1
    mutant.line = def_line(repo / module, mutant.name) + start + offset - 1


def def_line(path: Path, name: str) -> int:
    """The `def` line of the function a mutant lives in: x_NAME is a module function,
    xǁCLASSǁNAME a method."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    parts = mangled[1:].split("ǁ")[1:] if mangled.startswith("xǁ") else [mangled[2:]]
    nodes: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    for part in parts:
        nodes = [child for node in nodes for child in ast.walk(node)
                 if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                 and child.name == part]
    return getattr(nodes[0], "lineno", 1) if nodes else 1


def read_equivalent(path: Path = EQUIVALENT) -> dict[tuple[str, tuple[str, ...],
                                                           tuple[str, ...]], str]:
    """Equivalent mutants, keyed by (file, removed lines, added lines) so that an entry
    survives line numbers moving. Blocks separated by blank lines:

        scalecli/sweep/schedule.py
        - return max(warmup_steps, min(start, steps - 1), 0)
        + return max(warmup_steps, min(start, steps - 1), )
        why: ...
    """
    entries = {}
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines:
            continue
        removed = tuple(line[2:].strip() for line in lines if line.startswith("- "))
        added = tuple(line[2:].strip() for line in lines if line.startswith("+ "))
        why = " ".join(line[4:].strip() for line in lines if line.startswith("why:"))
        if not why:
            raise SystemExit(f"{path.name}: an entry without 'why:' for {lines[0]}")
        signs = "".join(line[0] for line in lines if line[:2] in ("- ", "+ "))
        if len(signs) >= 4 and signs == "-+" * (len(signs) // 2):
            # a block is one mutant's diff (its lines as they were, then as mutated), so
            # "- a + a' - b + b'" would be keyed as one mutant that no run makes
            raise SystemExit(f"{path.name}: the entry for {lines[0]} lists several mutants; "
                             "give each its own block")
        entries[(lines[0].strip(), removed, added)] = why
    return entries


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", default=None,
                        help="a module, or a folder ending in / (every module under it), "
                             "to mutate (repeatable); default: scalecli/fit/ and the three "
                             "sweep modules")
    parser.add_argument("--sample", type=int, default=None,
                        help="run K mutants per module, drawn with --seed (0: all; default: "
                             "all, 10 per module of scalecli/fit/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--function", action="append", default=None, metavar="NAME",
                        help="only the mutants of these functions or methods (repeatable; "
                             "`build`, or `Ladder.mean` for a method): after an edit, the "
                             "functions it touched")
    parser.add_argument("--tests", nargs="+", default=None,
                        help="run these tests instead of TEST_MAP's (the harness's own test)")
    parser.add_argument("--worktree", nargs="*", default=None, metavar="PATH",
                        help="mutate the working tree instead of the last commit; with "
                             "PATHs, only those come from the working tree")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--report-only", action="store_true",
                        help="list the last run's results in WORKDIR again (after editing "
                             "mutation_equivalent.txt) without running anything")
    parser.add_argument("--again", type=Path, default=None, metavar="EARLIER_WORKDIR",
                        help="run again, on the last commit, only the mutants that the run in "
                             "EARLIER_WORKDIR did not kill, and every mutant of a function "
                             "edited since; its other killed ones count as killed, so the "
                             "table grades every mutant that run picked")
    parser.add_argument("--workdir", type=Path,
                        default=Path(os.environ.get("TMPDIR", "/tmp")) / "scalecli-mutation")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.nice(10)  # the machine is shared: tests of others come first
    started = time.perf_counter()
    repo = args.workdir / "repo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           # One tokenizer cache for every mutant's tests, not one per pytest session.
           "SCALECLI_CACHE": str(args.workdir / "cache"), "RAY_USAGE_STATS_ENABLED": "0",
           # a mutant that drops an encoding fails its test, as in .ci/run (pyproject.toml)
           "PYTHONWARNDEFAULTENCODING": "1"}
    record = args.workdir / "picked.json"
    if args.report_only:
        saved, picked = load_record(args.workdir)
        return report(repo, picked, env, read_equivalent(), saved.get("seconds"),
                      saved["sample"], saved.get("carried", {}))
    earlier, carried = (None, {}) if args.again is None else killed_before(args.again)
    modules = ([m for arg in (args.module or default_modules()) for m in expand(arg)]
               if earlier is None else list(earlier))
    tests = args.tests or list(dict.fromkeys(t for m in modules for t in tests_for(m)))
    copy_repository(repo, args.worktree)
    tests = [t for t in tests if (repo / t.partition("::")[0]).exists()]
    configure(repo, modules, tests)

    rng = random.Random(args.seed)
    picked: dict[str, Module] = {}
    for module in modules:
        names = mutant_names(repo, module)
        if earlier is not None:
            picked[module], stale = again(
                module, names, earlier[module],
                function_sources(args.again / "repo" / module), function_sources(repo / module))
            carried = {k: v for k, v in carried.items() if k not in stale}
            continue
        sample = args.sample if args.sample is not None else next(
            (k for prefix, k in DEFAULT_SAMPLE.items() if module.startswith(prefix)), 0)
        names_in = only_functions(names, args.function)
        chosen = (sorted(rng.sample(names_in, sample)) if 0 < sample < len(names_in)
                  else names_in)
        picked[module] = Module(module, len(names), [Mutant(n) for n in chosen])
    names = [m.name for module in picked.values() for m in module.mutants
             if m.name not in carried]
    source = ("the last commit" if args.worktree is None else "the working tree"
              if not args.worktree else f"the last commit, {' '.join(args.worktree)} as edited")
    print(f"mutating {len(modules)} modules, {len(names)} mutants, in {repo} "
          f"({source}); tests: {' '.join(tests)}",
          flush=True)
    log = args.workdir / "mutmut.log"
    # `mutmut run` with no names runs every mutant: with --again and nothing left to run,
    # mutmut is not started, and the table is the earlier run's.
    code = run_mutmut(repo, names, args.jobs, env, log) if names else 0
    if code != 0:
        print(log.read_text(encoding="utf-8", errors="replace")[-3000:])
        print(f"mutmut failed (exit {code}); its log: {log}")
        return 1
    seconds = time.perf_counter() - started
    # What was run, so that --report-only can list it again (after an equivalent is added).
    record.write_text(json.dumps({
        "sample": args.sample, "seconds": seconds, "carried": carried,
        "modules": {m: {"total": v.total, "mutants": [x.name for x in v.mutants]}
                    for m, v in picked.items()}}, indent=1), encoding="utf-8")
    return report(repo, picked, env, read_equivalent(), seconds, args.sample, carried)


def run_mutmut(repo: Path, names: list[str], jobs: int, env: dict[str, str],
               log: Path) -> int:
    with open(log, "w", encoding="utf-8") as handle:
        # Its own session, so that an interrupted harness stops mutmut's workers too.
        proc = subprocess.Popen(["mutmut", "run", "--max-children", str(jobs), *names],
                                cwd=repo, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        signal.signal(signal.SIGTERM, lambda *_: os.killpg(proc.pid, signal.SIGTERM))
        try:
            return proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            raise


def load_record(workdir: Path) -> tuple[dict, dict[str, Module]]:
    """A finished run's picked.json, and the modules and mutants it picked."""
    saved = json.loads((workdir / "picked.json").read_text(encoding="utf-8"))
    return saved, {m: Module(m, v["total"], [Mutant(n) for n in v["mutants"]])
                   for m, v in saved["modules"].items()}


def killed_before(workdir: Path) -> tuple[dict[str, Module], dict[str, str]]:
    """The modules an earlier run picked, and the status of each mutant it killed."""
    if not (workdir / "picked.json").exists():
        raise SystemExit(f"--again: {workdir / 'picked.json'} does not exist; give the "
                         "--workdir of a finished run")
    saved, modules = load_record(workdir)
    carried = dict(saved.get("carried", {}))
    for module, entry in modules.items():
        status = results(workdir / "repo", module)
        carried.update({m.name: status[m.name] for m in entry.mutants
                        if status.get(m.name) in KILLED})
    return modules, carried


def function_sources(path: Path) -> dict[str, str]:
    """Each function's source by the key mutmut names its mutants with (x_f, xǁClassǁm)."""
    text = path.read_text(encoding="utf-8")
    out = {}
    for node in ast.parse(text).body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        for item in members:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                key = (f"xǁ{node.name}ǁ{item.name}" if isinstance(node, ast.ClassDef)
                       else f"x_{item.name}")
                out[key] = ast.get_source_segment(text, item) or ""
    return out


def only_functions(names: list[str], functions: list[str] | None) -> list[str]:
    """The mutants of `functions` (None: every mutant). A method is `Class.method`, as
    mutmut keys it `xǁClassǁmethod`."""
    if not functions:
        return names
    keys = {"xǁ" + "ǁ".join(f.split(".")) if "." in f else "x_" + f for f in functions}
    return [n for n in names if function_of(n) in keys]


def function_of(name: str) -> str:
    """mutmut's key of a mutant's function: scalecli.fit.m.x_f__mutmut_3 -> x_f."""
    return name.rpartition(".")[2].partition("__mutmut_")[0]


def again(module: str, names: list[str], earlier: Module, before: dict[str, str],
          now: dict[str, str]) -> tuple[Module, set[str]]:
    """The earlier run's pick of `module` where its function is unchanged, and every mutant
    of a function edited since (mutmut numbers a function's mutations, so an edit renames
    them all): (the pick, the earlier mutants whose verdicts no longer hold)."""
    changed = {key for key in set(before) | set(now) if before.get(key) != now.get(key)}
    kept = [Mutant(m.name) for m in earlier.mutants if function_of(m.name) not in changed]
    missing = [m.name for m in kept if m.name not in set(names)]
    if missing:  # an unchanged function should give the same names
        raise SystemExit(f"--again: {module}: {missing[0]} is not a mutant any more; run the "
                         "module again in full")
    fresh = [Mutant(n) for n in names if function_of(n) in changed]
    stale = {m.name for m in earlier.mutants if function_of(m.name) in changed}
    return Module(module, len(names), kept + fresh), stale


def report(repo: Path, picked: dict[str, Module], env: dict[str, str],
           equivalent: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str],
           seconds: float | None, sample: int | None,
           carried: dict[str, str] | None = None) -> int:
    """The table and the survivors. `carried`: the statuses of mutants an earlier run killed
    and this one did not run again (--again)."""
    carried = carried or {}
    print("\n| module | mutants run / made | killed | survived | equivalent | kill rate "
          "| 95% interval |")
    print("|---|---|---|---|---|---|---|")
    survivors: list[tuple[str, Mutant]] = []
    timeouts: list[tuple[str, Mutant]] = []
    counts = {"mutants": 0, "killed": 0, "survived": 0, "equivalent": 0}
    rates = []
    for module, entry in picked.items():
        status = results(repo, module)
        killed = survived = same = 0
        for mutant in entry.mutants:
            mutant.status = carried.get(mutant.name) or status.get(mutant.name, "not checked")
            if mutant.status in KILLED:
                killed += 1
                if mutant.status == "timeout":
                    describe(repo, module, mutant, env)
                    timeouts.append((module, mutant))
                continue
            describe(repo, module, mutant, env)
            mutant.why_equivalent = equivalent.get((module, mutant.removed, mutant.added), "")
            if mutant.why_equivalent:
                same += 1
            else:
                survived += 1
                survivors.append((module, mutant))
        rate = 100.0 * killed / (killed + survived) if killed + survived else None
        if rate is not None:  # a module without mutants (constants only) has no rate
            rates.append(rate)
        print(f"| {module} | {len(entry.mutants)} / {entry.total} | {killed} | {survived} | "
              f"{same} | {'-' if rate is None else rate_text(rate)} | "
              f"{interval_text(killed, killed + survived)} |")
        for key, value in (("mutants", len(entry.mutants)), ("killed", killed),
                           ("survived", survived), ("equivalent", same)):
            counts[key] += value
    if survivors:
        print("\nsurvivors (file:line  function  status: the line as mutated; `mutmut show "
              f"NAME` in {repo} gives the diff):")
    for module, mutant in survivors:
        print(line_of(module, mutant))
    if timeouts:
        print("\ntimeouts (counted as caught: the tests ran past mutmut's CPU limit, which a "
              "mutant that loops forever does; check that the line can loop):")
        for module, mutant in timeouts:
            print(line_of(module, mutant))
    total = counts["killed"] + counts["survived"]
    overall = 100.0 * counts["killed"] / total if total else float("nan")
    took = f"{seconds / 60:.1f} minutes; " if seconds is not None else ""
    sampled = any(len(entry.mutants) < entry.total for entry in picked.values())
    what = ("part of the mutants of some modules (a sample, or --function)" if sampled
            else "every mutant")
    if carried:
        what += (f", {len(carried)} of them killed in the earlier run and not run again "
                 "(--again)")
    print(f"\n{took}{what}" + (f" (--sample {sample})" if sample else ""))
    print(f"all modules pooled: {counts['killed']} of {total} killed, "
          f"{interval_text(counts['killed'], total)}")
    print(" ".join(f"{k}={v}" for k, v in counts.items())
          + f" kill_rate={overall:.1f} min_module_rate={min(rates, default=float('nan')):.1f}")
    return 0


def rate_text(rate: float) -> str:
    """A kill rate in whole percent, with one decimal near 100 so that a survivor left
    never prints as 100% (480 of 482 is 99.6%, not 100%)."""
    whole = f"{rate:.0f}%"
    return f"{rate:.1f}%" if whole == "100%" and rate < 100.0 else whole


def wilson(killed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a kill rate (killed of n), in percent: a sample of 10
    mutants puts a 90% module anywhere from about 60% to 98%, so one sample ranks modules
    and the interval says how far it grades one. Wilson rather than the normal
    approximation, which gives 100% +- 0 for 10 of 10."""
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def interval_text(killed: int, n: int) -> str:
    if n == 0:
        return "-"
    low, high = wilson(killed, n)
    return f"{low:.0f}-{high:.0f}%"


def line_of(module: str, mutant: Mutant) -> str:
    """file:line  function  status: the line as it was  ->  as mutated  [mutmut's name]"""
    function = mutant.name.rpartition(".")[2].partition("__mutmut_")[0]
    function = function.removeprefix("x_").replace("xǁ", "").replace("ǁ", ".")
    change = f"{' / '.join(mutant.removed)}  ->  {' / '.join(mutant.added) or '(removed)'}"
    return f"{module}:{mutant.line}  {function}  {mutant.status}: {change}  [{mutant.name}]"


if __name__ == "__main__":
    sys.exit(main())
