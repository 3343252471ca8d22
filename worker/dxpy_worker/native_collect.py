"""Collection for the native engine: node IDs -> importable test items, without pytest.

Follows pytest's default rules: modules are imported in ``prepend`` import mode (the first
directory above the file without ``__init__.py`` goes first on ``sys.path``); ``test*``
functions; methods of ``Test*`` classes without ``__init__`` (base-class methods first, as
pytest orders them); ``unittest.TestCase`` methods in ``TestLoader`` order.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import types
import unittest
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Optional

    from dxpy_worker.import_once import FailedImports

    # (kind, key, collector object) of one collector: "module" with its module, or "class".
    Collector = tuple[str, str, Any]
    # (path, 0-based line or None, domain), as pytest's ``item.location``.
    Location = tuple[str, Optional[int], str]


class CollectFailure(Exception):
    """A node ID that cannot be collected; ``skipped`` for module-level SkipTest."""

    def __init__(self, node_id: str, text: str, skipped: bool = False,
                 crash_message: str = "") -> None:
        super().__init__(text)
        self.node_id = node_id
        self.text = text
        self.crash_message = crash_message  # pytest's short-summary message, if it shows one
        self.skipped = skipped


class Item:
    """One test: ``kind`` is 'function', 'method' or 'unittest'."""

    def __init__(
        self,
        node_id: str,
        module: types.ModuleType,
        cls: type | None,
        name: str,
        func: Callable[..., Any],
        kind: str,
        relpath: str,
    ) -> None:
        self.node_id = node_id
        self.module = module
        self.cls = cls
        self.name = name
        self.func = func
        self.kind = kind
        code = getattr(inspect.unwrap(func), "__code__", None)
        line = code.co_firstlineno - 1 if code is not None else None
        domain = f"{cls.__name__}.{name}" if cls is not None else name
        self.location: Location = (relpath, line, domain)

    def chain(self) -> list[Collector]:
        """The collectors this item runs under, outermost first (for setup/teardown)."""
        module_id = self.node_id.split("::", 1)[0]
        chain: list[Collector] = [("module", module_id, self.module)]
        if self.cls is not None:
            chain.append(("class", module_id + "::" + self.cls.__name__, self.cls))
        return chain


def _module_name(path: str) -> tuple[str, str]:
    """(sys.path entry, dotted module name) for a file, like pytest's prepend mode."""
    path = os.path.abspath(path)
    directory, filename = os.path.split(path)
    parts = [] if filename == "__init__.py" else [os.path.splitext(filename)[0]]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    return directory, ".".join(parts)


def import_module(relpath: str) -> types.ModuleType:
    base, name = _module_name(relpath)
    if base not in sys.path:
        sys.path.insert(0, base)
    return importlib.import_module(name)


def _is_test_class(obj: object) -> bool:
    return (
        inspect.isclass(obj)
        and obj.__name__.startswith("Test")
        and not issubclass(obj, unittest.TestCase)
        and "__init__" not in vars(obj)
    )


def _class_methods(cls: type) -> list[str]:
    """Test methods in pytest's order: per class in the MRO, definition order; bases first."""
    seen: set[str] = set()
    per_class = []
    for klass in cls.__mro__:
        names = []
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("test") and callable(value) and not isinstance(value, (staticmethod, classmethod)):
                names.append(name)
        per_class.append(names)
    return [name for names in reversed(per_class) for name in names]


def _class_items(module: types.ModuleType, relpath: str, cls: type) -> list[Item]:
    prefix = f"{relpath}::{cls.__name__}"
    if issubclass(cls, unittest.TestCase):
        names = unittest.TestLoader().getTestCaseNames(cls)
        return [Item(f"{prefix}::{n}", module, cls, n, getattr(cls, n), "unittest", relpath) for n in names]
    return [Item(f"{prefix}::{n}", module, cls, n, getattr(cls, n), "method", relpath) for n in _class_methods(cls)]


def module_items(module: types.ModuleType, relpath: str) -> list[Item]:
    items: list[Item] = []
    for name, obj in list(vars(module).items()):
        if not getattr(obj, "__test__", True):
            continue
        if inspect.isfunction(obj) and name.startswith("test"):
            items.append(Item(f"{relpath}::{name}", module, None, name, obj, "function", relpath))
        elif inspect.isclass(obj) and (_is_test_class(obj) or issubclass(obj, unittest.TestCase)):
            items.extend(_class_items(module, relpath, obj))
    return items


def _import_error_text(exc: BaseException) -> str:
    """The import traceback from the test module's own frames on."""
    import traceback

    tb = exc.__traceback__
    frames = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith("<frozen") or "importlib" in filename or "dxpy_worker" in filename):
            frames.append(tb)
        tb = tb.tb_next
    start = frames[0] if frames else exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, start))


def _import_crash_message(exc: BaseException) -> str:
    """pytest reports a module's ImportError as text (no short-summary message) and any
    other import failure as a traceback whose crash line is the exception itself."""
    import traceback

    if isinstance(exc, ImportError):
        return ""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def collect(node_id: str, modules: dict[str, types.ModuleType], imports: FailedImports) -> list[Item]:
    """Items for one node ID; ``modules`` caches imported modules by relative path, and
    ``imports`` the failed imports (a module is imported once, as by pytest)."""
    relpath, _, rest = node_id.partition("::")
    relpath = relpath.replace(os.sep, "/")
    if not os.path.isfile(relpath):
        raise CollectFailure(node_id, f"file or directory not found: {relpath}")
    module = modules.get(relpath)
    if module is None:
        try:
            module = imports.guard(relpath, lambda: import_module(relpath))
        except unittest.SkipTest as exc:
            raise CollectFailure(relpath, str(exc), skipped=True) from None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise CollectFailure(relpath, _import_error_text(exc),
                                 crash_message=_import_crash_message(exc)) from None
        modules[relpath] = module
    items = module_items(module, relpath)
    if not rest:
        return items
    selected = [i for i in items if i.node_id == node_id or i.node_id.startswith(node_id + "::")]
    if not selected:
        raise CollectFailure(node_id, f"not found: {node_id}")
    return selected
