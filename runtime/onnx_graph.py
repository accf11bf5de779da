"""An ONNX file's graph (``runtime.graphs``), read from its bytes without the ``onnx`` package.

A small reader of protobuf's wire format (varints, length-delimited and fixed-width
fields) takes from the ``ModelProto`` only what the graph needs: the graph's nodes (op
type, inputs, outputs, the attributes ``value``, ``transA``, ``transB``, ``alpha``,
``beta``), its initializers (``dims``, ``data_type``, ``raw_data`` or ``float_data``) and
its input and output names. Weights stored outside the file (external data) are refused:
what is proved must be what the file holds.
"""

from __future__ import annotations

import struct

import numpy as np

from .errors import ModelError
from .graphs import VIEWS_IN_ORDER, Graph, Op, WeightsError, kind_of

__all__ = ["onnx_graph", "external_tensors"]


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


def onnx_graph(b) -> Graph:
    """The graph of the ONNX ``ModelProto`` whose bytes are ``b``."""
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
    op = Op(kind_of(op_type), op_type, inputs, outputs, order_kept=op_type in VIEWS_IN_ORDER)
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


# Where TensorProtos sit in an ONNX file, by message: field number -> the message it holds.
# ``external_tensors`` walks all of them, so no tensor escapes by sitting in a subgraph, a
# function, a sparse tensor or an attribute.
_MODEL, _GRAPH, _NODE, _ATTRIBUTE, _FUNCTION, _SPARSE, _TENSOR = range(7)
_HOLDS = {
    _MODEL: {7: _GRAPH, 25: _FUNCTION},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTRIBUTE},
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _FUNCTION: {7: _NODE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
}
# Deeper nesting than any real model has; the bound keeps a crafted file from recursing
# without end.
_MAX_NESTING = 64


def external_tensors(b) -> list[str]:
    """The names of the tensors of the ONNX ``ModelProto`` ``b`` whose data is stored outside
    the file (``external_data`` entries, or ``data_location`` EXTERNAL), wherever they sit.

    onnxruntime, given a model's bytes, resolves such a location against the current
    directory: bytes nobody checked would compute. Raises ModelError when ``b`` is not a
    protobuf message this reader can walk.
    """
    found: list[str] = []
    try:
        _walk(memoryview(b), _MODEL, 0, found)
    except (ValueError, IndexError) as exc:
        raise ModelError(f"not a readable ONNX file: {exc}") from None
    return found


def _walk(b, kind: int, depth: int, found: list[str]) -> None:
    if depth > _MAX_NESTING:
        raise ValueError(f"nested more than {_MAX_NESTING} deep")
    if kind == _TENSOR:
        name, external = "", False
        for number, wire, value in _fields(b):
            if number == 8 and wire == 2:
                name = bytes(value).decode("utf-8", "replace")
            elif number == 13 or (number == 14 and wire == 0 and value != 0):
                external = True
        if external:
            found.append(name)
        return
    holds = _HOLDS[kind]
    for number, wire, value in _fields(b):
        if number in holds and wire == 2:
            _walk(value, holds[number], depth + 1, found)
