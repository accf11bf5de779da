"""The runtime's bounds on what a caller or a model directory may ask of it, and why.

Each bound is far above what this model needs and below what breaks a backend or the
machine: a setting or a file beyond it is refused with an error that names the bound.
"""

from __future__ import annotations

import os

__all__ = ["MAX_THREADS", "MAX_BATCH_SIZE", "MAX_MANIFEST_BYTES", "MAX_DEPTH", "MAX_ARTIFACT_BYTES",
           "CHUNK_ITEMS", "CHUNK_CHARS", "check_count", "check_threads", "default_threads",
           "WHY_THREADS", "WHY_BATCH", "depth_exceeds"]

#: Inference threads one Predictor may run in all: ``threads`` (batches at once) times
#: ``num_threads`` (threads inside one call). Far more crashed LiteRT and swelled
#: onnxruntime's memory; more threads than cores only contend for them.
MAX_THREADS = 256
#: Windows per inference call. LiteRT's memory grows with the windows of a call, and
#: calls far smaller than this are already the fastest.
MAX_BATCH_SIZE = 1 << 14
#: A manifest is a few KB; one this large is not a manifest.
MAX_MANIFEST_BYTES = 1 << 20
#: JSON nesting deeper than this is refused: the manifest's own schema is 4 deep, and code
#: that walks ``Manifest.data`` recursively must never run out of stack.
MAX_DEPTH = 32
#: An artifact of this model is tens of kilobytes; a file this large is not one of them.
MAX_ARTIFACT_BYTES = 1 << 30
#: A golden set holds a few hundred strings; one with more rows than this is not one, and
#: its arrays are refused from their headers, before anything is decompressed.
MAX_GOLDEN_ROWS = 1 << 16
#: API input is windowed a chunk at a time, so memory beyond the input itself stays
#: bounded: at most this many strings (or array rows) in a chunk ...
CHUNK_ITEMS = 1 << 16
#: ... and at most this many bits, unless one string alone is longer.
CHUNK_CHARS = 1 << 20

WHY_THREADS = "more threads than cores only contend for them"
WHY_BATCH = "a larger call only costs memory (the fastest are 512 to 1024 windows)"


def check_count(name: str, value, high: int, why: str = "") -> int:
    """``value`` as an int from 1 to ``high``; UsageError naming ``name`` otherwise.

    Anything with ``__index__`` counts as an integer (``numpy.int64`` included); ``bool``
    and floats do not.
    """
    import operator

    from .errors import UsageError, show

    if isinstance(value, bool):
        raise UsageError(f"{name} must be a positive integer, got {show(value)}")
    try:
        number = operator.index(value)
    except TypeError:
        raise UsageError(f"{name} must be a positive integer, got {show(value)}") from None
    if number < 1:
        raise UsageError(f"{name} must be a positive integer, got {show(value)}")
    if number > high:
        raise UsageError(f"{name} must be at most {high}, got {number}" + (f": {why}" if why else ""))
    return number


def default_threads(num_threads: int = 1) -> int:
    """Threads for large inputs when none are asked for: the CPU cores this process may use,
    within ``MAX_THREADS`` inference threads in all when each call runs ``num_threads``."""
    num_threads = check_count("num_threads", num_threads, MAX_THREADS, WHY_THREADS)
    try:
        cores = len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS // num_threads))


def check_threads(threads, num_threads: int) -> int:
    """``threads`` batches at once, each call on ``num_threads``: at most ``MAX_THREADS`` in all."""
    from .errors import UsageError

    threads = check_count("threads", threads, MAX_THREADS, WHY_THREADS)
    if threads * num_threads > MAX_THREADS:
        raise UsageError(f"threads x num_threads must be at most {MAX_THREADS} inference threads "
                         f"in all, got {threads} x {num_threads} = {threads * num_threads}")
    return threads


def check_settings(batch_size=None, threads=None, num_threads=None) -> tuple:
    """The one check of a Predictor's settings: ``(batch_size, threads, num_threads)`` as
    ints, each None left as None (its default is chosen, and held to the same bounds, where
    the backend is known). Raises UsageError naming the first bad one."""
    if batch_size is not None:
        batch_size = check_count("batch_size", batch_size, MAX_BATCH_SIZE, WHY_BATCH)
    if num_threads is not None:
        num_threads = check_count("num_threads", num_threads, MAX_THREADS, WHY_THREADS)
    if threads is not None:
        threads = check_threads(threads, num_threads or 1)
    return batch_size, threads, num_threads


def depth_exceeds(data, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``data`` nests deeper than ``limit``, found without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False
