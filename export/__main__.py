"""Command line: ``python -m export`` (``make export``). See ``--help``."""

from __future__ import annotations

import argparse
import os
import sys

from runtime.cli.args import Fail, OneLineParser, integer, number, run_main

from .config import DEFAULT_BATCH_SIZES, GRAPH_FORMS, ExportConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EPILOG = """\
exit codes:
  0    everything passed; the artifacts and manifest.json were published
  1    failed: missing or unreadable model, a model its training report does not show exact
       (without --allow-inexact), a conversion that cannot be done, a failed parity check or
       a miscount in the soak; the previous artifacts are left exactly as they were
       (a failed check's report: <out>/parity_report.failed.json)
  2    usage: bad flags or flag values
  130  interrupted (Ctrl-C); nothing was published
  141  standard output closed early (e.g. piped into head)
"""


def _batch_sizes(text: str) -> tuple[int, ...]:
    positive = integer(1)
    try:
        return tuple(positive(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None


def _variants(text: str) -> tuple[str, ...]:
    from .convert import VARIANTS

    names = VARIANTS if text.strip() == "all" else tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant {', '.join(map(repr, unknown))}; "
                                         f"choose from {', '.join(VARIANTS)} or all")
    return names


_count = integer(0)  # the one parser of every number option


def build_parser() -> argparse.ArgumentParser:
    defaults = ExportConfig()
    parser = OneLineParser(
        prog="python -m export",
        description="Convert a trained count-ones Keras model to TFLite and ONNX, check that both\n"
                    "compute what Keras computes, and publish them with a manifest only if they do.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(defaults.out), metavar="DIR",
                        help="directory to publish into (default: %(default)s)")
    parser.add_argument("--model", default=None, metavar="PATH",
                        help="the trained model (default: <out>/model.keras)")
    parser.add_argument("--seed", type=_count, default=defaults.seed,
                        help="seed of the parity check's random strings (default: %(default)s)")
    parser.add_argument("--n-random", type=_count, default=defaults.n_random, metavar="N",
                        help="uniformly random strings, and as many left-padded short ones, "
                             "in the parity check (default: %(default)s)")
    parser.add_argument("--per-count", type=_count, default=defaults.per_count, metavar="N",
                        help="strings for each count 0..n_bits in the parity check (default: %(default)s)")
    parser.add_argument("--batch-sizes", type=_batch_sizes, default=DEFAULT_BATCH_SIZES, metavar="LIST",
                        help="batch sizes each converted model is checked at "
                             f"(default: {','.join(map(str, DEFAULT_BATCH_SIZES))})")
    parser.add_argument("--onnx-graph", choices=("auto", *GRAPH_FORMS), default=defaults.onnx_graph,
                        help="ONNX graph form: the unrolled twin, or the recurrent layer as tf2onnx "
                             "converts it (a Loop, or the LSTM operator); auto: the faster one for "
                             "the model's cell (default: %(default)s)")
    parser.add_argument("--allow-inexact", action="store_true",
                        help="export a model whose training report does not say it counts exactly "
                             "(or that has none); the manifest records it")
    parser.add_argument("--soak", type=_count, default=0, metavar="N",
                        help="before publishing, count N fresh strings through each file with the "
                             "runtime (export.soak); one miscount fails the export (default: 0, none)")
    parser.add_argument("--soak-seed", type=_count, default=None, metavar="S",
                        help="seed of the soak's strings (default: a fresh one, recorded in the manifest)")
    parser.add_argument("--variants", type=_variants, default=(), metavar="LIST",
                        help="reduced-precision variants to add, each published only if it still "
                             "counts exactly: float16, int8, int8-static, or all (default: none)")
    parser.add_argument("--variant-min-gap", type=number(0), default=defaults.variant_min_gap, metavar="G",
                        help="smallest top-2 logit gap a variant must keep on every string it is "
                             "checked on (default: %(default)s)")
    parser.add_argument("--sign-key", default=None, metavar="KEY.pem",
                        help="sign the published files with this elliptic-curve private key "
                             "(model.sig beside the manifest; needs the sign extra; make keys "
                             "makes a pair to try it)")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's and the converters' own log output")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (see ``--help``). Errors are said in one
    line and mapped to their status by ``run_main``, as in every command line."""
    return run_main("export", lambda: _main(argv), interrupted="export: interrupted; nothing was published")


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    from runtime.errors import UsageError

    try:
        config = ExportConfig(out=args.out, model=args.model, seed=args.seed, n_random=args.n_random,
                              per_count=args.per_count, batch_sizes=args.batch_sizes,
                              onnx_graph=args.onnx_graph, allow_inexact=args.allow_inexact,
                              soak=args.soak, soak_seed=args.soak_seed, variants=args.variants,
                              variant_min_gap=args.variant_min_gap, sign_key=args.sign_key)
    except UsageError as exc:
        raise Fail(f"export: {exc} (see --help)", EXIT_USAGE) from None
    if not args.verbose:
        # Before TensorFlow is imported, or it is too late to quieten its C++ logging.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not config.model_path.is_file():  # say so before spending seconds importing TensorFlow
        raise Fail(f"export: {config.model_path}: no such model file (train one first: make train)",
                   EXIT_FAILED)
    if config.sign_key is not None and not config.sign_key.is_file():
        raise Fail(f"export: {config.sign_key}: no such key file (make keys makes a pair under keys/)",
                   EXIT_FAILED)
    from .pipeline import run_export

    outcome = run_export(config, log=print, quiet=not args.verbose)
    for line in outcome.parity.lines():
        print(f"parity: {line}")
    for fmt, result in (outcome.soak or {}).items():
        for family in result["families"].values():
            for string in family["examples"]:
                print(f"soak: {fmt}: miscounted {string} ({string.count('1')} ones)")
    if not outcome:
        raise Fail(f"export: FAILED: nothing published; {config.out} is unchanged; "
                   f"report: {outcome.report_path}", EXIT_FAILED)
    print(f"export: published {', '.join(p.name for p in outcome.published)} to {config.out} "
          f"in {outcome.seconds['total']:.1f} s")
    exactness = outcome.manifest["exactness"]
    print(f"export: {'exact' if exactness['exact'] else 'NOT EXACT (--allow-inexact)'}: "
          f"{exactness['claim']}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
