"""The onnx backend: one onnxruntime session, shared by every thread."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np

from ..errors import BackendUnavailableError, ModelError
from .base import _OPENED, Backend, _check_signature, _read_model


def _import_onnxruntime():
    try:
        import onnxruntime
        return onnxruntime
    except Exception as exc:  # ImportError, or a broken install
        raise BackendUnavailableError(
            f"the onnx backend needs onnxruntime: pip install \"parity-edge[onnx]\" "
            f"(onnxruntime) [{exc}]", package="parity-edge[onnx]") from exc


class OnnxBackend(Backend):
    """A ``.onnx`` model run by onnxruntime on the CPU. One session serves all threads.

    ``num_threads`` is onnxruntime's intra-op thread count; None means 1 (see below).
    """

    name = "onnx"

    @classmethod
    def available(cls) -> None:
        _import_onnxruntime()

    # onnxruntime's per-call cost is larger than LiteRT's: its rate levels off from about a
    # thousand rows a call.
    default_batch_size = 1024

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None,
                 content: bytes | None = None):
        super().__init__(path, num_threads)
        self._ort = _import_onnxruntime()
        self._content = _read_model(self.path, content)
        _refuse_external_data(self.path, self._content)
        try:
            self._session = self._new_session()
            inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        except Exception as exc:  # onnxruntime's own types, and UnicodeDecodeError on damaged files
            raise ModelError(f"{self.path}: onnxruntime cannot load the model: "
                             f"{type(exc).__name__}: {exc}") from exc
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: model has {len(inputs)} inputs and {len(outputs)} outputs, "
                             "expected 1 and 1")
        i, o = inputs[0], outputs[0]
        self.n_bits = _check_signature(self.path, i.shape, i.type == "tensor(float)",
                                       o.shape, o.type == "tensor(float)")
        self.n_classes = self.n_bits + 1
        self.input_name, self.output_name = i.name, o.name
        self._lock = threading.Lock()
        _OPENED.add(self)

    def _after_fork(self) -> None:
        # A session another thread was running at the fork may hold onnxruntime's locks,
        # which no thread of the child will release: the child makes its own on first use.
        self._session = None
        self._lock = threading.Lock()

    def _new_session(self):
        ort = self._ort
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; warnings would go to stderr
        # The model's operators are tiny (one recurrent step at a time): splitting them over
        # threads cost more than it saved (2 threads ran slower than 1), and spinning worker
        # threads steal the CPU from everything else. Graph optimisation levels and the
        # parallel execution mode made no difference beyond the noise: the defaults stay.
        options.intra_op_num_threads = self.num_threads or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        with _library_prints_held():
            return ort.InferenceSession(self._content, options, providers=["CPUExecutionProvider"])

    def _predict(self, inputs: np.ndarray) -> np.ndarray:
        session = self._session
        if session is None:  # the first call in the child of a fork
            with self._lock:
                if self._session is None:
                    try:
                        self._session = self._new_session()
                    except Exception as exc:
                        raise ModelError(f"{self.path}: onnxruntime cannot load the model: "
                                         f"{type(exc).__name__}: {exc}") from exc
                session = self._session
        try:
            (logits,) = session.run([self.output_name], {self.input_name: inputs})
        except Exception as exc:
            raise ModelError(f"{self.path}: onnxruntime failed to run the model: "
                             f"{type(exc).__name__}: {exc}") from exc
        return logits


def _refuse_external_data(path, content: bytes) -> None:
    """ModelError when a tensor of the model is stored outside ``content``: onnxruntime would
    read it from a file relative to the current directory, bytes no sha256 vouched for (the
    exporter never writes external data)."""
    from ..onnx_graph import external_tensors

    try:
        names = external_tensors(content)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    if names:
        raise ModelError(f"{path}: tensor {names[0]!r} is stored outside the file (external data); "
                         "a model's file must hold all its weights, so the bytes checked are the "
                         "bytes that compute")


class _OtherThreadsStdout:
    """``sys.stdout`` while one thread runs library code: that thread's writes are dropped,
    every other thread's go to the real standard output."""

    def __init__(self, real, thread: int):
        self._real, self._thread = real, thread

    def write(self, text):
        if threading.get_ident() == self._thread or self._real is None:
            return len(text)
        return self._real.write(text)

    def flush(self):
        if threading.get_ident() != self._thread and self._real is not None:
            self._real.flush()

    def __getattr__(self, name):
        return getattr(self._real, name)


_HOLDING = threading.Lock()


@contextlib.contextmanager
def _library_prints_held():
    """Hold back what onnxruntime's Python side prints while a session is made: for some
    damaged files it prints an "EP Error" banner to standard output (the command line's data
    stream) before raising the error we report. The library prints nothing."""
    with _HOLDING:
        real = sys.stdout
        sys.stdout = _OtherThreadsStdout(real, threading.get_ident())
        try:
            yield
        finally:
            sys.stdout = real
