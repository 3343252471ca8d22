"""Edit-to-report latency of `dx-py test --watch` on corpus suites.

    python3 bench/watch_bench.py [--edits 6] [--suites jinja2 click pygments]

Per suite, from a scratch copy (imported from the copy, as bench/affected_bench.py does): start
`dx-py test --watch -q`, wait for its first report, then --edits times write a statement into the
body of a function the tests name in the most widely imported module (and take it out again on
the next edit), and time from the write to the end of the report it causes (the `watching for
changes` line). Printed: median and maximum latency, and how many tests the edits ran (target: the
report within 1 s of saving).
"""

from __future__ import annotations

import argparse
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import affected_bench  # noqa: E402
import collect  # noqa: E402
import corpus  # noqa: E402

WAITING = "dx-py: watching for changes"


def read_lines(stream, out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))


def next_report(lines: queue.Queue[str], timeout: float = 300) -> list[str]:
    report = []
    while True:
        line = lines.get(timeout=timeout)
        if line.startswith(WAITING):
            return report
        report.append(line)


def bench_suite(name: str, root: Path, dxpy: Path, edits: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"dxpy-watch-bench-{name}-") as tmp:
        copy = Path(tmp) / "suite"
        shutil.copytree(root, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        plan = [e for e in affected_bench.plan_edits(copy, dxpy) if e[0] == "wide-function"]
        if not plan:
            return {"suite": name, "latencies": [], "ran": [], "module": "-"}
        _, module, edited = plan[0]
        path = copy / module
        original = path.read_text(encoding="utf-8")
        proc = subprocess.Popen([str(dxpy), "test", "--watch", "-q", "--python", str(corpus.venv_python())],
                                cwd=copy, env=affected_bench.bench_env(copy), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
        latencies, ran = [], []
        try:
            next_report(lines)
            for i in range(edits):
                time.sleep(0.5)
                start = time.perf_counter()
                path.write_text(edited if i % 2 == 0 else original, encoding="utf-8")
                report = next_report(lines)
                latencies.append(time.perf_counter() - start)
                ran.append(affected_bench.ran_count("\n".join(report)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        return {"suite": name, "latencies": latencies, "ran": ran, "module": str(module)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=6)
    parser.add_argument("--suites", nargs="*", default=affected_bench.DEFAULT_SUITES)
    args = parser.parse_args(argv)
    try:
        dxpy = collect.find_dxpy_bin()
        suites = corpus.select(corpus.load_suites(), args.suites)
    except corpus.CorpusError as err:
        print(f"watch_bench: error: {err}", file=sys.stderr)
        return 2
    rows = [("suite", "edited module", "edits", "median_s", "max_s", "tests run per edit")]
    for suite in suites:
        result = bench_suite(suite.name, suite.root, dxpy, args.edits)
        lat = result["latencies"]
        rows.append((suite.name, result["module"], str(len(lat)),
                     f"{statistics.median(lat):.2f}" if lat else "-", f"{max(lat):.2f}" if lat else "-",
                     "/".join(str(n) for n in result["ran"]) or "-"))
    corpus.print_columns(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
