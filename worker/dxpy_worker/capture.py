"""Output capping and the native engine's fd-level capture.

``cap_text`` bounds any text sent to the runner. ``FdCapture`` redirects fds 1 and 2 (and
``sys.stdout``/``sys.stderr``) into temporary files for one test phase, so output written by
Python, C code or subprocesses is captured and can never reach the protocol stream.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from typing import IO, TextIO

TRUNCATION_NOTE = "\n[dx-py: output truncated: {omitted} more bytes not shown]\n"


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """Returns (text cut to ``limit`` UTF-8 bytes plus a note, truncated?)."""
    if len(text) <= limit // 4:  # cannot exceed the limit even at 4 bytes per char
        return text, False
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return text, False
    head = raw[:limit].decode("utf-8", "ignore")  # drops a character cut in half
    omitted = len(raw) - len(head.encode("utf-8"))
    return head + TRUNCATION_NOTE.format(omitted=omitted), True


def _read_capped(tmp: IO[bytes], limit: int) -> tuple[str, bool]:
    size = os.fstat(tmp.fileno()).st_size
    tmp.seek(0)
    raw = tmp.read(limit)
    text = raw.decode("utf-8", "replace")
    if size > limit:
        return text + TRUNCATION_NOTE.format(omitted=size - limit), True
    return text, False


class FdCapture:
    """Captures fds 1 and 2 into temp files between ``start`` and ``stop``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tmp_out = tempfile.TemporaryFile()
        self.tmp_err = tempfile.TemporaryFile()
        # (fd 1 copy, fd 2 copy, sys.stdout, sys.stderr) while capturing.
        self.saved: tuple[int, int, TextIO, TextIO] | None = None

    def start(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        for tmp in (self.tmp_out, self.tmp_err):
            tmp.seek(0)
            tmp.truncate()
        self.saved = (os.dup(1), os.dup(2), sys.stdout, sys.stderr)
        os.dup2(self.tmp_out.fileno(), 1)
        os.dup2(self.tmp_err.fileno(), 2)
        # Unbuffered text wrappers over the redirected fds keep Python and C output in order.
        sys.stdout = io.TextIOWrapper(
            os.fdopen(os.dup(1), "wb", buffering=0), encoding="utf-8", errors="replace",
            write_through=True,
        )
        sys.stderr = io.TextIOWrapper(
            os.fdopen(os.dup(2), "wb", buffering=0), encoding="utf-8", errors="backslashreplace",
            write_through=True,
        )

    def stop(self) -> tuple[str, str, bool]:
        """Restores the fds; returns (stdout, stderr, truncated)."""
        if self.saved is None:
            return "", "", False
        saved_out, saved_err, sys_out, sys_err = self.saved
        self.saved = None
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.close()
            except Exception:
                pass
        sys.stdout, sys.stderr = sys_out, sys_err
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        out, out_cut = _read_capped(self.tmp_out, self.limit)
        err, err_cut = _read_capped(self.tmp_err, self.limit)
        return out, err, out_cut or err_cut
