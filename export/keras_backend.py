"""The reference side of the parity check: the trained Keras model as one more backend.

``KerasBackend`` has the runtime backends' surface (``predict(bits) -> logits``, with the
same input checks, from ``runtime.backends.Backend``), so the parity check cannot tell it
from the candidates. It runs the model as trained, recurrent loop and all: the unrolled twin
that the converters see is itself one of the things under test.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from runtime.backends import Backend

from .errors import ExportError

__all__ = ["KerasBackend", "ModelInfo", "load_keras_model", "describe_model"]

# Recurrent layer class -> the cell names of ``train.model.CELLS``.
_CELL_OF_LAYER = {"SimpleRNN": "rnn", "GRU": "gru", "LSTM": "lstm"}


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the manifest says about the model: its cell, size and task dimensions."""

    cell: str
    hidden_units: int
    n_bits: int

    @property
    def n_classes(self) -> int:
        return self.n_bits + 1


def load_keras_model(path: str | os.PathLike):
    """Load a ``.keras`` file; raise ExportError (never a Keras or zip error) when it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such model file (train one first: make train)")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise ExportError(f"{path}: cannot read the model: {exc.strerror or exc}") from exc
    # Keras reports an empty or non-zip .keras file as "File not found": say what it is.
    if path.suffix == ".keras" and head != b"PK\x03\x04":
        what = "an empty file" if not head else "not a zip archive"
        raise ExportError(f"{path}: not a Keras model file ({what}; a .keras file is a zip archive)")
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # zipfile, h5py, JSON and Keras errors alike
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{path}: cannot load the Keras model: {detail}") from exc


def describe_model(model) -> ModelInfo:
    """Check that ``model`` is a count-ones model as ``train.model.build_model`` makes it.

    Expected: input ``[batch, n_bits, 1]``, a recurrent layer named ``rnn`` (SimpleRNN, GRU or
    LSTM), output ``[batch, n_bits + 1]``. Raises ExportError naming every mismatch.
    """
    problems = []
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    n_bits = in_shape[1] if len(in_shape) == 3 and isinstance(in_shape[1], int) else None
    if n_bits is None or in_shape[0] is not None or in_shape[2] != 1:
        problems.append(f"input shape is {list(in_shape)}, expected [None, n_bits, 1]")
    if n_bits is not None and out_shape != (None, n_bits + 1):
        problems.append(f"output shape is {list(out_shape)}, expected [None, {n_bits + 1}]")
    try:
        recurrent = model.get_layer("rnn")
    except ValueError:
        recurrent = None
    cell = _CELL_OF_LAYER.get(type(recurrent).__name__) if recurrent is not None else None
    if cell is None:
        found = type(recurrent).__name__ if recurrent is not None else "none"
        problems.append(f"recurrent layer 'rnn' is {found}, expected SimpleRNN, GRU or LSTM")
    if problems:
        raise ExportError(f"{model.name}: not a count-ones model: " + "; ".join(problems))
    return ModelInfo(cell=cell, hidden_units=int(recurrent.units), n_bits=int(n_bits))


class KerasBackend(Backend):
    """Runs a loaded Keras model in TensorFlow, in batches of ``batch_size`` rows.

    ``path`` only names the model in messages and reports.
    """

    name = "keras"

    def __init__(self, model, path: str | os.PathLike = "<keras model>", batch_size: int = 4096):
        super().__init__(path)
        info = describe_model(model)
        self._model = model
        self.batch_size = batch_size
        self.n_bits, self.n_classes = info.n_bits, info.n_classes
        self.input_name = str(getattr(model.inputs[0], "name", "bits"))
        self.output_name = str(getattr(model.outputs[0], "name", "logits"))

    def _predict(self, inputs: np.ndarray) -> np.ndarray:
        logits = self._model.predict(inputs, batch_size=self.batch_size, verbose=0)
        return np.asarray(logits, dtype=np.float32)
