"""The one-backend installs (the ``tflite`` and ``onnx`` extras): one backend is enough.

Run by ``make test-runtime`` in ``.venv-tflite`` and ``.venv-onnx`` with
``PARITY_EDGE_ONLY_BACKEND`` naming the backend installed there; skipped elsewhere (the
full installs test both backends, and the missing-package paths by blocking imports).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import runtime

ONLY = os.environ.get("PARITY_EDGE_ONLY_BACKEND", "")
OTHER = {"tflite": "onnx", "onnx": "tflite"}.get(ONLY, "")
PACKAGES = {"tflite": ("ai_edge_litert", "tflite_runtime"), "onnx": ("onnxruntime",)}
SHIPPED = Path(runtime.__file__).resolve().parent / "model"

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(not ONLY, reason="only in a one-backend install "
                                                  "(PARITY_EDGE_ONLY_BACKEND unset)")]


def run(module, *args, stdin=b""):
    return subprocess.run([sys.executable, "-m", module, *args], input=stdin, capture_output=True,
                          timeout=120, cwd="/")


def test_this_install_really_has_one_backend():
    assert any(importlib.util.find_spec(p) for p in PACKAGES[ONLY])
    assert not any(importlib.util.find_spec(p) for p in PACKAGES[OTHER])
    assert importlib.util.find_spec("tensorflow") is None


def test_auto_uses_the_installed_backend():
    predictor = runtime.load()
    assert predictor.backend.name == ONLY
    bits = np.random.default_rng(0).integers(0, 2, (2_000, 50)).astype(np.uint8)
    assert (predictor.predict(bits).counts == bits.sum(axis=1)).all()
    for precision in json.loads((SHIPPED / "manifest.json").read_text()).get("variants", {}):
        assert runtime.load(precision=precision).backend.name == ONLY


def test_asking_for_the_other_backend_says_which_extra_to_install():
    with pytest.raises(runtime.BackendUnavailableError) as caught:
        runtime.load(backend=OTHER)
    assert f'pip install "parity-edge[{OTHER}]"' in str(caught.value)
    assert caught.value.package == f"parity-edge[{OTHER}]"
    done = run("runtime.predict", "--backend", OTHER, stdin=b"01\n")
    assert done.returncode == 1 and done.stdout == b""
    assert f'parity-edge[{OTHER}]'.encode() in done.stderr and done.stderr.count(b"\n") == 1


def test_the_command_line_runs_on_the_installed_backend():
    done = run("runtime.predict", stdin=b"0110\n" + b"1" * 90 + b"\n")
    assert done.returncode == 0 and done.stdout == b"2\t0\n90\t0\n" and done.stderr == b""


def test_verify_checks_the_installed_backend():
    for backend in ("auto", "all"):
        done = run("runtime.verify", "--backend", backend)
        assert done.returncode == 0, done.stderr
        checks = done.stdout.decode().splitlines()[1:]
        # every graph the model has, through the one backend installed
        assert [c.split(":")[0] for c in checks] == [f"{ONLY} recurrent float32", f"{ONLY} folded float32"]
        assert all(c.endswith("passed") for c in checks)
    other = run("runtime.verify", "--backend", OTHER)
    assert other.returncode == 1 and f'parity-edge[{OTHER}]'.encode() in other.stderr
