"""The zygote: a warm interpreter that forks fresh workers on request (``python -m dxpy_worker
--zygote``; see "Zygote warm start" in worker/PROTOCOL.md).

Layout: ``main`` (control socket set-up, preloading, the fork loop), ``_preload`` (what the
zygote may import), ``_Zygote`` (the loop: fork, report exits, release), ``_BecomeWorker``
(raised in a forked child so it leaves the zygote's loop and turns into an ordinary worker).

The zygote imports only code that cannot change between runs: the worker package, pytest
(when asked) and the preload modules that live under the interpreter's prefixes (stdlib and
site-packages). Project modules are never imported here, so a forked worker sees the
project's files as they are at fork time and nothing a test imported leaks into the next
worker: each worker is a fresh fork of this clean state. A fork is refused (the runner then
spawns) when the run's working directory or PYTHONPATH holds its own copy of a module the
zygote loaded, pytest's dependencies included (``_shadowed``).

The control channel is a ``SOCK_SEQPACKET`` Unix socket on fd 0 (one JSON object per
packet; a fork packet carries the worker's three descriptors as ``SCM_RIGHTS``). The zygote
is the forked workers' parent and reaps them: it reports each exit (with its signal) as soon
as it sees it, but keeps the zombie (``waitid(WNOWAIT)``) until the runner sends
``release``, so the runner can kill the worker's process group without racing a reused pid.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import select
import signal
import socket
import sys
import traceback
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from types import FrameType

    # A control packet (an order from the runner, or an event for it): one JSON object.
    Packet = dict[str, Any]

MAX_PACKET = 4 * 1024 * 1024
FDS_PER_FORK = 3  # requests (read end), results (write end), stderr (write end)


class _BecomeWorker(BaseException):
    """Raised in a forked child: unwinds the zygote's loop, then ``main`` runs the worker."""

    def __init__(self, order: Packet, fds: list[int]) -> None:
        super().__init__()
        self.order = order
        self.fds = fds


def _installed_roots() -> list[str]:
    """Directories whose modules count as installed (cannot be project code)."""
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - virtualenv's old site.py
        pass
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        roots.add(user)
    return [os.path.realpath(r) for r in roots if r]


def _is_installed(name: str, roots: list[str]) -> tuple[bool, str]:
    """Whether top-level module ``name`` resolves to a built-in or a file under ``roots``.
    Returns (installed, reason)."""
    top = name.split(".", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as err:
        return False, f"cannot be found: {err!r}"
    if spec is None:
        return False, "not found among installed modules"
    locations = list(spec.submodule_search_locations or [])
    if spec.origin and spec.has_location:
        locations.append(spec.origin)
    for location in locations:
        real = os.path.realpath(location)
        if not any(real == root or real.startswith(root + os.sep) for root in roots):
            return False, f"lives outside the interpreter's prefixes ({location})"
    return True, ""


def _preload(modules: list[str], import_pytest: bool) -> dict[str, list[Any]]:
    """Imports what forked workers should find loaded. Returns the report sent with ready."""
    report: dict[str, list[Any]] = {"imported": [], "skipped": [], "failed": []}
    wanted = []
    if import_pytest:
        wanted.append("pytest")
    wanted.extend(modules)
    roots = _installed_roots()
    for name in wanted:
        installed, reason = _is_installed(name, roots)
        if not installed:
            # Each forked worker imports it itself (its Preload request), fresh from the project.
            report["skipped"].append([name, reason])
            continue
        try:
            importlib.import_module(name)
        except BaseException as err:  # noqa: BLE001 - any import failure is reported, not fatal
            if isinstance(err, KeyboardInterrupt):
                raise
            report["failed"].append([name, repr(err)])
        else:
            report["imported"].append(name)
    # The worker's own modules; the pytest engine only when pytest imported.
    from dxpy_worker import capture, channel, engine_native, protocol  # noqa: F401

    if "pytest" in sys.modules:
        _import_pytest_plugins(roots)
        try:
            from dxpy_worker import engine_pytest  # noqa: F401
        except BaseException as err:  # noqa: BLE001
            if isinstance(err, KeyboardInterrupt):
                raise
            report["failed"].append(["dxpy_worker.engine_pytest", repr(err)])
    return report


def _import_pytest_plugins(roots: list[str]) -> None:
    """Imports pytest's builtin plugin modules, which every session imports at configure time.
    Not the ``pytest11`` entry points: pytest marks those for assertion rewriting and warns
    about any that were imported before its import hook. Best effort and quiet: a module that
    fails here fails again in the worker, where pytest reports it."""
    try:
        from _pytest.config import default_plugins
    except ImportError:
        return
    for name in default_plugins:
        name = f"_pytest.{name}"
        if not _is_installed(name, roots)[0]:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - see the docstring
            pass


def _shadowed(order: Packet, own_modules: frozenset[str]) -> str:
    """Why a worker forked for ``order`` would not import what a spawned one would, or "".

    A spawned worker's ``sys.path`` starts with its working directory and PYTHONPATH. A module
    the zygote loaded from elsewhere (pytest's own dependencies included: pygments, pluggy)
    that one of those directories also holds would come from that directory in a spawned
    worker, as under ``python -m pytest``, but a fork already has the zygote's copy: that is
    the case when developing such a package from its checkout. Modules loaded before the
    zygote imported anything (``own_modules``) load the same way in any process.
    """
    cwd = order.get("cwd") or os.getcwd()
    env = order.get("env") or {}
    head = [cwd] + [os.path.join(cwd, p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    head = [os.path.abspath(d) for d in head if os.path.isdir(d)]
    if not head:
        return ""
    for name, module in list(sys.modules.items()):
        if "." in name or name in own_modules or module is None:
            continue
        loaded = getattr(module, "__file__", None)
        if not loaded:
            continue  # built-in, frozen or a namespace package: nothing in a directory wins
        try:
            spec = importlib.machinery.PathFinder.find_spec(name, head)
        except (ImportError, ValueError):
            continue
        # A namespace portion loses to a regular module anywhere on sys.path.
        if spec is None or not spec.has_location or not spec.origin:
            continue
        if os.path.realpath(spec.origin) != os.path.realpath(loaded):
            return (f"`{name}` was loaded in the zygote from {loaded}, but this run's working "
                    f"directory or PYTHONPATH holds {spec.origin}")
    return ""


def _exit_event(pid: int, info: os.waitid_result) -> Packet:
    event: Packet = {"ev": "exited", "pid": pid}
    if info.si_code == os.CLD_EXITED:
        event["code"] = info.si_status
    else:  # CLD_KILLED / CLD_DUMPED
        event["signal"] = info.si_status
    return event


class _Zygote:
    def __init__(self, control: socket.socket, own_modules: frozenset[str]) -> None:
        self.control = control
        self.own_modules = own_modules  # loaded before the zygote imported anything
        # pid -> whether its exit was reported (then it is a zombie awaiting release).
        self.children: dict[int, bool] = {}
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)

    def send(self, event: Packet) -> None:
        self.control.sendmsg([json.dumps(event).encode()])

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, _ignore_signal)
        signal.set_wakeup_fd(self.wake_write)
        while True:
            self.report_exits()
            watched: list[socket.socket | int] = [self.control, self.wake_read]
            ready, _, _ = select.select(watched, [], [])
            if self.wake_read in ready:
                try:
                    while os.read(self.wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
            if self.control not in ready:
                continue
            data, fds = self.receive()
            if not data:
                break  # the runner closed the socket (or died)
            order = json.loads(data)
            op = order.get("op")
            if op == "fork":
                self.fork(order, fds)
            elif op == "release":
                self.release(order.get("pid"))
            elif op == "stop":
                break
            else:
                raise ValueError(f"unknown control order {op!r}")
        self.shutdown()

    def receive(self) -> tuple[bytes, list[int]]:
        fds: list[int] = []
        data, ancillary, _flags, _addr = self.control.recvmsg(
            MAX_PACKET, socket.CMSG_SPACE(FDS_PER_FORK * 4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                count = len(payload) // 4
                fds.extend(int.from_bytes(payload[i * 4:i * 4 + 4], sys.byteorder)
                           for i in range(count))
        return data, fds

    def fork(self, order: Packet, fds: list[int]) -> None:
        fork_id = order.get("id")
        refusal = (f"expected {FDS_PER_FORK} descriptors, got {len(fds)}"
                   if len(fds) != FDS_PER_FORK else _shadowed(order, self.own_modules))
        if refusal:
            for fd in fds:
                os.close(fd)
            self.send({"ev": "fork_failed", "id": fork_id, "message": refusal})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as err:
            for fd in fds:
                os.close(fd)
            self.send({"ev": "fork_failed", "id": fork_id, "message": repr(err)})
            return
        if pid == 0:
            raise _BecomeWorker(order, fds)
        for fd in fds:
            os.close(fd)
        # Also done by the child; doing it here too means the group exists before the runner
        # learns the pid (it may kill the group at once).
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.children[pid] = False
        self.send({"ev": "forked", "id": fork_id, "pid": pid})

    def report_exits(self) -> None:
        for pid, reported in list(self.children.items()):
            if reported:
                continue
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                del self.children[pid]
                self.send({"ev": "exited", "pid": pid})
                continue
            if info is None:
                continue
            self.children[pid] = True
            self.send(_exit_event(pid, info))

    def release(self, pid: object) -> None:
        if not isinstance(pid, int) or pid not in self.children:
            return
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        del self.children[pid]

    def shutdown(self) -> None:
        """Reaps the zombies nobody released. Live workers are left running: they exit when
        the runner closes their request pipe."""
        for pid, reported in list(self.children.items()):
            if reported:
                self.release(pid)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """SIGCHLD's handler: it only has to exist, so the signal wakes ``select`` through the
    wakeup fd."""


def _apply_order(order: Packet, fds: list[int], control_fds: list[int], path_head: int) -> None:
    """In the forked child: become a worker with the runner's configuration."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in control_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    env = order.get("env") or {}
    os.environ.clear()
    os.environ.update(env)
    cwd = order.get("cwd")
    if cwd:
        os.chdir(cwd)
    # ``python -m`` puts the working directory first, then PYTHONPATH's entries: redo both
    # for this worker's directory and PYTHONPATH.
    pythonpath = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:path_head] = [os.getcwd()] + [os.path.abspath(p) for p in pythonpath]
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.argv = sys.argv[:1]
    importlib.invalidate_caches()


def _path_head() -> int:
    """How many leading ``sys.path`` entries came from the working directory and PYTHONPATH
    (site.py made them absolute and dropped duplicates)."""
    pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    own = {os.path.abspath(p) for p in [os.getcwd(), *pythonpath]}
    head = 0
    while head < len(sys.path) and os.path.abspath(sys.path[head] or ".") in own:
        head += 1
    return head


def main() -> int:
    # The control socket leaves fd 0 so nothing can read it by accident; fd 0 is /dev/null.
    control_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    control = socket.socket(fileno=control_fd)
    path_head = _path_head()
    own_modules = frozenset(sys.modules)
    zygote = None
    try:
        data = control.recv(MAX_PACKET)
        if not data:
            return 0
        start = json.loads(data)
        report = _preload(list(start.get("preload") or []), bool(start.get("import_pytest")))
        if "pytest" in sys.modules:
            from dxpy_worker import warm_pytest

            if start.get("probe_session"):
                report["session_modules"] = warm_pytest.import_session_modules()
            warm_pytest.prepare()
        # Everything loaded so far lives as long as the zygote: moved out of the collector's
        # reach, a fork's collections (pytest runs gc.collect() at session end) scan only what
        # the worker itself created, and its pages are not touched by the scan.
        gc.collect()
        gc.freeze()
        pytest = sys.modules.get("pytest")
        zygote = _Zygote(control, own_modules)
        zygote.send({
            "ev": "ready",
            "pid": os.getpid(),
            "python_version": platform.python_version(),
            "pytest_version": getattr(pytest, "__version__", "") if pytest else "",
            "threads": _thread_count(),
            "preload": report,
        })
        zygote.serve()
        return 0
    except _BecomeWorker as become:
        order, fds = become.order, become.fds
    except BaseException as err:  # noqa: BLE001 - tell the runner, then exit
        if isinstance(err, (SystemExit, KeyboardInterrupt)):
            raise
        try:
            control.sendmsg([json.dumps({
                "ev": "fatal", "message": repr(err), "traceback": traceback.format_exc(),
            }).encode()])
        except OSError:
            pass
        return 1
    # A forked child. The worker runs outside the `except` block: inside it, every exception a
    # test raised would carry _BecomeWorker as its __context__ ("During handling of the above
    # exception, another exception occurred") and pytest would print the zygote's frames.
    control_fds = [control.detach()]
    if zygote is not None:
        control_fds += [zygote.wake_read, zygote.wake_write]
    _apply_order(order, fds, control_fds, path_head)
    from dxpy_worker.channel import main as worker_main

    _exit_forked(worker_main())


def _exit_forked(code: object) -> NoReturn:
    """Ends a forked worker as the interpreter's exit would, minus its module teardown: that
    frees the whole inherited heap object by object (tens of milliseconds per fork) for nothing
    anyone observes. Non-daemon threads are joined and ``atexit`` handlers run, as at a normal
    exit."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        code = 1
    try:
        threading = sys.modules.get("threading")
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    finally:
        _flush_open_files()
        os._exit(code)


def _flush_open_files() -> None:
    """Flushes every file object still open, text layers before the buffers under them: the
    teardown skipped by ``_exit_forked`` would have written their buffered tails (a test's
    module-level log file in the undeclared-outputs directory, say)."""
    import io

    streams = [sys.stdout, sys.stderr]
    try:
        streams += [o for o in gc.get_objects() if isinstance(o, io.IOBase)]
    except Exception:  # noqa: BLE001 - best effort; the standard streams are flushed anyway
        pass
    streams.sort(key=lambda stream: not isinstance(stream, io.TextIOBase))
    for stream in streams:
        try:
            if not stream.closed:
                stream.flush()
        except Exception:  # noqa: BLE001 - a broken or read-only stream has nothing to write
            pass


def _thread_count() -> int:
    threading = sys.modules.get("threading")
    return threading.active_count() if threading else 1
