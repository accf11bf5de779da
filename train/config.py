"""Every setting of a training run, in one frozen dataclass, and the CLI that fills it.

Field names are the command-line flags with dashes turned into underscores
(``--hidden-units`` -> ``hidden_units``). The whole dataclass is written into
``train_report.json`` so a model can be explained and rebuilt later.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from runtime.cli.args import OneLineParser, integer, number

# The same as train.model.CELLS (a test pins it); repeated so that ``--help`` and
# argument errors answer without importing TensorFlow.
CELLS = ("rnn", "gru", "lstm")
DEVICES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class TrainConfig:
    # Where the model, the report, the plot and (while running) the backup go.
    out: str = "artifacts"
    # One seed drives the initial weights and every training string.
    seed: int = 0
    device: str = "auto"

    # The model: the chapter's Elman RNN with ReLU and its 24 units, without the
    # recurrent bias and with non-negative input and recurrent weights, so that
    # train.certify can prove it exact (see train.model).
    cell: str = "rnn"
    hidden_units: int = 24
    # Unrolling the 50 steps runs about twice as fast on a CPU as the loop; the
    # saved model is the loop form either way (same weights).
    unroll: bool = True

    # Soft ordinal targets (train.targets): a Gaussian of this width around the
    # count. At the loss's optimum neighbouring counts are 1 / (2 width**2) logits
    # apart: 2.0 for 0.5.
    target_width: float = 0.5
    # Strings the readout is fitted on by least squares before the first step.
    readout_strings: int = 20_000

    # Gradient training of every weight from the fitted start. An epoch is a fixed
    # number of steps on freshly generated strings, so no string is seen twice.
    epochs: int = 3
    steps_per_epoch: int = 200
    batch_size: int = 256
    # Adam, warmed up linearly, then cosine-decayed. The fitted start is already
    # close to the optimum, and a recurrent weight off by 1e-3 changes a gain over
    # 50 steps by 5%: the steps must be small.
    learning_rate: float = 1e-5
    final_learning_rate: float = 1e-7
    warmup_epochs: int = 1
    clipnorm: float = 1.0

    # The mix of each epoch's strings (and of the readout fit's); uniform strings
    # fill the rest.
    stratified_fraction: float = 0.3
    clustered_fraction: float = 0.3

    # Validation: its own seed, never the evaluation seed. Scored after every epoch
    # with the proof; it decides alone for models the proof does not cover.
    validation_seed: int = 1
    validation_uniform: int = 50_000
    validation_per_count: int = 200
    # Short strings left-padded with zeros, as the runtime feeds short inputs.
    validation_padded: int = 20_000
    # Stop at the first epoch that is exact on validation (and proved, where the
    # proof applies) with every string won by at least ``stop_margin`` logits.
    stop_when_exact: bool = True
    stop_margin: float = 1.0

    # Steps run inside one compiled call: the whole epoch, so Python is not
    # between steps at all (same weights as one step per call, a little faster).
    steps_per_execution: int = 200
    # TensorFlow CPU threads for one op and across ops (0: TensorFlow's choice,
    # one per core). The thread count does not change the arithmetic.
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
        nonnegative = ("warmup_epochs", "readout_strings", "validation_uniform",
                       "validation_per_count", "validation_padded", "threads",
                       "final_learning_rate", "clipnorm", "stop_margin")
        for name in nonnegative:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")
        if self.target_width <= 0:
            raise ValueError(f"--target-width must be positive, got {self.target_width}")
        if self.learning_rate <= 0:
            raise ValueError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.warmup_epochs >= self.epochs:
            raise ValueError("--warmup-epochs must be smaller than --epochs")
        for name in ("stratified_fraction", "clustered_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        if self.stratified_fraction + self.clustered_fraction > 1.0:
            raise ValueError("--stratified-fraction + --clustered-fraction must be at most 1")
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
    "cell": "recurrent cell: rnn (Elman, ReLU; the chapter's, the one the proof covers), gru or lstm",
    "hidden_units": "width of the recurrent layer",
    "unroll": "train the recurrent layer unrolled (faster on CPU; the saved model is identical)",
    "target_width": "width (in counts) of the Gaussian soft targets around the true count",
    "readout_strings": "strings the readout is fitted on by least squares before gradient training",
    "epochs": "most epochs of gradient training (stops earlier once exact with --stop-margin)",
    "steps_per_epoch": "optimizer steps per epoch; every epoch draws fresh strings",
    "batch_size": "strings per optimizer step",
    "learning_rate": "peak Adam learning rate, reached after the warm-up",
    "final_learning_rate": "learning rate the cosine decay ends at",
    "warmup_epochs": "epochs of linear learning-rate warm-up from zero",
    "clipnorm": "clip each gradient to this norm (0: no clipping)",
    "stratified_fraction": "share of strings whose count is uniform on 0..50",
    "clustered_fraction": "share of strings whose ones lie in a random window (runs at the start or end)",
    "validation_seed": "seed of the validation strings (never the evaluation seed)",
    "validation_uniform": "uniform strings in the validation set",
    "validation_per_count": "strings per count 0..50 in the validation set, for each of the "
                            "stratified and clustered families",
    "validation_padded": "short strings (length 1..50, left-padded with zeros) in the validation set",
    "stop_when_exact": "stop at the first epoch that counts every validation string right (and is "
                       "proved, where the proof applies) with at least --stop-margin between the "
                       "top two logits",
    "stop_margin": "smallest gap between the winning and the runner-up logit that allows stopping "
                   "early (the proved gap over every string, or the validation gap)",
    "steps_per_execution": "optimizer steps per compiled call",
    "threads": "TensorFlow CPU threads (0: TensorFlow's default)",
    "verbose": "Keras progress output: 0 silent, 1 bar, 2 one line per epoch",
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m train",
        description="Train the count-the-ones RNN on generated bit strings, prove it exact "
                    "(train.certify), evaluate it on held-out sets and write model.keras, "
                    "train_report.json and training_curves.png. Interrupted runs resume.",
        epilog="exit status: 0 exact (every evaluation string right and, for the Elman cell, "
               "proved); 3 trained but not exact (model and report written, the report says "
               "exact: false); 2 bad arguments or a problem the user can fix; 130 interrupted "
               "(run the same command again to resume)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    choices = {"cell": CELLS, "device": DEVICES, "verbose": (0, 1, 2)}
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction,
                                default=field.default, help=_HELP[field.name])
        else:
            kind = {"int": integer(None), "float": number(), "str": str}[field.type]  # ranges: validate()
            parser.add_argument(flag, type=kind, default=field.default,
                                choices=choices.get(field.name), help=_HELP[field.name])
    return parser


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Settings from the command line; a bad value is a ``runtime.cli.args.Fail`` (one line,
    exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = TrainConfig(**vars(args))
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    return config
