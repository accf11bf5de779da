"""Model-sized windows: how bit strings of any length become the fixed rows the model reads.

The model reads exactly ``n_bits`` bits (50 for the shipped model). A bit string of any
length of at least one is turned into windows of ``n_bits``:

- a shorter string is left-padded with zeros (``"0110"`` -> 46 zeros then ``0110``);
- a longer one is split into ``ceil(len / n_bits)`` windows, the first one left-padded,
  and the counts predicted for its windows are added (``Windows.fold``).

Both are exact: leading zeros add no ones, and counts add up. The functions here take bits
already validated (uint8 0 and 1): ``runtime.bits`` checks them (``runtime.inputs`` for API
input, ``runtime.lines`` for the command line's bytes). Everything is vectorised with numpy;
nothing loops over characters in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Windows", "windows_from_rows", "windows_from_ragged"]


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
