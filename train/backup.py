"""Resuming an interrupted run: the Keras backup made atomic, and our own bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from train.config import TrainConfig
from train.report import atomic_path, write_json

BACKUP_DIR = "train_backup"
STATE_NAME = "state.json"
BEST_WEIGHTS_NAME = "best_weights.npz"
# Settings that change neither what is trained nor what is measured, so a
# backup made with other values of them can still be resumed.
NOT_RESULT_SETTINGS = ("out", "device", "threads", "verbose", "steps_per_execution",
                       "stop_when_exact", "stop_margin")


class TrainError(Exception):
    """A problem the user can fix (no GPU, a backup from other settings); one line."""


class Backup(keras.callbacks.BackupAndRestore):
    """Keras's backup and restore, with every save atomic.

    Keras writes the weights file in place and then the epoch number beside it, so
    a Ctrl-C in the middle leaves a half-written file that the next run cannot load.
    Here the weights of each epoch go to a file of their own (written beside and
    renamed into place), and ``training_metadata.json``, written the same way and
    naming that file, is the one commit point: whenever the run stops, the backup
    is the last epoch whose save finished.
    """

    METADATA_NAME = "training_metadata.json"

    def __init__(self, backup_dir: Path):
        super().__init__(str(backup_dir), delete_checkpoint=False, double_checkpoint=False)
        self.directory = Path(backup_dir)

    def on_train_begin(self, logs=None):
        self._load_model()

    def _load_model(self):
        metadata = self.directory / self.METADATA_NAME
        if not metadata.exists():
            return
        try:
            saved = json.loads(metadata.read_text())
            weights = self.directory / saved["weights"]
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(weights)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TrainError(f"cannot read the backup in {self.directory} ({exc}); delete it "
                             "to start afresh") from exc
        self.model._initial_epoch = saved["epoch"]

    def _save_model(self):
        name = f"epoch-{self._current_epoch:05d}.weights.h5"
        with atomic_path(self.directory / name) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        write_json(self.directory / self.METADATA_NAME,
                   {"epoch": self._current_epoch, "batch": 0, "weights": name})
        for old in self.directory.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)


def comparable_settings(config: TrainConfig) -> dict:
    return {k: v for k, v in config.to_dict().items() if k not in NOT_RESULT_SETTINGS}


def load_state(backup_dir: Path, config: TrainConfig) -> dict | None:
    """Our bookkeeping from an interrupted run, or None; refuses other settings' backups."""
    path = backup_dir / STATE_NAME
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read the resume state {path} ({exc}); delete {backup_dir} "
                         "to start afresh") from exc
    saved = {k: v for k, v in state.get("settings", {}).items() if k not in NOT_RESULT_SETTINGS}
    current = comparable_settings(config)
    if saved != current:
        changed = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
        raise TrainError(f"{backup_dir} holds an interrupted run with other settings "
                         f"({', '.join(changed)}); rerun with those settings to resume, "
                         f"or delete {backup_dir} to start afresh")
    return state
