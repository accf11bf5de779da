"""runtime.signing: a model directory is trusted only as signed, by the trusted key.

Signs a copy of the shipped model with export.signing (no TensorFlow needed) and checks
each way verify_signature must refuse. Needs the sign extra; skipped without it.
"""

import json
import shutil
from pathlib import Path

import pytest

import runtime
from runtime.errors import ModelError, SignatureError
from conftest import copy_model, edit_manifest, relist

pytest.importorskip("model_signing", reason="needs the sign extra: pip install 'parity-edge[sign]'")

from export.errors import ExportError  # noqa: E402
from export.signing import SIGNATURE_NAME, sign_directory  # noqa: E402
from runtime.signing import signed_digests, signed_files, verify_signature  # noqa: E402

pytestmark = pytest.mark.runtime


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _published(directory: Path) -> list[str]:
    manifest = json.loads((directory / "manifest.json").read_text())
    names = [e["file"] for e in manifest["artifacts"].values()]
    names += [e["file"] for by in (manifest.get("variants") or {}).values() for e in by.values()]
    names += [e["file"] for e in ((manifest.get("folded") or {}).get("artifacts") or {}).values()]
    names.append(manifest["golden"]["file"])
    return [*names, "manifest.json"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    return {"ours": _key_pair(directory, "ours"), "theirs": _key_pair(directory, "theirs")}


@pytest.fixture
def signed(tmp_path, keys):
    target = copy_model(tmp_path / "model")
    (target / "model.keras").write_bytes(b"not published, not signed")
    sign_directory(target, _published(target), keys["ours"][0])
    return target


def backdate(manifest):
    """Another model's manifest: this one, said to be made in 2000."""
    manifest["created"] = "2000-01-01T00:00:00Z"


def _refused(directory, public, *words):
    with pytest.raises(SignatureError) as caught:
        verify_signature(directory, public)
    assert isinstance(caught.value, ModelError)
    for word in words:
        assert word in str(caught.value)
    return caught.value


def test_a_signed_directory_verifies_and_names_what_it_covers(signed, keys):
    covered = verify_signature(signed, keys["ours"][1])
    assert covered == set(_published(signed)) == signed_files(signed / SIGNATURE_NAME)
    assert "model.keras" not in covered
    import hashlib

    digests = signed_digests(signed / SIGNATURE_NAME)
    assert digests["manifest.json"] == hashlib.sha256((signed / "manifest.json").read_bytes()).hexdigest()
    assert not [p.name for p in signed.iterdir() if p.name.startswith(".")]  # no temp file left


def test_files_the_signature_does_not_cover_may_come_and_change(signed, keys):
    (signed / "model.keras").write_bytes(b"changed")
    (signed / "bench.md").write_text("written after signing")
    verify_signature(signed, keys["ours"][1])


def test_unsigned_is_refused(signed, keys):
    (signed / SIGNATURE_NAME).unlink()
    _refused(signed, keys["ours"][1], "not signed")


def test_another_key_is_refused(signed, keys):
    _refused(signed, keys["theirs"][1], "signature check failed")


def test_signed_by_another_key_is_refused(tmp_path, keys):
    target = copy_model(tmp_path / "model")
    sign_directory(target, _published(target), keys["theirs"][0])
    _refused(target, keys["ours"][1], "signature check failed")
    verify_signature(target, keys["theirs"][1])


def test_a_tampered_manifest_is_refused(signed, keys):
    edit_manifest(signed, lambda manifest: manifest.update(n_bits=49))
    _refused(signed, keys["ours"][1], "manifest.json")


def test_a_swapped_artifact_with_a_matching_manifest_entry_is_refused(signed, keys):
    """The manifest's hashes alone would accept this: the entry was rewritten to match."""
    from runtime.loader import verify_artifact
    from runtime.manifest import read_manifest  # the runtime's own check ...

    onnx = signed / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    relist(signed, onnx.name)
    verify_artifact(read_manifest(signed / "manifest.json"), "onnx")  # ... passes;
    _refused(signed, keys["ours"][1], "model.onnx")  # the signature does not


def test_a_swapped_artifact_alone_is_refused(signed, keys):
    tflite = signed / "model.tflite"
    tflite.write_bytes(tflite.read_bytes()[:-1] + bytes([tflite.read_bytes()[-1] ^ 1]))
    _refused(signed, keys["ours"][1], "model.tflite")


def test_a_missing_signed_file_is_refused(signed, keys):
    (signed / "golden.npz").unlink()
    _refused(signed, keys["ours"][1], "golden.npz")


def test_the_signature_of_another_model_is_refused(signed, tmp_path, keys):
    other = copy_model(tmp_path / "other")
    edit_manifest(other, backdate)
    sign_directory(other, _published(other), keys["ours"][0])
    shutil.copy(other / SIGNATURE_NAME, signed / SIGNATURE_NAME)
    _refused(signed, keys["ours"][1], "manifest.json")


def test_a_signature_that_leaves_out_a_listed_file_is_refused(tmp_path, keys):
    target = copy_model(tmp_path / "model")
    sign_directory(target, [n for n in _published(target) if n != "model.onnx"], keys["ours"][0])
    _refused(target, keys["ours"][1], "does not cover model.onnx")


def test_a_signature_that_leaves_out_a_folded_file_is_refused(tmp_path, keys):
    target = copy_model(tmp_path / "model")
    assert "model.folded.tflite" in _published(target)
    sign_directory(target, [n for n in _published(target) if n != "model.folded.tflite"], keys["ours"][0])
    _refused(target, keys["ours"][1], "does not cover model.folded.tflite")


def test_a_damaged_signature_and_a_missing_key_are_refused(signed, keys, tmp_path):
    (signed / SIGNATURE_NAME).write_text("{not json")
    _refused(signed, keys["ours"][1], "signature check failed")
    _refused(signed, tmp_path / "nowhere.pub", "no such public key")


def test_signing_with_a_missing_or_unusable_key_is_an_export_error(tmp_path, keys):
    target = copy_model(tmp_path / "model")
    with pytest.raises(ExportError, match="no such key"):
        sign_directory(target, _published(target), tmp_path / "absent.pem")
    with pytest.raises(ExportError, match="cannot sign"):
        sign_directory(target, _published(target), keys["ours"][1])  # a public key
    assert not (target / SIGNATURE_NAME).exists()
    assert not [p.name for p in target.iterdir() if p.name.startswith(".")]


# ---- the key on the way in: load, verify, the command lines -------------------------------

def _run(module, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, timeout=300, input="0110\n")


def test_load_and_verify_take_a_model_its_key_signed(signed, keys):
    predictor = runtime.load(signed, trusted_key=keys["ours"][1])
    assert predictor.predict(["0110", "1" * 70]).counts.tolist() == [2, 70]
    assert predictor.trusted_key == str(keys["ours"][1])
    assert runtime.verify_model(signed, trusted_key=keys["ours"][1])


@pytest.mark.parametrize("damage", ["unsigned", "other key", "tampered"])
def test_load_and_verify_refuse_before_opening_a_file(signed, keys, damage, monkeypatch):
    key = keys["theirs" if damage == "other key" else "ours"][1]
    if damage == "unsigned":
        (signed / SIGNATURE_NAME).unlink()
    if damage == "tampered":
        edit_manifest(signed, backdate)
    import runtime.backends

    def never(*args, **kwargs):
        raise AssertionError("a backend opened a file of a model that is not trusted")

    monkeypatch.setattr(runtime.backends, "open_backend", never)
    with pytest.raises(SignatureError):
        runtime.load(signed, trusted_key=key)
    with pytest.raises(SignatureError):
        runtime.verify_model(signed, trusted_key=key)


def test_the_manifest_read_must_be_the_manifest_signed(signed, keys, monkeypatch):
    """A manifest swapped after the signature was checked (here: the library's check is made
    to pass on the old one) is refused by its digest."""
    import runtime.signing

    class Passes:  # model-signing's verifier, saying yes to anything
        def __getattr__(self, name):
            return lambda *args, **kwargs: self

    edit_manifest(signed, backdate)
    monkeypatch.setattr(runtime.signing, "_verifying", Passes)
    with pytest.raises(SignatureError, match="not the manifest that was signed"):
        runtime.load(signed, trusted_key=keys["ours"][1])


def test_a_pickled_predictor_checks_the_signature_again(signed, keys):
    import pickle

    predictor = runtime.load(signed, trusted_key=keys["ours"][1])
    data = pickle.dumps(predictor)
    assert pickle.loads(data).predict(["111"]).counts.tolist() == [3]
    (signed / SIGNATURE_NAME).unlink()
    with pytest.raises(SignatureError, match="not signed"):
        pickle.loads(data)


def test_a_trusted_key_that_is_not_a_path_is_a_usage_error(signed):
    with pytest.raises(runtime.UsageError, match="trusted_key"):
        runtime.load(signed, trusted_key=3)


@pytest.mark.parametrize("module", ["runtime.predict", "runtime.verify"])
def test_the_command_lines_take_a_trusted_key(signed, keys, module):
    model = ["--model", signed]
    ok = _run(module, *model, "--trusted-key", keys["ours"][1])
    assert ok.returncode == 0, ok.stderr
    refused = _run(module, *model, "--trusted-key", keys["theirs"][1])
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "signed by another key" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_runtime_batch_checks_the_signature_on_the_driver_before_ray_starts(signed, keys, tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "bits.txt").write_text("0110\n")
    (signed / SIGNATURE_NAME).unlink()
    done = _run("runtime.batch", tmp_path / "bits.txt", "-o", tmp_path / "out", "--model", signed,
                "--trusted-key", keys["ours"][1])
    assert done.returncode == 1 and "not signed" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
