"""Every setting of a training run, in one frozen dataclass, and the CLI that fills it.

Field names are the command-line flags with dashes turned into underscores
(``--hidden-units`` -> ``hidden_units``). The whole dataclass is written into
``train_report.json`` so a model can be explained and rebuilt later.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

# The same as train.model.CELLS (a test pins it); repeated so that ``--help`` and
# argument errors answer without importing TensorFlow.
CELLS = ("rnn", "gru", "lstm")
DEVICES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class TrainConfig:
    # Where the model, the report, the plot and (while running) the backup go.
    out: str = "artifacts"
    # One seed drives the initial weights and every training batch.
    seed: int = 0
    device: str = "auto"

    # The model: the chapter's Elman RNN with ReLU. 32 units rather than the
    # chapter's 24: at 24 the runs we measured stalled at a few dozen miscounts
    # per million strings; 32 reach zero within the time budget.
    cell: str = "rnn"
    hidden_units: int = 32
    # Unrolling the 50 steps runs about twice as fast on a CPU as the loop; the
    # saved model is the loop form either way (same weights).
    unroll: bool = True

    # The schedule. An epoch is a fixed number of steps on freshly generated
    # strings, so no string is ever seen twice and overfitting cannot happen.
    epochs: int = 150
    steps_per_epoch: int = 400
    batch_size: int = 256
    # Adam, warmed up linearly, then cosine-decayed to nearly zero: the high
    # rate finds the counter, the low tail settles it. Twice this rate made the
    # learned counter collapse more often than it helped.
    learning_rate: float = 5e-3
    final_learning_rate: float = 1e-6
    warmup_epochs: int = 2
    # Late in training a batch's gradient norm is often above 1 (the hidden
    # state runs into the hundreds, the loss surface is steep): clipping keeps
    # a single batch of hard strings from throwing the counter off.
    clipnorm: float = 1.0

    # Length curriculum: for the first ``curriculum_epochs`` epochs the strings
    # are shorter (from ``curriculum_start_length`` bits, growing linearly to the
    # full length), left-padded with zeros as the runtime pads short inputs.
    # It gets the first epochs' loss down sooner, but in our runs of 100-150
    # epochs it ended with 2-67 miscounts per million where the plain schedule
    # ended exact, so it is off by default.
    curriculum_epochs: int = 0
    curriculum_start_length: int = 10

    # The mix of each epoch's strings; uniform strings fill the rest.
    stratified_fraction: float = 0.3
    clustered_fraction: float = 0.3
    # Hard-example mining: from ``mining_start`` (a fraction of the epochs) on,
    # this fraction of each epoch is the highest-loss strings of a fresh pool.
    # The last miscounts are rare arrangements that random batches seldom hold.
    hard_fraction: float = 0.3
    mining_pool: int = 300_000
    mining_start: float = 0.3

    # Validation: its own seed, never the evaluation seed. Large and mixed, so
    # that exact on it predicts exact on the held-out sets.
    validation_seed: int = 1
    validation_uniform: int = 200_000
    validation_per_count: int = 1_000
    # Short strings left-padded with zeros, as the runtime feeds short inputs.
    validation_padded: int = 50_000
    # Validating costs about as much as training an epoch, and an epoch before
    # the learning rate has come down is never the best (in our runs the first
    # exact epochs came after 85% of the schedule): validate from this fraction
    # of the epochs on.
    validation_start: float = 0.75
    # Stop at the first epoch that is exact on validation with every string won
    # by at least ``stop_margin`` (logits). Exact on a few hundred thousand
    # strings with a thin margin still left miscounts among 1,000,000 fresh ones;
    # the margin is what carries over. The best epoch is kept either way.
    stop_when_exact: bool = True
    stop_margin: float = 0.5

    # Steps run inside one compiled call: the whole epoch, so Python is not
    # between steps at all (same weights as one step per call, a little faster).
    steps_per_execution: int = 400
    # TensorFlow CPU threads for one op and across ops (0: TensorFlow's choice,
    # one per core). The thread count does not change the arithmetic here: one
    # and two threads gave bit-identical weights. On an idle 2-core machine two
    # threads ran an epoch in 0.8 s against 1.2 s and scored 300,000 strings in
    # 0.6 s against 0.9 s; on a machine busy with other work, 1 is the better choice.
    threads: int = 0
    # Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    verbose: int = 2

    def validate(self) -> None:
        """Raise ``ValueError`` with a one-line message for an unusable setting."""
        if self.cell not in CELLS:
            raise ValueError(f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.device not in DEVICES:
            raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        positive = ("hidden_units", "epochs", "steps_per_epoch", "batch_size", "steps_per_execution")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 1 <= self.curriculum_start_length <= 50:
            raise ValueError("--curriculum-start-length must be in 1..50, "
                             f"got {self.curriculum_start_length}")
        nonnegative = ("warmup_epochs", "curriculum_epochs", "mining_pool", "validation_uniform",
                       "validation_per_count", "validation_padded", "threads",
                       "final_learning_rate", "clipnorm", "stop_margin")
        for name in nonnegative:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.warmup_epochs >= self.epochs:
            raise ValueError("--warmup-epochs must be smaller than --epochs")
        for name in ("stratified_fraction", "clustered_fraction", "hard_fraction", "mining_start",
                     "validation_start"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        if self.stratified_fraction + self.clustered_fraction > 1.0:
            raise ValueError("--stratified-fraction + --clustered-fraction must be at most 1")
        if self.hard_fraction > 0 and self.mining_pool < self.hard_fraction * self.examples_per_epoch:
            raise ValueError("--mining-pool must hold at least the hard strings of an epoch "
                             f"({int(self.hard_fraction * self.examples_per_epoch)})")
        if self.validation_uniform + self.validation_per_count + self.validation_padded == 0:
            raise ValueError("validation needs strings: --validation-uniform, "
                             "--validation-per-count or --validation-padded")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"--verbose must be 0, 1 or 2, got {self.verbose}")

    @property
    def examples_per_epoch(self) -> int:
        return self.steps_per_epoch * self.batch_size

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_HELP = {
    "out": "directory for model.keras, train_report.json, the curves PNG and the resume backup",
    "seed": "seed of the initial weights and of every training string",
    "device": "auto: a GPU when TensorFlow sees one, else the CPU; gpu: fail unless one is visible",
    "cell": "recurrent cell: rnn (Elman, ReLU; the chapter's), gru or lstm",
    "hidden_units": "width of the recurrent layer",
    "unroll": "train the recurrent layer unrolled (faster on CPU; the saved model is identical)",
    "epochs": "most epochs to run (training stops earlier once validation is exact)",
    "steps_per_epoch": "optimizer steps per epoch; every epoch draws fresh strings",
    "batch_size": "strings per optimizer step",
    "learning_rate": "peak Adam learning rate, reached after the warm-up",
    "final_learning_rate": "learning rate the cosine decay ends at",
    "warmup_epochs": "epochs of linear learning-rate warm-up from zero",
    "clipnorm": "clip each gradient to this norm (0: no clipping)",
    "curriculum_epochs": "epochs over which the strings grow from the start length to the full "
                         "length (0: full length throughout)",
    "curriculum_start_length": "length of the strings in the first epoch (left-padded with zeros)",
    "stratified_fraction": "share of strings whose count is uniform on 0..50",
    "clustered_fraction": "share of strings whose ones lie in a random window (runs at the start or end)",
    "hard_fraction": "share of each epoch taken from the highest-loss strings of a fresh pool",
    "mining_pool": "strings scored per epoch to find the hard ones",
    "mining_start": "fraction of the epochs after which hard-example mining starts",
    "validation_seed": "seed of the validation strings (never the evaluation seed)",
    "validation_uniform": "uniform strings in the validation set",
    "validation_per_count": "strings per count 0..50 in the validation set, for each of the "
                            "stratified and clustered families",
    "validation_start": "fraction of the epochs after which every epoch is validated "
                        "(the last epoch always is)",
    "validation_padded": "short strings (length 1..50, left-padded with zeros) in the validation set",
    "stop_when_exact": "stop at the first epoch that counts every validation string right "
                       "with at least --stop-margin between the top two logits",
    "stop_margin": "smallest gap between the winning and the runner-up logit, over all "
                   "validation strings, that allows stopping early",
    "steps_per_execution": "optimizer steps per compiled call",
    "threads": "TensorFlow CPU threads (0: TensorFlow's default)",
    "verbose": "Keras progress output: 0 silent, 1 bar, 2 one line per epoch",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train the count-the-ones RNN on generated bit strings, keep the best "
                    "model on validation, evaluate it on held-out sets and write model.keras, "
                    "train_report.json and training_curves.png. Interrupted runs resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    choices = {"cell": CELLS, "device": DEVICES, "verbose": (0, 1, 2)}
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction,
                                default=field.default, help=_HELP[field.name])
        else:
            kind = {"int": int, "float": float, "str": str}[field.type]
            parser.add_argument(flag, type=kind, default=field.default,
                                choices=choices.get(field.name), help=_HELP[field.name])
    return parser


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Settings from the command line; argparse reports bad values (usage, exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = TrainConfig(**vars(args))
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    return config
