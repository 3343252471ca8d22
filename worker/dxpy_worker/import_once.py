"""A test module whose import failed is not imported again in the same worker.

pytest imports each test module once per run. A worker may collect a module several times
(ImportModules before the first batch, the module shortcut, then by node ID), and a second
import of a module whose first import failed can succeed where pytest's one import failed: the
failed import leaves the submodules it had already imported in ``sys.modules``, and a later
``from pkg.sub import x`` finds ``pkg.sub`` there without importing the broken ``pkg`` again.
So the first failure is kept and raised again, unchanged, by every later import of that path.
Both engines use it (the pytest engine through ``ImportOnce``, a plugin); stdlib only.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import types
    from collections.abc import Callable


class FailedImports:
    """The first exception each path's import raised, with its traceback and its warnings."""

    def __init__(self) -> None:
        self.failures: dict[Any, _Failure] = {}

    def guard(self, key: object, importer: Callable[[], Any]) -> Any:
        """``importer()``, unless ``key``'s import failed before: then that failure again.
        The warnings the import raised are raised once, by the import itself (and kept with
        a failure, for a caller that set aside what its collection warned)."""
        failed = self.failures.get(key)
        if failed is not None:
            raise failed.exc.with_traceback(failed.traceback)
        failure = None
        with warnings.catch_warnings(record=True) as warned:
            try:
                result = importer()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - kept, then raised below
                failure = _Failure(exc, exc.__traceback__, list(warned))
        deliver(warned)  # out of the block: to the caller's handler
        if failure is not None:
            self.failures[key] = failure
            raise failure.exc.with_traceback(failure.traceback)
        return result

    def failed(self, key: object) -> bool:
        return key in self.failures

    def count(self) -> int:
        return len(self.failures)

    def warned_since(self, count: int) -> list[warnings.WarningMessage]:
        """What the imports that failed after the first ``count`` failures warned."""
        return [m for failure in list(self.failures.values())[count:] for m in failure.warned]


class _Failure:
    def __init__(self, exc: BaseException, traceback: types.TracebackType | None,
                 warned: list[warnings.WarningMessage]) -> None:
        self.exc = exc
        # The original traceback, not one grown by every raise: reports cut it at the test
        # module's frame, which it still holds.
        self.traceback = traceback
        self.warned = warned


def deliver(warned: list[warnings.WarningMessage]) -> None:
    """Hands warnings that already passed the filters to the current handler (pytest's
    recorder, say), as ``warnings.warn`` does after filtering."""
    show: Any = getattr(warnings, "_showwarnmsg", None)
    for message in warned:
        if show is not None:
            show(message)
        else:  # pragma: no cover - every supported Python has it
            warnings.showwarning(message.message, message.category, message.filename,
                                 message.lineno, message.file, message.line)
