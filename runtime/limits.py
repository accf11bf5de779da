"""The runtime's bounds on what a caller or a model directory may ask of it, and why.

Each bound is far above what this model needs and below what breaks a backend or the
machine: a setting or a file beyond it is refused with an error that names the bound.
"""

from __future__ import annotations

__all__ = ["MAX_THREADS", "MAX_BATCH_SIZE", "MAX_MANIFEST_BYTES", "MAX_ARTIFACT_BYTES",
           "CHUNK_ITEMS", "CHUNK_CHARS"]

#: Inference threads one Predictor may run in all: ``threads`` (batches at once) times
#: ``num_threads`` (threads inside one call). LiteRT crashed at 100,000 and onnxruntime grew
#: to 3.5 GB; 256 ran fine in both, and more threads than cores only contend for them.
MAX_THREADS = 256
#: Windows per inference call. LiteRT holds about 6.5 KB per window of a call (65,536
#: windows: ~400 MB); the fastest batches are 512 to 1024 windows.
MAX_BATCH_SIZE = 1 << 14
#: A manifest is a few KB; one this large is not a manifest.
MAX_MANIFEST_BYTES = 1 << 20
#: An artifact of this model is about 50-80 KB; a file this large is not one of them.
MAX_ARTIFACT_BYTES = 1 << 30
#: API input is windowed a chunk at a time, so memory beyond the input itself stays
#: bounded: at most this many strings (or array rows) in a chunk ...
CHUNK_ITEMS = 1 << 16
#: ... and at most this many bits, unless one string alone is longer.
CHUNK_CHARS = 1 << 20


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
