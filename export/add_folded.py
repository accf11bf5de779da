"""Give a model exported before the folded form existed its folded files.

``python -m export.add_folded DIR [--soak N]`` reads the weights out of the directory's
recurrent files (``runtime.weights``: both files must hold the same float32 weights), rebuilds
the Keras model from exactly those weights, proves it (``train.certify``), and then builds,
proves from their own bytes and checks the folded files as ``python -m export`` does
(``export.fold``): the parity check against the rebuilt model at the export's batch sizes
and strings (its recorded settings), the golden set already in the directory, and the soak
when asked. Only when everything passes are ``model.folded.tflite``, ``model.folded.onnx``
and a manifest with a ``folded`` section moved in (the manifest last); every other file and
every other entry of the manifest stay as they were, so the model keeps its evidence.

The parity reference is the Keras model rebuilt from the files' weights, not the original
``model.keras``; the weights are the same float32 numbers bit for bit (checked), so it
computes what the original computed. The manifest's ``folded.reference`` says so.

Exit codes: 0 added; 1 refused or failed (the directory is unchanged); 2 usage; 130
interrupted.
"""

from __future__ import annotations

import sys

import functools
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ExportError

__all__ = ["add_folded", "main"]


def _recurrent_weights(directory: Path, artifacts: dict):
    """The weights both recurrent files hold (ExportError unless they agree bit for bit)."""
    from runtime.weights import RecurrentWeights, read_weights

    read = {fmt: read_weights(directory / entry["file"]) for fmt, entry in artifacts.items()}
    first = next(iter(read.values()))
    for fmt, weights in read.items():
        if not isinstance(weights, RecurrentWeights):
            raise ExportError(f"{directory / artifacts[fmt]['file']}: not a recurrent graph")
        if not all(np.array_equal(a, b) if a is not None else b is None
                   for a, b in zip(weights.arrays(), first.arrays())):
            raise ExportError(f"{directory}: the recurrent files hold different weights")
    return first


def _rebuilt_model(weights, n_bits: int):
    """A Keras Elman model holding exactly ``weights``."""
    from train.model import build_model

    units = weights.recurrent.shape[0]
    model = build_model("rnn", units, n_bits, recurrent_bias=weights.bias is not None)
    model.get_layer("rnn").set_weights([w for w in (weights.kernel, weights.recurrent, weights.bias)
                                        if w is not None])
    model.get_layer("logits").set_weights([weights.dense_kernel, weights.dense_bias])
    return model


def add_folded(directory: str | Path, *, soak: int = 0, soak_seed: int | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Add the folded files to the exported model in ``directory``; return its new manifest.

    Raises ExportError when the directory is not a verified export, already has a folded
    form, is not a proved Elman model, or when the folded files fail any check.
    """
    from runtime.loader import verify_files

    from .manifest import MANIFEST_NAME, describe, folded_entries
    from .pipeline import _native_stderr_captured
    from .publish import Staging, read_export, write_json

    directory = Path(directory)
    manifest = read_export(directory)
    problems = verify_files(manifest)
    if problems:
        raise ExportError("refusing: " + "; ".join(problems))
    document = manifest.data
    if (document.get("folded") or {}).get("published"):
        raise ExportError(f"{directory}: already has its folded form")
    if document.get("cell") != "rnn" or (document.get("exactness") or {}).get("exported_inexact"):
        raise ExportError(f"{directory}: the folded form is only for a proved Elman (rnn) model")
    settings = (document.get("export") or {}).get("settings") or {}
    n_bits = int(document["n_bits"])

    quiet = functools.partial(_native_stderr_captured, True)
    with quiet():
        from train.certify import certify

        from . import convert
        from .fold import build_folded
        from .keras_backend import KerasBackend, describe_model
        from .parity import parity_inputs
        from .soak import soak_files

        model = _rebuilt_model(_recurrent_weights(directory, document["artifacts"]), n_bits)
        info = describe_model(model)
    certificate = certify(model).to_dict()
    converters = {"tflite": convert.tflite_converter_name(), "onnx": convert.onnx_converter_name()}
    opsets = {"tflite": None, "onnx": convert.ONNX_OPSET}
    sets = parity_inputs(n_bits, settings.get("seed", 2018), settings.get("n_random", 10_000),
                         settings.get("per_count", 20))
    batch_sizes = tuple(settings.get("batch_sizes") or (1, 7, 256, 4096))
    source = (document.get("source") or {}).get("sha256")

    with Staging(directory) as staging:
        reference = KerasBackend(model, path=f"{directory} (rebuilt from its files' weights)")
        folded = build_folded(model, info.cell, certificate, False, staging.path,
                              lambda fmt: {**describe(info, converters[fmt], "folded"),
                                           "source_sha256": source},
                              reference, sets, batch_sizes, log, quiet)
        if not folded["published"]:
            raise ExportError(f"{directory}: the folded form is refused: {folded['reason']}")
        soaked = None
        if soak:
            files = {f"{fmt} folded": (fmt, staging.path / name) for fmt, name in folded["files"].items()}
            soaked = soak_files(files, soak, soak_seed, log)
            if any(row["errors"] for row in soaked.values()):
                raise ExportError(f"{directory}: the soak found miscounts in the folded files")
        entries = folded_entries(staging.path, folded, converters, opsets)
        entries["reference"] = ("a Keras model rebuilt from the weights of the recurrent files "
                                "(bit for bit the same in both), by export.add_folded")
        if soaked is not None:
            entries["soak"] = soaked
        document = {**document, "folded": entries}
        write_json(staging.path / MANIFEST_NAME, document)
        staging.commit(list(folded["files"].values()), last=MANIFEST_NAME)
    return document


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (see ``--help``)."""
    from runtime.cli.args import run_main

    return run_main("export.add_folded", lambda: _main(argv),
                    interrupted="export.add_folded: interrupted; the directory is unchanged")


def _main(argv: list[str] | None) -> int:
    from runtime.cli.args import OneLineParser, integer

    parser = OneLineParser(
        prog="python -m export.add_folded",
        description="Add the folded files (model.folded.tflite, model.folded.onnx), proved from "
                    "their own bytes and checked like every artifact, to a model directory "
                    "exported before the folded form existed.",
        epilog="exit codes: 0 added; 1 refused or failed (the directory is unchanged); 2 usage; "
               "130 interrupted")
    parser.add_argument("directory", metavar="DIR", help="an exported model directory")
    parser.add_argument("--soak", type=integer(0), default=0, metavar="N",
                        help="also count N fresh strings through each folded file (default: 0)")
    parser.add_argument("--soak-seed", type=integer(0), default=None, metavar="SEED")
    args = parser.parse_args(argv)
    if args.soak < 0:
        parser.error("--soak must be at least 0")
    try:
        add_folded(args.directory, soak=args.soak, soak_seed=args.soak_seed)
    except OSError as exc:
        raise ExportError(f"{exc.filename or args.directory}: {exc.strerror or exc}") from exc
    print(f"export.add_folded: {args.directory}: model.folded.tflite, model.folded.onnx added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
