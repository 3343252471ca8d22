"""The worker's side of ``dx-py test --cov`` that needs no pytest-cov: how the runner's
directory is taken from the environment, and pytest-cov's report options as the plan keeps
them. (Runs with pytest-cov against pytest's own: tools/dxpy_cli/tests/it/cli_cov.rs.)"""

import os
import unittest
from unittest import mock

from dxpy_worker import cov_worker


class FromEnvTest(unittest.TestCase):
    def test_the_directory_leaves_the_environment_the_tests_see(self) -> None:
        with mock.patch.dict(os.environ, {cov_worker.ENV_DIR: "/tmp/dxpy-cov-x"}):
            plugin = cov_worker.from_env()
            self.assertNotIn(cov_worker.ENV_DIR, os.environ)
        assert plugin is not None
        self.assertEqual(plugin.directory, os.path.join("/tmp/dxpy-cov-x", str(os.getpid())))

    def test_no_directory_no_plugin(self) -> None:
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertIsNone(cov_worker.from_env())


class ReportsTest(unittest.TestCase):
    def test_pytest_covs_default_list_and_its_dict(self) -> None:
        self.assertEqual(cov_worker._reports(["term"]), {"term": None})
        self.assertEqual(
            cov_worker._reports({"term-missing": "skip-covered", "xml": None}),
            {"term-missing": "skip-covered", "xml": None},
        )
        self.assertEqual(cov_worker._reports({}), {})


if __name__ == "__main__":
    unittest.main()
