"""Two exports of one model.keras publish the same bytes; the ONNX test data replays in a
runner that is not ours; a signed export verifies; the manifest says where it came from.

A tiny untrained model (as in test_export.py). One export runs in this process, the other
in a fresh ``python -m export`` with another hash seed: tf2onnx's names come from a
per-process counter and its order from Python sets, so both must be shown harmless. The
manifest's ``created`` and timings, and the parity report's timings, differ legitimately;
every other published file (and the manifest's entries for them) is compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.config import ExportConfig

from test_export import FAST, FAST_FLAGS, ROOT, _save_tiny_model

pytestmark = pytest.mark.numerics


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key_pair(directory: Path) -> tuple[Path, Path]:
    for tool in (["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "private.pem"],
                 ["ec", "-in", "private.pem", "-pubout", "-out", "public.pem"]):
        subprocess.run(["openssl", *tool], cwd=directory, check=True, capture_output=True)
    return directory / "private.pem", directory / "public.pem"


def _artifact_files(manifest: dict) -> list[str]:
    names = [e["file"] for e in manifest["artifacts"].values()]
    names.append(manifest["golden"]["file"])
    names += [e["file"] for e in manifest["golden"]["onnx_test_data"]["files"]]
    return names


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    """(first, second): one model exported in this process, signed, and again in a fresh one."""
    pytest.importorskip("model_signing", reason="needs the sign extra")
    from export.pipeline import run_export

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a key pair")
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    keys = _key_pair(tmp_path_factory.mktemp("keys"))
    _save_tiny_model(first, "rnn")
    shutil.copy(first / "model.keras", second / "model.keras")
    outcome = run_export(ExportConfig(out=first, sign_key=keys[0], **FAST), log=lambda _: None)
    assert outcome, outcome.parity.lines()
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "export", "--out", str(second), *FAST_FLAGS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return first, second, keys


def test_two_exports_publish_identical_artifacts(two_exports):
    first, second, _ = two_exports
    one = json.loads((first / "manifest.json").read_text())
    two = json.loads((second / "manifest.json").read_text())
    names = _artifact_files(one)
    assert {"model.onnx", "model.tflite", "golden.npz", "test_data_set_0/input_0.pb"} <= set(names)
    assert names == _artifact_files(two)
    for name in names:
        assert _sha(first / name) == _sha(second / name), f"{name} differs between two exports"
    for key in ("artifacts", "golden", "input", "output", "source"):
        assert one[key] == two[key], key


def test_onnx_test_data_replays_in_the_onnx_reference_evaluator(two_exports):
    """onnx.reference is ONNX's own numpy evaluator: not onnxruntime, not our runtime."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    from export.comparison import ATOL, RTOL

    first, _, _ = two_exports
    folder = first / "test_data_set_0"
    tensors = []
    for name in ("input_0.pb", "output_0.pb"):
        tensor = onnx.TensorProto()
        tensor.ParseFromString((folder / name).read_bytes())
        tensors.append(tensor)
    model = onnx.load(first / "model.onnx")
    assert tensors[0].name == model.graph.input[0].name
    assert tensors[1].name == model.graph.output[0].name
    inputs, expected = (onnx.numpy_helper.to_array(t) for t in tensors)
    assert inputs.dtype == np.float32 and inputs.shape[1:] == (50, 1)
    golden = np.load(first / "golden.npz")
    assert np.array_equal(inputs[:, :, 0], golden["bits"])
    (logits,) = ReferenceEvaluator(model).run(None, {tensors[0].name: inputs})
    allowed = ATOL + RTOL * np.abs(expected).max(axis=1)
    assert (np.abs(logits - expected).max(axis=1) <= allowed).all()
    # An untrained model counts nothing right; the expected logits and the replay agree.
    assert np.array_equal(logits.argmax(axis=1), expected.argmax(axis=1))


def test_a_changed_test_data_file_fails_the_manifest_check(two_exports, tmp_path):
    from runtime.loader import model_manifest, verify_files

    first, _, _ = two_exports
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    assert verify_files(model_manifest(copy)) == []
    pb = copy / "test_data_set_0" / "output_0.pb"
    pb.write_bytes(pb.read_bytes()[:-4] + b"\0\0\0\0")
    assert any("output_0.pb" in p for p in verify_files(model_manifest(copy)))


def test_the_signed_export_verifies_and_the_unsigned_one_has_no_signature(two_exports):
    from runtime.errors import SignatureError
    from runtime.signing import verify_signature

    first, second, (_, public) = two_exports
    covered = verify_signature(first, public)
    assert {"manifest.json", "model.onnx", "test_data_set_0/output_0.pb"} <= covered
    assert "model.keras" not in covered
    with pytest.raises(SignatureError, match="not signed"):
        verify_signature(second, public)


def test_the_manifest_records_its_provenance(two_exports):
    first, _, _ = two_exports
    manifest = json.loads((first / "manifest.json").read_text())
    provenance = manifest["provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert provenance["commit"] == head.stdout.strip()
        assert isinstance(provenance["dirty"], bool)
    assert provenance["lock_sha256"] == _sha(ROOT / "requirements.lock")
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        assert provenance["machine"]["avx512"] == ("avx512f" in cpuinfo.read_text())
    assert manifest["export"]["settings"]["signed"] is True
    assert "private.pem" not in json.dumps(manifest)


def test_the_runtime_still_reads_and_verifies_the_new_export(two_exports):
    """The new manifest keys (onnx_test_data, provenance) and files leave the runtime's own
    reading and golden-set check as they were."""
    import runtime

    first, _, _ = two_exports
    verification = runtime.verify_model(first, backend="all")
    # An untrained model miscounts, so the checks fail; they must have run, on both files.
    assert sorted(c.backend for c in verification.checks) == ["onnx", "tflite"]
    assert all(c.error is None and not c.skipped for c in verification.checks)
    assert all(c.max_abs_diff is not None for c in verification.checks)


def test_a_missing_sign_key_fails_before_anything_is_converted(tmp_path, capsys):
    from export.__main__ import main

    _save_tiny_model(tmp_path, "rnn")
    assert main(["--out", str(tmp_path), *FAST_FLAGS, "--sign-key", str(tmp_path / "no.pem")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no.pem: no such key file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_the_lstm_operator_form_converts_to_the_same_bytes_twice():
    """The default ONNX form for an LSTM: tf2onnx's own LSTM operator, not the unrolled twin.
    (The Loop form of rnn and gru is not: see the README.)"""
    import onnx

    from export.convert import to_onnx
    from train.model import build_model

    model = build_model("lstm", 8, 50, seed=1)
    first, second = to_onnx(model), to_onnx(model)
    onnx.checker.check_model(first, full_check=True)
    assert first.SerializeToString() == second.SerializeToString()


def test_a_published_folder_replaces_the_previous_one(tmp_path):
    """os.replace cannot move a folder onto one that has files: the commit moves the old one
    out of the way first, and nothing of it is left."""
    from export.publish import Staging

    for content in (b"old", b"new"):
        with Staging(tmp_path) as staging:
            (staging.path / "test_data_set_0").mkdir()
            (staging.path / "test_data_set_0" / "input_0.pb").write_bytes(content)
            (staging.path / "manifest.json").write_bytes(content)
            staging.commit(["test_data_set_0"], last="manifest.json")
    assert (tmp_path / "test_data_set_0" / "input_0.pb").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "test_data_set_0"]
