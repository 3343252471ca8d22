"""Compare pytest's JUnit XML with the test.xml files of a `bazel test` run (used by e2e.sh).

usage: compare_junit.py PYTEST_XML TESTLOGS_DIR

Every test case (classname, name) must appear in both with the same outcome (passed, failed,
error, skipped, xfailed). Prints a summary; exits 1 listing each difference.
"""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "corpus"))
import outcomes  # noqa: E402  (the corpus harness's JUnit reader)


def read(path: Path) -> dict:
    cases = outcomes.parse_junit(path.read_text(encoding="utf-8"))
    return {key: sorted(set(values)) for key, values in cases.items()}


def main() -> int:
    reference = read(Path(sys.argv[1]))
    bazel: dict = {}
    files = sorted(Path(sys.argv[2]).rglob("test.xml"))
    for xml in files:
        for key, values in read(xml).items():
            if key in bazel:
                print(f"duplicate test case {key} in {xml}")
                return 1
            bazel[key] = values
    differences = [(key, reference.get(key), bazel.get(key))
                   for key in sorted(set(reference) | set(bazel))
                   if reference.get(key) != bazel.get(key)]
    counts = collections.Counter(v[0] for v in reference.values() if len(v) == 1)
    print(f"compare_junit: pytest {len(reference)} cases {dict(counts)}; "
          f"bazel {len(bazel)} cases in {len(files)} test.xml files; {len(differences)} differences")
    for key, py, bz in differences:
        print(f"  {key[0]}::{key[1]}: pytest {py or 'absent'}, bazel {bz or 'absent'}")
    return 1 if differences or not reference else 0


if __name__ == "__main__":
    sys.exit(main())
