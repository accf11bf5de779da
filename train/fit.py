"""The training run: a fitted start, fresh strings every epoch, a proof, resumable, reproducible.

One call, ``train(config)``, does everything ``python -m train`` promises:

1. picks the device and makes TensorFlow deterministic (same seed on the same
   machine: bit-identical weights);
2. builds the model at its near-integrator start (``train.model``) and fits the
   readout to it by least squares (``train.targets.fit_readout``);
3. trains every weight with Keras ``fit`` on the soft ordinal targets, on strings
   generated per epoch from ``(seed, epoch)``, mixing uniform, stratified and
   clustered strings;
4. after every epoch tries to prove the model exact (``train.certify``) and counts
   the miscounts on a validation set of its own seed, keeps the best epoch (proved
   first, then fewest miscounts, then the widest margin), and stops once it is exact
   with the margin asked for;
5. backs up weights, optimizer state and its own bookkeeping after every epoch
   under ``<out>/train_backup`` (``Backup``: Keras's ``BackupAndRestore`` with
   atomic saves), so an interrupted run continues where it stopped when started
   again, whenever the interruption came;
6. saves ``model.keras`` (the loop form of the layer), proves and evaluates it on
   the held-out sets, writes ``train_report.json`` and the curves, and only then
   removes the backup.

Because an epoch's strings depend only on ``(seed, epoch)`` and on the weights
at its start, a resumed run trains exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from train.backup import BACKUP_DIR, Backup, TrainError, load_state
from train.certify import certify
from train.config import TrainConfig
from train.data import N_BITS, mix_bits
from train.evaluate import evaluate, evaluation_sets, keras_predict_logits
from train.model import build_model, loop_form
from train.report import (CURVES_NAME, MODEL_NAME, REPORT_NAME, atomic_path, build_report,
                          plot_curves, sha256_of, write_json)
from train.strings import EpochStrings, TrainingStrings
from train.targets import OrdinalCrossEntropy, fit_readout
from train.validation import Validation, judge, scorer, validation_set

__all__ = ["train", "TrainError", "BACKUP_DIR", "validation_set", "select_device"]

# Seed-sequence tag of the readout fit's strings (see train.strings).
READOUT_STREAM = 4


def select_device(device: str) -> str:
    """Make TensorFlow use the requested device; return what it uses, in words.

    Must run before TensorFlow creates any tensor.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise TrainError("--device gpu: TensorFlow sees no GPU (is the tensorflow[and-cuda] "
                         "build installed and a driver present?); use --device cpu or auto")
    if device == "cpu" or not gpus:
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        return "cpu"
    tf.config.set_visible_devices(gpus[:1], "GPU")
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return f"gpu ({name})"


def schedule(config: TrainConfig) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up from zero, then cosine decay to ``final_learning_rate``."""
    warmup = config.warmup_epochs * config.steps_per_epoch
    decay = config.epochs * config.steps_per_epoch - warmup
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=decay, alpha=config.final_learning_rate / config.learning_rate,
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)


def save_model(model: keras.Model, path: Path) -> keras.Model:
    """Save the loop form of the trained layer (what the chapter builds), atomically."""
    saved = loop_form(model)
    with atomic_path(path) as tmp:
        saved.save(tmp)
    return saved


def limit_threads(threads: int) -> None:
    """Give TensorFlow ``threads`` CPU threads (0 leaves its default).

    TensorFlow fixes its thread pools when it first runs an op; a caller that
    has already used it in this process (a test, a notebook) keeps the pools it
    has. That is harmless: the thread count does not change the arithmetic.
    """
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


def fitted_start(model: keras.Model, config: TrainConfig, score, val_bits, val_counts) -> dict:
    """Fit the readout to the initial state from data; return the fit's figures."""
    rng = np.random.default_rng([config.seed, READOUT_STREAM])
    bits = mix_bits(config.readout_strings, rng, config.stratified_fraction,
                    config.clustered_fraction)
    fit = fit_readout(model, bits, config.target_width) if config.readout_strings else {}
    return {**fit, **judge(model, score, val_bits, val_counts)}


def train(config: TrainConfig, extra_callbacks: list | None = None,
          sets: dict | None = None) -> dict:
    """Run the whole training stage; return the report (also written to ``config.out``).

    ``extra_callbacks`` go after ours (tests use one to interrupt a run);
    ``sets`` replaces the held-out evaluation sets (tests use small ones).
    Raises ``TrainError`` for problems the user can fix.
    """
    started = time.time()
    config.validate()
    limit_threads(config.threads)
    device = select_device(config.device)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    out = Path(config.out)
    backup_dir = out / BACKUP_DIR
    state = load_state(backup_dir, config)
    if state and config.verbose:
        print(f"resuming the interrupted run in {backup_dir} "
              f"({len(state['history'])} epochs done)")

    n_classes = N_BITS + 1
    model = build_model(config.cell, config.hidden_units, N_BITS, unroll=config.unroll,
                        seed=config.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule(config), clipnorm=config.clipnorm or None),
        loss=OrdinalCrossEntropy(config.target_width, n_classes),
        metrics=["accuracy"], steps_per_execution=config.steps_per_execution)

    score = scorer(model)
    val_bits, val_counts = validation_set(config)
    # A resumed run takes its weights from the backup, fitted readout included.
    start = None if state else fitted_start(model, config, score, val_bits, val_counts)
    if start and config.verbose:
        print(f"readout fitted on {start.get('strings', 0):,} strings: {start['val_errors']} "
              f"validation miscounts, proved: {start['proved']}")
    strings = TrainingStrings(config)
    validation = Validation(config, val_bits, val_counts, score, backup_dir, state, start)
    finished = bool(state and state.get("finished"))
    if not finished:
        # Order matters: our bookkeeping is saved before the Keras backup marks
        # the epoch done, so the backup is never ahead of the bookkeeping.
        callbacks = [EpochStrings(strings), validation, Backup(backup_dir)]
        model.fit(strings.dataset(), epochs=config.epochs, shuffle=False, verbose=config.verbose,
                  callbacks=callbacks + list(extra_callbacks or []))
        validation.save_state(finished=True)
        resumed_from = validation.first_epoch or 0
    else:
        resumed_from = len(validation.history)
        validation.set_model(model)
        validation.on_train_begin()
    if validation.best_weights is not None:
        model.set_weights(validation.best_weights)

    saved = save_model(model, out / MODEL_NAME)
    certificate = certify(saved)
    evaluation = evaluate(keras_predict_logits(saved), sets or evaluation_sets(N_BITS))
    strings_seen = config.readout_strings + len(validation.history) * config.examples_per_epoch
    report = build_report(config.to_dict(), device, time.time() - started,
                          validation.wall_time_before + time.time() - started,
                          validation.history, validation.best_epoch, evaluation, resumed_from,
                          certificate.to_dict(), validation.start, strings_seen,
                          sha256_of(out / MODEL_NAME))
    write_json(out / REPORT_NAME, report)
    plot_curves(out / CURVES_NAME, validation.history, validation.best_epoch)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return report
