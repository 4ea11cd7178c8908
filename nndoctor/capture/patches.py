"""Attributes of torch replaced while a script is captured, and put back afterwards, all in one place."""
from __future__ import annotations

from typing import Any, Callable


class Patches:
    """`patch(owner, name, make)` replaces `owner.name` by `make(original)`; `restore()` puts every original back,
    the last patched first."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        own = name in vars(owner)  # defined on `owner` itself, not inherited: restored by assignment, else deleted
        original = getattr(owner, name)
        self._saved.append((owner, name, original, own))
        setattr(owner, name, make(original))

    def restore(self) -> None:
        while self._saved:
            owner, name, original, own = self._saved.pop()
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)

    def __len__(self) -> int:
        return len(self._saved)
