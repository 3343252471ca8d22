"""The zygote-prepared pytest configuration (``warm_pytest``): a session started from it must
report exactly what a session pytest builds itself reports, and every ineligible request must
get pytest's own path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import unittest

from dxpy_worker import warm_pytest

from .engine_probe import WORKER_DIR, write_suite

# Runs in a fresh interpreter: optionally prepares (as the zygote does), forks (as the zygote
# does), installs, runs pytest.main and prints what happened as JSON.
PROBE = textwrap.dedent("""
    import json, os, sys
    import pytest
    from _pytest import config as pytest_config
    from dxpy_worker import warm_pytest

    prepare, args, tamper, child_env = json.loads(sys.argv[1])
    if prepare:
        warm_pytest.prepare()
    prepared = warm_pytest._prepared.config if warm_pytest._prepared else None

    class Recorder:
        def __init__(self):
            self.reports = []
            self.config = None

        def pytest_configure(self, config):
            self.config = config

        def pytest_runtest_logreport(self, report):
            self.reports.append([report.nodeid, report.when, report.outcome,
                                 str(report.longrepr) if report.failed else ""])

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.environ.update(child_env)
        if tamper:
            import _pytest.tmpdir
            _pytest.tmpdir.tmp_path = None  # a changed builtin module: scanned as usual
            _pytest.tmpdir.extra_attribute = 1
        used = warm_pytest.install(args)
        recorder = Recorder()
        with open(os.devnull, "w") as devnull:
            saved, sys.stdout = sys.stdout, devnull
            try:
                code = pytest.main(list(args), plugins=[recorder])
            finally:
                sys.stdout = saved
        out = {"used": used, "code": int(code), "reports": recorder.reports,
               "same_config": recorder.config is prepared and prepared is not None,
               "invocation_args": list(recorder.config.invocation_params.args),
               "invocation_dir": str(recorder.config.invocation_params.dir)}
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    sys.stdout.write(b"".join(chunks).decode())
""")

SUITE = {
    "pytest.ini": """
        [pytest]
        addopts = -p no:cacheprovider -rA
        markers = slow: a custom mark
    """,
    "conftest.py": """
        import pytest

        @pytest.fixture
        def greeting(tmp_path):
            (tmp_path / "g.txt").write_text("hi")
            return (tmp_path / "g.txt").read_text()
    """,
    "test_things.py": """
        import warnings
        import pytest

        def test_builtin_fixtures(tmp_path, capsys, monkeypatch, request, recwarn, caplog):
            monkeypatch.setenv("X_WARM", "1")
            print("out")
            assert capsys.readouterr().out == "out\\n"
            warnings.warn(UserWarning("w"))
            assert len(recwarn) == 1
            assert request.node.name == "test_builtin_fixtures"

        def test_conftest_fixture(greeting):
            assert greeting == "hi"

        def test_fails():
            assert [1, 2] == [1, 3]

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n, pytestconfig):
            assert pytestconfig.getini("markers")

        @pytest.mark.xfail(strict=True)
        def test_xpass_strict():
            pass

        @pytest.mark.skip(reason="no")
        def test_skipped():
            pass

        def test_unknown_fixture(no_such_fixture):
            pass
    """,
}


def probe(root, prepare, args, tamper=False, child_env=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TOX_ENV_DIR", "PYTEST_DEBUG", "DXPY_NO_WARM_SESSION", "PYTEST_ADDOPTS")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([prepare, args, tamper, child_env or {}])],
        capture_output=True, text=True, cwd=str(root), timeout=120,
        env=dict(env, PYTHONPATH=str(WORKER_DIR), PYTHONDONTWRITEBYTECODE="1"),
    )
    if proc.returncode != 0 or not proc.stdout:
        raise AssertionError(f"probe failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


class WarmSessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = write_suite(SUITE)
        cls.args = ["-q", "test_things.py"]
        cls.cold = probe(cls.root, False, cls.args)

    def test_cold_reference_ran_the_suite(self):
        self.assertFalse(self.cold["used"])
        outcomes = {(r[0], r[1]): r[2] for r in self.cold["reports"]}
        self.assertEqual(outcomes[("test_things.py::test_fails", "call")], "failed")
        self.assertEqual(outcomes[("test_things.py::test_conftest_fixture", "call")], "passed")
        self.assertEqual(outcomes[("test_things.py::test_unknown_fixture", "setup")], "failed")
        self.assertEqual(self.cold["code"], 1)

    def test_prepared_session_reports_what_pytest_reports(self):
        warm = probe(self.root, True, self.args)
        self.assertTrue(warm["used"])
        self.assertTrue(warm["same_config"], "the session ran on the prepared config")
        self.assertEqual(warm["invocation_args"], self.args)
        self.assertEqual(warm["invocation_dir"], str(self.root))
        self.assertEqual(warm["reports"], self.cold["reports"])
        self.assertEqual(warm["code"], self.cold["code"])

    def test_a_changed_builtin_module_is_scanned_as_usual(self):
        # tmp_path removed from _pytest.tmpdir after prepare(): pytest's own scan no longer
        # finds it, so tests using it fail at setup exactly as in a cold session.
        warm = probe(self.root, True, self.args, tamper=True)
        cold = probe(self.root, False, self.args, tamper=True)
        self.assertTrue(warm["used"])
        self.assertEqual(warm["reports"], cold["reports"])
        setup = {r[0]: r[2] for r in warm["reports"] if r[1] == "setup"}
        self.assertEqual(setup["test_things.py::test_builtin_fixtures"], "failed")

    def test_excluded_plugin_on_the_command_line_gets_pytests_own_path(self):
        args = ["-p", "no:warnings", *self.args]
        warm = probe(self.root, True, args)
        self.assertFalse(warm["used"])
        self.assertFalse(warm["same_config"])
        self.assertEqual(warm["reports"], probe(self.root, False, args)["reports"])

    def test_environment_read_at_build_time_must_match(self):
        # The zygote prepared without TOX_ENV_DIR; a request that sets it (cacheprovider reads
        # it while the configuration is built) gets a configuration built from scratch.
        child_env = {"TOX_ENV_DIR": str(self.root)}
        warm = probe(self.root, True, self.args, child_env=child_env)
        self.assertFalse(warm["used"])
        self.assertEqual(warm["reports"], self.cold["reports"])
        self.assertFalse(probe(self.root, True, self.args,
                               child_env={"DXPY_NO_WARM_SESSION": "1"})["used"])


class ExcludedPluginsTest(unittest.TestCase):
    def test_parses_like_consider_preparse(self):
        self.assertEqual(warm_pytest.excluded_plugins(["-p", "no:cacheprovider"]),
                         ["no:cacheprovider"])
        self.assertEqual(warm_pytest.excluded_plugins(["-pno:warnings", "-p", " no:x "]),
                         ["no:warnings", "no:x"])
        self.assertEqual(warm_pytest.excluded_plugins(["-p", "xdist", "-q", "-p"]), [])
        self.assertEqual(warm_pytest.excluded_plugins(["-k", "no:thing"]), [])

    def test_nothing_prepared_is_not_eligible(self):
        self.assertEqual(warm_pytest.ineligible_reason([]), "nothing prepared")
        self.assertFalse(warm_pytest.install([]))


if __name__ == "__main__":
    unittest.main()
