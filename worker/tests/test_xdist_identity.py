"""The xdist identity a worker takes from the environment the runner gave it."""

import unittest

from dxpy_worker.xdist_identity import workerinput_from

IDENTITY = {"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "2",
            "PYTEST_XDIST_TESTRUNUID": "0123456789abcdef0123456789abcdef"}


class WorkerinputFrom(unittest.TestCase):
    def test_the_runners_identity_becomes_xdists_workerinput(self):
        workerinput = workerinput_from(IDENTITY)
        assert workerinput is not None
        self.assertEqual(workerinput["workerid"], "gw1")
        self.assertEqual(workerinput["workercount"], 2)
        self.assertEqual(workerinput["testrunuid"], IDENTITY["PYTEST_XDIST_TESTRUNUID"])
        self.assertIsInstance(workerinput["mainargv"], list)

    def test_an_incomplete_identity_is_none(self):
        for missing in IDENTITY:
            environ = {k: v for k, v in IDENTITY.items() if k != missing}
            self.assertIsNone(workerinput_from(environ), missing)
        self.assertIsNone(workerinput_from({**IDENTITY, "PYTEST_XDIST_WORKER_COUNT": "two"}))


if __name__ == "__main__":
    unittest.main()
