"""An input counted chunk after chunk, on the calling thread and, for a chunk of many
batches, a Predictor's pool too (``runtime.parallel.Job``): what ``Predictor.predict`` runs.

Kept apart from ``runtime.parallel``: a short input never needs the thread pool, and a
one-line run of the command line does not import ``concurrent.futures``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["count_input"]


def count_input(source, batch_size: int, threads: int, count: Callable, make_job: Callable,
                executor: Callable) -> np.ndarray:
    """Per-item counts of ``source`` (a ``runtime.inputs.Input``), chunk by chunk: a chunk of
    one batch, or any chunk with one thread, runs here (``count(batch)``); a larger one is
    a ``make_job(rows)`` that this thread works on together with up to ``threads - 1`` of
    ``executor()``'s. Meanwhile this thread makes the next chunk's windows."""
    counts = np.empty(source.n_items, np.int64)
    spans = source.spans()
    span = next(spans, None)
    windows = source.windows(*span) if span else None
    while span is not None:
        following = next(spans, None)
        rows = windows.bits
        if len(rows) <= batch_size or threads == 1:
            window_counts = np.empty(len(rows), np.int64)
            for start in range(0, len(rows), batch_size):
                window_counts[start:start + batch_size] = count(rows[start:start + batch_size])
            upcoming = source.windows(*following) if following else None
        else:
            job = make_job(rows)
            pool = executor()
            for _ in range(min(threads, job.n_batches) - 1):
                pool.submit(job.work)
            try:
                upcoming = source.windows(*following) if following else None
                job.work()
                window_counts = job.future.result()
            except BaseException:
                job.stop()  # e.g. Ctrl-C: the other threads finish their batch and stop
                raise
        counts[span[0]:span[1]] = windows.fold(window_counts)
        span, windows = following, upcoming
    return counts
