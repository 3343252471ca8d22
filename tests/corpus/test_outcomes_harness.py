"""Unit tests of the outcome-comparison harness (outcomes.py, compare_outcomes.py): stdlib only.

    python3 -m unittest tests/corpus/test_outcomes_harness.py

The JUnit samples are shaped like pytest 9's own output (one line, attributes in pytest's order);
one test runs real pytest with the interpreter the test command names (DXPY_TEST_PYTHON, as
tests/run.sh's harness stage sets it), so the parser is checked against what pytest actually writes,
not only against hand-made XML; without that interpreter the test fails rather than skips.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_outcomes  # noqa: E402
import corpus  # noqa: E402
import outcomes  # noqa: E402

JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" '
    'errors="1" failures="1" skipped="2" tests="6" time="0.1">'
    '<testcase classname="tests.test_a" name="test_pass" time="0.001" />'
    '<testcase classname="tests.test_a" name="test_fail" time="0.001"><failure message="assert 0">'
    'x</failure></testcase>'
    '<testcase classname="tests.test_a" name="test_err" time="0.001"><error message="fixture">e'
    '</error></testcase>'
    '<testcase classname="tests.test_a" name="test_skip" time="0.0"><skipped type="pytest.skip" '
    'message="no">s</skipped></testcase>'
    '<testcase classname="tests.test_a" name="test_xf" time="0.0"><skipped type="pytest.xfail" '
    'message="bug" /></testcase>'
    '<testcase classname="tests.test_a.TestC" name="test_m[a&amp;b]" time="0.0" />'
    '</testsuite></testsuites>'
)


def pytest_python() -> Path:
    """The interpreter with pytest that the test command provides. Missing is a failure, not a
    skip: a skip here would leave the JUnit reader unchecked against real pytest XML unnoticed."""
    name = os.environ.get("DXPY_TEST_PYTHON")
    if not name:
        raise AssertionError("DXPY_TEST_PYTHON is not set: name an interpreter with pytest "
                             "(tests/run.sh sets it to the corpus venv's python)")
    if not Path(name).is_file():
        raise AssertionError(f"DXPY_TEST_PYTHON={name} is not a file")
    return Path(name)


class JunitParsing(unittest.TestCase):
    def test_every_outcome_kind(self):
        cases = outcomes.parse_junit(JUNIT)
        self.assertEqual(cases, {
            ("tests.test_a", "test_pass"): ["passed"],
            ("tests.test_a", "test_fail"): ["failed"],
            ("tests.test_a", "test_err"): ["error"],
            ("tests.test_a", "test_skip"): ["skipped"],
            ("tests.test_a", "test_xf"): ["xfailed"],
            ("tests.test_a.TestC", "test_m[a&b]"): ["passed"],
        })

    def test_teardown_error_after_failure_is_error(self):
        xml = ('<testsuites><testsuite><testcase classname="m" name="t"><failure message="f"/>'
               '<error message="teardown"/></testcase></testsuite></testsuites>')
        self.assertEqual(outcomes.parse_junit(xml), {("m", "t"): ["error"]})

    def test_repeated_case_keeps_both_outcomes(self):
        xml = ('<testsuites><testsuite><testcase classname="m" name="t"/><testcase classname="m" '
               'name="t"><skipped/></testcase></testsuite></testsuites>')
        self.assertEqual(outcomes.parse_junit(xml), {("m", "t"): ["passed", "skipped"]})

    def test_malformed_xml_is_a_corpus_error(self):
        with self.assertRaises(corpus.CorpusError):
            outcomes.parse_junit("<testsuites><testcase")

    def test_real_pytest_junit(self):
        python = pytest_python()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "test_k.py").write_text(textwrap.dedent("""
                import pytest
                def test_p(): pass
                def test_f(): assert 0
                @pytest.fixture
                def boom(): raise RuntimeError
                def test_e(boom): pass
                def test_s(): pytest.skip("x")
                @pytest.mark.xfail
                def test_xf(): assert 0
                @pytest.mark.xfail
                def test_xp(): pass
            """))
            env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
            proc = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   "--junit-xml", str(root / "a.xml")], cwd=root, capture_output=True,
                                  text=True, env=env)
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)  # pytest's "tests failed"
            cases = outcomes.parse_junit((root / "a.xml").read_text())
            summary = outcomes.parse_summary(proc.stdout)
        self.assertEqual({k[1]: v for k, v in cases.items()}, {
            "test_p": ["passed"], "test_f": ["failed"], "test_e": ["error"], "test_s": ["skipped"],
            "test_xf": ["xfailed"], "test_xp": ["passed"],  # JUnit cannot tell an xpass from a pass
        })
        self.assertEqual(summary, collections.Counter(
            {"failed": 1, "passed": 1, "skipped": 1, "xfailed": 1, "xpassed": 1, "error": 1}))


class SummaryParsing(unittest.TestCase):
    def test_quiet_line(self):
        self.assertEqual(outcomes.parse_summary("...\n537 passed, 2 xfailed, 1 xpassed in 3.21s\n"),
                         collections.Counter(passed=537, xfailed=2, xpassed=1))

    def test_framed_line_and_plurals(self):
        text = "=== 1 failed, 3 passed, 1 warning, 2 errors in 0.50s ===\n"
        self.assertEqual(outcomes.parse_summary(text),
                         collections.Counter(failed=1, passed=3, warnings=1, error=2))

    def test_subtests_and_elapsed_minutes(self):
        text = "765 passed, 21194 subtests passed in 75.02s (0:01:15)"
        self.assertEqual(outcomes.parse_summary(text),
                         collections.Counter({"passed": 765, "subtests passed": 21194}))

    def test_no_tests_ran_and_absent(self):
        self.assertEqual(outcomes.parse_summary("no tests ran in 0.01s"), collections.Counter())
        self.assertEqual(outcomes.parse_summary("nothing here"), collections.Counter())

    def test_last_line_wins(self):
        self.assertEqual(outcomes.parse_summary("1 passed in 1s\nx\n2 failed in 1s\n"),
                         collections.Counter(failed=2))


def run(cases, summary=None, code=0):
    return outcomes.RunResult(cases, collections.Counter(summary or {}), code, 0.0, "", "")


class Comparison(unittest.TestCase):
    def test_equal_runs_have_no_differences(self):
        a = run({("m", "t"): ["passed"]}, {"passed": 1})
        self.assertEqual(compare_outcomes.compare_runs("s", a, a), [])

    def test_each_kind(self):
        py = run({("m", "a"): ["passed"], ("m", "b"): ["failed"], ("m", "c"): ["xfailed"]},
                 {"passed": 1, "failed": 1, "xfailed": 1}, 1)
        dx = run({("m", "b"): ["failed"], ("m", "c"): ["skipped"], ("m", "d"): ["passed"]},
                 {"passed": 1, "failed": 1, "skipped": 1}, 0)
        kinds = {(d.test_id, d.kind) for d in compare_outcomes.compare_runs("s", py, dx)}
        self.assertEqual(kinds, {("m::a", "missing"), ("m::c", "outcome:xfailed->skipped"),
                                 ("m::d", "extra"), ("-", "summary"), ("-", "exit-code")})


class Residue(unittest.TestCase):
    def write(self, text):
        handle = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)
        handle.write(text)
        handle.close()
        self.addCleanup(os.unlink, handle.name)
        return Path(handle.name)

    HEADER = "suite\ttest_id\tkind\tcause\tissue\n"

    def test_loads_rows_and_skips_comments(self):
        path = self.write(self.HEADER + "# note\nsq\tm::t[\"q\"]\tmissing\twhy\t#12\n")
        self.assertEqual(compare_outcomes.load_residue(path),
                         {compare_outcomes.Difference("sq", 'm::t["q"]', "missing"): "why"})

    def test_rejects_bad_header_missing_cause_and_duplicates(self):
        for text in ("suite\tnode_id\tkind\tcause\n",
                     self.HEADER + "sq\tm::t\tmissing\t\t\n",
                     self.HEADER + "sq\tm::t\tmissing\n",
                     self.HEADER + "sq\tm::t\tmissing\ta\t\nsq\tm::t\tmissing\tb\t\n"):
            with self.subTest(text=text), self.assertRaises(corpus.CorpusError):
                compare_outcomes.load_residue(self.write(text))

    def test_flaky_entry_may_be_absent(self):
        path = self.write(self.HEADER + "a\tm::t\tmissing\torder-dependent\tflaky\n"
                          "a\tm::u\tmissing\tstable\t#3\n")
        residue = compare_outcomes.load_residue(path)
        unlisted, stale = compare_outcomes.verdict(set(), residue, {"a"})
        self.assertEqual(unlisted, [])
        self.assertEqual(stale, [compare_outcomes.Difference("a", "m::u", "missing")])
        # Present, a flaky entry still covers its difference.
        seen = {compare_outcomes.Difference("a", "m::t", "missing")}
        self.assertEqual(compare_outcomes.verdict(seen, residue, {"a"})[0], [])

    def test_unlisted_and_stale(self):
        D = compare_outcomes.Difference
        residue = {D("a", "x", "missing"): "c", D("a", "gone", "extra"): "c", D("b", "y", "extra"): "c"}
        seen = {D("a", "x", "missing"), D("a", "new", "summary")}
        unlisted, stale = compare_outcomes.verdict(seen, residue, {"a"})
        self.assertEqual(unlisted, [D("a", "new", "summary")])
        # "b" was not run this time, so its entry is not stale.
        self.assertEqual(stale, [D("a", "gone", "extra")])

    def test_a_selection_makes_no_entry_stale(self):
        D = compare_outcomes.Difference
        residue = {D("a", "gone", "extra"): "c"}
        checked = compare_outcomes.stale_checked(["a"], ["tests/test_x.py"])
        self.assertEqual(compare_outcomes.verdict(set(), residue, checked), ([], []))
        whole = compare_outcomes.stale_checked(["a"], [])
        self.assertEqual(compare_outcomes.verdict(set(), residue, whole)[1], [D("a", "gone", "extra")])


if __name__ == "__main__":
    unittest.main()
