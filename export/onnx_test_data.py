"""The golden set in the ONNX test-data layout, for any ONNX runner (not only ours).

``golden.npz`` needs numpy; a C/C++ or mobile app, ``onnx_test_runner`` or
``onnx.backend.test`` read the layout of the ONNX model zoo instead::

    model.onnx
    test_data_set_0/input_0.pb    TensorProto float32 [N, n_bits, 1], named like the model's input
    test_data_set_0/output_0.pb   TensorProto float32 [N, n_bits + 1], the reference logits

Same inputs and logits as ``golden.npz``; checked by the same rule, per row
``|logits - expected| <= ATOL + RTOL * max|expected row|`` (``export.comparison``). The manifest
lists each file with its size and sha256 under ``onnx_test_data``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .convert import INPUT_NAME, OUTPUT_NAME
from .publish import write_file

__all__ = ["TEST_DATA_DIR", "INPUT_FILE", "OUTPUT_FILE", "write_test_data", "read_test_data"]

TEST_DATA_DIR = "test_data_set_0"
INPUT_FILE = "input_0.pb"
OUTPUT_FILE = "output_0.pb"


def _tensor_bytes(array: np.ndarray, name: str) -> bytes:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name).SerializeToString()


def write_test_data(directory: Path, bits: np.ndarray, logits: np.ndarray) -> dict:
    """Write ``directory/test_data_set_0/`` from the golden inputs and the reference logits;
    return the manifest entry (the folder, the rule, each file's size and sha256)."""
    from train.report import sha256_of

    folder = Path(directory) / TEST_DATA_DIR
    folder.mkdir()
    inputs = np.asarray(bits, np.float32)[:, :, None]
    files = {INPUT_FILE: _tensor_bytes(inputs, INPUT_NAME),
             OUTPUT_FILE: _tensor_bytes(logits, OUTPUT_NAME)}
    entries = []
    for name, data in files.items():
        write_file(folder / name, data)
        entries.append({"file": f"{TEST_DATA_DIR}/{name}", "sha256": sha256_of(folder / name),
                        "size_bytes": (folder / name).stat().st_size})
    return {"dir": TEST_DATA_DIR, "format": "onnx TensorProto (.pb)", "model": "model.onnx",
            "n": int(len(inputs)),
            "input": {"name": INPUT_NAME, "dtype": "float32", "shape": list(inputs.shape)},
            "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": list(np.shape(logits))},
            "files": entries}


def read_test_data(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, logits)`` read back from ``directory/test_data_set_0``."""
    import onnx
    from onnx import numpy_helper

    folder = Path(directory) / TEST_DATA_DIR
    arrays = []
    for name in (INPUT_FILE, OUTPUT_FILE):
        tensor = onnx.TensorProto()
        tensor.ParseFromString((folder / name).read_bytes())
        arrays.append(numpy_helper.to_array(tensor))
    return arrays[0], arrays[1]
