"""The golden set: inputs and the reference's outputs, shipped with the artifacts.

The parity check proves the artifacts equal to Keras on the machine that exported them.
The device that finally runs them is another machine, often another runtime build; the
golden set lets ``python -m runtime.verify`` prove there, without TensorFlow, that the
installed copy still computes what was exported (as Polygraphy's ``--save-outputs`` /
``--load-outputs`` and the ONNX model zoo's ``test_data_set_*`` do).

``golden.npz`` holds ``bits`` (uint8 ``[N, n_bits]``: ``PER_COUNT`` strings of every
count 0..n_bits, the edge cases, and ``PADDED`` left-padded short strings), ``counts`` (the
true counts) and ``logits`` (float32 ``[N, n_bits + 1]``, the Keras model's). The manifest
lists it like an artifact (file, size, sha256) with the tolerance rule it is checked by.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from train.data import count_ones, edge_case_bits, padded_bits, stratified_bits

__all__ = ["GOLDEN_NAME", "PER_COUNT", "PADDED", "golden_bits", "golden_bytes", "golden_entry"]

GOLDEN_NAME = "golden.npz"
PER_COUNT = 4
PADDED = 100
_SEED = 51


def golden_bits(n_bits: int) -> np.ndarray:
    """The golden inputs: every count, the edge cases, left-padded short strings."""
    rng = np.random.default_rng([_SEED, n_bits])
    counts = np.repeat(np.arange(n_bits + 1), PER_COUNT)
    return np.concatenate([stratified_bits(len(counts), rng, n_bits, counts=counts),
                           *edge_case_bits(n_bits).values(), padded_bits(PADDED, rng, n_bits)])


def golden_bytes(bits: np.ndarray, logits: np.ndarray) -> bytes:
    """The ``.npz`` file, byte for byte the same for the same arrays (fixed zip timestamps)."""
    arrays = {"bits": np.ascontiguousarray(bits, np.uint8), "counts": count_ones(bits),
              "logits": np.ascontiguousarray(logits, np.float32)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                             member.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def golden_entry(reference, n_bits: int, directory: Path, result) -> dict:
    """Write the golden set (the reference's logits on ``golden_bits``) into ``directory``;
    return its manifest entry, with the tolerance rule ``runtime.verify`` applies."""
    from .manifest import sha256_of
    from .comparison import TOLERANCE_RULE
    from .publish import write_file

    from .onnx_test_data import write_test_data

    bits = golden_bits(n_bits)
    path = directory / GOLDEN_NAME
    logits = reference.predict(bits)
    write_file(path, golden_bytes(bits, logits))
    return {"file": GOLDEN_NAME, "format": "npz", "sha256": sha256_of(path),
            "size_bytes": path.stat().st_size, "n": int(len(bits)),
            "arrays": {"bits": f"uint8 [{len(bits)}, {n_bits}]", "counts": f"int64 [{len(bits)}]",
                       "logits": f"float32 [{len(bits)}, {n_bits + 1}]"},
            "atol": result.atol, "rtol": result.rtol, "tolerance": TOLERANCE_RULE,
            "onnx_test_data": write_test_data(directory, bits, logits)}
