"""What every backend shares: the checks of a model's signature when it is opened, and the
public ``predict`` that checks the bits and the logits around each backend's ``_predict``
hook (``runtime.backends`` says what both sides of it are)."""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np

from ..bits import invalid_value
from ..errors import InputError, ModelError, UsageError
from ..files import read_regular
from ..limits import MAX_ARTIFACT_BYTES, MAX_THREADS, WHY_THREADS, check_count

__all__ = ["Backend"]

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
            num_threads = check_count("num_threads", num_threads, MAX_THREADS, WHY_THREADS)
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
        found = invalid_value(bits)
        if found is not None:
            item, position = found
            raise InputError(
                f"item {item}, position {position}: bit value {bits[item, position]}; expected 0 or 1",
                item=item, position=position)
        return self._run(bits)

    def _run(self, bits: np.ndarray) -> np.ndarray:
        """``predict`` for bits already checked: uint8 or bool ``[N, n_bits]`` of 0 and 1, N >= 1.

        For callers in this package that validated the bits themselves (``runtime.bits``);
        the logits are still checked.
        """
        return self._logits(bits.astype(_FLOAT32).reshape(bits.shape[0], self.n_bits, 1))

    def _logits(self, inputs: np.ndarray) -> np.ndarray:
        """``_predict`` on checked float32 ``inputs [N, n_bits, 1]`` (N >= 1), and the one
        check of what the model returned: finite float32 logits ``[N, n_classes]``."""
        logits = self._predict(inputs)
        n = inputs.shape[0]
        if not isinstance(logits, np.ndarray) or logits.shape != (n, self.n_classes):
            shape = getattr(logits, "shape", None)
            raise ModelError(f"{self.path}: model returned logits of shape {shape}, "
                             f"expected {[n, self.n_classes]}")
        if logits.dtype != _FLOAT32:
            raise ModelError(f"{self.path}: model returned {logits.dtype} logits, expected float32")
        if np.count_nonzero(np.isfinite(logits)) != logits.size:  # cheaper a call than .all()
            raise ModelError(f"{self.path}: model returned non-finite logits (damaged model?)")
        return logits

    def _predict(self, inputs: np.ndarray) -> np.ndarray:
        """Logits for float32 ``inputs [N, n_bits, 1]`` with N >= 1. Backend-specific."""
        raise NotImplementedError


def _read_model(path: str, content: Any) -> bytes:
    """The model's bytes: ``content`` when given (already checked against a manifest), else
    the file at ``path``, which must be a regular file of sane size."""
    if content is None:
        return read_regular(path, "model", MAX_ARTIFACT_BYTES, follow=True)  # the caller's own path
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


