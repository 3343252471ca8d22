"""The pytest engine's shortcuts (whole-module collection, the direct run protocol) against
pytest's normal path: every result frame must be identical with and without them
(DXPY_NO_FASTPATH=1), and each rule that sends work down the normal path is checked by a
case that the shortcut would otherwise take. One deliberate difference: a batch of every item
of its modules reports the warnings of collecting those modules whole, as pytest run on them
does, where collecting by node ID would visit fewer collectors. Needs an interpreter with pytest 9.2 (the
corpus venv that tests/run.sh uses)."""

import unittest

from dxpy_worker import fastpath
from dxpy_worker import protocol as P

from .engine_probe import comparable, fast_path_logs, run_worker, write_suite

# Outcomes and output of every kind the normal path reports.
VARIETY = {
    "conftest.py": """
        import logging
        import pytest

        @pytest.fixture
        def noisy():
            print("fixture setup out")
            logging.getLogger("fx").warning("fixture log")
            yield 5
            print("fixture teardown out")

        @pytest.fixture(scope="module")
        def mod_value():
            yield 7
            print("module teardown out")

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("setup broke")

        @pytest.fixture
        def broken_teardown():
            yield
            raise ValueError("teardown broke")
    """,
    "test_variety.py": """
        import logging
        import sys
        import unittest
        import warnings
        import pytest

        def helper(x):
            assert x == {"a": 1, "b": [1, 2]}

        def test_pass():
            pass

        def test_fail_compare():
            helper({"a": 2, "b": [1, 3]})

        def test_output(noisy):
            print("call out")
            sys.stderr.write("call err\\n")
            logging.getLogger("t").error("call log %d", noisy)

        def test_warns():
            warnings.warn("careful", UserWarning)

        @pytest.mark.filterwarnings("error")
        def test_warning_as_error():
            warnings.warn("now an error", DeprecationWarning)

        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass

        @pytest.mark.skipif(True, reason="cond")
        def test_skipif():
            pass

        def test_skip_inside():
            pytest.skip("inside")

        @pytest.mark.xfail(reason="known")
        def test_xfail():
            assert 0

        @pytest.mark.xfail(reason="lucky")
        def test_xpass():
            pass

        @pytest.mark.xfail(strict=True, reason="strict")
        def test_xpass_strict():
            pass

        @pytest.mark.xfail(raises=KeyError)
        def test_xfail_wrong_raises():
            raise ValueError("no")

        def test_setup_error(broken_setup):
            pass

        def test_teardown_error(broken_teardown):
            pass

        def test_missing_fixture(no_such_fixture):
            pass

        def test_chained():
            try:
                {}["k"]
            except KeyError as err:
                raise RuntimeError("wrapped") from err

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_param(n, mod_value):
            assert n < 3

        def test_capsys(capsys):
            print("seen")
            assert capsys.readouterr().out == "seen\\n"

        def test_caplog(caplog):
            logging.getLogger("c").warning("w")
            assert caplog.records[0].getMessage() == "w"

        def test_fail_call():
            pytest.fail("explicit", pytrace=False)

        class TestClass:
            def setup_method(self):
                print("setup_method out")

            def test_method(self):
                assert [1, 2, 3] == [1, 2, 4]

            def test_ok(self):
                pass

        class TestCase(unittest.TestCase):
            def test_ut_pass(self):
                self.assertTrue(True)

            def test_ut_fail(self):
                self.assertEqual(1, 2)

            @unittest.skip("ut skip")
            def test_ut_skip(self):
                pass
    """,
    "test_second.py": """
        def test_other(mod_value):
            print("second out")
            assert mod_value == 8
    """,
}

VARIETY_IDS = [
    "test_variety.py::" + name for name in (
        "test_pass", "test_fail_compare", "test_output", "test_warns", "test_warning_as_error",
        "test_skip", "test_skipif", "test_skip_inside", "test_xfail", "test_xpass",
        "test_xpass_strict", "test_xfail_wrong_raises", "test_setup_error",
        "test_teardown_error", "test_missing_fixture", "test_chained", "test_param[1]",
        "test_param[2]", "test_param[3]", "test_capsys", "test_caplog", "test_fail_call",
        "TestClass::test_method", "TestClass::test_ok", "TestCase::test_ut_pass",
        "TestCase::test_ut_fail", "TestCase::test_ut_skip",
    )
]


def one_log(case, messages):
    logs = fast_path_logs(messages)
    case.assertEqual(len(logs), 1, logs)
    return logs[0]


class SameResultsAsNormalPath(unittest.TestCase):
    def check_same(self, root, batches, pytest_args=()):
        fast = run_worker(root, batches, pytest_args)
        normal = run_worker(root, batches, pytest_args, fast=False)
        self.assertEqual(comparable(fast), comparable(normal))
        return fast

    def test_variety_whole_module_takes_both_shortcuts(self):
        root = write_suite(VARIETY)
        fast = self.check_same(root, [VARIETY_IDS, ["test_second.py::test_other"]])
        logs = fast_path_logs(fast)
        self.assertEqual(logs[0], f"fast path: module collection used; direct protocol "
                                  f"{len(VARIETY_IDS)}/{len(VARIETY_IDS)} items")
        self.assertIn("direct protocol 1/1 items", logs[1])

    def test_variety_two_modules_in_one_batch(self):
        root = write_suite(VARIETY)
        fast = self.check_same(root, [VARIETY_IDS + ["test_second.py::test_other"]])
        self.assertIn("module collection used", one_log(self, fast))

    def test_variety_in_one_mixed_batch(self):
        root = write_suite(VARIETY)
        batch = VARIETY_IDS[::2] + ["test_second.py::test_other"] + VARIETY_IDS[1::2]
        fast = self.check_same(root, [batch])
        self.assertIn("module collection not used", one_log(self, fast))

    def test_verbose_and_quiet_and_maxfail(self):
        root = write_suite(VARIETY)
        for args in (["-v"], ["-q"], ["-x"], ["--maxfail=3"], ["-rA"], ["--tb=short"],
                     ["--tb=long"], ["--tb=line"], ["--tb=no"], ["-l"], ["-vv", "-l"],
                     ["-p", "cacheprovider"],
                     ["--junit-xml=out.xml"], ["--durations=3"]):
            with self.subTest(args=args):
                fast = self.check_same(root, [VARIETY_IDS], args)
                if "-x" not in args and "--maxfail=3" not in args:
                    self.assertIn(f"direct protocol {len(VARIETY_IDS)}/", one_log(self, fast))


class DirectProtocolRefusals(unittest.TestCase):
    """Each rule of ``fastpath.why_not_direct``: a suite the direct protocol would take but
    for that one thing, which must then run every item through pytest's own protocol."""

    BASE = {"test_a.py": "def test_1():\n    print('x')\n\ndef test_2():\n    assert 0\n"}
    IDS = ["test_a.py::test_1", "test_a.py::test_2"]

    def refused(self, files=None, args=(), batches=None):
        root = write_suite({**self.BASE, **(files or {})})
        batches = batches or [self.IDS]
        fast = run_worker(root, batches, args)
        self.assertEqual(comparable(fast), comparable(run_worker(root, batches, args, fast=False)))
        return fast_path_logs(fast)

    def test_baseline_is_direct(self):
        self.assertEqual(self.refused(), ["fast path: module collection used; direct protocol 2/2 items"])

    def test_conftest_runtest_hook(self):
        log = self.refused({"conftest.py": "def pytest_runtest_setup(item):\n    print('hook')\n"})[0]
        self.assertIn("direct protocol 0/2 items (refused: pytest_runtest_setup: implemented by", log)

    def test_conftest_old_style_hookwrapper(self):
        conftest = ("import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
                    "def pytest_runtest_makereport(item, call):\n    yield\n")
        log = self.refused({"conftest.py": conftest})[0]
        self.assertIn("refused: pytest_runtest_makereport: old-style hookwrapper", log)

    def test_third_party_plugin(self):
        plugin = "def pytest_runtest_logreport(report):\n    pass\n"
        log = self.refused({"myplugin.py": plugin}, ["-p", "myplugin"],)[0]
        self.assertIn("refused: pytest_runtest_logreport: implemented by myplugin", log)

    def test_terminal_summary_reader(self):
        conftest = "def pytest_terminal_summary(terminalreporter):\n    pass\n"
        log = self.refused({"conftest.py": conftest})[0]
        self.assertIn("refused: pytest_terminal_summary: implemented by", log)

    def test_options(self):
        for args, word in ((["--setup-show"], "setupshow"), (["--setup-only"], "setupshow"),
                           (["--setup-plan"], "setupshow"), (["--fulltrace"], "fulltrace"),
                           (["--tb=native"], "--tb=native")):
            with self.subTest(args=args):
                log = self.refused(args=args)[0]
                self.assertIn("direct protocol 0/2 items (refused:", log)
                self.assertIn(word, log)

    def test_debugger_options(self):
        # A real --pdb/--trace run stops at the debugger; the rule is checked on the options.
        import types

        for name in ("usepdb", "trace"):
            with self.subTest(option=name):
                option = types.SimpleNamespace(**{name: True})
                reason = fastpath.why_not_direct(types.SimpleNamespace(option=option), None)
                self.assertEqual(reason, f"option {name} is set")

    def test_plugin_registered_by_a_test_stops_the_direct_protocol(self):
        files = {"test_a.py": (
            "def test_1(pytestconfig):\n"
            "    class Late:\n"
            "        def pytest_runtest_logreport(self, report):\n"
            "            print('late saw', report.when)\n"
            "    pytestconfig.pluginmanager.register(Late(), 'late')\n\n"
            "def test_2():\n    assert 0\n")}
        log = self.refused(files)[0]
        self.assertIn("direct protocol 1/2 items", log)

    def test_unsupported_pytest_version(self):
        saved = fastpath.pytest_version
        fastpath.pytest_version = lambda: (9, 0)
        try:
            reason = fastpath.why_not_direct(config=None, own_plugin=None)
        finally:
            fastpath.pytest_version = saved
        self.assertIn("not a version the direct protocol was checked against", reason)


class ModuleCollectionRefusals(unittest.TestCase):
    def log_for(self, files, batches, args=()):
        root = write_suite(files)
        fast = run_worker(root, batches, args)
        self.assertEqual(comparable(fast), comparable(run_worker(root, batches, args, fast=False)))
        return fast_path_logs(fast)

    MODULE = {"test_m.py": (
        "import pytest\n\n"
        "def test_a():\n    pass\n\n"
        "class TestK:\n    def test_b(self):\n        pass\n\n"
        "class TestWarn:\n    def __init__(self):\n        pass\n\n    def test_c(self):\n        pass\n")}

    def test_subset_of_a_module_is_collected_by_module(self):
        logs = self.log_for({"test_m.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n"},
                            [["test_m.py::test_b"]])
        self.assertIn("module collection used", logs[0])

    def test_a_module_cut_into_batches_is_collected_once_per_worker(self):
        # pytest collects a module once per session: its pytest_generate_tests runs once, and
        # a parametrize generator is used up once. The worker runs three batches of the module.
        files = {
            "test_gen.py": """
                import pytest

                GENERATED = []

                def pytest_generate_tests(metafunc):
                    if "x" in metafunc.fixturenames:
                        GENERATED.append(metafunc.function.__name__)
                        metafunc.parametrize("x", range(4))

                def test_g(x):
                    pass

                @pytest.mark.parametrize("y", (i for i in range(2)))
                def test_once(y):
                    pass

                def test_collections():
                    assert GENERATED == ["test_g"]
            """,
        }
        root = write_suite(files)
        batches = [["test_gen.py::test_g[0]", "test_gen.py::test_g[1]", "test_gen.py::test_once[0]"],
                   ["test_gen.py::test_g[2]", "test_gen.py::test_g[3]", "test_gen.py::test_once[1]"],
                   ["test_gen.py::test_collections"]]
        frames = run_worker(root, batches)
        calls = [(f.node_id, f.outcome.name) for f in frames
                 if isinstance(f, P.ItemResult) and f.phase == P.Phase.CALL]
        self.assertEqual(calls, [
            ("test_gen.py::test_g[0]", "PASSED"), ("test_gen.py::test_g[1]", "PASSED"),
            ("test_gen.py::test_once[0]", "PASSED"), ("test_gen.py::test_g[2]", "PASSED"),
            ("test_gen.py::test_g[3]", "PASSED"), ("test_gen.py::test_once[1]", "PASSED"),
            ("test_gen.py::test_collections", "PASSED")])
        self.assertEqual([log.split(";")[0] for log in fast_path_logs(frames)],
                         ["fast path: module collection used"] * 3)
        # The generator's deprecation warning comes once, as from pytest's one collection.
        warned = [f.category for f in frames if isinstance(f, P.Warning_)]
        self.assertEqual(warned, ["PytestRemovedIn10Warning"])

    def test_collect_warning_anywhere_in_the_module(self):
        # TestWarn (which has __init__) warns at collection; only test_a is requested, so
        # pytest, given that node ID, would never visit TestWarn.
        logs = self.log_for(self.MODULE, [["test_m.py::test_a"]])
        self.assertIn("module collection not used", logs[0])

    def test_a_batch_of_every_item_gets_the_whole_modules_warnings(self):
        # Every item the module has: the batch stands for the module, and pytest collecting
        # test_m.py warns about TestWarn, so the batch reports that warning too (collecting by
        # node ID would not).
        root = write_suite(self.MODULE)
        batch = ["test_m.py::test_a", "test_m.py::TestK::test_b"]
        frames = run_worker(root, [batch])
        self.assertIn("module collection used", fast_path_logs(frames)[0])
        warnings = [f for f in frames if isinstance(f, P.Warning_)]
        self.assertEqual(len(warnings), 1, frames)
        self.assertEqual(warnings[0].category, "PytestCollectionWarning")
        self.assertIn("TestWarn", warnings[0].message)
        self.assertEqual(
            sorted({f.node_id for f in frames if isinstance(f, P.ItemResult)}), sorted(batch))

    TWO = {"test_x.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
           "sub/test_y.py": "def test_a():\n    assert 0\n"}

    def test_several_modules_in_one_batch(self):
        logs = self.log_for(self.TWO, [["test_x.py::test_b", "sub/test_y.py::test_a",
                                        "test_x.py::test_a"]])
        self.assertIn("module collection not used", logs[0])  # test_x.py's IDs are split
        logs = self.log_for(self.TWO, [["sub/test_y.py::test_a", "test_x.py::test_b",
                                        "test_x.py::test_a"]])
        self.assertIn("module collection used", logs[0])

    def test_collect_warning_of_a_requested_item_keeps_the_shortcut(self):
        # The warning comes from collecting test_g itself, which the node IDs' collection
        # visits too. Collecting again would find the generator used up ([NOTSET] items).
        files = {"test_g.py": ("import pytest\n\n"
                               "@pytest.mark.parametrize('x', (i for i in range(3)))\n"
                               "def test_g(x):\n    pass\n")}
        logs = self.log_for(files, [[f"test_g.py::test_g[{i}]" for i in range(3)]])
        self.assertIn("module collection used", logs[0])

    def test_function_id_selects_its_run_time_parameters(self):
        files = {"test_g.py": ("import pytest\n\ndef gen():\n    yield 1\n    yield 2\n\n"
                               "@pytest.mark.parametrize('x', gen())\n"
                               "def test_g(x):\n    pass\n\ndef test_h():\n    pass\n")}
        logs = self.log_for(files, [["test_g.py::test_g", "test_g.py::test_h"]])
        self.assertIn("module collection used; direct protocol 3/3 items", logs[0])
        # Parameter IDs holding "::" belong to their function all the same.
        files = {"test_c.py": ("import pytest\n\n"
                               "@pytest.mark.parametrize('s', list(['a::b', 'c']))\n"
                               "def test_c(s):\n    pass\n")}
        logs = self.log_for(files, [["test_c.py::test_c"]])
        self.assertIn("module collection used; direct protocol 2/2 items", logs[0])
        # The same item twice (by its function and by its own ID) is left to pytest.
        logs = self.log_for(files, [["test_g.py::test_g", "test_g.py::test_g[1]"]])
        self.assertIn("module collection not used", logs[0])

    def test_duplicate_node_ids(self):
        files = {"test_x.py": "def test_a():\n    pass\n"}
        logs = self.log_for(files, [["test_x.py::test_a", "test_x.py::test_a"]])
        self.assertIn("module collection not used", logs[0])

    def test_unknown_node_id(self):
        files = {"test_x.py": "def test_a():\n    pass\n"}
        logs = self.log_for(files, [["test_x.py::test_a", "test_x.py::test_nope"]])
        self.assertIn("module collection not used", logs[0])

    def test_conftest_collection_hook(self):
        files = {"test_x.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
                 "conftest.py": "def pytest_collection_modifyitems(items):\n    items.reverse()\n"}
        logs = self.log_for(files, [["test_x.py::test_a", "test_x.py::test_b"]])
        self.assertIn("module collection not used", logs[0])

    def test_order_that_fixture_reordering_would_change(self):
        files = {"test_x.py": (
            "import pytest\n\n"
            "@pytest.fixture(scope='module', params=[1, 2])\n"
            "def p(request):\n    return request.param\n\n"
            "def test_a(p):\n    pass\n\ndef test_b(p):\n    pass\n")}
        interleaved = ["test_x.py::test_a[1]", "test_x.py::test_a[2]",
                       "test_x.py::test_b[1]", "test_x.py::test_b[2]"]
        logs = self.log_for(files, [interleaved])
        self.assertIn("module collection not used", logs[0])
        grouped = ["test_x.py::test_a[1]", "test_x.py::test_b[1]",
                   "test_x.py::test_a[2]", "test_x.py::test_b[2]"]
        logs = self.log_for(files, [grouped])
        self.assertIn("module collection used", logs[0])


if __name__ == "__main__":
    unittest.main()
