"""The export stage: conversion, the parity check, publishing, the CLI.

Tiny untrained models (8 units, a random readout): conversion and parity do not need a
trained model, and an untrained model must pass parity just the same. They are not exact, so
these exports pass ``allow_inexact``; the refusal itself is tested apart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.__main__ import main
from export.config import ExportConfig
from export.errors import ExportError
from runtime.errors import UsageError

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics

ROOT = Path(__file__).resolve().parents[2]
UNITS = 8
# Small parity sets keep the tests fast; the batch sizes are the real ones.
FAST = dict(n_random=1000, per_count=2, allow_inexact=True)
FAST_FLAGS = ["--n-random", "1000", "--per-count", "2", "--allow-inexact"]
ARTIFACTS = ("model.tflite", "model.onnx", "golden.npz", "manifest.json", "parity_report.json")


def _save_tiny_model(directory: Path, cell: str) -> Path:
    from train.model import build_model

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.keras"
    model = build_model(cell, UNITS, 50, seed=1)
    rng = np.random.default_rng(1)
    readout = model.get_layer("logits")
    readout.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in readout.get_weights()])
    model.save(path)
    return path


def _save_exact_model(directory: Path) -> Path:
    """A 24-unit model with its readout fitted (proved exact), and a training report for it."""
    from train.certify import certify
    from train.data import make_bits
    from train.model import build_model
    from train.report import sha256_of
    from train.targets import fit_readout

    directory.mkdir(parents=True, exist_ok=True)
    model = build_model(seed=0)
    fit_readout(model, make_bits(5_000, seed=3, stratified_fraction=0.3, clustered_fraction=0.3), 0.5)
    certificate = certify(model)
    assert certificate.proved
    path = directory / "model.keras"
    model.save(path)
    report = {"exact": True, "evaluation_exact": True, "certificate": certificate.to_dict(),
              "evaluation": {"uniform": {"n": 100, "errors": 0}}, "seed": 0,
              "settings": {"hidden_units": 24}, "model_sha256": sha256_of(path)}
    (directory / "train_report.json").write_text(json.dumps(report))
    return path


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _leftovers(directory: Path) -> list[str]:
    """Anything a build leaves behind besides finished files: staging dirs, temp files."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


_EXPORTS: dict[str, tuple] = {}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """cell -> (out directory, outcome) of one successful export per cell, made on first use."""
    from export.pipeline import run_export

    def get(cell: str):
        if cell not in _EXPORTS:
            out = tmp_path_factory.mktemp(f"export_{cell}")
            _save_tiny_model(out, cell)
            outcome = run_export(ExportConfig(out=out, **FAST), log=lambda line: None)
            _EXPORTS[cell] = (out, outcome)
        return _EXPORTS[cell]

    yield get
    _EXPORTS.clear()


# ------------------------------------------------------------------------ every cell

@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_tiny_model_exports_and_passes_parity(exported, cell):
    out, outcome = exported(cell)
    assert outcome and outcome.parity, outcome.parity.lines()
    for name in ARTIFACTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    assert _leftovers(out) == []
    gating = {c.name: c for c in outcome.parity.comparisons if c.gating}
    assert set(gating) == {"tflite", "onnx"}
    for comp in gating.values():
        assert comp.count_agreement == 1.0 and comp.tolerance_used <= 1.0
        assert set(comp.by_batch_size) == {1, 7, 256, 4096}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_no_folded_form_without_a_proof_and_the_manifest_says_why(exported, cell):
    out, outcome = exported(cell)
    folded = outcome.manifest["folded"]
    assert not folded["published"]
    assert ("Elman" if cell != "rnn" else "--allow-inexact") in folded["reason"]
    assert not list(out.glob("model.folded.*"))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_tflite_has_builtin_ops_only(exported, cell):
    from export.structure import check_tflite, tflite_ops

    out, _ = exported(cell)
    content = (out / "model.tflite").read_bytes()
    ops = tflite_ops(content)
    assert "FULLY_CONNECTED" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    assert not {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"} & set(ops)
    assert check_tflite(content, 50) == []


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_onnx_passes_full_checker_and_describes_itself(exported, cell):
    import onnx

    from export.convert import ONNX_OPSET

    out, _ = exported(cell)
    model = onnx.load(out / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert ONNX_OPSET >= 17
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {ONNX_OPSET}
    assert [i.name for i in model.graph.input] == ["bits"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    # The graph form: unrolled for SimpleRNN and GRU, ONNX's own LSTM operator for LSTM.
    ops = {node.op_type for node in model.graph.node}
    assert ("LSTM" in ops) == (cell == "lstm") and "Loop" not in ops
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"]["onnx"]["recurrent_ops"] == (["LSTM"] if cell == "lstm" else [])
    assert manifest["artifacts"]["tflite"]["recurrent_ops"] == []
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["task"] == "count-ones" and meta["n_bits"] == "50" and meta["cell"] == cell
    assert meta["producer"].startswith("parity-edge ")


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_batch_sizes_1_and_4096_run_through_the_runtime(exported, cell, assert_logits_close):
    from runtime.backends import open_backend
    from train.data import uniform_bits

    out, _ = exported(cell)
    bits = uniform_bits(4096, np.random.default_rng(0))
    results = {}
    for name, file in (("tflite", "model.tflite"), ("onnx", "model.onnx")):
        backend = open_backend(name, out / file)
        one = backend.predict(bits[:1])
        many = backend.predict(bits)
        assert one.shape == (1, 51) and many.shape == (4096, 51)
        # One engine, two batch shapes: its kernels may sum in another order.
        assert_logits_close(one[0], many[0])
        results[name] = many
    assert_logits_close(results["tflite"], results["onnx"], copies=2)


# ------------------------------------------------------------------------ the manifest

def test_manifest_matches_files_and_contract(exported):
    from export.manifest import sha256_of
    from runtime.loader import model_manifest, verify_files

    out, _ = exported("rnn")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["task"] == "count-ones"
    assert (manifest["n_bits"], manifest["n_classes"]) == (50, 51)
    assert (manifest["cell"], manifest["hidden_units"]) == ("rnn", UNITS)
    assert manifest["input"] == {"name": "bits", "shape": [None, 50, 1], "dtype": "float32",
                                 "layout": "batch, step, feature: one bit (0.0 or 1.0) per step"}
    assert manifest["output"]["name"] == "logits" and manifest["output"]["shape"] == [None, 51]
    for fmt, entry in manifest["artifacts"].items():
        path = out / entry["file"]
        assert entry["format"] == fmt
        assert entry["sha256"] == sha256_of(path) and entry["size_bytes"] == path.stat().st_size
    assert manifest["artifacts"]["onnx"]["opset"] >= 17
    assert manifest["artifacts"]["tflite"]["opset"] is None
    assert manifest["artifacts"]["tflite"]["converter"].startswith("tensorflow.lite.TFLiteConverter ")
    assert manifest["artifacts"]["onnx"]["converter"].startswith("tf2onnx ")
    assert verify_files(model_manifest(out)) == []
    assert manifest["parity"]["passed"] is True
    assert manifest["training"] is None  # no train_report.json beside the tiny model
    assert manifest["versions"]["tensorflow"] and manifest["created"].endswith("Z")


def test_golden_set_holds_every_count_and_the_references_logits(exported, assert_logits_close):
    import keras

    from export.manifest import sha256_of

    out, _ = exported("rnn")
    entry = json.loads((out / "manifest.json").read_text())["golden"]
    assert entry["file"] == "golden.npz" and entry["sha256"] == sha256_of(out / "golden.npz")
    assert entry["size_bytes"] == (out / "golden.npz").stat().st_size
    with np.load(out / "golden.npz", allow_pickle=False) as golden:
        bits, counts, logits = golden["bits"], golden["counts"], golden["logits"]
    assert entry["n"] == len(bits) == len(counts) == len(logits) and logits.shape[1] == 51
    assert set(counts.tolist()) == set(range(51)) and (bits.sum(axis=1) == counts).all()
    assert (bits[:, :40].sum(axis=1) == 0).sum() >= 10  # left-padded short strings
    model = keras.models.load_model(out / "model.keras")
    # Recomputed in another batch shape than the export's: oneDNN may sum in another order.
    assert_logits_close(model.predict(bits[:, :, None].astype(np.float32), verbose=0), logits)
    # The same arrays give the same bytes: the file's hash says what it holds, not when.
    from export.golden import golden_bytes

    assert golden_bytes(bits, logits) == (out / "golden.npz").read_bytes()


def test_runtime_reads_the_manifest_and_opens_both_artifacts(exported, assert_logits_close):
    from runtime.loader import open_artifact
    from runtime.manifest import read_manifest

    out, _ = exported("gru")
    manifest = read_manifest(out / "manifest.json")
    assert manifest.n_bits == 50 and set(manifest.artifacts) == {"tflite", "onnx"}
    bits = np.eye(50, dtype=np.uint8)
    logits = [open_artifact(manifest, name).predict(bits) for name in ("tflite", "onnx")]
    assert_logits_close(logits[0], logits[1], copies=2)


def test_tflite_describes_itself(exported):
    from ai_edge_litert.interpreter import Interpreter

    from export.convert import TFLITE_METADATA_NAME
    from tensorflow.lite.tools import flatbuffer_utils

    out, _ = exported("rnn")
    model = flatbuffer_utils.read_model_from_bytearray(bytearray((out / "model.tflite").read_bytes()))
    entries = {m.name.decode(): m.buffer for m in model.metadata}
    description = json.loads(bytes(model.buffers[entries[TFLITE_METADATA_NAME]].data))
    assert description["task"] == "count-ones" and description["n_bits"] == 50
    assert b"count-ones" in model.description
    signature = Interpreter(model_path=str(out / "model.tflite")).get_signature_list()
    assert signature == {"serving_default": {"inputs": ["bits"], "outputs": ["logits"]}}


def test_training_report_figures_are_copied(tmp_path):
    from export.evidence import read_training_report

    report = {"evaluation": {"uniform": {"n": 10, "errors": 0, "accuracy": 1.0, "parity_accuracy": 1.0}},
              "per_count_accuracy": [1.0] * 51, "epochs_run": 3, "seed": 0, "settings": {}}
    (tmp_path / "train_report.json").write_text(json.dumps(report))
    copied = read_training_report(tmp_path / "train_report.json")
    assert copied["evaluation"] == report["evaluation"] and copied["epochs_run"] == 3
    assert read_training_report(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ExportError, match="cannot read the training report"):
        read_training_report(tmp_path / "bad.json")


# ------------------------------------------------------------------------ exactness gate

def test_a_model_without_a_report_is_refused_unless_allowed(tmp_path, capsys):
    out = tmp_path / "artifacts"
    _save_tiny_model(out, "rnn")
    assert main(["--out", str(out), "--n-random", "100", "--per-count", "1"]) == 1
    err = capsys.readouterr().err
    assert "no training report" in err and "--allow-inexact" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["model.keras"]


def test_a_report_that_says_inexact_is_refused(tmp_path, capsys):
    out = tmp_path / "artifacts"
    path = _save_exact_model(out)
    report = json.loads((out / "train_report.json").read_text())
    report.update(exact=False, evaluation={"uniform": {"n": 100, "errors": 7}},
                  certificate={"proved": False, "reason": "strings with 49 ones can be read as 50"})
    (out / "train_report.json").write_text(json.dumps(report))
    assert main(["--out", str(out), *FAST_FLAGS[:4]]) == 1
    err = capsys.readouterr().err
    assert "not exact (7 miscounts" in err and "49 ones can be read as 50" in err
    assert not (out / "manifest.json").exists()
    # A report of another model is refused as well.
    report.update(exact=True)
    (out / "train_report.json").write_text(json.dumps(report))
    path.write_bytes(path.read_bytes() + b"\0")
    assert main(["--out", str(out), *FAST_FLAGS[:4]]) == 1
    assert "describes another model" in capsys.readouterr().err


def test_an_exact_model_is_published_with_its_evidence_after_a_soak(tmp_path, capsys):
    out = tmp_path / "artifacts"
    _save_exact_model(out)
    assert main(["--out", str(out), *FAST_FLAGS[:4], "--soak", "40000", "--soak-seed", "5"]) == 0
    assert "export: exact: proved for every string" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    exactness = manifest["exactness"]
    assert exactness["exact"] is True and exactness["exported_inexact"] is False
    assert exactness["proof"]["proved"] is True and exactness["proof"]["margin"] > 1
    for fmt in ("tflite", "onnx"):
        soaked = exactness["soak"][fmt]
        assert soaked["strings"] == 40_000 and soaked["errors"] == 0 and soaked["seed"] == 5
        assert set(soaked["families"]) == {"uniform", "per_count", "padded", "single_run"}
    assert manifest["recipe"]["settings"] == {"hidden_units": 24}


def test_a_miscount_in_the_soak_fails_the_export(tmp_path, capsys):
    out = tmp_path / "artifacts"
    _save_tiny_model(out, "rnn")  # a random readout: it miscounts
    assert main(["--out", str(out), *FAST_FLAGS, "--soak", "4000"]) == 1
    captured = capsys.readouterr()
    assert "soak: tflite: miscounted" in captured.out and "nothing published" in captured.err
    failed = json.loads((out / "parity_report.failed.json").read_text())
    assert failed["passed"] is False and failed["parity_passed"] is True
    assert failed["soak"]["tflite"]["errors"] > 0
    assert not (out / "manifest.json").exists()


def test_an_allowed_inexact_export_says_so_in_the_manifest(exported):
    out, _ = exported("rnn")
    exactness = json.loads((out / "manifest.json").read_text())["exactness"]
    assert exactness["exact"] is None and exactness["exported_inexact"] is True
    assert exactness["proof"]["applicable"] and not exactness["proof"]["proved"]


# ------------------------------------------------------------------------ failures publish nothing

@pytest.fixture
def previous(exported, tmp_path):
    """A directory holding a successful earlier export (and its model), and its bytes."""
    source, _ = exported("rnn")
    out = tmp_path / "artifacts"
    shutil.copytree(source, out)
    return out, _snapshot(out)


def test_perturbed_candidate_fails_and_publishes_nothing(previous, monkeypatch, capsys):
    import train.model

    out, before = previous
    twin_of = train.model.unrolled_twin

    def perturbed_twin(model):
        twin = twin_of(model)
        weights = twin.get_weights()
        weights[0][0, 0] += 0.05  # one input weight of the recurrent layer
        twin.set_weights(weights)
        return twin

    monkeypatch.setattr(train.model, "unrolled_twin", perturbed_twin)
    code = main(["--out", str(out), *FAST_FLAGS])
    captured = capsys.readouterr()
    assert code == 1
    assert "tflite vs keras" in captured.out and "FAILED" in captured.out
    assert "nothing published" in captured.err
    failed = out / "parity_report.failed.json"
    report = json.loads(failed.read_text())
    assert report["passed"] is False
    assert all(not c["passed"] for c in report["comparisons"] if c["gating"])
    failed.unlink()
    assert _snapshot(out) == before
    assert _leftovers(out) == []


def test_converter_failing_midway_leaves_old_artifacts(previous, monkeypatch, capsys):
    import tf2onnx

    out, before = previous

    def broken(*args, **kwargs):
        raise RuntimeError("converter crashed halfway")

    monkeypatch.setattr(tf2onnx.convert, "from_function", broken)
    code = main(["--out", str(out), *FAST_FLAGS])
    captured = capsys.readouterr()
    assert code == 1
    assert "ONNX conversion failed: RuntimeError: converter crashed halfway" in captured.out
    (out / "parity_report.failed.json").unlink()
    assert _snapshot(out) == before
    assert _leftovers(out) == []


def test_unexpected_error_midway_leaves_no_partial_file(previous, monkeypatch):
    import export.convert
    from export.pipeline import run_export

    out, before = previous

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug, not a user error")

    monkeypatch.setattr(export.convert, "to_onnx", bug)
    with pytest.raises(ZeroDivisionError):
        run_export(ExportConfig(out=out, **FAST), log=lambda line: None)
    assert _snapshot(out) == before
    assert _leftovers(out) == []


def test_interrupt_exits_130_and_publishes_nothing(previous, monkeypatch, capsys):
    import export.convert

    out, before = previous

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export.convert, "to_onnx", interrupted)
    assert main(["--out", str(out), *FAST_FLAGS]) == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "Traceback" not in captured.err
    assert _snapshot(out) == before
    assert _leftovers(out) == []


def test_first_failed_export_leaves_no_artifacts(tmp_path, monkeypatch):
    import export.convert
    from export.pipeline import run_export

    out = tmp_path / "fresh"
    model = _save_tiny_model(tmp_path / "models", "rnn")
    monkeypatch.setattr(export.convert, "to_onnx", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run_export(ExportConfig(out=out, model=model, **FAST), log=lambda line: None)
    assert not out.exists()


# ------------------------------------------------------------------------ Flex and custom ops

def test_model_needing_flex_ops_is_a_clear_error():
    from export.convert import to_tflite
    from train.model import build_model

    looped = build_model("rnn", UNITS, 50, seed=1)  # not unrolled: needs TensorList ops
    with pytest.raises(ExportError, match=r"outside the builtin set: .*tf\.TensorListReserve"):
        to_tflite(looped)


def test_flex_ops_in_a_file_are_named(tmp_path):
    import keras
    import tensorflow as tf

    from export.structure import check_tflite, tflite_ops
    from train.model import build_model

    looped = build_model("rnn", UNITS, 50, seed=1)
    archive = keras.export.ExportArchive()
    archive.track(looped)
    archive.add_endpoint(name="serving_default", fn=lambda bits: {"logits": looped(bits)},
                         input_signature=[tf.TensorSpec([None, 50, 1], tf.float32, name="bits")])
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    content = converter.convert()
    assert "FlexTensorListReserve" in tflite_ops(content)
    problems = check_tflite(content, 50)
    assert any("Flex" in p and "FlexTensorListReserve" in p for p in problems)


# ------------------------------------------------------------------------ command line

def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "export", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_help():
    result = _run_cli("--help", cwd=ROOT)
    assert result.returncode == 0
    assert "--out" in result.stdout and "--model" in result.stdout and "exit codes" in result.stdout


def test_cli_missing_model_is_one_line(tmp_path):
    result = _run_cli("--out", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no such model file" in lines[0] and "model.keras" in lines[0]
    assert not (tmp_path / "nowhere").exists()


def test_cli_bad_flags_exit_2(tmp_path):
    for args in (["--batch-sizes", "0,7"], ["--onnx-graph", "spiral"], ["--n-random", "many"], ["--frobnicate"]):
        result = _run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.startswith("export: ") and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("content, message", [
    (b"this is not a zip file", "not a zip archive"),
    (b"", "an empty file"),
    (b"PK\x03\x04 but truncated", "cannot load the Keras model"),
])
def test_unreadable_model_is_one_line(tmp_path, capsys, content, message):
    (tmp_path / "model.keras").write_bytes(content)
    assert main(["--out", str(tmp_path), "--allow-inexact"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "model.keras" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_config_rejects_bad_values():
    with pytest.raises(UsageError, match="batch-sizes"):
        ExportConfig(batch_sizes=(0, 7))
    with pytest.raises(UsageError, match="onnx-graph"):
        ExportConfig(onnx_graph="spiral")
    assert ExportConfig(out="x").model_path == Path("x") / "model.keras"
    assert ExportConfig().onnx_graph_for("lstm") == "recurrent"
    assert ExportConfig(onnx_graph="unrolled").onnx_graph_for("lstm") == "unrolled"


# ------------------------------------------------------------------------ publish_default

def test_publish_default_copies_verified_artifacts(exported, tmp_path):
    from export.publish_default import main as publish_main

    out, _ = exported("rnn")
    package = tmp_path / "runtime" / "model"
    assert publish_main([str(out), str(package)]) == 0
    names = ["golden.npz", "manifest.json", "model.onnx", "model.tflite", "test_data_set_0"]
    assert sorted(p.name for p in package.iterdir()) == names
    names[-1:] = ["test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb"]
    for name in names:
        assert (package / name).read_bytes() == (out / name).read_bytes()


def test_publish_default_refuses_damaged_or_failed(exported, tmp_path, capsys):
    from export.publish_default import main as publish_main

    source, _ = exported("rnn")
    package = tmp_path / "model"

    damaged = tmp_path / "damaged"
    shutil.copytree(source, damaged)
    content = bytearray((damaged / "model.onnx").read_bytes())
    content[len(content) // 2] ^= 0xFF
    (damaged / "model.onnx").write_bytes(bytes(content))
    assert publish_main([str(damaged), str(package)]) == 1
    assert "sha256" in capsys.readouterr().err

    failed = tmp_path / "failed"
    shutil.copytree(source, failed)
    manifest = json.loads((failed / "manifest.json").read_text())
    manifest["parity"]["passed"] = False
    (failed / "manifest.json").write_text(json.dumps(manifest))
    assert publish_main([str(failed), str(package)]) == 1
    assert "parity" in capsys.readouterr().err
    assert not package.exists()

    assert publish_main([str(tmp_path / "absent"), str(package)]) == 1
    assert publish_main([]) == 2
