"""Bit strings of any length, and the fixed-size windows the model reads.

The model reads exactly ``n_bits`` bits (50 for the shipped model). A bit string of any
length of at least one is turned into windows of ``n_bits``:

- a shorter string is left-padded with zeros (``"0110"`` -> 46 zeros then ``0110``);
- a longer one is split into ``ceil(len / n_bits)`` windows, the first one left-padded,
  and the counts predicted for its windows are added.

Both are exact: leading zeros add no ones, and counts add up.

``parse_bits`` validates API input (a sequence of ``str``, or a uint8/bool array of 0 and
1) and returns its windows. The command line (``runtime.lines``) validates raw bytes itself
and shares the windowing below. Everything is vectorised with numpy on bytes; nothing
loops over characters in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Windows", "parse_bits", "one_window", "windows_from_rows", "windows_from_ragged",
           "describe_char"]

_ZERO, _ONE = 0x30, 0x31
#: ``bytes.translate`` table from the characters ``0``/``1`` to the bit values 0/1.
_TO_BITS = bytes.maketrans(b"01", b"\x00\x01")


@dataclass(frozen=True)
class Windows:
    """Model-sized windows for N bit strings.

    ``bits``: uint8 ``[M, n_bits]`` of 0 and 1 (M >= N). ``first``: int ``[N]``, the index
    of each string's first window, or ``None`` when every string has exactly
    ``per_item`` windows in a row (then string ``i`` owns windows ``i*per_item`` to
    ``(i+1)*per_item - 1``).
    """

    bits: np.ndarray
    n_items: int
    per_item: int = 1
    first: np.ndarray | None = None

    def fold(self, window_counts: np.ndarray) -> np.ndarray:
        """Per-string counts (int64 ``[N]``) from per-window counts (``[M]``)."""
        window_counts = np.asarray(window_counts, dtype=np.int64)
        if self.n_items == 0:
            return np.zeros(0, np.int64)
        if self.first is not None:
            return np.add.reduceat(window_counts, self.first)
        if self.per_item == 1:
            return window_counts
        return window_counts.reshape(self.n_items, self.per_item).sum(axis=1)


def windows_from_rows(rows: np.ndarray, n_bits: int) -> Windows:
    """Windows for N strings of one length L >= 1, given as uint8 ``rows [N, L]`` of 0 and 1."""
    n, length = rows.shape
    per_item = -(-length // n_bits)
    pad = per_item * n_bits - length
    if pad:
        padded = np.zeros((n, per_item * n_bits), np.uint8)
        padded[:, pad:] = rows
        rows = padded
    return Windows(np.ascontiguousarray(rows, dtype=np.uint8).reshape(n * per_item, n_bits),
                   n_items=n, per_item=per_item)


#: Strings at least this long are copied one by one in ``windows_from_ragged``; shorter
#: ones through per-character index arrays (8 bytes per character, so not for huge lines).
_LONG = 1 << 16


def windows_from_ragged(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                        n_bits: int) -> Windows:
    """Windows for N strings of varying lengths (each >= 1).

    String ``i`` is ``values[starts[i] : starts[i] + lengths[i]]``, uint8 of 0 and 1;
    ``values`` may hold other bytes between the strings (line ends), which are not read.
    """
    n = len(lengths)
    if n == 0:
        return Windows(np.zeros((0, n_bits), np.uint8), n_items=0)
    lengths = lengths.astype(np.intp, copy=False)
    starts = starts.astype(np.intp, copy=False)
    per_item = -(-lengths // n_bits)
    first = np.zeros(n, np.intp)
    np.cumsum(per_item[:-1], out=first[1:])
    total = int(first[-1] + per_item[-1])
    out = np.zeros(total * n_bits, np.uint8)
    # Each string goes to the end of its windows: it starts after the left padding of its
    # first window, at first[i] * n_bits + pad[i].
    dest = first * n_bits + per_item * n_bits - lengths
    long = lengths >= _LONG
    for i in np.flatnonzero(long):
        out[dest[i]:dest[i] + lengths[i]] = values[starts[i]:starts[i] + lengths[i]]
    short = ~long
    if short.all():
        s_starts, s_lengths, s_dest = starts, lengths, dest
    else:
        s_starts, s_lengths, s_dest = starts[short], lengths[short], dest[short]
    if len(s_lengths):
        # Character j of the short strings, all laid end to end: its source and destination.
        offsets = np.zeros(len(s_lengths), np.intp)
        np.cumsum(s_lengths[:-1], out=offsets[1:])
        j = np.arange(int(offsets[-1] + s_lengths[-1]), dtype=np.intp)
        out[j + np.repeat(s_dest - offsets, s_lengths)] = values[j + np.repeat(s_starts - offsets, s_lengths)]
    return Windows(out.reshape(total, n_bits), n_items=n, first=first)


def describe_char(raw: bytes) -> tuple[str, int]:
    """Describe the first character of ``raw`` (UTF-8) for an error message.

    Returns the description and the number of bytes it spans, e.g.
    ``("invalid character 'x' (U+0078)", 1)`` or ``("invalid UTF-8 byte 0xff", 1)``.
    """
    lead = raw[0]
    size = 1 if lead < 0x80 else 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF \
        else 4 if 0xF0 <= lead <= 0xF4 else 0
    try:
        char = raw[:size].decode("utf-8") if size else ""
    except UnicodeDecodeError:
        char = ""
    if len(char) != 1:
        return f"invalid UTF-8 byte 0x{lead:02x}", 1
    return f"invalid character {char!r} (U+{ord(char):04X})", size


def _first_invalid(values: np.ndarray) -> int:
    """Index of the first byte that is not 0x30 or 0x31, or -1."""
    bad = (values - _ZERO) > 1  # uint8 wraps: everything below '0' becomes large
    if not bad.any():
        return -1
    return int(bad.argmax())


def parse_bits(items: Any, n_bits: int) -> Windows:
    """Validate bit strings and turn them into model windows.

    ``items`` is a sequence of ``str`` of ``0`` and ``1`` (each of length >= 1), or a
    uint8/bool numpy array ``[N, L]`` of 0 and 1 (L >= 1 when N > 0), all of length L.
    Raises InputError naming the item and position (0-based) of the first problem.
    """
    if isinstance(items, np.ndarray) and items.dtype.kind in "biu":
        return _parse_array(items, n_bits)
    if isinstance(items, np.ndarray) and items.dtype.kind == "U" and items.ndim == 1:
        items = items.tolist()
    if isinstance(items, (str, bytes, bytearray)):
        raise InputError("expected a sequence of bit strings, got a single "
                         f"{type(items).__name__}; wrap it in a list")
    if isinstance(items, np.ndarray):
        raise InputError(f"expected a uint8 or bool array [N, L] of 0 and 1, "
                         f"got dtype {items.dtype}, shape {list(items.shape)}")
    if not isinstance(items, list):
        try:
            items = list(items)
        except TypeError:
            raise InputError(f"expected a sequence of bit strings, got {type(items).__name__}") from None
    n = len(items)
    if n == 0:
        return Windows(np.zeros((0, n_bits), np.uint8), n_items=0)
    try:
        joined = "".join(items)
    except TypeError:
        joined = None
    if joined is None:
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InputError(f"item {i}: expected a string of 0 and 1, got {type(item).__name__}",
                                 item=i)
    if n == 1:
        lengths = None
        if not joined:
            raise InputError("item 0: empty string; expected a string of 0 and 1", item=0)
    else:
        lengths = np.fromiter(map(len, items), dtype=np.intp, count=n)
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            i = int(empty[0])
            raise InputError(f"item {i}: empty string; expected a string of 0 and 1", item=i)
    try:
        raw = joined.encode("ascii")
    except UnicodeEncodeError as exc:
        bad_at = exc.start
    else:
        # bytes.translate deletes every 0 and 1 at C speed: anything left is an error.
        bad_at = _first_invalid(np.frombuffer(raw, np.uint8)) if raw.translate(None, b"01") else -1
    if bad_at >= 0:
        if lengths is None:
            i, position = 0, bad_at
        else:
            ends = np.cumsum(lengths)
            i = int(np.searchsorted(ends, bad_at, side="right"))
            position = bad_at - int(ends[i] - lengths[i])
        char = items[i][position]
        raise InputError(f"item {i}, position {position}: invalid character {char!r} "
                         f"(U+{ord(char):04X}); expected 0 or 1", item=i, position=position)
    values = np.frombuffer(raw.translate(_TO_BITS), np.uint8)
    if lengths is None:
        return windows_from_rows(values.reshape(1, len(values)), n_bits)
    if (lengths == lengths[0]).all():
        return windows_from_rows(values.reshape(n, int(lengths[0])), n_bits)
    starts = np.zeros(n, np.intp)
    np.cumsum(lengths[:-1], out=starts[1:])
    return windows_from_ragged(values, starts, lengths, n_bits)


def one_window(item: Any, n_bits: int) -> np.ndarray | None:
    """uint8 ``[1, n_bits]`` for a ``str`` of exactly ``n_bits`` valid bits; otherwise None.

    The fast path for a single string the model's size; for anything else (including
    anything invalid, which ``parse_bits`` then explains) it returns None.
    """
    if type(item) is not str or len(item) != n_bits:
        return None
    try:
        raw = item.encode("ascii")
    except UnicodeEncodeError:
        return None
    if raw.translate(None, b"01"):
        return None
    return np.frombuffer(raw.translate(_TO_BITS), np.uint8).reshape(1, n_bits)


def _parse_array(items: np.ndarray, n_bits: int) -> Windows:
    if items.ndim != 2:
        raise InputError(f"expected an array [N, L] of 0 and 1, got shape {list(items.shape)}")
    n, length = items.shape
    if n == 0:
        return Windows(np.zeros((0, n_bits), np.uint8), n_items=0)
    if length == 0:
        raise InputError("item 0: empty string; expected a string of 0 and 1", item=0)
    # One or two reductions in the common case; the element-wise search only to name the culprit.
    if items.dtype != np.bool_ and (items.max() > 1 or (items.dtype.kind == "i" and items.min() < 0)):
        bad = (items != 0) & (items != 1)
        i, position = (int(k) for k in np.argwhere(bad)[0])
        raise InputError(f"item {i}, position {position}: value {items[i, position]}; "
                         "expected 0 or 1", item=i, position=position)
    return windows_from_rows(items.astype(np.uint8, copy=False), n_bits)
