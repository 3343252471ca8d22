"""Tests of affected_check.py (stdlib unittest; run with the other harness tests).

The end-to-end tests break modules of a small suite made here, with the real `dx-py affected`
(DXPY_BIN or the repo's build) and with a stand-in that selects nothing, which must be caught.
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

    def test_sample_is_spread_and_deterministic(self):
        modules = [Path(f"m{i}.py") for i in range(10)]
        self.assertEqual(affected_check.sample(modules, 0), modules)
        self.assertEqual(affected_check.sample(modules, 3), [Path("m0.py"), Path("m3.py"), Path("m6.py")])
        self.assertEqual(affected_check.sample(modules, 20), modules)


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

    def results(self, dxpy: Path) -> dict[str, affected_check.ModuleResult]:
        return {r.module: r for r in affected_check.check_suite(self.suite, 0, dxpy, 120)}

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

    def test_a_dxpy_that_selects_nothing_is_caught(self):
        stand_in = self.cache / "dx-py-selects-nothing"
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
        results = self.results(stand_in)
        self.assertEqual(results["src/demo/lazy.py"].missed, {"tests.test_lazy::test_triple"})
        with mock.patch.object(collect, "find_dxpy_bin", lambda: stand_in), \
                mock.patch.object(corpus, "load_suites", lambda: [self.suite]), \
                contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(affected_check.main(["--modules", "0"]), 1)
        self.assertIn("MISSED demo src/demo/lazy.py: tests.test_lazy::test_triple", out.getvalue())


if __name__ == "__main__":
    unittest.main()
