"""The tflite backend: LiteRT (``ai-edge-litert``, else the legacy ``tflite-runtime``), with
a pool of interpreters, since one is not thread-safe."""

from __future__ import annotations

import os
import threading

import numpy as np

from ..errors import BackendUnavailableError, ModelError
from ..stderr import stderr_to
from .base import _OPENED, Backend, _check_signature, _read_model


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
            os.fstat(2)
        except OSError:  # no descriptor 2: nothing would be printed anyway
            return create()
        # An in-memory file where Linux has one (no tempfile import on the cold start).
        sink = os.memfd_create("stderr") if hasattr(os, "memfd_create") else _temporary_fd()
        try:
            try:
                with stderr_to(sink):
                    return create()
            finally:
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
    so a steady batch size never resizes. A call of one row (the latency case) uses an
    interpreter of its thread's own instead, sized for one row, with no lock to take.
    ``num_threads`` is XNNPACK's thread count per interpreter; None means 1.
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
        self._own = threading.local()  # .lease: this thread's interpreter for one row
        self._singles: list[list] = []  # one-row interpreters whose threads have ended
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
        # have: they are never returned, and new ones are made when needed. The one-row
        # interpreters of those threads, given back as their storage goes, land in the old
        # free list, which the child no longer uses.
        self._lock = threading.Lock()
        self._singles = []

    def _new_slot(self) -> list:
        try:
            # One thread per interpreter: XNNPACK's threads only synchronise on every one
            # of the model's many tiny operators (2 threads ran slower than 1).
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
        if inputs.shape[0] == 1:
            return self._predict_one(inputs)
        slot = self._borrow(inputs.shape[0]) or self._new_slot()
        try:
            return self._invoke(slot, inputs)
        finally:
            with self._lock:
                self._idle.append(slot)

    def _predict_one(self, inputs: np.ndarray) -> np.ndarray:
        """One row on the interpreter this thread holds (``_Lease``): taken on its first
        one-row call from those of threads that have ended, or made, and sized once."""
        lease = getattr(self._own, "lease", None)
        if lease is None:
            try:
                slot = self._singles.pop()  # atomic: no lock needed
            except IndexError:
                slot = self._new_slot()
            lease = self._own.lease = _Lease(slot, self._singles)
        try:
            return self._invoke(lease.slot, inputs)
        except ModelError:
            lease.slot = None  # state unknown: dropped, and a new one next time
            self._own.lease = None
            raise

    def _invoke(self, slot: list, inputs: np.ndarray) -> np.ndarray:
        """``inputs`` run on ``slot``'s interpreter, resized first when it last ran another
        number of rows; ModelError (and the size forgotten) when LiteRT fails."""
        n = inputs.shape[0]
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


class _Lease:
    """A one-row interpreter held by one thread for as long as it lives: given back to the
    backend's free list when the thread ends and its thread-local storage goes, so a server
    that starts a thread per request reuses interpreters instead of making one each time."""

    __slots__ = ("slot", "free")

    def __init__(self, slot: list, free: list):
        self.slot, self.free = slot, free

    def __del__(self) -> None:
        if self.slot is not None:
            self.free.append(self.slot)
