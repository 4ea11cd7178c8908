"""Discovering checks: every check, built-in or third-party, comes through the entry-point group
`nndoctor.checks`, as pytest loads its own plugins the same way it loads others.

An entry point may name a module or package (every `Check` subclass defined in it, and in its submodules for
a package, is registered) or a `Check` subclass directly. nndoctor's own pyproject.toml declares
`builtin = "nndoctor.checks"`; a plugin declares e.g. `mychecks = "mypkg.checks"`.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from importlib.metadata import entry_points
from types import ModuleType

from .check import Check

GROUP = "nndoctor.checks"
BUILTIN = "nndoctor.checks"


def _checks_in_module(module: ModuleType) -> list[type[Check]]:
    found = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, Check) and obj is not Check and obj.__module__ == module.__name__ and obj.name:
            found.append(obj)
    return found


def _checks_in(target) -> list[type[Check]]:
    if inspect.isclass(target) and issubclass(target, Check):
        return [target]
    if not isinstance(target, ModuleType):
        raise TypeError(f"{target!r} is neither a module nor a Check subclass")
    found = _checks_in_module(target)
    if hasattr(target, "__path__"):  # a package: its submodules too
        for info in sorted(pkgutil.iter_modules(target.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                found += _checks_in(importlib.import_module(f"{target.__name__}.{info.name}"))
    return found


def _entry_points():
    eps = entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=GROUP))
    return list(eps.get(GROUP, []))  # Python 3.9


_cache: dict[str, type[Check]] | None = None
load_errors: list[str] = []


def all_checks(refresh: bool = False) -> dict[str, type[Check]]:
    """Every registered check by name, in a stable order (built-ins first, then plugins by name)."""
    global _cache
    if _cache is not None and not refresh:
        return _cache
    load_errors.clear()
    targets: list[tuple[str, object]] = []
    eps = sorted(_entry_points(), key=lambda ep: (ep.value != BUILTIN, ep.name))
    if not any(ep.value == BUILTIN for ep in eps):
        # Running from a source tree that was never installed: load the built-ins the same way by hand.
        targets.append(("builtin", importlib.import_module(BUILTIN)))
    for ep in eps:
        try:
            targets.append((ep.name, ep.load()))
        except Exception as exc:  # a broken plugin must not take the others down
            load_errors.append(f"plugin {ep.name} ({ep.value}) failed to load: {exc}")
    registry: dict[str, type[Check]] = {}
    for source, target in targets:
        try:
            classes = _checks_in(target)
        except Exception as exc:
            load_errors.append(f"plugin {source} failed to load: {exc}")
            continue
        for cls in classes:
            try:
                cls.validate()
            except ValueError as exc:
                load_errors.append(str(exc))
                continue
            if cls.name in registry and registry[cls.name] is not cls:
                load_errors.append(f"plugin {source}: check name {cls.name!r} is already taken; ignored")
                continue
            registry[cls.name] = cls
    _cache = registry
    return registry


def warn_load_errors() -> None:
    for msg in load_errors:
        print(f"nndoctor: warning: {msg}", file=sys.stderr)
