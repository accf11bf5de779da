"""Count the ones in files too big for one host, on Ray Data: ``python -m runtime.batch``.

::

    import ray, runtime.batch
    ds = ray.data.from_items([{"bits": "0110"}, {"bits": "1" * 70}])
    runtime.batch.count_ones(ds).take_all()
    # [{'bits': '0110', 'count': 2, 'parity': 0}, {'bits': '111...', 'count': 70, 'parity': 0}]

``count_ones(dataset, column="bits", ...)`` adds ``count`` and ``parity`` columns to any
Ray Data dataset with a column of bit strings; ``run(inputs, output, ...)`` is the
command line's job: every line of every input file, read where the cluster runs, one row
``path, line, count, parity`` per line, written as part files into a directory that
appears complete or not at all. Both use the runtime's own rules: the line format of
``runtime.predict`` (its messages too), the model verified by sha256 on the driver and
again on each worker, one Predictor per actor.

This package (``runtime.batch``) is the only one that imports Ray; ``import
runtime`` never does. Install with ``pip install "parity-edge[ray]"``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from .progress import reporting, row_counter
from .cluster import (RAY_EXTRA, check_address, cluster_cpus, connect, default_workers, import_ray, shutdown,
                      task_failure)
from .shipping import CountOnes, ModelBytes
from .watch import ClusterWatch
from .read import RANGE_BYTES, bit_lines, find_inputs, plan_ranges
from .write import FORMATS, OutputDir, check_parts, part_files
from ..errors import ClusterError, ParityEdgeError, UsageError
from ..lines import LINES_PER_BATCH

__all__ = ["count_ones", "run", "unwrap", "Summary", "ModelBytes", "default_workers", "import_ray",
           "RAY_EXTRA"]

@dataclass(frozen=True)
class Summary:
    """What ``run`` did: ``lines`` rows written as ``parts`` part files; ``seconds`` from the
    cluster being ready to the output in place, ``start_seconds`` to get the cluster ready."""

    files: int
    lines: int
    parts: int
    output: str
    format: str
    workers: int
    seconds: float
    start_seconds: float

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def _positive(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


def count_ones(dataset, column: str = "bits", model: str | os.PathLike | ModelBytes | None = None,
               backend: str = "auto", *, batch_size: int | None = None, workers: int | None = None,
               rows_per_batch: int = LINES_PER_BATCH, graph: str = "auto",
               trusted_key: str | os.PathLike | None = None):
    """Add ``count`` and ``parity`` (int64) to a Ray Data dataset with a column of bit strings.

    ``column``: strings of ``0`` and ``1``, each of any length >= 1 (shorter than the
    model's 50 bits left-padded, longer split into windows; exact either way).
    ``model``, ``backend``, ``batch_size``, ``graph``, ``trusted_key``: as for
    ``runtime.load`` (the signature is checked here, on the driver); ``model`` may also be a
    ``ModelBytes`` already loaded (its backend and graph are then the ones used). The model is
    verified here, on the driver, and its bytes go to the workers, which verify them again.
    ``workers``: actors in the pool, each with one Predictor on one CPU (default:
    ``default_workers`` of the cluster's CPUs). ``rows_per_batch``: rows per actor call.

    Returns a lazy Dataset. A value that is not a bit string fails the dataset's execution
    with ``runtime.InputError`` (a model refused on a worker with ModelError), raised as
    Ray's task error, which is an instance of both (``unwrap`` gives ours alone; the
    returned dataset's context raises the errors of map functions as they are, not as
    Ray Data's UserCodeException). Raises ModelError,
    BackendUnavailableError or UsageError here, and ClusterError when Ray is not installed.
    """
    return _count_ones(dataset, column, model, backend, batch_size, workers, rows_per_batch, drop=False,
                       graph=graph, trusted_key=trusted_key)


def _count_ones(dataset, column, model, backend, batch_size, workers, rows_per_batch, drop: bool,
                graph: str = "auto", trusted_key=None):
    ray = import_ray()
    _positive("batch_size", batch_size)
    _positive("workers", workers)
    _positive("rows_per_batch", rows_per_batch)
    if not isinstance(column, str):
        raise UsageError(f"column must be a column name, got {column!r}")
    shipped = (model if isinstance(model, ModelBytes)
               else ModelBytes.load(model, backend, graph, trusted_key))
    size = _pool_size(ray, workers)
    counted = dataset.map_batches(
        CountOnes, fn_constructor_kwargs={"model": shipped, "column": column, "batch_size": batch_size,
                                          "drop": drop},
        batch_format="pyarrow", batch_size=rows_per_batch, num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=size))
    # Ray Data would raise a UserCodeException that has lost the error it was raised
    # from (the cause does not survive pickling); this keeps ours, in Ray's task error.
    counted.context.raise_original_map_exception = True
    return counted


def _pool_size(ray, workers: int | None) -> int:
    """``workers``, or the default for the cluster; never every CPU: actors that hold them
    all leave none for the read tasks, and the job waits forever."""
    cpus = int(cluster_cpus(ray))
    if workers is None:
        return default_workers(cpus)
    if workers >= cpus:
        raise UsageError(f"workers must leave a CPU for reading: at most {max(cpus - 1, 1)} on this "
                         f"cluster of {cpus} CPUs, got {workers}")
    return workers


def run(inputs: list[str], output: str, *, format: str = "parquet",
        model: str | os.PathLike | ModelBytes | None = None,
        backend: str = "auto", batch_size: int | None = None, workers: int | None = None,
        address: str | None = None, overwrite: bool = False, range_bytes: int = RANGE_BYTES,
        progress: Callable[[int], None] | None = None, graph: str = "auto",
        trusted_key: str | os.PathLike | None = None,
        on_published: Callable[[], None] | None = None) -> Summary:
    """Count the ones in every line of ``inputs`` on a Ray cluster; write them under ``output``.

    ``inputs``: files, directories (every file under them) or glob patterns; local paths
    or pyarrow filesystem URIs. ``output``: a directory to create (``overwrite`` replaces
    an existing one), written under a temporary name and renamed when everything is
    written: on any error or Ctrl-C nothing is left. ``format``: parquet, csv or jsonl.
    ``model``, ``backend``, ``batch_size``, ``workers``, ``graph``, ``trusted_key``: as for
    ``count_ones``.
    ``address``: None starts a local Ray instance on this host (shut down at the end);
    ``"auto"`` or ``HOST:PORT`` joins a running cluster (already initialised Ray is used
    as it is); ``ray://`` (Ray Client) is refused with UsageError, since Ray Data cannot
    run through it. A node or the head lost while the job runs fails it with
    ClusterError within seconds (``runtime.batch.watch``), when called from the main
    thread. ``range_bytes``: bytes of a file per read task.
    ``progress(lines)`` is called about twice a second with the lines written so far.
    ``on_published()`` is called as soon as the output is in place, before Ray is shut
    down: from then on the job has succeeded (a Ctrl-C no longer fails it), so a program
    with signal handlers of its own learns it at once. A signal that cuts that first call
    short leads to a second one.

    Raises InputError for a bad line (``FILE:LINE:COL: ...``), UsageError for bad options
    and unreadable inputs or unwritable output, ModelError for the model, ClusterError
    for Ray and the cluster.
    """
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")
    _positive("batch_size", batch_size)
    _positive("workers", workers)
    _positive("range_bytes", range_bytes)
    check_address(address)
    ray = import_ray()
    files = find_inputs(list(inputs))
    shipped = (model if isinstance(model, ModelBytes)
               else ModelBytes.load(model, backend, graph, trusted_key))
    out = OutputDir(output, overwrite)
    started, error, watch = False, None, None
    # A signal during ray.init, before connect returns, must still stop what it had started.
    ours = address is None and not ray.is_initialized()
    try:
        begin = time.monotonic()
        started = connect(ray, address)
        ready = time.monotonic()
        # From here to the last part file written, a lost node or head fails the job in
        # seconds (runtime.batch.watch says why it must); the commit is outside: once every part
        # is written and checked, a node lost after it costs nothing.
        watch = ClusterWatch(ray.get_runtime_context().gcs_address)
        with watch:
            size = _pool_size(ray, workers)
            lines, parts = _job(ray, files, out.temporary, format, shipped, batch_size, size, range_bytes,
                                progress)
        summary = Summary(files=len(files), lines=lines, parts=parts, output=output, format=format,
                          workers=size, seconds=time.monotonic() - ready, start_seconds=ready - begin)
        out.commit()
        if on_published is not None:
            on_published()
        return summary
    except BaseException as exc:
        if out.settle() and isinstance(exc, KeyboardInterrupt):
            if on_published is not None:
                on_published()
            return summary  # the output is published: the job has succeeded
        out.discard()
        error = _translate(ray, exc, watch)
        if error is exc:
            raise
    finally:
        if started or ours:
            shutdown(ray, out.committed)
    # Ray Data lets go of a failed job's actors by dropping its references to them; the
    # traceback of Ray's exception holds some in reference cycles. Collected now, the
    # actors' CPUs are free for the next job of this process at once.
    import gc

    gc.collect()
    raise error


def _job(ray, files, directory: str, format: str, shipped: ModelBytes, batch_size, workers: int,
         range_bytes: int, progress) -> tuple[int, int]:
    ranges = plan_ranges(files, range_bytes)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    dataset = ray.data.read_datasource(bit_lines(ranges, LINES_PER_BATCH), override_num_blocks=max(1, len(ranges)))
    dataset = _count_ones(dataset, "bits", shipped, None, batch_size, workers, LINES_PER_BATCH, drop=True)
    counter = row_counter() if progress is not None else None
    sink = part_files(directory, format, counter)
    with reporting(ray, counter, progress):
        dataset.write_datasink(sink)
    written = sink.written
    if written is None:  # the sink's completion ran somewhere other than this driver
        raise ClusterError("the write finished without reporting its part files to this driver")
    check_parts(directory, format, written)
    return written.rows, len(written.parts)


def unwrap(exc: BaseException) -> ParityEdgeError | None:
    """The runtime's error that a Ray task raised, from the exception Ray raised for it
    (a task error, around Ray Data's error for user code, around ours); None if none is."""
    from ray.exceptions import RayTaskError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        # A RayTaskError is also an instance of the class it carries; the one inside it
        # is the error as raised.
        if isinstance(exc, ParityEdgeError) and not isinstance(exc, RayTaskError):
            # Ray Data appends its retry advice to the message after a line break; ours
            # are one line.
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (exc.args[0].split("\n", 1)[0],) + exc.args[1:]
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def _translate(ray, exc: BaseException, watch: ClusterWatch | None = None) -> BaseException:
    """Ours from Ray's: the error a task raised, or ClusterError for a lost worker or node
    (whatever was raised while the job stopped, once the watch saw a node or the head go)."""
    if watch is not None and watch.lost is not None:
        return ClusterError(watch.lost)
    if isinstance(exc, (ParityEdgeError, KeyboardInterrupt)) and not isinstance(exc, ray.exceptions.RayError):
        return exc
    ours = unwrap(exc)
    if ours is not None:
        return ours
    if isinstance(exc, ray.exceptions.RayTaskError):
        return task_failure(ray, exc)
    if isinstance(exc, ray.exceptions.RayError):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return ClusterError(f"the cluster failed: {type(exc).__name__}: {first}")
    return exc

