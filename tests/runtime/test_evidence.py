"""runtime.evidence and verify --prove: every float32 file's proof re-derived from the bytes
that were checked, and held against the one the manifest records."""

import json
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.verify import verify_model
from runtime.weights import read_weights
from conftest import SHIPPED, edit_manifest, relist, verify_cli
from test_weights import folded_onnx  # the byte-by-byte ONNX writer: no onnx package needed

pytestmark = pytest.mark.runtime

FILES = [(backend, graph) for backend in ("tflite", "onnx") for graph in ("recurrent", "folded")]


def replace_folded_onnx(directory, change):
    """Rewrite the folded ONNX file with changed weights (a valid model still) and record its
    new sha256 and size, so that only its weights are wrong."""
    weights = read_weights(SHIPPED / "model.folded.onnx")
    gains, base = weights.gains.copy(), weights.base.copy()
    change(gains, base)
    path = directory / "model.folded.onnx"
    path.write_bytes(folded_onnx(gains, base))
    relist(directory, path.name)
    return path


def test_the_shipped_model_proves_every_file_it_runs():
    result = verify_model(SHIPPED, "all", prove=True)
    assert result and [(c.backend, c.graph) for c in result.checks] == FILES
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    for check in result.checks:
        recorded = (manifest["folded"]["artifacts"][check.backend]["proof"] if check.graph == "folded"
                    else manifest["exactness"]["proof"])
        assert check.proof.proved and check.proof.worst == tuple(recorded["worst"])
        assert check.proof.margin == pytest.approx(recorded["margin"], rel=1e-9)
        assert check.proof.seconds < 1.0
    done = verify_cli("--backend", "all", "--prove")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()[1:]
    assert len(lines) == 4 and all("proof re-derived: margin 1.873" in line and "allowance" in line
                                   and line.endswith("passed") for line in lines)


def test_without_prove_no_proof_is_derived():
    assert all(check.proof is None for check in verify_model(SHIPPED, "all").checks)


def test_a_folded_file_with_other_weights_fails_only_when_proved(model_dir):
    """A small change to a gain of the tightest pair's class (50 ones, read as 49) keeps the
    golden set's logits within tolerance, so only the proof sees it."""
    path = replace_folded_onnx(model_dir, lambda gains, base: gains.__setitem__((3, 50), gains[3, 50] - 1e-4))
    assert verify_model(model_dir, "onnx", graph="folded")
    result = verify_model(model_dir, "onnx", graph="folded", prove=True)
    assert not result and "model.folded.onnx: its proof differs from the manifest's: its " in result.checks[0].error
    done = verify_cli("--model", str(model_dir), "--backend", "onnx", "--prove")
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and str(path) in failed[0] and failed[0].startswith("onnx folded float32:")
    assert "Traceback" not in done.stderr


def test_a_folded_file_whose_weights_do_not_prove_fails(model_dir):
    path = replace_folded_onnx(model_dir, lambda gains, base: base.__setitem__(20, base[20] + 50.0))
    done = verify_cli("--model", str(model_dir), "--backend", "onnx", "--graph", "folded", "--prove")
    assert done.returncode == 1
    assert f"{path}: its weights do not prove exact: " in done.stdout


def test_a_recorded_proof_that_differs_fails(model_dir):
    def change_margin(manifest):
        manifest["exactness"]["proof"]["margin"] += 0.001

    edit_manifest(model_dir, change_margin)
    result = verify_model(model_dir, "all", prove=True)
    assert [(c.graph, c.passed) for c in result.checks] == [
        ("recurrent", False), ("folded", True), ("recurrent", False), ("folded", True)]
    assert all("model." in c.error and "its margin is" in c.error for c in result.checks if not c.passed)


def test_prove_takes_float32_files_only():
    with pytest.raises(runtime.UsageError, match="only float32 files carry a proof"):
        verify_model(SHIPPED, precision="int8", prove=True)
    done = verify_cli("--precision", "int8", "--prove")
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_the_proof_reads_the_bytes_that_were_checked(model_dir, monkeypatch):
    """The file is swapped for another after its sha256 check: the proof still reads what was
    checked, so it proves; reading the path again would have seen the other file."""
    import runtime.files
    import runtime.loader

    original = runtime.files.read_regular

    def read_then_swap(path, *args, **kwargs):
        data = original(path, *args, **kwargs)
        if str(path).endswith("model.folded.onnx"):
            Path(path).write_bytes(b"swapped after its check")
        return data

    monkeypatch.setattr(runtime.loader, "read_regular", read_then_swap)
    assert verify_model(model_dir, "onnx", graph="folded", prove=True)
    assert np.frombuffer((model_dir / "model.folded.onnx").read_bytes()[:7], np.uint8).tobytes() == b"swapped"
