"""runtime.loader's graph choice: auto runs the folded file only where the manifest has it and
records it proved; --graph / load(graph=...) picks one; a graph the model lacks is refused."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import runtime
from runtime.loader import pick_graph
from runtime.manifest import read_manifest
from conftest import SHIPPED, damage, edit_manifest

pytestmark = pytest.mark.runtime

BACKENDS = ["tflite", "onnx"]


def without_folded(manifest):
    del manifest["folded"]


def unproved(manifest):
    for entry in manifest["folded"]["artifacts"].values():
        entry["proof"]["proved"] = False


def predict_cli(*args, stdin=b"0110\n" + b"1" * 90 + b"\n"):
    return subprocess.run([sys.executable, "-m", "runtime.predict", *args], input=stdin,
                          capture_output=True, timeout=120, cwd="/")


@pytest.mark.parametrize("backend", BACKENDS)
def test_auto_runs_the_proved_folded_file_of_the_shipped_model(backend):
    predictor = runtime.load(SHIPPED, backend)
    assert predictor.graph == "folded"
    assert predictor.backend.path.endswith(f"model.folded.{backend}")
    assert predictor.predict(["0110", "1" * 120]).counts.tolist() == [2, 120]
    assert runtime.load(SHIPPED).graph == "folded"


@pytest.mark.parametrize("change", [without_folded, unproved])
def test_auto_runs_the_recurrent_files_unless_the_folded_one_is_recorded_proved(model_dir, change):
    edit_manifest(model_dir, change)
    for backend in ("auto", *BACKENDS):
        predictor = runtime.load(model_dir, backend)
        assert predictor.graph == "recurrent"
        assert predictor.backend.path.endswith(f"model.{predictor.backend.name}")
    manifest = read_manifest(model_dir / "manifest.json")
    assert [pick_graph(manifest, b) for b in BACKENDS] == ["recurrent", "recurrent"]
    if change is unproved:  # asked for by name, an unproved folded file still runs
        assert runtime.load(model_dir, graph="folded").graph == "folded"


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_recurrent_runs_the_network_itself(backend):
    predictor = runtime.load(SHIPPED, backend, graph="recurrent")
    assert predictor.graph == "recurrent" and predictor.backend.path.endswith(f"model.{backend}")
    bits = np.random.default_rng(4).integers(0, 2, (3_000, 77)).astype(np.uint8)
    assert (predictor.predict(bits).counts == bits.sum(axis=1)).all()
    again = pickle.loads(pickle.dumps(predictor))
    assert again.graph == "recurrent" and again.backend.path == predictor.backend.path


def test_graph_folded_on_a_model_without_one_is_a_model_error_saying_what_it_has(model_dir):
    edit_manifest(model_dir, without_folded)
    for backend in ("auto", *BACKENDS):
        with pytest.raises(runtime.ModelError, match="has no folded float32 .*file.*; it has: "
                                                     r"float32 \(tflite, onnx\), int8"):
            runtime.load(model_dir, backend, graph="folded")
    done = predict_cli("--model", str(model_dir), "--graph", "folded")
    err = done.stderr.decode()
    assert done.returncode == 1 and done.stdout == b"" and err.count("\n") == 1
    assert "has no folded float32" in err and "Traceback" not in err


def test_an_unknown_graph_is_a_usage_error(predict_fake):
    with pytest.raises(runtime.UsageError, match="unknown graph 'unrolled'"):
        runtime.load(SHIPPED, graph="unrolled")
    status, _, err = predict_fake(["--graph", "unrolled"], stdin=b"0110\n")
    assert status == 2 and err.count("\n") == 1 and "argument --graph: invalid choice: 'unrolled'" in err
    assert predict_fake.loads == []  # refused before any model is looked for


@pytest.mark.parametrize("graph", ["recurrent", "folded"])
def test_the_command_line_runs_either_graph(graph):
    done = predict_cli("--graph", graph)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"2\t0\n90\t0\n", b"")


def test_precision_combines_with_graph():
    """The shipped model has int8 files of the recurrent network only: auto runs those, and
    folded int8 is refused naming what there is."""
    assert runtime.load(SHIPPED, "onnx", precision="int8").graph == "recurrent"
    with pytest.raises(runtime.ModelError, match="has no folded int8 onnx file; it has: .*folded: float32"):
        runtime.load(SHIPPED, "onnx", precision="int8", graph="folded")


def test_a_folded_section_of_the_wrong_shape_is_a_bad_manifest(model_dir):
    edit_manifest(model_dir, lambda m: m["folded"]["artifacts"]["onnx"].update(sha256="xyz"))
    with pytest.raises(runtime.ModelError, match=r"folded\.artifacts\.onnx\.sha256 must be 64 hex"):
        runtime.load(model_dir)
    edit_manifest(model_dir, lambda m: m["folded"].update(published="yes"))
    with pytest.raises(runtime.ModelError, match="'folded' must be an object whose 'published'"):
        runtime.load(model_dir)


def test_a_damaged_folded_file_is_refused_and_the_recurrent_one_still_runs(model_dir):
    damage(model_dir / "model.folded.onnx", "flip")
    with pytest.raises(runtime.ModelError, match="model.folded.onnx: sha256 is"):
        runtime.load(model_dir, "onnx")
    assert runtime.load(model_dir, "onnx", graph="recurrent").predict(["111"]).counts.tolist() == [3]
