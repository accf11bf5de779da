"""The folded form (export.fold) and the proof of exported files (runtime.weights): on a
24-unit model with its readout fitted, which is proved exact without gradient training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from export.config import ExportConfig

sys.path.insert(0, str(Path(__file__).parent))
from test_export import _leftovers, _save_exact_model  # noqa: E402

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics

FAST = dict(n_random=1000, per_count=2)
FOLDED = ("model.folded.tflite", "model.folded.onnx")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(out directory, outcome, Keras model) of one export of a proved model, soaked."""
    from export.keras_backend import load_keras_model
    from export.pipeline import run_export

    out = tmp_path_factory.mktemp("fold")
    path = _save_exact_model(out)
    outcome = run_export(ExportConfig(out=out, soak=4000, soak_seed=5, **FAST), log=lambda line: None)
    return out, outcome, load_keras_model(path)


def _without_seconds(certificate) -> dict:
    return {**certificate.to_dict(), "seconds": None}


def test_a_proved_model_ships_its_folded_form_with_its_own_evidence(exported):
    from export.manifest import sha256_of

    out, outcome, _ = exported
    assert outcome, outcome.parity.lines()
    assert _leftovers(out) == []
    folded = outcome.manifest["folded"]
    assert folded["published"] and folded["reason"] is None
    assert set(folded["artifacts"]) == {"tflite", "onnx"}
    for fmt, entry in folded["artifacts"].items():
        path = out / entry["file"]
        assert entry["file"] in FOLDED and entry["graph"] == "folded"
        assert entry["sha256"] == sha256_of(path) and entry["size_bytes"] == path.stat().st_size
        assert entry["proof"]["proved"] and entry["weights_match"]
        assert entry["parity"]["passed"] and entry["parity"]["count_agreement"] == 1.0
        assert entry["golden"]["count_agreement"] == 1.0 and entry["golden"]["tolerance_used"] <= 1.0
        assert outcome.soak[f"{fmt} folded"]["errors"] == 0
        assert outcome.soak[f"{fmt} folded"]["strings"] >= 4000
    assert {e["graph"] for e in outcome.manifest["artifacts"].values()} == {"unrolled"}
    report = json.loads((out / "parity_report.json").read_text())
    assert report["folded"]["published"]


def test_the_proof_of_each_folded_file_is_the_proof_of_the_folded_map(exported):
    from export.fold import folded_map
    from runtime.proof import certify_affine
    from runtime.weights import prove_file

    out, _, model = exported
    gains, base = folded_map(model)
    expected = _without_seconds(certify_affine(gains, base))
    for name in FOLDED:
        proof = prove_file(out / name)
        assert proof.graph == "folded" and proof
        assert proof.weights.gains.tobytes() == gains.tobytes()
        assert proof.weights.base.tobytes() == base.tobytes()
        assert _without_seconds(proof.certificate) == expected


def test_the_recurrent_files_hold_the_keras_weights_and_prove_the_same(exported):
    from runtime.weights import prove_file, read_weights
    from train.certify import certify, layer_weights

    out, _, model = exported
    keras_weights = layer_weights(model)
    for name in ("model.tflite", "model.onnx"):
        read = read_weights(out / name).arrays()
        for ours, theirs in zip(read, keras_weights):
            assert (ours is None and theirs is None) or (
                ours.dtype == np.float32 and ours.tobytes() == np.asarray(theirs, np.float32).tobytes())
        assert _without_seconds(prove_file(out / name).certificate) == _without_seconds(certify(model))


def test_the_folded_files_count_every_evaluation_string(exported):
    from runtime.backends import open_backend
    from train.data import count_ones, edge_case_bits, padded_bits, stratified_bits

    out, _, _ = exported
    rng = np.random.default_rng(9)
    bits = np.concatenate([stratified_bits(5100, rng, 50, counts=np.repeat(np.arange(51), 100)),
                           padded_bits(5000, rng, 50), *edge_case_bits(50).values()])
    for fmt, name in zip(("tflite", "onnx"), FOLDED):
        logits = open_backend(fmt, out / name).predict(bits)
        assert (logits.argmax(axis=1) == count_ones(bits)).all()


def test_a_perturbed_folded_file_is_refused_by_its_proof(exported, tmp_path):
    from export import convert
    from export.fold import build_folded_model, folded_map
    from runtime.weights import prove_file

    _, _, model = exported
    gains, base = folded_map(model)
    gains = gains.copy()
    gains[3, 25] += np.float32(3.0)  # more than the margin: strings with 24 ones and bit 3 read as 25
    path = tmp_path / "model.folded.tflite"
    path.write_bytes(convert.to_tflite(build_folded_model(gains, base), tmp_path))
    proof = prove_file(path)
    assert proof.graph == "folded" and not proof
    assert "can be read as" in proof.certificate.reason


def test_the_export_refuses_a_folded_form_its_files_do_not_prove(tmp_path, monkeypatch):
    """A converter that wrote other numbers: the folded form is refused, the manifest says
    why, and the recurrent files are published on their own evidence."""
    import export.fold
    from export.pipeline import run_export

    built = export.fold.build_folded_model

    def perturbed(gains, base):
        gains = gains.copy()
        gains[3, 25] += np.float32(3.0)
        return built(gains, base)

    monkeypatch.setattr(export.fold, "build_folded_model", perturbed)
    _save_exact_model(tmp_path)
    outcome = run_export(ExportConfig(out=tmp_path, **FAST), log=lambda line: None)
    assert outcome
    folded = outcome.manifest["folded"]
    assert not folded["published"] and "its own proof fails" in folded["reason"]
    assert "artifacts" not in folded
    assert not any((tmp_path / name).exists() for name in FOLDED)
    assert (tmp_path / "model.tflite").is_file() and _leftovers(tmp_path) == []


def test_a_recurrent_file_whose_steps_differ_is_refused_by_name(exported, tmp_path):
    import onnx
    from onnx import numpy_helper

    from runtime.weights import WeightsError, read_weights

    out, _, _ = exported
    proto = onnx.load(out / "model.onnx")
    square = [t for t in proto.graph.initializer if len(t.dims) == 2 and t.dims[0] == t.dims[1]]
    (recurrent,) = square
    changed = numpy_helper.to_array(recurrent).copy()
    changed[0, 0] += 1e-3
    proto.graph.initializer.append(numpy_helper.from_array(changed, "other_recurrent"))
    node = next(n for n in proto.graph.node if n.op_type == "MatMul" and recurrent.name in n.input)
    node.input[list(node.input).index(recurrent.name)] = "other_recurrent"
    path = tmp_path / "model.onnx"
    onnx.save(proto, path)
    with pytest.raises(WeightsError, match=f"{path}: .*same recurrent kernel"):
        read_weights(path)


@pytest.mark.parametrize("cell, certificate, allow, reason", [
    ("gru", {"proved": False}, False, "Elman"),
    ("lstm", {"proved": False}, True, "Elman"),
    ("rnn", {"proved": True}, True, "--allow-inexact"),
    ("rnn", {"proved": False, "reason": "strings with 3 ones can be read as 4"}, False,
     "can be read as 4"),
])
def test_which_models_get_no_folded_form(cell, certificate, allow, reason):
    from export.fold import refusal

    assert reason in refusal(cell, certificate, allow)


def test_a_proved_model_gets_a_folded_form():
    from export.fold import refusal

    assert refusal("rnn", {"proved": True}, False) is None


def test_the_folded_int8_files_go_through_the_variant_gate(tmp_path):
    """Published only where the gate passed (their activations are quantised at run time, which
    the proof does not cover); refused ones leave no file and say why."""
    from export.manifest import sha256_of
    from export.pipeline import run_export

    _save_exact_model(tmp_path)
    outcome = run_export(ExportConfig(out=tmp_path, variants=("int8",), **FAST), log=lambda line: None)
    assert outcome
    folded = outcome.manifest["folded"]
    gated = json.loads((tmp_path / "parity_report.json").read_text())["folded"]["variants"]["int8"]
    assert set(gated) == {"tflite", "onnx"}
    for fmt, result in gated.items():
        path = tmp_path / f"model.folded.int8.{fmt}"
        assert result["file"] == path.name
        assert path.exists() == result["published"] == (not result["reasons"])
        if result["published"]:
            entry = folded["variants"]["int8"][fmt]
            assert entry["sha256"] == sha256_of(path) and entry["graph"] == "folded"
            assert entry["gate"]["min_margin"] >= 0.25
        else:
            assert folded["variants_refused"]["int8"][fmt]["reasons"] == result["reasons"]
    assert _leftovers(tmp_path) == []


def test_the_default_model_ships_the_folded_files_too(exported, tmp_path):
    from export.publish_default import publish_default
    from runtime.loader import model_manifest, verify_files

    out, _, _ = exported
    written = publish_default(out, tmp_path / "model")
    assert set(FOLDED) <= {p.name for p in written}
    assert verify_files(model_manifest(tmp_path / "model")) == []


def test_the_weights_of_a_cell_with_a_bias_are_read_back_exactly(tmp_path):
    """The chapter's cell (a recurrent bias, weights of both signs): the converters place the
    bias differently, and each file still gives back the Keras weights bit for bit."""
    from export import convert
    from runtime.weights import read_weights
    from train.certify import layer_weights
    from train.model import build_model, unrolled_twin

    model = build_model("rnn", 6, 50, recurrent_bias=True)
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    twin = unrolled_twin(model)
    (tmp_path / "model.tflite").write_bytes(convert.to_tflite(twin, tmp_path))
    (tmp_path / "model.onnx").write_bytes(convert.to_onnx(twin).SerializeToString())
    for name in ("model.tflite", "model.onnx"):
        read = read_weights(tmp_path / name).arrays()
        assert read[2] is not None
        for ours, theirs in zip(read, layer_weights(model)):
            assert ours.tobytes() == np.asarray(theirs, np.float32).tobytes()


def test_the_files_of_a_gru_are_refused_by_name(tmp_path):
    from export import convert
    from runtime.weights import WeightsError, read_weights
    from train.model import build_model, unrolled_twin

    twin = unrolled_twin(build_model("gru", 4, 50, seed=0))
    (tmp_path / "model.tflite").write_bytes(convert.to_tflite(twin, tmp_path))
    (tmp_path / "model.onnx").write_bytes(convert.to_onnx(twin).SerializeToString())
    for name in ("model.tflite", "model.onnx"):
        with pytest.raises(WeightsError, match=f"{tmp_path / name}: .*not one the proof knows"):
            read_weights(tmp_path / name)



def test_a_fused_activation_other_than_relu_is_refused(tmp_path):
    """A folded map with a relu6 on its logits: TFLite fuses it into the FULLY_CONNECTED,
    which must not be read as the plain map."""
    import keras

    from export import convert
    from runtime.weights import WeightsError, read_weights

    inputs = keras.Input((50, 1), name="bits")
    flat = keras.layers.Reshape((50,))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(51, activation="relu6")(flat))
    (tmp_path / "model.tflite").write_bytes(convert.to_tflite(model, tmp_path))
    with pytest.raises(WeightsError, match="FULLY_CONNECTED with fused activation"):
        read_weights(tmp_path / "model.tflite")


def _without_folded(source: Path, target: Path) -> Path:
    """A copy of an export as it was before the folded form: no folded files or entry."""
    import shutil

    shutil.copytree(source, target)
    for name in FOLDED:
        (target / name).unlink()
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["folded"] = {"published": False, "reason": "not built"}
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_add_folded_gives_an_older_export_the_same_folded_form(exported, tmp_path):
    from export.add_folded import add_folded
    from export.manifest import sha256_of
    from runtime.weights import prove_file

    out, outcome, _ = exported
    older = _without_folded(out, tmp_path / "older")
    before = {str(p.relative_to(older)): p.read_bytes() for p in older.rglob("*") if p.is_file()}
    manifest = add_folded(older, soak=2000, soak_seed=3, log=lambda line: None)
    folded = manifest["folded"]
    assert folded["published"] and "rebuilt from the weights" in folded["reference"]
    assert folded["soak"]["tflite folded"]["errors"] == folded["soak"]["onnx folded"]["errors"] == 0
    for fmt, entry in folded["artifacts"].items():
        path = older / entry["file"]
        assert entry["sha256"] == sha256_of(path) and entry["proof"]["proved"]
        # The same weights make the same folded map: the proof of the file is the export's.
        assert prove_file(path).weights.gains.tobytes() == prove_file(out / entry["file"]).weights.gains.tobytes()
        assert entry["proof"]["margin"] == outcome.manifest["folded"]["artifacts"][fmt]["proof"]["margin"]
    # Everything else is as it was: the other files, and the manifest's other entries.
    for name, data in before.items():
        if name != "manifest.json":
            assert (older / name).read_bytes() == data
    kept = json.loads(before["manifest.json"])
    assert {k: v for k, v in manifest.items() if k != "folded"} == {k: v for k, v in kept.items() if k != "folded"}
    assert json.loads((older / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    assert _leftovers(older) == []


def test_add_folded_refuses_twice_and_leaves_the_directory_as_it_was(exported, tmp_path, capsys):
    from export.add_folded import main

    out, _, _ = exported
    import shutil

    shutil.copytree(out, tmp_path / "m")
    before = {str(p.relative_to(tmp_path)): p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert main([str(tmp_path / "m")]) == 1
    assert "already has its folded form" in capsys.readouterr().err
    assert {str(p.relative_to(tmp_path)): p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file()} == before
