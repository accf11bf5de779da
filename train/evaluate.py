"""Held-out evaluation of a count-the-ones model, for any backend.

``evaluate`` takes a function from bits (uint8 ``[N, n_bits]``) to logits
(float ``[N, n_bits + 1]``), so a Keras model, a TFLite interpreter and an ONNX
session are all measured by the same code on the same strings.

The evaluation sets come from ``EVAL_SEED``, a seed that training and
validation never use (their streams are drawn from other seed sequences):

- ``uniform``: 1,000,000 uniformly random strings;
- ``per_count``: 1,000 strings of every count 0..n_bits, ones at random places;
- ``edge_cases``: the hand-picked strings of ``train.data.edge_case_bits``;
- ``padded``: 1,000,000 strings of a random length 1..n_bits, left-padded with
  zeros: what the runtime feeds the model for a short input (a long run of
  leading zeros is all but absent from uniform strings);
- ``single_run``: every string whose ones form one contiguous run (each count at
  each start position: 1,276 strings), where a counter whose gain drifts along
  the string weighs early and late ones differently.

``python -m train.evaluate [MODEL_PATH]`` prints the figures for a saved Keras
model. Exit status: 0 on success; 1 with ``--require-exact`` when any string is
miscounted; 2 when the arguments or the model file are unusable.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

import numpy as np

from train.data import (N_BITS, count_ones, edge_case_bits, padded_bits, run_bits,
                        stratified_bits, uniform_bits)

EVAL_SEED = 20180131
UNIFORM_SIZE = 1_000_000
PER_COUNT_SIZE = 1_000
PADDED_SIZE = 1_000_000
BATCH_SIZE = 65_536
SET_NAMES = ("uniform", "per_count", "edge_cases", "padded", "single_run")

# Streams are tagged so that no seed given to training can reproduce them.
_EVAL_STREAM = 3

PredictLogits = Callable[[np.ndarray], np.ndarray]
EvaluationSets = dict[str, tuple[np.ndarray, np.ndarray]]


def evaluation_sets(n_bits: int = N_BITS, seed: int = EVAL_SEED,
                    uniform_size: int = UNIFORM_SIZE,
                    per_count_size: int = PER_COUNT_SIZE,
                    padded_size: int = PADDED_SIZE) -> EvaluationSets:
    """The held-out sets as ``{name: (bits, counts)}``, deterministic in ``seed``."""
    uniform_rng = np.random.default_rng([seed, _EVAL_STREAM, 0])
    per_count_rng = np.random.default_rng([seed, _EVAL_STREAM, 1])
    padded_rng = np.random.default_rng([seed, _EVAL_STREAM, 2])
    uniform = uniform_bits(uniform_size, uniform_rng, n_bits)
    per_count = stratified_bits((n_bits + 1) * per_count_size, per_count_rng, n_bits,
                                counts=np.repeat(np.arange(n_bits + 1), per_count_size))
    edges = np.concatenate(list(edge_case_bits(n_bits).values()))
    padded = padded_bits(padded_size, padded_rng, n_bits)
    return {name: (bits, count_ones(bits))
            for name, bits in zip(SET_NAMES, (uniform, per_count, edges, padded, run_bits(n_bits)))}


def predict_counts(predict_logits: PredictLogits, bits: np.ndarray,
                   batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Predicted counts and margins (top logit minus runner-up), in bounded-memory batches."""
    counts, margins = [], []
    for start in range(0, len(bits), batch_size):
        logits = np.asarray(predict_logits(bits[start:start + batch_size]))
        if logits.ndim != 2 or logits.shape[0] != min(batch_size, len(bits) - start):
            raise ValueError(f"predict_logits returned shape {logits.shape} "
                             f"for {min(batch_size, len(bits) - start)} strings")
        top2 = np.partition(logits, -2, axis=1)[:, -2:]
        counts.append(logits.argmax(axis=1))
        margins.append(top2[:, 1] - top2[:, 0])
    return np.concatenate(counts).astype(np.int64), np.concatenate(margins)


def evaluate(predict_logits: PredictLogits, sets: EvaluationSets | None = None,
             batch_size: int = BATCH_SIZE) -> dict:
    """Accuracy of ``predict_logits`` on each set, plus per-count accuracy.

    Returns ``{set_name: {"n", "errors", "accuracy", "parity_accuracy",
    "min_margin"}, ..., "per_count_accuracy": [n_bits + 1 floats], "exact": bool}``.
    ``per_count_accuracy`` is measured on the ``per_count`` set when present, else
    on all sets pooled. ``min_margin`` is the smallest gap between the winning
    logit and the runner-up: how close the set came to a miscount.
    """
    if sets is None:
        sets = evaluation_sets()
    result: dict = {}
    pooled_true, pooled_pred = [], []
    n_classes = None
    for name, (bits, counts) in sets.items():
        predicted, margins = predict_counts(predict_logits, bits, batch_size)
        n_classes = bits.shape[1] + 1
        right = predicted == counts
        result[name] = {
            "n": int(len(counts)),
            "errors": int((~right).sum()),
            "accuracy": float(right.mean()) if len(counts) else 1.0,
            "parity_accuracy": float((predicted % 2 == counts % 2).mean()) if len(counts) else 1.0,
            "min_margin": float(margins.min()) if len(counts) else float("inf"),
        }
        if name == "per_count" or "per_count" not in sets:
            pooled_true.append(counts)
            pooled_pred.append(predicted)
    true, pred = np.concatenate(pooled_true), np.concatenate(pooled_pred)
    per_count = []
    for count in range(n_classes or 0):
        rows = true == count
        per_count.append(float((pred[rows] == count).mean()) if rows.any() else float("nan"))
    result["per_count_accuracy"] = per_count
    result["exact"] = all(result[name]["errors"] == 0 for name in sets)
    return result


def format_table(result: dict) -> str:
    """The evaluation as a small text table, then the counts that were not all right."""
    lines = [f"{'set':<12}{'strings':>10}{'errors':>8}{'accuracy':>12}{'parity':>12}{'min margin':>12}"]
    for name, row in result.items():
        if isinstance(row, dict):
            lines.append(f"{name:<12}{row['n']:>10,}{row['errors']:>8}{row['accuracy']:>12.6%}"
                         f"{row['parity_accuracy']:>12.6%}{row['min_margin']:>12.3f}")
    imperfect = [(acc, count) for count, acc in enumerate(result["per_count_accuracy"]) if acc < 1.0]
    worst = ", ".join(f"{count}: {acc:.4f}" for acc, count in sorted(imperfect)[:10])
    more = f" (and {len(imperfect) - 10} more)" if len(imperfect) > 10 else ""
    lines.append("counts not always right (per_count set): "
                 + (worst + more if imperfect else "none"))
    lines.append("exact on every set" if result["exact"] else "NOT exact")
    return "\n".join(lines)


def keras_predict_logits(model, batch_size: int = BATCH_SIZE) -> PredictLogits:
    """Wrap a Keras model as bits -> logits (one compiled graph, reused for every batch)."""
    import tensorflow as tf

    from train.data import to_inputs

    forward = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)

    def predict_logits(bits: np.ndarray) -> np.ndarray:
        return forward(tf.constant(to_inputs(bits))).numpy()

    return predict_logits


def check_model_path(prog: str, path: str) -> None:
    """Fail (one line, exit 2) when ``path`` cannot be a saved model, before TensorFlow's
    import (many seconds) is spent on it: missing, unreadable, or not a file or directory."""
    import stat

    from runtime.cli.args import EXIT_USAGE, Fail

    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            with open(path, "rb"):
                pass
        elif not stat.S_ISDIR(mode):
            raise Fail(f"{prog}: cannot read {path}: not a regular file", EXIT_USAGE)
    except (OSError, ValueError) as exc:
        raise Fail(f"{prog}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                   EXIT_USAGE) from None


def load_saved_model(path: str):
    """A saved Keras model for the command lines; None, with the one-line error printed, when
    it cannot be read."""
    # TensorFlow's C++ start-up chatter says nothing about the figures.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    try:
        return keras.models.load_model(path)
    except (OSError, ValueError) as exc:
        print(f"error: cannot load a Keras model from {path}: {exc}", file=sys.stderr)
        return None


def build_parser() -> argparse.ArgumentParser:
    from runtime.cli.args import OneLineParser, integer

    parser = OneLineParser(
        prog="python -m train.evaluate",
        description="Count the ones with a saved Keras model on the held-out evaluation sets "
                    "(1,000,000 uniform strings, 1,000 strings of every count, edge cases, "
                    "1,000,000 left-padded short strings, every single run of ones).")
    parser.add_argument("model_path", nargs="?", default="artifacts/model.keras",
                        help="saved Keras model (default: %(default)s)")
    parser.add_argument("--require-exact", action="store_true",
                        help="exit 1 unless every string of every set is counted right")
    parser.add_argument("--batch-size", type=integer(1), default=BATCH_SIZE,
                        help="strings per inference batch (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    check_model_path("train.evaluate", args.model_path)
    model = load_saved_model(args.model_path)
    if model is None:
        return 2
    n_bits = model.input_shape[1]
    result = evaluate(keras_predict_logits(model, args.batch_size), evaluation_sets(n_bits),
                      args.batch_size)
    print(f"model: {args.model_path}")
    print(format_table(result))
    if args.require_exact and not result["exact"]:
        return 1
    return 0


if __name__ == "__main__":
    from runtime.cli.args import run_main

    sys.exit(run_main("train.evaluate", main, interrupted="interrupted"))
