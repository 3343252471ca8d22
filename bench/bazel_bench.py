#!/usr/bin/env python3
"""Benchmark: rules_dxpy's dx_py_test against rules_python's py_test + pytest.

Generates a bzlmod workspace (default `.cache/bench/bazel-200/`) with N
packages; each holds one small test file and two targets running it:
`dx` (dx_py_test) and `py` (py_test whose main calls pytest.main on it).
Then, for each kind, on one Bazel server (same flags for both):

  clean   bazel clean, then `bazel test --build_tests_only --test_tag_filters=KIND //...`
  noop    the same command again (everything cached)
  edited  every test file edited (a new comment line), the same command again

and prints wall times and py/dx ratios.

`--remote` measures remote execution instead, on the REAPI server and bots of
tests/remote/up.sh (started and stopped here, or the one `--remote-executor`
names): every action runs remotely (`--strategy=DxPyTest=remote`,
`--strategy=TestRunner=remote`), and for each kind

  remote  bazel clean, then the test command with a new --action_env value
          (new action keys: nothing is in the remote cache yet), executed remotely
  cached  bazel clean, then the same command: every result a remote cache hit
          (checked: Bazel's process summary names no executed process)

Bazel's server is a JVM that keeps compiling its own hot code for the first
builds it runs (a clean dx run right after the server started took 20.8 s and
18.2 s of server CPU; the same run on a warmed server 16.9 s and 9.7 s). So
before timing, each kind runs one untimed clean build, and the runs alternate
which kind goes first: neither kind pays the server's warm-up, and a machine
that slows down during the benchmark slows both. A user's server lives for
hours (3 h idle by default), so the warmed server is also the usual case.
`--fresh-server` measures the other case, a CI machine's first build: the
server is shut down before each clean run and nothing is warmed up.

Bazel runs offline in the Debian sid
chroot through tests/bazel/sid.sh (needs root), like the e2e tests; dx-py is
the development toolchain: target/release/dx-py, or --dxpy-bin.

usage: bench/bazel_bench.py [--targets 200] [--tests-per-file 4] [--runs 1] [--remote]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SID = REPO / "tests" / "bazel" / "sid.sh"
REMOTE = REPO / "tests" / "remote"
KINDS = ("dx", "py")
LOCAL_ROWS = ("clean", "noop", "edited")
REMOTE_ROWS = ("remote", "cached")
# A process summary entry of something that executed, e.g. `12 remote.` or `3 worker,`
# (a cache hit reads `12 remote cache hit`).
EXECUTED = re.compile(r"\b\d+ (remote|worker|multiplex-worker|linux-sandbox|processwrapper-sandbox|local)[,.]")

MODULE = """\
module(name = "dxpy_bazel_bench", version = "0.0.0")

bazel_dep(name = "rules_dxpy", version = "0.1.0")
local_path_override(module_name = "rules_dxpy", path = "{repo}")
bazel_dep(name = "rules_python", version = "0.22.1")

dxpy = use_extension("@rules_dxpy//dxpy:extensions.bzl", "dxpy")
dxpy.development()
use_repo(dxpy, "dxpy_toolchains")
register_toolchains("@dxpy_toolchains//:all")
"""

PACKAGE_BUILD = """\
load("@rules_dxpy//rules:defs.bzl", "dx_py_test")
load("@rules_python//python:defs.bzl", "py_test")

dx_py_test(
    name = "dx",
    size = "small",
    srcs = ["test_{index}.py"],
    tags = ["dx"],
    deps = ["//common:helpers"],
)

py_test(
    name = "py",
    size = "small",
    srcs = ["test_{index}.py", "//common:pytest_main.py"],
    args = ["$(rootpath test_{index}.py)"],
    main = "//common:pytest_main.py",
    tags = ["py"],
    deps = ["//common:helpers_py"],
)
"""

COMMON_BUILD = """\
load("@rules_dxpy//rules:defs.bzl", "dx_py_library")
load("@rules_python//python:defs.bzl", "py_library")

exports_files(["pytest_main.py"])

dx_py_library(name = "helpers", srcs = ["helpers.py"], imports = ["."], visibility = ["//visibility:public"])

py_library(name = "helpers_py", srcs = ["helpers.py"], imports = ["."], visibility = ["//visibility:public"])
"""

PYTEST_MAIN = """\
import sys

import pytest

sys.exit(pytest.main([sys.argv[1], "-q", "-p", "no:cacheprovider"]))
"""

HELPERS = """\
def double(value):
    return value * 2
"""


def test_file(index: int, tests: int) -> str:
    lines = ['"""Generated benchmark tests."""', "", "import pytest", "", "import helpers", ""]
    for number in range(tests):
        if number % 2:
            lines += [f"@pytest.mark.parametrize('value', [1, {index + 2}])", f"def test_{number}(value):"]
            lines += ["    assert helpers.double(value) == value + value", ""]
        else:
            lines += [f"def test_{number}():", f"    assert helpers.double({number}) == {2 * number}", ""]
    return "\n".join(lines)


def generate(root: Path, targets: int, tests: int) -> list[Path]:
    if root.exists():
        shutil.rmtree(root)
    (root / "common").mkdir(parents=True)
    (root / "MODULE.bazel").write_text(MODULE.format(repo=REPO))
    (root / "BUILD.bazel").write_text("")
    (root / "common" / "BUILD.bazel").write_text(COMMON_BUILD)
    (root / "common" / "pytest_main.py").write_text(PYTEST_MAIN)
    (root / "common" / "helpers.py").write_text(HELPERS)
    files = []
    for index in range(targets):
        package = root / f"pkg_{index:03d}"
        package.mkdir()
        (package / "BUILD.bazel").write_text(PACKAGE_BUILD.format(index=index))
        path = package / f"test_{index}.py"
        path.write_text(test_file(index, tests))
        files.append(path)
    return files


def bazel(workspace: Path, *args: str, check: bool = True, nothing_executed: bool = False) -> float:
    command = [str(SID), "bazel", "--workspace", str(workspace), "--", *args]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if check and done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bazel_bench: {' '.join(args)} failed ({done.returncode})")
    if nothing_executed:
        summary = [line for line in done.stderr.splitlines() if re.match(r"INFO: \d+ process", line)]
        if not summary or any(EXECUTED.search(line) for line in summary):
            raise SystemExit(f"bazel_bench: expected only cache hits, got {summary or 'no process summary'}")
    return elapsed


def start_remote() -> str:
    """tests/remote/up.sh: the endpoint of a fresh BuildGrid with its bots."""
    subprocess.run(["bash", str(REMOTE / "down.sh")], check=True)
    done = subprocess.run(["bash", str(REMOTE / "up.sh")], check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--tests-per-file", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="repetitions of each measurement (median)")
    parser.add_argument("--workspace", type=Path, default=REPO / ".cache" / "bench" / "bazel-200")
    parser.add_argument("--dxpy-bin", type=Path, default=REPO / "target" / "release" / "dx-py")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                        help="measure only these (ratios need both)")
    parser.add_argument("--dx-flag", action="append", default=[],
                        help="extra Bazel flag for the dx runs only, e.g. --action_env=DXPY_NO_WARM_SESSION=1")
    parser.add_argument("--fresh-server", action="store_true",
                        help="shut the Bazel server down before each clean run; no warm-up round")
    parser.add_argument("--remote", action="store_true",
                        help="execute remotely, then from the remote cache (see the module docs)")
    parser.add_argument("--remote-executor", help="grpc://HOST:PORT of a running server (default: up.sh)")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bazel_bench: must run as root (tests/bazel/sid.sh needs it)")
    if not options.dxpy_bin.is_file():
        raise SystemExit(f"bazel_bench: no dx-py at {options.dxpy_bin}: cargo build --release -p dxpy_cli")
    workspace = options.workspace.resolve()
    if not workspace.is_relative_to(REPO):
        raise SystemExit("bazel_bench: --workspace must be inside the repository (bound into the chroot)")
    files = generate(workspace, options.targets, options.tests_per_file)
    common = [f"--repo_env=DXPY_DEV_BINARY={options.dxpy_bin.resolve()}", "--build_tests_only", "--test_output=errors"]
    subprocess.run(["bash", str(SID), "provision"], check=True)
    # Start the server and load/fetch everything once, untimed.
    bazel(workspace, "build", "--nobuild", *common, "//...")

    remote: list[str] = []
    started_remote = False
    if options.remote:
        endpoint = options.remote_executor
        if not endpoint:
            endpoint, started_remote = start_remote(), True
        remote = [f"--remote_executor={endpoint}", "--strategy=DxPyTest=remote", "--strategy=TestRunner=remote",
                  "--remote_default_exec_properties=dxpy-executor=sid"]
    nonces = 0

    def command(kind: str) -> list[str]:
        nonlocal nonces
        extra = options.dx_flag if kind == "dx" else []
        if remote:
            # New action keys for each remote run, so it executes; the cached run reuses them.
            nonces += 1
            extra = [*extra, *remote, f"--action_env=DXPY_BENCH_NONCE={time.time_ns()}-{nonces}"]
        return ["test", *common, *extra, f"--test_tag_filters={kind}", "//..."]

    rows = REMOTE_ROWS if options.remote else LOCAL_ROWS
    samples: dict[str, dict[str, list[float]]] = {kind: {name: [] for name in rows} for kind in KINDS}
    edits = 0
    try:
        if options.dx_flag and "dx" in options.kinds:
            # Flags such as --action_env re-run repository rules: not part of the timing.
            bazel(workspace, "build", "--nobuild", *common, *options.dx_flag, "//...")
        for kind in [] if options.fresh_server else options.kinds:  # warm-up, untimed: see the module docs
            bazel(workspace, "clean")
            bazel(workspace, *command(kind))
        for run in range(options.runs):
            order = options.kinds if run % 2 == 0 else list(reversed(options.kinds))
            for kind in order:
                runs = samples[kind]
                if options.fresh_server:
                    bazel(workspace, "shutdown")
                bazel(workspace, "clean")
                if options.remote:
                    remote_run = command(kind)
                    runs["remote"].append(bazel(workspace, *remote_run))
                    bazel(workspace, "clean")
                    runs["cached"].append(bazel(workspace, *remote_run, nothing_executed=True))
                    print(f"bazel_bench: run {run + 1} {kind}: remote {runs['remote'][-1]:.1f}s, "
                          f"cached {runs['cached'][-1]:.1f}s", file=sys.stderr, flush=True)
                    continue
                runs["clean"].append(bazel(workspace, *command(kind)))
                runs["noop"].append(bazel(workspace, *command(kind)))
                edits += 1
                for path in files:
                    with path.open("a") as handle:
                        handle.write(f"# edit {edits}\n")
                runs["edited"].append(bazel(workspace, *command(kind)))
                print(
                    f"bazel_bench: run {run + 1} {kind}: "
                    + ", ".join(f"{name} {values[-1]:.1f}s" for name, values in runs.items()),
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        bazel(workspace, "shutdown", check=False)
        if started_remote:
            subprocess.run(["bash", str(REMOTE / "down.sh")], check=False)

    results = {
        kind: {name: statistics.median(values) for name, values in runs.items() if values}
        for kind, runs in samples.items()
    }
    print(
        f"{options.targets} targets x {options.tests_per_file} test functions, median of {options.runs}"
        + (", a fresh Bazel server for each clean run" if options.fresh_server
           else " (after one untimed clean build of each kind)")
    )
    if options.dx_flag:
        print(f"dx flags: {' '.join(options.dx_flag)}")
    if options.remote:
        print("remote execution on tests/remote/up.sh's BuildGrid and bots")
    print(f"{'run':<8} {'py_test s':>10} {'dx_py_test s':>13} {'py/dx':>7}")
    for name in rows:
        py, dx = results["py"].get(name), results["dx"].get(name)
        ratio = f"{py / dx:>6.2f}x" if py and dx else "     -"
        print(f"{name:<8} {py or float('nan'):>10.1f} {dx or float('nan'):>13.1f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
