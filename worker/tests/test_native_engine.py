"""The native engine end to end in an interpreter started without site-packages (-S), so it
provably works without pytest. Frames are decoded with the codec under test."""

import os
import subprocess
import sys
import unittest
from pathlib import Path

from dxpy_worker import protocol as P

WORKER_DIR = Path(__file__).resolve().parent.parent
SUITE = WORKER_DIR.parent / "runner" / "tests" / "fixtures" / "native_suite"


def run_worker(node_ids, engine=P.Engine.AUTO):
    requests = [
        P.RequestFrame(1, P.Hello(str(SUITE), [], engine, [], 4096)),
        P.RequestFrame(2, P.RunItems(0, False, node_ids)),
        P.RequestFrame(3, P.Shutdown()),
    ]
    env = dict(os.environ, PYTHONPATH=str(WORKER_DIR), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "dxpy_worker"],
        input=b"".join(P.encode_request(r) for r in requests),
        capture_output=True, env=env, cwd=str(SUITE), timeout=120,
    )
    frames, pos = [], 0
    while pos < len(proc.stdout):
        frame, used = P.decode_result(proc.stdout[pos:])
        frames.append(frame)
        pos += used
    return proc, frames


class NativeEngineWithoutPytest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.frames = run_worker(["test_plain.py", "test_unittest_cases.py"])
        cls.items = [f.message for f in cls.frames if isinstance(f.message, P.ItemResult)]

    def report(self, node_id, phase):
        for item in self.items:
            if item.node_id == node_id and item.phase == phase:
                return item
        self.fail(f"no {phase.name} report for {node_id}")

    def test_auto_picks_native_and_exits_cleanly(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr.decode())
        ready = self.frames[0].message
        self.assertIsInstance(ready, P.Ready)
        self.assertEqual(ready.engine, P.Engine.NATIVE)
        self.assertEqual(ready.pytest_version, "")
        dones = [f for f in self.frames if isinstance(f.message, P.Done)]
        self.assertEqual([f.request_id for f in dones], [2, 3])

    def test_outcomes(self):
        C = P.Phase.CALL
        self.assertEqual(self.report("test_plain.py::test_pass", C).outcome, P.Outcome.PASSED)
        self.assertEqual(self.report("test_plain.py::test_fail", C).outcome, P.Outcome.FAILED)
        sysexit = self.report("test_plain.py::test_system_exit", C)
        self.assertEqual(sysexit.outcome, P.Outcome.FAILED)
        self.assertIn("SystemExit: 4", sysexit.longrepr)
        skip = self.report("test_plain.py::test_skip_via_unittest", C)
        self.assertEqual((skip.outcome, skip.skip_reason), (P.Outcome.SKIPPED, "skipped without pytest"))
        xfail = self.report("test_unittest_cases.py::Cases::test_expected_failure", C)
        self.assertEqual(xfail.outcome, P.Outcome.XFAILED)
        broken = self.report("test_plain.py::TestBrokenSetupClass::test_b", P.Phase.SETUP)
        self.assertEqual(broken.outcome, P.Outcome.ERROR)
        self.assertIn("setup_class failed", broken.longrepr)

    def test_subtests_are_reported_separately(self):
        node = "test_unittest_cases.py::Cases::test_subtests"
        calls = [i for i in self.items if i.node_id == node and i.phase == P.Phase.CALL]
        failed = [(i.letter, i.word, i.head_line, i.progress_hidden)
                  for i in calls if i.outcome == P.Outcome.FAILED]
        # pytest's report of a failed unittest subtest; its progress letter is written while
        # the test's output is captured, so it never shows.
        self.assertEqual(failed, [("u", "SUBFAILED(i=2)", "Cases.test_subtests (i=2)", True),
                                  ("u", "SUBFAILED(i=3)", "Cases.test_subtests (i=3)", True)])
        passed_subtests = [i for i in calls if i.head_line and i.outcome == P.Outcome.PASSED]
        self.assertTrue(passed_subtests and not any(i.in_summary for i in passed_subtests))
        # The test itself passes: pytest 9 counts only the failed subtests.
        self.assertEqual(calls[-1].outcome, P.Outcome.PASSED)
        self.assertEqual((calls[-1].head_line, calls[-1].progress_hidden), ("", False))

    def test_teardown_frames_close_every_item(self):
        last = {}
        for item in self.items:
            last[item.node_id] = item
        self.assertTrue(all(item.item_finished for item in last.values()))
        self.assertEqual(sum(i.item_finished for i in self.items), len(last))

    def test_explicit_pytest_engine_without_pytest_is_fatal(self):
        proc, frames = run_worker(["test_plain.py"], engine=P.Engine.PYTEST)
        self.assertEqual(proc.returncode, 1)
        self.assertIsInstance(frames[-1].message, P.Fatal)
        self.assertIn("cannot import pytest", frames[-1].message.message)


if __name__ == "__main__":
    unittest.main()
