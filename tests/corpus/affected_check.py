"""Does `dx-py affected` select every test that breaking a module makes fail?

For each dev-corpus suite: copy the unpacked sdist to a scratch directory, run pytest there once
(the baseline), then for a sample of the suite's first-party source modules: make the module raise
at import, run pytest again, and call every test that passed (or skipped, xfailed) before and now
fails, errors or is gone "broken by the change". `dx-py affected --changed MODULE` must select all
of them. Tests it selects that did not break are over-selection: allowed (a lazy import inside an
untaken branch, a module only imported under `if TYPE_CHECKING:`) but counted and printed.

Why a copy: the corpus venv installs every suite editable, so breaking the unpacked sdist in
place would break it for every other user of the cache. The copy's import roots go first on
PYTHONPATH (ahead of the editable finders) and each run checks that the suite's package really
is imported from the copy.

Comparison is per test function (`file::Class::function`), because dx-py reports tests whose
parameters are only known at run time (parametrized fixtures) at function level.

    python3 tests/corpus/affected_check.py                 # every suite, 3 modules each
    python3 tests/corpus/affected_check.py --suites toolz --modules 0   # 0 = every module

Exit status: 0 when nothing was missed, 1 when some broken test was not selected, 2 on a harness
error.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import collect
import corpus
import outcomes

BREAK_LINE = 'raise RuntimeError("broken by tests/corpus/affected_check.py")\n'
BROKEN_OUTCOMES = {"failed", "error"}
# Directories that hold tests, docs or tooling rather than the suite's importable source.
NON_SOURCE_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "scripts", "bench",
                   "benchmarks", "external", "tools", "requirements", ".tox", "build", "dist"}


class ImportedByPytest(Exception):
    """The broken module is one pytest imports on start-up."""


@dataclasses.dataclass
class ModuleResult:
    module: str
    broken: set[str]
    selected: set[str]

    @property
    def missed(self) -> set[str]:
        return self.broken - self.selected

    @property
    def over(self) -> set[str]:
        return self.selected - self.broken


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
    return env


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


def affected(copy: Path, module: Path, dxpy: Path, broken: set[str]) -> set[str]:
    """What `dx-py affected` selects, as function keys. Besides node IDs it prints directories
    (`tests/snippets/`) whose tests conftest hooks make at run time: every broken test under
    one counts as selected."""
    proc = subprocess.run([str(dxpy), "affected", "--changed", str(module)], cwd=copy,
                          env=run_env(copy), capture_output=True, text=True, timeout=300)
    if proc.returncode not in (0, 5):
        raise corpus.CorpusError(f"dx-py affected failed (exit {proc.returncode}): {proc.stderr}")
    lines = proc.stdout.split("\n\n", 1)[0].splitlines()
    selected = {node_key(line) for line in lines if "::" in line}
    # `./` (a hook conftest at the root) selects everything: the empty prefix.
    prefixes = ["" if line == "./" else line.rstrip("/").replace("/", ".") + "."
                for line in lines if line.endswith("/")]
    selected |= {key for key in broken if any(key.startswith(p) for p in prefixes)}
    return selected


def check_suite(suite: corpus.Suite, modules: int, dxpy: Path, timeout: float) -> list[ModuleResult]:
    with tempfile.TemporaryDirectory(prefix=f"dxpy-affected-{suite.name}-") as tmp:
        copy = Path(tmp) / suite.key
        shutil.copytree(suite.root, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        check_imports_from_copy(copy)
        baseline, status = pytest_cases(copy, Path(tmp), timeout)
        if not baseline:
            raise corpus.CorpusError(f"{suite.name}: baseline pytest run reported no tests (exit {status})")
        results = []
        for module in sample(source_modules(copy), modules):
            path = copy / module
            original = path.read_bytes()
            try:
                path.write_bytes(BREAK_LINE.encode() + original)
                after, _ = pytest_cases(copy, Path(tmp), timeout)
            except ImportedByPytest:
                corpus.log(f"affected: {suite.name}: skipped {module}: pytest itself imports it")
                continue
            finally:
                path.write_bytes(original)
            broken = broken_by(baseline, after)
            results.append(ModuleResult(str(module), broken, affected(copy, module, dxpy, broken)))
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", nargs="*", help="suite names (default: all)")
    parser.add_argument("--modules", type=int, default=3,
                        help="modules to break per suite, spread evenly (0: all)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run")
    args = parser.parse_args(argv)
    try:
        dxpy = collect.find_dxpy_bin()
        suites = corpus.select(corpus.load_suites(), args.suites)
        rows, missed_total = [], 0
        for suite in suites:
            corpus.log(f"affected: {suite.name}")
            for result in check_suite(suite, args.modules, dxpy, args.timeout):
                rows.append((suite.name, result.module, *(str(len(s)) for s in (
                    result.broken, result.selected, result.missed, result.over))))
                missed_total += len(result.missed)
                for key in sorted(result.missed):
                    print(f"MISSED {suite.name} {result.module}: {key}")
    except (corpus.CorpusError, subprocess.TimeoutExpired, OSError) as err:
        print(f"affected_check: error: {err}", file=sys.stderr)
        return 2
    corpus.print_columns([("suite", "module broken", "tests broken", "selected", "missed",
                           "over-selected"), *rows])
    print(f"affected_check: {len(rows)} modules broken, {missed_total} broken tests not selected")
    return 1 if missed_total else 0


if __name__ == "__main__":
    sys.exit(main())
