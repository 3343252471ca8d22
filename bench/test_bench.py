"""Wall time of running tests: `dx-py test` vs `pytest` and `pytest -n 2` (xdist).

    python3 bench/test_bench.py [--runs 3] [--suites NAME...] [--no-corpus] [--synth-files 200]
                                [--trivial 2000] [--shapes [SHAPE...]] [--json FILE]

Targets: every corpus suite (from its unpacked root, corpus venv), `synth-N` (bench/synth.py
--files N, generated under .cache/bench/) and `trivial-N` and `trivial-N/10` (`def test_i(): pass`
in 20 files, generated under .cache/bench/), and with `--shapes` the hard suite shapes of
bench/shapes.py (`huge-class-3000`, `huge-param-5000`, `tiny-modules-400`, `module-fixtures-20`;
all of them when none is named). Per target and runner: one untimed warm-up (fills
pytest's bytecode cache; PYTHONDONTWRITEBYTECODE unset), then the median of --runs timed runs.
Printed: medians, ratios pytest/dx-py and xdist/dx-py (above 1: dx-py is faster), the median CPU
time (user + system) of each runner's whole process tree (on a shared machine the steadier
figure), the test count each runner reports, and per-test cost on trivial-N: whole run / N and
the marginal cost (time of trivial-N minus time of trivial-N/10, over 0.9 N tests: startup
cancels out). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import collect  # noqa: E402
import corpus  # noqa: E402
import outcomes  # noqa: E402
import shapes  # noqa: E402

# Sizes of the --shapes suites: large enough that per-item and per-module costs dominate.
SHAPE_SIZES = {"huge-class": 3000, "huge-param": 5000, "tiny-modules": 400, "module-fixtures": 20}

RUNNERS = ("pytest", "xdist", "dxpy")


def command(runner: str, dxpy: Path) -> list[str]:
    python = str(corpus.venv_python())
    if runner == "pytest":
        return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if runner == "xdist":
        return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
    return [str(dxpy), "test", "-q", "--python", python]


def children_cpu() -> float:
    """User + system seconds of every waited-for descendant so far (workers included: each
    parent waits for its own)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runner(cmd: list[str], root: Path, runs: int) -> tuple[float, int, int, float]:
    """(median seconds, tests the summary reports, last exit code, median CPU seconds of the
    whole process tree), after one untimed warm-up."""
    env = corpus.clean_env(bytecode=True)
    subprocess.run(cmd, cwd=root, env=env, capture_output=True)
    times, cpus, count, code = [], [], 0, 0
    for _ in range(runs):
        cpu_before = children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu_before)
        summary = outcomes.parse_summary(proc.stdout)
        count = sum(n for word, n in summary.items()
                    if word in ("passed", "failed", "skipped", "xfailed", "xpassed", "error"))
        code = proc.returncode
    return statistics.median(times), count, code, statistics.median(cpus)


def make_trivial(n_tests: int, out: Path, n_files: int = 20) -> Path:
    """N trivial passing tests spread over 20 files (rewritten only when N changes)."""
    stamp = out / "trivial.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("tests") == n_tests:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("test_t*.py"):
        old.unlink()
    per_file = -(-n_tests // n_files)
    for f in range(n_files):
        lo, hi = f * per_file, min(n_tests, (f + 1) * per_file)
        body = "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(lo, hi))
        (out / f"test_t{f:02d}.py").write_text(body)
    (out / "pytest.ini").write_text("[pytest]\n")
    stamp.write_text(json.dumps({"tests": n_tests}))
    return out


def make_synth(files: int) -> Path:
    out = REPO_ROOT / ".cache" / "bench" / f"synth-{files}"
    if not (out / "synth.json").is_file() or json.loads((out / "synth.json").read_text()).get("files") != files:
        subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "synth.py"), "--files", str(files),
                        "--out", str(out)], check=True, capture_output=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark dx-py test against pytest and pytest-xdist.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suites", nargs="*", help="corpus suites (default: all)")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--synth-files", type=int, default=200, help="0 to skip the synthetic suite")
    parser.add_argument("--trivial", type=int, default=2000, help="trivial tests (0 to skip)")
    parser.add_argument("--shapes", nargs="*", choices=shapes.SHAPES,
                        help="hard suite shapes (bench/shapes.py); all of them when none is named")
    parser.add_argument("--json", type=Path,
                        help="write {target: {runner: [median_s, count, exit, median_cpu_s]}}")
    args = parser.parse_args(argv)
    try:
        dxpy = collect.find_dxpy_bin()
        all_suites = corpus.load_suites()
        corpus.ensure_venv(all_suites)
        targets: list[tuple[str, Path]] = []
        if not args.no_corpus:
            targets += [(s.name, s.root) for s in corpus.select(all_suites, args.suites)]
        if args.synth_files:
            targets.append((f"synth-{args.synth_files}", make_synth(args.synth_files)))
        if args.shapes is not None:
            for shape in args.shapes or shapes.SHAPES:
                n = SHAPE_SIZES[shape]
                out = REPO_ROOT / ".cache" / "bench" / f"{shape}-{n}"
                targets.append((f"{shape}-{n}", shapes.ensure(shape, n, out)))
        if args.trivial:
            # Two sizes: the difference of their times is the per-test cost without startup.
            for n in (args.trivial // 10, args.trivial):
                targets.append((f"trivial-{n}", make_trivial(n, REPO_ROOT / ".cache" / "bench" / f"trivial-{n}")))
    except (corpus.CorpusError, subprocess.CalledProcessError) as err:
        print(f"test_bench: error: {err}", file=sys.stderr)
        return 2
    print(f"dx-py: {dxpy}; median of {args.runs} runs after one warm-up")
    results: dict[str, dict[str, tuple[float, int, int]]] = {}
    head = ("target", "pytest_s", "xdist_s", "dxpy_s", "py/dx", "xdist/dx", "cpu_s py/xd/dx",
            "n py/xd/dx", "exit py/xd/dx")
    rows = [head]
    for name, root in targets:
        res = {r: time_runner(command(r, dxpy), root, args.runs) for r in RUNNERS}
        results[name] = res
        py, xd, dx = (res[r] for r in RUNNERS)
        rows.append((name, f"{py[0]:.2f}", f"{xd[0]:.2f}", f"{dx[0]:.2f}", f"{py[0] / dx[0]:.2f}",
                     f"{xd[0] / dx[0]:.2f}", f"{py[3]:.2f}/{xd[3]:.2f}/{dx[3]:.2f}",
                     f"{py[1]}/{xd[1]}/{dx[1]}", f"{py[2]}/{xd[2]}/{dx[2]}"))
        print(f"{name}: done", file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    if args.trivial:
        small, big = results[f"trivial-{args.trivial // 10}"], results[f"trivial-{args.trivial}"]
        extra = args.trivial - args.trivial // 10
        for r in RUNNERS:
            whole = big[r][0] / args.trivial * 1e6
            marginal = (big[r][0] - small[r][0]) / extra * 1e6
            print(f"per-test on trivial tests, {r}: {whole:.0f} us/test (whole run / {args.trivial}), "
                  f"{marginal:.0f} us/test marginal (trivial-{args.trivial} minus trivial-{args.trivial // 10})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
