"""The xdist identity a worker takes from the environment the runner gave it."""

import unittest

from dxpy_worker.xdist_identity import shared_seed, xdist_fixtures

IDENTITY = {"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "2",
            "PYTEST_XDIST_TESTRUNUID": "0123456789abcdef0123456789abcdef"}


class XdistFixtures(unittest.TestCase):
    def test_the_fixtures_answer_with_the_runners_identity(self):
        fixtures = xdist_fixtures(IDENTITY)
        assert fixtures is not None
        self.assertEqual(fixtures["worker_id"](None), "gw1")
        self.assertEqual(fixtures["testrun_uid"](None), IDENTITY["PYTEST_XDIST_TESTRUNUID"])
        # pytest passes what xdist's own fixtures ask for.
        self.assertEqual(fixtures["worker_id"].__code__.co_varnames[:1], ("request",))

    def test_an_incomplete_identity_replaces_nothing(self):
        for missing in IDENTITY:
            environ = {k: v for k, v in IDENTITY.items() if k != missing}
            self.assertIsNone(xdist_fixtures(environ), missing)
        self.assertIsNone(xdist_fixtures({**IDENTITY, "PYTEST_XDIST_WORKER_COUNT": "two"}))


class SharedSeedOfTheRun(unittest.TestCase):
    def test_the_seed_is_the_first_32_bits_of_the_run_id(self):
        # The runner prints the same number: WorkerIdentity::randomly_seed.
        self.assertEqual(shared_seed(IDENTITY), 0x01234567)

    def test_no_or_a_malformed_run_id_gives_no_seed(self):
        self.assertIsNone(shared_seed({}))
        self.assertIsNone(shared_seed({"PYTEST_XDIST_TESTRUNUID": "0123"}))
        self.assertIsNone(shared_seed({"PYTEST_XDIST_TESTRUNUID": "not-hex-at-all"}))


if __name__ == "__main__":
    unittest.main()
