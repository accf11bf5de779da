"""A file in byte ranges, each read on its own, its lines numbered as in the whole file.

A large file is read in parallel by cutting it at byte offsets ``starts[0] = 0 <
starts[1] < ...``. Range ``k`` owns the lines that *start* in ``[starts[k],
starts[k + 1])``: a reader of a range that begins inside a line skips to the next line,
and one that ends inside a line reads on to that line's end. Every line is read exactly
once, by one range, and whole; ``runtime.lines`` then checks it as it would in the whole
file (only the first range may begin with a byte-order mark).

Line numbers: range ``k > 0`` begins after the first line end at or after byte
``starts[k] - 1``, so its first line is number ``2 + (line ends in [0, starts[k] - 1))``.
Those line ends are counted beforehand, one span per range (``count_spans``, then
``count_newlines`` for each, which can run in parallel), and ``first_lines`` adds them up.
A file of one range needs no counting.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

from ..lines import BLOCK_SIZE, LineBlock, read_lines

__all__ = ["split", "count_spans", "count_newlines", "first_lines", "RangeReader", "read_range"]


def split(size: int, range_bytes: int) -> list[int]:
    """The start offsets of the ranges of a file of ``size`` bytes, about ``range_bytes`` each."""
    if range_bytes < 1:
        raise ValueError(f"range_bytes must be positive, got {range_bytes}")
    n = max(1, -(-size // range_bytes))
    return [k * size // n for k in range(n)]


def count_spans(starts: list[int]) -> list[tuple[int, int]]:
    """The byte spans whose line ends number the ranges' first lines: one per range after
    the first, laid end to end from byte 0."""
    return [(max(starts[k] - 1, 0), starts[k + 1] - 1) for k in range(len(starts) - 1)]


def first_lines(newlines: list[int]) -> list[int]:
    """The number of each range's first line, from the line ends counted in ``count_spans``."""
    numbers, total = [1], 0
    for n in newlines:
        total += n
        numbers.append(2 + total)
    return numbers


def count_newlines(stream: BinaryIO, start: int, end: int, block_size: int = 8 * BLOCK_SIZE) -> int:
    """Line ends (LF bytes) in bytes ``[start, end)`` of a seekable binary stream."""
    stream.seek(start)
    left, count = end - start, 0
    while left > 0:
        chunk = stream.read(min(block_size, left))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count


class RangeReader:
    """The bytes of the lines that start in ``[start, end)`` of a seekable binary stream
    (``end=None``: to the end of the file), read through ``read(n)`` like a file."""

    def __init__(self, stream: BinaryIO, start: int, end: int | None, block_size: int = BLOCK_SIZE):
        self._stream = stream
        self._end = end
        self._done = False
        self._pending = b""
        self._block_size = block_size
        if start == 0:
            stream.seek(0)
            self._pos = 0  # the file offset of the next byte handed out
            return
        stream.seek(start - 1)
        pos = start - 1
        while True:  # the first line begins after the first line end at or after start - 1
            chunk = stream.read(block_size)
            if not chunk:
                self._done = True
                break
            cut = chunk.find(b"\n")
            if cut >= 0:
                self._pending = chunk[cut + 1:]
                pos += cut + 1
                break
            pos += len(chunk)
        self._pos = pos
        if end is not None and pos >= end:
            self._done = True  # one line spans the whole range: another range reads it

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        if self._pending:
            data, self._pending = self._pending, b""
        else:
            data = self._stream.read(self._block_size if n is None or n < 0 else n)
        if not data:
            self._done = True
            return b""
        if self._end is not None and self._pos + len(data) >= self._end:
            # The range's last line ends at the first line end at or after end - 1.
            cut = data.find(b"\n", max(self._end - 1 - self._pos, 0))
            if cut >= 0:
                data = data[:cut + 1]
                self._done = True
        self._pos += len(data)
        return data


def read_range(stream: BinaryIO, name: str, start: int, end: int | None, first_line: int,
               block_size: int = BLOCK_SIZE) -> Iterator[LineBlock]:
    """The checked lines that start in ``[start, end)`` of the file ``name``, numbered from
    ``first_line``; errors as ``runtime.lines`` gives them for the whole file."""
    reader = RangeReader(stream, start, end, block_size)
    return read_lines(reader, name, first_line=first_line, bom=start == 0, block_size=block_size)
