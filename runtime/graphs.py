"""The operator graph inside a ``.tflite`` or ``.onnx`` file, read without TensorFlow or ``onnx``.

The readers (``runtime.tflite_graph`` for a TFLite flatbuffer, ``runtime.onnx_graph`` for an
ONNX ``ModelProto`` in protobuf wire format; ``runtime.weights.read_graph`` picks one) parse
a file's own bytes into one small description, ``Graph``: its
operators in a common vocabulary, its constant tensors as numpy arrays, its input and its
output. Only what ``runtime.weights`` needs is read; anything it cannot read raises
``ModelError`` naming the file.

The common vocabulary (``Op.kind``), each with the semantics the proof relies on:

- ``linear``: ``y = x @ weight (+ bias)`` with a constant ``weight [in, out]``. TFLite's
  ``FULLY_CONNECTED`` stores its weight as ``[out, in]`` and is transposed here; ONNX's
  ``MatMul`` with a constant right operand is taken as it is, ``Gemm`` with its ``transB``.
- ``add``: elementwise sum of the inputs; ``relu``: ``max(x, 0)``. TFLite fuses a ReLU into
  ``ADD`` and ``FULLY_CONNECTED`` (``Op.relu``).
- ``view``: moves or selects elements without arithmetic (reshape, transpose, split...);
  ``order_kept`` when it keeps the elements in their order (reshape, squeeze).
- ``fill``: a tensor of one constant value broadcast to a shape computed at run time.
- ``shape``: integer shape arithmetic; anything else is ``other`` under its own name.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import ModelError

__all__ = ["Op", "Graph", "WeightsError", "kind_of", "VIEWS_IN_ORDER"]


class WeightsError(ModelError):
    """The weights of a model file cannot be read or identified unambiguously."""


@dataclasses.dataclass
class Op:
    kind: str
    name: str  # the file's operator name (FULLY_CONNECTED, MatMul, ...)
    inputs: list  # tensor keys, None for an absent optional input
    outputs: list
    relu: bool = False
    weight: np.ndarray | None = None  # linear: [in, out]
    bias: np.ndarray | None = None
    order_kept: bool = False


@dataclasses.dataclass
class Graph:
    ops: list
    constants: dict  # tensor key -> numpy array
    input: object
    output: object
    format: str

    def producers(self) -> dict:
        return {out: op for op in self.ops for out in op.outputs}


VIEWS_IN_ORDER = {"RESHAPE", "SQUEEZE", "Reshape", "Squeeze", "Flatten", "Identity", "Unsqueeze",
                  "EXPAND_DIMS"}
_VIEWS = VIEWS_IN_ORDER | {"TRANSPOSE", "UNPACK", "SPLIT", "STRIDED_SLICE", "SLICE", "GATHER",
                           "Transpose", "Split", "Slice", "Gather"}
_SHAPES = {"SHAPE", "PACK", "Shape", "Concat", "CONCATENATION", "Cast"}


def kind_of(name: str) -> str:
    """The common vocabulary's word for an operator of either format."""
    if name in _VIEWS:
        return "view"
    if name in _SHAPES:
        return "shape"
    return {"ADD": "add", "Add": "add", "RELU": "relu", "Relu": "relu", "FILL": "fill",
            "Expand": "fill", "ConstantOfShape": "fill"}.get(name, "other")
