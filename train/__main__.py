"""``python -m train``: train, evaluate and save the count-the-ones model.

Exit status: 0 when the model is exact (every evaluation string counted right
and, for the Elman cell, proved for every string by ``train.certify``); 3 when
training ended with a model that is not: the model and the report (``exact:
false``) are written all the same, for inspection; 2 for bad arguments or a
problem the user can fix (no GPU for ``--device gpu``, a backup left by a run
with other settings); 130 when interrupted with Ctrl-C (run the same command
again to resume).
"""

from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_USAGE, EXIT_NOT_EXACT = 0, 2, 3


def main(argv: list[str] | None = None) -> int:
    from train.config import parse_config

    config = parse_config(argv)
    # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) drowns the
    # Keras progress lines; real errors still surface as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from train.certify import Certificate
    from train.evaluate import format_table
    from train.fit import TrainError, train

    try:
        report = train(config)
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"device: {report['device']}; epochs run: {report['epochs_run']}; "
          f"best epoch: {report['best_epoch']}; strings seen: {report['strings_seen']:,}; "
          f"wall time: {report['wall_time_s']:.1f} s")
    print(format_table({**report["evaluation"],
                        "per_count_accuracy": report["per_count_accuracy"],
                        "exact": report["evaluation_exact"]}))
    print(f"proof: {Certificate(**report['certificate']).line()}")
    print(f"wrote {config.out}/model.keras, train_report.json, training_curves.png")
    if not report["exact"]:
        print(f"error: the model is NOT exact (report: {config.out}/train_report.json says "
              "exact: false); python -m export refuses it unless --allow-inexact", file=sys.stderr)
        return EXIT_NOT_EXACT
    return EXIT_OK


if __name__ == "__main__":
    from runtime.cli.args import run_main

    sys.exit(run_main("train", main, interrupted="\ninterrupted: run the same command again to "
                      "resume from the last completed epoch"))
