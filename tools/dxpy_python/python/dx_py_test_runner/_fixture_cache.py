"""``@dx.fixture(cache=True)``: a pytest fixture whose value is built once and loaded from disk
on later runs while nothing it depends on changed.

The key (a Blake3 digest, computed in Rust) covers the fixture's source, the source of the
functions and classes of its module that it names (and those constants' values), the files of
the other first-party modules it names (``import helpers``; ``helpers.f``), the same for every
fixture it depends on (transitively), its parameter, and the interpreter with its installed
distributions. Values are stored by the Rust store (private, atomic, checked on read):
``bytes`` as they are, anything else pickled. The store is ``fixtures/`` in dx-py's cache
directory of the project (``dx-py cache dir``), so ``dx-py cache clear`` drops it, and so does
pytest's ``--cache-clear``: here under plain pytest (``clear_on_cache_clear``), by the CLI
before any worker starts under ``dx-py test``. Without a cache directory (no
``DXPY_CACHE_DIR``, ``XDG_CACHE_HOME`` or ``HOME``) the fixture is simply built every time.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import pickle
import sys
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable

import pytest

from dx_py_test_runner import _native

_RAW = 0
_PICKLE = 1


def fixture(function: Callable[..., Any] | None = None, *, scope: str = "function",
            params: Iterable[object] | None = None, autouse: bool = False,
            ids: Sequence[object] | Callable[[Any], object | None] | None = None,
            name: str | None = None, cache: bool = False) -> Any:
    """``pytest.fixture`` with ``cache=True``: the value is stored and reused across runs."""

    def decorate(func: Callable[..., Any]) -> Any:
        target = _cached(func) if cache else func
        return pytest.fixture(target, scope=scope, params=params,  # type: ignore[call-overload]
                              autouse=autouse, ids=ids, name=name)

    return decorate(function) if function is not None else decorate


def _cached(func: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(func) or inspect.iscoroutinefunction(func):
        raise TypeError(f"{func.__name__}: cache=True needs a fixture that returns its value")
    signature = inspect.signature(func)
    takes_request = "request" in signature.parameters
    parameters = list(signature.parameters.values())
    if not takes_request:
        parameters.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        request: pytest.FixtureRequest = kwargs["request"] if takes_request else kwargs.pop("request")
        store = _store(request.config)
        if store is None:
            return func(**kwargs)
        key = _native.fixture_key(list(_key_parts(func, request)))
        found = store.load(key)
        if found is not None:
            kind, payload = found
            return payload if kind == _RAW else pickle.loads(payload)
        value = func(**kwargs)
        if type(value) is bytes:
            store.save(key, _RAW, value)
        else:
            store.save(key, _PICKLE, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value

    # pytest reads the arguments to inject from the signature: the original's plus `request`.
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return wrapper


_STORES: dict[int, _native.FixtureStore | None] = {}


def _store(config: pytest.Config) -> _native.FixtureStore | None:
    if id(config) not in _STORES:
        directory = _native.fixture_store_dir(str(config.rootpath))
        _STORES[id(config)] = _native.FixtureStore(directory) if directory is not None else None
    return _STORES[id(config)]


def clear_on_cache_clear(config: pytest.Config) -> None:
    """pytest's ``--cache-clear`` drops the fixture store too. Not in a dx-py worker: there
    each worker would drop what another just stored; ``dx-py test`` clears it once, first."""
    if config.getoption("cacheclear", False) and "dxpy_worker" not in sys.modules:
        _native.clear_fixture_store(str(config.rootpath))


def _key_parts(func: Callable[..., Any], request: pytest.FixtureRequest) -> Iterable[bytes]:
    rootpath = request.config.rootpath
    yield b"interpreter"
    yield _interpreter()
    yield b"param"
    yield repr(getattr(request, "param", None)).encode()
    files: set[Path] = set()
    for dependency in _dependencies(func, request):
        yield b"fixture"
        yield dependency.__qualname__.encode()
        yield _source(dependency).encode()
        for source in _same_module_sources(dependency):
            yield b"uses"
            yield source.encode()
        files |= _first_party_files(dependency, rootpath)
    for file in sorted(files):
        yield b"file"
        yield str(file).encode()
        try:
            yield file.read_bytes()
        except OSError:
            yield b"<unreadable>"


def _dependencies(func: Callable[..., Any],
                  request: pytest.FixtureRequest) -> list[Callable[..., Any]]:
    """The fixture function and every fixture function it depends on, transitively."""
    item = getattr(request, "_pyfuncitem", None)
    defs: dict[str, Any] = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    seen: list[Callable[..., Any]] = [func]
    pending = [name for name in inspect.signature(func).parameters if name != "request"]
    visited: set[str] = set()
    while pending:
        name = pending.pop()
        if name in visited or not defs.get(name):
            continue
        visited.add(name)
        fixturedef = defs[name][-1]
        dependency = getattr(fixturedef.func, "__wrapped__", fixturedef.func)
        seen.append(dependency)
        pending.extend(fixturedef.argnames)
    return seen


def _source(func: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return repr(getattr(func, "__code__", func))


def _used_globals(func: Callable[..., Any]) -> list[object]:
    """The module globals ``func``'s code (and code nested in it) names, in name order."""
    names: set[str] = set()
    pending = [getattr(func, "__code__", None)]
    while pending:
        code = pending.pop()
        if isinstance(code, types.CodeType):
            names.update(code.co_names)
            pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    module_globals: dict[str, Any] = getattr(func, "__globals__", {})
    return [module_globals[name] for name in sorted(names) if name in module_globals]


def _same_module_sources(func: Callable[..., Any]) -> list[str]:
    """The source of the functions and classes of ``func``'s own module that it uses, and the
    repr of plain constants there (a change elsewhere in that module is no change to it)."""
    sources = []
    for value in _used_globals(func):
        if isinstance(value, (type, types.FunctionType)):
            if value.__module__ == func.__module__:
                sources.append(_source(value))
        elif isinstance(value, (str, bytes, int, float, bool, tuple, frozenset, type(None))):
            sources.append(repr(value))
    return sources


def _first_party_files(func: Callable[..., Any], rootpath: Path) -> set[Path]:
    """The files of the other first-party modules ``func`` uses (modules, or their functions
    and classes): under the rootdir, outside any environment's site-packages."""
    files: set[Path] = set()
    for value in _used_globals(func):
        if isinstance(value, types.ModuleType):
            module: Any = value
        elif isinstance(value, (type, types.FunctionType)) and value.__module__ != func.__module__:
            module = sys.modules.get(value.__module__)
        else:
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(rootpath) and "site-packages" not in path.parts:
            files.add(path)
    return files


@functools.lru_cache(maxsize=1)
def _interpreter() -> bytes:
    distributions = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
    )
    return "\n".join([sys.version, sys.executable, *distributions]).encode()
