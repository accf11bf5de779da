"""The Python API: ``load`` a model, ``Predictor.predict`` bit strings, read a ``Result``.

::

    import runtime
    predictor = runtime.load()                       # default model, fastest installed backend
    result = predictor.predict(["0110", "1" * 50])
    result.counts, result.parities                   # array([2, 50]), array([0, 0])

Bit strings may have any length of at least one; see ``runtime.windows`` for how they
are fitted to the model's window (left-padding, splitting; both exact) and
``runtime.inputs`` for what input is accepted. Batching is internal: the input is windowed
a chunk at a time and the model run on at most ``batch_size`` windows at a time, so
memory stays bounded whatever the input size. An input of more than one batch is spread
over ``threads`` threads (one per CPU core by default), each running whole batches; the
batches are the same whatever the number of threads, so the results are too. A
Predictor may be shared by any number of threads, used after ``os.fork()``, and pickled.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import numpy as np

from .backends import BACKENDS, Backend
from .bits import invalid_value, one_window
from .chunks import count_input
from .inputs import Input, prepare
from .errors import ModelError, UsageError, show
from .result import Result, one_result, result_of
from .limits import check_settings, check_threads, default_threads
from .loader import model_manifest, open_artifact, open_model
from .manifest import DEFAULT_PRECISION, Manifest, check_graph, check_precision

__all__ = ["Result", "Predictor", "load", "default_threads"]


# The dtypes of a one-row array that skips the general path: a copy as uint8 is exact.
_ONE_ROW = (np.dtype(np.uint8), np.dtype(np.bool_))

#: Every Predictor, told when the process forks: the child has none of the parent's
#: threads, so its thread pool and locks start afresh there.
_LIVE: "weakref.WeakSet[Predictor]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for predictor in list(_LIVE):
        predictor._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Predictor:
    """Counts the ones in bit strings with one opened model. Thread-safe.

    Usually made by ``runtime.load``. ``backend`` is an opened ``runtime.backends.Backend``;
    ``manifest`` the manifest it was verified against (None for a bare backend).
    ``batch_size``: windows per inference call, 1 to ``MAX_BATCH_SIZE`` (None: the
    backend's ``default_batch_size``). ``threads``: how many batches may run at once (None:
    ``default_threads()``, one per core); with the backend's ``num_threads`` at most
    ``MAX_THREADS`` inference threads in all. An input of one batch always runs on the
    calling thread alone.

    A Predictor keeps working in the child of an ``os.fork()`` (work in flight at the fork
    is not carried over). It can be pickled when it came from a manifest: unpickling
    loads the model again from the manifest's path, with the same backend and settings,
    and checks that it is the same model (sha256), so it can be sent to other processes.
    """

    def __init__(self, backend: Backend, manifest: Manifest | None = None,
                 batch_size: int | None = None, threads: int | None = None,
                 precision: str = DEFAULT_PRECISION, graph: str | None = None):
        if not isinstance(backend, Backend):
            raise UsageError(f"backend must be an opened runtime.backends.Backend (runtime.load "
                             f"opens one), got {type(backend).__name__}")
        if manifest is not None and not isinstance(manifest, Manifest):
            raise UsageError(f"manifest must be a runtime.manifest.Manifest or None, "
                             f"got {type(manifest).__name__}")
        self._requested = (batch_size, threads)  # what to ask for again when unpickled
        batch_size, threads, _ = check_settings(batch_size, threads, backend.num_threads)
        per_call = backend.num_threads or 1
        self.batch_size = backend.default_batch_size if batch_size is None else batch_size
        self.threads = check_threads(default_threads(per_call), per_call) if threads is None else threads
        self.backend = backend
        self.manifest = manifest
        #: The precision of the file the backend runs (float32 unless a variant was asked for).
        self.precision = precision
        #: The graph of that file: ``recurrent``, ``folded`` (None for a bare backend).
        self.graph = graph
        #: The public key the model's signature was checked with (``load(trusted_key=...)``),
        #: checked again where an unpickled copy loads the model.
        self.trusted_key = None
        self._pool = None
        self._pool_lock = threading.Lock()
        _LIVE.add(self)

    def _after_fork(self) -> None:
        self._pool = None
        self._pool_lock = threading.Lock()

    def __reduce__(self):
        if self.manifest is None:
            raise UsageError("this Predictor was made from a bare backend, without a manifest, so "
                             "it cannot be pickled: there is nothing to load and check its model "
                             "from in another process; pickle one made by runtime.load(PATH), or "
                             "send the model path")
        artifact = self.manifest.artifact(self.backend.name, self.precision, self.graph)
        batch_size, threads = self._requested
        key = None if self.trusted_key is None else os.path.abspath(self.trusted_key)
        return (_unpickle, (os.path.abspath(self.manifest.path), self.backend.name, batch_size,
                            threads, self.backend.num_threads, artifact.sha256, self.precision,
                            self.graph, key))

    @property
    def n_bits(self) -> int:
        """How many bits the model reads at a time (its window)."""
        return self.backend.n_bits

    def __repr__(self) -> str:
        where = self.manifest.directory if self.manifest else self.backend.path
        return (f"Predictor(model={os.fspath(where)!r}, backend={self.backend.name!r}, "
                f"precision={self.precision!r}, graph={self.graph!r}, batch_size={self.batch_size}, threads={self.threads})")

    def predict(self, bits: Any) -> Result:
        """Count the ones in each bit string.

        ``bits``: a sequence of ``str`` of ``0`` and ``1``, each of any length >= 1; or an
        integer/bool array ``[N, L]`` of 0 and 1; or ``runtime.windows.Windows`` (see
        ``runtime.inputs`` for all that is accepted and refused: sets and mappings, a masked
        array with masked values, float arrays). Strings shorter than the model's window
        are left-padded with zeros, longer ones split into windows whose counts are added;
        both are exact. Large inputs are windowed a chunk at a time, so memory beyond the
        input stays bounded.

        Returns a Result (empty for empty input). Raises ``runtime.InputError`` naming the
        item and position of the first invalid bit, ``runtime.ModelError`` if the model fails.
        """
        if type(bits) is list and len(bits) == 1:
            # One string of the model's size: the latency case, with the least in its way.
            inputs = one_window(bits[0], self.n_bits)
            if inputs is not None:
                return one_result(self.backend._logits(inputs))
        elif type(bits) is np.ndarray and bits.shape == (1, self.n_bits) and bits.dtype in _ONE_ROW:
            # One row of the model's size, the same case; checked on the copy the model reads.
            row = bits.astype(np.uint8)
            if invalid_value(row) is None:
                return one_result(self.backend._run(row))
        return result_of(self._count_input(prepare(bits, self.n_bits)))

    def predict_stream(self, stream, name: str = "<stream>"):
        """Count the ones in every line of the binary ``stream``, a block of lines at a time.

        Yields ``(batch, Result)`` in order: ``batch.first_line`` (1-based),
        ``batch.n_lines``, ``batch.bytes_read`` so far. Lines follow the rules of
        ``runtime.predict`` (``runtime.lines``); the first bad one raises ``InputError``
        (``NAME:LINE:COLUMN: ...``) after the results of every line before it. Memory stays
        bounded whatever the stream's length; the next block is read and counted while the
        caller handles one. Closing the generator early stops the work in flight.
        """
        from .lines import read_batches
        from .pipeline import pipeline

        return pipeline(read_batches(stream, name, self.n_bits), self)

    def submit(self, bits: Any):
        """Start counting in the background; return a ``concurrent.futures.Future`` of the Result.

        The input is validated at once, on the calling thread (invalid input raises
        ``runtime.InputError`` here); the batches then run on up to ``threads`` threads
        of the Predictor's own, a chunk of the input at a time. Inputs submitted one after
        another start in that order, so a caller can prepare the next input, or write out
        the previous result, while one runs. The input is read while it runs: do not change
        an array passed here until its future is done. ``cancel()`` on the future stops the
        work after the batches in progress.
        """
        from concurrent.futures import Future

        from .parallel import Chain

        source = prepare(bits, self.n_bits)
        future = Future()
        if source.n_items == 0:
            future.set_result(result_of(np.zeros(0, np.int64)))
            return future
        spans = source.spans()
        next(spans)
        if next(spans, None) is not None:
            source.check()  # several chunks: check them all now, the first one is built below
        Chain(source, future, self._job, self._queue, result_of).start()
        return future

    def _count_input(self, source: Input) -> np.ndarray:
        return count_input(source, self.batch_size, self.threads, self._count, self._job,
                           self._executor)

    def _job(self, rows: np.ndarray, stop=None):
        from .parallel import Job

        return Job(rows, self.batch_size, self._count, stop)

    def _queue(self, job) -> None:
        pool = self._executor()
        for _ in range(min(self.threads, job.n_batches)):
            pool.submit(job.work)

    def _count(self, rows: np.ndarray) -> np.ndarray:
        """Counts for at most one batch of windows (checked by ``runtime.inputs``), on this thread."""
        if not len(rows):
            return np.zeros(0, np.int64)
        return self.backend._run(rows).argmax(axis=1)

    def _executor(self):
        with self._pool_lock:
            if self._pool is None:
                # Imported here: a one-line input never needs it, and its import is slow.
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="runtime-predict")
            return self._pool


def _unpickle(manifest_path: str, backend: str, batch_size: int | None, threads: int | None,
              num_threads: int | None, sha256: str,
              precision: str = DEFAULT_PRECISION, graph: str = "recurrent",
              trusted_key: str | None = None) -> Predictor:
    """A pickled Predictor: its model loaded again from the manifest (and its signature, when
    it was checked), and checked to be the same."""
    manifest = model_manifest(manifest_path, trusted_key)
    try:
        artifact = manifest.artifact(backend, precision, graph)
    except ModelError:
        artifact = None
    if artifact is None or artifact.sha256 != sha256:
        raise ModelError(f"{manifest_path}: not the model this Predictor was pickled with (its "
                         f"{graph} {precision} {backend} artifact had sha256 {sha256[:16]}...); it changed since")
    options = {} if num_threads is None else {"num_threads": num_threads}
    predictor = Predictor(open_artifact(manifest, backend, precision, graph, **options), manifest,
                          batch_size, threads, precision, graph)
    predictor.trusted_key = trusted_key
    return predictor


def load(model: str | os.PathLike | Backend | None = None, backend: str = "auto", *,
         precision: str = DEFAULT_PRECISION, graph: str = "auto", batch_size: int | None = None,
         threads: int | None = None, num_threads: int | None = None,
         trusted_key: str | os.PathLike | None = None) -> Predictor:
    """Find, verify and open a model; return a Predictor.

    ``model``: an artifact directory or its ``manifest.json`` (a str, bytes or
    os.PathLike); None looks in ``./artifacts``, then uses the default model shipped with
    the package; or an opened ``runtime.backends.Backend`` (a stand-in in tests, say), used
    as it is, without a manifest (``backend`` and ``precision`` must then be left as they are). ``backend``: ``"auto"`` (the first of ``runtime.loader.AUTO_PREFERENCE`` that
    the model has at ``precision`` and that is installed), ``"tflite"`` or ``"onnx"``.
    ``precision``: ``"float32"`` (the default), or a reduced-precision variant the model
    carries (``"int8"``, ...; see ``runtime.manifest.PRECISIONS``). ``graph``: ``"auto"``
    (the folded file where the model has it and its manifest records it proved, else the
    recurrent one; ``runtime.loader.pick_graph``), ``"folded"`` or ``"recurrent"`` (the
    network itself); ``Predictor.graph`` says which runs. ``batch_size``: windows per inference
    call, 1 to ``MAX_BATCH_SIZE`` (None: the backend's own best). ``threads``: how many
    batches of a large input run at once (None: one per CPU core). ``num_threads`` goes to
    the backend: threads inside one inference call (None: its default, 1; more rarely pays
    for this model, and multiplies with ``threads``: ``threads x num_threads`` may be at
    most ``MAX_THREADS``). ``trusted_key``: the path of a public key (PEM); the model is
    then used only if that key signed its directory exactly as it is now (``python -m
    export --sign-key``; ``runtime.signing``), checked before any of its files is opened;
    SignatureError otherwise.

    Every artifact is checked against the manifest's sha256 and signature before it is
    used. Raises ModelError for a missing, damaged or mismatched model,
    BackendUnavailableError when the backend's package is not installed, UsageError for
    a bad setting.
    """
    if isinstance(model, Backend):
        if (backend != "auto" or precision != DEFAULT_PRECISION or graph != "auto"
                or num_threads is not None or trusted_key is not None):
            raise UsageError("an opened backend is used as it is: backend, precision, graph, "
                             "num_threads and trusted_key cannot be given with it")
        return Predictor(model, None, batch_size, threads)
    if not isinstance(backend, str) or (backend != "auto" and backend not in BACKENDS):
        raise UsageError(f"unknown backend {show(backend)}; expected auto or one of: "
                         f"{', '.join(BACKENDS)}")
    # Every setting is checked before the model is read.
    batch_size, threads, num_threads = check_settings(batch_size, threads, num_threads)
    check_precision(precision)
    check_graph(graph)
    options = {} if num_threads is None else {"num_threads": num_threads}
    opened, manifest, graph = open_model(model, backend, precision, graph, trusted_key, **options)
    predictor = Predictor(opened, manifest, batch_size, threads, precision, graph)
    predictor.trusted_key = None if trusted_key is None else os.fsdecode(trusted_key)
    return predictor
