"""A diagnostic's options, declared once: default, unit, range and help in one structure that validation, the
`checks:` section of a config and `configs/checks.yaml` all read.

    options = {
        "steps": Option(150, "training steps at most", unit="steps", low=1),
        "fraction": Option(0.1, "target: loss - floor <= fraction * (initial - floor)", low=0, high=1),
    }

The type is the default's (an int option takes integers, a float option any finite number). A plain value in
`options` (a third-party check written before `Option` existed) is read as `Option(value)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    default: Any
    help: str = ""
    unit: str = ""
    low: float | None = None  # smallest allowed value (inclusive), None: unbounded
    high: float | None = None  # largest allowed value (inclusive), None: unbounded

    @property
    def kind(self) -> str:
        """`bool`, `int`, `float`, `str` or `any`: what a value must be."""
        d = self.default
        if isinstance(d, bool):
            return "bool"
        if isinstance(d, int):
            return "int"
        if isinstance(d, float):
            return "float"
        if isinstance(d, str):
            return "str"
        return "any"

    def allowed(self) -> str:
        """The allowed values in words: 'an integer from 1 to 10000'."""
        noun = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
                "any": "a value"}[self.kind]
        if self.low is not None and self.high is not None:
            return f"{noun} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{noun} of at least {self.low:g}"
        if self.high is not None:
            return f"{noun} of at most {self.high:g}"
        return noun

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None when it is."""
        kind = self.kind
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif kind == "str":
            ok = isinstance(value, str)
        else:
            ok = True
        if ok and kind in ("int", "float"):
            ok = (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        return None if ok else f"expected {self.allowed()} (default {self.default!r}), got {value!r}"


def declared(options: dict[str, Any]) -> dict[str, Option]:
    """A class's `options` with every plain value read as `Option(value)`."""
    return {k: v if isinstance(v, Option) else Option(v) for k, v in options.items()}


def defaults(options: dict[str, Any]) -> dict[str, Any]:
    return {k: o.default for k, o in declared(options).items()}
