"""What a bit is: the one check of characters (a string's, a line's bytes, an Arrow
buffer's), of integer values, and of one model-sized string.

A bit is the character ``0`` or ``1`` in text, and the value 0 or 1 in an array; nothing
else (``str.isdigit`` accepts ``"１"``, a float array may hold 0.5 or NaN). Every entrance
checks with these functions, then turns what passed into the model's windows
(``runtime.windows``): ``runtime.inputs`` for the API's input, ``runtime.lines`` for the
command line's lines, ``runtime.batch.shipping`` for Arrow buffers on a cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["describe_char", "char_bits", "invalid_value", "check_values", "first_invalid_byte",
           "bits_of", "one_window"]

_ZERO, _ONE = 0x30, 0x31
#: ``bytes.translate`` table from the characters ``0``/``1`` to the bit values 0/1.
_TO_BITS = bytes.maketrans(b"01", b"\x00\x01")


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


def char_bits(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one check of characters (uint8 bytes of a string, a line, an Arrow buffer):
    ``(bits, bad)``, each byte less ``'0'``, and True where it was neither ``'0'`` nor ``'1'``."""
    bits = chars - np.uint8(_ZERO)
    return bits, bits > 1  # uint8 wraps: everything below '0' becomes large


def invalid_value(rows: np.ndarray) -> tuple[int, int] | None:
    """The one check of integer or bool arrays ``[N, L]``: ``(row, column)`` of the first
    value that is not 0 or 1, or None (bool always passes: converting it gives 0 and 1
    whatever its bytes hold)."""
    if rows.dtype == np.bool_ or not rows.size:
        return None
    # One or two reductions in the common case; the element-wise search only to name the culprit.
    if rows.max() > 1 or (rows.dtype.kind == "i" and rows.min() < 0):
        bad = (rows != 0) & (rows != 1)
        return tuple(int(k) for k in np.argwhere(bad)[0])
    return None


def check_values(rows: np.ndarray, offset: int = 0) -> None:
    """InputError at the first value of ``rows`` (row ``offset`` on) that is not 0 or 1."""
    found = invalid_value(rows)
    if found is not None:
        i, position = found
        raise InputError(f"item {offset + i}, position {position}: value {rows[i, position]}; "
                         "expected 0 or 1", item=offset + i, position=position)


def first_invalid_byte(raw: bytes) -> int:
    """Index of the first byte of ``raw`` that is not ``0`` or ``1``, or -1."""
    if not raw.translate(None, b"01"):  # deletes every 0 and 1 at C speed: nothing left, all good
        return -1
    bad = char_bits(np.frombuffer(raw, np.uint8))[1]
    return int(bad.argmax())


def bits_of(raw: bytes) -> np.ndarray:
    """The bit values (uint8 0/1) of ``raw``, bytes already checked to be ``0`` and ``1``."""
    return np.frombuffer(raw.translate(_TO_BITS), np.uint8)


#: The model's input value of each byte: 1.0 for ``1``, else 0.0 (used on checked bytes only).
_INPUT_OF_BYTE = np.zeros(256, np.float32)
_INPUT_OF_BYTE[_ONE] = 1.0


def one_window(item: Any, n_bits: int) -> np.ndarray | None:
    """The model's float32 input ``[1, n_bits, 1]`` for a ``str`` of exactly ``n_bits``
    valid bits; otherwise None.

    The fast path for a single string the model's size: checked as ``prepare`` would check
    it, and made in one step; for anything else (including anything invalid, which
    ``parse_bits`` then explains) it returns None.
    """
    if type(item) is not str or len(item) != n_bits:
        return None
    try:
        raw = item.encode("ascii")
    except UnicodeEncodeError:
        return None
    if raw.translate(None, b"01"):  # deletes every 0 and 1: anything left is not a bit
        return None
    return _INPUT_OF_BYTE.take(np.frombuffer(raw, np.uint8)).reshape(1, n_bits, 1)
