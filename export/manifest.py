"""The manifest: what the runtime reads to know the artifacts and trust them.

Schema version 1 (``SCHEMA_VERSION``); the runtime relies on these keys, more may be added::

    schema_version, task, n_bits, n_classes, cell, hidden_units,
    input  {name, shape, dtype, layout},  output {name, shape, dtype, layout},
    artifacts {tflite|onnx: {file, format, sha256, size_bytes, converter, opset, ...}},
    versions {...}, parity {...}, training {...} or null, created

Also here: the description embedded in each artifact, the training report's figures, and
reading a manifest back with its hashes checked (``verify_artifacts``).
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path

from .convert import INPUT_NAME, OUTPUT_NAME
from .errors import ExportError

__all__ = ["SCHEMA_VERSION", "TASK", "MANIFEST_NAME", "sha256_of", "artifact_entry", "versions",
           "read_training_report", "describe", "build_manifest", "read_manifest", "verify_artifacts"]

SCHEMA_VERSION = 1
TASK = "count-ones"
MANIFEST_NAME = "manifest.json"

INPUT_LAYOUT = "batch, step, feature: one bit (0.0 or 1.0) per step"


def _output_layout(n_bits: int) -> str:
    return f"batch, class: unnormalised score for each count 0..{n_bits}"


# Distributions whose versions the manifest records.
_DISTRIBUTIONS = ("parity-edge", "numpy", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime",
                  "ai-edge-litert", "protobuf", "flatbuffers")


def versions() -> dict:
    """Python and the installed versions of the libraries the export used."""
    found = {"python": platform.python_version()}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def producer() -> str:
    return f"parity-edge {versions()['parity-edge'] or 'unknown'} (export)"


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_entry(path: Path, fmt: str, converter: str, opset: int | None, **extra) -> dict:
    """The manifest entry of one artifact file: name, format, hash, size, how it was made."""
    return {"file": path.name, "format": fmt, "sha256": sha256_of(path),
            "size_bytes": path.stat().st_size, "converter": converter, "opset": opset, **extra}


def read_training_report(path: Path) -> dict | None:
    """The training report's accuracy figures, or None when there is no report.

    Raises ExportError for a report that exists but cannot be read: a manifest that
    silently lost its accuracy figures would be worse than a stopped export.
    """
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: cannot read the training report: {exc}") from exc
    if not isinstance(report, dict):
        raise ExportError(f"{path}: the training report is not a JSON object")
    keys = ("evaluation", "per_count_accuracy", "exact", "epochs_run", "best_epoch", "seed",
            "wall_time_s", "device")
    return {"report": path.name, **{k: report.get(k) for k in keys}}


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
                   settings: dict, source: dict, timings: dict) -> dict:
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
        "versions": versions(),
        "parity": parity,
        "training": training,
        "source": source,
        "export": {"settings": settings, "seconds": timings},
        "created": _now(),
    }


def read_manifest(directory: Path) -> dict:
    """Read ``directory/manifest.json``; ExportError when missing, unreadable or not schema 1."""
    path = Path(directory) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: no manifest (run the export first: make export)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: cannot read the manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        found = manifest.get("schema_version") if isinstance(manifest, dict) else None
        raise ExportError(f"{path}: schema_version is {found!r}, expected {SCHEMA_VERSION}")
    if not isinstance(manifest.get("artifacts"), dict) or not manifest["artifacts"]:
        raise ExportError(f"{path}: lists no artifacts")
    return manifest


def verify_artifacts(manifest: dict, directory: Path) -> list[str]:
    """Every artifact of ``manifest`` whose file in ``directory`` is missing or differs from
    its recorded size and sha256; an empty list when all match."""
    problems = []
    for fmt, entry in manifest["artifacts"].items():
        try:
            name = entry["file"]
            if Path(name).name != name:
                raise ValueError(f"file name {name!r} is not a plain name")
            path = Path(directory) / name
            if not path.is_file():
                problems.append(f"{fmt}: {path} is missing")
            elif path.stat().st_size != entry["size_bytes"] or sha256_of(path) != entry["sha256"]:
                problems.append(f"{fmt}: {path} does not match the manifest's size and sha256")
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{fmt}: bad manifest entry: {exc}")
    return problems
