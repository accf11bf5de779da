"""Reading bit strings from a byte stream, one per line, in bounded blocks.

The command line's input format: one bit string (``0`` and ``1``, any length >= 1) per
line. Lines end with LF or CRLF; the last one may lack its line end; a UTF-8 byte-order
mark at the very start is skipped. Nothing else is accepted: a lone CR, a space, a tab,
a full-width digit, an empty line or bytes that are not UTF-8 are errors, reported as
``FILE:LINE:COLUMN: what; expected ...`` (1-based line and column).

The checks work on bytes with numpy, never on decoded text: ``str.isdigit`` accepts
``"１"``, a ``$`` in a regular expression accepts a trailing newline, and text mode turns
a lone CR into a line break. A block of lines of equal length (the common case) is
reshaped in place into rows; other blocks go through a vectorised gather. The stream is
read ``block_size`` bytes at a time, so memory does not grow with the input (a single
line is held whole, however long).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

from .bits import char_bits, describe_char
from .windows import Windows, windows_from_ragged, windows_from_rows
from .errors import InputError

__all__ = ["BLOCK_SIZE", "LINES_PER_BATCH", "Batch", "LineBlock", "read_batches", "read_lines"]

#: Bytes read at a time (about 20,000 lines of 50 bits). Small enough that the blocks in
#: flight (one read, one running, one written) keep peak memory flat whatever the input's
#: length (larger blocks made it grow; the benchmark's memory row checks it); large enough
#: that per-block costs do not show.
BLOCK_SIZE = 1 << 20
#: Lines per batch at most, which bounds the windows built at a time (short lines are
#: padded to the model's 50 bits).
LINES_PER_BATCH = 1 << 16

_BOM = b"\xef\xbb\xbf"
_LF, _CR = 0x0A, 0x0D


@dataclass(frozen=True)
class Batch:
    """Consecutive valid lines: their model windows, the 1-based number of the first
    line, and how many bytes of the stream have been consumed so far."""

    windows: Windows
    first_line: int
    bytes_read: int

    @property
    def n_lines(self) -> int:
        return self.windows.n_items


def read_batches(stream: BinaryIO, name: str, n_bits: int,
                 block_size: int = BLOCK_SIZE, *, first_line: int = 1,
                 bom: bool = True) -> Iterator[Batch]:
    """Yield Batches of the lines of ``stream`` (binary), in order.

    ``name`` is the file's name for messages (``<stdin>`` for standard input). At the
    first invalid line, the valid lines before it are yielded, then InputError is raised
    with the message ``name:LINE:COLUMN: ...`` (``item`` is the 0-based line index and
    ``position`` the 0-based column).

    ``first_line`` is the number of the stream's first line, and ``bom`` whether the
    stream starts where a byte-order mark may stand: a stream that begins in the middle
    of a file (one of its byte ranges) passes its first line's number and ``bom=False``.
    """
    for _, lines, line_no, bytes_read in _blocks(stream, name, block_size, first_line, bom, False):
        for start in range(0, lines.n, LINES_PER_BATCH):
            stop = min(start + LINES_PER_BATCH, lines.n)
            yield Batch(lines.windows(start, stop, n_bits), line_no + start, bytes_read)


@dataclass(frozen=True)
class LineBlock:
    """Consecutive valid lines as read, line ends included: line ``i`` is
    ``data[starts[i] : starts[i] + lengths[i]]``, and its number ``first_line + i``."""

    data: bytes
    starts: np.ndarray
    lengths: np.ndarray
    first_line: int
    bytes_read: int

    @property
    def n_lines(self) -> int:
        return len(self.lengths)

    def joined(self) -> tuple[np.ndarray, np.ndarray]:
        """The lines without their line ends, laid end to end: the characters (uint8 of
        ``0`` and ``1``) and the offsets (int64 ``[N + 1]``) where each line starts."""
        arr = np.frombuffer(self.data, np.uint8)
        offsets = np.zeros(self.n_lines + 1, np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        if self.n_lines and (self.lengths == self.lengths[0]).all() and len(self.starts) > 1:
            stride = int(self.starts[1] - self.starts[0])
            if (np.diff(self.starts) == stride).all():
                end = int(self.starts[0]) + stride * self.n_lines
                table = arr[int(self.starts[0]):end].reshape(self.n_lines, stride)
                return np.ascontiguousarray(table[:, :int(self.lengths[0])]).reshape(-1), offsets
        # Keep each line's characters: +1 where a line starts, -1 where its content ends
        # (never where the next one starts: a line end lies between, and no line is empty).
        edges = np.zeros(len(arr) + 1, np.int8)
        edges[self.starts] = 1
        edges[self.starts + self.lengths] = -1
        return arr[np.cumsum(edges[:-1], dtype=np.int8) > 0], offsets


def read_lines(stream: BinaryIO, name: str, *, first_line: int = 1, bom: bool = True,
               block_size: int = BLOCK_SIZE) -> Iterator[LineBlock]:
    """Yield the lines of ``stream`` (binary) as read, in LineBlocks, after the same checks
    and with the same errors as ``read_batches`` (whose arguments these are)."""
    for data, lines, line_no, bytes_read in _blocks(stream, name, block_size, first_line, bom, True):
        yield LineBlock(data, lines.line_starts(len(data)), lines.line_lengths(), line_no, bytes_read)


def _blocks(stream: BinaryIO, name: str, block_size: int, line_no: int, bom: bool,
            keep_data: bool) -> Iterator[tuple[bytes | None, "_Lines", int, int]]:
    """``(data, lines, number of the first line, bytes consumed)`` for each block of
    complete lines; after the valid lines of a block with an invalid one, its InputError.
    ``data`` (the block's bytes) is None unless ``keep_data``."""
    pending: list[bytes] = []  # the start of an unfinished line, kept across reads
    parsing = [line_no, 0]  # the first line being judged and the bytes of its block
    try:
        yield from _read_blocks(stream, name, block_size, line_no, bom, keep_data, pending, parsing)
    except MemoryError:
        held = sum(map(len, pending)) or parsing[1]
        pending.clear()  # what was held goes first, so the message can be made
        raise MemoryError(f"reading {name}: line {parsing[0]} is {held} bytes long so far (a line is "
                          "held whole)" if held > block_size else f"reading {name}") from None


def _read_blocks(stream, name, block_size, line_no, bom, keep_data, pending, parsing):
    consumed = 0
    chunk = stream.read(block_size)
    while bom and chunk and len(chunk) < len(_BOM) and _BOM.startswith(chunk):
        more = stream.read(block_size)  # a tiny first read: enough to tell a BOM?
        if not more:
            break
        chunk += more
    if bom and chunk.startswith(_BOM):
        consumed += len(_BOM)
        chunk = chunk[len(_BOM):]
    while True:
        at_eof = not chunk
        consumed += len(chunk)
        if at_eof:
            data = b"".join(pending)
            pending.clear()
        else:
            cut = chunk.rfind(b"\n")
            if cut < 0:
                # An unfinished line is judged as it arrives: /dev/zero, or megabytes of junk
                # without a newline, fail at their first bad byte, not when memory runs out.
                _check_unfinished(stream, pending, chunk, name, line_no)
                parsing[0] = line_no
                pending.append(chunk)
                chunk = stream.read(block_size)
                continue
            data = b"".join(pending) + chunk[:cut + 1] if pending else chunk[:cut + 1]
            pending[:] = [chunk[cut + 1:]] if cut + 1 < len(chunk) else []
        chunk = None  # the block is parsed into new arrays: the bytes need not stay meanwhile
        parsing[:] = line_no, len(data)
        if data:
            lines, error = _parse_block(data, name, line_no)
            if not keep_data:
                data = None
            yield data, lines, line_no, consumed - sum(map(len, pending))
            line_no += lines.n
            if error is not None:
                raise error
            data = lines = None
        if pending and not at_eof:  # the start of the next line, after the lines before it
            _check_unfinished(stream, [], pending[0], name, line_no)
        if at_eof:
            return
        chunk = stream.read(block_size)


def _check_unfinished(stream: BinaryIO, pending: list[bytes], piece: bytes, name: str,
                      line_no: int) -> None:
    """InputError at the first byte of ``piece`` that no line may hold, ``piece`` being the
    next bytes of line ``line_no``, whose first bytes (``pending``) were judged already.

    A CR may only end a piece (its LF may come next); one that ended the previous piece is
    alone when this one follows. Checking the new bytes only keeps a long valid line linear.
    """
    before = sum(map(len, pending))
    at = None
    if pending and pending[-1].endswith(b"\r"):
        at = before - 1
    else:
        _, bad = char_bits(np.frombuffer(piece, np.uint8))
        if piece.endswith(b"\r"):
            bad[-1] = False
        if bad.any():
            at = before + int(bad.argmax())
    if at is None:
        return
    raw = (pending[-1][-1:] + piece)[:4] if at < before else piece[at - before:at - before + 4]
    while len(raw) < 4 and raw[0] >= 0x80:  # a character cut by the read: its next bytes
        more = stream.read(4 - len(raw))
        if not more:
            break
        raw += more
    what, _ = describe_char(raw)
    raise InputError(f"{name}:{line_no}:{at + 1}: {what}; expected 0 or 1", item=line_no - 1, position=at)


@dataclass(frozen=True)
class _Lines:
    """The valid lines of a block: equal-length ``rows`` of 0/1, or 0/1 ``values`` with
    per-line ``starts`` and ``lengths``."""

    n: int
    rows: np.ndarray | None = None
    values: np.ndarray | None = None
    starts: np.ndarray | None = None
    lengths: np.ndarray | None = None

    def line_starts(self, size: int) -> np.ndarray:
        """Where each line starts in the block (``size`` bytes, all of equal-length rows
        when ``rows`` is set)."""
        if self.rows is not None:
            return np.arange(self.n, dtype=np.int64) * (size // self.n)
        return self.starts[:self.n]

    def line_lengths(self) -> np.ndarray:
        if self.rows is not None:
            return np.full(self.n, self.rows.shape[1], np.int64)
        return self.lengths[:self.n]

    def windows(self, start: int, stop: int, n_bits: int) -> Windows:
        if self.rows is not None:
            return windows_from_rows(self.rows[start:stop], n_bits)
        return windows_from_ragged(self.values, self.starts[start:stop], self.lengths[start:stop], n_bits)


def _parse_block(data: bytes, name: str, line_no: int) -> tuple[_Lines, InputError | None]:
    """The complete lines in ``data``; at an invalid line, those before it and the error."""
    arr = np.frombuffer(data, np.uint8)
    table = _uniform_rows(data, arr)
    if table is not None:
        rows, bad = char_bits(table)
        if not bad.any():
            return _Lines(len(rows), rows=rows), None
    # General path: lines of varying lengths, or an error to locate.
    newlines = np.flatnonzero(arr == _LF)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(arr))
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    crlf = (ends > starts) & (arr[ends - 1] == _CR) & (ends < len(arr))  # a CR at EOF is alone
    content_ends = ends - crlf
    lengths = content_ends - starts
    values, bad = char_bits(arr)
    bad[newlines] = False
    bad[content_ends[crlf]] = False
    n_good = len(ends)
    error = None
    if bad.any():
        at = int(bad.argmax())
        n_good = int(np.searchsorted(ends, at))
        column = at - int(starts[n_good])
        what, _ = describe_char(data[at:at + 4])
        error = InputError(f"{name}:{line_no + n_good}:{column + 1}: {what}; expected 0 or 1",
                           item=line_no + n_good - 1, position=column)
    empty = np.flatnonzero(lengths[:n_good] == 0)
    if empty.size:
        n_good = int(empty[0])
        error = InputError(f"{name}:{line_no + n_good}:1: empty line; expected a string of 0 and 1",
                           item=line_no + n_good - 1, position=0)
    return _Lines(n_good, values=values, starts=starts, lengths=lengths), error


def _uniform_rows(data: bytes, arr: np.ndarray) -> np.ndarray | None:
    """The lines as a ``[N, L]`` view when all have one length and one line end, else None."""
    if not data.endswith(b"\n"):
        return None
    stride = data.find(b"\n") + 1
    end = 2 if stride >= 2 and data[stride - 2] == _CR else 1
    if stride <= end or len(arr) % stride:
        return None
    table = arr.reshape(-1, stride)
    if not (table[:, -1] == _LF).all() or (end == 2 and not (table[:, -2] == _CR).all()):
        return None
    return table[:, :stride - end]
