"""pytest plugin (loaded with `-p survey_plugin`): after collection, writes one JSON record per item
to the file named by DXPY_SURVEY_OUT, describing what a static discoverer must reproduce:
the item type, where each parameter came from, whether the parametrize decorators are literals,
inheritance, and the deselected count. Used by survey.py; reads pytest internals, so it is a
research tool, not part of dx-py.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import os

import pytest


@functools.cache
def _decorators_by_line(path: str) -> dict[int, list[ast.expr]]:
    """First line of each def/class (decorators excluded) -> its decorator expressions."""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    return {node.lineno: node.decorator_list for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _is_literal(node: ast.expr | None) -> bool:
    """A literal, or a list/tuple of literals and `pytest.param(<literals>, id=..., marks=...)`."""
    if node is None:
        return True
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("pytest.param", "param"):
        return all(_is_literal(a) for a in node.args) and all(
            k.arg == "marks" or _is_literal(k.value) for k in node.keywords)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _is_literal(node.operand)
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _parametrize_literalness(obj) -> list[dict]:
    """Each `@...parametrize(...)` decorator on obj: its source and whether values/ids are literal."""
    try:
        path = inspect.getsourcefile(obj)
        _, line = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return []
    found = []
    for deco in _decorators_by_line(path or "").get(line, []) or _decorators_after(path, line):
        if isinstance(deco, ast.Call) and ast.unparse(deco.func).endswith("parametrize"):
            values = deco.args[1] if len(deco.args) > 1 else next(
                (k.value for k in deco.keywords if k.arg == "argvalues"), None)
            ids = next((k.value for k in deco.keywords if k.arg == "ids"), None)
            indirect = any(k.arg == "indirect" for k in deco.keywords)
            found.append({"src": ast.unparse(deco)[:160], "literal": _is_literal(values) and _is_literal(ids),
                          "indirect": indirect})
    return found


def _decorators_after(path: str | None, line: int) -> list[ast.expr]:
    """getsourcelines() points at the first decorator; find the def that follows it."""
    table = _decorators_by_line(path or "")
    for def_line in sorted(table):
        if def_line >= line and table[def_line] and table[def_line][0].lineno == line:
            return table[def_line]
    return []


def _param_sources(item) -> dict[str, str]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    own = {n for m in item.own_markers if m.name == "parametrize" for n in _argnames(m)}
    marked = {n for m in item.iter_markers("parametrize") for n in _argnames(m)}
    defs = item._fixtureinfo.name2fixturedefs
    sources = {}
    for name in callspec.params:
        if name in own:
            sources[name] = "function-mark"
        elif name in marked:
            sources[name] = "class-or-module-mark"
        elif name in defs and defs[name][-1].params is not None:
            sources[name] = "fixture-params"
        else:
            sources[name] = "generate_tests"
    return sources


def _argnames(mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", [])
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return list(names)


def _describe(item) -> dict:
    record = {"nodeid": item.nodeid, "type": type(item).__name__,
              "parents": [type(p).__name__ for p in item.listchain()[1:-1]]}
    func = getattr(item, "obj", None)
    cls = getattr(item, "cls", None)
    module = getattr(getattr(item, "module", None), "__name__", None)
    if inspect.isfunction(func) or inspect.ismethod(func):
        func = inspect.unwrap(func)
        record["async"] = inspect.iscoroutinefunction(func)
        record["defined_in"] = f"{func.__module__}.{func.__qualname__}"
        record["foreign"] = func.__module__ != module
        if cls is not None:
            record["inherited"] = func.__name__ not in vars(cls)
            record["bases"] = [f"{b.__module__}.{b.__qualname__}" for b in cls.__bases__]
        record["param_sources"] = _param_sources(item)
        if record["param_sources"]:
            record["decorators"] = _parametrize_literalness(func)
            if cls is not None:
                record["class_decorators"] = _parametrize_literalness(cls)
    return record


def pytest_collection_finish(session: pytest.Session) -> None:
    out = os.environ.get("DXPY_SURVEY_OUT")
    if not out:
        return
    records = [_describe(item) for item in session.items]
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(records, fh)


def pytest_deselected(items) -> None:
    out = os.environ.get("DXPY_SURVEY_OUT")
    if out:
        with open(out + ".deselected", "a", encoding="utf-8") as fh:
            fh.writelines(item.nodeid + "\n" for item in items)
