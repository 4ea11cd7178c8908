"""CSV, TSV, semicolon- and whitespace-separated training logs, streamed.

The header and the first `SAMPLE_ROWS` rows decide the delimiter, the names and whether the table is long
(`step,tag,value`, or a `split` column, which `pivot` turns into one column per metric; such a file is read whole).
Any other file is read in blocks of `BLOCK` bytes, and only the columns that may play a role (or that the user
named) are kept, each as a compact `Column`: ten million rows of five columns take a few seconds and about 80 MB a
column. A block of plain numeric rows is parsed with whole-array operations (`numbers`), a few blocks at once in
threads (numpy works without the interpreter lock); a block with quotes, comments, blank or ragged lines goes
through the csv module, row by row, with the same result.

A cell is a number (`nan` and `inf` included), missing (empty, `none`, `null`, `na`, `n/a`), or text. A column
whose text cells outnumber its numbers is a text column; otherwise its text cells are read as missing and a note
names them.
"""
from __future__ import annotations

import csv
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ..log import CurveError
from ..roles import role_scores
from . import MAX_CELL, MAX_LINE, Column, ColumnBuilder, Table, TextCells, numbers
from .pivot import pivot_kind

BLOCK = 1 << 20  # bytes parsed at a time: the arrays of a block stay in the CPU's cache
SAMPLE_ROWS = 200  # rows after the header that decide which columns are text
WORKERS = min(4, os.cpu_count() or 1)  # blocks parsed at once, in threads
MISSING_WORDS = ("none", "null", "na", "n/a")
NOT_TEXT = ("not a text log (not UTF-8); nndoctor curve reads CSV, JSON lines and TensorBoard event files "
            "(events.out.tfevents.*)")


def read_csv(path: str, fh: BinaryIO, keep: tuple = ()) -> Table:
    """The table of a delimited log; `keep` names columns the user asked for (parsed even without a role)."""
    line_no, header = _header_line(path, fh)
    delim = _delimiter(header)
    names = _header_names(path, header, delim, line_no)
    if all(_is_number(n) for n in names):
        raise CurveError(f"{path}: the first line holds numbers, not column names; add a header such as "
                         f"'step,train_loss,val_loss'")
    sample = b"".join(_read_line(path, fh, line_no + 1 + i) for i in range(SAMPLE_ROWS))
    if _is_long_table(path, names, sample, delim, line_no + 1):
        return _read_whole(path, names, sample + fh.read(), delim, line_no + 1)
    lower_keep = {k.lower() for k in keep if k}
    wanted = [j for j, n in enumerate(names) if role_scores(n) or n.lower() in lower_keep] or list(range(len(names)))
    return _read_columns(path, fh, names, delim, wanted, sample, line_no + 1)


def _is_long_table(path: str, names: list[str], sample: bytes, delim: str | None, first_line: int) -> bool:
    """Whether a column a long table pivots on (tag, split) holds text in the sample rows."""
    rows = [r for _, r in _split_rows(path, _decode(path, sample, first_line), delim, first_line)]
    textual = [j for j in range(len(names)) if not all(_is_number(r[j]) for r in rows if j < len(r))]
    return any(pivot_kind(names[j]) for j in textual)


def _read_columns(path: str, fh: BinaryIO, names: list[str], delim: str | None, wanted: list[int], sample: bytes,
                  first_line: int) -> Table:
    """The wanted columns of the rows from `first_line` on (the sample already read, then the rest of `fh`)."""
    builders = {j: ColumnBuilder() for j in wanted}
    rows = 0

    def parse(block: bytes, block_line: int) -> Block:
        return _parse_block(path, block, block_line, delim, len(names), wanted)

    for parsed in _in_order(parse, _blocks(path, fh, sample, first_line)):
        rows += parsed.rows
        for j, (values, present, text) in parsed.columns.items():
            builders[j].add_block(values, present)
            for where, cell in text:
                builders[j].text.add(where, cell)
    return _table(names, builders, rows)


def _in_order(parse: Callable[[bytes, int], Block], blocks: Iterator[tuple[bytes, int]]) -> Iterator[Block]:
    """parse(*block) of each block, in order, with up to WORKERS blocks parsed at once (numpy lets go of the
    interpreter while it works on arrays) and a few more read ahead, no more: memory stays a few blocks."""
    if WORKERS <= 1:
        yield from (parse(*b) for b in blocks)
        return
    with ThreadPoolExecutor(WORKERS) as pool:
        pending: deque = deque()
        for b in blocks:
            pending.append(pool.submit(parse, *b))
            if len(pending) > 2 * WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _table(names: list[str], builders: dict[int, ColumnBuilder], rows: int) -> Table:
    table = Table("csv", names, {}, rows)
    for j, b in builders.items():
        table.add(names[j], b)
    return table


# -- the header ----------------------------------------------------------------------------------------------------
def _read_line(path: str, fh: BinaryIO, line_no: int) -> bytes:
    line = fh.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise _too_long_line(path, line_no)
    return line


def _too_long_line(path: str, line_no: int) -> CurveError:
    return CurveError(f"{path}: line {line_no} is longer than {MAX_LINE:,} bytes; nndoctor curve reads logs of one "
                      f"row per line (CSV, JSON lines)")


def _header_line(path: str, fh: BinaryIO) -> tuple[int, str]:
    """(line number, text) of the first line that is neither blank nor a comment."""
    line_no = 0
    while True:
        line_no += 1
        raw = _read_line(path, fh, line_no)
        if not raw:
            raise CurveError(f"{path}: the log has no rows; write one line of column names, then one row per step")
        if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
            raw = raw[3:]
        text = _decode(path, raw, line_no).rstrip("\r\n")
        if text.strip() and not text.lstrip().startswith("#"):
            return line_no, text


def _decode(path: str, raw: bytes, first_line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + raw.count(b"\n", 0, exc.start)
        raise CurveError(f"{path}: line {line} is {NOT_TEXT}") from None


def _delimiter(header: str) -> str | None:
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    if counts[best]:
        return best
    return None if header.strip().count(" ") else ","  # whitespace-separated, or a single column


def _header_names(path: str, header: str, delim: str | None, line_no: int) -> list[str]:
    fields = header.split() if delim is None else _csv_rows(path, [header], delim, [line_no])[0][1]
    names = []
    for i, f in enumerate(fields):
        f = f.strip().strip('"').strip()
        names.append(f or f"column{i}")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # duplicate names get a suffix
        if n in seen:
            seen[n] += 1
            names[i] = f"{n}.{seen[n]}"
        else:
            seen[n] = 0
    return names


# -- cells -----------------------------------------------------------------------------------------------------------
def _to_float(cell: str) -> float | None:
    """A cell as a number; None when missing (empty); raises ValueError on text."""
    cell = cell.strip().strip('"').strip()
    if not cell or cell.lower() in MISSING_WORDS:
        return None
    return float(cell)


def _is_number(cell: str) -> bool:
    try:
        _to_float(cell)
        return True
    except ValueError:
        return False


def _too_long(path: str, line: int, size: int) -> CurveError:
    return CurveError(f"{path}: line {line} has a cell of {size} characters, more than {MAX_CELL}; a training log "
                      f"holds numbers: check the delimiter and that every quote is closed")


# -- rows ------------------------------------------------------------------------------------------------------------
def _csv_rows(path: str, lines: list[str], delim: str, line_nos: list[int]) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the csv module's rows of `lines`; its errors (a cell over the field-size limit, a
    quote left open) made one line that names the line."""
    reader = csv.reader(lines, delimiter=delim)
    rows = []
    try:
        for cells in reader:
            rows.append((line_nos[reader.line_num - 1], cells))
    except csv.Error as exc:
        at = min(reader.line_num, len(lines)) - 1
        if "field larger than field limit" in str(exc):
            raise _too_long(path, line_nos[at], max(len(cell) for cell in lines[at].split(delim))) from None
        line = line_nos[at] if lines else 0
        raise CurveError(f"{path}: line {line}: {exc}; check the quotes") from None
    return rows


def _split_rows(path: str, text: str, delim: str | None, first_line: int) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every line that is neither blank nor a comment."""
    kept = [(first_line + i, ln.rstrip("\r")) for i, ln in enumerate(text.split("\n"))]
    kept = [(i, ln) for i, ln in kept if ln.strip() and not ln.lstrip().startswith("#")]
    if delim is None:
        return [(i, ln.split()) for i, ln in kept]
    return _csv_rows(path, [ln for _, ln in kept], delim, [i for i, _ in kept])


def _blocks(path: str, fh: BinaryIO, first: bytes, first_line: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines, each with the number of its first line; the file's last line gets its newline."""
    carry, line = first, first_line
    while True:
        chunk = fh.read(BLOCK)
        data = carry + chunk
        cut = data.rfind(b"\n") + 1 if chunk else len(data)
        block, carry = data[:cut], data[cut:]
        if len(carry) > MAX_LINE:  # a line with no end in sight
            raise _too_long_line(path, line + block.count(b"\n"))
        if not chunk and len(block) - 1 - block.rfind(b"\n", 0, len(block) - 1) > MAX_LINE:  # the file's last line
            raise _too_long_line(path, line + block.count(b"\n", 0, len(block) - 1))
        if block:
            if not block.endswith(b"\n"):
                block += b"\n"
            yield block, line
            line += block.count(b"\n")
        if not chunk:
            return


@dataclass
class Block:
    """The wanted columns of a block of rows: for each, (values, which rows hold one or None for all, text cells
    as (where, cell))."""

    rows: int
    columns: dict[int, tuple[np.ndarray, np.ndarray | None, list[tuple[str, str]]]] = field(default_factory=dict)

    def add(self, j: int, values: np.ndarray, present: np.ndarray, text: list[tuple[str, str]]) -> None:
        self.columns[j] = (values, None if present.all() else present, text)


def _parse_block(path: str, block: bytes, first_line: int, delim: str | None, ncols: int,
                 wanted: list[int]) -> Block:
    """The wanted columns of a block of whole lines (`first_line` is the number of its first line)."""
    if b"\x00" in block:
        line = first_line + block.count(b"\n", 0, block.index(b"\x00"))
        raise CurveError(f"{path}: line {line} holds a NUL byte: a binary file, not a text log")
    if b"\r" in block:
        block = block.replace(b"\r", b"")
    simple = (delim is not None and ncols > 1 and b'"' not in block and b"#" not in block
              and b"\n\n" not in block and not block.startswith(b"\n"))
    if simple:
        parsed = _parse_numeric_block(path, block, first_line, ord(delim), ncols, wanted)
        if parsed is not None:
            return parsed
    return _parse_rows(path, _decode(path, block, first_line), first_line, delim, wanted)


def _parse_numeric_block(path: str, block: bytes, first_line: int, delim: int, ncols: int,
                         wanted: list[int]) -> Block | None:
    """A block whose every line has `ncols` cells, parsed column by column with `numbers`; None when its lines
    do not all have `ncols` cells (it is then read row by row)."""
    buf = np.frombuffer(bytes(numbers.PAD) + block, dtype=np.uint8)
    seps = np.flatnonzero((buf == delim) | (buf == 10))  # (rows * ncols,) where each cell ends
    rows = len(seps) // ncols
    if len(seps) != rows * ncols or not np.all(buf[seps[ncols - 1::ncols]] == 10):
        return None  # ragged lines, or a newline inside a row
    if rows and np.count_nonzero(buf[seps] == 10) != rows:
        return None
    starts = np.empty_like(seps)
    starts[0] = numbers.PAD
    starts[1:] = seps[:-1] + 1
    longest = int((seps - starts).max()) if rows else 0
    if longest > MAX_CELL:
        row = int(np.argmax(seps - starts)) // ncols
        raise _too_long(path, first_line + row, longest)
    if buf.max() >= 128:
        _decode(path, block, first_line)  # non-ASCII text must still be UTF-8
    parsed = Block(rows)
    for j in wanted:
        values, state = numbers.parse(buf, starts[j::ncols].copy(), seps[j::ncols].copy())  # (rows,) each
        present = state == numbers.PARSED
        text = []
        for i in np.flatnonzero(state == numbers.OTHER).tolist():  # nan, inf, long or odd cells: float() decides
            cell = bytes(buf[starts[j + i * ncols]:seps[j + i * ncols]]).decode("utf-8")
            v = _cell_number(cell, f"line {first_line + i}", text)
            if v is not None:
                values[i], present[i] = v, True
        parsed.add(j, values, present, text)
    return parsed


def _cell_number(cell: str, where: str, texts: list) -> float | None:
    """A cell's number (None for an empty cell); a cell that is no number is noted in `texts` as (where, text)."""
    try:
        return _to_float(cell)
    except ValueError:
        texts.append((where, cell.strip()))
        return None


def _parse_rows(path: str, text: str, first_line: int, delim: str | None, wanted: list[int]) -> Block:
    """The general reader: row by row, with the csv module (quotes, comments, blank and ragged lines)."""
    rows = _split_rows(path, text, delim, first_line)
    n = len(rows)
    parsed = Block(n)
    for j in wanted:
        values = np.full(n, np.nan)
        present = np.zeros(n, bool)
        texts = []
        for i, (line, cells) in enumerate(rows):
            if j >= len(cells):
                continue
            cell = cells[j]
            if "#" in cell and '"' not in cell:  # an inline comment (numpy's loadtxt, used before, dropped them)
                cell = cell.split("#", 1)[0]
            v = _cell_number(cell, f"line {line}", texts)
            if v is not None:
                values[i], present[i] = v, True
        parsed.add(j, values, present, texts)
    return parsed


# -- long tables, read whole ---------------------------------------------------------------------------------------
def _read_whole(path: str, names: list[str], body: bytes, delim: str | None, first_line: int) -> Table:
    """Every column of a long table, numeric or text (the text ones are what it pivots on)."""
    rows = _split_rows(path, _decode(path, body, first_line), delim, first_line)
    n = len(rows)
    table = Table("csv", names, {}, n)
    for j, name in enumerate(names):
        vals = np.full(n, np.nan)
        present = np.zeros(n, bool)
        strings: list | None = None
        text = TextCells()
        for i, (line, r) in enumerate(rows):
            if j >= len(r):
                continue
            try:
                v = _to_float(r[j])
            except ValueError:
                if strings is None:
                    strings = [None] * n
                strings[i] = r[j].strip()
                text.add(f"line {line}", r[j].strip())
                continue
            if v is not None:
                vals[i], present[i] = v, True
        if strings is not None and text.count > present.sum():
            table.textual[name] = strings
        else:
            table.columns[name] = Column(vals[present], None if present.all() else np.flatnonzero(present))
            if text.count:
                table.text_cells[name] = text
    return table
