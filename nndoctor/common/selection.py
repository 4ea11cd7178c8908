"""Which diagnostics run and which findings are kept: `--select` / `--ignore` (and the config's `checks.select`,
`checks.ignore`, and the API's `select=`, `ignore=`), in one place for `nndoctor run` and `nndoctor curve`.

An item is a code (ND201), a code prefix (ND2, ND20) or a diagnostic's name (gradient-flow). A diagnostic runs
when it is selected (no `select`, or its name or one of its codes matches) and not ignored (its name is ignored,
or every code it may emit is); a finding is kept when its code or its diagnostic is selected and not ignored.
"""
from __future__ import annotations

from typing import Iterable, Sequence, TypeVar

from .errors import did_you_mean

T = TypeVar("T")


class SelectionError(ValueError):
    """An item that is neither a code, a code prefix nor a diagnostic's name; the message says what is close."""


def split(values: Iterable[str] | str | None) -> list[str]:
    """["ND1,ND2", "gradient-flow"] -> ["ND1", "ND2", "gradient-flow"]."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [p.strip() for value in values for p in str(value).split(",") if p.strip()]


def normalise(item: str, codes: Iterable[str], names: Iterable[str]) -> str:
    """The item as it is matched (codes upper-cased), or SelectionError with the closest code or name."""
    codes, names = list(codes), list(names)
    up = item.upper()
    if up.startswith("ND") and any(c.startswith(up) for c in codes):
        return up
    if item in names:
        return item
    raise SelectionError(f"'{item}' is not a code, code prefix or check name" + did_you_mean(item, codes + names))


def matches(code: str, name: str, items: Iterable[str]) -> bool:
    return any(name == it or code.startswith(it.upper()) for it in items)


def chosen(diagnostics: Iterable[T], select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[T]:
    """The diagnostics (classes with `name` and `codes`) that the selection runs, in the order given."""
    out = []
    for cls in diagnostics:
        name, codes = cls.name, cls.codes
        if name in ignore or all(matches(c, name, ignore) for c in codes):
            continue
        if select and name not in select and not any(matches(c, name, select) for c in codes):
            continue
        out.append(cls)
    return out


def keep(code: str, name: str, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> bool:
    """Whether a finding of `code` made by diagnostic `name` is reported."""
    if matches(code, name, ignore):
        return False
    return not select or matches(code, name, select)
