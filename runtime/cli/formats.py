"""Output formats of the command line, rendered a batch at a time with numpy.

- ``text``:  ``<count>\\t<parity>`` per line, no header;
- ``csv``:   a header ``line,count,parity``, then ``<line>,<count>,<parity>`` per line;
- ``jsonl``: ``{"line": <line>, "count": <count>, "parity": <parity>}`` per line.

``line`` is the 1-based number of the input line. Rows are not built with per-line
f-strings: each output line is a few fields taken from lookup tables (one row per
possible count) and from a vectorised decimal rendering of the line numbers, laid out as
a byte matrix with a mask that drops the unused cells.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FORMATS", "Formatter"]

FORMATS = ("text", "csv", "jsonl")

#: Counts below this come from a lookup table; above it (only long lines get there)
#: the count is rendered digit by digit, still vectorised.
_TABLE_SIZE = 1024


def _table(rows: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A byte matrix ``[K, W]`` with the rows left-aligned, and the mask of their cells."""
    width = max(map(len, rows))
    cells = np.zeros((len(rows), width), np.uint8)
    mask = np.zeros((len(rows), width), bool)
    for k, row in enumerate(rows):
        cells[k, :len(row)] = np.frombuffer(row, np.uint8)
        mask[k, :len(row)] = True
    return cells, mask


def _digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integers as right-aligned decimal digits ``[N, D]`` with their mask."""
    top = int(values.max()) if len(values) else 0
    width = len(str(top))
    rest = values.astype(np.int32 if top < 2**31 else np.int64)
    cells = np.empty((len(values), width), np.uint8)
    n_digits = np.ones(len(values), np.int8)
    for k in range(width - 1, -1, -1):  # one column at a time: D vector ops, not N
        rest, digit = np.divmod(rest, 10)
        cells[:, k] = digit
        if k:
            n_digits += rest > 0
    cells += 0x30
    mask = np.arange(width) >= (width - n_digits)[:, None]
    return cells, mask


def _constant(text: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    cells = np.broadcast_to(np.frombuffer(text, np.uint8), (n, len(text)))
    return cells, np.ones((n, len(text)), bool)


def _join(parts: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    cells = np.concatenate([p[0] for p in parts], axis=1)
    mask = np.concatenate([p[1] for p in parts], axis=1)
    return cells[mask].tobytes()


class Formatter:
    """Renders counts as output lines in one of ``FORMATS``."""

    def __init__(self, format: str = "text"):
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
        self.format = format
        self._tail = None  # lookup table of what follows the line number, per count

    def header(self) -> bytes:
        """What goes before the first line (the csv header), or b""."""
        return b"line,count,parity\n" if self.format == "csv" else b""

    def _tail_text(self, count: int) -> bytes:
        parity = count % 2
        if self.format == "text":
            return b"%d\t%d\n" % (count, parity)
        if self.format == "csv":
            return b",%d,%d\n" % (count, parity)
        return b', "count": %d, "parity": %d}\n' % (count, parity)

    def _tails(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The part of each line from the count on, for every count."""
        if len(counts) and int(counts.max()) >= _TABLE_SIZE:
            sep = b"\t" if self.format == "text" else b"," if self.format == "csv" else b', "count": '
            end = b"\n" if self.format != "jsonl" else b"}\n"
            parity = b"\t" if self.format == "text" else b"," if self.format == "csv" else b', "parity": '
            n = len(counts)
            parities = (counts % 2 + 0x30).astype(np.uint8)[:, None]
            parts = [_digits(counts), _constant(parity, n), (parities, np.ones((n, 1), bool)),
                     _constant(end, n)]
            if self.format != "text":
                parts.insert(0, _constant(sep, n))
            cells = np.concatenate([p[0] for p in parts], axis=1)
            mask = np.concatenate([p[1] for p in parts], axis=1)
            return cells, mask
        if self._tail is None:
            self._tail = _table([self._tail_text(c) for c in range(_TABLE_SIZE)])
        cells, mask = self._tail
        return cells[counts], mask[counts]

    def render(self, counts: np.ndarray, first_line: int = 1) -> bytes:
        """The output lines for ``counts`` of consecutive input lines from ``first_line`` on."""
        n = len(counts)
        if n == 0:
            return b""
        tails = self._tails(counts)
        if self.format == "text":
            return tails[0][tails[1]].tobytes()
        numbers = _digits(np.arange(first_line, first_line + n, dtype=np.int64))
        parts = [numbers, tails]
        if self.format == "jsonl":
            parts.insert(0, _constant(b'{"line": ', n))
        return _join(parts)
