"""Does `dx-py affected` select every test that breaking a module makes fail?

For each dev-corpus suite: copy the unpacked sdist to a scratch directory, run pytest there once
(the baseline), then break the copy one change at a time and run pytest again: a sample of the
suite's first-party source modules made to raise at import (`--modules`), and a sample of functions
the tests name made to raise when called (`--functions`: the first statement of the body becomes a
`raise`, so the module still imports). Every test that passed (or skipped, xfailed) before and now
fails, errors or is gone is "broken by the change": the tests the change needs run. `dx-py affected
--changed FILE` must select all of them (soundness). And `dx-py test --affected` (the result
cache: replay what did not change, run the rest), recorded once on the unbroken copy, must report
every one of them failing on the broken copy: a replayed report is never a failure, so a broken
test it replays is a hidden failure.

Precision, per break and per suite: needed (broken) vs selected. Selecting a test the break did not
touch is allowed (dx-py selects per file and by static imports: a lazy import in an untaken branch,
a module only imported under `if TYPE_CHECKING:`, a function break whose file many tests import) but
not without limit. The bound is per import break, where static imports should match what pytest
shows: a module break that leaves most of the suite unbroken (needed < half of its tests) must not
select more than MAX_IMPORT_SELECTED_SHARE of the suite. A break known to select that broadly for
a documented reason is listed in affected_broad.tsv (suite, module, max_selected, cause): it may
select up to max_selected tests; an entry whose module was broken and no longer selects too broadly
is stale. Function breaks are printed, not bounded: dx-py selects whole files, so their precision
measures the design, not a regression.

Why a copy: the corpus venv installs every suite editable, so breaking the unpacked sdist in
place would break it for every other user of the cache. The copy's import roots go first on
PYTHONPATH (ahead of the editable finders) and each run checks that the suite's package really
is imported from the copy.

Comparison is per test function (`file::Class::function`), because dx-py reports tests whose
parameters are only known at run time (parametrized fixtures) at function level.

    python3 tests/corpus/affected_check.py                 # every suite, 3 modules + 1 function each
    python3 tests/corpus/affected_check.py --suites toolz --modules 0   # 0 = every module
    python3 tests/corpus/affected_check.py --modules 2 --functions 1 --seed 7

Functions are sampled with `random.Random(seed)` from those defined in the suite's source modules
(top level or in a class, not overloads, body on its own line) whose name appears as a name in the
suite's test files, so the tests exercise most of them; the table says when a break broke nothing.

Exit status: 0 when nothing was missed, no import break over-selected past the bound (unless listed)
and no listed entry is stale, 1 otherwise, 2 on a harness error.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import random
import shutil
import subprocess
import sys
import tempfile
import tokenize
import xml.etree.ElementTree as ET
from pathlib import Path

import collect
import corpus
import outcomes

BREAK_LINE = 'raise RuntimeError("broken by tests/corpus/affected_check.py")\n'
# See the module docs: an import break that leaves over half of the suite's tests unbroken may
# select at most this share of them. A leaf module selecting the whole suite fails; a module half
# the suite imports passes.
MAX_IMPORT_SELECTED_SHARE = 0.9
BROAD_FILE = Path(__file__).with_name("affected_broad.tsv")
# In a `dx-py test --affected` run's failing keys: the session itself failed to start.
WHOLE_SESSION = "<session>"
# Broken tests a `dx-py test --affected` run is known not to report failing, each with its cause:
# (suite, break label, test key) -> cause. An entry whose break ran and no longer hides its test
# is stale.
HIDDEN_FILE = Path(__file__).with_name("affected_hidden.tsv")
HIDDEN_COLUMNS = ["suite", "break", "test", "cause"]
BROAD_COLUMNS = ["suite", "module", "max_selected", "cause"]
BROKEN_OUTCOMES = {"failed", "error"}
# Directories that hold tests, docs or tooling rather than the suite's importable source.
NON_SOURCE_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "scripts", "bench",
                   "benchmarks", "external", "tools", "requirements", ".tox", "build", "dist"}


class ImportedByPytest(Exception):
    """The broken module is one pytest imports on start-up."""


@dataclasses.dataclass(frozen=True)
class FunctionBreak:
    """A function whose body gets a `raise` as its first statement."""

    module: Path  # relative to the suite root
    qualname: str  # `Class.method` or `function`
    line: int  # 1-based line of the body's first statement, where the `raise` goes
    indent: str  # that statement's indentation


@dataclasses.dataclass
class ModuleResult:
    module: str
    broken: set[str]
    selected: set[str]
    function: str = ""  # qualname for a function break; empty for an import break
    universe: set[str] = dataclasses.field(default_factory=set)  # the baseline's function keys
    # `dx-py test --affected` on the broken copy: the keys it reported failing (collection
    # errors as `::module`), and how many tests it ran and replayed.
    affected_failing: set[str] = dataclasses.field(default_factory=set)
    affected_ran: int = 0
    affected_replayed: int = 0

    @property
    def label(self) -> str:
        return f"{self.module}::{self.function}" if self.function else self.module

    @property
    def missed(self) -> set[str]:
        return self.broken - self.selected

    @property
    def hidden(self) -> set[str]:
        """Broken tests `dx-py test --affected` did not report failing."""
        return {key for key in self.broken if not reported_failing(key, self.affected_failing)}

    @property
    def over(self) -> set[str]:
        return self.selected - self.broken

    @property
    def too_broad(self) -> bool:
        """An import break that left most of the suite unbroken yet selected nearly all of it."""
        total = len(self.universe)
        if self.function or not total or 2 * len(self.broken) >= total:
            return False
        return len(self.selected & self.universe) > MAX_IMPORT_SELECTED_SHARE * total


def import_roots(root: Path) -> list[Path]:
    """Where the suite's own packages are imported from: `src/` in src layouts, else the root."""
    return [root / "src"] if (root / "src").is_dir() else [root]


def top_level_packages(root: Path) -> list[str]:
    names = []
    for base in import_roots(root):
        for entry in sorted(base.iterdir()):
            if entry.name in NON_SOURCE_DIRS or entry.name.startswith((".", "_")):
                continue
            if entry.is_dir() and (entry / "__init__.py").is_file():
                names.append(entry.name)
    return names


def is_test_file(path: Path) -> bool:
    name = path.name
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(part in ("tests", "test", "testing") for part in path.parts))


def source_modules(root: Path) -> list[Path]:
    """First-party source modules (relative to the root), tests and conftests excluded."""
    modules = []
    for package in top_level_packages(root):
        base = next(b for b in import_roots(root) if (b / package).is_dir())
        for path in sorted((base / package).rglob("*.py")):
            rel = path.relative_to(root)
            if not is_test_file(rel):
                modules.append(rel)
    return modules


def sample(modules: list[Path], count: int) -> list[Path]:
    """`count` modules spread evenly over the sorted list (deterministic); 0 means all."""
    if count <= 0 or count >= len(modules):
        return modules
    step = len(modules) / count
    return [modules[int(i * step)] for i in range(count)]


def is_test_module(path: Path) -> bool:
    """A file pytest collects or loads by default (`test_*.py`, `*_test.py`, `conftest.py`); not
    other files under tests/ (click's tests/typing/*.py are for type checkers only)."""
    name = path.name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def test_names(root: Path) -> set[str]:
    """Every name token in the suite's test modules and conftests: what the tests can call."""
    names: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if not is_test_module(path):
            continue
        try:
            with path.open("rb") as handle:
                names.update(t.string for t in tokenize.tokenize(handle.readline) if t.type == tokenize.NAME)
        except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
            continue  # a deliberately broken sample file in a test data directory
    return names


def is_overload(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`@overload` / `@typing.overload`: never runs, so breaking it breaks nothing."""
    return any((d.id if isinstance(d, ast.Name) else getattr(d, "attr", "")) == "overload"
               for d in node.decorator_list)


def breakable_functions(module: Path, body: list[ast.stmt], prefix: str, lines: list[str],
                        names: set[str]) -> list[FunctionBreak]:
    """Functions defined directly in `body` (and in its classes, recursively) that the tests name,
    whose body's first statement starts its own line (where the `raise` can go)."""
    found = []
    for node in body:
        if isinstance(node, ast.ClassDef):
            found += breakable_functions(module, node.body, f"{prefix}{node.name}.", lines, names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            indent = lines[first.lineno - 1][:first.col_offset]
            if (node.name in names and not node.name.startswith("__") and not is_overload(node)
                    and first.lineno > node.lineno and indent and not indent.strip()):
                found.append(FunctionBreak(module, prefix + node.name, first.lineno, indent))
    return found


def sample_functions(root: Path, modules: list[Path], count: int, seed: int) -> list[FunctionBreak]:
    """`count` functions the tests name, drawn with `random.Random(seed)` (deterministic)."""
    if count <= 0:
        return []
    names = test_names(root)
    candidates = []
    for module in modules:
        try:
            source = (root / module).read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError):
            continue
        candidates += breakable_functions(module, tree.body, "", source.split("\n"), names)
    return random.Random(seed).sample(candidates, min(count, len(candidates)))


def with_function_break(source: str, target: FunctionBreak) -> str:
    """`source` with a `raise` inserted before the target function's first body statement."""
    lines = source.split("\n")
    lines.insert(target.line - 1, target.indent + BREAK_LINE.rstrip("\n"))
    return "\n".join(lines)


def function_key(classname: str, name: str) -> str:
    """A JUnit (classname, name) pair as pytest writes it, reduced to `module.Class::function`."""
    return f"{classname}::{name.split('[', 1)[0]}"


def node_key(node_id: str) -> str:
    """A pytest node ID in the same reduced form as `function_key` (pytest's JUnit mangling)."""
    parts = collect.function_id(node_id).split("::")
    module = parts[0][:-3] if parts[0].endswith(".py") else parts[0]
    classname = ".".join([module.replace("/", "."), *parts[1:-1]])
    return f"{classname}::{parts[-1]}"


def run_env(copy: Path) -> dict[str, str]:
    env = corpus.clean_env(True)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in import_roots(copy))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc of a restored module must never be used
    env["DXPY_CACHE_DIR"] = str(copy.parent / "dxpy-cache")  # gone with the scratch directory
    return env


def reported_failing(key: str, failing: set[str]) -> bool:
    """`key` failed or errored, or a collection error covers it (JUnit names those `::module`,
    with the module's dotted path as the name)."""
    if key in failing or WHOLE_SESSION in failing:
        return True
    parts = key.split("::", 1)[0].split(".")
    return any(f"::{'.'.join(parts[:n])}" in failing for n in range(1, len(parts) + 1))


def dxpy_affected_run(copy: Path, dxpy: Path, scratch: Path, timeout: float) -> tuple[set[str], int, int]:
    """`dx-py test --affected` in the copy: the function keys it reported failing, and how many
    tests it ran and replayed (its `result cache: N to run, M replayed` header line)."""
    junit = scratch / "dx-junit.xml"
    junit.unlink(missing_ok=True)
    # As a user runs it: the zygote too. (The copy's root on PYTHONPATH shadows the editable
    # install pytest's own import of pygments loaded in the zygote: the zygote then refuses to
    # fork and the run spawns, which pygments' test_guess tests need to fail as under pytest.)
    # --continue-on-collection-errors as in the pytest run it is compared with: else a break
    # that fails one module's import stops the session before the other broken tests run.
    proc = subprocess.run([str(dxpy), "test", "--affected", "--continue-on-collection-errors",
                           "--junit-xml", str(junit)],
                          cwd=copy, env=run_env(copy), capture_output=True, text=True,
                          timeout=timeout)
    ran = replayed = -1
    for line in proc.stdout.splitlines():
        if line.startswith("result cache: "):
            words = line.split()
            ran, replayed = int(words[2]), int(words[5])
    if not junit.is_file() and proc.returncode in (3, 4):
        # The session could not start (a break in a module a conftest imports): the whole run
        # fails loudly, as pytest's does; nothing is hidden.
        return {WHOLE_SESSION}, max(ran, 0), max(replayed, 0)
    if not junit.is_file() or ran < 0:
        raise corpus.CorpusError(f"dx-py test --affected wrote no report (exit {proc.returncode}):\n"
                                 f"{proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    failing = set()
    for testcase in ET.parse(junit).getroot().iter("testcase"):
        if outcomes.case_outcome(testcase) in BROKEN_OUTCOMES:
            failing.add(function_key(testcase.get("classname", ""), testcase.get("name", "")))
    return failing, ran, replayed


def check_imports_from_copy(copy: Path) -> None:
    packages = top_level_packages(copy)
    if not packages:
        raise corpus.CorpusError(f"{copy}: no top-level package found to break")
    code = "import importlib,sys\nfor n in sys.argv[1:]: print(importlib.import_module(n).__file__)"
    proc = subprocess.run([str(corpus.venv_python()), "-c", code, *packages], cwd=copy,
                          env=run_env(copy), capture_output=True, text=True, timeout=120)
    files = proc.stdout.split()
    if proc.returncode != 0 or len(files) != len(packages):
        raise corpus.CorpusError(f"cannot import {packages} from {copy}: {proc.stderr[-1000:]}")
    for file in files:
        if not Path(file).resolve().is_relative_to(copy.resolve()):
            raise corpus.CorpusError(f"{file} is imported from outside the copy {copy}; "
                                     "breaking the copy would prove nothing")


def pytest_cases(copy: Path, scratch: Path, timeout: float) -> tuple[dict[str, set[str]], int]:
    """{function key: outcomes} of one pytest run in the copy, and its exit status."""
    junit = scratch / "junit.xml"
    junit.unlink(missing_ok=True)
    # Without --continue-on-collection-errors one broken test file would stop the whole session
    # and every test would count as broken.
    cmd = [str(corpus.venv_python()), "-m", "pytest", "-p", "no:cacheprovider", "-q",
           "--continue-on-collection-errors", f"--junit-xml={junit}"]
    proc = subprocess.run(cmd, cwd=copy, env=run_env(copy), capture_output=True, text=True,
                          timeout=timeout)
    cases: dict[str, set[str]] = {}
    if junit.is_file():
        for testcase in ET.parse(junit).getroot().iter("testcase"):
            key = function_key(testcase.get("classname", ""), testcase.get("name", ""))
            cases.setdefault(key, set()).add(outcomes.case_outcome(testcase))
    elif "_pytest" in proc.stderr and BREAK_LINE.strip() in proc.stderr:
        # pytest itself imports this module (pygments, for its terminal colours): pytest cannot
        # start, so the module cannot be checked this way.
        raise ImportedByPytest()
    elif proc.returncode not in (2, 3, 4):
        # No report and no startup error (a broken conftest exits 4 before writing one).
        raise corpus.CorpusError(f"pytest wrote no JUnit XML (exit {proc.returncode}):\n"
                                 f"{proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    return cases, proc.returncode


def broken_by(baseline: dict[str, set[str]], after: dict[str, set[str]]) -> set[str]:
    return {key for key, before in baseline.items()
            if not (before & BROKEN_OUTCOMES)
            and (key not in after or after[key] & BROKEN_OUTCOMES)}


def affected(copy: Path, module: Path, dxpy: Path, tests: set[str]) -> set[str]:
    """What `dx-py affected` selects, as function keys. Besides node IDs it prints directories
    (`tests/snippets/`) whose tests conftest hooks make at run time: every one of `tests` (the
    baseline's) under one counts as selected, as `dx-py test` on that directory would run it."""
    proc = subprocess.run([str(dxpy), "affected", "--changed", str(module)], cwd=copy,
                          env=run_env(copy), capture_output=True, text=True, timeout=300)
    if proc.returncode not in (0, 5):
        raise corpus.CorpusError(f"dx-py affected failed (exit {proc.returncode}): {proc.stderr}")
    lines = proc.stdout.split("\n\n", 1)[0].splitlines()
    selected = {node_key(line) for line in lines if "::" in line}
    # `./` (a hook conftest at the root) selects everything: the empty prefix.
    prefixes = ["" if line == "./" else line.rstrip("/").replace("/", ".") + "."
                for line in lines if line.endswith("/")]
    selected |= {key for key in tests if any(key.startswith(p) for p in prefixes)}
    return selected


def check_suite(suite: corpus.Suite, modules: int, dxpy: Path, timeout: float, functions: int = 0,
                seed: int = 0) -> list[ModuleResult]:
    with tempfile.TemporaryDirectory(prefix=f"dxpy-affected-{suite.name}-") as tmp:
        copy = Path(tmp) / suite.key
        shutil.copytree(suite.root, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        check_imports_from_copy(copy)
        baseline, status = pytest_cases(copy, Path(tmp), timeout)
        if not baseline:
            raise corpus.CorpusError(f"{suite.name}: baseline pytest run reported no tests (exit {status})")
        # The result cache's baseline: every test recorded on the unbroken copy.
        dxpy_affected_run(copy, dxpy, Path(tmp), timeout)
        all_modules = source_modules(copy)
        plan: list[tuple[Path, FunctionBreak | None]] = [(m, None) for m in sample(all_modules, modules)]
        plan += [(f.module, f) for f in sample_functions(copy, all_modules, functions, seed)]
        results = []
        for module, function in plan:
            label = f"{module}::{function.qualname}" if function else str(module)
            path = copy / module
            original = path.read_bytes()
            if function is None:
                changed = BREAK_LINE.encode() + original
            else:
                changed = with_function_break(original.decode("utf-8"), function).encode("utf-8")
            try:
                path.write_bytes(changed)
                after, _ = pytest_cases(copy, Path(tmp), timeout)
                failing, ran, replayed = dxpy_affected_run(copy, dxpy, Path(tmp), timeout)
            except ImportedByPytest:
                corpus.log(f"affected: {suite.name}: skipped {label}: pytest itself imports it")
                continue
            finally:
                path.write_bytes(original)
            broken = broken_by(baseline, after)
            results.append(ModuleResult(str(module), broken, affected(copy, module, dxpy, set(baseline)),
                                        function.qualname if function else "", set(baseline),
                                        failing, ran, replayed))
        return results


def load_hidden(path: Path = HIDDEN_FILE) -> dict[tuple[str, str, str], str]:
    """{(suite, break label, test key): cause} of the known hidden failures."""
    return {(row[0], row[1], row[2]): row[3] for _, row in corpus.residue_rows(path, HIDDEN_COLUMNS)}


def load_broad(path: Path = BROAD_FILE) -> dict[tuple[str, str], int]:
    """{(suite, module): most tests its import break may select} of the known broad selections."""
    broad = {}
    for lineno, row in corpus.residue_rows(path, BROAD_COLUMNS):
        if not row[2].isdigit() or (row[0], row[1]) in broad:
            raise corpus.CorpusError(f"{path}:{lineno}: need a count and one row per suite and module")
        broad[(row[0], row[1])] = int(row[2])
    return broad


def broad_verdict(suite: str, results: list[ModuleResult], broad: dict[tuple[str, str], int]) -> list[str]:
    """Complaints about the suite's import breaks: too broad and not listed (or past its listed
    count), or listed but no longer too broad (stale)."""
    problems = []
    for r in results:
        if r.function:
            continue
        allowed = broad.get((suite, r.module))
        if r.too_broad and (allowed is None or len(r.selected) > allowed):
            listed = "" if allowed is None else f", listed for at most {allowed}"
            problems.append(f"TOO BROAD {suite} {r.module}: selected {len(r.selected)} of "
                            f"{len(r.universe)} tests, {len(r.broken)} broken{listed} (an import "
                            f"break that leaves over half the suite unbroken may select at most "
                            f"{MAX_IMPORT_SELECTED_SHARE:.0%} of it)")
        elif not r.too_broad and allowed is not None:
            problems.append(f"STALE {suite} {r.module}: listed in affected_broad.tsv but selects "
                            f"{len(r.selected)} of {len(r.universe)} tests: remove the entry")
    return problems


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def precision_line(suite: str, results: list[ModuleResult]) -> str:
    """Needed vs selected over a suite's breaks, import and function breaks apart."""
    parts = []
    for kind, rows in (("import", [r for r in results if not r.function]),
                       ("function", [r for r in results if r.function])):
        needed = sum(len(r.broken) for r in rows)
        selected = sum(len(r.selected) for r in rows)
        parts.append(f"{kind} breaks {len(rows)}: needed {needed} of {selected} selected "
                     f"(precision {share(needed, selected)})")
    return f"precision {suite}: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", nargs="*", help="suite names (default: all)")
    parser.add_argument("--modules", type=int, default=3,
                        help="modules to break per suite, spread evenly (0: all)")
    parser.add_argument("--functions", type=int, default=1,
                        help="functions to break per suite, drawn with --seed (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the function sample")
    parser.add_argument("--broad", type=Path, default=BROAD_FILE,
                        help="import breaks known to select too broadly (TSV)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run")
    args = parser.parse_args(argv)
    try:
        dxpy = collect.find_dxpy_bin()
        suites = corpus.select(corpus.load_suites(), args.suites)
        broad = load_broad(args.broad)
        known_hidden = load_hidden()
        rows, precision, missed_total, hidden_total, problems = [], [], 0, 0, []
        for suite in suites:
            corpus.log(f"affected: {suite.name}")
            results = check_suite(suite, args.modules, dxpy, args.timeout, args.functions, args.seed)
            for result in results:
                rows.append((suite.name, result.label, str(len(result.universe)),
                             *(str(len(s)) for s in (result.broken, result.selected, result.missed,
                                                     result.over)),
                             share(len(result.broken), len(result.selected)),
                             str(result.affected_ran), str(result.affected_replayed),
                             str(len(result.hidden))))
                missed_total += len(result.missed)
                for key in sorted(result.missed):
                    print(f"MISSED {suite.name} {result.label}: {key}")
                for key in sorted(result.hidden):
                    cause = known_hidden.get((suite.name, result.label, key))
                    if cause is not None:
                        print(f"KNOWN HIDDEN {suite.name} {result.label}: {key} ({cause})")
                        continue
                    hidden_total += 1
                    print(f"HIDDEN {suite.name} {result.label}: {key} (dx-py test --affected did "
                          "not report it failing)")
                for (s_name, label, key) in known_hidden:
                    if (s_name, label) == (suite.name, result.label) and key not in result.hidden:
                        problems.append(f"STALE {suite.name} {label}: {key} is listed in "
                                        f"{HIDDEN_FILE.name} but reported failing now: remove it")
                        print(problems[-1])
            for problem in broad_verdict(suite.name, results, broad):
                problems.append(problem)
                print(problem)
            precision.append(precision_line(suite.name, results))
    except (corpus.CorpusError, subprocess.TimeoutExpired, OSError) as err:
        print(f"affected_check: error: {err}", file=sys.stderr)
        return 2
    corpus.print_columns([("suite", "broken", "tests", "needed", "selected", "missed",
                           "over-selected", "precision", "--affected ran", "replayed", "hidden"),
                          *rows])
    print("\n".join(precision))
    print(f"affected_check: {len(rows)} breaks, {missed_total} broken tests not selected, "
          f"{hidden_total} broken tests hidden by dx-py test --affected, "
          f"{len(problems)} problems with the breadth of import breaks' selections")
    return 1 if missed_total or hidden_total or problems else 0


if __name__ == "__main__":
    sys.exit(main())
