"""Reduced-precision variants in the runtime: --precision and load(precision=...)."""

import importlib.util
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

import runtime
from conftest import SHIPPED, damage, edit_manifest

pytestmark = pytest.mark.runtime

BACKENDS = ["tflite", "onnx"]
# The legacy tflite-runtime 2.14 (the numpy < 2 install) predates the per-channel int8
# FULLY_CONNECTED that the TFLite int8 variant uses: there it must say so, clearly.
LEGACY_LITERT = importlib.util.find_spec("ai_edge_litert") is None


def runs_int8(backend):
    return not (backend == "tflite" and LEGACY_LITERT)


def shipped_variants() -> dict:
    return json.loads((SHIPPED / "manifest.json").read_text()).get("variants", {})


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_selects_the_int8_file_and_counts_right(backend):
    entry = shipped_variants()["int8"][backend]
    if not runs_int8(backend):
        with pytest.raises(runtime.BackendUnavailableError, match="too old for this file.*FULLY_CONNECTED"):
            runtime.load(SHIPPED, backend, precision="int8")
        return
    predictor = runtime.load(SHIPPED, backend, precision="int8")
    assert predictor.precision == "int8" and predictor.backend.path.endswith(entry["file"])
    float32 = runtime.load(SHIPPED, backend, graph="recurrent")
    assert float32.precision == "float32" and float32.backend.path.endswith(f"model.{'tflite' if backend == 'tflite' else 'onnx'}")
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, (5_000, 50)).astype(np.uint8)
    assert (predictor.predict(bits).counts == bits.sum(axis=1)).all()
    assert predictor.predict(["0110", "1" * 120]).counts.tolist() == [2, 120]


def test_auto_takes_an_installed_backend_that_has_the_precision_and_runs_it():
    predictor = runtime.load(SHIPPED, precision="int8")
    assert predictor.backend.name in shipped_variants()["int8"] and runs_int8(predictor.backend.name)
    assert predictor.predict(["1101"]).counts.tolist() == [3]


def test_a_precision_the_model_lacks_lists_what_it_has():
    with pytest.raises(runtime.ModelError) as caught:
        runtime.load(SHIPPED, precision="float16")
    assert "it has: float32 (tflite, onnx), int8 (" in str(caught.value)
    with pytest.raises(runtime.UsageError, match="unknown precision"):
        runtime.load(SHIPPED, precision="int4")
    with pytest.raises(runtime.UsageError, match="unknown precision"):
        runtime.load(SHIPPED, precision=8)


def test_a_damaged_variant_is_refused_and_float32_still_loads(model_dir):
    damage(model_dir / shipped_variants()["int8"]["onnx"]["file"], "flip")
    with pytest.raises(runtime.ModelError, match="sha256"):
        runtime.load(model_dir, "onnx", precision="int8")
    assert runtime.load(model_dir, "onnx").predict(["11"]).counts.tolist() == [2]


def test_a_manifest_with_an_unknown_variant_is_refused(model_dir):
    edit_manifest(model_dir, lambda m: m["variants"].update(int4=m["variants"]["int8"]))
    with pytest.raises(runtime.ModelError, match="variants.int4: unknown precision"):
        runtime.load(model_dir)


def test_a_pickled_predictor_keeps_its_precision():
    predictor = runtime.load(SHIPPED, "tflite" if runs_int8("tflite") else "onnx", precision="int8")
    again = pickle.loads(pickle.dumps(predictor))
    assert again.precision == "int8" and again.backend.path == predictor.backend.path


def test_cli_precision():
    run = lambda *args: subprocess.run([sys.executable, "-m", "runtime.predict", "--model", str(SHIPPED), *args],
                                       input=b"0110\n" + b"1" * 77 + b"\n", capture_output=True, timeout=60)
    for backend in BACKENDS:
        done = run("--precision", "int8", "--backend", backend)
        if runs_int8(backend):
            assert done.returncode == 0 and done.stdout == b"2\t0\n77\t1\n", done.stderr
        else:
            assert done.returncode == 1 and b"too old for this file" in done.stderr
    absent = run("--precision", "float16")
    assert absent.returncode == 1 and b"has no float16 file" in absent.stderr
    assert absent.stderr.count(b"\n") == 1
    assert run("--precision", "int4").returncode == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_loading_and_predicting_print_nothing(backend):
    """A library is quiet: LiteRT's one-time "Created TensorFlow Lite XNNPACK delegate" note
    (written by C++ to file descriptor 2) is held back, in a fresh process."""
    code = ("import runtime; p = runtime.load(backend=%r); "
            "p.predict(['0110', '1' * 70]); runtime.load(backend=%r, precision='int8')"
            % (backend, backend if runs_int8(backend) else "onnx"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, cwd="/")
    assert done.returncode == 0 and done.stderr == b"" and done.stdout == b""


def test_other_output_on_descriptor_2_while_loading_is_kept():
    code = ("import os, runtime, runtime.backends.tflite as b\n"
            "real = b._import_litert()\n"
            "class Noisy:\n"
            "    def Interpreter(self, *args, **kwargs):\n"
            "        os.write(2, b'other text\\n')  # while LiteRT's note is being held back\n"
            "        return real.Interpreter(*args, **kwargs)\n"
            "b._import_litert = Noisy\n"
            "runtime.load(backend='tflite')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, cwd="/")
    assert done.returncode == 0 and done.stderr == b"other text\n"
