"""The operator graph inside a ``.tflite`` or ``.onnx`` file, read without TensorFlow or ``onnx``.

``read_graph(path, content)`` parses the file's own bytes (a TFLite flatbuffer, or an ONNX
``ModelProto`` in protobuf wire format) into one small description, ``Graph``: its
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
import struct

import numpy as np

from .errors import ModelError

__all__ = ["Op", "Graph", "WeightsError", "read_graph"]


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


_VIEWS_IN_ORDER = {"RESHAPE", "SQUEEZE", "Reshape", "Squeeze", "Flatten", "Identity", "Unsqueeze",
                   "EXPAND_DIMS"}
_VIEWS = _VIEWS_IN_ORDER | {"TRANSPOSE", "UNPACK", "SPLIT", "STRIDED_SLICE", "SLICE", "GATHER",
                            "Transpose", "Split", "Slice", "Gather"}
_SHAPES = {"SHAPE", "PACK", "Shape", "Concat", "CONCATENATION", "Cast"}


def _kind(name: str) -> str:
    if name in _VIEWS:
        return "view"
    if name in _SHAPES:
        return "shape"
    return {"ADD": "add", "Add": "add", "RELU": "relu", "Relu": "relu", "FILL": "fill",
            "Expand": "fill", "ConstantOfShape": "fill"}.get(name, "other")


def read_graph(path: str, content: bytes) -> Graph:
    """The graph of the model file at ``path`` whose bytes are ``content``."""
    try:
        if str(path).endswith(".onnx"):
            return _onnx_graph(memoryview(content))
        return _tflite_graph(bytes(content))
    except ModelError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except (IndexError, struct.error, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model's graph: damaged or not a "
                         f"{'ONNX' if str(path).endswith('.onnx') else 'TFLite'} file "
                         f"({type(exc).__name__}: {exc})") from exc


# ------------------------------------------------------------------------------ TFLite

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
               2: "CONCATENATION", 114: "QUANTIZE", 126: "BATCH_MATMUL", 18: "MUL"}
_TFLITE_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
                 7: np.int16, 9: np.int8}
_FUSED_RELU = 1


def _tflite_graph(buf: bytes) -> Graph:
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
        relu = options is not None and name in ("ADD", "FULLY_CONNECTED") \
            and options.scalar(0, "b") == _FUSED_RELU
        if name == "FULLY_CONNECTED" and inputs[1] in constants:
            bias = constants.get(inputs[2]) if len(inputs) > 2 else None
            ops.append(Op("linear", name, inputs[:1], outputs, relu,
                          weight=constants[inputs[1]].T, bias=bias))
        else:
            ops.append(Op(_kind(name), name, inputs, outputs, relu, order_kept=name in _VIEWS_IN_ORDER))
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


# -------------------------------------------------------------------------------- ONNX

def _varint(b, i: int):
    result = shift = 0
    while True:
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(b):
    """``(field number, wire type, value)`` of one protobuf message: an int for varints,
    a memoryview for length-delimited and fixed-width fields."""
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, i = b[i:i + width], i + width
        elif wire == 2:
            length, i = _varint(b, i)
            if i + length > n:
                raise ValueError("a field runs past the end of its message")
            value, i = b[i:i + length], i + length
        else:
            raise ValueError(f"wire type {wire} is not used by ONNX")
        yield number, wire, value


def _ints(wire: int, value) -> list[int]:
    if wire == 0:
        return [value]
    out, i = [], 0
    while i < len(value):
        v, i = _varint(value, i)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


# ONNX TensorProto data types this reader turns into arrays.
_ONNX_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 10: np.float16,
               11: np.float64}


def _onnx_tensor(b) -> tuple[str, np.ndarray]:
    dims, dtype, name, raw, floats, ints, external = [], None, "", None, [], [], False
    for number, wire, value in _fields(b):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            dtype = value
        elif number == 8:
            name = bytes(value).decode()
        elif number == 9:
            raw = bytes(value)
        elif number == 4:
            floats.append(bytes(value))
        elif number in (5, 7):
            ints += _ints(wire, value)
        elif number == 13 or (number == 14 and value == 1):
            external = True
    if external:
        raise WeightsError(f"tensor {name!r} is stored outside the file (external data), "
                         "which this reader refuses: the file alone must hold its weights")
    if dtype not in _ONNX_TYPES:
        raise WeightsError(f"tensor {name!r} has ONNX data type {dtype}, which this reader does not know")
    np_type = np.dtype(_ONNX_TYPES[dtype]).newbyteorder("<")
    count = int(np.prod(dims)) if dims else 1
    if raw is not None:
        array = np.frombuffer(raw, np_type, count=count)
    elif dtype == 1:
        array = np.frombuffer(b"".join(floats), np.dtype("<f4"), count=count)
    else:
        array = np.asarray(ints, np_type)[:count]
    return name, array.reshape(dims)


def _onnx_graph(b) -> Graph:
    graph = None
    for number, _, value in _fields(b):
        if number == 7:
            graph = value
    if graph is None:
        raise ModelError("no graph in the ONNX file")
    constants, ops, inputs, outputs = {}, [], [], []
    for number, _, value in _fields(graph):
        if number == 5:
            name, array = _onnx_tensor(value)
            constants[name] = array
        elif number == 1:
            ops.append(_onnx_node(value))
        elif number in (11, 12):
            name = next(bytes(v).decode() for f, _, v in _fields(value) if f == 1)
            (inputs if number == 11 else outputs).append(name)
    for op in ops:
        if op.name == "Constant" and op.weight is not None:
            constants[op.outputs[0]] = op.weight
    ops = [_onnx_linear(op, constants) for op in ops if op.name != "Constant"]
    inputs = [i for i in inputs if i not in constants]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1")
    return Graph(ops, constants, inputs[0], outputs[0], "onnx")


def _onnx_node(b) -> Op:
    inputs, outputs, op_type, attributes = [], [], "", {}
    for number, _, value in _fields(b):
        if number == 1:
            inputs.append(bytes(value).decode() or None)
        elif number == 2:
            outputs.append(bytes(value).decode())
        elif number == 4:
            op_type = bytes(value).decode()
        elif number == 5:
            attr = {f: v for f, _, v in _fields(value)}
            key = bytes(attr.get(1, b"")).decode()
            if 5 in attr:
                attributes[key] = _onnx_tensor(attr[5])[1]
            elif 2 in attr:
                attributes[key] = struct.unpack("<f", attr[2])[0]
            elif 3 in attr:
                attributes[key] = attr[3]
    op = Op(_kind(op_type), op_type, inputs, outputs, order_kept=op_type in _VIEWS_IN_ORDER)
    # A Constant's tensor, or the value ConstantOfShape fills with (zero when absent).
    if op_type == "Constant":
        op.weight = attributes.get("value")
    elif op_type == "ConstantOfShape":
        op.weight = attributes.get("value", np.zeros(1, np.float32))
    op.bias = attributes  # the attributes, until _onnx_linear reads them
    return op


def _onnx_linear(op: Op, constants: dict) -> Op:
    attributes, op.bias = op.bias, None
    if op.name == "MatMul" and len(op.inputs) == 2 and op.inputs[1] in constants \
            and op.inputs[0] not in constants:
        return Op("linear", op.name, op.inputs[:1], op.outputs, weight=constants[op.inputs[1]])
    if op.name == "Gemm" and op.inputs[1] in constants and not attributes.get("transA", 0) \
            and attributes.get("alpha", 1.0) == 1.0 and attributes.get("beta", 1.0) == 1.0:
        weight = constants[op.inputs[1]]
        bias = constants.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else None
        return Op("linear", op.name, op.inputs[:1], op.outputs,
                  weight=weight.T if attributes.get("transB", 0) else weight, bias=bias)
    if op.name == "MatMul" or op.name == "Gemm":
        return Op("other", op.name, op.inputs, op.outputs)
    return op
