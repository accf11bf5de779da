"""The runtime stays slim: no TensorFlow, Keras or training code; lazy imports."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.runtime

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "train", "export", "tf2onnx", "onnx")


def run_python(code, *args):
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_prediction_loads_no_tensorflow_keras_train_or_export(tmp_path):
    data = tmp_path / "bits.txt"
    data.write_bytes(b"0110\n" + b"1" * 70 + b"\n")
    out = run_python(f"""
import sys
import runtime
from runtime import predict
for backend in ("tflite", "onnx"):
    result = runtime.load(backend=backend).predict(["0110", "1" * 70])
    assert result.counts.tolist() == [2, 70], result
status = predict.main(["--format", "jsonl", "-o", sys.argv[1], sys.argv[1]])
assert status == 0, status
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(",".join(loaded))
""", data)
    assert out.strip() == ""
    assert data.read_text() == '{"line": 1, "count": 2, "parity": 0}\n{"line": 2, "count": 70, "parity": 0}\n'


def test_import_runtime_is_cheap():
    out = run_python("""
import sys
import runtime
heavy = [m for m in ("numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime") if m in sys.modules]
print(",".join(heavy))
""")
    assert out.strip() == ""


def test_every_runtime_module_imports_on_its_own():
    for module in ("runtime", "runtime.errors", "runtime.backends", "runtime.manifest", "runtime.bits",
                   "runtime.streams", "runtime.lines", "runtime.formats", "runtime.predictor", "runtime.predict"):
        run_python(f"import {module}")
