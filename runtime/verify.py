"""Does the installed copy still compute what was exported? Replay the golden set here.

The export stage proves the artifacts equal to Keras on the machine that exported them,
and ships a golden set beside them (``golden.npz``, listed in the manifest with its sha256:
strings of every count, the edge cases and left-padded short strings, with the true counts
and the Keras logits). ``verify_model`` runs it through each requested backend on this
machine, without TensorFlow: every count must agree, and for the float32 files every row's
logits must stay within the export's tolerance,
``max |logit - reference| <= atol + rtol * max |reference|``. Reduced-precision variants
differ from the float32 logits by design; for them the counts decide, and the logit
difference is reported. Every graph the model has is replayed: the recurrent files and,
where published, the folded ones (``--graph`` picks one).

``--prove`` (``prove=True``) also re-derives, before a float32 file runs, the proof of the
weights inside the very bytes that were checked against the manifest, and holds it against
the proof the manifest records (``runtime.evidence``): milliseconds, no TensorFlow.

    python -m runtime.verify [--model PATH] [--backend auto|tflite|onnx|all]
                             [--graph all|auto|recurrent|folded] [--precision P] [--prove]

prints one line per file and exits 0 when everything passed; 1 when anything failed,
the golden set is missing or damaged, or the model cannot be opened; 2 for bad options;
130 when interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from .errors import BackendUnavailableError, ModelError, ParityEdgeError, UsageError, show
from .golden import read_golden
from .loader import (auto_order, installed, model_manifest, open_verified, pick_graph, read_artifact,
                     read_verified)
from .manifest import (DEFAULT_PRECISION, GRAPHS, PRECISIONS, Manifest, check_graph, check_precision)

__all__ = ["Check", "Verification", "verify_model", "main"]

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class Check:
    """One file's replay. ``worst`` is the largest row difference as a share of the
    tolerance (at most 1 passes; reported only for reduced precision), ``error`` why the
    backend could not run it; ``proof`` the certificate re-derived from the file (``--prove``)."""

    backend: str
    precision: str
    vectors: int
    counts_agreeing: int
    worst: float | None
    max_abs_diff: float | None
    seconds: float
    passed: bool
    error: str | None = None
    #: Not run: the backend is installed but cannot run this file here (too old a build).
    skipped: bool = False
    graph: str = "recurrent"
    proof: object = None

    def line(self) -> str:
        name = f"{self.backend} {self.graph} {self.precision}"
        if self.skipped:
            return f"{name}: not run here: {self.error}"
        if self.error:
            return f"{name}: FAILED: {self.error}"
        gated = self.precision == DEFAULT_PRECISION
        logits = (f"worst logit difference {self.worst:.2f} of the tolerance" if gated
                  else f"largest logit difference {self.max_abs_diff:.3g} (reduced precision: "
                       "the counts decide)")
        proved = ("" if self.proof is None else
                  f"proof re-derived: margin {self.proof.margin:.4f}, allowance "
                  f"{self.proof.rounding:.2e}, {self.proof.seconds * 1e3:.1f} ms; ")
        return (f"{name}: {proved}{self.vectors} vectors, counts agree "
                f"{self.counts_agreeing}/{self.vectors}, {logits}, {self.seconds * 1e3:.1f} ms: "
                + ("passed" if self.passed else "FAILED"))


@dataclass(frozen=True)
class Verification:
    """Every backend's check, and the model they ran. True when all passed."""

    model: str
    checks: tuple[Check, ...]

    def __bool__(self) -> bool:
        run = [check for check in self.checks if not check.skipped]
        return bool(run) and all(check.passed for check in run)


def _golden(manifest: Manifest) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """The golden set's bits, counts and logits, and the tolerance; ModelError if unusable."""
    entry = manifest.golden
    if entry is None:
        raise ModelError(f"{manifest.path}: this model has no golden set to verify against "
                         "(exported before golden sets existed: export it again)")
    content = read_verified(entry)
    where = f"{entry.path}: damaged golden set"
    bits, counts, logits = read_golden(content, manifest.n_bits, where)  # bounded before read
    n = len(bits)
    if (bits.dtype != np.uint8 or bits.shape != (n, manifest.n_bits) or (bits > 1).any()
            or counts.shape != (n,) or counts.dtype.kind != "i"
            or not np.array_equal(counts, bits.sum(axis=1))
            or logits.dtype != np.float32 or logits.shape != (n, manifest.n_classes)
            or not np.isfinite(logits).all() or n == 0):
        raise ModelError(f"{where}: its arrays do not hold {manifest.n_bits}-bit strings, their "
                         f"counts and {manifest.n_classes} finite logits each")
    tolerance = manifest.data.get("golden", {})
    atol, rtol = tolerance.get("atol"), tolerance.get("rtol")
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and t >= 0
               for t in (atol, rtol)):
        raise ModelError(f"{manifest.path}: bad manifest: golden.atol and golden.rtol must be "
                         "non-negative numbers")
    return bits, counts, logits, float(atol), float(rtol)


def _check(manifest: Manifest, backend: str, precision: str, graph: str, golden,
           skip_unavailable: bool, prove: bool = False) -> Check:
    from .evidence import prove_artifact

    bits, counts, reference, atol, rtol = golden
    proof = None
    try:
        artifact, content = read_artifact(manifest, backend, precision, graph)
        if prove:  # before the file runs, on the bytes that were checked
            proof = prove_artifact(manifest, artifact, content)
        started = time.perf_counter()
        logits = open_verified(manifest, artifact, content).predict(bits)
    except BackendUnavailableError as exc:
        if not skip_unavailable:
            raise
        return Check(backend, precision, len(bits), 0, None, None, 0.0, False, str(exc), skipped=True,
                     graph=graph, proof=proof)
    except ParityEdgeError as exc:
        return Check(backend, precision, len(bits), 0, None, None, 0.0, False, str(exc), graph=graph)
    seconds = time.perf_counter() - started
    agreeing = int((logits.argmax(axis=1) == counts).sum())
    diff = np.abs(logits.astype(np.float64) - reference)
    allowed = atol + rtol * np.abs(reference).max(axis=1).astype(np.float64)
    worst = float((diff.max(axis=1) / allowed).max()) if (allowed > 0).all() else float("inf")
    gated = precision == DEFAULT_PRECISION
    passed = agreeing == len(bits) and (not gated or worst <= 1.0)
    return Check(backend, precision, len(bits), agreeing, worst, float(diff.max()), seconds, passed,
                 graph=graph, proof=proof)


def _graphs(manifest: Manifest, backend: str, precision: str, graph: str) -> list[str]:
    """The graphs to replay through ``backend``: ``all``, every one the model has a file of."""
    if graph == "all":
        return [g for g in GRAPHS if manifest.find(backend, precision, g) is not None]
    return [pick_graph(manifest, backend, precision, graph)]


def verify_model(model: str | os.PathLike | None = None, backend: str = "auto",
                 precision: str = DEFAULT_PRECISION, graph: str = "all",
                 prove: bool = False, *,
                 trusted_key: str | os.PathLike | None = None) -> Verification:
    """Replay the model's golden set through ``backend`` (``auto``: the one ``runtime.load``
    picks; ``all``: every backend the model has at ``precision`` whose package is installed;
    or ``tflite`` / ``onnx``), in each of its graphs (``graph="all"``; or ``auto``, the one
    ``runtime.load`` picks; ``recurrent``, ``folded``) and return a Verification (true when
    every check that ran passed, and one did). An installed backend too old for a file is
    reported as not run. ``prove``: re-derive each file's proof first (float32 only), a
    check failing when it does not prove or differs from the manifest's.

    Raises ModelError for a missing or damaged model or golden set,
    BackendUnavailableError when the one backend asked for (or every one) is not
    installed, UsageError for a bad argument.
    """
    from .backends import BACKENDS

    check_precision(precision)
    check_graph(graph, ("all", "auto", *GRAPHS))
    if prove is not False and prove is not True:
        raise UsageError(f"prove must be True or False, got {show(prove)}")
    if prove and precision != DEFAULT_PRECISION:
        raise UsageError(f"only float32 files carry a proof to re-derive, not {precision} ones")
    if not isinstance(backend, str) or backend not in ("auto", "all", *BACKENDS):
        raise UsageError(f"unknown backend {show(backend)}; expected auto, all or one of: "
                         f"{', '.join(BACKENDS)}")
    manifest = model_manifest(model, trusted_key)
    golden = _golden(manifest)
    kind = "folded " if graph == "folded" else ""
    has = manifest.precisions("folded" if graph == "folded" else "recurrent").get(precision)
    if not has:
        raise ModelError(f"{manifest.path}: this model has no {kind}{precision} files; it has: "
                         f"{manifest.describe()}")
    if backend not in ("auto", "all"):
        for name in _graphs(manifest, backend, precision, graph) or ["recurrent"]:
            manifest.artifact(backend, precision, name)  # ModelError naming what the model has
        BACKENDS[backend].available()  # BackendUnavailableError with the install hint
        return Verification(str(manifest.directory), tuple(
            _check(manifest, backend, precision, name, golden, False, prove)
            for name in _graphs(manifest, backend, precision, graph)))
    order = auto_order(manifest, precision, "folded" if graph == "folded" else "recurrent")
    usable = [name for name in order if installed(name)]
    if not usable:
        BACKENDS[order[0]].available()  # raises, naming what to install
    checks = []
    for name in usable:  # auto: the first that runs the file here, as runtime.load; all: each
        these = [_check(manifest, name, precision, g, golden, True, prove)
                 for g in _graphs(manifest, name, precision, graph)]
        checks.extend(these)
        if backend == "auto" and not all(check.skipped for check in these):
            checks = these
            break
    return Verification(str(manifest.directory), tuple(checks))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (see ``--help``)."""
    from .cli.args import run_main

    return run_main("runtime.verify", lambda: _main(argv), interrupted="runtime.verify: interrupted")


def _main(argv: list[str] | None) -> int:
    from .backends import BACKENDS
    from .cli.args import OneLineParser, add_trusted_key, write_stdout

    parser = OneLineParser(
        prog="python -m runtime.verify",
        description="Replay the model's golden set (shipped with it by the export) through each "
                    "backend on this machine: counts must agree, and float32 logits stay within "
                    "the export's tolerance.",
        epilog="exit status: 0 passed; 1 failed, or the golden set or model is missing or damaged, "
               "or the backend is not installed; 2 bad options; 130 interrupted")
    parser.add_argument("--model", metavar="PATH",
                        help="artifact directory or its manifest.json (default: ./artifacts if it "
                             "holds a manifest, else the shipped model)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS, "all"), default="auto",
                        help="auto: the one runtime.load picks; all: every installed backend "
                             "(default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="which of the model's files to verify (default: %(default)s)")
    parser.add_argument("--graph", choices=("all", "auto", *GRAPHS), default="all",
                        help="all: every graph the model has (the recurrent files and the folded "
                             "ones); auto: the one runtime.load picks (default: %(default)s)")
    parser.add_argument("--prove", action="store_true",
                        help="first re-derive each float32 file's proof from its checked bytes and "
                             "hold it against the manifest's (milliseconds, no TensorFlow)")
    add_trusted_key(parser)
    args = parser.parse_args(argv)
    result = verify_model(args.model, args.backend, args.precision, args.graph, args.prove,
                          trusted_key=args.trusted_key)
    # Through write_stdout: a verdict that cannot be written (a full disk, a closed standard
    # output) is exit 2, never a silent 0.
    write_stdout("runtime.verify", "".join(f"{line}\n" for line in
                                           [f"model: {result.model}", *(c.line() for c in result.checks)]))
    return EXIT_OK if result else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
