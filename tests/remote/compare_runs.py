"""Compare two `bazel test` runs of one workspace (used by tests/remote/e2e.sh).

usage: compare_runs.py LOCAL_DIR REMOTE_DIR

Each directory holds a run's bazel-testlogs (test.xml files at their Bazel paths) and
`summary.txt`, the run's `//target  STATUS` lines. The runs must list the same targets with
the same status, have the same test.xml files, and every test case (classname, name) must
have the same outcome in both. Prints a summary; exits 1 listing each difference.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "corpus"))
import outcomes  # noqa: E402  (the corpus harness's JUnit reader)

# `//tests:plain_test   (cached) PASSED in 0.3s` -> ("//tests:plain_test", "PASSED")
STATUS_LINE = re.compile(r"^(//\S+)\s+(?:\(cached\) )?([A-Z][A-Z ]*[A-Z])(?: in .*)?$")


def statuses(run: Path) -> dict[str, str]:
    found = {}
    for line in (run / "summary.txt").read_text(encoding="utf-8").splitlines():
        match = STATUS_LINE.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def cases(run: Path) -> dict[str, dict[tuple[str, str], list[str]]]:
    return {
        str(xml.relative_to(run)): outcomes.parse_junit(xml.read_text(encoding="utf-8"))
        for xml in sorted(run.rglob("test.xml"))
    }


def main() -> int:
    local, remote = Path(sys.argv[1]), Path(sys.argv[2])
    differences = []
    local_status, remote_status = statuses(local), statuses(remote)
    for target in sorted(set(local_status) | set(remote_status)):
        if local_status.get(target) != remote_status.get(target):
            differences.append(f"{target}: local {local_status.get(target)}, remote {remote_status.get(target)}")
    local_cases, remote_cases = cases(local), cases(remote)
    for xml in sorted(set(local_cases) | set(remote_cases)):
        if xml not in local_cases or xml not in remote_cases:
            differences.append(f"{xml}: only in the {'local' if xml in local_cases else 'remote'} run")
            continue
        for key in sorted(set(local_cases[xml]) | set(remote_cases[xml])):
            here, there = local_cases[xml].get(key), remote_cases[xml].get(key)
            if here != there:
                differences.append(f"{xml} {key[0]}::{key[1]}: local {here or 'absent'}, remote {there or 'absent'}")
    total = sum(len(c) for c in local_cases.values())
    print(f"compare_runs: {len(local_status)} targets, {len(local_cases)} test.xml files, {total} test cases; "
          f"{len(differences)} differences")
    for difference in differences:
        print(f"  {difference}")
    return 1 if differences or not local_status or not total else 0


if __name__ == "__main__":
    sys.exit(main())
