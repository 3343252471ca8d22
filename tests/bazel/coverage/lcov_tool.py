#!/usr/bin/env python3
"""Merges LCOV reports as Bazel's coverage tools do, for the offline e2e.

Two command lines, Bazel's:

- ``--reports_file=F --output_file=O`` (``--coverage_report_generator``, the
  ``--combined_report=lcov`` action): F lists the tests' ``coverage.dat`` files;
- ``--coverage_dir=D --output_file=O [--filter_sources=... --source_file_manifest=M]``
  (``--coverage_output_generator``, a native test rule's ``lcov_merger``): the
  ``*.dat`` files in D.

A file's records from several reports become one: line (``DA``), branch
(``BRDA``) and function (``FNDA``) hit counts are added, and the summary lines
(``LF``/``LH``, ``BRF``/``BRH``, ``FNF``/``FNH``) are computed from them.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field


@dataclass
class FileCoverage:
    lines: dict[int, int] = field(default_factory=dict)
    # (line, block, branch) -> taken; None: "-" (the branch's line never ran).
    branches: dict[tuple[int, str, str], int | None] = field(default_factory=dict)
    # name -> the FN line's value (start[,end],name), and name -> hits.
    functions: dict[str, str] = field(default_factory=dict)
    function_hits: dict[str, int] = field(default_factory=dict)


def parse(text: str, into: dict[str, FileCoverage]) -> None:
    current: FileCoverage | None = None
    for raw in text.splitlines():
        line = raw.strip()
        tag, _, value = line.partition(":")
        if tag == "SF":
            current = into.setdefault(value, FileCoverage())
        elif current is None or line == "end_of_record":
            current = None
        elif tag == "DA":
            number, hits = value.split(",")[:2]
            current.lines[int(number)] = current.lines.get(int(number), 0) + int(hits)
        elif tag == "BRDA":
            # coverage.py's branch names are text ("jump to line 7"): the count is last.
            number, block, rest = value.split(",", 2)
            branch, taken = rest.rsplit(",", 1)
            key = (int(number), block, branch)
            old = current.branches.get(key)
            if taken == "-":
                current.branches.setdefault(key, None)
            else:
                current.branches[key] = (old or 0) + int(taken)
        elif tag == "FN":
            current.functions[value.rsplit(",", 1)[-1]] = value
        elif tag == "FNDA":
            hits, name = value.split(",", 1)
            current.function_hits[name] = current.function_hits.get(name, 0) + int(hits)


def render(files: dict[str, FileCoverage]) -> str:
    out: list[str] = []
    for name in sorted(files):
        cov = files[name]
        out.append(f"SF:{name}")
        for function in sorted(cov.functions):
            out.append(f"FN:{cov.functions[function]}")
        for function in sorted(cov.function_hits):
            out.append(f"FNDA:{cov.function_hits[function]},{function}")
        if cov.functions:
            out.append(f"FNF:{len(cov.functions)}")
            out.append(f"FNH:{sum(1 for f in cov.functions if cov.function_hits.get(f, 0) > 0)}")
        for (number, block, branch), taken in sorted(cov.branches.items()):
            out.append(f"BRDA:{number},{block},{branch},{'-' if taken is None else taken}")
        if cov.branches:
            out.append(f"BRF:{len(cov.branches)}")
            out.append(f"BRH:{sum(1 for t in cov.branches.values() if t)}")
        for number in sorted(cov.lines):
            out.append(f"DA:{number},{cov.lines[number]}")
        out.append(f"LF:{len(cov.lines)}")
        out.append(f"LH:{sum(1 for h in cov.lines.values() if h > 0)}")
        out.append("end_of_record")
    return "".join(line + "\n" for line in out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports_file")
    parser.add_argument("--coverage_dir")
    parser.add_argument("--output_file", required=True)
    parser.add_argument("--filter_sources", action="append", default=[])
    parser.add_argument("--source_file_manifest")
    args, _ = parser.parse_known_args(argv)
    if args.reports_file:
        with open(args.reports_file, encoding="utf-8") as listing:
            reports = [line.strip() for line in listing if line.strip()]
    elif args.coverage_dir:
        reports = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(args.coverage_dir)
            for name in names
            if name.endswith(".dat")
        )
    else:
        parser.error("--reports_file or --coverage_dir is required")
    files: dict[str, FileCoverage] = {}
    for report in reports:
        if os.path.abspath(report) == os.path.abspath(args.output_file):
            continue
        with open(report, encoding="utf-8") as source:
            parse(source.read(), files)
    with open(args.output_file, "w", encoding="utf-8") as out:
        out.write(render(files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
