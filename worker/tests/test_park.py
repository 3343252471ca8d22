"""A worker sent Hello with PARK stops before its conftests until Resume (spare workers)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

from dxpy_worker import protocol as P
from dxpy_worker.park import project_modules

WORKER_DIR = Path(__file__).resolve().parent.parent
# Long enough for an unparked worker to have loaded its conftest on a busy machine.
PARKED_FOR = 2.0


def write_project(files: dict[str, str]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="dxpy-park-"))
    for name, text in {"pytest.ini": "[pytest]\n", **files}.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


CONFTEST = """
    import pathlib
    pathlib.Path(__file__).with_name("conftest-imported").write_text("yes")
"""


class Worker:
    """One worker process, spoken to frame by frame."""

    def __init__(self, root: Path, pytest_args: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(WORKER_DIR), str(root)]),
                   PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "dxpy_worker"], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buffer = b""
        self.send(1, P.Hello(str(root), [], P.Engine.PYTEST, ["-p", "no:cacheprovider", *pytest_args],
                             1 << 20, park=True))

    def send(self, request_id: int, request: P.Request) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(P.encode_request(P.RequestFrame(request_id, request)))
        self.proc.stdin.flush()

    def frames_within(self, seconds: float) -> list[P.ResultFrame]:
        """Every result frame that arrives within ``seconds`` (or until the stream ends)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + seconds
        fd = self.proc.stdout.fileno()
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.buffer += chunk
        frames = []
        while self.buffer:
            try:
                frame, used = P.decode_result(self.buffer)
            except P.ProtocolError:
                break  # a partial frame: the rest comes later
            frames.append(frame)
            self.buffer = self.buffer[used:]
        return frames

    def until(self, kind: type, seconds: float = 60.0) -> list[P.ResultFrame]:
        frames: list[P.ResultFrame] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frames += self.frames_within(0.2)
            if any(isinstance(f.message, kind) for f in frames):
                return frames
            if self.proc.poll() is not None and not self.buffer:
                break
        raise AssertionError(f"no {kind.__name__} frame; got {frames}, stderr: {self.stderr()}")

    def stderr(self) -> str:
        self.proc.kill()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Parking(unittest.TestCase):
    def start(self, root: Path, pytest_args: list[str] | None = None) -> Worker:
        worker = Worker(root, pytest_args or [])
        self.addCleanup(worker.close)
        return worker

    def test_a_parked_worker_loads_its_conftest_only_after_resume(self) -> None:
        root = write_project({"conftest.py": CONFTEST,
                              "test_a.py": "def test_a():\n    assert True\n"})
        worker = self.start(root)
        self.assertEqual(worker.frames_within(PARKED_FOR), [])
        self.assertFalse((root / "conftest-imported").exists())
        worker.send(2, P.Resume())
        ready = worker.until(P.Ready)
        # Ready answers Hello: frames sent before parking carry the same request id.
        self.assertEqual([f.request_id for f in ready if isinstance(f.message, P.Ready)], [1])
        self.assertTrue((root / "conftest-imported").exists())
        worker.send(3, P.RunItems(0, False, ["test_a.py::test_a"]))
        done = worker.until(P.Done)
        calls = [f.message.outcome for f in done
                 if isinstance(f.message, P.ItemResult) and f.message.phase == P.Phase.CALL]
        self.assertEqual(calls, [P.Outcome.PASSED])

    def test_a_parked_worker_let_go_exits_without_project_code(self) -> None:
        root = write_project({"conftest.py": CONFTEST})
        worker = self.start(root)
        self.assertEqual(worker.frames_within(PARKED_FOR), [])
        worker.send(2, P.Shutdown())
        self.assertEqual(worker.proc.wait(timeout=60), 0)
        self.assertFalse((root / "conftest-imported").exists())

    def test_a_project_plugin_loaded_before_the_conftests_stops_parking(self) -> None:
        root = write_project({"conftest.py": CONFTEST, "projectplugin.py": "X = 1\n"})
        worker = self.start(root, ["-p", "projectplugin"])
        self.assertEqual(worker.proc.wait(timeout=60), 0)
        self.assertEqual(worker.frames_within(0.1), [])
        self.assertIn("not parking: imported projectplugin", worker.stderr())
        self.assertFalse((root / "conftest-imported").exists())


class ProjectModules(unittest.TestCase):
    def test_modules_outside_the_interpreter_dirs_are_the_projects(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="dxpy-park-"))
        sys.modules["dxpy_park_fake_project"] = type(sys)("dxpy_park_fake_project")
        sys.modules["dxpy_park_fake_project"].__file__ = str(root / "fake.py")
        self.addCleanup(sys.modules.pop, "dxpy_park_fake_project")
        found = project_modules(["os", "sys", "unittest", "dxpy_park_fake_project"],
                                [str(Path(os.__file__).parent) + os.sep])
        self.assertEqual(found, ["dxpy_park_fake_project"])


if __name__ == "__main__":
    unittest.main()
