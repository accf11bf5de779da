"""The soak: counting millions of fresh strings through an exported artifact, with the runtime.

Evidence for the word "exact" beyond the evaluation sets: ``soak(predictor, n)`` draws
``n`` strings that nobody has seen, a quarter from each family where counters go wrong
(uniform; a count uniform on 0..50; short strings left-padded with zeros; one run of ones
of a uniform count at a uniform place), counts them with the runtime, and compares every
count with the truth. Zero miscounts in ``n`` strings bounds the miss rate below about
``3 / n`` (95% confidence); the proof (``train.certify``) covers every string.

``python -m export.soak [--model DIR] [--strings N] [--backend ...] [--seed S]`` soaks a
published model. Exit status: 0 no miscount; 1 a miscount, or a missing or damaged model;
2 usage; 130 interrupted.
"""

from __future__ import annotations

import secrets
import time
from typing import Callable

import numpy as np

from train.data import count_ones, padded_bits, random_run_bits, stratified_bits, uniform_bits

__all__ = ["FAMILIES", "soak", "soak_files"]

FAMILIES: dict[str, Callable] = {
    "uniform": uniform_bits,
    "per_count": stratified_bits,
    "padded": padded_bits,
    "single_run": random_run_bits,
}
# Strings drawn and counted at a time: large enough to keep every core busy, small
# enough to keep memory at a few hundred MB.
CHUNK = 1_000_000
# How many miscounted strings the report keeps as examples.
EXAMPLES = 5


def soak(counters: dict[str, Callable[[np.ndarray], np.ndarray]], n_strings: int,
         seed: int | None = None, log: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Count ``n_strings`` fresh strings with each of ``counters`` (name -> bits -> counts).

    Every counter sees the same strings. ``seed`` None draws one from the operating system;
    it is recorded so the run can be repeated. Returns, per counter, ``{"strings",
    "errors", "seed", "seconds", "strings_per_second", "families": {name: {"n", "errors",
    "examples"}}}``; ``seconds`` are the counter's own (drawing the strings is not counted).
    """
    if seed is None:
        seed = secrets.randbits(63)
    share = -(-n_strings // len(FAMILIES))  # ceiling: at least n_strings in all
    results = {name: {"strings": 0, "errors": 0, "seed": seed, "seconds": 0.0, "families": {}}
               for name in counters}
    for index, (family, draw) in enumerate(FAMILIES.items()):
        rng = np.random.default_rng([seed, index])
        for result in results.values():
            result["families"][family] = {"n": 0, "errors": 0, "examples": []}
        done = 0
        while done < share:
            bits = draw(min(CHUNK, share - done), rng)
            truth = count_ones(bits)
            for name, count in counters.items():
                started = time.perf_counter()
                wrong = np.flatnonzero(np.asarray(count(bits)) != truth)
                result = results[name]
                result["seconds"] += time.perf_counter() - started
                figures = result["families"][family]
                figures["n"] += len(bits)
                figures["errors"] += len(wrong)
                figures["examples"] += ["".join(map(str, bits[i]))
                                        for i in wrong[:EXAMPLES - len(figures["examples"])]]
            done += len(bits)
            if log:
                misses = ", ".join(f"{name} {r['families'][family]['errors']}"
                                   for name, r in results.items())
                log(f"soak: {family}: {done:,} / {share:,} strings; miscounts: {misses}")
    for result in results.values():
        result["strings"] = sum(f["n"] for f in result["families"].values())
        result["errors"] = sum(f["errors"] for f in result["families"].values())
        result["seconds"] = round(result["seconds"], 2)
        result["strings_per_second"] = (round(result["strings"] / result["seconds"])
                                        if result["seconds"] else None)
    return results


def soak_files(files: dict, n_strings: int, seed: int | None,
               log: Callable[[str], None] = print) -> dict[str, dict]:
    """``soak`` of model files not yet published: ``{label: (backend name, path)}``, each
    opened with the runtime's own backend."""
    from runtime.backends import open_backend
    from runtime.predictor import Predictor

    predictors = {label: Predictor(open_backend(fmt, path)) for label, (fmt, path) in files.items()}
    results = soak({label: (lambda bits, p=p: p.predict(bits).counts)
                    for label, p in predictors.items()}, n_strings, seed)
    for label, figures in results.items():
        log(f"export: {label}: soak: {figures['errors']} miscounts in {figures['strings']:,} "
            f"fresh strings, {figures['seconds']:.0f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    import sys

    from runtime.cli.args import OneLineParser, integer

    parser = OneLineParser(
        prog="python -m export.soak",
        description="Count fresh strings (uniform, every count, left-padded short, single runs "
                    "of ones) through a published model with the runtime, and compare every "
                    "count with the truth.",
        epilog="exit status: 0 no miscount; 1 a miscount, or a missing or damaged model; "
               "2 usage; 130 interrupted")
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="model directory (default: as runtime.predict: ./artifacts, else "
                             "the shipped model)")
    parser.add_argument("--strings", type=integer(1), default=10_000_000, metavar="N",
                        help="strings per backend, split evenly over the four families "
                             "(default: %(default)s)")
    parser.add_argument("--backend", choices=("auto", "tflite", "onnx", "all"), default="all",
                        help="backend(s) to soak (default: %(default)s)")
    parser.add_argument("--graph", choices=("auto", "recurrent", "folded"), default="auto",
                        help="the files to soak: as runtime.predict --graph (default: %(default)s)")
    parser.add_argument("--seed", type=integer(0), default=None,
                        help="seed of the strings (default: a fresh one, printed)")
    args = parser.parse_args(argv)
    if args.strings < 1:
        parser.error("--strings must be at least 1")

    import runtime

    backends = ("tflite", "onnx") if args.backend == "all" else (args.backend,)
    try:
        predictors = {backend: runtime.load(args.model, backend=backend, graph=args.graph)
                      for backend in backends}
        counters = {p.backend.name: (lambda bits, p=p: p.predict(bits).counts)
                    for p in predictors.values()}
        results = soak(counters, args.strings, args.seed)
    except runtime.ParityEdgeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    print(f"model: {next(iter(predictors.values())).manifest.directory}; graph: "
          + ", ".join(f"{backend} {p.graph}" for backend, p in predictors.items()))
    for name, result in results.items():
        per_family = ", ".join(f"{family} {f['errors']}/{f['n']:,}"
                               for family, f in result["families"].items())
        print(f"{name}: {result['errors']} miscounts in {result['strings']:,} strings "
              f"({per_family}); seed {result['seed']}; {result['seconds']:.0f} s, "
              f"{result['strings_per_second']:,} strings/s")
        for family in result["families"].values():
            for string in family["examples"]:
                print(f"  miscounted: {string} ({string.count('1')} ones)")
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    import sys

    from runtime.cli.args import run_main

    sys.exit(run_main("soak", main, interrupted="soak: interrupted"))
