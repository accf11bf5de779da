"""The lines written so far, while ``runtime.batch.run`` runs: a small actor the write
tasks add their rows to, and a thread of the driver that reports its count."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable

from .cluster import import_ray

__all__ = ["row_counter", "reporting"]

#: Seconds between two reports.
EVERY = 0.5


class _Rows:
    def __init__(self):
        self._rows = 0

    def add(self, rows: int) -> None:
        self._rows += rows

    def rows(self) -> int:
        return self._rows


def row_counter():
    """A new counter actor (on no CPU: it must never wait for one the job holds)."""
    return import_ray().remote(_Rows).options(num_cpus=0).remote()


@contextlib.contextmanager
def reporting(ray, counter, progress: Callable[[int], None] | None):
    """Within the block, ``progress(rows)`` is called every ``EVERY`` seconds with what
    ``counter`` holds (nothing is done when either is None)."""
    if counter is None or progress is None:
        yield
        return
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(EVERY):
            try:
                progress(ray.get(counter.rows.remote(), timeout=5))
            except Exception:  # progress is a courtesy: never fail the job for it
                pass

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
