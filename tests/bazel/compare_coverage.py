"""Compares Bazel's merged LCOV report with coverage.py's for the same tests under pytest.

Usage: compare_coverage.py MERGED REFERENCE

Both must name the same files (execroot-relative paths), and for each file the
executable lines and the lines hit (``DA``, so ``LF``/``LH``) and the branches
and the branches taken (``BRDA``, so ``BRF``/``BRH``) must be equal. Hit counts
may differ: Bazel adds up the counts of every test target, while a single
pytest run counts each line once. Exits 1, listing every difference, otherwise
prints one line per file.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "coverage"))

from lcov_tool import FileCoverage, parse  # noqa: E402


def load(path: str) -> dict[str, FileCoverage]:
    files: dict[str, FileCoverage] = {}
    with open(path, encoding="utf-8") as report:
        parse(report.read(), files)
    return files


def summary(cov: FileCoverage) -> dict[str, list[Any]]:
    return {
        "lines": sorted(cov.lines),
        "lines hit": sorted(n for n, hits in cov.lines.items() if hits > 0),
        "branches": sorted(cov.branches),
        "branches taken": sorted(key for key, taken in cov.branches.items() if taken),
    }


def main(merged_path: str, reference_path: str) -> int:
    merged, reference = load(merged_path), load(reference_path)
    problems: list[str] = []
    if not reference:
        problems.append(f"the reference report {reference_path} names no file")
    for name in sorted(set(merged) | set(reference)):
        if name not in merged:
            problems.append(f"{name}: in coverage.py's report only")
            continue
        if name not in reference:
            problems.append(f"{name}: in Bazel's report only")
            continue
        ours, theirs = summary(merged[name]), summary(reference[name])
        for what in ours:
            if ours[what] != theirs[what]:
                problems.append(f"{name}: {what} differ: bazel {ours[what]} != coverage.py {theirs[what]}")
        if ours == theirs:
            print(
                f"{name}: LF {len(ours['lines'])} LH {len(ours['lines hit'])} "
                f"BRF {len(ours['branches'])} BRH {len(ours['branches taken'])}"
            )
    for problem in problems:
        print(f"coverage mismatch: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
