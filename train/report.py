"""What a training run leaves behind besides the model: the JSON report and the curves.

Every file is written atomically: into a temporary file in the same directory,
then ``os.replace``d over the target, so a reader (or an interrupted run) never
sees half a file.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPORT_NAME = "train_report.json"
CURVES_NAME = "training_curves.png"
MODEL_NAME = "model.keras"


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    The temporary name keeps the target's suffixes (Keras insists on ``.keras`` and
    ``.weights.h5``).
    On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stem, *_ = target.name.split(".", 1)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{stem}.",
                               suffix="".join(target.suffixes))
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates the file private (0600); give it the permissions any new file gets.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_json(path: Path | str, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def library_versions() -> dict[str, str]:
    import keras
    import matplotlib
    import numpy
    import tensorflow

    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "tensorflow": tensorflow.__version__, "keras": keras.__version__,
            "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def build_report(settings: dict, device: str, wall_time_s: float, total_wall_time_s: float,
                 history: list[dict],
                 best_epoch: int | None, evaluation: dict, resumed_from_epoch: int) -> dict:
    """The report other stages read: the keys below are a contract, do not rename them."""
    return {
        "settings": settings,
        "seed": settings["seed"],
        "versions": library_versions(),
        "device": device,
        # This invocation; with the interrupted runs it resumed, in the next key.
        "wall_time_s": round(wall_time_s, 2),
        "wall_time_with_resumed_s": round(total_wall_time_s, 2),
        "epochs_run": len(history),
        "resumed_from_epoch": resumed_from_epoch,
        # 1-based, as Keras prints it.
        "best_epoch": None if best_epoch is None else best_epoch + 1,
        "exact": evaluation["exact"],
        "evaluation": {name: row for name, row in evaluation.items()
                       if isinstance(row, dict)},
        "per_count_accuracy": evaluation["per_count_accuracy"],
        "history": history,
    }


def plot_curves(path: Path | str, history: list[dict], best_epoch: int | None = None) -> None:
    """Loss (log scale) and validation errors per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] + 1 for row in history]
    # Epochs whose validation stopped after a quarter (already worse than the
    # best) have no full figures; they are left out of the validation curves.
    validated = [row for row in history if row["val_errors"] is not None]
    val_epochs = [row["epoch"] + 1 for row in validated]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.semilogy(epochs, [row["loss"] for row in history], label="training loss")
    ax_loss.semilogy(val_epochs, [row["val_loss"] for row in validated], label="validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("softmax cross-entropy")
    ax_loss.legend()
    ax_loss.grid(True, which="both", alpha=0.3)
    # Errors rather than accuracy: the interesting range is 0 to a few hundred of
    # several hundred thousand strings, invisible on an accuracy axis.
    ax_err.semilogy(val_epochs, [row["val_errors"] + 1 for row in validated], color="C2")
    ax_err.set_xlim(ax_loss.get_xlim())
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("validation miscounts + 1")
    ax_err.grid(True, which="both", alpha=0.3)
    if best_epoch is not None:
        for ax in (ax_loss, ax_err):
            ax.axvline(best_epoch + 1, color="k", linestyle=":", label="kept")
    ax_acc = ax_err.twinx()
    ax_acc.plot(epochs, [row["accuracy"] for row in history], color="C1", alpha=0.6)
    ax_acc.set_ylabel("training accuracy", color="C1")
    fig.suptitle("count-the-ones RNN: training curves")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
