"""The batches of a stream counted in order, with reading, inference and the caller's
writing overlapped: what ``Predictor.predict_stream`` (and so ``runtime.predict``) runs.

Kept apart from ``runtime.parallel``: a short input never needs the thread pool, and a
one-line run of the command line does not import it.
"""

from __future__ import annotations

from collections import deque

__all__ = ["pipeline"]


def pipeline(batches, predictor):
    """``(batch, Result)`` for each of ``batches`` (``runtime.lines.Batch``), in order, with
    reading, inference and the caller's work on each result overlapped.

    A batch larger than one inference call is submitted to the predictor's threads, and
    its result is handed out only once the next batch has been read and submitted: the
    caller writes one batch while the next one runs. Smaller batches (short inputs, or a
    slow pipe) run at once on this thread. A read error or a bad line comes after the
    results of every line before it, as it would one batch at a time.
    """
    pending = deque()  # (batch, future), at most one

    def finished():
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

    try:
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except Exception:
                yield from finished()
                raise
            if batch.windows.bits.shape[0] > predictor.batch_size:
                future = predictor.submit(batch.windows)
                yield from finished()
                pending.append((batch, future))
            else:
                yield from finished()
                yield batch, predictor.predict(batch.windows)
        yield from finished()
    finally:
        for _, future in pending:
            future.cancel()  # stopped early (an error, Ctrl-C): the threads stop too
