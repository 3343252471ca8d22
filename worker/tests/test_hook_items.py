"""RunHookItems: the pytest engine collects directories through conftest
``pytest_collect_file`` hooks, leaving out Python test modules, skipped directories and
skipped items, and reports pytest's own deselection."""

import unittest

from dxpy_worker import protocol as P

from .engine_probe import run_worker, write_suite

CONFTEST = """
import pytest

def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".yaml":
        return YamlFile.from_parent(parent, path=file_path)

class YamlFile(pytest.File):
    def collect(self):
        for line in self.path.read_text().splitlines():
            name, _, outcome = line.partition(":")
            yield YamlItem.from_parent(self, name=name.strip(), outcome=outcome.strip())

class YamlItem(pytest.Item):
    def __init__(self, *, outcome, **kwargs):
        super().__init__(**kwargs)
        self.outcome = outcome

    def runtest(self):
        if self.outcome == "fail":
            raise AssertionError(self.name)
"""

# Appends a line to imported.log on every import, so a second import shows.
TEST_MODULE = """
import pathlib
with open(pathlib.Path(__file__).parent / "imported.log", "a") as f:
    f.write("imported\\n")

def test_plain():
    pass
"""


DOCTEST_MODULE = '''
def add(a, b):
    """
    >>> add(1, 2)
    3
    """
    return a + b
'''


def suite():
    return write_suite({
        "data/conftest.py": CONFTEST,
        "data/one.yaml": "alpha: pass\nbeta: fail\n",
        "data/test_mod.py": TEST_MODULE,
        "data/sub/two.yaml": "gamma: pass\n",
        "data/empty/readme.md": "nothing\n",
    })


def call_results(messages):
    return sorted((m.node_id, m.outcome.name) for m in messages
                  if isinstance(m, P.ItemResult) and m.phase == P.Phase.CALL)


class HookItems(unittest.TestCase):
    def test_directories_yield_hook_items_but_no_python_module(self):
        root = suite()
        messages = run_worker(root, [P.RunHookItems(0, False, ["data"])])
        self.assertEqual(call_results(messages), [
            ("data/one.yaml::alpha", "PASSED"),
            ("data/one.yaml::beta", "FAILED"),
            ("data/sub/two.yaml::gamma", "PASSED"),
        ])
        self.assertFalse((root / "data" / "imported.log").exists(),
                         "a hook batch imported the Python test module")
        self.assertFalse([m for m in messages if isinstance(m, P.CollectError)])
        # Passed setups are sent (uncounted), so the runner knows which item is running.
        setups = [m.node_id for m in messages
                  if isinstance(m, P.ItemResult) and m.phase == P.Phase.SETUP]
        self.assertEqual(setups, ["data/one.yaml::alpha", "data/one.yaml::beta",
                                  "data/sub/two.yaml::gamma"])
        self.assertFalse(any(m.in_summary for m in messages
                             if isinstance(m, P.ItemResult) and m.phase == P.Phase.SETUP))

    def test_skipped_dirs_and_items_stay_out_and_an_empty_dir_is_no_error(self):
        root = suite()
        messages = run_worker(root, [
            P.RunHookItems(0, False, ["data"], ["data/sub"], ["data/one.yaml::alpha"]),
            P.RunHookItems(0, False, ["data/empty"]),
        ])
        self.assertEqual(call_results(messages), [("data/one.yaml::beta", "FAILED")])
        self.assertFalse([m for m in messages if isinstance(m, P.CollectError)])
        self.assertEqual(sum(isinstance(m, P.Done) for m in messages), 3)  # + Shutdown

    def test_the_module_runs_by_node_id_once_after_a_hook_batch(self):
        root = suite()
        messages = run_worker(root, [
            P.RunHookItems(0, True, ["data"]),
            ["data/test_mod.py::test_plain"],
        ])
        self.assertIn(("data/test_mod.py::test_plain", "PASSED"), call_results(messages))
        self.assertEqual((root / "data" / "imported.log").read_text(), "imported\n")

    def test_keyword_deselection_is_pytests_and_reported(self):
        root = suite()
        messages = run_worker(root, [P.RunHookItems(0, False, ["data"])],
                              pytest_args=["-k", "beta or sub"])
        self.assertEqual(call_results(messages), [
            ("data/one.yaml::beta", "FAILED"),
            ("data/sub/two.yaml::gamma", "PASSED"),
        ])
        deselected = [m for m in messages if isinstance(m, P.Deselected)]
        self.assertEqual([d.node_ids for d in deselected], [["data/one.yaml::alpha"]])

    def test_doctests_are_kept_test_functions_are_left_to_node_ids(self):
        # --doctest-modules: a test module's doctests and a plain module's, and text files,
        # given as directories or explicitly; its test functions run by node ID elsewhere.
        root = write_suite({
            "pkg/__init__.py": "",
            "pkg/mod.py": DOCTEST_MODULE,
            "tests/test_doc.py": DOCTEST_MODULE.replace("add", "test_add"),
            "tests/test_notes.txt": ">>> 1 + 1\n2\n",
        })
        args = ["--doctest-modules"]
        for paths, expected in [
            (["pkg", "tests"], [
                ("pkg/mod.py::pkg.mod.add", "PASSED"),
                ("tests/test_doc.py::test_doc.test_add", "PASSED"),
                ("tests/test_notes.txt::test_notes.txt", "PASSED"),
            ]),
            (["pkg/mod.py"], [("pkg/mod.py::pkg.mod.add", "PASSED")]),
            (["tests/test_notes.txt"], [("tests/test_notes.txt::test_notes.txt", "PASSED")]),
        ]:
            messages = run_worker(root, [P.RunHookItems(0, False, paths)], pytest_args=args)
            self.assertEqual(call_results(messages), expected, paths)



if __name__ == "__main__":
    unittest.main()
