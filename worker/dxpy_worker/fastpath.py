"""The direct run protocol: pytest's own runtest hook implementations, called without pluggy.

For every test pytest dispatches about twenty hook calls through pluggy (protocol, logstart,
three phases, three makereports, three logreports, logfinish), each looping over its
implementations, wrapping and re-raising, and looking the hook up through ``item.ihook``.
When every implementation of those hooks in a session is one of pytest's builtin plugins (or
the engine's own plugin), of a pytest version this module was checked against, the same
implementation functions can be called directly, in the order pluggy would call them, with
pluggy's rules for new-style wrappers (builtins have no old-style hookwrappers). Results,
report objects, sections and warnings are then those of the normal path by construction: the
same code runs, only the dispatch differs.

Two things are left out on purpose:
- the terminal reporter's ``pytest_runtest_logstart``/``pytest_runtest_logreport``: in the
  worker it writes progress to /dev/null, and its statistics are only read by the session's
  terminal summary (also /dev/null), so ``pytest_terminal_summary`` must be builtin-only too;
- pluggy's frames in tracebacks: this module's frames take their place and are hidden
  (``__tracebackhide__``), so pytest's traceback filtering removes both alike. ``--fulltrace``
  and ``--tb=native`` show unfiltered frames, so they are not eligible.

``DirectProtocol.for_session`` returns None when anything differs: an unknown pytest version,
a conftest or third-party implementation of any of these hooks (or of
``pytest_terminal_summary``), an old-style hookwrapper,
``--setup-show``/``--setup-only``/``--setup-plan``, ``--pdb``, ``--trace``, ``--fulltrace``,
``--tb=native``. The engine then runs pytest's own ``pytest_runtest_protocol``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from dxpy_worker import builtin_hooks

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Literal

    When = Literal["setup", "call", "teardown"]

    # One hook implementation as the direct protocol calls it: (function, argnames, wrapper?).
    # The functions are pytest's and plugins' hook implementations: Any at this boundary.
    Call = tuple[Callable[..., Any], tuple[str, ...], bool]

# Frames of this module stand where pluggy's stand in the normal path; pytest drops both.
__tracebackhide__ = True

# pytest minor versions whose runtest machinery this module was checked against (9.1: by
# worker/tests under the Bazel chroot's pytest 9.1.1, which tests/run.sh runs).
SUPPORTED_VERSIONS = ((9, 1), (9, 2))

# The hooks the direct protocol calls itself instead of through pluggy.
DIRECT_HOOKS = (
    "pytest_runtest_protocol", "pytest_runtest_logstart", "pytest_runtest_setup",
    "pytest_runtest_call", "pytest_runtest_teardown", "pytest_runtest_makereport",
    "pytest_runtest_logreport", "pytest_runtest_logfinish", "pytest_exception_interact",
)
# Implementations skipped because they only feed the terminal reporter's /dev/null output.
SKIPPED_IMPLS = {
    "pytest_runtest_logstart": ("terminalreporter",),
    "pytest_runtest_logreport": ("terminalreporter",),
}
# Hooks that may read what the skipped implementations would have recorded.
BUILTIN_ONLY_HOOKS = ("pytest_terminal_summary",)
_PHASE_HOOKS = {
    "setup": "pytest_runtest_setup",
    "call": "pytest_runtest_call",
    "teardown": "pytest_runtest_teardown",
}


def pytest_version() -> tuple[int, ...]:
    parts = []
    for piece in pytest.__version__.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def why_not_direct(config: pytest.Config, own_plugin: object) -> str:
    """The reason the direct protocol cannot serve this session, or "" when it can."""
    if pytest_version() not in SUPPORTED_VERSIONS:
        return f"pytest {pytest.__version__} is not a version the direct protocol was checked against"
    option = config.option
    # (--setup-only and --setup-plan turn setupshow on too.)
    for name in ("setupshow", "usepdb", "trace", "fulltrace"):
        if getattr(option, name, False):
            return f"option {name} is set"
    if getattr(option, "tbstyle", "auto") == "native":
        return "--tb=native"
    manager = config.pluginmanager
    for hook_name in DIRECT_HOOKS:
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            if impl.hookwrapper:
                return f"{hook_name}: old-style hookwrapper {impl.plugin_name}"
            if impl.plugin is not own_plugin and not builtin_hooks.is_builtin_plugin(impl.plugin):
                return f"{hook_name}: implemented by {impl.plugin_name}"
    protocol_plugins = [manager.get_name(i.plugin)
                        for i in manager.hook.pytest_runtest_protocol.get_hookimpls()]
    if "runner" not in protocol_plugins:
        return "pytest_runtest_protocol: pytest's runner plugin is not registered"
    foreign = builtin_hooks.foreign_implementations(config, BUILTIN_ONLY_HOOKS, (type(own_plugin),))
    if foreign:
        return f"{foreign[0][0]}: implemented by {foreign[0][1]}"
    return ""


def _calls(
    manager: pytest.PytestPluginManager,
    hook_name: str,
    replace: dict[str, Callable[..., Any]] | None = None,
) -> tuple[Call, ...]:
    """(function, argnames, is_wrapper) in pluggy's calling order, minus skipped ones;
    ``replace`` maps a plugin name to the function to call instead of its implementation."""
    skipped = SKIPPED_IMPLS.get(hook_name, ())
    calls: list[Call] = []
    for impl in reversed(getattr(manager.hook, hook_name).get_hookimpls()):
        name = manager.get_name(impl.plugin)
        if name in skipped:
            continue
        function = impl.function if name is None else (replace or {}).get(name, impl.function)
        calls.append((function, tuple(impl.argnames), impl.wrapper))
    return tuple(calls)


def _invoke(calls: tuple[Call, ...], kwargs: dict[str, Any], firstresult: bool) -> Any:
    """One hook call over ``calls``, by pluggy's rules for plain impls and new-style
    wrappers: wrappers enter outermost first; plain results are collected (the first
    non-None ends a firstresult hook); wrappers leave innermost first, each receiving the
    result or the exception and able to replace either."""
    results: list[object] = []
    exception: BaseException | None = None
    entered: list[Any] = []  # the wrappers' generators
    try:
        for function, argnames, is_wrapper in calls:
            args = [kwargs[name] for name in argnames]
            if is_wrapper:
                generator = function(*args)
                next(generator)
                entered.append(generator)
            else:
                value = function(*args)
                if value is not None:
                    results.append(value)
                    if firstresult:
                        break
    except BaseException as exc:  # noqa: BLE001 - handed to the wrappers, as pluggy does
        exception = exc
    result: object
    if firstresult:
        result = results[0] if results else None
    else:
        result = results
    for generator in reversed(entered):
        try:
            if exception is not None:
                generator.throw(exception)
            else:
                generator.send(result)
        except StopIteration as stop:
            result, exception = stop.value, None
            continue
        except BaseException as exc:  # noqa: BLE001 - the wrapper replaced the outcome
            exception = exc
            continue
        generator.close()
        exception = RuntimeError(f"wrapper {generator!r} did not stop after its yield")
    if exception is not None:
        raise exception
    return result


class DirectProtocol:
    """pytest_runtest_protocol for one session, with its hooks called directly."""

    def __init__(self, config: pytest.Config) -> None:
        from _pytest.runner import CallInfo, check_interactive_exception, get_reraise_exceptions

        manager = config.pluginmanager
        self.config = config
        self._call_info = CallInfo
        self._check_interactive = check_interactive_exception
        self._reraise = get_reraise_exceptions(config)
        self._protocol = _calls(manager, "pytest_runtest_protocol",
                                {"runner": self._runner_protocol})
        self._logstart = _calls(manager, "pytest_runtest_logstart")
        self._phase = {when: _calls(manager, hook) for when, hook in _PHASE_HOOKS.items()}
        self._makereport = _calls(manager, "pytest_runtest_makereport")
        self._logreport = _calls(manager, "pytest_runtest_logreport")
        self._logfinish = _calls(manager, "pytest_runtest_logfinish")
        self._interact = _calls(manager, "pytest_exception_interact")
        # The implementation lists these calls were built from: a plugin registered later
        # (a test may register one) makes them stale.
        self._snapshot = tuple(
            (caller, tuple(caller.get_hookimpls()))
            for caller in (getattr(manager.hook, name) for name in DIRECT_HOOKS)
        )

    def still_valid(self) -> bool:
        """False once any of the hooks gained or lost an implementation."""
        for caller, impls in self._snapshot:
            if tuple(caller.get_hookimpls()) != impls:
                return False
        return True

    @classmethod
    def for_session(cls, config: pytest.Config, own_plugin: object) -> tuple[DirectProtocol | None, str]:
        """(protocol or None, reason it is None)."""
        reason = why_not_direct(config, own_plugin)
        if reason:
            return None, reason
        return cls(config), ""

    def run(self, item: pytest.Item, nextitem: pytest.Item | pytest.Session | None) -> Any:
        """What ``hook.pytest_runtest_protocol(item=item, nextitem=nextitem)`` does."""
        return _invoke(self._protocol, {"item": item, "nextitem": nextitem}, True)

    # pytest's runner.pytest_runtest_protocol / runtestprotocol / call_and_report, with the
    # hook calls inside them made through ``_invoke``.
    def _runner_protocol(self, item: pytest.Item, nextitem: pytest.Item | pytest.Session | None) -> bool:
        where = {"nodeid": item.nodeid, "location": item.location}
        _invoke(self._logstart, where, False)
        self._run_phases(item, nextitem)
        _invoke(self._logfinish, where, False)
        return True

    def _run_phases(self, item: pytest.Item, nextitem: pytest.Item | pytest.Session | None) -> None:
        # A pytest.Function's request fields are private (untyped): Any at this boundary.
        function: Any = item
        has_request = hasattr(item, "_request")
        if has_request and not function._request:
            function._initrequest()
        try:
            report = self._call_and_report(item, "setup", {"item": item})
            if report.passed:
                self._call_and_report(item, "call", {"item": item})
            session = item.session
            if session.shouldfail or session.shouldstop:
                nextitem = None  # everything is torn down before stopping, as pytest does
            self._call_and_report(item, "teardown", {"item": item, "nextitem": nextitem})
        finally:
            if has_request:
                function._request = False
                function.funcargs = None

    def _call_and_report(self, item: pytest.Item, when: When, kwargs: dict[str, Any]) -> Any:
        calls = self._phase[when]
        call = self._call_info.from_call(
            lambda: _invoke(calls, kwargs, False), when=when, reraise=self._reraise
        )
        report = _invoke(self._makereport, {"item": item, "call": call}, True)
        _invoke(self._logreport, {"report": report}, False)
        if self._check_interactive(call, report):
            _invoke(self._interact, {"node": item, "call": call, "report": report}, False)
        return report

