"""JSON logs: JSON lines (one object per line, streamed: a line is parsed, its numbers kept in compact columns,
and dropped), or one JSON value (a list of records, a Keras `History.history` dict, a Hugging Face
trainer_state.json), read whole.

Nested objects are flattened with `/` (`{"eval": {"loss": 2.2}}` -> `eval/loss`). null, booleans and absent keys
are missing; numbers and numeric strings (`"NaN"`) are values; other strings are text.
"""
from __future__ import annotations

import json
from typing import BinaryIO, Iterable, Iterator

from ..log import CurveError
from . import MAX_DEPTH, MAX_LINE, ColumnBuilder, Table
from .pivot import pivot_kind

EXAMPLE = '{"step": 10, "loss": 0.5}'


class TooDeep(Exception):
    """A record nested deeper than MAX_DEPTH."""


def read_json(path: str, fh: BinaryIO) -> Table:
    """JSON lines, or one JSON value when the whole file is one (today's rule: a file that starts with `[`, or
    that parses as a single object)."""
    lines = _lines(path, fh)
    first = next(((no, text) for no, text in lines if text.strip()), None)
    if first is None:
        raise CurveError(f"{path}: the log is empty")
    no, text = first
    start = text.lstrip()
    if start.startswith("["):
        return _whole(path, text + "".join(t for _, t in lines))
    if start.startswith("{"):
        try:
            record = _loads(path, text, no)
        except CurveError:
            rest = "".join(t for _, t in lines)
            if _is_one_value(text + rest):  # an object over several lines (trainer_state.json)
                return _whole(path, text + rest)
            raise
        after = next(((n, t) for n, t in lines if t.strip()), None)
        if after is None:  # one object on one line: read as one value
            return _whole(path, text)
        return _records(path, _stream(path, [(no, record)], [after], lines), "jsonl")
    return _records(path, _stream(path, [], [first], lines), "jsonl")


def _lines(path: str, fh: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, decoded; a line past MAX_LINE or not UTF-8 is a CurveError."""
    no = 0
    while True:
        raw = fh.readline(MAX_LINE + 1)
        if not raw:
            return
        no += 1
        if len(raw) > MAX_LINE:
            raise CurveError(f"{path}: line {no} is longer than {MAX_LINE:,} bytes; write one JSON object per line")
        if no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield no, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CurveError(f"{path}: line {no} is not a text log (not UTF-8); nndoctor curve reads CSV, JSON "
                             f"lines and TensorBoard event files (events.out.tfevents.*)") from None


def _loads(path: str, text: str, no: int):
    """One line's JSON value; bad JSON and too deep a nesting are one-line errors that name the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CurveError(f"{path}: line {no} is not JSON ({exc.msg}); nndoctor curve reads one JSON object "
                         f"per line") from None
    except RecursionError:
        raise _too_deep(path, f"line {no}") from None


def _too_deep(path: str, where: str) -> CurveError:
    return CurveError(f"{path}: {where} is JSON nested more than {MAX_DEPTH} levels deep; a training log writes "
                      f"one flat object per line such as {EXAMPLE}")


def _is_one_value(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except (json.JSONDecodeError, RecursionError):
        return False


def _stream(path: str, parsed: list, pending: list, lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, dict]]:
    """("line N", record) of every JSON-lines record: those already parsed, then the pending and remaining
    lines."""
    for no, record in parsed:
        yield _record(path, record, no)
    for no, text in [*pending, *lines]:
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        yield _record(path, _loads(path, text, no), no)


def _record(path: str, obj, no: int) -> tuple[str, dict]:
    if not isinstance(obj, dict):
        raise CurveError(f"{path}: line {no} is not a JSON object; write one object per line such as {EXAMPLE}")
    return f"line {no}", obj


def _whole(path: str, text: str) -> Table:
    """One JSON value: a list of records, {"log_history": [...]}, or {"loss": [...], "val_loss": [...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CurveError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); write one JSON object per "
                         f"line, or a list of objects") from None
    except RecursionError:
        raise _too_deep(path, "the file") from None
    if isinstance(data, dict) and isinstance(data.get("log_history"), list):  # HF trainer_state.json
        data = data["log_history"]
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        # Keras History.history: {"loss": [...], "val_loss": [...]}, one value per epoch.
        longest = max(len(v) for v in data.values())
        data = [{k: (v[i] if i < len(v) else None) for k, v in data.items()} for i in range(longest)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CurveError(f"{path}: JSON holds no list of records; write one object per line such as {EXAMPLE}")
    return _records(path, ((f"record {i + 1}", r) for i, r in enumerate(data)), "json")


def _flatten(path: str, where: str, obj: dict, prefix: str = "", depth: int = 1) -> dict:
    if depth > MAX_DEPTH:
        raise _too_deep(path, where)
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(path, where, v, key + "/", depth + 1))
        else:
            out[key] = v
    return out


def _number(v) -> float | None:
    """A JSON value as a number, None when it is missing or not one; raises ValueError on text."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:  # an integer beyond the largest double
            raise ValueError(str(v)) from None
    if isinstance(v, str):
        return float(v)
    return None  # a list or other value: not a metric


def _records(path: str, records: Iterable[tuple[str, dict]], fmt: str) -> Table:
    """Columns of flattened records: numbers into compact builders, the strings of text columns kept for
    pivots."""
    builders: dict[str, ColumnBuilder] = {}  # every key, in the order first seen
    strings: dict[str, dict[int, str]] = {}
    pivots: dict[str, bool] = {}
    n = 0
    for where, record in records:
        for key, value in _flatten(path, where, record).items():
            b = builders.get(key)
            if b is None:
                b = builders[key] = ColumnBuilder()
            if type(value) is float:  # the usual case, first
                b.add(n, value)
                continue
            try:
                v = _number(value)
            except ValueError:
                if pivots.setdefault(key, bool(pivot_kind(key))):  # only a tag or split's strings are kept
                    strings.setdefault(key, {})[n] = value
                b.text.add(where, str(value))
                continue
            if v is not None:
                b.add(n, v)
        n += 1
    table = Table(fmt, list(builders), {}, n)
    for key, b in builders.items():
        if b.text.count > len(b.values) and pivot_kind(key):  # a long table's tag or split: kept for the pivot
            table.textual[key] = [strings[key].get(i) for i in range(n)]
        else:
            table.add(key, b)
    return table
