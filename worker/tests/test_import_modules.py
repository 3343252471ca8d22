"""ImportModules: before its first batch a worker imports the run's test modules the way
pytest's collection does, so a test that relies on another module's import side effects
passes as under pytest; nothing about those imports is reported twice or differently."""

import subprocess
import sys
import unittest

from dxpy_worker import protocol as P

from .engine_probe import answers, comparable, run_worker, write_suite

# As in click's suite: test_a imports a submodule at module level, which sets the package's
# attribute; test_b only passes when that import happened first (pytest imports every
# collected module before it runs any test).
SUITE = {
    "lib/__init__.py": "",
    "lib/sub.py": "VALUE = 1\n",
    "test_a.py": """
        import pathlib

        import lib.sub

        with open(pathlib.Path(__file__).parent / "imported.log", "a") as f:
            f.write("test_a\\n")

        def test_a():
            assert lib.sub.VALUE == 1
    """,
    "test_b.py": """
        import lib

        def test_b():
            assert hasattr(lib, "sub"), "lib.sub was never imported"
    """,
}

# A module whose import fails after warning, and one that only warns.
BROKEN = {
    "test_broken.py": """
        import warnings

        warnings.warn("broken at import", UserWarning)
        raise ImportError("cannot import this test module")

        def test_never():
            pass
    """,
    "test_warns.py": """
        import warnings

        warnings.warn("old module", DeprecationWarning)

        def test_w():
            pass
    """,
}

# A parametrize generator is used up by one collection of its module.
GENERATOR = {
    "test_gen.py": """
        import pytest

        @pytest.mark.parametrize("x", (i for i in range(3)))
        def test_g(x):
            pass
    """,
}

# As with itsdangerous when serializer.py does not compile: importing the package fails after
# it imported pkg.good, which stays in sys.modules. pytest imports test_uses.py once and reports
# the failure; a second import would find pkg.good there and pass.
ORPHAN = {
    "pkg/__init__.py": "from .good import X\nfrom .bad import Y\n",
    "pkg/good.py": "X = 1\n",
    "pkg/bad.py": "Y = 2\nfrom __future__ import annotations\n",
    "test_uses.py": """
        from pkg.good import X

        def test_x():
            assert X == 1
    """,
}

ALL = ["test_a.py", "test_b.py"]


def call_outcomes(messages):
    return [(m.node_id, m.outcome.name) for m in messages
            if isinstance(m, P.ItemResult) and m.phase == P.Phase.CALL]


def after_import(messages):
    """The frames after ImportModules' Done (the Ready and that Done dropped)."""
    done = next(i for i, m in enumerate(messages) if isinstance(m, P.Done))
    return messages[done + 1:]


def after_ready(messages):
    return [m for m in messages if not isinstance(m, P.Ready)]


class ImportModules(unittest.TestCase):
    def test_pytest_passes_b_only_when_it_collects_a_too(self):
        # The reference: real pytest on the same suite.
        root = write_suite(SUITE)

        def pytest(*args):
            return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                                   "-q", *args], cwd=root, capture_output=True, text=True)

        self.assertEqual(pytest().returncode, 0, "pytest fails the whole suite")
        self.assertEqual(pytest("test_b.py").returncode, 1, "test_b passes alone: no test here")

    def test_without_it_b_fails_in_its_own_batch(self):
        root = write_suite(SUITE)
        messages = run_worker(root, [["test_b.py::test_b"], ["test_a.py::test_a"]])
        self.assertEqual(call_outcomes(messages),
                         [("test_b.py::test_b", "FAILED"), ("test_a.py::test_a", "PASSED")])

    def test_with_it_b_passes_in_separate_batches_and_a_is_imported_once(self):
        for fast in (True, False):
            with self.subTest(fast=fast):
                root = write_suite(SUITE)
                messages = run_worker(root, [
                    P.ImportModules(ALL), ["test_b.py::test_b"], ["test_a.py::test_a"],
                ], fast=fast)
                self.assertEqual(call_outcomes(messages), [
                    ("test_b.py::test_b", "PASSED"), ("test_a.py::test_a", "PASSED"),
                ])
                self.assertEqual((root / "imported.log").read_text(), "test_a\n")
                # ImportModules is answered by one empty Done and nothing else.
                self.assertIsInstance(messages[0], P.Ready)
                self.assertEqual(messages[1], P.Done())

    def test_native_engine_imports_them_too(self):
        root = write_suite(SUITE)
        messages = run_worker(root, [P.ImportModules(ALL), ["test_b.py::test_b"]],
                              engine=P.Engine.NATIVE)
        self.assertEqual(call_outcomes(messages), [("test_b.py::test_b", "PASSED")])

    def test_errors_and_warnings_are_reported_once_by_the_batch_as_without_it(self):
        paths = ["test_broken.py", "test_warns.py"]
        batches = [["test_broken.py::test_never"], ["test_warns.py::test_w"]]
        root = write_suite(BROKEN)
        plain = after_ready(run_worker(root, batches))
        imported = after_import(run_worker(root, [P.ImportModules(paths), *batches]))
        self.assertEqual(comparable(imported), comparable(plain))
        errors = [m for m in imported if isinstance(m, P.CollectError)]
        self.assertEqual([e.node_id for e in errors], ["test_broken.py"])
        self.assertIn("cannot import this test module", errors[0].longrepr)
        # (The failing module's warning comes as often as without ImportModules: held, like
        # any module's, for the batch that runs it.)
        warned = [m.message for m in imported if isinstance(m, P.Warning_)]
        self.assertEqual(warned, [m.message for m in plain if isinstance(m, P.Warning_)])
        self.assertEqual(warned.count("old module"), 1)
        # As under pytest, which imports it once: its import is not run again (ImportOnce).
        self.assertEqual(warned.count("broken at import"), 1)

    def test_a_failed_import_is_not_retried(self):
        root = write_suite(ORPHAN)
        reference = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
                                   cwd=root, capture_output=True, text=True)
        self.assertEqual(reference.returncode, 2, reference.stdout)
        self.assertIn("SyntaxError", reference.stdout)
        cases = [("pytest", P.Engine.PYTEST, fast, with_import)
                 for fast in (True, False) for with_import in (True, False)]
        cases.append(("native", P.Engine.NATIVE, True, True))
        for name, engine, fast, with_import in cases:
            with self.subTest(engine=name, fast=fast, import_modules=with_import):
                root = write_suite(ORPHAN)
                requests = [["test_uses.py::test_x"]]
                if with_import:
                    requests.insert(0, P.ImportModules(["test_uses.py"]))
                messages = run_worker(root, requests, engine=engine, fast=fast)
                self.assertEqual(call_outcomes(messages), [], "the test ran")
                # ImportModules reports the failure (the runner may stop the run there);
                # the batch meets the same one again, without a second import.
                for answer in answers(messages)[1:1 + len(requests)]:
                    errors = [m for m in answer if isinstance(m, P.CollectError)]
                    self.assertEqual([e.node_id for e in errors], ["test_uses.py"])
                    self.assertIn("SyntaxError", errors[0].longrepr)
                    self.assertEqual(errors[0].outcome, P.Outcome.ERROR)

    def test_held_warnings_stay_with_their_module(self):
        # A worker that never runs a module never reports what importing it raised.
        root = write_suite({**BROKEN, **SUITE})
        messages = run_worker(root, [
            P.ImportModules(["test_a.py", "test_broken.py", "test_warns.py"]),
            ["test_a.py::test_a"],
        ])
        imported, batch = answers(messages)[1:3]
        errors = [m for m in imported if isinstance(m, P.CollectError)]
        self.assertEqual([(e.node_id, e.outcome) for e in errors],
                         [("test_broken.py", P.Outcome.ERROR)])
        self.assertFalse([m for m in imported if isinstance(m, P.Warning_)])
        self.assertFalse([m for m in batch if isinstance(m, (P.Warning_, P.CollectError))])
        self.assertEqual(call_outcomes(messages), [("test_a.py::test_a", "PASSED")])

    def test_items_are_not_built_so_a_parametrize_generator_survives(self):
        root = write_suite(GENERATOR)
        messages = run_worker(root, [P.ImportModules(["test_gen.py"]), ["test_gen.py::test_g"]])
        self.assertEqual(call_outcomes(messages), [
            ("test_gen.py::test_g[0]", "PASSED"), ("test_gen.py::test_g[1]", "PASSED"),
            ("test_gen.py::test_g[2]", "PASSED"),
        ])


if __name__ == "__main__":
    unittest.main()
