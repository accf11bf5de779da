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
import threading
import weakref
from typing import Any

import numpy as np

from .errors import BackendUnavailableError, InputError, ModelError, UsageError, show
from .files import read_regular
from .limits import MAX_ARTIFACT_BYTES, MAX_THREADS, check_count

__all__ = ["Backend", "TFLiteBackend", "OnnxBackend", "BACKENDS", "open_backend"]

_FLOAT32 = np.dtype(np.float32)  # compared against on every call: a dtype, not a type


def _describe_shape(shape) -> str:
    return "[" + ", ".join("batch" if _is_dynamic(d) else str(d) for d in shape) + "]"


def _is_dynamic(dim) -> bool:
    # onnxruntime gives None or a symbolic name; LiteRT's shape_signature gives -1.
    return dim is None or isinstance(dim, str) or (isinstance(dim, (int, np.integer)) and dim < 0)


def _check_signature(path: str, in_shape, in_float: bool, out_shape, out_float: bool) -> int:
    """Check the model's input and output; return n_bits. Raises ModelError on a mismatch."""
    in_shape, out_shape = list(in_shape), list(out_shape)
    problems = []
    ok_in = (len(in_shape) == 3 and _is_dynamic(in_shape[0]) and not _is_dynamic(in_shape[1])
             and in_shape[2] == 1 and int(in_shape[1]) > 0)
    if not ok_in:
        problems.append(f"input shape is {_describe_shape(in_shape)}, expected [batch, n_bits, 1]")
    if not in_float:
        problems.append("input dtype is not float32")
    n_bits = int(in_shape[1]) if ok_in else None
    ok_out = (len(out_shape) == 2 and _is_dynamic(out_shape[0]) and not _is_dynamic(out_shape[1])
              and (n_bits is None or int(out_shape[1]) == n_bits + 1))
    if not ok_out:
        want = f"[batch, {n_bits + 1}]" if n_bits else "[batch, n_bits + 1]"
        problems.append(f"output shape is {_describe_shape(out_shape)}, expected {want}")
    if not out_float:
        problems.append("output dtype is not float32")
    if problems:
        raise ModelError(f"{path}: not a count-ones model: " + "; ".join(problems))
    return n_bits


class Backend:
    """A loaded model that turns bits into logits. Subclasses fill in ``_predict``.

    Attributes: ``name`` (the backend's name, a key of ``BACKENDS``), ``path``,
    ``n_bits``, ``n_classes`` (``n_bits + 1``), ``input_name``, ``output_name``,
    ``default_batch_size`` (rows per call that ``runtime.Predictor`` uses by default).
    """

    name: str = ""
    default_batch_size: int = 1024

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        try:
            self.path = os.fsdecode(path)
        except TypeError:
            raise UsageError(f"path must be a str, bytes or os.PathLike, got {type(path).__name__}") from None
        if num_threads is not None:
            num_threads = check_count("num_threads", num_threads, MAX_THREADS,
                                      "more threads than cores only contend for them")
        self.num_threads = num_threads
        self.n_bits: int = 0
        self.n_classes: int = 0
        self.input_name: str = ""
        self.output_name: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, n_bits={self.n_bits})"

    @classmethod
    def available(cls) -> None:
        """Raise BackendUnavailableError, saying what to install, unless this backend's
        package imports here."""

    def __reduce__(self):
        raise UsageError(f"a {type(self).__name__} cannot be pickled: it holds an opened model; "
                         "pickle the Predictor that runtime.load returns (it reloads its model from "
                         "the manifest and checks it again), or send the model path")

    def predict(self, bits: Any) -> np.ndarray:
        """Logits float32 ``[N, n_bits + 1]`` for bits ``[N, n_bits]`` of 0 and 1.

        Raises InputError for bits of the wrong shape, dtype or values, ModelError when the
        model fails or returns something that is not finite logits of the right shape.
        """
        if isinstance(bits, np.ma.MaskedArray) and np.ma.getmaskarray(bits).any():
            raise InputError("bits must be plain values, got a masked array with masked values: "
                             "the model would see the values under the mask")
        try:
            bits = np.asarray(bits)
        except (TypeError, ValueError) as exc:  # a ragged nested list, say
            raise InputError(f"bits must be an array [N, {self.n_bits}] of 0 and 1: {exc}") from exc
        if bits.dtype != np.bool_ and not np.issubdtype(bits.dtype, np.integer):
            raise InputError(f"bits must be uint8 or bool 0/1, got dtype {bits.dtype}")
        if bits.ndim != 2 or bits.shape[1] != self.n_bits:
            raise InputError(f"bits must have shape [N, {self.n_bits}], got {list(bits.shape)}")
        if bits.shape[0] == 0:
            # LiteRT crashes on a zero-row batch: never hand it one.
            return np.empty((0, self.n_classes), np.float32)
        if bits.dtype != np.bool_ and (bits.max() > 1 or (bits.dtype.kind == "i" and bits.min() < 0)):
            bad = (bits != 0) & (bits != 1)
            if bad.any():
                item, position = (int(i) for i in np.argwhere(bad)[0])
                raise InputError(
                    f"item {item}, position {position}: bit value {bits[item, position]}; expected 0 or 1",
                    item=item, position=position)
        return self._run(bits)

    def _run(self, bits: np.ndarray) -> np.ndarray:
        """``predict`` for bits already checked: uint8 or bool ``[N, n_bits]`` of 0 and 1, N >= 1.

        For callers in this package that validated the bits themselves (``runtime.bits``);
        the logits are still checked.
        """
        n = bits.shape[0]
        logits = self._predict(bits.astype(_FLOAT32).reshape(n, self.n_bits, 1))
        if not isinstance(logits, np.ndarray) or logits.shape != (n, self.n_classes):
            shape = getattr(logits, "shape", None)
            raise ModelError(f"{self.path}: model returned logits of shape {shape}, "
                             f"expected {[n, self.n_classes]}")
        if logits.dtype != _FLOAT32:
            raise ModelError(f"{self.path}: model returned {logits.dtype} logits, expected float32")
        if np.count_nonzero(np.isfinite(logits)) != logits.size:  # .all() costs 0.6 us more a call
            raise ModelError(f"{self.path}: model returned non-finite logits (damaged model?)")
        return logits

    def _predict(self, inputs: np.ndarray) -> np.ndarray:
        """Logits for float32 ``inputs [N, n_bits, 1]`` with N >= 1. Backend-specific."""
        raise NotImplementedError


def _read_model(path: str, content: Any) -> bytes:
    """The model's bytes: ``content`` when given (already checked against a manifest), else
    the file at ``path``, which must be a regular file of sane size."""
    if content is None:
        return read_regular(path, "model", MAX_ARTIFACT_BYTES)
    try:
        return bytes(content)
    except TypeError:
        raise UsageError(f"content must be bytes, got {type(content).__name__}") from None


#: Opened backends, told when the process forks so that the child can use them (a lock
#: held by another thread at the fork would stay held in the child forever).
_OPENED: "weakref.WeakSet[Backend]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_OPENED):
        backend._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _import_litert():
    """The LiteRT interpreter module: ai-edge-litert, else the legacy tflite-runtime."""
    errors = []
    try:
        from ai_edge_litert import interpreter
        return interpreter
    except Exception as exc:  # ImportError, or a broken install (numpy ABI mismatch)
        errors.append(f"ai_edge_litert: {exc}")
    try:
        from tflite_runtime import interpreter
        return interpreter
    except Exception as exc:
        errors.append(f"tflite_runtime: {exc}")
    raise BackendUnavailableError(
        "the tflite backend needs LiteRT: pip install \"parity-edge[tflite]\" (ai-edge-litert; "
        f"or tflite-runtime with numpy<2) [{'; '.join(errors)}]",
        package="parity-edge[tflite]")


# LiteRT's C++ side writes this to file descriptor 2 the first time a process creates an
# interpreter; a library must not print, so it is held back (see _quiet_first_interpreter).
_XNNPACK_NOTE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
_QUIET_LOCK = threading.Lock()
_noted = False


def _quiet_first_interpreter(create):
    """``create()`` with file descriptor 2 captured until LiteRT has printed its one-time
    note; whatever else was written there meanwhile (by any thread) is written back after.
    Once the note has been seen, or stderr is not a descriptor, this is just ``create()``."""
    global _noted
    if _noted:
        return create()
    with _QUIET_LOCK:
        if _noted:
            return create()
        try:
            saved = os.dup(2)
        except OSError:
            return create()
        # An in-memory file where Linux has one (no tempfile import on the cold start).
        sink = os.memfd_create("stderr") if hasattr(os, "memfd_create") else _temporary_fd()
        try:
            os.dup2(sink, 2)
            try:
                return create()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.lseek(sink, 0, os.SEEK_SET)
                captured = b"".join(iter(lambda: os.read(sink, 1 << 16), b""))
                if _XNNPACK_NOTE in captured:
                    _noted = True
                    captured = captured.replace(_XNNPACK_NOTE, b"", 1)
                if captured:
                    os.write(2, captured)
        finally:
            os.close(sink)


def _temporary_fd() -> int:
    import tempfile

    fd, name = tempfile.mkstemp()
    os.unlink(name)
    return fd


class TFLiteBackend(Backend):
    """A ``.tflite`` model run by LiteRT (``ai_edge_litert``, else ``tflite_runtime``).

    A LiteRT interpreter is not thread-safe: each call borrows an interpreter from a pool
    (creating one when all are busy) and returns it afterwards, so concurrent calls never
    share one. The input has a dynamic batch dimension; each interpreter keeps the batch
    size it last ran, and a call takes one already sized for its batch when there is one,
    so a steady batch size never resizes. ``num_threads`` is XNNPACK's thread count per
    interpreter; None means 1.
    """

    name = "tflite"

    @classmethod
    def available(cls) -> None:
        _import_litert()

    # One interpreter's rate rises with the batch up to a few hundred rows (the per-call cost
    # is spread out) and falls slowly beyond a thousand (the activations leave the cache).
    default_batch_size = 512

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None,
                 content: bytes | None = None):
        super().__init__(path, num_threads)
        self._litert = _import_litert()
        self._content = _read_model(self.path, content)
        self._lock = threading.Lock()
        self._idle: list[list] = []  # [interpreter, current batch size], most recent last
        slot = self._new_slot()
        interp = slot[0]
        try:
            inputs, outputs = interp.get_input_details(), interp.get_output_details()
        except Exception as exc:
            raise ModelError(f"{self.path}: cannot read the model's signature: {exc}") from exc
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: model has {len(inputs)} inputs and {len(outputs)} outputs, "
                             "expected 1 and 1")
        i, o = inputs[0], outputs[0]
        self.n_bits = _check_signature(
            self.path, [int(d) for d in i.get("shape_signature", i["shape"])], i["dtype"] == np.float32,
            [int(d) for d in o.get("shape_signature", o["shape"])], o["dtype"] == np.float32)
        self.n_classes = self.n_bits + 1
        self.input_name, self.output_name = str(i["name"]), str(o["name"])
        self._input_index, self._output_index = i["index"], o["index"]
        self._idle.append(slot)
        _OPENED.add(self)

    def _after_fork(self) -> None:
        # Interpreters lent out at the fork belonged to threads that the child does not
        # have: they are never returned, and new ones are made when needed.
        self._lock = threading.Lock()

    def _new_slot(self) -> list:
        try:
            # One thread per interpreter: XNNPACK's threads only synchronise on every one
            # of the ~150 tiny operators (2 threads ran at 0.4-0.9x the speed of 1).
            def create():
                made = self._litert.Interpreter(model_content=self._content,
                                                num_threads=self.num_threads or 1)
                made.allocate_tensors()
                return made

            interp = _quiet_first_interpreter(create)
        except Exception as exc:  # LiteRT raises ValueError / RuntimeError on a bad model
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "Didn't find op for builtin opcode" in detail:
                # A sound file this LiteRT build is too old for (the legacy tflite-runtime
                # 2.14 lacks the per-channel int8 FULLY_CONNECTED of the int8 variant).
                raise BackendUnavailableError(
                    f"{self.path}: the installed LiteRT ({self._litert.__name__.split('.')[0]}) "
                    f"is too old for this file ({detail.split('. ')[0]}): pip install "
                    '"parity-edge[tflite]" for ai-edge-litert', package="parity-edge[tflite]") from exc
            raise ModelError(f"{self.path}: LiteRT cannot load the model: {exc}") from exc
        return [interp, None]

    def _borrow(self, n: int) -> list | None:
        """An idle interpreter, preferably one sized for ``n`` rows; None when all are busy."""
        with self._lock:
            idle = self._idle
            if not idle:
                return None
            if idle[-1][1] != n:
                for k in range(len(idle) - 2, -1, -1):
                    if idle[k][1] == n:
                        return idle.pop(k)
            return idle.pop()

    def _predict(self, inputs: np.ndarray) -> np.ndarray:
        n = inputs.shape[0]
        slot = self._borrow(n) or self._new_slot()
        try:
            interp = slot[0]
            try:
                if slot[1] != n:
                    interp.resize_tensor_input(self._input_index, [n, self.n_bits, 1], strict=True)
                    interp.allocate_tensors()
                    slot[1] = n
                interp.set_tensor(self._input_index, inputs)
                interp.invoke()
                return interp.get_tensor(self._output_index)
            except Exception as exc:
                slot[1] = None  # state unknown: resize again next time
                raise ModelError(f"{self.path}: LiteRT failed to run the model: {exc}") from exc
        finally:
            with self._lock:
                self._idle.append(slot)


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
        # threads cost more than it saved (2 threads ran at 0.4-0.7x the speed of 1 on a
        # 2-core CPU), and spinning worker threads steal the CPU from everything else.
        # Graph optimisation levels (none to all) and the parallel execution mode ran
        # within 8% of each other, inside the noise: onnxruntime's defaults stay.
        options.intra_op_num_threads = self.num_threads or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
