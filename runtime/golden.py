"""Reading a golden set (``golden.npz``) whose sha256 the manifest vouches for, but which
may still be hostile: a manifest can be edited along with the file.

A zip member's data may expand a thousandfold (a zip bomb), and an ``.npy`` header may
promise any shape. So each member is judged before anything is decompressed or allocated:
the three names, each member's declared uncompressed size, and its ``.npy`` header (dtype
and shape: bounded rows, ``n_bits`` or ``n_classes`` columns) must be what a golden set
is; only then is it read, and never past the size its header implies.
"""

from __future__ import annotations

import io

import numpy as np

from .errors import ModelError, show
from .limits import MAX_GOLDEN_ROWS

__all__ = ["read_golden"]


def _expected(n_bits: int) -> dict[str, tuple[str, int | None]]:
    """Each member: its dtype kind check and its column count (None: one dimension)."""
    return {"bits.npy": ("uint8", n_bits), "counts.npy": ("int", None),
            "logits.npy": ("float32", n_bits + 1)}


def read_golden(content: bytes, n_bits: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(bits, counts, logits)`` of the ``.npz`` bytes ``content``; ModelError (prefixed by
    ``where``) for anything a golden set of ``n_bits``-bit strings cannot be."""
    import zipfile

    expected = _expected(n_bits)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            names = sorted(m.filename for m in members)
            if names != sorted(expected):
                raise ModelError(f"{where}: it holds {show(names)}, expected the arrays "
                                 f"{', '.join(sorted(expected))}")
            arrays = {m.filename: _member(archive, m, *expected[m.filename], where) for m in members}
    except ModelError:
        raise
    except Exception as exc:  # zipfile's and numpy's format errors, zlib's, a short member
        raise ModelError(f"{where}: {type(exc).__name__}: {show(str(exc))}") from exc
    bits, counts, logits = arrays["bits.npy"], arrays["counts.npy"], arrays["logits.npy"]
    if not len(bits) == len(counts) == len(logits):
        raise ModelError(f"{where}: its arrays have {len(bits)}, {len(counts)} and {len(logits)} "
                         "rows, expected the same number")
    return bits, counts, logits


def _member(archive, member, dtype: str, columns: int | None, where: str) -> np.ndarray:
    fmt = np.lib.format
    with archive.open(member) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, found = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, found = fmt.read_array_header_2_0(f)
        else:
            raise ModelError(f"{where}: {member.filename} is .npy version {version}, expected 1.0 or 2.0")
        wanted = (found.kind == "i" and found.itemsize <= 8) if dtype == "int" else found == np.dtype(dtype)
        rows_ok = len(shape) >= 1 and 1 <= shape[0] <= MAX_GOLDEN_ROWS
        shape_ok = shape[1:] == (() if columns is None else (columns,))
        if not (wanted and rows_ok and shape_ok) or fortran or found.hasobject:
            want = f"[N, {columns}]" if columns else "[N]"
            raise ModelError(f"{where}: {member.filename} is {found} {list(shape)}, expected {dtype} "
                             f"{want} with 1 <= N <= {MAX_GOLDEN_ROWS}")
        size = int(np.prod(shape)) * found.itemsize
        if member.file_size != f.tell() + size:
            raise ModelError(f"{where}: {member.filename} says it holds {member.file_size} bytes, "
                             f"its header {f.tell() + size}")
        data = f.read(size)
    if len(data) != size:
        raise ModelError(f"{where}: {member.filename} is cut short")
    return np.frombuffer(data, found).reshape(shape)
