"""A TFLite flatbuffer's graph (``runtime.graphs``), read from its bytes with ``struct``.

Only the tables and fields of TFLite's ``schema.fbs`` that the graph needs are read: the
model's operator codes, subgraphs and buffers; each tensor's shape, type, buffer and each
operator's code, inputs, outputs and fused activation. A flatbuffer table is found through
its vtable; an absent field takes its default.
"""

from __future__ import annotations

import struct

import numpy as np

from .errors import ModelError
from .graphs import VIEWS_IN_ORDER, Graph, Op, WeightsError, kind_of

__all__ = ["tflite_graph"]


class _Table:
    """One flatbuffer table: ``field(i)`` is the position of field ``i``, or None if absent."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vsize = struct.unpack_from("<H", buf, self.vtable)[0]

    def field(self, i: int):
        at = 4 + 2 * i
        if at >= self.vsize:
            return None
        off = struct.unpack_from("<H", self.buf, self.vtable + at)[0]
        return self.pos + off if off else None

    def scalar(self, i: int, fmt: str, default=0):
        at = self.field(i)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _target(self, i: int):
        at = self.field(i)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, i: int):
        at = self._target(i)
        return None if at is None else _Table(self.buf, at)

    def vector(self, i: int, fmt: str | None = None):
        """A vector of scalars (``fmt``), or of tables when ``fmt`` is None."""
        at = self._target(i)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        if fmt is not None:
            return list(struct.unpack_from(f"<{n}{fmt}", self.buf, at + 4))
        return [_Table(self.buf, at + 4 + 4 * k + struct.unpack_from("<I", self.buf, at + 4 + 4 * k)[0])
                for k in range(n)]

    def bytes(self, i: int) -> bytes:
        at = self._target(i)
        if at is None:
            return b""
        n = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4:at + 4 + n]


# TFLite's BuiltinOperator numbers and TensorType numbers (schema.fbs) that matter here.
_TFLITE_OPS = {0: "ADD", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 19: "RELU", 22: "RESHAPE", 34: "PAD",
               36: "GATHER", 39: "TRANSPOSE", 43: "SQUEEZE", 45: "STRIDED_SLICE", 49: "SPLIT",
               65: "SLICE", 70: "EXPAND_DIMS", 77: "SHAPE", 83: "PACK", 88: "UNPACK", 94: "FILL",
               2: "CONCATENATION", 114: "QUANTIZE", 126: "BATCH_MATMUL", 18: "MUL", 14: "LOGISTIC",
               28: "TANH", 21: "RELU6"}
_TFLITE_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
                 7: np.int16, 9: np.int8}
_FUSED_RELU = 1  # ActivationFunctionType.RELU; NONE is 0
_FUSING = ("ADD", "FULLY_CONNECTED")


def tflite_graph(buf: bytes) -> Graph:
    """The graph of the TFLite flatbuffer ``buf``."""
    model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    if buf[4:8] != b"TFL3":
        raise ModelError("not a TFLite flatbuffer (no TFL3 identifier)")
    buffers = model.vector(4)
    codes = []
    for code in model.vector(1):
        builtin = max(code.scalar(0, "b"), code.scalar(3, "i"))
        codes.append(_TFLITE_OPS.get(builtin, f"BUILTIN_{builtin}"))
    graphs = model.vector(2)
    if len(graphs) != 1:
        raise ModelError(f"{len(graphs)} subgraphs, expected 1")
    graph = graphs[0]
    tensors = graph.vector(0)
    constants = {}
    for index, tensor in enumerate(tensors):
        shape = tensor.vector(0, "i")
        data = _tflite_buffer(buf, buffers[tensor.scalar(2, "I")]) if tensor.field(2) is not None else b""
        if data:
            dtype = _TFLITE_TYPES.get(tensor.scalar(1, "b"))
            if dtype is None:
                raise WeightsError(f"tensor {index} has a type this reader does not know")
            constants[index] = np.frombuffer(data, np.dtype(dtype).newbyteorder("<"),
                                             count=int(np.prod(shape))).reshape(shape)
    ops = []
    for op in graph.vector(3):
        name = codes[op.scalar(0, "I")]
        inputs = [None if i < 0 else i for i in op.vector(1, "i")]
        outputs = op.vector(2, "i")
        options = op.table(4)
        # Field 0 of ADD's and FULLY_CONNECTED's options: the activation fused into them.
        activation = options.scalar(0, "b") if options is not None and name in _FUSING else 0
        if activation not in (0, _FUSED_RELU):
            ops.append(Op("other", f"{name} with fused activation {activation}", inputs, outputs))
            continue
        relu = activation == _FUSED_RELU
        if name == "FULLY_CONNECTED" and inputs[1] in constants:
            bias = constants.get(inputs[2]) if len(inputs) > 2 else None
            ops.append(Op("linear", name, inputs[:1], outputs, relu,
                          weight=constants[inputs[1]].T, bias=bias))
        else:
            ops.append(Op(kind_of(name), name, inputs, outputs, relu, order_kept=name in VIEWS_IN_ORDER))
    (inp,), (out,) = graph.vector(1, "i"), graph.vector(2, "i")
    return Graph(ops, constants, inp, out, "tflite")


def _tflite_buffer(buf: bytes, buffer: _Table) -> bytes:
    data = buffer.bytes(0)
    if data:
        return data
    offset, size = buffer.scalar(1, "Q"), buffer.scalar(2, "Q")
    if offset > 1 and size:  # a buffer stored after the flatbuffer (files over 2 GiB)
        if offset + size > len(buf):
            raise ModelError("a weight buffer lies beyond the end of the file")
        return buf[offset:offset + size]
    return b""
