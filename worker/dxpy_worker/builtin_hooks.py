"""Which hook implementations a session runs: only pytest's own and dx-py's, or others too.

The pytest engine's shortcuts (collecting a whole module once, the fast run protocol) are
exact only while every implementation of the hooks they bypass or call directly is one whose
behaviour they were written against: pytest's builtin plugins (modules under ``_pytest``, or
objects of classes defined there) and the engine's own plugin. A conftest or third-party
plugin implementing any of those hooks sends the work down pytest's normal path.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pytest


def _defining_module(plugin: object) -> str:
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    return type(plugin).__module__


def is_builtin_plugin(plugin: object, own_types: tuple[type, ...] = ()) -> bool:
    """True for pytest's builtin plugins and for instances of ``own_types``."""
    if own_types and isinstance(plugin, own_types):
        return True
    name = _defining_module(plugin) or ""
    return name == "_pytest" or name.startswith("_pytest.")


def foreign_implementations(
    config: pytest.Config, hook_names: Iterable[str], own_types: tuple[type, ...] = ()
) -> list[tuple[str, str]]:
    """(hook, plugin name) of every implementation of ``hook_names`` that is not builtin."""
    manager = config.pluginmanager
    found = []
    for hook_name in hook_names:
        # (pluggy's HookCaller, looked up by name: Any at that boundary.)
        caller: Any = getattr(manager.hook, hook_name, None)
        if caller is None:
            continue
        for impl in caller.get_hookimpls():
            if not is_builtin_plugin(impl.plugin, own_types):
                found.append((hook_name, impl.plugin_name))
    return found


def only_builtin(
    config: pytest.Config, hook_names: Iterable[str], own_types: tuple[type, ...] = ()
) -> bool:
    return not foreign_implementations(config, hook_names, own_types)
