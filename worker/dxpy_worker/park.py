"""A spare worker that waits just before its conftests load (Hello's ``PARK`` flag).

Up to ``pytest_load_initial_conftests`` a pytest start reads only the interpreter's own
files and the project's config files: ini files, ``-p`` and entry-point plugins from
site-packages. The conftests are the first project code it imports. A worker parked there
has run nothing an edit to the project can make stale, so the runner can keep it across
edits and resume it (Resume) when a run needs a worker; what is left of the start is the
conftests, ``pytest_configure`` and the session's start.

A plugin imported from elsewhere (an editable install of the project's own plugin, a
``-p`` module on ``PYTHONPATH``) is project code: such a worker does not park. It exits,
and the runner starts a fresh worker instead.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from typing import TYPE_CHECKING

import pytest

from dxpy_worker import protocol as P

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from dxpy_worker.channel import Channel


def interpreter_dirs() -> list[str]:
    """Where the interpreter's own modules live: its prefixes, stdlib and site-packages,
    and this worker package."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.update(path for path in sysconfig.get_paths().values() if path)
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    dirs.add(site.getusersitepackages())
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return sorted(os.path.join(os.path.realpath(d), "") for d in dirs)


def project_modules(names: Iterable[str], allowed_dirs: list[str]) -> list[str]:
    """The modules among ``names`` loaded from a file outside ``allowed_dirs``."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue  # built in, frozen or a namespace package: no project code ran
        real = os.path.realpath(path)
        if not any(real.startswith(d) for d in allowed_dirs):
            found.append(name)
    return sorted(found)


class ParkBeforeConftests:
    """Outermost wrapper of ``pytest_load_initial_conftests``: waits there for Resume."""

    def __init__(self, channel: Channel, loaded_before: Iterable[str]) -> None:
        self.channel = channel
        self.loaded_before = frozenset(loaded_before)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_load_initial_conftests(self) -> Generator[None, object, object]:
        new = [name for name in list(sys.modules) if name not in self.loaded_before]
        imported = project_modules(new, interpreter_dirs())
        if imported:
            sys.stderr.write(f"dx-py worker: not parking: imported {', '.join(imported)}\n")
            sys.stderr.flush()
            os._exit(0)
        frame = self.channel.next_request()
        if frame is None or not isinstance(frame.request, P.Resume):
            os._exit(0)  # the runner let the spare go
        return (yield)
