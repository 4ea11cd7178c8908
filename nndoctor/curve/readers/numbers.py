"""Decimal numbers parsed straight from the bytes of a CSV, many at once, with numpy alone.

A training log is mostly short decimals (`1200`, `0.4812`, `-3.5`, `9.99999e-05`). Python's float() costs about
100 ns a cell, which is 5 s for ten million rows of five columns; this reads the common shapes with whole-array
operations on the bytes, eight characters at a time, and gives every other cell back to float().

The result is exactly float()'s, bit for bit, by construction: a cell is parsed here only when its digits form an
integer m < 2**53 and its decimal exponent e has |e| <= 22. Then m and 10**|e| are both exact doubles, and m * 10**e
(or m / 10**-e) is one correctly rounded IEEE operation, which is the correctly rounded value of the decimal
(Clinger's fast path, the one every correct strtod takes first). Any other cell (more than 16 characters, more than
15 or 16 significant digits, nan, inf, a leading '+', spaces, quotes, text) is marked for float().

    values, state = parse(buf, starts, ends)   # state: PARSED, EMPTY (missing) or OTHER (for float())
"""
from __future__ import annotations

import numpy as np

PARSED, EMPTY, OTHER = 0, 1, 2
PAD = 16  # zero bytes a buffer needs before its first cell: each cell is read as the 16 bytes that end where it ends
WIDTH = 16  # longest cell parsed here, in characters
MAX_EXPONENT = 22  # largest |decimal exponent| of the fast path (10**22 is the largest exact power of ten)
MAX_MANTISSA = 2 ** 53  # largest integer of the fast path (every integer up to it is an exact double)

_U = np.uint64
_ZEROS = _U(0x3030303030303030)  # eight '0' characters
_HIGH_NIBBLES = _U(0xF0F0F0F0F0F0F0F0)
_SIXES = _U(0x0606060606060606)
_THREES = _U(0x3333333333333333)
_BYTE_SUM = _U(0x0101010101010101)
_POW10_INT = np.array([10 ** k for k in range(17)], dtype=np.uint64)
_POW10_FLOAT = np.array([10.0 ** k for k in range(MAX_EXPONENT + 1)])  # exact: 10**22 < 2**53 * 2**22
# Row n: 0xFF on the last n of WIDTH bytes (a cell of n characters, right-aligned), else 0; and the '0' put in
# front of the cell. Each row is one S16 item, so that taking a row per cell is one 1-D gather.
_LAST = np.arange(WIDTH)[None, :] >= (WIDTH - np.arange(WIDTH + 1))[:, None]  # (WIDTH + 1, WIDTH)
_KEEP = np.where(_LAST, 255, 0).astype(np.uint8).view(f"S{WIDTH}").ravel()
_FILL = np.where(_LAST, 0, 48).astype(np.uint8).view(f"S{WIDTH}").ravel()
_FRACTION_WEIGHT = (WIDTH - 1 - np.arange(WIDTH)).astype(np.uint8)  # digits to the right of each position


def parse(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cells buf[starts[i]:ends[i]] as float64, and each one's state. `buf` is uint8 with PAD zero bytes
    before the first cell (cells may hold any bytes: what is not a number is OTHER)."""
    n = len(starts)
    values = np.zeros(n)
    lengths = ends - starts
    state = np.full(n, OTHER, np.int8)
    state[lengths == 0] = EMPTY
    fast = np.flatnonzero((lengths > 0) & (lengths <= WIDTH))
    if fast.size:
        got, ok = _parse_short(buf, starts[fast], ends[fast])
        values[fast[ok]] = got[ok]
        state[fast[ok]] = PARSED
    return values, state


def _windows(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(k, WIDTH) uint8: each cell right-aligned in WIDTH bytes, the bytes before it '0' (a leading zero)."""
    windows = np.ndarray(shape=(len(buf) - WIDTH + 1,), dtype=f"S{WIDTH}", buffer=buf, strides=(1,))
    lengths = ends - starts
    m = windows[ends - WIDTH].view(np.uint8).reshape(-1, WIDTH)  # (k, WIDTH), copied
    m &= _KEEP[lengths].view(np.uint8).reshape(-1, WIDTH)
    m |= _FILL[lengths].view(np.uint8).reshape(-1, WIDTH)
    return m


def _byte_sum(m: np.ndarray) -> np.ndarray:
    """Sum of the 16 bytes of each row of a (k, 16) uint8 matrix whose row sums stay below 256."""
    words = m.view("<u8")  # (k, 2)
    return ((words[:, 0] + words[:, 1]) * _BYTE_SUM) >> _U(56)


def _any_byte(m: np.ndarray) -> np.ndarray:
    """Whether any of the 16 bytes of each row of a (k, 16) uint8 or bool matrix is non-zero."""
    words = m.view("<u8")  # (k, 2)
    return (words[:, 0] | words[:, 1]) != 0


def _all_digits(words: np.ndarray) -> np.ndarray:
    """Whether all eight bytes of each uint64 are '0'-'9'."""
    return ((words & _HIGH_NIBBLES) | (((words + _SIXES) & _HIGH_NIBBLES) >> _U(4))) == _THREES


def _eight_digits(words: np.ndarray) -> np.ndarray:
    """The number written by eight digit characters (first character most significant), per uint64."""
    v = words - _ZEROS
    v = v * _U(10) + (v >> _U(8))
    v = (((v & _U(0x000000FF000000FF)) * _U(100 + (1000000 << 32)))
         + (((v >> _U(16)) & _U(0x000000FF000000FF)) * _U(1 + (10000 << 32)))) >> _U(32)
    return v & _U(0xFFFFFFFF)


def _without_dot(m: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Each row with the byte `fraction` places from its right end taken out (the dot) and a '0' put in front;
    a fraction of WIDTH leaves the row as it is (no dot). On the two little-endian words of each row, a byte to the
    right in the row is a left shift of the 128-bit number."""
    words = m.view("<u8")  # (k, 2)
    low, high = words[:, 0], words[:, 1]
    shifted = np.empty_like(words)
    np.bitwise_or(low << _U(8), _U(48), out=shifted[:, 0])
    np.bitwise_or(high << _U(8), low >> _U(56), out=shifted[:, 1])
    keep = _KEEP[fraction].view("<u8").reshape(-1, 2)  # all ones on the digits after the dot
    return ((words & keep) | (shifted & ~keep)).view(np.uint8).reshape(-1, WIDTH)


def _parse_short(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells of 1 to WIDTH characters: [-]digits[.digits][(e|E)[+|-]digits]; (values, parsed here)."""
    m = _windows(buf, starts, ends)  # (k, 16)
    words = m.view("<u8")  # (k, 2)
    digits = _all_digits(words)  # (k, 2)
    if digits.all():  # a column of plain integers (a step, an epoch): no sign, dot or exponent to look for
        eight = _eight_digits(words)  # (k, 2)
        mantissa = eight[:, 0] * _U(10 ** 8) + eight[:, 1]
        return mantissa.astype(np.float64), mantissa <= _U(MAX_MANTISSA)
    exponent, mantissa_ends, ok, moved = _exponents(buf, m, starts, ends)
    if moved.size:  # cells with an exponent: the mantissa alone, right-aligned
        m[moved] = _windows(buf, starts[moved], mantissa_ends[moved])
    negative = buf[starts] == 45  # '-'
    rows = np.flatnonzero(negative)
    m[rows, WIDTH - (mantissa_ends[rows] - starts[rows])] = 48  # the sign becomes a leading zero
    dots = (m == 46).view(np.uint8)  # (k, 16)
    n_dots = _byte_sum(dots)
    one_dot = n_dots == 1
    fraction = np.zeros(len(m), np.int64)  # digits after the dot (0 without one)
    if one_dot.any():  # not a column of integers
        fraction = _byte_sum(dots * _FRACTION_WEIGHT).astype(np.int64)
        m = _without_dot(m, np.where(one_dot, fraction, WIDTH))
    words = m.view("<u8")  # (k, 2)
    digits = _all_digits(words)  # (k, 2)
    n_digits = mantissa_ends - starts - negative - n_dots.astype(np.int64)
    ok &= digits[:, 0] & digits[:, 1] & (n_dots <= 1) & (n_digits >= 1)
    eight = _eight_digits(words)  # (k, 2)
    mantissa = eight[:, 0] * _U(10 ** 8) + eight[:, 1]
    decimal_exponent = exponent - np.where(one_dot, fraction, 0)
    ok &= (mantissa <= _U(MAX_MANTISSA)) & (np.abs(decimal_exponent) <= MAX_EXPONENT)
    e = np.clip(decimal_exponent, -MAX_EXPONENT, MAX_EXPONENT)
    value = mantissa.astype(np.float64)  # exact: mantissa <= 2**53 where ok
    value = np.where(e >= 0, value * _POW10_FLOAT[np.maximum(e, 0)], value / _POW10_FLOAT[np.maximum(-e, 0)])
    return np.where(negative, -value, value), ok


def _exponents(buf: np.ndarray, m: np.ndarray, starts: np.ndarray,
               ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(exponent, where the mantissa ends, well formed, the cells with an exponent) per cell: `e-05` -> -5; a
    cell without an exponent has 0 and ends where it ends. An exponent is one or two digits with an optional
    sign ('e+05' takes the last four bytes)."""
    k = len(starts)
    exponent = np.zeros(k, np.int64)
    mantissa_ends = ends.copy()
    ok = np.ones(k, bool)
    is_e = ((m | np.uint8(32)) == np.uint8(101)).view(np.uint8)  # 'e' or 'E'; (k, 16)
    rows = np.flatnonzero(_any_byte(is_e))
    if not rows.size:
        return exponent, mantissa_ends, ok, rows
    tail = m[rows, WIDTH - 4:].astype(np.int64)  # (r, 4): the last four bytes, where e, sign and digits must be
    tail_e = is_e[rows, WIDTH - 4:]
    n_e = _byte_sum(is_e[rows])
    at = np.where(tail_e.any(axis=1), tail_e.argmax(axis=1), -1)  # position of the e within the tail
    after = 3 - at  # characters after the e
    sign = np.take_along_axis(tail, np.clip(at + 1, 0, 3)[:, None], axis=1)[:, 0]
    signed = (after >= 2) & ((sign == 45) | (sign == 43))
    ones, tens = tail[:, 3] - 48, tail[:, 2] - 48
    n_digits = after - signed
    good = (at >= 0) & (n_e == 1) & (n_digits >= 1) & (n_digits <= 2) & _is_digit(ones)
    good &= (n_digits == 1) | _is_digit(tens)
    value = np.where(n_digits == 2, tens * 10 + ones, ones)
    exponent[rows] = np.where(good, np.where(signed & (sign == 45), -value, value), 0)
    mantissa_ends[rows] = np.where(good, ends[rows] - after - 1, ends[rows])  # a bad one is not parsed anyway
    ok[rows] = good
    return exponent, mantissa_ends, ok, rows[good]


def _is_digit(d: np.ndarray) -> np.ndarray:
    return (d >= 0) & (d <= 9)
