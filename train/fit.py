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

import json
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from train.certify import certify
from train.config import TrainConfig
from train.data import (N_BITS, clustered_bits, count_ones, mix_bits, padded_bits,
                        stratified_bits, to_inputs, uniform_bits)
from train.evaluate import evaluate, evaluation_sets, keras_predict_logits
from train.model import build_model, loop_form
from train.report import (CURVES_NAME, MODEL_NAME, REPORT_NAME, atomic_path, build_report,
                          plot_curves, sha256_of, write_json)
from train.targets import OrdinalCrossEntropy, fit_readout

BACKUP_DIR = "train_backup"
STATE_NAME = "state.json"
BEST_WEIGHTS_NAME = "best_weights.npz"
# Seed-sequence tags: training, readout and validation streams can never coincide with
# each other or with the evaluation stream (tag 3 in train.evaluate), whatever
# seeds are chosen.
TRAIN_STREAM = 1
VALIDATION_STREAM = 2
READOUT_STREAM = 4
SCORE_BATCH = 16_384
# Settings that change neither what is trained nor what is measured, so a
# backup made with other values of them can still be resumed.
NOT_RESULT_SETTINGS = ("out", "device", "threads", "verbose", "steps_per_execution",
                       "stop_when_exact", "stop_margin")


class TrainError(Exception):
    """A problem the user can fix (no GPU, a backup from other settings); one line."""


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


class TrainingStrings:
    """The strings of one epoch, generated when the epoch begins from ``(seed, epoch)``.

    They live in two TensorFlow variables that ``dataset()`` slices batch by batch,
    so ``fit`` reads them inside its compiled loop: about a fifth faster per epoch
    than handing Keras a Python dataset, with the same batches in the same order.
    The dataset does not prefetch, so no batch is read before ``prepare`` has
    written the epoch's strings.
    """

    def __init__(self, config: TrainConfig, n_bits: int = N_BITS):
        self.config = config
        self.n_bits = n_bits
        n = config.examples_per_epoch
        # On the CPU, where tf.data runs: a dataset cannot read a variable held on a GPU.
        with tf.device("/CPU:0"):
            self.inputs = tf.Variable(tf.zeros((n, n_bits, 1), tf.float32), trainable=False,
                                      name="epoch_inputs")
            self.counts = tf.Variable(tf.zeros((n,), tf.int64), trainable=False,
                                      name="epoch_counts")

    def __len__(self) -> int:
        return self.config.steps_per_epoch

    def dataset(self) -> tf.data.Dataset:
        """Batch ``i`` of the current epoch, for i in 0..steps_per_epoch - 1."""
        size = self.config.batch_size

        def batch(i):
            rows = tf.range(i * size, (i + 1) * size)
            return tf.gather(self.inputs, rows), tf.gather(self.counts, rows)

        return tf.data.Dataset.range(len(self)).map(batch)

    def prepare(self, epoch: int) -> None:
        c = self.config
        rng = np.random.default_rng([c.seed, TRAIN_STREAM, epoch])
        bits = mix_bits(c.examples_per_epoch, rng, c.stratified_fraction, c.clustered_fraction,
                        self.n_bits)
        self.inputs.assign(to_inputs(bits))
        self.counts.assign(count_ones(bits))


class EpochStrings(keras.callbacks.Callback):
    """Generates each epoch's strings at its start (after a resume: the right epoch's)."""

    def __init__(self, strings: TrainingStrings):
        super().__init__()
        self.strings = strings

    def on_epoch_begin(self, epoch, logs=None):
        self.strings.prepare(epoch)


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
