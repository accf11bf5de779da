"""Running the batches of an input on a Predictor's threads.

- ``Job``: the batches of one chunk of windows, taken one at a time by any number of
  threads; its ``future`` gets the window counts once every batch is done, or the error
  of the first batch that failed (the one a single thread would have met first).
- ``Chain``: a submitted input, chunk after chunk: each chunk's job is queued on the pool
  when the one before it is done, so no thread waits on another and at most two chunks of
  windows exist at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future, InvalidStateError
from typing import Callable

import numpy as np

__all__ = ["Job", "Chain"]


class Job:
    """The batches of ``rows`` (``count(batch) -> window counts``), ``size`` rows each.

    ``stop``: called before each batch; True ends the job early (then ``future`` is
    cancelled). ``future`` resolves only once no batch is running any more.
    """

    def __init__(self, rows: np.ndarray, size: int, count: Callable[[np.ndarray], np.ndarray],
                 stop: Callable[[], bool] | None = None):
        self.future: Future = Future()
        self._rows = rows
        self._size = size
        self._count = count
        self._stop_requested = stop
        self.n_batches = -(-len(rows) // size)
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
            settle = self._ready_to_settle()
        if settle:
            self._settle()

    def work(self) -> None:
        """Run batches until none is left, then return (errors go to ``future``)."""
        size = self._size
        while True:
            with self._lock:
                if (self._stopped or self._next >= self.n_batches or self.future.cancelled()
                        or (self._stop_requested is not None and self._stop_requested())):
                    self._stopped = True
                    settle = self._ready_to_settle()
                    k = None
                else:
                    k = self._next
                    self._next += 1
                    self._running += 1
            if k is None:
                if settle:
                    self._settle()
                return
            error = None
            try:
                start = k * size
                self._counts[start:start + size] = self._count(self._rows[start:start + size])
            except Exception as exc:
                error = exc
            finally:
                with self._lock:
                    self._running -= 1
                    if error is not None:
                        if self._error is None or k < self._error[0]:
                            self._error = (k, error)
                        self._stopped = True
                    settle = (self._running == 0 and (self._stopped or self._next >= self.n_batches)
                              and self._ready_to_settle())
            if settle:
                self._settle()
            if error is not None:
                return

    def _ready_to_settle(self) -> bool:
        """Whether this thread resolves the future: once, when no batch runs (under the lock)."""
        if self._settled or self._running:
            return False
        self._settled = True
        return True

    def _settle(self) -> None:
        """Resolve the future, outside the lock: its callbacks may queue the next job."""
        try:
            if self._error is not None:
                self.future.set_exception(self._error[1])
            elif self._next < self.n_batches:
                self.future.cancel()  # stopped early without an error: cancelled
            else:
                self.future.set_result(self._counts)
        except InvalidStateError:  # cancelled by the caller meanwhile
            pass


class Chain:
    """A submitted input, run chunk by chunk on ``pool``; the Result goes to ``future``.

    ``source`` is a ``runtime.inputs.Input``; ``make_job(rows, stop)`` makes the
    Job of one chunk, ``queue(job)`` hands it to the pool's threads; ``finish(counts)``
    turns the per-item counts into the value of ``future``.
    """

    def __init__(self, source, future: Future, make_job, queue, finish):
        self._source = source
        self._spans = iter(source.spans())
        self._future = future
        self._make_job = make_job
        self._queue = queue
        self._finish = finish
        self._counts = np.empty(source.n_items, np.int64)

    def start(self) -> None:
        """Queue the first chunk; an InputError in it is raised here, on the caller's thread."""
        self._next(raise_errors=True)

    def _next(self, raise_errors: bool = False) -> None:
        if self._future.cancelled():
            return
        span = next(self._spans, None)
        if span is None:
            self._resolve(lambda: self._future.set_result(self._finish(self._counts)))
            return
        try:
            windows = self._source.windows(*span)
            job = self._make_job(windows.bits, self._future.cancelled)
            # Told before it runs: a job already done would call back on this thread, nested.
            job.future.add_done_callback(lambda done: self._chunk_done(done, span, windows))
            self._queue(job)
        except BaseException as exc:  # a bad chunk; or no pool any more (interpreter exit)
            if raise_errors:
                raise
            self._resolve(lambda exc=exc: self._future.set_exception(exc))

    def _chunk_done(self, done: Future, span: tuple[int, int], windows) -> None:
        try:
            window_counts = done.result()
        except CancelledError:
            return  # the caller cancelled the input
        except BaseException as exc:
            self._resolve(lambda exc=exc: self._future.set_exception(exc))
            return
        try:
            self._counts[span[0]:span[1]] = windows.fold(window_counts)
        except BaseException as exc:  # folding failed: report it rather than lose it
            self._resolve(lambda exc=exc: self._future.set_exception(exc))
            return
        self._next()

    def _resolve(self, action) -> None:
        try:
            action()
        except InvalidStateError:  # cancelled by the caller meanwhile
            pass
