"""The training evidence an export carries: the training report read, the refusal of a model
it does not show exact, and the manifest's account of why the counts can be trusted
(``exactness``) and of how the model was trained (``recipe``)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ExportError

__all__ = ["read_training_report", "check_exact", "exactness", "recipe"]


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
    keys = ("evaluation", "per_count_accuracy", "exact", "evaluation_exact", "certificate",
            "min_margin", "epochs_run", "best_epoch", "seed", "strings_seen", "wall_time_s",
            "device", "machine", "settings", "model_sha256")
    return {"report": path.name, **{k: report.get(k) for k in keys}}


def check_exact(training: dict | None, path: Path, source_sha256: str, allowed: bool) -> None:
    """Refuse (ExportError) a model not shown exact by its own training report, unless
    ``allowed``: one that miscounts must never be published quietly."""
    if allowed:
        return
    hint = "; pass --allow-inexact to export it anyway"
    if training is None:
        raise ExportError(f"{path}: no training report beside the model, so nothing says it "
                          f"counts exactly{hint}")
    if training.get("model_sha256") not in (None, source_sha256):
        raise ExportError(f"{path}: the training report describes another model (its sha256 "
                          f"differs from the model file's){hint}")
    if training.get("exact") is not True:
        evaluation = training.get("evaluation") or {}
        misses = sum(row.get("errors", 0) for row in evaluation.values() if isinstance(row, dict))
        proof = (training.get("certificate") or {}).get("reason") or "not proved"
        raise ExportError(f"{path}: the training report says the model is not exact "
                          f"({misses} miscounts on the evaluation sets; proof: {proof}){hint}")


def exactness(training: dict | None, certificate: dict, soak: dict | None,
              allowed: bool, n_bits: int) -> dict:
    """The manifest's account of why the counts can be trusted, with the evidence."""
    evaluation = (training or {}).get("evaluation") or {}
    sets = {name: {"n": row.get("n"), "errors": row.get("errors")}
            for name, row in evaluation.items() if isinstance(row, dict)}
    exact = training.get("exact") if training else None
    claims = []
    if certificate.get("proved"):
        claims.append(f"proved for every string of the {n_bits}-bit window "
                      f"(train.certify, float32 round-off included; smallest top-2 gap "
                      f"{certificate['margin']:.3f}), hence for every length")
    if sets:
        claims.append(f"{sum(s['errors'] or 0 for s in sets.values())} miscounts on "
                      f"{sum(s['n'] or 0 for s in sets.values()):,} evaluation strings")
    if soak:
        claims.append("; ".join(f"{fmt}: {r['errors']} miscounts in {r['strings']:,} fresh strings"
                                for fmt, r in soak.items()))
    return {"exact": exact, "exported_inexact": bool(allowed and exact is not True),
            "claim": "; ".join(claims) or "no evidence", "proof": certificate,
            "evaluation": sets, "soak": soak}


def recipe(training: dict | None) -> dict | None:
    """How the model was trained: the settings, seed, machine and cost of the run."""
    if not training:
        return None
    return {"settings": training.get("settings"), "seed": training.get("seed"),
            "strings_seen": training.get("strings_seen"), "wall_time_s": training.get("wall_time_s"),
            "device": training.get("device"), "machine": training.get("machine")}
