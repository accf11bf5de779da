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

__all__ = ["FAMILIES", "soak"]

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


def soak(predict_counts: Callable[[np.ndarray], np.ndarray], n_strings: int,
         seed: int | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Count ``n_strings`` fresh strings with ``predict_counts`` (bits -> counts).

    ``seed`` None draws one from the operating system; it is recorded so the run can be
    repeated. Returns ``{"strings", "errors", "seed", "seconds", "strings_per_second",
    "families": {name: {"n", "errors", "examples"}}}``.
    """
    if seed is None:
        seed = secrets.randbits(63)
    started = time.perf_counter()
    share = -(-n_strings // len(FAMILIES))  # ceiling: at least n_strings in all
    families = {}
    for index, (name, draw) in enumerate(FAMILIES.items()):
        rng = np.random.default_rng([seed, index])
        done, errors, examples = 0, 0, []
        while done < share:
            bits = draw(min(CHUNK, share - done), rng)
            wrong = np.flatnonzero(np.asarray(predict_counts(bits)) != count_ones(bits))
            errors += len(wrong)
            examples += ["".join(map(str, bits[i])) for i in wrong[:EXAMPLES - len(examples)]]
            done += len(bits)
            if log:
                log(f"soak: {name}: {done:,} / {share:,} strings, {errors} miscounts")
        families[name] = {"n": done, "errors": errors, "examples": examples}
    seconds = time.perf_counter() - started
    total = sum(f["n"] for f in families.values())
    return {"strings": total, "errors": sum(f["errors"] for f in families.values()),
            "seed": seed, "seconds": round(seconds, 2),
            "strings_per_second": round(total / seconds) if seconds else None,
            "families": families}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m export.soak",
        description="Count fresh strings (uniform, every count, left-padded short, single runs "
                    "of ones) through a published model with the runtime, and compare every "
                    "count with the truth.",
        epilog="exit status: 0 no miscount; 1 a miscount, or a missing or damaged model; "
               "2 usage; 130 interrupted")
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="model directory (default: as runtime.predict: ./artifacts, else "
                             "the shipped model)")
    parser.add_argument("--strings", type=int, default=10_000_000, metavar="N",
                        help="strings per backend, split evenly over the four families "
                             "(default: %(default)s)")
    parser.add_argument("--backend", choices=("auto", "tflite", "onnx", "all"), default="all",
                        help="backend(s) to soak (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the strings (default: a fresh one, printed)")
    args = parser.parse_args(argv)
    if args.strings < 1:
        parser.error("--strings must be at least 1")

    import runtime

    backends = ("tflite", "onnx") if args.backend == "all" else (args.backend,)
    failed = False
    try:
        for backend in backends:
            predictor = runtime.load(args.model, backend=backend)
            result = soak(lambda bits: predictor.predict(bits).counts, args.strings, args.seed)
            per_family = ", ".join(f"{name} {f['errors']}/{f['n']:,}"
                                   for name, f in result["families"].items())
            print(f"{predictor.backend.name}: {result['errors']} miscounts in "
                  f"{result['strings']:,} strings ({per_family}); seed {result['seed']}; "
                  f"{result['seconds']:.0f} s, {result['strings_per_second']:,} strings/s")
            for family in result["families"].values():
                for string in family["examples"]:
                    print(f"  miscounted: {string} ({string.count('1')} ones)")
            failed |= result["errors"] > 0
    except runtime.ParityEdgeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    import sys

    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        sys.exit(130)
