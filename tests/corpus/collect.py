"""Running the two collectors on one suite root and parsing what they print.

`run_pytest_collect` runs `python -m pytest --collect-only -q -p no:cacheprovider` with the corpus
venv's interpreter; `run_dxpy_discover` runs `dx-py discover` (optionally `--json`) from the same
directory with the same arguments. Both return a `Collection` (node IDs in output order, the summary
count, exit code, wall time). Used by compare_discovery.py and bench/discover_bench.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from pathlib import Path

import corpus

# `--verbosity=-1`, not `-q`: pytest's `-q` only counts down from the config's `addopts` (arrow's
# `-v` would cancel it and print the collection tree), the absolute setting comes last and wins.
PYTEST_ARGS = ["--collect-only", "--verbosity=-1", "-p", "no:cacheprovider"]

# "12 tests collected in 0.10s", "1 test collected", "2459/33459 tests collected (31000 deselected)",
# "no tests collected", "5 tests collected, 1 error in ...".
SUMMARY = re.compile(r"^(?:(\d+)(?:/(\d+))?|no) tests? collected\b")


@dataclasses.dataclass
class Collection:
    node_ids: list[str]
    collected: int | None  # the summary line's first number; None when there is no summary
    exit_code: int
    wall_s: float
    stdout: str
    stderr: str


def function_id(node_id: str) -> str:
    """Node ID without its `[...]` parameter part."""
    bracket = node_id.find("[")
    return node_id if bracket < 0 else node_id[:bracket]


def parse_quiet_output(text: str) -> tuple[list[str], int | None]:
    """Node IDs (lines that name an item, up to the first blank line after them: a plugin may
    print before them) and the summary count."""
    ids: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            if ids:
                break
            continue
        if "::" in line:
            ids.append(line)
    collected = None
    for line in reversed(text.splitlines()):
        match = SUMMARY.match(line.strip().strip("= "))
        if match:
            collected = int(match.group(1)) if match.group(1) else 0
            break
    return ids, collected


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return proc, time.perf_counter() - start


def run_pytest_collect(root: Path, *, bytecode: bool = True, extra: list[str] | None = None) -> Collection:
    cmd = [str(corpus.venv_python()), "-m", "pytest", *PYTEST_ARGS, *(extra or [])]
    proc, wall = timed(cmd, root, corpus.clean_env(bytecode))
    ids, count = parse_quiet_output(proc.stdout)
    return Collection(ids, count, proc.returncode, wall, proc.stdout, proc.stderr)


def find_dxpy_bin() -> Path:
    """DXPY_BIN, else the newer of target/release/dx-py and target/debug/dx-py."""
    override = os.environ.get("DXPY_BIN")
    if override:
        path = Path(override)
        if not path.is_file():
            raise corpus.CorpusError(f"DXPY_BIN={override} does not exist")
        return path.resolve()
    built = [corpus.REPO_ROOT / "target" / kind / "dx-py" for kind in ("release", "debug")]
    built = [p for p in built if p.is_file()]
    if not built:
        raise corpus.CorpusError("no dx-py binary: build it (cargo build -p dxpy_cli) or set DXPY_BIN")
    return max(built, key=lambda p: p.stat().st_mtime)


def run_dxpy_discover(root: Path, *, json_output: bool = False, extra: list[str] | None = None,
                      dxpy: Path | None = None) -> Collection:
    cmd = [str(dxpy or find_dxpy_bin()), "discover", *(["--json"] if json_output else []), *(extra or [])]
    proc, wall = timed(cmd, root, corpus.clean_env(True))
    if not json_output:
        ids, count = parse_quiet_output(proc.stdout)
        return Collection(ids, count, proc.returncode, wall, proc.stdout, proc.stderr)
    items = parse_json_items(proc.stdout) if proc.stdout.strip() else []
    return Collection([item["node_id"] for item in items], len(items), proc.returncode, wall,
                      proc.stdout, proc.stderr)


def parse_json_items(text: str) -> list[dict]:
    """`dx-py discover --json`: a JSON array of objects with at least "node_id" and "params"
    ("none" | "static" | "dynamic"). An object with an "items" array is accepted too."""
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise corpus.CorpusError("dx-py --json: expected a JSON array of items")
    for item in data:
        if not isinstance(item, dict) or "node_id" not in item or "params" not in item:
            raise corpus.CorpusError(f"dx-py --json: item lacks node_id/params: {item!r:.200}")
        if item["params"] not in ("none", "static", "dynamic"):
            raise corpus.CorpusError(f"dx-py --json: unknown params value {item['params']!r}")
    return data
