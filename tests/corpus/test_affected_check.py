"""Tests of affected_check.py (stdlib unittest; run with the other harness tests).

The end-to-end tests break modules and functions of a small suite made here, with the real
`dx-py affected` (DXPY_BIN or the repo's build), with a stand-in that selects nothing and with one
that selects everything, which must be caught.
They need an interpreter with pytest: DXPY_TEST_PYTHON, else the corpus venv.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))
import affected_check  # noqa: E402
import collect  # noqa: E402
import corpus  # noqa: E402


class KeyTests(unittest.TestCase):
    def test_node_id_and_junit_pair_reduce_to_the_same_key(self):
        cases = [
            ("tests/test_a.py::test_f[1-x]", "tests.test_a", "test_f[1-x]"),
            ("tests/test_a.py::TestC::test_m", "tests.test_a.TestC", "test_m"),
            ("pkg/tests/test_b.py::TestC::Inner::test_m[a]", "pkg.tests.test_b.TestC.Inner", "test_m[a]"),
            ("test_top.py::test_g", "test_top", "test_g"),
        ]
        for node_id, classname, name in cases:
            with self.subTest(node_id=node_id):
                self.assertEqual(affected_check.node_key(node_id),
                                 affected_check.function_key(classname, name))

    def test_broken_by_counts_new_failures_and_vanished_tests_only(self):
        baseline = {"a::t1": {"passed"}, "a::t2": {"passed"}, "a::t3": {"failed"}, "a::t4": {"skipped"}}
        after = {"a::t1": {"passed"}, "a::t2": {"error"}, "a::t3": {"failed"}}
        self.assertEqual(affected_check.broken_by(baseline, after), {"a::t2", "a::t4"})

    def test_a_broken_test_is_reported_by_its_own_failure_or_its_modules_collection_error(self):
        failing = {"tests.test_a::test_f", "::tests.test_b"}
        self.assertTrue(affected_check.reported_failing("tests.test_a::test_f", failing))
        # A collection error (JUnit: empty classname, the module as name) covers its tests,
        # in classes too.
        self.assertTrue(affected_check.reported_failing("tests.test_b::test_g", failing))
        self.assertTrue(affected_check.reported_failing("tests.test_b.TestC::test_m", failing))
        self.assertFalse(affected_check.reported_failing("tests.test_a::test_other", failing))
        self.assertFalse(affected_check.reported_failing("tests.test_bb::test_g", failing))
        whole = {affected_check.WHOLE_SESSION}
        self.assertTrue(affected_check.reported_failing("tests.test_a::test_other", whole))

    def test_a_result_hidden_by_the_cache_is_counted(self):
        result = affected_check.ModuleResult("m.py", broken={"a::t1", "a::t2"}, selected={"a::t1", "a::t2"},
                                             affected_failing={"a::t1"})
        self.assertEqual(result.hidden, {"a::t2"})

    def test_sample_is_spread_and_deterministic(self):
        modules = [Path(f"m{i}.py") for i in range(10)]
        self.assertEqual(affected_check.sample(modules, 0), modules)
        self.assertEqual(affected_check.sample(modules, 3), [Path("m0.py"), Path("m3.py"), Path("m6.py")])
        self.assertEqual(affected_check.sample(modules, 20), modules)


FUNCTIONS_SOURCE = textwrap.dedent("""\
    import typing


    def used(x):
        \"\"\"Doc.\"\"\"
        return x


    def one_line(x): return x


    def unused_by_tests():
        return 1


    @typing.overload
    def used_overload(x: int) -> int: ...


    class Box:
        def used_method(self,
                        y):
            if y:
                return y

        def __repr__(self):
            return "Box"

        class Inner:
            async def used_async(self):
                await thing()
    """)


class FunctionBreakTests(unittest.TestCase):
    NAMES = {"used", "one_line", "used_overload", "used_method", "__repr__", "used_async"}

    def breakable(self):
        import ast
        return affected_check.breakable_functions(Path("m.py"), ast.parse(FUNCTIONS_SOURCE).body, "",
                                                  FUNCTIONS_SOURCE.split("\n"), self.NAMES)

    def test_breakable_functions_are_named_by_tests_and_have_a_body_line(self):
        found = {(f.qualname, f.line, f.indent) for f in self.breakable()}
        self.assertEqual(found, {("used", 5, "    "), ("Box.used_method", 23, "        "),
                                 ("Box.Inner.used_async", 31, "            ")})

    def test_break_raises_on_call_and_keeps_the_module_importable(self):
        for target in self.breakable():
            with self.subTest(target=target.qualname):
                broken = affected_check.with_function_break(FUNCTIONS_SOURCE, target)
                namespace = {}
                exec(compile(broken, "m.py", "exec"), namespace)  # imports without raising
                self.assertEqual(broken.split("\n")[target.line - 1].strip(),
                                 affected_check.BREAK_LINE.strip())
        used = next(f for f in self.breakable() if f.qualname == "used")
        namespace = {}
        exec(compile(affected_check.with_function_break(FUNCTIONS_SOURCE, used), "m.py", "exec"), namespace)
        with self.assertRaisesRegex(RuntimeError, "broken by"):
            namespace["used"](1)

    def test_sample_is_seeded(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "pkg").mkdir()
            (root / "pkg" / "m.py").write_text(FUNCTIONS_SOURCE)
            (root / "tests").mkdir()
            (root / "tests" / "test_m.py").write_text("from pkg.m import used, Box\nBox().used_method\n"
                                                      "Box.Inner.used_async\n")
            # Not a test module: its names do not count (click's tests/typing/ files).
            (root / "tests" / "typing_m.py").write_text("from pkg.m import unused_by_tests\n")
            self.assertNotIn("unused_by_tests", affected_check.test_names(root))
            self.assertIn("used_method", affected_check.test_names(root))
            modules = [Path("pkg/m.py")]
            first = affected_check.sample_functions(root, modules, 2, seed=3)
            self.assertEqual(len(first), 2)
            self.assertEqual(first, affected_check.sample_functions(root, modules, 2, seed=3))
            self.assertEqual(len(affected_check.sample_functions(root, modules, 9, seed=3)), 3)
            self.assertEqual(affected_check.sample_functions(root, modules, 0, seed=3), [])
            seeds = {tuple(f.qualname for f in affected_check.sample_functions(root, modules, 1, seed=n))
                     for n in range(20)}
            self.assertGreater(len(seeds), 1)  # the seed matters


def result(broken, selected, universe=10, function=""):
    return affected_check.ModuleResult("m.py", {f"t::{i}" for i in range(broken)},
                                       {f"t::{i}" for i in range(selected)}, function,
                                       {f"t::{i}" for i in range(universe)})


class PrecisionTests(unittest.TestCase):
    def test_too_broad_only_for_import_breaks_that_leave_most_of_the_suite(self):
        self.assertTrue(result(1, 10).too_broad)  # a leaf module selecting everything
        self.assertFalse(result(1, 9).too_broad)  # 90% is still allowed
        self.assertFalse(result(5, 10).too_broad)  # half the suite broke: it is no leaf
        self.assertFalse(result(1, 10, function="f").too_broad)  # function breaks: printed only
        self.assertFalse(result(0, 0, universe=0).too_broad)

    def test_broad_verdict_listed_unlisted_past_count_and_stale(self):
        broad = {("s", "m.py"): 10}
        self.assertEqual(affected_check.broad_verdict("s", [result(1, 10)], broad), [])
        self.assertEqual(affected_check.broad_verdict("s", [result(1, 9)], {}), [])
        for results, listing, start in (([result(1, 10)], {}, "TOO BROAD s m.py: selected 10 of 10"),
                                        ([result(1, 10)], {("s", "m.py"): 9}, "TOO BROAD s m.py"),
                                        ([result(1, 2)], broad, "STALE s m.py")):
            problems = affected_check.broad_verdict("s", results, listing)
            self.assertEqual(len(problems), 1)
            self.assertTrue(problems[0].startswith(start), problems[0])

    def test_precision_line(self):
        line = affected_check.precision_line("s", [result(2, 4), result(1, 4, function="f")])
        self.assertEqual(line, "precision s: import breaks 1: needed 2 of 4 selected (precision 50%); "
                               "function breaks 1: needed 1 of 4 selected (precision 25%)")

    def test_broad_file_rows(self):
        self.assertIn(("toolz", "tlz/__init__.py"), affected_check.load_broad())
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as handle:
            handle.write("suite\tmodule\tmax_selected\tcause\ns\tm.py\tmany\twhy\n")
        self.addCleanup(os.unlink, handle.name)
        with self.assertRaises(corpus.CorpusError):
            affected_check.load_broad(Path(handle.name))


SUITE_FILES = {
    "src/demo/__init__.py": "from demo.core import double\n",
    "src/demo/core.py": "def double(x):\n    return 2 * x\n",
    "src/demo/lazy.py": "def triple(x):\n    return 3 * x\n",
    "src/demo/unused.py": "VALUE = 1\n",
    "tests/conftest.py": "",
    "tests/test_core.py": "from demo import double\n\ndef test_double():\n    assert double(2) == 4\n",
    "tests/test_lazy.py": textwrap.dedent("""\
        def test_triple():
            from demo.lazy import triple
            assert triple(2) == 6

        def test_unrelated():
            assert True
        """),
    # Items made by a conftest hook: dx-py cannot list them, it selects their directory.
    "tests/data/conftest.py": textwrap.dedent("""\
        import pytest
        from demo import double

        class TxtItem(pytest.Item):
            def runtest(self):
                assert double(int(self.path.read_text())) % 2 == 0

        class TxtFile(pytest.File):
            def collect(self):
                yield TxtItem.from_parent(self, name="case")

        def pytest_collect_file(file_path, parent):
            if file_path.suffix == ".txt":
                return TxtFile.from_parent(parent, path=file_path)
        """),
    "tests/data/one.txt": "1\n",
}


def suite_python() -> Path | None:
    for candidate in (os.environ.get("DXPY_TEST_PYTHON"), corpus.venv_python()):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@unittest.skipUnless(suite_python(), "needs DXPY_TEST_PYTHON or the corpus venv (tests/run.sh setup makes it)")
class EndToEndTests(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.cache = Path(tmp.name)
        self.suite = corpus.Suite("demo", "1.0", "0" * 64, (), 3, "3 passed", 0.0, 0.0)
        for rel, text in SUITE_FILES.items():
            path = self.cache / "corpus" / self.suite.key / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        python = suite_python().absolute()
        patches = [mock.patch.object(corpus, "corpus_cache", lambda: self.cache / "corpus"),
                   mock.patch.object(corpus, "venv_dir", lambda: python.parent.parent),
                   mock.patch.object(corpus, "venv_python", lambda: python)]
        for patch in patches:
            patch.start()
            self.addCleanup(patch.stop)

    def results(self, dxpy: Path, functions: int = 0) -> dict[str, affected_check.ModuleResult]:
        return {r.label: r for r in affected_check.check_suite(self.suite, 0, dxpy, 120, functions)}

    def stand_in(self, name: str, output: str) -> Path:
        """A dx-py whose `affected` prints `output`; its `test` is the real one."""
        path = self.cache / name
        real = collect.find_dxpy_bin()
        path.write_text(f"#!/bin/sh\nif [ \"$1\" = test ]; then exec '{real}' \"$@\"; fi\n"
                        f"printf '{output}'\nexit 0\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return path

    def hiding_stand_in(self) -> Path:
        """A dx-py whose `affected` is the real one but whose `test --affected` reports every
        test passing: a result cache that replays stale passes."""
        path = self.cache / "dx-py-hides-failures"
        real = collect.find_dxpy_bin()
        path.write_text(textwrap.dedent(f"""\
            #!{sys.executable}
            import re, subprocess, sys
            proc = subprocess.run(["{real}", *sys.argv[1:]], capture_output=True, text=True)
            if sys.argv[1] == "test" and "--junit-xml" in sys.argv:
                junit = sys.argv[sys.argv.index("--junit-xml") + 1]
                with open(junit) as f:
                    xml = f.read()
                xml = re.sub(r"<(failure|error)[^>]*?(/>|>.*?</\\1>)", "", xml, flags=re.S)
                with open(junit, "w") as f:
                    f.write(xml)
            sys.stdout.write(proc.stdout)
            sys.exit(0)
        """))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return path

    def test_real_dxpy_selects_everything_broken(self):
        results = self.results(collect.find_dxpy_bin())
        self.assertEqual(set(results), {"src/demo/__init__.py", "src/demo/core.py", "src/demo/lazy.py",
                                        "src/demo/unused.py"})
        core = results["src/demo/core.py"]
        # test_triple imports demo.lazy inside the test, which runs demo/__init__.py first.
        self.assertEqual(core.broken, {"tests.test_core::test_double", "tests.test_lazy::test_triple",
                                       "tests.data.one.txt::case"})
        self.assertEqual(core.missed, set())
        lazy = results["src/demo/lazy.py"]
        self.assertEqual(lazy.broken, {"tests.test_lazy::test_triple"})
        self.assertEqual(lazy.missed, set())
        self.assertEqual(results["src/demo/unused.py"].broken, set())

    def test_function_breaks_with_real_dxpy(self):
        results = self.results(collect.find_dxpy_bin(), functions=2)
        double = results["src/demo/core.py::double"]
        # demo/__init__.py imports double without calling it: test_triple still passes.
        self.assertEqual(double.broken, {"tests.test_core::test_double", "tests.data.one.txt::case"})
        self.assertEqual(double.missed, set())
        triple = results["src/demo/lazy.py::triple"]
        self.assertEqual(triple.broken, {"tests.test_lazy::test_triple"})
        self.assertEqual(triple.missed, set())
        self.assertEqual(len(results), 6)

    def main(self, stand_in: Path, *args: str) -> tuple[int, str]:
        with mock.patch.object(collect, "find_dxpy_bin", lambda: stand_in), \
                mock.patch.object(corpus, "load_suites", lambda: [self.suite]), \
                contextlib.redirect_stdout(io.StringIO()) as out:
            code = affected_check.main(list(args))
        return code, out.getvalue()

    def test_a_dxpy_that_selects_nothing_is_caught(self):
        stand_in = self.stand_in("dx-py-selects-nothing", "")
        results = self.results(stand_in, functions=1)
        self.assertEqual(results["src/demo/lazy.py"].missed, {"tests.test_lazy::test_triple"})
        function_break = next(r for r in results.values() if r.function)
        self.assertTrue(function_break.broken)
        self.assertEqual(function_break.missed, function_break.broken)
        code, out = self.main(stand_in, "--modules", "0", "--functions", "1")
        self.assertEqual(code, 1)
        self.assertIn("MISSED demo src/demo/lazy.py: tests.test_lazy::test_triple", out)
        self.assertIn(f"MISSED demo {function_break.label}: ", out)

    def test_a_result_cache_that_replays_stale_passes_is_caught(self):
        code, out = self.main(self.hiding_stand_in(), "--modules", "0", "--functions", "0")
        self.assertEqual(code, 1, out)
        self.assertIn("HIDDEN demo src/demo/lazy.py: tests.test_lazy::test_triple", out)
        self.assertNotIn("MISSED", out)

    def test_a_dxpy_that_selects_everything_is_caught(self):
        every = "tests/test_core.py::test_double\\ntests/test_lazy.py::test_triple\\n" \
                "tests/test_lazy.py::test_unrelated\\ntests/data/\\n"
        stand_in = self.stand_in("dx-py-selects-everything", every)
        # unused.py breaks no test and lazy.py one of four, yet all four are selected.
        code, out = self.main(stand_in, "--modules", "0", "--functions", "0")
        self.assertEqual(code, 1, out)
        self.assertIn("TOO BROAD demo src/demo/unused.py: selected 4 of 4 tests, 0 broken", out)
        self.assertIn("TOO BROAD demo src/demo/lazy.py: selected 4 of 4 tests, 1 broken", out)
        self.assertIn("precision demo: import breaks 4: needed 7 of 16 selected (precision 44%)", out)
        # Listed with a cause, the broad selections pass.
        listing = self.cache / "broad.tsv"
        listing.write_text("suite\tmodule\tmax_selected\tcause\n"
                           "demo\tsrc/demo/unused.py\t4\ttest\ndemo\tsrc/demo/lazy.py\t4\ttest\n")
        code, out = self.main(stand_in, "--modules", "0", "--functions", "0", "--broad", str(listing))
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
