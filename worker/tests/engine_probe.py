"""Runs the pytest engine in a real worker process over the wire protocol, for the fast-path
tests: write a suite into a temp dir, send batches, get every result frame back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from dxpy_worker import protocol as P

WORKER_DIR = Path(__file__).resolve().parent.parent


def write_suite(files):
    """A temp dir holding ``files`` ({relative path: source}, dedented); returns its Path."""
    root = Path(tempfile.mkdtemp(prefix="dxpy-fastpath-"))
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    if "pytest.ini" not in files:
        (root / "pytest.ini").write_text("[pytest]\n")
    return root


def run_worker(root, batches, pytest_args=(), fast=True, engine=P.Engine.PYTEST):
    """Frames (decoded messages) from one worker serving ``batches`` (lists of node IDs, or
    requests such as ``P.RunHookItems`` or ``P.ImportModules`` sent as they are)."""
    requests = [P.RequestFrame(1, P.Hello(str(root), [], engine,
                                          ["-p", "no:cacheprovider", *pytest_args], 1 << 20))]
    for number, batch in enumerate(batches):
        as_is = isinstance(batch, (P.RunHookItems, P.ImportModules))
        request = batch if as_is else P.RunItems(0, False, list(batch))
        requests.append(P.RequestFrame(2 + number, request))
    requests.append(P.RequestFrame(2 + len(batches), P.Shutdown()))
    # A fixed hash seed: pytest's dict and set diffs list items in hash order.
    env = dict(os.environ, PYTHONPATH=str(WORKER_DIR), PYTHONDONTWRITEBYTECODE="1",
               PYTHONHASHSEED="0")
    env.pop("DXPY_NO_FASTPATH", None)
    env["DXPY_DEBUG_FASTPATH"] = "1"
    if not fast:
        env["DXPY_NO_FASTPATH"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "dxpy_worker"],
        input=b"".join(P.encode_request(r) for r in requests),
        capture_output=True, env=env, cwd=str(root), timeout=120,
    )
    messages, pos = [], 0
    while pos < len(proc.stdout):
        frame, used = P.decode_result(proc.stdout[pos:])
        messages.append(frame.message)
        pos += used
    if proc.returncode != 0 or not any(isinstance(m, P.Done) for m in messages):
        raise AssertionError(f"worker failed ({proc.returncode}): {proc.stderr.decode()[-3000:]}")
    return messages


def answers(messages):
    """``messages`` split by request: Hello's answer (up to Ready), then one list per
    request up to its Done, in order."""
    out, current = [], []
    for message in messages:
        current.append(message)
        if isinstance(message, (P.Ready, P.Done)):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def fast_path_logs(messages):
    return [m.message for m in messages
            if isinstance(m, P.Log) and m.message.startswith("fast path:")]


def comparable(messages):
    """Every result frame except timings and the fast path's own log lines."""
    out = []
    for message in messages:
        if isinstance(message, P.Log) and message.message.startswith("fast path:"):
            continue
        if isinstance(message, P.ItemResult):
            fields = dict(vars(message))
            fields.pop("duration_ns")
            # Object addresses (``-l`` shows locals) differ from process to process.
            fields["longrepr"] = re.sub(r"0x[0-9a-f]+", "0x?", fields["longrepr"])
            out.append(("item", sorted(fields.items())))
        elif isinstance(message, P.Ready):
            out.append(("ready", message.engine))
        elif isinstance(message, P.Done):
            fields = dict(vars(message))
            fields.pop("message", None)
            out.append(("done", sorted(fields.items())))
        else:
            out.append((type(message).__name__, sorted(vars(message).items())))
    return out
