"""The Python API: ``load`` a model, ``Predictor.predict`` bit strings, read a ``Result``.

::

    import runtime
    predictor = runtime.load()                       # default model, fastest installed backend
    result = predictor.predict(["0110", "1" * 50])
    result.counts, result.parities                   # array([2, 50]), array([0, 0])

Bit strings may have any length of at least one; see ``runtime.bits`` for how they are
fitted to the model's window (left-padding, chunking; both exact). Batching is internal:
the model is run on at most ``batch_size`` windows at a time, so memory for inference
stays bounded whatever the input size. An input of more than one batch is spread over
``threads`` threads (one per CPU core by default), each running whole batches; the
batches are the same whatever the number of threads, so the results are too. A
Predictor may be shared by any number of threads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import BACKENDS, Backend
from .bits import Windows, one_window, parse_bits
from .errors import BackendUnavailableError, ModelError, UsageError
from .manifest import Manifest, find_manifest, open_artifact, read_manifest

__all__ = ["AUTO_PREFERENCE", "Result", "Predictor", "load", "default_threads"]

#: The order in which ``backend="auto"`` tries the backends; the first one installed wins.
#: Measured on a shared 2-core x86 CPU (AVX-512) with the shipped 32-unit unrolled RNN, one
#: thread each, in rows per CPU-second at batch 1 / 64 / 512 / 1024 / 10000: LiteRT
#: (XNNPACK) ~60k / 585k / 675k / 600k / 530k, onnxruntime ~8k / 260k / 400k / 400k / 410k.
#: LiteRT wins at every size (7x for single rows: ~16 us a call against ~120 us; 1.5x at
#: each backend's best batch, where large inputs run); it also uses less memory (a cold
#: start of the command line: ~45 MB against ~65 MB), which matters on a device.
AUTO_PREFERENCE: tuple[str, ...] = ("tflite", "onnx")


def default_threads() -> int:
    """Threads for large inputs when none are asked for: the CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


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
    ``batch_size``: windows per inference call (None: the backend's
    ``default_batch_size``). ``threads``: how many batches may run at once (None:
    ``default_threads()``, one per core); an input of one batch always runs on the
    calling thread alone.
    """

    def __init__(self, backend: Backend, manifest: Manifest | None = None,
                 batch_size: int | None = None, threads: int | None = None):
        if batch_size is None:
            batch_size = backend.default_batch_size
        _check_positive("batch_size", batch_size)
        if threads is None:
            threads = default_threads()
        _check_positive("threads", threads)
        self.backend = backend
        self.manifest = manifest
        self.batch_size = batch_size
        self.threads = threads
        self._pool = None
        self._pool_lock = threading.Lock()

    @property
    def n_bits(self) -> int:
        """How many bits the model reads at a time (its window)."""
        return self.backend.n_bits

    def __repr__(self) -> str:
        where = self.manifest.directory if self.manifest else self.backend.path
        return (f"Predictor(model={os.fspath(where)!r}, backend={self.backend.name!r}, "
                f"batch_size={self.batch_size}, threads={self.threads})")

    def predict(self, bits: Any) -> Result:
        """Count the ones in each bit string.

        ``bits``: a sequence of ``str`` of ``0`` and ``1``, each of any length >= 1; or a
        uint8/bool numpy array ``[N, L]`` of 0 and 1; or ``runtime.bits.Windows``. Strings
        shorter than the model's window are left-padded with zeros, longer ones split into
        windows whose counts are added; both are exact.

        Returns a Result (empty for empty input). Raises ``runtime.InputError`` naming the
        item and position of the first invalid bit, ``runtime.ModelError`` if the model fails.
        """
        if type(bits) is list and len(bits) == 1:
            # One string of the model's size: the latency case, with the least in its way.
            row = one_window(bits[0], self.n_bits)
            if row is not None:
                return _result(self.backend._run(row).argmax(axis=1))
        windows, checked = self._windows(bits)
        rows = windows.bits
        if len(rows) <= self.batch_size:
            counts = self._count(rows, checked)
        elif self.threads == 1:
            counts = np.empty(len(rows), np.int64)
            for start in range(0, len(rows), self.batch_size):
                stop = start + self.batch_size
                counts[start:stop] = self._count(rows[start:stop], checked)
        else:
            job = _Job(self, rows, checked)
            pool = self._executor()
            for _ in range(min(self.threads, job.n_batches) - 1):
                pool.submit(job.work)
            try:
                job.work()
                counts = job.future.result()
            except BaseException:
                job.stop()  # e.g. Ctrl-C: the other threads finish their batch and stop
                raise
        return _result(windows.fold(counts))

    def submit(self, bits: Any):
        """Start counting in the background; return a ``concurrent.futures.Future`` of the Result.

        The input is validated at once, on the calling thread (invalid input raises
        ``runtime.InputError`` here); the batches then run on up to ``threads`` threads
        of the Predictor's own. Inputs submitted one after another run in that order, so
        a caller can prepare the next input, or write out the previous result, while one
        runs. ``cancel()`` on the future stops the work after the batches in progress.
        """
        windows, checked = self._windows(bits)
        job = _Job(self, windows.bits, checked, fold=windows.fold)
        if job.n_batches == 0:
            job.work()
            return job.future
        pool = self._executor()
        for _ in range(min(self.threads, job.n_batches)):
            pool.submit(job.work)
        return job.future

    def _windows(self, bits: Any) -> tuple[Windows, bool]:
        """The input's windows, and whether their bits are known to be 0 and 1."""
        if isinstance(bits, Windows):
            return bits, False  # made elsewhere: the backend checks them
        return parse_bits(bits, self.n_bits), True

    def _count(self, rows: np.ndarray, checked: bool) -> np.ndarray:
        """Counts for at most one batch of windows, on this thread."""
        if not len(rows):
            return np.zeros(0, np.int64)
        logits = self.backend._run(rows) if checked else self.backend.predict(rows)
        return logits.argmax(axis=1)

    def _executor(self):
        with self._pool_lock:
            if self._pool is None:
                # Imported here: a one-line input never needs it (it costs ~5 ms to import).
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="runtime-predict")
            return self._pool


def _result(counts: np.ndarray) -> Result:
    counts = counts.astype(np.int64, copy=False)  # argmax gives intp: int32 on some platforms
    return Result(counts=counts, parities=counts & 1)


class _Job:
    """The batches of one input, run by any number of threads, each taking the next batch.

    ``future`` gets the window counts (or, with ``fold``, the Result) when every batch
    is done, or the error of the first batch that failed (the one a single thread would
    have met first) once the batches in progress have finished.
    """

    def __init__(self, predictor: Predictor, rows: np.ndarray, checked: bool, fold=None):
        from concurrent.futures import Future

        self.future = Future()
        self._predictor = predictor
        self._rows = rows
        self._checked = checked
        self._fold = fold
        self._size = predictor.batch_size
        self.n_batches = -(-len(rows) // self._size)
        self._counts = np.empty(len(rows), np.int64)
        self._lock = threading.Lock()
        self._next = 0          # the next batch to take
        self._running = 0       # batches taken and not finished
        self._stopped = False   # take no more batches
        self._settled = False
        self._error: tuple[int, BaseException] | None = None

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._running == 0:
                self._settle()

    def work(self) -> None:
        """Run batches until none is left, then return (errors go to ``future``)."""
        size = self._size
        while True:
            with self._lock:
                if self._stopped or self._next >= self.n_batches or self.future.cancelled():
                    self._stopped = True
                    if self._running == 0:
                        self._settle()
                    return
                k = self._next
                self._next += 1
                self._running += 1
            error = None
            try:
                start = k * size
                self._counts[start:start + size] = self._predictor._count(
                    self._rows[start:start + size], self._checked)
            except Exception as exc:
                error = exc
            finally:
                with self._lock:
                    self._running -= 1
                    if error is not None:
                        if self._error is None or k < self._error[0]:
                            self._error = (k, error)
                        self._stopped = True
                    if self._running == 0 and (self._stopped or self._next >= self.n_batches):
                        self._settle()
            if error is not None:
                return

    def _settle(self) -> None:
        """Resolve the future, once, when no batch is running (called under the lock)."""
        from concurrent.futures import InvalidStateError

        if self._settled:
            return
        self._settled = True
        try:
            if self._error is not None:
                self.future.set_exception(self._error[1])
            elif self._next < self.n_batches:
                self.future.cancel()  # stopped early without an error: cancelled
            elif self._fold is not None:
                self.future.set_result(_result(self._fold(self._counts)))
            else:
                self.future.set_result(self._counts)
        except InvalidStateError:  # cancelled by the caller meanwhile
            pass
        except Exception as exc:  # folding failed: report it rather than lose it
            try:
                self.future.set_exception(exc)
            except InvalidStateError:
                pass


def load(model: str | os.PathLike | None = None, backend: str = "auto", *,
         batch_size: int | None = None, threads: int | None = None,
         num_threads: int | None = None) -> Predictor:
    """Find, verify and open a model; return a Predictor.

    ``model``: an artifact directory or its ``manifest.json``; None looks in ``./artifacts``,
    then uses the default model shipped with the package. ``backend``: ``"auto"`` (the
    first installed of ``AUTO_PREFERENCE`` that the model has), ``"tflite"`` or ``"onnx"``.
    ``batch_size``: windows per inference call (None: the backend's own best).
    ``threads``: how many batches of a large input run at once (None: one per CPU core).
    ``num_threads`` goes to the backend: threads inside one inference call (None: its
    default, 1; more rarely pays for this model, and multiplies with ``threads``).

    Every artifact is checked against the manifest's sha256 and signature before it is
    used. Raises ModelError for a missing, damaged or mismatched model,
    BackendUnavailableError when the backend's package is not installed, UsageError for
    a bad setting.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; expected auto or one of: {', '.join(BACKENDS)}")
    if batch_size is not None:
        _check_positive("batch_size", batch_size)
    if threads is not None:
        _check_positive("threads", threads)
    manifest = read_manifest(find_manifest(model))
    options = {} if num_threads is None else {"num_threads": num_threads}
    if backend != "auto":
        return Predictor(open_artifact(manifest, backend, **options), manifest, batch_size, threads)
    missing = []
    for name in AUTO_PREFERENCE:
        if name not in manifest.artifacts:
            continue
        try:
            opened = open_artifact(manifest, name, **options)
        except BackendUnavailableError as exc:
            missing.append(exc)
            continue
        return Predictor(opened, manifest, batch_size, threads)
    if missing:
        raise BackendUnavailableError(
            "no backend installed for this model: " + "; ".join(str(e) for e in missing),
            package=missing[0].package) from missing[0]
    raise ModelError(
        f"{manifest.path}: no artifact for any known backend (it has: {', '.join(manifest.artifacts)})")
