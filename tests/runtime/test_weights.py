"""runtime.weights: the weights inside artifact files, and the proof of those files, without
TensorFlow. The recurrent files are the shipped model's; folded ONNX files are written here
byte by byte, so these tests need no converter."""

import json
import subprocess
import sys

import numpy as np
import pytest

from runtime.backends import open_backend
from runtime.errors import ModelError
from runtime.proof import certify_affine, linear_form
from runtime.weights import FoldedWeights, RecurrentWeights, WeightsError, prove_file, read_weights
from conftest import SHIPPED, varint

pytestmark = pytest.mark.runtime


# ------------------------------------------------------------------ a protobuf writer

def _field(number: int, value) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(value)) + value


def _tensor(name: str, array: np.ndarray, external: bool = False) -> bytes:
    data_type = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[array.dtype]
    body = b"".join(_field(1, d) for d in array.shape) + _field(2, data_type) + _field(8, name)
    if external:
        return body + _field(13, _field(1, "location") + _field(2, "weights.bin")) + _field(14, 1)
    return body + _field(9, array.astype(array.dtype.newbyteorder("<")).tobytes())


def _node(op_type: str, inputs, outputs, **ints) -> bytes:
    attributes = b"".join(_field(5, _field(1, k) + _field(3, v) + _field(20, 2)) for k, v in ints.items())
    return (b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs)
            + _field(4, op_type) + attributes)


def _value(name: str, dims) -> bytes:
    shape = b"".join(_field(1, _field(2, d) if isinstance(d, str) else _field(1, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, 1) + _field(2, shape)))


def folded_onnx(gains, base, transpose=False, external=False) -> bytes:
    """An ONNX file: bits [batch, n, 1] -> Reshape [batch, n] -> MatMul A -> Add c -> logits."""
    n = gains.shape[0]
    nodes = []
    flat_from = "bits"
    if transpose:  # reverses the bits: a different function of the same weights
        nodes.append(_node("Transpose", ["bits"], ["swapped"], perm=0))
        flat_from = "swapped"
    nodes += [_node("Reshape", [flat_from, "shape"], ["flat"]), _node("MatMul", ["flat", "A"], ["z"]),
              _node("Add", ["z", "c"], ["logits"])]
    graph = (b"".join(_field(1, node) for node in nodes) + _field(2, "folded")
             + _field(5, _tensor("shape", np.array([-1, n], np.int64)))
             + _field(5, _tensor("A", gains, external)) + _field(5, _tensor("c", base))
             + _field(11, _value("bits", ["batch", n, 1])) + _field(12, _value("logits", ["batch", n + 1])))
    return _field(1, 8) + _field(8, _field(1, "") + _field(2, 17)) + _field(7, graph)


def analytic_folded(n_bits=50):
    k = np.arange(n_bits + 1)
    return np.tile(4.0 * k, (n_bits, 1)).astype(np.float32), (-2.0 * k ** 2).astype(np.float32)


# --------------------------------------------------------------- the shipped model

@pytest.fixture(scope="module")
def shipped():
    return {fmt: read_weights(SHIPPED / f"model.{fmt}") for fmt in ("tflite", "onnx")}


def test_both_shipped_files_hold_the_same_recurrent_weights(shipped):
    tflite, onnx = shipped["tflite"], shipped["onnx"]
    assert isinstance(tflite, RecurrentWeights) and isinstance(onnx, RecurrentWeights)
    units = tflite.kernel.shape[1]
    assert tflite.kernel.shape == (1, units) and tflite.recurrent.shape == (units, units)
    assert tflite.dense_kernel.shape == (units, 51) and tflite.dense_bias.shape == (51,)
    for a, b in zip(tflite.arrays(), onnx.arrays()):
        assert (a is None and b is None) or (a.dtype == np.float32 and a.tobytes() == b.tobytes())


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_the_weights_read_are_the_ones_the_file_computes_with(shipped, fmt):
    """The file's own logits lie within the proof's round-off bound of the affine map the
    weights read back describe: a transposed or misplaced weight would be far off."""
    form = linear_form(*shipped[fmt].arrays())
    golden = np.load(SHIPPED / "golden.npz")
    logits = open_backend(fmt, SHIPPED / f"model.{fmt}").predict(golden["bits"])
    assert (np.abs(logits - (golden["bits"] @ form.gains + form.base)) <= form.error).all()


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_the_proof_of_a_shipped_file_is_the_proof_the_export_recorded(fmt):
    proof = prove_file(SHIPPED / f"model.{fmt}")
    recorded = json.loads((SHIPPED / "manifest.json").read_text())["exactness"]["proof"]
    assert proof and proof.graph == "recurrent" and proof.certificate.proved
    assert proof.certificate.margin == pytest.approx(recorded["margin"], rel=1e-9)
    assert list(proof.certificate.worst) == recorded["worst"]


@pytest.mark.parametrize("name", ["model.int8.tflite", "model.int8.onnx"])
def test_reduced_precision_files_are_refused_by_name(name):
    with pytest.raises(WeightsError, match=f"{name}: .*(int8|DynamicQuantizeLinear)"):
        read_weights(SHIPPED / name)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_a_damaged_file_is_a_model_error_naming_it(tmp_path, fmt):
    content = (SHIPPED / f"model.{fmt}").read_bytes()
    damaged = tmp_path / f"model.{fmt}"
    damaged.write_bytes(content[:len(content) // 2])
    with pytest.raises(ModelError, match=str(damaged)):
        read_weights(damaged)


def test_reading_and_proving_imports_no_tensorflow_train_or_export():
    code = f"""
import sys
from runtime.weights import prove_file
for name in ("model.tflite", "model.onnx"):
    assert prove_file({str(SHIPPED)!r} + "/" + name)
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in
      ("tensorflow", "keras", "train", "export", "onnx", "tf2onnx", "ai_edge_litert",
       "tflite_runtime", "onnxruntime"))))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


# ------------------------------------------------------------------- folded files

def test_a_folded_file_is_read_and_proved_and_counts(tmp_path):
    gains, base = analytic_folded()
    path = tmp_path / "model.folded.onnx"
    path.write_bytes(folded_onnx(gains, base))
    proof = prove_file(path)
    assert proof and proof.graph == "folded" and isinstance(proof.weights, FoldedWeights)
    assert proof.weights.gains.tobytes() == gains.tobytes() and proof.weights.base.tobytes() == base.tobytes()
    expected = certify_affine(gains, base).to_dict()
    assert {**proof.certificate.to_dict(), "seconds": None} == {**expected, "seconds": None}
    bits = np.random.default_rng(0).integers(0, 2, (1000, 50), dtype=np.uint8)
    logits = open_backend("onnx", path).predict(bits)
    assert (logits.argmax(axis=1) == bits.sum(axis=1)).all()


def test_a_perturbed_folded_file_runs_but_is_not_proved(tmp_path):
    gains, base = analytic_folded()
    gains[7, 20] += np.float32(2.5)
    path = tmp_path / "model.folded.onnx"
    path.write_bytes(folded_onnx(gains, base))
    open_backend("onnx", path)  # still a valid model
    proof = prove_file(path)
    assert not proof and "can be read as" in proof.certificate.reason


def test_a_folded_file_that_may_reorder_the_bits_is_refused(tmp_path):
    path = tmp_path / "model.folded.onnx"
    path.write_bytes(folded_onnx(*analytic_folded(), transpose=True))
    with pytest.raises(WeightsError, match=f"{path}: .*Transpose"):
        read_weights(path)


def test_weights_outside_the_file_are_refused(tmp_path):
    path = tmp_path / "model.folded.onnx"
    path.write_bytes(folded_onnx(*analytic_folded(), external=True))
    with pytest.raises(WeightsError, match=f"{path}: .*outside the file"):
        read_weights(path)
