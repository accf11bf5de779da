"""runtime.verify: the golden set replayed on this machine, without TensorFlow."""

import importlib.util
import io
import json
import zipfile

import numpy as np
import pytest

import runtime
from runtime.verify import verify_model
from conftest import SHIPPED, damage, edit_manifest, relist, verify_cli

pytestmark = pytest.mark.runtime

BACKENDS = ["tflite", "onnx"]


def rewrite_golden(directory, change):
    """Change the golden arrays and record the new file's size and sha256 in the manifest,
    so that only the content, not the checksum, is wrong."""
    path = directory / "golden.npz"
    with np.load(path) as arrays:
        data = {k: arrays[k].copy() for k in arrays.files}
    change(data)
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    path.write_bytes(buffer.getvalue())
    relist(directory, path.name)


def test_the_shipped_model_passes_on_every_backend():
    result = verify_model(SHIPPED, "all")
    assert result and [(c.backend, c.graph) for c in result.checks] == [
        (backend, graph) for backend in BACKENDS for graph in ("recurrent", "folded")]
    for check in result.checks:
        assert check.vectors >= 51 * 4 and check.counts_agreeing == check.vectors
        assert check.worst <= 1.0 and check.passed and check.error is None


def test_cli_prints_one_line_per_backend_and_exits_0():
    done = verify_cli("--model", str(SHIPPED), "--backend", "all")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"model: {SHIPPED}"
    assert [line.split(":", 1)[0] for line in lines[1:]] == [
        f"{backend} {graph} float32" for backend in BACKENDS for graph in ("recurrent", "folded")]
    assert all(line.endswith(": passed") and "counts agree" in line for line in lines[1:])
    assert done.stderr == ""


def test_auto_checks_the_backend_load_picks():
    picked = runtime.load(SHIPPED)
    result = verify_model(SHIPPED, graph="auto")
    assert [(c.backend, c.graph) for c in result.checks] == [(picked.backend.name, picked.graph)]
    # the default is every graph of that backend
    assert [(c.backend, c.graph) for c in verify_model(SHIPPED).checks] == [
        (picked.backend.name, "recurrent"), (picked.backend.name, "folded")]


@pytest.mark.parametrize("precision", ["int8"])
def test_the_shipped_variants_pass_too(precision):
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    backends = sorted(manifest["variants"].get(precision, {}))
    assert backends, "the shipped model carries no int8 variant"
    result = verify_model(SHIPPED, "all", precision)
    assert result and sorted(c.backend for c in result.checks) == backends
    legacy = importlib.util.find_spec("ai_edge_litert") is None
    for check in result.checks:
        # The legacy tflite-runtime 2.14 is too old for the TFLite int8 file: not run, and said.
        assert check.skipped == (legacy and check.backend == "tflite"), check
        assert check.passed == (not check.skipped), check
    done = verify_cli("--model", str(SHIPPED), "--backend", "all", "--precision", precision)
    assert done.returncode == 0 and "the counts decide" in done.stdout
    assert ("tflite recurrent int8: not run here: " in done.stdout) == legacy


def test_logits_off_by_more_than_the_tolerance_fail(model_dir):
    rewrite_golden(model_dir, lambda d: d.update(logits=d["logits"] + 0.01 * np.abs(d["logits"]).max()))
    done = verify_cli("--model", str(model_dir), "--backend", "all")
    assert done.returncode == 1
    assert done.stdout.count("FAILED") == 4 and "counts agree" in done.stdout  # 2 backends x 2 graphs


def test_golden_counts_that_are_not_the_bits_counts_are_damage(model_dir):
    rewrite_golden(model_dir, lambda d: d.update(counts=(d["counts"] + 1) % 51))
    done = verify_cli("--model", str(model_dir))
    assert done.returncode == 1 and "damaged golden set" in done.stderr


def test_a_damaged_or_missing_golden_set_is_one_line(model_dir):
    damage(model_dir / "golden.npz", "flip")
    done = verify_cli("--model", str(model_dir))
    assert done.returncode == 1 and "sha256" in done.stderr and done.stderr.count("\n") == 1
    edit_manifest(model_dir, lambda manifest: manifest.pop("golden"))
    done = verify_cli("--model", str(model_dir))
    assert done.returncode == 1 and "no golden set" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_golden_file_that_is_not_an_npz_is_refused(model_dir):
    path = model_dir / "golden.npz"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bits.npy", b"not an array")
    path.write_bytes(buffer.getvalue())
    relist(model_dir, path.name)
    with pytest.raises(runtime.ModelError, match="damaged golden set"):
        verify_model(model_dir)


def test_bad_options_exit_2_and_absent_precisions_exit_1():
    assert verify_cli("--backend", "tpu").returncode == 2
    done = verify_cli("--model", str(SHIPPED), "--precision", "float16")
    assert done.returncode == 1 and "has no float16 files; it has: float32 (tflite, onnx)" in done.stderr
    with pytest.raises(runtime.UsageError):
        verify_model(SHIPPED, precision="int4")
