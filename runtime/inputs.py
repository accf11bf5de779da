"""API input: what ``Predictor.predict`` accepts, checked (``runtime.bits``) on the values
the model sees, and windowed a chunk at a time.

Accepted, in a defined order:

- a sequence (or any ordered iterable) of ``str`` of ``0`` and ``1``, each of length >= 1;
  a 1-D numpy array of ``str`` (or of objects that are all ``str``) counts as one;
- an integer or bool array ``[N, L]`` of 0 and 1 (L >= 1 when N > 0): a numpy array, a
  subclass of one, or anything numpy reads as one (``__array__``). A masked array is
  accepted only when nothing is masked: the model would see the values under the mask.

Refused with an InputError: a single ``str``/``bytes`` (wrap it in a list), sets and
mappings (their order is not the caller's, so results could not be matched to items),
float arrays (a 0.5 or a NaN would pass through the runtimes silently), and any item that
is not a string of 0 and 1; the error names the item and the position (0-based).

Input is windowed a chunk at a time (``Input.spans``, at most ``runtime.limits.CHUNK_ITEMS``
items and ``CHUNK_CHARS`` bits, unless one string alone is longer), so the memory used
beyond the input itself stays bounded however large it is. Each chunk is copied before it
is checked, and the copy is what the model reads: an array changed meanwhile by another
thread can never slip unchecked values through.

See ``runtime.windows`` for how strings of any length become the model's windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Set
from typing import Any

import numpy as np

from .bits import bits_of, check_values, first_invalid_byte, invalid_value
from .errors import InputError
from .limits import CHUNK_CHARS, CHUNK_ITEMS
from .windows import Windows, windows_from_ragged, windows_from_rows

__all__ = ["Input", "prepare", "parse_bits"]


class Input:
    """Validated API input of ``n_items`` bit strings, windowed a chunk at a time.

    ``spans()`` gives the chunks as item ranges ``(start, stop)``; ``windows(start, stop)``
    checks that chunk and returns its windows (raising InputError with the item's index
    in the whole input); ``check()`` checks everything now, building no windows. Every
    window handed out has been checked here, so the model runs them as they are.
    """

    n_items: int = 0

    def spans(self) -> Iterator[tuple[int, int]]:
        if self.n_items:
            yield 0, self.n_items

    def windows(self, start: int, stop: int) -> Windows:
        raise NotImplementedError

    def check(self) -> None:
        for start, stop in self.spans():
            self.windows(start, stop)


class _Windowed(Input):
    """``Windows`` made elsewhere (``runtime.lines`` makes them from the command line's
    bytes; a caller may make its own), taken whole: a copy of their bits, checked once like
    an array's, is what the model reads."""

    def __init__(self, windows: Windows, n_bits: int):
        bits = np.array(windows.bits)  # a copy: what is checked is what runs
        if bits.dtype.kind not in "biu" or bits.ndim != 2 or bits.shape[1] != n_bits:
            raise InputError(f"expected Windows of uint8 0 and 1 [M, {n_bits}], got dtype "
                             f"{bits.dtype}, shape {list(bits.shape)}")
        found = invalid_value(bits)
        if found is not None:
            row, position = found
            item = (row // windows.per_item if windows.first is None
                    else int(np.searchsorted(windows.first, row, side="right")) - 1)
            raise InputError(f"item {item}, window {row}, position {position}: value "
                             f"{bits[row, position]}; expected 0 or 1", item=item, position=position)
        self._windows = dataclasses.replace(windows, bits=bits.astype(np.uint8, copy=False))
        self.n_items = windows.n_items

    def windows(self, start: int, stop: int) -> Windows:
        return self._windows

    def check(self) -> None:
        pass  # checked when made


class _Strings(Input):
    def __init__(self, items: list, n_bits: int):
        self._items = items
        self._n_bits = n_bits
        self.n_items = len(items)
        try:
            self._lengths = np.fromiter(map(len, items), dtype=np.intp, count=self.n_items)
        except TypeError:  # an item without a length: not a string
            i = next(i for i, item in enumerate(items) if not isinstance(item, str))
            raise _not_a_string(i, items[i]) from None

    def spans(self) -> Iterator[tuple[int, int]]:
        ends = np.cumsum(self._lengths)
        start = 0
        while start < self.n_items:
            before = int(ends[start - 1]) if start else 0
            stop = int(np.searchsorted(ends, before + CHUNK_CHARS, side="right"))
            stop = min(max(stop, start + 1), start + CHUNK_ITEMS, self.n_items)
            yield start, stop
            start = stop

    def _values(self, start: int, stop: int) -> np.ndarray:
        """The bits of items ``start:stop`` laid end to end (uint8 0/1), once checked."""
        chunk = self._items[start:stop]
        try:
            joined = "".join(chunk)
        except TypeError:
            i = next(i for i, item in enumerate(chunk) if not isinstance(item, str))
            raise _not_a_string(start + i, chunk[i]) from None
        lengths = self._lengths[start:stop]
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            i = start + int(empty[0])
            raise InputError(f"item {i}: empty string; expected a string of 0 and 1", item=i)
        try:
            raw = joined.encode("ascii")
        except UnicodeEncodeError as exc:
            bad_at = exc.start
        else:
            bad_at = first_invalid_byte(raw)
        if bad_at >= 0:
            ends = np.cumsum(lengths)
            k = int(np.searchsorted(ends, bad_at, side="right"))
            position = bad_at - int(ends[k] - lengths[k])
            char, i = chunk[k][position], start + k
            raise InputError(f"item {i}, position {position}: invalid character {char!r} "
                             f"(U+{ord(char):04X}); expected 0 or 1", item=i, position=position)
        return bits_of(raw)

    def windows(self, start: int, stop: int) -> Windows:
        values = self._values(start, stop)
        lengths = self._lengths[start:stop]
        n = stop - start
        if (lengths == lengths[0]).all():
            return windows_from_rows(values.reshape(n, int(lengths[0])), self._n_bits)
        starts = np.zeros(n, np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        return windows_from_ragged(values, starts, lengths, self._n_bits)

    def check(self) -> None:
        for start, stop in self.spans():
            self._values(start, stop)


class _Rows(Input):
    """An integer or bool array ``[N, L]``."""

    def __init__(self, array: np.ndarray, n_bits: int):
        if array.ndim != 2:
            raise InputError(f"expected an array [N, L] of 0 and 1, got shape {list(array.shape)}")
        self.n_items, length = array.shape
        if self.n_items and length == 0:
            raise InputError("item 0: empty string; expected a string of 0 and 1", item=0)
        self._array = array
        self._n_bits = n_bits
        self._per_chunk = max(1, min(CHUNK_ITEMS, CHUNK_CHARS // max(length, 1)))

    def spans(self) -> Iterator[tuple[int, int]]:
        for start in range(0, self.n_items, self._per_chunk):
            yield start, min(start + self._per_chunk, self.n_items)

    def windows(self, start: int, stop: int) -> Windows:
        rows = np.array(self._array[start:stop])  # a copy: what is checked is what runs
        check_values(rows, start)
        return windows_from_rows(rows.astype(np.uint8, copy=False), self._n_bits)

    def check(self) -> None:
        check_values(self._array, 0)


def _not_a_string(i: int, item: Any) -> InputError:
    return InputError(f"item {i}: expected a string of 0 and 1, got {type(item).__name__}", item=i)


def _as_array(items: Any) -> np.ndarray | None:
    """``items`` as a plain ndarray when it is an array or reads as one, else None."""
    if isinstance(items, np.ma.MaskedArray):
        if np.ma.getmaskarray(items).any():
            raise InputError("expected bits, got a masked array with masked values: the model "
                             "would see the values under the mask; fill them (numpy.ma.filled) "
                             "or drop those rows")
        return np.asarray(items.data)
    if isinstance(items, np.ndarray):
        return np.asarray(items)  # a subclass (matrix, memmap) as the plain array it holds
    if isinstance(items, (list, tuple)) or not (
            hasattr(items, "__array__") or hasattr(items, "__array_interface__")):
        return None
    try:
        return np.asarray(items)
    except Exception as exc:  # whatever the array-like's own conversion raises
        raise InputError(f"cannot read {type(items).__name__} as an array of bits: {exc}") from exc


def prepare(items: Any, n_bits: int) -> Input:
    """Check the kind of ``items`` (see the module docstring) and return it as an Input.

    Raises InputError for input of the wrong kind, or for an item that is not a string
    (its characters are checked chunk by chunk, by ``Input.windows`` or ``Input.check``).
    ``Windows`` made elsewhere are taken whole, their bits checked like an array's.
    """
    if isinstance(items, Windows):
        return _Windowed(items, n_bits)
    if isinstance(items, (str, bytes, bytearray)):
        raise InputError("expected a sequence of bit strings, got a single "
                         f"{type(items).__name__}; wrap it in a list")
    if isinstance(items, (Set, Mapping)):
        kind = "mapping" if isinstance(items, Mapping) else "set"
        raise InputError(f"expected a sequence of bit strings, got a {kind} ({type(items).__name__}), "
                         "whose order is not the caller's: results could not be matched to its "
                         "items; pass a list (e.g. sorted(...))")
    array = _as_array(items)
    if array is not None:
        if array.dtype.kind in "biu":
            return _Rows(array, n_bits)
        if array.ndim == 1 and array.dtype.kind in "UO":
            return _Strings(array.tolist(), n_bits)
        raise InputError(f"expected a uint8 or bool array [N, L] of 0 and 1, "
                         f"got dtype {array.dtype}, shape {list(array.shape)}")
    if isinstance(items, tuple):
        return _Strings(items, n_bits)
    try:
        items = list(items)  # a copy: a list changed by the caller later changes nothing here
    except TypeError:
        raise InputError(f"expected a sequence of bit strings, got {type(items).__name__}") from None
    return _Strings(items, n_bits)


def parse_bits(items: Any, n_bits: int) -> Windows:
    """Validate bit strings and turn them into model windows, all at once.

    ``items`` as ``prepare`` takes them. Raises InputError naming the item and position
    (0-based) of the first problem. ``Predictor`` windows large inputs chunk by chunk
    instead (``prepare``), which bounds its memory.
    """
    source = prepare(items, n_bits)
    if source.n_items == 0:
        return Windows(np.zeros((0, n_bits), np.uint8), n_items=0)
    parts = [source.windows(start, stop) for start, stop in source.spans()]
    if len(parts) == 1:
        return parts[0]
    return _concatenate(parts, n_bits)


def _concatenate(parts: list[Windows], n_bits: int) -> Windows:
    """One Windows for consecutive chunks."""
    firsts, offset = [], 0
    for part in parts:
        first = part.first if part.first is not None else np.arange(part.n_items) * part.per_item
        firsts.append(first + offset)
        offset += len(part.bits)
    return Windows(np.concatenate([p.bits for p in parts]), n_items=sum(p.n_items for p in parts),
                   first=np.concatenate(firsts).astype(np.intp))
