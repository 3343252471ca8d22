"""Wall-time benchmark of `dx-py gazelle` (BUILD generation) and of the import graph.

    python3 bench/gazelle_bench.py [--packages 2000] [--runs 3] [--edits 5] [--no-graph]
                                   [--synth-files 2000] [--json FILE]

Part 1, gazelle on a generated tree of --packages Python packages (`.cache/bench/gazelle-N/`,
deterministic, rewritten on each run): `pkgs/gNN/pNNNN/` with `__init__.py`, `mod.py`
(importing 1-3 lower-numbered packages: acyclic, like a layered code base) and `test_mod.py`
(importing its package and one other); one conftest.py per group. Timings, median of --runs:
  cold       no BUILD files and an empty dx-py cache (every file parsed, every BUILD written)
  noop       the same command again: nothing to write, imports served from the cache
  check      `--mode check` on the up-to-date tree (what CI runs)
  edit       --edits modules get a new first-party import, then a fix run (those BUILD files change)
Ratios: cold/noop and cold/edit (how much cheaper an incremental run is than a rebuild).

Part 2 (skip with --no-graph), the import graph on the synthetic suite of bench/synth.py
(`.cache/bench/synth-FILES`): `dx-py affected --changed helpers/h000.py` with an empty cache
(graph build cold: discovery and import extraction from scratch) and with a warm cache (graph
build warm: what an editor integration or watch mode pays per query).

The binary is $DXPY_BIN, else target/release/dx-py, else target/debug/dx-py. Not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402

GROUP_SIZE = 100


def dxpy_binary() -> Path:
    if os.environ.get("DXPY_BIN"):
        return Path(os.environ["DXPY_BIN"]).resolve()
    for profile in ("release", "debug"):
        candidate = REPO_ROOT / "target" / profile / "dx-py"
        if candidate.exists():
            return candidate
    sys.exit("no dx-py binary: cargo build --release -p dxpy_cli, or set DXPY_BIN")


def package_dir(index: int) -> str:
    return f"pkgs/g{index // GROUP_SIZE:02d}/p{index:04d}"


def module_name(index: int) -> str:
    return package_dir(index).replace("/", ".")


def generate_tree(root: Path, packages: int, seed: int = 1) -> None:
    """The package tree, byte-identical for the same arguments."""
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(seed)
    (root / "pkgs").mkdir(parents=True)
    (root / "pkgs" / "__init__.py").write_text("")
    (root / "MODULE.bazel").write_text('module(name = "gazelle_bench")\n')
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = pkgs\n")
    for group in range((packages + GROUP_SIZE - 1) // GROUP_SIZE):
        gdir = root / "pkgs" / f"g{group:02d}"
        gdir.mkdir()
        (gdir / "__init__.py").write_text("")
        (gdir / "conftest.py").write_text("import pytest\n\n\n@pytest.fixture\ndef base():\n    return 1\n")
    for i in range(packages):
        pdir = root / package_dir(i)
        pdir.mkdir()
        (pdir / "__init__.py").write_text("from .mod import VALUE\n")
        deps = sorted(rng.sample(range(i), min(i, rng.randint(1, 3)))) if i else []
        lines = ["import os", "import json"]
        lines += [f"from {module_name(d)} import mod as dep{d}" for d in deps]
        lines += ["", f"VALUE = {i} + sum([{', '.join(f'dep{d}.VALUE' for d in deps) or '0'}])", ""]
        (pdir / "mod.py").write_text("\n".join(lines))
        other = rng.randrange(packages)
        (pdir / "test_mod.py").write_text(
            f"from {module_name(i)} import mod\nimport {module_name(other)}\n\n\n"
            f"def test_value(base):\n    assert mod.VALUE >= 0\n"
        )


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1, 5):
        print(f"  ! {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}", file=sys.stderr)
    return elapsed, proc.returncode


def remove_build_files(root: Path) -> None:
    for build in root.rglob("BUILD.bazel"):
        build.unlink()


def bench_gazelle(dxpy: Path, packages: int, runs: int, edits: int) -> dict[str, float]:
    root = REPO_ROOT / ".cache" / "bench" / f"gazelle-{packages}"
    generate_tree(root, packages)
    cache = Path(tempfile.mkdtemp(prefix="dxpy-gazelle-bench-"))
    env = dict(os.environ, DXPY_CACHE_DIR=str(cache))
    base = [str(dxpy), "gazelle", "--repo-root", str(root)]
    samples: dict[str, list[float]] = {"cold": [], "noop": [], "check": [], "edit": []}
    try:
        for run in range(runs):
            remove_build_files(root)
            shutil.rmtree(cache, ignore_errors=True)
            samples["cold"].append(timed(base, env)[0])
            samples["noop"].append(timed(base, env)[0])
            elapsed, code = timed(base + ["--mode", "check"], env)
            if code != 0:
                print("  ! the no-op check found drift: the generator is not idempotent", file=sys.stderr)
            samples["check"].append(elapsed)
            for k in range(edits):
                target = (run * edits + k) * 7 % packages
                mod = root / package_dir(target) / "mod.py"
                extra = (target + 1) % packages
                mod.write_text(mod.read_text() + f"\nimport {module_name(extra)}.mod as extra{run}_{k}\n")
            samples["edit"].append(timed(base, env)[0])
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    builds = sum(1 for _ in root.rglob("BUILD.bazel"))
    print(f"gazelle on {packages} packages ({builds} BUILD files), median of {runs}:")
    medians = {k: statistics.median(v) for k, v in samples.items()}
    for key, value in medians.items():
        print(f"  {key:6s} {value:8.3f} s")
    print(f"  cold/noop {medians['cold'] / medians['noop']:.1f}x   cold/check {medians['cold'] / medians['check']:.1f}x"
          f"   cold/edit {medians['cold'] / medians['edit']:.1f}x")
    return medians


def bench_graph(dxpy: Path, files: int, runs: int) -> dict[str, float]:
    root = REPO_ROOT / ".cache" / "bench" / f"synth-{files}"
    meta = root / "synth.json"
    wanted = {"seed": 1, "files": files, "tests_per_file": 25, "helpers": 200}
    current = json.loads(meta.read_text()) if meta.exists() else {}
    if any(current.get(k) != v for k, v in wanted.items()):
        synth.generate(root, files, 25, 200, 1)
    cache = Path(tempfile.mkdtemp(prefix="dxpy-graph-bench-"))
    env = dict(os.environ, DXPY_CACHE_DIR=str(cache))
    cmd = [str(dxpy), "affected", "--rootdir", str(root), "--changed", str(root / "helpers" / "h000.py")]
    cold, warm = [], []
    try:
        for _ in range(runs):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(timed(cmd, env, root)[0])
            warm.append(timed(cmd, env, root)[0])
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    medians = {"affected_cold": statistics.median(cold), "affected_warm": statistics.median(warm)}
    print(f"import graph on synth-{files} (`dx-py affected --changed helpers/h000.py`), median of {runs}:")
    print(f"  cold   {medians['affected_cold']:8.3f} s   (discovery + graph built from scratch)")
    print(f"  warm   {medians['affected_warm']:8.3f} s   (caches valid)")
    print(f"  cold/warm {medians['affected_cold'] / medians['affected_warm']:.1f}x")
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--no-graph", action="store_true")
    parser.add_argument("--synth-files", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    dxpy = dxpy_binary()
    print(f"binary: {dxpy}")
    results = {"gazelle": bench_gazelle(dxpy, args.packages, args.runs, args.edits)}
    if not args.no_graph:
        results["graph"] = bench_graph(dxpy, args.synth_files, args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
