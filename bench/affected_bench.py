"""What a rerun costs with the result cache: `dx-py test --affected` vs `pytest` on the whole suite.

    python3 bench/affected_bench.py [--runs 3] [--suites click jinja2 pygments] [--synth-files 200]
                                    [--daemon] [--json FILE]

Per target (corpus suites from a scratch copy of their unpacked root, imported from the copy as
tests/corpus/affected_check.py does; `synth-N` from bench/synth.py), each figure the median of
--runs after one untimed warm-up, side by side in one run:

| column | what is run |
|---|---|
| `pytest_s` | `pytest -q -p no:cacheprovider`, whole suite, bytecode warm: the run dx-py replaces |
| `dx_full_s` | `dx-py test -q`: a full run, nothing recorded |
| `dx_record_s` | `dx-py test -q --affected`, result cache emptied first: a full run recording everything |
| `record_overhead` | `dx_record_s / dx_full_s` (target: at most 1.30) |

Then per edit, each made on the recorded copy and reverted after its timed run (a settling run
re-records between repetitions): `nothing`; `leaf-function` and `wide-function` (a statement added
inside the body of a function the tests name and no import-time code uses, in the first-party
module the fewest, resp. the most, tests reach per `dx-py affected`); `wide-module` (a module-level
line appended to the most widely reached module: the import-graph rule). Printed: the `--affected`
time, how many tests it ran (the rest replayed), `pytest_s / affected_s` (target: at least 20 for
the function edits) and whether the run's per-test outcomes equal pytest's on the edited tree
(checked on the first repetition).

With --daemon, each edit is made once the daemon is idle again (`dx-py daemon status` says
`busy: no`: the previous run's recording and next spare workers are done), as they are by the
time a developer has saved an edit; a request sent sooner waits for that work.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import affected_check  # noqa: E402
import collect  # noqa: E402
import corpus  # noqa: E402
import outcomes  # noqa: E402
import test_bench  # noqa: E402

EDIT_LINE = "_dxpy_bench_edit = 1"
DEFAULT_SUITES = ["click", "jinja2", "pygments"]


# Set by --daemon: dx-py runs in the project's daemon (what `dx-py test` does by default), not
# in a process of its own.
USE_DAEMON = False


def bench_env(copy: Path) -> dict[str, str]:
    """The copy's own packages first, pytest's bytecode cache allowed (its warm case)."""
    env = affected_check.run_env(copy)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if USE_DAEMON:
        env.pop("DXPY_NO_DAEMON", None)
    return env


def stop_daemon(copy: Path, dxpy: Path) -> None:
    if USE_DAEMON:
        subprocess.run([str(dxpy), "daemon", "stop", "--python", str(corpus.venv_python())],
                       cwd=copy, env=bench_env(copy), capture_output=True)


def wait_until_idle(copy: Path, dxpy: Path, limit: float = 10.0) -> None:
    """With --daemon: until the daemon has finished the last request's after-reply work."""
    if not USE_DAEMON:
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = subprocess.run([str(dxpy), "daemon", "status", "--python", str(corpus.venv_python())],
                                cwd=copy, env=bench_env(copy), capture_output=True, text=True)
        if "busy: no" in status.stdout.splitlines():
            return
        time.sleep(0.02)
    raise SystemExit(f"the daemon stayed busy for {limit}s: {status.stdout}{status.stderr}")


def timed(cmd: list[str], copy: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=copy, env=bench_env(copy), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if USE_DAEMON and "daemon not used" in proc.stderr:
        raise SystemExit(f"--daemon, but dx-py ran in-process: {proc.stderr.strip()}")
    return elapsed, proc


def pytest_cmd(junit: Path | None = None) -> list[str]:
    cmd = [str(corpus.venv_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return cmd + ([f"--junit-xml={junit}"] if junit else [])


def dxpy_cmd(dxpy: Path, affected: bool, junit: Path | None = None) -> list[str]:
    cmd = [str(dxpy), "test", "-q", "--python", str(corpus.venv_python())]
    cmd += ["--affected"] if affected else []
    return cmd + (["--junit-xml", str(junit)] if junit else [])


def median_time(cmd: list[str], copy: Path, runs: int, before=None) -> float:
    subprocess.run(cmd, cwd=copy, env=bench_env(copy), capture_output=True)
    times = []
    for _ in range(runs):
        if before:
            before()
        times.append(timed(cmd, copy)[0])
    return statistics.median(times)


def clear_results(copy: Path) -> None:
    for path in (copy.parent / "dxpy-cache").rglob("results"):
        shutil.rmtree(path, ignore_errors=True)


def cases(junit: Path) -> dict[str, str]:
    out = {}
    for testcase in ET.parse(junit).getroot().iter("testcase"):
        key = f"{testcase.get('classname', '')}::{testcase.get('name', '')}"
        out[key] = outcomes.case_outcome(testcase)
    return out


def selected_count(copy: Path, dxpy: Path, module: Path) -> int:
    proc = subprocess.run([str(dxpy), "affected", "--changed", str(module)], cwd=copy,
                          env=bench_env(copy), capture_output=True, text=True)
    return sum(1 for line in proc.stdout.split("\n\n", 1)[0].splitlines() if "::" in line)


def names_run_outside_functions(modules: list[Path], copy: Path) -> set[str]:
    """Names used as decorators or in module- and class-level code of the package: functions that
    may run at import time, which count for every test (an edit there reruns everything)."""
    names: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                names.update(n.id for n in ast.walk(decorator) if isinstance(n, ast.Name))
                names.update(n.attr for n in ast.walk(decorator) if isinstance(n, ast.Attribute))
            for arg in ast.walk(node.args):
                if isinstance(arg, ast.Name):
                    names.add(arg.id)
            return  # the body runs only when called
        if isinstance(node, ast.Name) and not in_function:
            names.add(node.id)
        if isinstance(node, ast.Attribute) and not in_function:
            names.add(node.attr)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    for module in modules:
        try:
            visit(ast.parse((copy / module).read_text(encoding="utf-8")), False)
        except (SyntaxError, UnicodeDecodeError):
            continue
    return names


def body_edit(path: Path, wanted: set[str], unwanted: set[str]) -> str | None:
    """`path`'s text with a statement added before the last statement of a function the tests
    name and nothing runs at import time, whose body has a statement of its own (not only a
    docstring) on a line of its own; None when it has none."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError):
        return None
    lines = text.split("\n")
    for node in ast.walk(tree):
        if (not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name not in wanted
                or node.name in unwanted or node.name.startswith("__")):
            continue
        last = node.body[-1]
        is_docstring = isinstance(last, ast.Expr) and isinstance(last.value, ast.Constant)
        indent = lines[last.lineno - 1][:last.col_offset]
        if not is_docstring and last.lineno > node.lineno and indent and not indent.strip():
            lines.insert(last.lineno - 1, indent + EDIT_LINE)
            return "\n".join(lines)
    return None


def plan_edits(copy: Path, dxpy: Path) -> list[tuple[str, Path | None, str]]:
    """(name, module, new text) of each edit; `nothing` has no module."""
    modules = affected_check.source_modules(copy)
    reach = {m: selected_count(copy, dxpy, m) for m in modules}
    reached = [m for _, m in sorted((n, str(m)) for m, n in reach.items() if n > 0)]
    edits: list[tuple[str, Path | None, str]] = [("nothing", None, "")]
    if not reached:
        return edits
    wanted = affected_check.test_names(copy)
    unwanted = names_run_outside_functions(modules, copy)
    for name, order in (("leaf-function", reached), ("wide-function", list(reversed(reached)))):
        for module in order:
            edited = body_edit(copy / module, wanted, unwanted)
            if edited is not None:
                edits.append((name, Path(module), edited))
                break
    wide = Path(reached[-1])
    text = (copy / wide).read_text(encoding="utf-8")
    edits.append(("wide-module", wide, text.rstrip("\n") + f"\n{EDIT_LINE}\n"))
    return edits


def bench_target(name: str, root: Path, dxpy: Path, runs: int) -> list[dict]:
    # A short prefix: the daemon's socket lives below it, and a Unix socket path has at most
    # 107 bytes (a longer one makes dx-py run in-process, which --daemon must not time).
    with tempfile.TemporaryDirectory(prefix="dxab-") as tmp:
        copy = Path(tmp) / "suite"
        shutil.copytree(root, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        pytest_s = median_time(pytest_cmd(), copy, runs)
        full_s = median_time(dxpy_cmd(dxpy, False), copy, runs)
        # (Once the daemon is idle: it saves the last run's results after its reply.)
        record_s = median_time(dxpy_cmd(dxpy, True), copy, runs,
                               before=lambda: (wait_until_idle(copy, dxpy), clear_results(copy)))
        subprocess.run(dxpy_cmd(dxpy, True), cwd=copy, env=bench_env(copy), capture_output=True)
        rows = []
        for edit, module, text in plan_edits(copy, dxpy):
            path = copy / module if module else None
            original = path.read_text(encoding="utf-8") if path else ""
            times, ran, same = [], -1, None
            for rep in range(runs):
                wait_until_idle(copy, dxpy)
                if path:
                    path.write_text(text, encoding="utf-8")
                try:
                    dx_junit = Path(tmp) / "dx.xml"
                    elapsed, proc = timed(dxpy_cmd(dxpy, True, dx_junit if rep == 0 else None), copy)
                    times.append(elapsed)
                    if rep == 0:
                        ran = ran_count(proc.stdout)
                        py_junit = Path(tmp) / "py.xml"
                        subprocess.run(pytest_cmd(py_junit), cwd=copy, env=bench_env(copy),
                                       capture_output=True)
                        same = cases(dx_junit) == cases(py_junit)
                finally:
                    if path:
                        path.write_text(original, encoding="utf-8")
                # Settle: the revert is itself an edit; record it before the next repetition.
                subprocess.run(dxpy_cmd(dxpy, True), cwd=copy, env=bench_env(copy),
                               capture_output=True)
            affected_s = statistics.median(times)
            rows.append({"target": name, "edit": edit, "module": str(module or "-"),
                         "pytest_s": pytest_s, "dx_full_s": full_s, "dx_record_s": record_s,
                         "affected_s": affected_s, "ran": ran, "same_as_pytest": same})
        stop_daemon(copy, dxpy)
        return rows


def ran_count(stdout: str) -> int:
    """Tests a `--affected` run executed: its summary's total minus its `(N cached)`."""
    counts = outcomes.parse_summary(re.sub(r" \(\d+ cached\)", "", stdout))
    total = sum(n for word, n in counts.items()
                if word in ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "errors"))
    match = re.search(r"\((\d+) cached\)", stdout)
    return total - (int(match.group(1)) if match else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suites", nargs="*", default=DEFAULT_SUITES)
    parser.add_argument("--synth-files", type=int, default=200, help="0: no synthetic suite")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--daemon", action="store_true",
                        help="run dx-py in the project's daemon, as `dx-py test` does by default")
    args = parser.parse_args(argv)
    global USE_DAEMON
    USE_DAEMON = args.daemon
    try:
        dxpy = collect.find_dxpy_bin()
        suites = corpus.select(corpus.load_suites(), args.suites)
        targets = [(s.name, s.root) for s in suites]
        if args.synth_files:
            targets.append((f"synth-{args.synth_files}", test_bench.make_synth(args.synth_files)))
    except (corpus.CorpusError, subprocess.CalledProcessError) as err:
        print(f"affected_bench: error: {err}", file=sys.stderr)
        return 2
    mode = "in the daemon" if args.daemon else "each in its own process (no daemon)"
    print(f"dx-py: {dxpy}, {mode}; median of {args.runs} runs after one warm-up")
    rows: list[dict] = []
    for name, root in targets:
        rows += bench_target(name, root, dxpy, args.runs)
        print(f"{name}: done", file=sys.stderr, flush=True)
    table = [("target", "pytest_s", "dx_full_s", "dx_record_s", "record_overhead", "edit", "module",
              "affected_s", "ran", "pytest/affected", "same as pytest")]
    for r in rows:
        table.append((r["target"], f"{r['pytest_s']:.2f}", f"{r['dx_full_s']:.2f}",
                      f"{r['dx_record_s']:.2f}", f"{r['dx_record_s'] / r['dx_full_s']:.2f}",
                      r["edit"], r["module"], f"{r['affected_s']:.2f}", str(r["ran"]),
                      f"{r['pytest_s'] / r['affected_s']:.1f}x", str(r["same_as_pytest"])))
    corpus.print_columns(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
