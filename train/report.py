"""What a training run leaves behind besides the model: the JSON report and the curves.

Every file is written atomically: into a temporary file in the same directory,
then ``os.replace``d over the target, so a reader (or an interrupted run) never
sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np

from runtime.files import atomic_path

REPORT_NAME = "train_report.json"
CURVES_NAME = "training_curves.png"
MODEL_NAME = "model.keras"


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path | str, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def library_versions() -> dict[str, str | None]:
    from runtime.versions import versions

    return {**versions(("numpy", "tensorflow", "keras", "matplotlib")), "platform": platform.platform()}


def machine() -> dict:
    """The CPU: the same seed trains bit-identical weights only on the same instruction set
    (TensorFlow's kernels sum in another order with and without AVX-512)."""
    model, flags = platform.processor() or None, set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
                if model and flags:
                    break
    except OSError:
        pass
    return {"cpu": model, "avx512": "avx512f" in flags if flags else None,
            "avx2": "avx2" in flags if flags else None, "cores": os.cpu_count(),
            "machine": platform.machine()}


def build_report(settings: dict, device: str, wall_time_s: float, total_wall_time_s: float,
                 history: list[dict], best_epoch: int | None, evaluation: dict,
                 resumed_from_epoch: int, certificate: dict, start: dict | None,
                 strings_seen: int, model_sha256: str) -> dict:
    """The report other stages read: the keys below are a contract, do not rename them.

    ``exact``: every evaluation string counted right and, where the proof applies (the
    Elman cell), proved for every string of the window.
    """
    proved_or_not_needed = certificate["proved"] or not certificate["applicable"]
    return {
        "settings": settings,
        "seed": settings["seed"],
        # The model file this report describes: export refuses a report of another model.
        "model_sha256": model_sha256,
        "versions": library_versions(),
        "machine": machine(),
        "device": device,
        # This invocation; with the interrupted runs it resumed, in the next key.
        "wall_time_s": round(wall_time_s, 2),
        "wall_time_with_resumed_s": round(total_wall_time_s, 2),
        "epochs_run": len(history),
        "resumed_from_epoch": resumed_from_epoch,
        # 1-based, as Keras prints it.
        "best_epoch": None if best_epoch is None else best_epoch + 1,
        "exact": bool(evaluation["exact"] and proved_or_not_needed),
        "evaluation_exact": bool(evaluation["exact"]),
        "certificate": certificate,
        "evaluation": {name: row for name, row in evaluation.items()
                       if isinstance(row, dict)},
        "min_margin": min((row["min_margin"] for row in evaluation.values()
                           if isinstance(row, dict) and row["n"]), default=None),
        # Strings the weights were fitted on: the readout's least squares and every epoch.
        "strings_seen": strings_seen,
        # The state after the readout fit, before the first gradient step.
        "start": start,
        "per_count_accuracy": evaluation["per_count_accuracy"],
        "history": history,
    }


def plot_curves(path: Path | str, history: list[dict], best_epoch: int | None = None) -> None:
    """Loss (log scale), validation miscounts and the proved margin per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] + 1 for row in history]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.semilogy(epochs, [row["loss"] for row in history], marker="o", label="training loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy against the soft targets")
    ax_loss.legend()
    ax_loss.grid(True, which="both", alpha=0.3)
    # Errors rather than accuracy: the interesting range is 0 to a few hundred of
    # tens of thousands of strings, invisible on an accuracy axis.
    ax_err.semilogy(epochs, [row["val_errors"] + 1 for row in history], color="C2", marker="o",
                    label="validation miscounts + 1")
    ax_err.set_xlim(ax_loss.get_xlim())
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("validation miscounts + 1")
    ax_err.grid(True, which="both", alpha=0.3)
    if best_epoch is not None:
        for ax in (ax_loss, ax_err):
            ax.axvline(best_epoch + 1, color="k", linestyle=":", label="kept")
    ax_gap = ax_err.twinx()
    ax_gap.plot(epochs, [row["proved_slack"] if row.get("proved") else np.nan for row in history],
                color="C1", marker="s")
    ax_gap.set_ylabel("proved smallest top-2 gap (logits)", color="C1")
    fig.suptitle("count-the-ones RNN: training curves")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
