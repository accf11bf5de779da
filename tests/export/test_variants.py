"""Reduced-precision variants: built, gated on the counts, published only when exact."""

from __future__ import annotations

import json

import pytest

from export.__main__ import main
from export.convert import FORMATS, VARIANTS, variant_file

from test_export import FAST_FLAGS, _save_exact_model

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics

CHECK = [*FAST_FLAGS[:4]]  # small parity sets; the model is exact, no --allow-inexact


def _small_evaluation_sets(monkeypatch):
    """The gate's evaluation sets, smaller: the gate is what is tested, not the model."""
    import train.evaluate

    full = train.evaluate.evaluation_sets
    monkeypatch.setattr(train.evaluate, "evaluation_sets",
                        lambda n_bits=50, **kw: full(n_bits, uniform_size=20_000, per_count_size=50,
                                                     padded_size=20_000))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("variants") / "artifacts"
    _save_exact_model(out)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _small_evaluation_sets(monkeypatch)
        assert main(["--out", str(out), *CHECK, "--variants", "all"]) == 0
    return out, json.loads((out / "manifest.json").read_text()), \
        json.loads((out / "parity_report.json").read_text())


def test_every_variant_is_published_with_its_figures_or_refused_with_its_reasons(exported):
    from export.manifest import sha256_of

    out, manifest, report = exported
    for precision in VARIANTS:
        for fmt in FORMATS[precision]:
            path = out / variant_file(precision, fmt)
            published = manifest["variants"].get(precision, {}).get(fmt)
            refused = manifest["variants_refused"].get(precision, {}).get(fmt)
            assert (published is None) != (refused is None), (precision, fmt)
            outcome = report["variants"][precision][fmt]
            if published:
                assert outcome["published"] and path.is_file()
                assert published["sha256"] == sha256_of(path) and published["precision"] == precision
                assert all(s["errors"] == 0 for s in published["gate"]["sets"].values())
                assert published["gate"]["min_margin"] >= 0.25
                assert published["gate"]["count_agreement"] == 1.0
            else:
                assert refused["reasons"] and not path.exists() and not outcome["published"]
            # What was quantised, read from the file itself.
            assert outcome["weights"], (precision, fmt)


def test_int8_variants_really_hold_int8_weights_and_the_float32_files_stay_the_default(exported):
    out, manifest, report = exported
    for fmt in ("tflite", "onnx"):
        assert any(w.startswith("int8") for w in report["variants"]["int8"][fmt]["weights"])
    assert any(w.startswith("float16") for w in report["variants"]["float16"]["tflite"]["weights"])
    assert manifest["artifacts"]["tflite"]["file"] == "model.tflite"
    # The readout is what int8 quantises; on this exact model both int8 files pass.
    assert set(manifest["variants"]["int8"]) == {"tflite", "onnx"}


def test_a_damaged_variant_is_refused_by_the_gate(tmp_path, monkeypatch, capsys):
    import onnx
    from onnx import numpy_helper

    import export.convert

    quantise = export.convert.to_onnx_variant

    def damaged(proto, precision, calibration=None):
        model = quantise(proto, precision, calibration)
        for tensor in model.graph.initializer:
            if tensor.data_type == onnx.TensorProto.INT8:
                weights = numpy_helper.to_array(tensor).copy()
                weights[: weights.shape[0] // 2] = -weights[: weights.shape[0] // 2]
                tensor.CopyFrom(numpy_helper.from_array(weights, tensor.name))
        return model

    out = tmp_path / "artifacts"
    _save_exact_model(out)
    _small_evaluation_sets(monkeypatch)
    monkeypatch.setattr(export.convert, "to_onnx_variant", damaged)
    assert main(["--out", str(out), *CHECK, "--variants", "int8"]) == 0  # float32 still published
    assert "onnx int8: REFUSED" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    reasons = manifest["variants_refused"]["int8"]["onnx"]["reasons"]
    assert any("miscounts" in r or "agree" in r for r in reasons)
    assert "onnx" not in manifest["variants"].get("int8", {})
    assert not (out / "model.int8.onnx").exists()


def test_unknown_variants_are_a_usage_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--variants", "int4"]) == 2
    assert "unknown variant 'int4'" in capsys.readouterr().err


def test_publish_default_ships_the_published_variants(exported, tmp_path):
    from export.publish_default import main as publish_main

    out, manifest, _ = exported
    package = tmp_path / "model"
    assert publish_main([str(out), str(package)]) == 0
    for by_format in manifest["variants"].values():
        for entry in by_format.values():
            assert (package / entry["file"]).read_bytes() == (out / entry["file"]).read_bytes()


def test_the_variants_are_the_runtime_precisions_but_float32():
    from runtime.manifest import DEFAULT_PRECISION, PRECISIONS

    assert VARIANTS == ("float16", "int8", "int8-static")
    assert (DEFAULT_PRECISION, *VARIANTS) == PRECISIONS
    assert set(FORMATS) == set(VARIANTS)
