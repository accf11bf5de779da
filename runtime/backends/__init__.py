"""Backends: one small surface over LiteRT (TFLite) and onnxruntime.

Every backend has the same public method, ``predict(bits) -> logits``:

- ``bits``: uint8 or bool ``[N, n_bits]`` of 0 and 1 (other integer types are accepted
  when their values are 0 and 1; floats are refused, since a 0.5 or a NaN would pass
  through both runtimes silently);
- ``logits``: float32 ``[N, n_bits + 1]``, one logit per possible count 0..n_bits.

The public method does the shared checks (shape, dtype, values, an empty batch, finite
logits) and then calls the backend's private hook ``_predict(inputs)`` with float32
``[N, n_bits, 1]``. Opening a backend checks that the model has one input, float32
``[batch, n_bits, 1]``, and one output, float32 ``[batch, n_bits + 1]``, with a dynamic
batch dimension; names may carry converter suffixes (``serving_default_bits:0``), so
they are matched by position and shape and only recorded.

A backend does not check checksums: that is the manifest layer's job
(``runtime.manifest``), and a damaged file must be refused there before it is opened
here; ``runtime.manifest.open_artifact`` hands the backend the very bytes it checked
(``content``). The runtime packages are imported inside the backend that needs them, so
``import runtime`` stays cheap and a missing package says what to install. A backend
cannot be pickled (it holds an opened model); a ``runtime.Predictor`` can.

Both backends may be shared by any number of threads, and go on working in the child
of an ``os.fork()``. One onnxruntime session serves all threads; a LiteRT interpreter is
not thread-safe, so the TFLite backend keeps a pool of interpreters and lends each call
one of its own. Each call runs on one thread
by default (``num_threads``): the operators of this model are too small to split, so
parallelism comes from running several batches at once (``runtime.Predictor``'s
``threads``). ``default_batch_size`` is the batch at which each backend ran fastest.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageError, show
from .base import Backend
from .onnx import OnnxBackend
from .tflite import TFLiteBackend

__all__ = ["Backend", "TFLiteBackend", "OnnxBackend", "BACKENDS", "open_backend"]

BACKENDS: dict[str, type[Backend]] = {"tflite": TFLiteBackend, "onnx": OnnxBackend}


def open_backend(name: str, path: str | os.PathLike, **options: Any) -> Backend:
    """Open the model at ``path`` with the backend called ``name`` (a key of ``BACKENDS``).

    ``options`` go to the backend: ``num_threads``, and ``content``, the model's bytes when
    they have been read already (the manifest layer passes the bytes it checked). Raises
    UsageError for an unknown name or a bad option,
    ModelError for a missing or unreadable model or one whose signature is not a count-ones model;
    BackendUnavailableError when the backend's package is not installed.
    """
    try:
        cls = BACKENDS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown backend {show(name)}; expected one of: {', '.join(BACKENDS)}") from None
    unknown = sorted(set(options) - {"num_threads", "content"})
    if unknown:
        raise UsageError(f"unknown backend option {unknown[0]!r}; expected num_threads or content")
    return cls(path, **options)
