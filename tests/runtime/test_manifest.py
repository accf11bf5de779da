"""Finding and trusting a model: search order, manifest checks, damaged artifacts."""

import hashlib
import json
import shutil

import numpy as np
import pytest

import runtime
from runtime.loader import find_manifest, model_manifest, verify_artifact, verify_files
from runtime.manifest import read_manifest
from conftest import DAMAGES, SHIPPED, copy_model, damage, edit_manifest, relist

pytestmark = pytest.mark.runtime


def test_shipped_manifest_is_complete():
    manifest = read_manifest(SHIPPED / "manifest.json")
    assert manifest.n_bits == 50 and manifest.n_classes == 51
    assert set(manifest.artifacts) == {"tflite", "onnx"}
    for name in manifest.artifacts:
        verify_artifact(manifest, name)


def test_search_order(tmp_path, monkeypatch, model_dir):
    monkeypatch.chdir(tmp_path)
    assert find_manifest().resolve() == SHIPPED / "manifest.json"   # no ./artifacts yet
    copy_model(tmp_path / "artifacts")
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


@pytest.mark.parametrize("graph", ["recurrent", "folded"])
@pytest.mark.parametrize("backend", ["tflite", "onnx"])
@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_artifact_is_refused(model_dir, backend, how, graph):
    name = f"model.{backend}" if graph == "recurrent" else f"model.folded.{backend}"
    damage(model_dir / name, how)
    with pytest.raises(runtime.ModelError) as caught:
        runtime.load(model_dir, backend=backend, graph=graph)
    assert name in str(caught.value)
    # auto does not fall back to the other artifact: the model as a whole is damaged.
    if backend == "tflite":
        with pytest.raises(runtime.ModelError):
            runtime.load(model_dir, graph=graph)


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_a_flipped_byte_with_a_matching_checksum_never_gives_numbers(model_dir, backend):
    """Even a damaged file whose checksum was updated must fail loudly, not count wrong."""
    path = model_dir / f"model.{backend}"
    data = bytearray(path.read_bytes())
    data[:8] = b"\xde\xad\xbe\xef\xde\xad\xbe\xef"  # the header: no runtime accepts this
    path.write_bytes(bytes(data))
    relist(model_dir, path.name)
    with pytest.raises(runtime.ModelError):
        runtime.load(model_dir, backend=backend, graph="recurrent")


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
    (lambda m: m["golden"].update(onnx_test_data={"files": [{"file": "../x.pb", "sha256": "0" * 64,
                                                             "size_bytes": 1}]}), "in one folder"),
    (lambda m: m["golden"].update(onnx_test_data={"files": [{"file": "a/b/x.pb", "sha256": "0" * 64,
                                                             "size_bytes": 1}]}), "in one folder"),
    (lambda m: m["golden"].update(onnx_test_data={"files": "x.pb"}), "'files' are objects"),
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
    edit_manifest(model_dir, lambda m: (m["artifacts"].pop("tflite"), m.pop("folded")))
    assert runtime.load(model_dir).backend.name == "onnx"
    with pytest.raises(runtime.ModelError, match="has no float32 tflite file; it has: float32 \(onnx\)"):
        runtime.load(model_dir, backend="tflite")


# --- hostile model directories ------------------------------------------------------------

def run_load(code, timeout=60):
    """Run ``code`` (which loads a model) in a fresh interpreter: a hang or a crash there fails
    this test instead of taking the test session with it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


LOAD = """
import sys, runtime
try:
    runtime.load({model!r}, backend={backend!r}, graph="recurrent")
except runtime.ModelError as exc:
    print(type(exc).__name__, exc)
    sys.exit(3)
"""


def test_a_manifest_nested_100000_deep_is_a_model_error(model_dir):
    (model_dir / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    status, out, err = run_load(LOAD.format(model=str(model_dir), backend="auto"))
    assert (status, err) == (3, "")
    assert "nested more than 32 deep" in out


def test_a_manifest_nested_deeper_than_its_schema_is_refused(model_dir):
    # Deep enough to break code that walks it recursively, shallow enough for json.
    edit_manifest(model_dir, lambda m: m.update(notes=json.loads("[" * 40 + "]" * 40)))
    with pytest.raises(runtime.ModelError, match="nested more than 32 deep"):
        runtime.load(model_dir)


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_an_artifact_linked_to_dev_zero_is_refused_at_once(model_dir, backend):
    """/dev/zero has size 0: a manifest saying 0 bytes would have it read until memory ran out."""
    path = model_dir / f"model.{backend}"
    path.unlink()
    path.symlink_to("/dev/zero")
    edit_manifest(model_dir, lambda m: m["artifacts"][backend].update(size_bytes=0))
    status, out, err = run_load(LOAD.format(model=str(model_dir), backend=backend))
    assert (status, err) == (3, "")
    assert f"model.{backend}: cannot read artifact: it is a symbolic link" in out


@pytest.mark.parametrize("what", ["artifact", "manifest"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(model_dir, what):
    import os

    path = model_dir / ("model.onnx" if what == "artifact" else "manifest.json")
    if what == "manifest":
        shutil.copy(path, model_dir / "real.json")
    path.unlink()
    os.mkfifo(path)
    model = model_dir / "real.json" if what == "manifest" else model_dir
    code = LOAD.format(model=str(model), backend="onnx")
    if what == "manifest":  # straight at the FIFO: find_manifest would not call it a model
        code = code.replace(f"runtime.load({str(model)!r}", f"runtime.manifest.read_manifest({str(path)!r}")
        code = code.replace(", backend='onnx', graph=\"recurrent\")", ")").replace("import sys, runtime", "import sys, runtime, runtime.manifest")
    status, out, err = run_load(code)
    assert (status, err) == (3, "")
    assert "it is a FIFO, not a regular file" in out


def test_an_oversized_manifest_is_refused_before_it_is_read(model_dir):
    from runtime.limits import MAX_MANIFEST_BYTES

    with open(model_dir / "manifest.json", "r+b") as f:
        f.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(runtime.ModelError, match=f"more than the {MAX_MANIFEST_BYTES} bytes a manifest"):
        runtime.load(model_dir)


def test_a_manifest_directory_or_artifact_directory_is_refused(model_dir):
    (model_dir / "model.onnx").unlink()
    (model_dir / "model.onnx").mkdir()
    with pytest.raises(runtime.ModelError, match="it is a directory, not a regular file"):
        runtime.load(model_dir, backend="onnx", graph="recurrent")
    with pytest.raises(runtime.ModelError, match="it is a directory"):
        read_manifest(model_dir)


def test_values_quoted_from_a_manifest_are_shortened(model_dir):
    edit_manifest(model_dir, lambda m: m.update(task="x" * 500_000))
    with pytest.raises(runtime.ModelError, match="task is 'x") as caught:
        runtime.load(model_dir)
    assert len(str(caught.value)) < 300


def test_the_bytes_checked_are_the_bytes_opened(model_dir, monkeypatch):
    """The artifact is read once: a file swapped after its check cannot be what gets loaded."""
    import runtime.files
    import runtime.loader

    reads = []
    original = runtime.files.read_regular

    def read_then_swap(path, *args, **kwargs):
        data = original(path, *args, **kwargs)
        reads.append(str(path))
        if str(path).endswith("model.onnx"):
            (model_dir / "model.onnx").write_bytes(b"swapped after its check")
        return data

    monkeypatch.setattr(runtime.loader, "read_regular", read_then_swap)
    predictor = runtime.load(model_dir, backend="onnx", graph="recurrent")
    assert predictor.predict(["1" * 50]).counts.tolist() == [50]
    assert [p for p in reads if p.endswith("model.onnx")] == [str(model_dir / "model.onnx")]


# --- paths that cannot be looked at ---------------------------------------------------------

def test_a_model_name_too_long_is_a_model_error(tmp_path):
    with pytest.raises(runtime.ModelError, match="File name too long"):
        runtime.load(tmp_path / ("x" * 300))


@pytest.mark.parametrize("model, message", [
    (123, "model must be a path"), (["artifacts"], "model must be a path"),
    ("", "got an empty one"), ("a\0b", "not a usable path"),
])
def test_a_model_that_is_not_a_path_is_a_usage_error(model, message):
    with pytest.raises(runtime.UsageError, match=message):
        runtime.load(model)


def test_a_model_path_may_be_bytes(model_dir):
    import os

    assert runtime.load(os.fsencode(model_dir)).predict(["0110"]).counts.tolist() == [2]


def test_an_unenterable_directory_is_a_model_error_not_a_traceback(unprivileged):
    """A model inside a directory the user cannot enter, and a ./artifacts it cannot enter."""
    import subprocess
    import sys

    prefix, home = unprivileged
    locked = home / "locked"
    copy_model(locked / "model")
    locked.chmod(0o000)
    (home / "cwd").mkdir()
    copy_model(home / "cwd" / "artifacts")
    (home / "cwd" / "artifacts").chmod(0o000)
    code = ("import sys, runtime\n"
            "try:\n    runtime.load(sys.argv[1] or None)\n"
            "except runtime.ModelError as exc:\n    print(exc)\n    sys.exit(3)\n")
    for model, cwd in ((str(locked / "model"), home), ("", home / "cwd")):
        done = subprocess.run([*prefix, sys.executable, "-c", code, model], capture_output=True,
                              text=True, timeout=60, cwd=cwd)
        assert (done.returncode, done.stderr) == (3, ""), done.stderr
        assert "cannot look for a model there: Permission denied" in done.stdout


def test_verify_files_checks_every_file_the_manifest_lists(model_dir):
    """The artifacts, the folded files, the golden set and its ONNX test data, one folder down:
    what the export's publishing commands refuse on."""
    folder = model_dir / "test_data_set_0"
    folder.mkdir()
    (folder / "input_0.pb").write_bytes(b"tensor")
    entry = {"file": "test_data_set_0/input_0.pb", "size_bytes": 6,
             "sha256": hashlib.sha256(b"tensor").hexdigest()}
    edit_manifest(model_dir, lambda m: m["golden"].update(onnx_test_data={"files": [entry]}))
    manifest = model_manifest(model_dir)
    listed = {str(a.path.relative_to(model_dir)) for a in manifest.files()}
    assert {"model.tflite", "model.folded.onnx", "golden.npz", "test_data_set_0/input_0.pb"} <= listed
    assert verify_files(manifest) == []
    (folder / "input_0.pb").write_bytes(b"tensoR")
    (model_dir / "golden.npz").unlink()
    problems = verify_files(manifest)
    assert len(problems) == 2
    assert any("golden.npz" in p for p in problems)
    assert any("input_0.pb" in p and "sha256" in p for p in problems)
