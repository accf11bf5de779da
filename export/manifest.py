"""The manifest: what the runtime reads to know the artifacts and trust them.

Schema version 1 (``SCHEMA_VERSION``); the runtime relies on these keys, more may be added::

    schema_version, task, n_bits, n_classes, cell, hidden_units,
    input  {name, shape, dtype, layout},  output {name, shape, dtype, layout},
    artifacts {tflite|onnx: {file, format, sha256, size_bytes, converter, opset, ...}},
    variants {float16|int8|int8-static: {tflite|onnx: {...artifact entry, precision, weights,
    gate}}}, variants_refused {...: {...: {reasons, ...}}},
    golden {file, format, sha256, size_bytes, n, atol, rtol, onnx_test_data {dir, files
    [{file, sha256, size_bytes}], ...}, ...},
    folded {published, reason, artifacts {tflite|onnx: {...artifact entry, graph: "folded",
    proof, weights_match, parity, golden}}, variants {int8: {...}}, variants_refused {...}},
    versions {...}, parity {...}, exactness {...}, recipe {...} or null, training {...} or null,
    created

Every artifact entry names its ``graph``: ``unrolled`` (the recurrent layer spelled out step
by step), ``recurrent`` (the layer as one looping operator: an ONNX ``Loop`` or ``LSTM``) or
``folded`` (the proved affine map ``bits @ A + c``, ``export.fold``); ``folded.published``
false with a ``reason`` says why a model has no folded form.

``exactness`` says whether the model counts exactly and on what evidence: the proof
(``train.certify``), the training stage's evaluation sets, and the soak of each file
(``export.soak``), if one was run; ``recipe`` how it was trained.

Also here: the description embedded in each artifact, and the training report's figures.
This module only writes manifests: reading one back, and checking the files it lists, is the
runtime's (``runtime.manifest.read_manifest``, ``runtime.loader.verify_files``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from runtime.manifest import MANIFEST_NAME, SCHEMA_VERSION, TASK  # the schema is the runtime's
from train.report import sha256_of

from .convert import INPUT_NAME, OUTPUT_NAME
from . import evidence

__all__ = ["SCHEMA_VERSION", "TASK", "MANIFEST_NAME", "sha256_of", "artifact_entry", "versions",
           "describe", "build_manifest", "folded_entries"]

INPUT_LAYOUT = "batch, step, feature: one bit (0.0 or 1.0) per step"


def _output_layout(n_bits: int) -> str:
    return f"batch, class: unnormalised score for each count 0..{n_bits}"


# Distributions whose versions the manifest records.
_DISTRIBUTIONS = ("parity-edge", "numpy", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime",
                  "ai-edge-litert", "protobuf", "flatbuffers")


def versions() -> dict:
    """Python and the installed versions of the libraries the export used."""
    from runtime.versions import versions as installed

    return installed(_DISTRIBUTIONS)


def producer() -> str:
    return f"parity-edge {versions()['parity-edge'] or 'unknown'} (export)"


def artifact_entry(path: Path, fmt: str, converter: str, opset: int | None, **extra) -> dict:
    """The manifest entry of one artifact file: name, format, hash, size, how it was made."""
    return {"file": path.name, "format": fmt, "sha256": sha256_of(path),
            "size_bytes": path.stat().st_size, "converter": converter, "opset": opset, **extra}


def variant_entries(directory: Path, variants: dict, converters: dict, opsets: dict,
                    graphs: dict) -> dict:
    """The manifest's ``variants`` (precision -> format -> artifact entry with its gate figures)
    and ``variants_refused`` (precision -> format -> the reasons)."""
    published, refused = {}, {}
    for precision, by_format in variants.items():
        for fmt, outcome in by_format.items():
            gate = outcome["gate"] or {}
            if outcome["published"]:
                published.setdefault(precision, {})[fmt] = artifact_entry(
                    Path(directory) / outcome["file"], fmt, converters[fmt], opsets[fmt],
                    graph=graphs[fmt], precision=precision, weights=outcome["weights"],
                    gate={k: gate.get(k) for k in ("count_agreement", "min_margin", "max_abs_diff", "sets")})
            else:
                refused.setdefault(precision, {})[fmt] = {
                    "reasons": outcome["reasons"], "weights": outcome["weights"],
                    "sets": gate.get("sets"), "min_margin": gate.get("min_margin")}
    return {"published": published, "refused": refused}


def folded_entries(directory: Path, folded: dict, converters: dict, opsets: dict) -> dict:
    """The manifest's ``folded``: the folded files (``export.fold``) with their own evidence,
    or why there are none."""
    if not folded["published"]:
        return {"published": False, "reason": folded["reason"]}
    artifacts = {}
    for fmt, name in folded["files"].items():
        outcome = folded["by_format"][fmt]
        artifacts[fmt] = artifact_entry(
            Path(directory) / name, fmt, converters[fmt], opsets[fmt], graph="folded",
            proof=outcome["proof"], weights_match=outcome["weights_match"],
            parity=outcome["parity"], golden=outcome["golden"])
    graphs = {fmt: "folded" for fmt in converters}
    gated = variant_entries(directory, folded.get("variants") or {}, converters, opsets, graphs)
    return {"published": True, "reason": None,
            "proof_source": "the float32 numbers read back from each published file "
                            "(runtime.weights.prove_file)",
            "artifacts": artifacts, "variants": gated["published"],
            "variants_refused": gated["refused"]}


def describe(info, converter: str, graph: str) -> dict:
    """What an artifact says about itself (ONNX metadata_props, TFLite metadata)."""
    return {"task": TASK, "n_bits": info.n_bits, "n_classes": info.n_classes, "cell": info.cell,
            "hidden_units": info.hidden_units, "input": INPUT_NAME, "output": OUTPUT_NAME,
            "input_layout": INPUT_LAYOUT, "output_layout": _output_layout(info.n_bits),
            "graph": graph, "converter": converter, "producer": producer(),
            "schema_version": SCHEMA_VERSION}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_manifest(info, artifacts: dict, parity: dict, training: dict | None,
                   settings: dict, source: dict, timings: dict, exact: dict,
                   golden: dict | None = None, variants: dict | None = None,
                   folded: dict | None = None) -> dict:
    """The manifest as a JSON-ready dict (see the module docstring)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "task": TASK,
        "n_bits": info.n_bits,
        "n_classes": info.n_classes,
        "cell": info.cell,
        "hidden_units": info.hidden_units,
        "input": {"name": INPUT_NAME, "shape": [None, info.n_bits, 1], "dtype": "float32",
                  "layout": INPUT_LAYOUT},
        "output": {"name": OUTPUT_NAME, "shape": [None, info.n_classes], "dtype": "float32",
                   "layout": _output_layout(info.n_bits)},
        "artifacts": artifacts,
        "variants": (variants or {}).get("published", {}),
        "variants_refused": (variants or {}).get("refused", {}),
        "golden": golden,
        "folded": folded or {"published": False, "reason": "not built"},
        "versions": versions(),
        "parity": parity,
        "exactness": exact,
        "recipe": evidence.recipe(training),
        "training": training,
        "source": source,
        "export": {"settings": settings, "seconds": timings},
        "created": _now(),
    }
