"""Check a JUnit XML file written by a dx_py_test (used by e2e.sh).

usage: junit_check.py FILE [--count N] [--failed NAME]... [--passed NAME]... [--names-out PATH]

Fails (exit 1, message on stderr) unless FILE parses as JUnit (a <testsuites>
or <testsuite> root with <testcase> elements), has exactly N test cases if
--count is given, and each --failed / --passed test case (matched by its
`name` attribute) has / lacks a <failure> or <error> child. --names-out
appends the test case names, one per line, for cross-shard checks.
"""

import argparse
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--count", type=int)
    parser.add_argument("--failed", action="append", default=[])
    parser.add_argument("--passed", action="append", default=[])
    parser.add_argument("--names-out")
    options = parser.parse_args()
    try:
        root = ET.parse(options.file).getroot()
    except (OSError, ET.ParseError) as error:
        print(f"junit_check: {options.file}: {error}", file=sys.stderr)
        return 1
    if root.tag not in ("testsuites", "testsuite"):
        print(f"junit_check: {options.file}: root element is <{root.tag}>", file=sys.stderr)
        return 1
    cases = {case.get("name"): case for case in root.iter("testcase")}
    problems = []
    if options.count is not None and len(cases) != options.count:
        problems.append(f"{len(cases)} test cases, expected {options.count}: {sorted(cases)}")
    for name in options.failed + options.passed:
        if name not in cases:
            problems.append(f"no test case named {name!r} (have {sorted(cases)})")
    for name in options.failed:
        if name in cases and cases[name].find("failure") is None and cases[name].find("error") is None:
            problems.append(f"{name} has no <failure>/<error>")
    for name in options.passed:
        if name in cases and (cases[name].find("failure") is not None or cases[name].find("error") is not None):
            problems.append(f"{name} failed but should pass")
    if problems:
        print(f"junit_check: {options.file}:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if options.names_out:
        with open(options.names_out, "a", encoding="utf-8") as out:
            out.writelines(f"{name}\n" for name in cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
