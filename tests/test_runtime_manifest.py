"""Finding and trusting a model: search order, manifest checks, damaged artifacts."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.manifest import find_manifest, read_manifest, verify_artifact

pytestmark = pytest.mark.runtime

SHIPPED = Path(runtime.__file__).resolve().parent / "model"


@pytest.fixture
def model_dir(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(SHIPPED, target)
    return target


def edit_manifest(directory, change):
    path = directory / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_shipped_manifest_is_complete():
    manifest = read_manifest(SHIPPED / "manifest.json")
    assert manifest.n_bits == 50 and manifest.n_classes == 51
    assert set(manifest.artifacts) == {"tflite", "onnx"}
    for name in manifest.artifacts:
        verify_artifact(manifest, name)


def test_search_order(tmp_path, monkeypatch, model_dir):
    monkeypatch.chdir(tmp_path)
    assert find_manifest().resolve() == SHIPPED / "manifest.json"   # no ./artifacts yet
    shutil.copytree(model_dir, tmp_path / "artifacts")
    assert find_manifest().resolve() == (tmp_path / "artifacts" / "manifest.json").resolve()
    assert find_manifest(model_dir) == model_dir / "manifest.json"
    assert find_manifest(model_dir / "manifest.json") == model_dir / "manifest.json"
    with pytest.raises(runtime.ModelError, match="not a model file"):
        find_manifest(model_dir / "model.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(runtime.ModelError, match="no model there"):
        find_manifest(tmp_path / "empty")


def test_an_artifacts_dir_without_manifest_is_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "artifacts").mkdir()
    assert find_manifest().resolve() == SHIPPED / "manifest.json"


def test_load_from_a_copy(model_dir):
    for backend in ("tflite", "onnx"):
        predictor = runtime.load(model_dir, backend=backend)
        assert predictor.predict(["1" * 50]).counts.tolist() == [50]


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "delete"])
def test_damaged_artifact_is_refused(model_dir, backend, damage):
    path = model_dir / f"model.{backend}"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "append":
        path.write_bytes(bytes(data) + b"\0")
    else:
        path.unlink()
    with pytest.raises(runtime.ModelError) as caught:
        runtime.load(model_dir, backend=backend)
    assert f"model.{backend}" in str(caught.value)
    # auto does not fall back to the other artifact: the model as a whole is damaged.
    if backend == "tflite":
        with pytest.raises(runtime.ModelError):
            runtime.load(model_dir)


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_a_flipped_byte_with_a_matching_checksum_never_gives_numbers(model_dir, backend):
    """Even a damaged file whose checksum was updated must fail loudly, not count wrong."""
    import hashlib

    path = model_dir / f"model.{backend}"
    data = bytearray(path.read_bytes())
    data[:8] = b"\xde\xad\xbe\xef\xde\xad\xbe\xef"  # the header: no runtime accepts this
    path.write_bytes(bytes(data))
    edit_manifest(model_dir, lambda m: m["artifacts"][backend].update(
        sha256=hashlib.sha256(bytes(data)).hexdigest()))
    with pytest.raises(runtime.ModelError):
        runtime.load(model_dir, backend=backend)


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_manifest_whose_shapes_lie_is_refused(model_dir, backend):
    def lie(m):
        m["n_bits"], m["n_classes"] = 40, 41
        m["input"]["shape"], m["output"]["shape"] = [None, 40, 1], [None, 41]

    edit_manifest(model_dir, lie)
    with pytest.raises(runtime.ModelError, match="manifest says"):
        runtime.load(model_dir, backend=backend)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(schema_version=2), "schema_version 2 is not supported"),
    (lambda m: m.update(schema_version=True), "schema_version True is not supported"),
    (lambda m: m.update(task="parity"), "task is 'parity'"),
    (lambda m: m.pop("artifacts"), "missing keys: artifacts"),
    (lambda m: m.pop("n_bits"), "missing keys: n_bits"),
    (lambda m: m.update(n_classes=50), "n_classes must be n_bits + 1"),
    (lambda m: m["input"].update(shape=[None, 50]), "input.shape"),
    (lambda m: m["input"].update(name="x"), "input.name"),
    (lambda m: m["output"].update(dtype="float16"), "output.dtype"),
    (lambda m: m["artifacts"]["onnx"].update(file="../model.onnx"), "file name beside the manifest"),
    (lambda m: m["artifacts"]["onnx"].update(file="/etc/passwd"), "file name beside the manifest"),
    (lambda m: m["artifacts"]["onnx"].pop("sha256"), "missing sha256"),
    (lambda m: m["artifacts"]["onnx"].update(sha256="abc"), "64 hex digits"),
    (lambda m: m["artifacts"]["onnx"].update(size_bytes="12"), "size_bytes"),
    (lambda m: m.update(artifacts={}), "non-empty"),
])
def test_bad_manifest_is_refused(model_dir, change, message):
    edit_manifest(model_dir, change)
    with pytest.raises(runtime.ModelError, match="bad manifest") as caught:
        runtime.load(model_dir)
    assert message in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe{}", b"[1, 2]"])
def test_unreadable_manifest_is_a_model_error(model_dir, content):
    (model_dir / "manifest.json").write_bytes(content)
    with pytest.raises(runtime.ModelError):
        runtime.load(model_dir)


def test_unknown_artifact_kinds_are_ignored_by_auto(model_dir):
    edit_manifest(model_dir, lambda m: m["artifacts"].update(
        coreml={"file": "model.mlmodel", "format": "coreml", "sha256": "0" * 64, "size_bytes": 1}))
    predictor = runtime.load(model_dir)
    assert predictor.predict(np.ones((1, 50), np.uint8)).counts.tolist() == [50]


def test_a_model_with_only_one_artifact(model_dir):
    edit_manifest(model_dir, lambda m: m["artifacts"].pop("tflite"))
    assert runtime.load(model_dir).backend.name == "onnx"
    with pytest.raises(runtime.ModelError, match="no tflite artifact"):
        runtime.load(model_dir, backend="tflite")
