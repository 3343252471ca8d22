"""dx-py test vs pytest run outcomes, suite by suite, over the real-suite corpus.

    python3 tests/corpus/compare_outcomes.py [SUITE...] [--save-dir DIR] [--residue TSV]
        [--select ARG]...

Per suite, from its unpacked root with the corpus venv: `pytest -p no:cacheprovider -rA -q
--junit-xml A.xml` and `dx-py test --junit-xml B.xml --python <venv python>`. Checks, per test case
(JUnit classname + name): the outcome (passed / failed / error / skipped / xfailed; kinds
`outcome:<pytest>-><dx-py>`, `missing` (only pytest ran it), `extra` (only dx-py ran it)); and per
suite (node ID "-"): the summary line's counts (`summary`) and the exit code (`exit-code`).
Known differences are listed in outcome_residue.tsv (suite, test id, kind, cause, issue); the test
id is "classname::name". An entry whose issue column is "flaky" may be absent in a run (an
order-dependent test whose outcome depends on which worker runs it); every other entry that no
longer occurs is stale. Exit 1 on a difference not listed there or a listed one that no longer
occurs (stale); exit 2 when the corpus, pytest or dx-py cannot be run.

`--select ARG` (repeatable; `--select=-k` for an option) passes ARG to both runners, to compare
part of a suite (e.g. two modules that pytest imports together); residue entries are then
never stale, since the rest of the suite did not run.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import tempfile
from pathlib import Path

import collect
import corpus
import outcomes

RESIDUE_FILE = Path(__file__).with_name("outcome_residue.tsv")
RESIDUE_COLUMNS = ["suite", "test_id", "kind", "cause", "issue"]


@dataclasses.dataclass(frozen=True, order=True)
class Difference:
    suite: str
    test_id: str
    kind: str


def case_id(key: tuple[str, str]) -> str:
    return f"{key[0]}::{key[1]}"


def compare_cases(suite: str, py: dict, dx: dict) -> list[Difference]:
    """Per-case differences; a case run more than once is compared as a sorted list of outcomes."""
    diffs = []
    for key in sorted(py.keys() | dx.keys()):
        if key not in dx:
            diffs.append(Difference(suite, case_id(key), "missing"))
        elif key not in py:
            diffs.append(Difference(suite, case_id(key), "extra"))
        elif sorted(py[key]) != sorted(dx[key]):
            kind = f"outcome:{'+'.join(sorted(py[key]))}->{'+'.join(sorted(dx[key]))}"
            diffs.append(Difference(suite, case_id(key), kind))
    return diffs


def compare_runs(suite: str, py: outcomes.RunResult, dx: outcomes.RunResult) -> list[Difference]:
    diffs = compare_cases(suite, py.cases, dx.cases)
    if py.summary != dx.summary:
        diffs.append(Difference(suite, "-", "summary"))
    if py.exit_code != dx.exit_code:
        diffs.append(Difference(suite, "-", "exit-code"))
    return diffs


FLAKY = "flaky"


def load_residue(path: Path = RESIDUE_FILE) -> dict[Difference, str]:
    """{difference: cause}; a flaky entry's cause is prefixed with "flaky: " (see module docs)."""
    residue = {}
    for lineno, row in corpus.residue_rows(path, RESIDUE_COLUMNS):
        diff = Difference(row[0], row[1], row[2])
        if diff in residue:
            raise corpus.CorpusError(f"{path}:{lineno}: duplicate entry {row[:3]}")
        residue[diff] = f"{FLAKY}: {row[3]}" if row[4].strip() == FLAKY else row[3]
    return residue


def verdict(diffs: set[Difference], residue: dict[Difference, str], checked: set[str]):
    """(unlisted differences, stale residue entries) — stale only for suites that were run."""
    unlisted = sorted(d for d in diffs if d not in residue)
    stale = sorted(d for d, cause in residue.items()
                   if d.suite in checked and d not in diffs and not cause.startswith(f"{FLAKY}: "))
    return unlisted, stale


def stale_checked(suites: list[str], selection: list[str]) -> set[str]:
    """The suites whose residue entries may be stale: those run whole."""
    return set() if selection else set(suites)


def print_table(rows: list[tuple]) -> None:
    head = ("suite", "pytest", "dx-py", "diffs", "unlisted", "exit py/dx", "pytest_s", "dx-py_s")
    corpus.print_columns([head, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare dx-py test outcomes with pytest's.")
    parser.add_argument("suites", nargs="*", help="suite names (default: all)")
    parser.add_argument("--save-dir", type=Path, help="keep each runner's output and JUnit XML here")
    parser.add_argument("--max-shown", type=int, default=60, help="differences printed per suite and kind")
    parser.add_argument("--residue", type=Path, default=RESIDUE_FILE, help="known differences (TSV)")
    parser.add_argument("--select", action="append", default=[], metavar="ARG",
                        help="an argument for both runners (paths, --select=-k ...): part of a suite")
    args = parser.parse_args(argv)
    save = args.save_dir or Path(tempfile.mkdtemp(prefix="dxpy-outcomes-"))
    save.mkdir(parents=True, exist_ok=True)
    try:
        residue = load_residue(args.residue)
        all_suites = corpus.load_suites()
        suites = corpus.select(all_suites, args.suites)
        corpus.ensure_venv(all_suites)
        # The newer of target/release and target/debug unless DXPY_BIN says otherwise: say which.
        print(f"dx-py: {collect.find_dxpy_bin()}", flush=True)
        diffs: set[Difference] = set()
        rows = []
        for suite in suites:
            py = outcomes.run_pytest(suite.root, save / f"{suite.name}.pytest.xml", args.select)
            (save / f"{suite.name}.pytest.txt").write_text(py.stdout + py.stderr)
            dx = outcomes.run_dxpy(suite.root, save / f"{suite.name}.dxpy.xml", args.select)
            (save / f"{suite.name}.dxpy.txt").write_text(dx.stdout + dx.stderr)
            found = compare_runs(suite.name, py, dx)
            diffs.update(found)
            rows.append((suite.name, outcomes.summary_text(py.summary), outcomes.summary_text(dx.summary),
                         str(len(found)), str(sum(d not in residue for d in found)),
                         f"{py.exit_code}/{dx.exit_code}", f"{py.wall_s:.2f}", f"{dx.wall_s:.2f}"))
            print(f"{suite.name}: done ({len(found)} differences)", file=sys.stderr, flush=True)
    except corpus.CorpusError as err:
        print(f"compare_outcomes: error: {err}", file=sys.stderr)
        return 2
    print(f"outputs in {save}")
    print_table(rows)
    unlisted, stale = verdict(diffs, residue, stale_checked([s.name for s in suites], args.select))
    shown: collections.Counter = collections.Counter()
    for d in sorted(diffs):
        listed = residue.get(d)
        shown[d.suite, d.kind, listed is None] += 1
        if shown[d.suite, d.kind, listed is None] <= args.max_shown:
            print(f"  {'known' if listed else 'NEW  '} {d.suite} {d.kind}: {d.test_id}"
                  + (f"  ({listed})" if listed else ""))
    for (suite, kind, new), count in sorted(shown.items()):
        if count > args.max_shown:
            print(f"  ... {count - args.max_shown} more {'NEW' if new else 'known'} {suite} {kind}")
    for d in stale:
        print(f"  STALE residue (no longer occurs, remove it): {d.suite} {d.kind}: {d.test_id}")
    failed = bool(unlisted or stale)
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
