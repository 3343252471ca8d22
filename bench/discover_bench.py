"""Wall-time benchmark of discovery: `dx-py discover` vs `pytest --collect-only -q`.

    python3 bench/discover_bench.py [--runs 3] [--suites NAME ...] [--no-synth] [--no-corpus]
                                    [--synth-files 2000] [--pytest-only]
                                    [--dxpy-cold clear|no-cache] [--json FILE]

Targets: the synthetic suite (bench/synth.py defaults but --synth-files, generated into
.cache/bench/synth-FILES when its synth.json does not match) and every suite of the real-suite
corpus (tests/corpus/corpus.py).
Four timings per target, median of --runs runs each:
  pytest cold  `__pycache__` removed under the suite root and PYTHONDONTWRITEBYTECODE=1 (pytest
               rewrites asserts and compiles every test module, as the yardstick's collect_s)
  pytest warm  PYTHONDONTWRITEBYTECODE unset and one untimed run first (the yardstick's
               collect_warm_s: pytest's best case, the one to beat)
  dx-py cold   `dx-py cache clear --rootdir ROOT` before every run (or `--no-cache` with --dxpy-cold no-cache)
  dx-py warm   one untimed run to fill dx-py's cache, then timed runs
The table shows the medians, the counts each tool reported, and ratios (>1 means dx-py is faster).
Not pass/fail: a failing command is shown as such, and the numbers are for comparing ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "corpus"))
import collect  # noqa: E402
import corpus  # noqa: E402
import synth  # noqa: E402  (bench/ is on sys.path as the script's own directory)

SYNTH_DEFAULTS = {"seed": 1, "files": 2000, "tests_per_file": 25, "helpers": 200}


def synth_root(files: int) -> Path:
    """The synthetic suite (synth.py defaults but `files`), regenerated only when missing or made
    with other options."""
    options = {**SYNTH_DEFAULTS, "files": files}
    out = corpus.cache_root() / "bench" / f"synth-{files}"
    manifest = out / "synth.json"
    if manifest.is_file():
        made = json.loads(manifest.read_text())
        if all(made.get(k) == v for k, v in options.items()):
            return out
    corpus.log(f"generating the synthetic suite in {out}")
    synth.generate(out, options["files"], options["tests_per_file"], options["helpers"], options["seed"])
    return out


def drop_bytecode(root: Path) -> None:
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def median_of(runs: int, one_run) -> tuple[float, int | None, int]:
    """Median wall time of `runs` calls of one_run() -> Collection; last count and exit code."""
    times, last = [], None
    for _ in range(runs):
        last = one_run()
        times.append(last.wall_s)
    return statistics.median(times), last.collected, last.exit_code


def bench_pytest(root: Path, runs: int) -> dict:
    def cold():
        drop_bytecode(root)
        return collect.run_pytest_collect(root, bytecode=False)

    result = {}
    result["pytest_cold"] = median_of(runs, cold)
    collect.run_pytest_collect(root, bytecode=True)  # fill __pycache__
    result["pytest_warm"] = median_of(runs, lambda: collect.run_pytest_collect(root, bytecode=True))
    return result


def bench_dxpy(root: Path, runs: int, dxpy: Path, cold_mode: str) -> dict:
    env = corpus.clean_env(True)

    def cold():
        if cold_mode == "no-cache":
            return collect.run_dxpy_discover(root, extra=["--no-cache"], dxpy=dxpy)
        subprocess.run([str(dxpy), "cache", "clear", "--rootdir", str(root)], cwd=root, env=env,
                       capture_output=True, check=False)
        return collect.run_dxpy_discover(root, dxpy=dxpy)

    result = {"dxpy_cold": median_of(runs, cold)}
    collect.run_dxpy_discover(root, dxpy=dxpy)  # fill dx-py's cache
    result["dxpy_warm"] = median_of(runs, lambda: collect.run_dxpy_discover(root, dxpy=dxpy))
    return result


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.1f}x"


def print_table(results: dict[str, dict]) -> None:
    head = ("target", "pytest_n", "dxpy_n", "pytest_cold", "pytest_warm", "dxpy_cold", "dxpy_warm",
            "py/dx cold", "py/dx warm", "pywarm/dxcold", "dx cold/warm")
    rows = [head]
    for name, r in results.items():
        # (Bound per row: each helper reads this row's timings.)
        def t(key, r=r):
            return None if key not in r else r[key][0]

        def cell(key, r=r):
            if key not in r:
                return "-"
            wall, _, code = r[key]
            return f"{wall:.3f}" + ("" if code == 0 else f"(exit {code})")

        rows.append((name, str(r["pytest_warm"][1]), str(r["dxpy_warm"][1]) if "dxpy_warm" in r else "-",
                     cell("pytest_cold"), cell("pytest_warm"), cell("dxpy_cold"), cell("dxpy_warm"),
                     ratio(t("pytest_cold"), t("dxpy_cold")), ratio(t("pytest_warm"), t("dxpy_warm")),
                     ratio(t("pytest_warm"), t("dxpy_cold")), ratio(t("dxpy_cold"), t("dxpy_warm"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        cells = enumerate(zip(row, widths, strict=True))
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark dx-py discover vs pytest --collect-only.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suites", nargs="*", help="corpus suites (default: all)")
    parser.add_argument("--no-synth", action="store_true")
    parser.add_argument("--synth-files", type=int, default=SYNTH_DEFAULTS["files"],
                        help="test files in the synthetic suite (25 tests each)")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--pytest-only", action="store_true", help="time pytest alone")
    parser.add_argument("--dxpy-cold", choices=["clear", "no-cache"], default="clear")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        all_suites = corpus.load_suites()
        corpus.ensure_venv(all_suites)  # its pytest also runs the synthetic suite
        dxpy = None if args.pytest_only else collect.find_dxpy_bin()
        targets = [] if args.no_synth else [(f"synthetic-{args.synth_files}", synth_root(args.synth_files))]
        if not args.no_corpus:
            targets += [(s.name, s.root) for s in corpus.select(all_suites, args.suites)]
    except corpus.CorpusError as err:
        print(f"discover_bench: error: {err}", file=sys.stderr)
        return 2
    print(f"dx-py: {dxpy or '(not run)'}; runs per timing: {args.runs}; python: {corpus.venv_python()}")
    results = {}
    for name, root in targets:
        start = time.monotonic()
        results[name] = bench_pytest(root, args.runs)
        if dxpy:
            results[name].update(bench_dxpy(root, args.runs, dxpy, args.dxpy_cold))
        corpus.log(f"{name}: {time.monotonic() - start:.0f}s")
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
