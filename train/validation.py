"""Judging an epoch: the proof, the validation set, and keeping the best weights."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from train.backup import BEST_WEIGHTS_NAME, STATE_NAME, comparable_settings
from train.certify import certify
from train.config import TrainConfig
from train.data import (N_BITS, clustered_bits, count_ones, padded_bits, stratified_bits,
                        to_inputs, uniform_bits)
from train.report import atomic_path, write_json

VALIDATION_STREAM = 2
SCORE_BATCH = 16_384


def validation_set(config: TrainConfig, n_bits: int = N_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Uniform strings, every count in the stratified and the clustered family, and
    left-padded short strings."""
    rng = np.random.default_rng([config.validation_seed, VALIDATION_STREAM])
    counts = np.repeat(np.arange(n_bits + 1), config.validation_per_count)
    bits = np.concatenate([uniform_bits(config.validation_uniform, rng, n_bits),
                           stratified_bits(len(counts), rng, n_bits, counts=counts),
                           clustered_bits(len(counts), rng, n_bits, counts=counts),
                           padded_bits(config.validation_padded, rng, n_bits)])
    # Shuffled, so that any slice is a sample of the whole.
    bits = bits[rng.permutation(len(bits))]
    return bits, count_ones(bits)


def scorer(model: keras.Model):
    """bits -> (predicted count, top-two logit gap) of each string, batched."""
    @tf.function(reduce_retracing=True)
    def forward(inputs):
        logits = model(inputs, training=False)
        top2 = tf.math.top_k(logits, k=2).values
        return tf.argmax(logits, axis=1), top2[:, 0] - top2[:, 1]

    def score(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [[t.numpy() for t in forward(tf.constant(to_inputs(bits[i:i + SCORE_BATCH])))]
                 for i in range(0, len(bits), SCORE_BATCH)]
        return tuple(np.concatenate(column) for column in zip(*parts))

    return score


def judge(model: keras.Model, score, bits: np.ndarray, counts: np.ndarray) -> dict:
    """The proof and the validation figures of the model as it is now."""
    certificate = certify(model)
    predicted, margins = score(bits)
    right = predicted == counts
    return {"val_errors": int((~right).sum()),
            "val_min_margin": float(margins[right].min()) if right.any() else None,
            "proved": certificate.proved if certificate.applicable else None,
            "proved_margin": certificate.margin if certificate.proved else None,
            "proved_slack": certificate.slack if certificate.proved else None}


def rank(figures: dict) -> tuple:
    """Sort key of an epoch, smallest best: proved first (where the proof applies), then
    fewest validation miscounts, then the widest margin (proved, else validation)."""
    margin = figures["proved_slack"] if figures["proved"] else figures["val_min_margin"]
    return (figures["proved"] is False, figures["val_errors"],
            -margin if margin is not None else np.inf)


def exact_with_margin(figures: dict, margin: float) -> bool:
    """Exact on validation, proved where the proof applies, every string won by ``margin``."""
    won_by = figures["proved_slack"] if figures["proved"] else figures["val_min_margin"]
    return (figures["val_errors"] == 0 and figures["proved"] is not False
            and won_by is not None and won_by >= margin)


class Validation(keras.callbacks.Callback):
    """Proves and validates after each epoch, keeps the best weights, stops when exact.

    Its bookkeeping (history, best epoch, best weights, the readout fit) is saved beside
    the Keras backup, so a resumed run continues the same curves and the same best.
    """

    def __init__(self, config: TrainConfig, bits: np.ndarray, counts: np.ndarray, score,
                 backup_dir: Path, state: dict | None, start: dict | None = None):
        super().__init__()
        self.config = config
        self.bits, self.counts = bits, counts
        self.score = score
        self.backup_dir = backup_dir
        self.history: list[dict] = list(state["history"]) if state else []
        self.best_epoch: int | None = state["best_epoch"] if state else None
        self.best_key = tuple(state["best_key"]) if state and state["best_key"] else None
        self.start = state["start"] if state else start
        self.best_weights = None
        self.first_epoch: int | None = None
        self.settings = comparable_settings(config)
        self.wall_time_before = state["wall_time_s"] if state else 0.0
        self.started = time.time()
        self.last_epoch_end = time.perf_counter()

    def on_train_begin(self, logs=None):
        best_path = self.backup_dir / BEST_WEIGHTS_NAME
        if self.best_epoch is not None and best_path.exists():
            with np.load(best_path) as saved:
                self.best_weights = [saved[f"w{i}"] for i in range(len(saved.files))]

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            # The Keras backup may be one epoch behind our bookkeeping if the run
            # stopped between the two saves; that epoch is then trained again.
            self.first_epoch = epoch
            self.history = [row for row in self.history if row["epoch"] < epoch]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        figures = judge(self.model, self.score, self.bits, self.counts)
        # Wall time since the previous epoch ended: this epoch's strings, steps and
        # validation, and the previous epoch's backup.
        now = time.perf_counter()
        row = {"epoch": epoch, "loss": float(logs.get("loss", np.nan)),
               "accuracy": float(logs.get("accuracy", np.nan)), **figures,
               "learning_rate": float(self.model.optimizer.learning_rate.numpy()),
               "seconds": round(now - self.last_epoch_end, 3)}
        self.last_epoch_end = now
        logs.update({k: v for k, v in figures.items() if isinstance(v, (int, float))})
        self.history.append(row)
        key = rank(figures)
        if self.best_key is None or key < tuple(self.best_key):
            self.best_key, self.best_epoch = key, epoch
            self.best_weights = self.model.get_weights()
            self.backup_dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.backup_dir / BEST_WEIGHTS_NAME) as tmp:
                np.savez(tmp, **{f"w{i}": w for i, w in enumerate(self.best_weights)})
        self.save_state(finished=False)
        if self.config.stop_when_exact and exact_with_margin(figures, self.config.stop_margin):
            self.model.stop_training = True

    def save_state(self, finished: bool) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.backup_dir / STATE_NAME, {
            "settings": self.settings, "history": self.history, "best_epoch": self.best_epoch,
            "best_key": list(self.best_key) if self.best_key else None, "start": self.start,
            "finished": finished, "wall_time_s": self.wall_time_before + time.time() - self.started})
