"""The Python API: ``load`` a model, ``Predictor.predict`` bit strings, read a ``Result``.

::

    import runtime
    predictor = runtime.load()                       # default model, fastest installed backend
    result = predictor.predict(["0110", "1" * 50])
    result.counts, result.parities                   # array([2, 50]), array([0, 0])

Bit strings may have any length of at least one; see ``runtime.bits`` for how they are
fitted to the model's window (left-padding, chunking; both exact). Batching is internal:
the model is run on at most ``batch_size`` windows at a time, so memory for inference
stays bounded whatever the input size. A Predictor holds no per-call state and may be
shared by any number of threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import BACKENDS, Backend
from .bits import Windows, parse_bits
from .errors import BackendUnavailableError, ModelError, UsageError
from .manifest import Manifest, find_manifest, open_artifact, read_manifest

__all__ = ["AUTO_PREFERENCE", "DEFAULT_BATCH_SIZE", "Result", "Predictor", "load"]

#: The order in which ``backend="auto"`` tries the backends; the first one installed wins.
#: Measured on a shared 2-core x86 CPU with the 24-unit unrolled RNN, one thread each, in
#: rows per CPU-second at batch 1 / 64 / 1024 / 10000: LiteRT (XNNPACK) ~50k / 700k /
#: 890k / 740k, onnxruntime ~7k / 300k / 730k / 710k. LiteRT wins at every size (7x for
#: single rows), imports faster and uses less memory (a cold start of the command line:
#: ~50 MB against ~70 MB), which matters on a device.
AUTO_PREFERENCE: tuple[str, ...] = ("tflite", "onnx")

#: Windows per inference call: LiteRT's throughput peaked between 256 and 1024 rows
#: (the activations of a batch stay in cache), onnxruntime's from 1024 on.
DEFAULT_BATCH_SIZE = 1024


@dataclass(frozen=True)
class Result:
    """Predictions for N bit strings: ``counts`` (number of ones) and ``parities`` (counts % 2).

    Both are int64 numpy arrays ``[N]``, in input order.
    """

    counts: np.ndarray
    parities: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)


class Predictor:
    """Counts the ones in bit strings with one opened model. Thread-safe.

    Usually made by ``runtime.load``. ``backend`` is an opened ``runtime.backends.Backend``;
    ``manifest`` the manifest it was verified against (None for a bare backend).
    """

    def __init__(self, backend: Backend, manifest: Manifest | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.backend = backend
        self.manifest = manifest
        self.batch_size = batch_size

    @property
    def n_bits(self) -> int:
        """How many bits the model reads at a time (its window)."""
        return self.backend.n_bits

    def __repr__(self) -> str:
        where = self.manifest.directory if self.manifest else self.backend.path
        return f"Predictor(model={os.fspath(where)!r}, backend={self.backend.name!r}, batch_size={self.batch_size})"

    def predict(self, bits: Any) -> Result:
        """Count the ones in each bit string.

        ``bits``: a sequence of ``str`` of ``0`` and ``1``, each of any length >= 1; or a
        uint8/bool numpy array ``[N, L]`` of 0 and 1; or ``runtime.bits.Windows``. Strings
        shorter than the model's window are left-padded with zeros, longer ones split into
        windows whose counts are added; both are exact.

        Returns a Result (empty for empty input). Raises ``runtime.InputError`` naming the
        item and position of the first invalid bit, ``runtime.ModelError`` if the model fails.
        """
        windows = bits if isinstance(bits, Windows) else parse_bits(bits, self.n_bits)
        counts = windows.fold(self._count_windows(windows.bits))
        return Result(counts=counts, parities=counts % 2)

    def _count_windows(self, bits: np.ndarray) -> np.ndarray:
        out = np.empty(len(bits), np.int64)
        for start in range(0, len(bits), self.batch_size):
            stop = start + self.batch_size
            out[start:stop] = self.backend.predict(bits[start:stop]).argmax(axis=1)
        return out


def load(model: str | os.PathLike | None = None, backend: str = "auto", *,
         batch_size: int = DEFAULT_BATCH_SIZE, num_threads: int | None = None) -> Predictor:
    """Find, verify and open a model; return a Predictor.

    ``model``: an artifact directory or its ``manifest.json``; None looks in ``./artifacts``,
    then uses the default model shipped with the package. ``backend``: ``"auto"`` (the
    first installed of ``AUTO_PREFERENCE`` that the model has), ``"tflite"`` or ``"onnx"``.
    ``num_threads`` goes to the backend (None: its default).

    Every artifact is checked against the manifest's sha256 and signature before it is
    used. Raises ModelError for a missing, damaged or mismatched model,
    BackendUnavailableError when the backend's package is not installed, UsageError for
    a bad setting.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; expected auto or one of: {', '.join(BACKENDS)}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    manifest = read_manifest(find_manifest(model))
    options = {} if num_threads is None else {"num_threads": num_threads}
    if backend != "auto":
        return Predictor(open_artifact(manifest, backend, **options), manifest, batch_size)
    missing = []
    for name in AUTO_PREFERENCE:
        if name not in manifest.artifacts:
            continue
        try:
            opened = open_artifact(manifest, name, **options)
        except BackendUnavailableError as exc:
            missing.append(exc)
            continue
        return Predictor(opened, manifest, batch_size)
    if missing:
        raise BackendUnavailableError(
            "no backend installed for this model: " + "; ".join(str(e) for e in missing),
            package=missing[0].package) from missing[0]
    raise ModelError(
        f"{manifest.path}: no artifact for any known backend (it has: {', '.join(manifest.artifacts)})")
