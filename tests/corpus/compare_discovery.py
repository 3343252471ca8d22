"""dx-py discovery vs pytest's collection, suite by suite, over the real-suite corpus.

    python3 tests/corpus/compare_discovery.py [SUITE...] [--pytest-only] [--save-dir DIR] [--residue TSV]
        [--dynamic-bounds TSV]

Per suite, from its unpacked root: `pytest --collect-only -q -p no:cacheprovider` (corpus venv),
`dx-py discover` and `dx-py discover --json`. Checks:
  * pytest's own count equals the yardstick's `collected` column (else the environment is off);
  * function-level IDs (`[...]` removed) are equal as sets (kinds missing-function/extra-function);
  * full IDs are equal for every function dx-py reports as not dynamically parametrized
    (kinds missing-id/extra-id); a dynamic function only needs its function-level ID in pytest's list;
  * `dx-py discover` prints the same IDs as `--json` (kind text-vs-json) and pytest's exit code
    (kind exit-code, node_id "-"), and a summary count equal to the IDs it lists (kind summary-count);
  * the number of items dx-py reports dynamic (each one a function whose full IDs go unchecked above)
    equals the suite's bound in dynamic_bounds.tsv (suite, max_dynamic, reason): more is a
    regression, fewer means the bound can be lowered (like stale residue, so it stays tight).
Known differences are listed in discovery_residue.tsv (suite, node_id, kind, cause). Exit 1 when a
difference is not listed there, when a listed one no longer occurs (stale), when a dynamic count is
off its bound (or the suite has none), or when pytest disagrees with the yardstick; exit 2 when the
corpus or dx-py cannot be run.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
from pathlib import Path

import collect
import corpus

RESIDUE_FILE = Path(__file__).with_name("discovery_residue.tsv")
RESIDUE_COLUMNS = ["suite", "node_id", "kind", "cause"]
BOUNDS_FILE = Path(__file__).with_name("dynamic_bounds.tsv")
BOUNDS_COLUMNS = ["suite", "max_dynamic", "reason"]


@dataclasses.dataclass(frozen=True, order=True)
class Difference:
    suite: str
    node_id: str
    kind: str


def compare_items(suite: str, pytest_ids: list[str], dxpy_items: list[dict]) -> list[Difference]:
    """All differences between pytest's node IDs and dx-py's JSON items for one suite."""
    py_functions = {collect.function_id(i) for i in pytest_ids}
    dx_functions = {collect.function_id(i["node_id"]) for i in dxpy_items}
    dynamic = {collect.function_id(i["node_id"]) for i in dxpy_items if i["params"] == "dynamic"}
    diffs = [Difference(suite, f, "missing-function") for f in py_functions - dx_functions]
    diffs += [Difference(suite, f, "extra-function") for f in dx_functions - py_functions]
    # Full IDs only where dx-py claims to know them, and only for functions both sides have
    # (a function one side lacks is already reported above).
    comparable = (dx_functions - dynamic) & py_functions
    py_full = {i for i in pytest_ids if collect.function_id(i) in comparable}
    dx_full = {i["node_id"] for i in dxpy_items
               if i["params"] != "dynamic" and collect.function_id(i["node_id"]) in comparable}
    diffs += [Difference(suite, i, "missing-id") for i in py_full - dx_full]
    diffs += [Difference(suite, i, "extra-id") for i in dx_full - py_full]
    return sorted(diffs)


def load_residue(path: Path = RESIDUE_FILE) -> dict[Difference, str]:
    return {Difference(*row[:3]): row[3] for _, row in corpus.residue_rows(path, RESIDUE_COLUMNS)}


def dynamic_count(dxpy_items: list[dict]) -> int:
    return sum(i["params"] == "dynamic" for i in dxpy_items)


def load_dynamic_bounds(path: Path = BOUNDS_FILE) -> dict[str, int]:
    """{suite: most items dx-py may report dynamic}; every row needs a non-negative bound and a reason."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != BOUNDS_COLUMNS:
        raise corpus.CorpusError(f"{path}: first line must be the header {BOUNDS_COLUMNS}")
    bounds: dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], 2):
        if not line or line.startswith("#"):
            continue
        row = line.split("\t")
        if len(row) != len(BOUNDS_COLUMNS) or not row[1].isdigit() or not row[2].strip():
            raise corpus.CorpusError(f"{path}:{lineno}: need suite, a non-negative count and a reason")
        if row[0] in bounds:
            raise corpus.CorpusError(f"{path}:{lineno}: duplicate suite {row[0]}")
        bounds[row[0]] = int(row[1])
    return bounds


def dynamic_verdict(reports: list[SuiteReport], bounds: dict[str, int]) -> list[str]:
    """One complaint per checked suite whose dynamic count is off its bound or has none."""
    problems = []
    for r in reports:
        if r.dynamic is None:
            continue
        bound = bounds.get(r.suite.name)
        if bound is None:
            problems.append(f"DYNAMIC {r.suite.name}: {r.dynamic} items reported dynamic and no bound "
                            "in dynamic_bounds.tsv")
        elif r.dynamic > bound:
            problems.append(f"DYNAMIC {r.suite.name}: {r.dynamic} items reported dynamic, more than "
                            f"the bound {bound}: discovery lost parameters it used to resolve")
        elif r.dynamic < bound:
            problems.append(f"DYNAMIC {r.suite.name}: {r.dynamic} items reported dynamic, fewer than "
                            f"the bound {bound}: lower it in dynamic_bounds.tsv")
    return problems


@dataclasses.dataclass
class SuiteReport:
    suite: corpus.Suite
    pytest: collect.Collection
    dxpy: collect.Collection | None = None
    dxpy_json: collect.Collection | None = None
    diffs: list[Difference] = dataclasses.field(default_factory=list)
    dynamic: int | None = None  # items dx-py reported dynamic; None when dx-py was not run

    @property
    def yardstick_ok(self) -> bool:
        """pytest agrees with the yardstick, and its ID list with its own summary line."""
        return self.pytest.collected == self.suite.collected == len(self.pytest.node_ids)


def check_suite(suite: corpus.Suite, pytest_only: bool, save_dir: Path | None) -> SuiteReport:
    report = SuiteReport(suite, collect.run_pytest_collect(suite.root))
    if save_dir:
        (save_dir / f"{suite.name}.pytest.txt").write_text(report.pytest.stdout + report.pytest.stderr)
    if pytest_only:
        return report
    report.dxpy = collect.run_dxpy_discover(suite.root)
    report.dxpy_json = collect.run_dxpy_discover(suite.root, json_output=True)
    if save_dir:
        (save_dir / f"{suite.name}.dxpy.txt").write_text(report.dxpy.stdout + report.dxpy.stderr)
        (save_dir / f"{suite.name}.dxpy.json").write_text(report.dxpy_json.stdout)
    items = collect.parse_json_items(report.dxpy_json.stdout or "[]")
    report.diffs = compare_items(suite.name, report.pytest.node_ids, items)
    report.dynamic = dynamic_count(items)
    text_ids, json_ids = set(report.dxpy.node_ids), set(report.dxpy_json.node_ids)
    report.diffs += [Difference(suite.name, i, "text-vs-json") for i in sorted(text_ids ^ json_ids)]
    if report.dxpy.collected != len(report.dxpy.node_ids):
        report.diffs.append(Difference(suite.name, "-", "summary-count"))
    if report.dxpy.exit_code != report.pytest.exit_code:
        report.diffs.append(Difference(suite.name, "-", "exit-code"))
    return report


def print_table(reports: list[SuiteReport], residue: dict[Difference, str]) -> None:
    head = ("suite", "yardstick", "pytest", "dx-py", "dynamic", "fn-diffs", "id-diffs", "other",
            "unlisted", "pytest_s", "dx-py_s")
    rows = [head]
    for r in reports:
        kinds = [d.kind for d in r.diffs]
        fn = sum(k.endswith("-function") for k in kinds)
        full = sum(k.endswith("-id") for k in kinds)
        rows.append((
            r.suite.name, str(r.suite.collected), str(r.pytest.collected),
            "-" if r.dxpy is None else str(r.dxpy.collected), "-" if r.dynamic is None else str(r.dynamic),
            str(fn), str(full),
            str(len(kinds) - fn - full), str(sum(d not in residue for d in r.diffs)),
            f"{r.pytest.wall_s:.2f}", "-" if r.dxpy is None else f"{r.dxpy.wall_s:.2f}"))
    corpus.print_columns(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare dx-py discovery with pytest's collection.")
    parser.add_argument("suites", nargs="*", help="suite names (default: all)")
    parser.add_argument("--pytest-only", action="store_true",
                        help="only run pytest and check it against the yardstick")
    parser.add_argument("--save-dir", type=Path, help="write each tool's raw output here")
    parser.add_argument("--max-shown", type=int, default=100,
                        help="differing IDs printed per suite and kind (all are counted)")
    parser.add_argument("--residue", type=Path, default=RESIDUE_FILE, help="known differences (TSV)")
    parser.add_argument("--dynamic-bounds", type=Path, default=BOUNDS_FILE,
                        help="per-suite count of items dx-py may report dynamic (TSV)")
    args = parser.parse_args(argv)
    try:
        residue = load_residue(args.residue)
        bounds = load_dynamic_bounds(args.dynamic_bounds)
        all_suites = corpus.load_suites()
        suites = corpus.select(all_suites, args.suites)
        corpus.ensure_venv(all_suites)
        if not args.pytest_only:
            print(f"dx-py: {collect.find_dxpy_bin()}")
        if args.save_dir:
            args.save_dir.mkdir(parents=True, exist_ok=True)
        reports = [check_suite(s, args.pytest_only, args.save_dir) for s in suites]
    except corpus.CorpusError as err:
        print(f"compare_discovery: error: {err}", file=sys.stderr)
        return 2
    print_table(reports, residue)
    failed = False
    for r in reports:
        if not r.yardstick_ok:
            failed = True
            print(f"\nENVIRONMENT: {r.suite.name}: pytest collected {r.pytest.collected}, yardstick says "
                  f"{r.suite.collected}, listed {len(r.pytest.node_ids)} IDs (exit {r.pytest.exit_code}); "
                  f"output tail:\n"
                  f"{r.pytest.stderr[-2000:]}{r.pytest.stdout[-2000:]}")
    seen = {d for r in reports for d in r.diffs}
    shown: collections.Counter = collections.Counter()
    for d in sorted(seen):
        listed = residue.get(d)
        failed |= listed is None
        shown[d.suite, d.kind, listed is None] += 1
        if shown[d.suite, d.kind, listed is None] <= args.max_shown:
            print(f"  {'known' if listed else 'NEW  '} {d.suite} {d.kind}: {d.node_id}"
                  + (f"  ({listed})" if listed else ""))
    for (suite, kind, new), count in sorted(shown.items()):
        if count > args.max_shown:
            print(f"  ... {count - args.max_shown} more {'NEW' if new else 'known'} {suite} {kind}")
    checked = {r.suite.name for r in reports if r.dxpy is not None}
    stale = sorted(d for d in residue if d.suite in checked and d not in seen)
    for d in stale:
        print(f"  STALE residue (no longer occurs, remove it): {d.suite} {d.kind}: {d.node_id}")
    failed |= bool(stale)
    for problem in dynamic_verdict(reports, bounds):
        failed = True
        print(f"  {problem}")
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
