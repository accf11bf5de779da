"""The runtime stays slim: no TensorFlow, Keras or training code; lazy imports."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.runtime

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "train", "export", "tf2onnx", "onnx", "ray", "pyarrow")


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
status = predict.main(["--format", "jsonl", "-o", sys.argv[2], sys.argv[1]])
assert status == 0, status
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(",".join(loaded))
""", data, tmp_path / "counts.jsonl")
    assert out.strip() == ""
    assert (tmp_path / "counts.jsonl").read_text() == '{"line": 1, "count": 2, "parity": 0}\n{"line": 2, "count": 70, "parity": 0}\n'


def test_import_runtime_is_cheap():
    out = run_python("""
import sys
import runtime
heavy = [m for m in ("numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime") if m in sys.modules]
print(",".join(heavy))
""")
    assert out.strip() == ""


def runtime_modules():
    """Every module of the installed runtime package, found by walking it, so that a new
    module is checked without anyone adding it here."""
    import pkgutil

    import runtime

    names = ["runtime"] + [info.name for info in pkgutil.walk_packages(runtime.__path__, "runtime.")]
    return [name for name in names if not name.startswith("runtime.model")]


def test_the_module_walk_finds_every_wing():
    names = runtime_modules()
    for expected in ("runtime.errors", "runtime.predictor", "runtime.predict", "runtime.batch",
                     "runtime.batch.__main__", "runtime.batch.ranges"):
        assert expected in names


def test_the_installed_copy_has_every_module_of_the_source():
    """A wheel that left a subpackage out (pyproject.toml's package list) would pass every
    other test that does not happen to import it; the TensorFlow-free environments run
    this on an installed copy."""
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "runtime"
    if not source.is_dir():
        pytest.skip("no source tree beside the tests")
    expected = set()
    for path in source.rglob("*.py"):
        parts = path.relative_to(source.parent).with_suffix("").parts
        expected.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert expected - set(runtime_modules()) == set()


@pytest.mark.parametrize("module", runtime_modules())
def test_every_runtime_module_imports_on_its_own(module):
    out = run_python(f"""
import sys
import {module}
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})))
""")
    assert out.strip() == ""


def test_a_one_line_run_imports_only_what_it_needs(tmp_path):
    """A cold start is mostly imports: a one-line input loads neither the second backend nor
    the thread pool, nor the modules the standard library would bring in for a temporary
    file, a hash or the terminal width."""
    data = tmp_path / "one.txt"
    data.write_bytes(b"0110\n")
    out = run_python("""
import sys
import numpy
from runtime.backends.tflite import _import_litert
_import_litert()
before = set(sys.modules)  # what numpy and LiteRT bring in themselves (numpy 1.x: hashlib)
from runtime.predict import main
assert main([sys.argv[1], "-o", sys.argv[1] + ".out"]) == 0
unneeded = ("onnxruntime", "concurrent.futures", "tempfile", "shutil", "_hashlib", "random", "lzma")
print(",".join(m for m in unneeded if m in sys.modules and m not in before))
""", data)
    assert out.strip() == ""
    assert (tmp_path / "one.txt.out").read_bytes() == b"2\t0\n"
