"""The zygote (``python -m dxpy_worker --zygote``) driven over its control socket exactly as
the runner drives it: fork workers with descriptors passed over SCM_RIGHTS, speak the worker
protocol to them, and check exit reports, reaping, configuration after fork and the preload
rule. Uses the native engine, so it runs without pytest."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

from dxpy_worker import protocol as P

WORKER_DIR = Path(__file__).resolve().parent.parent
SUITE = WORKER_DIR.parent / "runner" / "tests" / "fixtures" / "native_suite"


def proc_state(pid):
    """The /proc state letter of ``pid``, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_result(fd):
    header = read_exact(fd, P.RESULT_HEADER.size)
    if header is None:
        return None
    length = struct.unpack_from("<I", header, 20)[0]
    frame, _ = P.decode_result(header + read_exact(fd, length))
    return frame


class Zygote:
    def __init__(self, preload=(), env=None, start=None):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        base = dict(os.environ, PYTHONPATH=str(WORKER_DIR), PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dxpy_worker", "--zygote"],
            stdin=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd="/", env=dict(base, **(env or {})), start_new_session=True)
        theirs.close()
        self.control.settimeout(60)
        self.send(dict({"op": "start", "preload": list(preload), "import_pytest": False},
                       **(start or {})))
        self.ready = self.event()
        assert self.ready["ev"] == "ready", self.ready

    def send(self, order, fds=()):
        self.control.sendmsg([json.dumps(order).encode()],
                             [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
                             if fds else [])

    def event(self):
        data = self.control.recv(1 << 20)
        return json.loads(data) if data else None

    def fork(self, cwd, env):
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        err_r, err_w = os.pipe()
        self.send({"op": "fork", "id": 7, "cwd": str(cwd), "env": env}, [req_r, res_w, err_w])
        for fd in (req_r, res_w, err_w):
            os.close(fd)
        forked = self.event()
        assert forked["ev"] == "forked" and forked["id"] == 7, forked
        return Forked(forked["pid"], req_w, res_r, err_r)

    def wait_exit(self, pid):
        while True:
            event = self.event()
            if event["ev"] == "exited" and event["pid"] == pid:
                return event

    def close(self):
        self.control.close()
        self.proc.wait(timeout=30)
        self.proc.stderr.close()


class Forked:
    def __init__(self, pid, req_w, res_r, err_r):
        self.pid, self.req_w, self.res_r, self.err_r = pid, req_w, res_r, err_r
        self.next_id = 1

    def request(self, request):
        os.write(self.req_w, P.encode_request(P.RequestFrame(self.next_id, request)))
        self.next_id += 1

    def until(self, kind):
        frames = []
        while True:
            frame = read_result(self.res_r)
            if frame is None:
                return frames, None
            frames.append(frame)
            if isinstance(frame.message, kind):
                return frames, frame.message

    def close(self):
        for fd in (self.req_w, self.res_r, self.err_r):
            os.close(fd)


def worker_env(**extra):
    env = dict(os.environ, PYTHONPATH=str(WORKER_DIR), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


PROBE = textwrap.dedent("""
    import json, os, sys

    def test_probe():
        with open(os.environ["DXPY_PROBE_OUT"], "w") as out:
            json.dump({"path": sys.path, "cwd": os.getcwd(), "marker": os.environ.get("DXPY_MARKER"),
                       "dont_write_bytecode": sys.dont_write_bytecode, "pgid": os.getpgid(0),
                       "pid": os.getpid(), "leaked": "dxpy_leaky_module" in sys.modules}, out)
        import dxpy_leaky_module  # a project module: must not survive into the next worker
""")


class ZygoteForks(unittest.TestCase):
    def setUp(self):
        self.zygote = Zygote()
        self.addCleanup(self.zygote.close)

    def test_a_fork_serves_batches_like_a_spawned_worker_and_is_reaped_on_release(self):
        worker = self.zygote.fork(SUITE, worker_env())
        self.addCleanup(worker.close)
        worker.request(P.Hello(str(SUITE), [], P.Engine.NATIVE, [], 4096))
        _, ready = worker.until(P.Ready)
        self.assertEqual(ready.pid, worker.pid)
        self.assertEqual(os.getpgid(worker.pid), worker.pid, "own process group")
        worker.request(P.RunItems(0, False, ["test_plain.py::test_pass", "test_plain.py::test_fail"]))
        frames, done = worker.until(P.Done)
        self.assertEqual((done.passed, done.failed), (1, 1))
        worker.request(P.Shutdown())
        worker.until(P.Done)
        exited = self.zygote.wait_exit(worker.pid)
        self.assertEqual(exited.get("code"), 0, exited)
        # Reported but kept as a zombie until released, so its pid cannot be reused.
        self.assertEqual(proc_state(worker.pid), "Z")
        self.zygote.send({"op": "release", "pid": worker.pid})
        for _ in range(100):
            if proc_state(worker.pid) is None:
                break
            time.sleep(0.02)
        self.assertIsNone(proc_state(worker.pid))

    def test_a_crash_is_reported_with_its_signal(self):
        worker = self.zygote.fork(SUITE, worker_env())
        self.addCleanup(worker.close)
        worker.request(P.Hello(str(SUITE), [], P.Engine.NATIVE, [], 4096))
        worker.until(P.Ready)
        os.kill(worker.pid, signal.SIGSEGV)
        exited = self.zygote.wait_exit(worker.pid)
        self.assertEqual(exited, {"ev": "exited", "pid": worker.pid, "signal": signal.SIGSEGV})
        self.assertIsNone(worker.until(P.Done)[1], "stream ends without Done")
        self.zygote.send({"op": "release", "pid": worker.pid})

    def test_configuration_after_fork_matches_a_spawned_worker_and_nothing_leaks(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp).resolve()
            (root / "test_probe.py").write_text(PROBE)
            (root / "dxpy_leaky_module.py").write_text("VALUE = 1\n")
            extra = root / "extra"
            extra.mkdir()
            env = worker_env(DXPY_MARKER="m1", PYTHONPATH=f"{WORKER_DIR}{os.pathsep}{extra}")

            def probe(run):
                out = root / "probe.json"
                env["DXPY_PROBE_OUT"] = str(out)
                run()
                return json.loads(out.read_text())

            def forked_run():
                worker = self.zygote.fork(root, env)
                worker.request(P.Hello(str(root), [], P.Engine.NATIVE, [], 4096))
                worker.request(P.RunItems(0, False, ["test_probe.py::test_probe"]))
                _, done = worker.until(P.Done)
                self.assertEqual(done.passed, 1)
                worker.request(P.Shutdown())
                worker.until(P.Done)
                self.zygote.wait_exit(worker.pid)
                self.zygote.send({"op": "release", "pid": worker.pid})
                worker.close()

            def spawned_run():
                requests = [P.RequestFrame(1, P.Hello(str(root), [], P.Engine.NATIVE, [], 4096)),
                            P.RequestFrame(2, P.RunItems(0, False, ["test_probe.py::test_probe"])),
                            P.RequestFrame(3, P.Shutdown())]
                subprocess.run([sys.executable, "-m", "dxpy_worker"], cwd=root, env=env,
                               input=b"".join(P.encode_request(r) for r in requests),
                               capture_output=True, timeout=120, check=True)

            first = probe(forked_run)
            second = probe(forked_run)
            spawned = probe(spawned_run)
        self.assertEqual(first["path"], spawned["path"])
        self.assertEqual(first["cwd"], str(root))
        self.assertEqual(first["marker"], "m1")
        self.assertTrue(first["dont_write_bytecode"])
        self.assertEqual(first["pgid"], first["pid"])
        self.assertFalse(second["leaked"], "a module imported by the previous worker leaked")
        self.assertNotEqual(first["pid"], second["pid"])

    def test_a_fork_is_refused_when_the_run_would_import_its_own_copy_of_a_loaded_module(self):
        # As when developing pygments (which pytest imports) with PYTHONPATH=. : a spawned
        # worker imports the checkout's copy, a fork would keep the zygote's.
        zygote = Zygote(preload=["colorsys"])
        self.addCleanup(zygote.close)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp).resolve()
            (root / "src").mkdir()
            (root / "src" / "colorsys.py").write_text("SHADOW = True\n")
            for cwd, env, shadowed in [
                (root, worker_env(), False),
                (root, worker_env(PYTHONPATH=f"{WORKER_DIR}{os.pathsep}src"), True),
                (root / "src", worker_env(), True),
            ]:
                with self.subTest(cwd=str(cwd), pythonpath=env["PYTHONPATH"]):
                    pipes = [os.pipe() for _ in range(3)]
                    zygote.send({"op": "fork", "id": 9, "cwd": str(cwd), "env": env},
                                [pipes[0][0], pipes[1][1], pipes[2][1]])
                    event = zygote.event()
                    for read, write in pipes:
                        os.close(read)
                        os.close(write)
                    if not shadowed:
                        self.assertEqual(event["ev"], "forked", event)
                        zygote.wait_exit(event["pid"])
                        zygote.send({"op": "release", "pid": event["pid"]})
                        continue
                    self.assertEqual(event["ev"], "fork_failed", event)
                    self.assertIn("`colorsys` was loaded in the zygote", event["message"])
                    self.assertIn(str(root / "src" / "colorsys.py"), event["message"])

    def test_closing_the_control_socket_stops_the_zygote_and_reaps_unreleased_workers(self):
        worker = self.zygote.fork(SUITE, worker_env())
        worker.close()  # request pipe closed: the worker exits on its own
        self.zygote.wait_exit(worker.pid)
        self.zygote.close()
        self.assertEqual(self.zygote.proc.returncode, 0)
        self.assertIsNone(proc_state(worker.pid), "the zygote left a zombie behind")


class ZygotePreload(unittest.TestCase):
    def test_only_installed_modules_are_imported_in_the_zygote(self):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "dxpy_projmod.py").write_text("raise RuntimeError('imported')\n")
            # encodings.mbcs is installed (stdlib) but fails to import outside Windows.
            zygote = Zygote(preload=["json", "dxpy_projmod", "dxpy_no_such_module", "encodings.mbcs"],
                            env={"PYTHONPATH": f"{WORKER_DIR}{os.pathsep}{tmp}"})
            try:
                report = zygote.ready["preload"]
            finally:
                zygote.close()
        self.assertEqual(report["imported"], ["json"])
        self.assertEqual([name for name, _ in report["skipped"]],
                         ["dxpy_projmod", "dxpy_no_such_module"])
        self.assertIn("outside the interpreter's prefixes", report["skipped"][0][1])
        self.assertEqual([name for name, _ in report["failed"]], ["encodings.mbcs"])
        self.assertIn("ImportError", report["failed"][0][1])

    def test_a_probe_session_imports_the_stdlib_modules_a_session_needs(self):
        with tempfile.TemporaryDirectory() as tmp:
            # A conftest-free project on the path must not be touched by the probe.
            (Path(tmp) / "dxpy_projmod.py").write_text("raise RuntimeError('imported')\n")
            zygote = Zygote(env={"PYTHONPATH": f"{WORKER_DIR}{os.pathsep}{tmp}"},
                            start={"import_pytest": True, "probe_session": True})
            try:
                modules = zygote.ready["preload"]["session_modules"]
                # A fork of the warmed zygote still runs pytest tests normally.
                worker = zygote.fork(SUITE, worker_env())
                worker.request(P.Hello(str(SUITE), [], P.Engine.PYTEST, ["-p", "no:cacheprovider"],
                                       4096))
                worker.until(P.Ready)
                worker.request(P.RunItems(0, False, ["test_plain.py::test_pass",
                                                     "test_plain.py::test_fail"]))
                _, done = worker.until(P.Done)
                worker.request(P.Shutdown())
                worker.until(P.Done)
                zygote.wait_exit(worker.pid)
                zygote.send({"op": "release", "pid": worker.pid})
                worker.close()
            finally:
                zygote.close()
        self.assertEqual((done.passed, done.failed), (1, 1))
        # pytest's debugging plugin imports pdb when a session is configured.
        self.assertIn("pdb", modules)
        self.assertTrue(all(name.split(".")[0] in sys.stdlib_module_names for name in modules),
                        modules)
        self.assertNotIn("dxpy_projmod", modules)

    def test_without_a_probe_no_session_modules_are_imported(self):
        zygote = Zygote(start={"import_pytest": True})
        try:
            self.assertNotIn("session_modules", zygote.ready["preload"])
        finally:
            zygote.close()


if __name__ == "__main__":
    unittest.main()
