"""A converted file read back: its operators and weights, and the structural checks.

``check_tflite`` and ``check_onnx`` list every way a converted model breaks the rules below
(names first, then shapes, then the rest), so one run reports all of them; ``tflite_ops``,
``onnx_ops`` and ``recurrent_ops`` say which operators it holds, ``tflite_weights`` and
``onnx_weights`` its constant tensors with their element types (what a variant quantised).

The rules, and why:

- TFLite: builtin operators only. Flex (Select-TF) and custom operators need a runtime we do
  not ship; resource variables (``VAR_HANDLE``, ``READ_VARIABLE``) gave NaN outputs.
- ONNX: opset ``ONNX_OPSET``, input ``bits`` and output ``logits`` with a dynamic batch,
  weights inside the file, and ``onnx.checker.check_model(full_check=True)`` passes.

Both are float32 with input ``[batch, n_bits, 1]`` and output ``[batch, n_bits + 1]``.
"""

from __future__ import annotations

import numpy as np

from .convert import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME
from .errors import first_line

__all__ = ["tflite_ops", "onnx_ops", "recurrent_ops", "check_tflite", "check_onnx",
           "tflite_weights", "onnx_weights"]

# TFLite operators that mean variables stayed in the graph.
_VARIABLE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}
# Tensor types that only variables and TensorFlow's tensor lists use.
_VARIABLE_TYPES = {"RESOURCE", "VARIANT"}


# ---------------------------------------------------------------------------------- TFLite

def _tflite_schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _builtin_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _tensor_types(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def tflite_ops(content: bytes) -> list[str]:
    """Operator names of a TFLite flatbuffer: builtin names (``FULLY_CONNECTED``), and for
    custom operators their custom code (``FlexTensorListReserve`` for a Flex op).

    Read from the flatbuffer itself, so it works on files an interpreter would refuse.
    """
    schema = _tflite_schema()
    names = _builtin_names(schema)
    model = schema.Model.GetRootAsModel(content, 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes below 127 live in the deprecated int8 field; take the larger of the two.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.append((code.CustomCode() or b"?").decode("utf-8", "replace"))
        else:
            ops.append(names.get(builtin, f"BUILTIN_{builtin}"))
    return ops


def check_tflite(content: bytes, n_bits: int) -> list[str]:
    """Every way ``content`` breaks the TFLite rules; an empty list when it keeps them all."""
    schema = _tflite_schema()
    names = _builtin_names(schema)
    try:
        model = schema.Model.GetRootAsModel(content, 0)
        ops = tflite_ops(content)
    except Exception as exc:
        return [f"not a readable TFLite flatbuffer: {first_line(exc)}"]
    problems = []
    # Names: one signature, bits -> logits.
    signatures = []
    for s in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(s)
        signatures.append(([sig.Inputs(i).Name().decode() for i in range(sig.InputsLength())],
                           [sig.Outputs(i).Name().decode() for i in range(sig.OutputsLength())]))
    if signatures != [([INPUT_NAME], [OUTPUT_NAME])]:
        problems.append(f"signatures are {signatures}, expected one: [{INPUT_NAME!r}] -> [{OUTPUT_NAME!r}]")
    # Shapes: [batch, n_bits, 1] -> [batch, n_bits + 1], batch dynamic (-1), float32.
    graph = model.Subgraphs(0)
    types = _tensor_types(schema)
    for role, count, index_of, want in (
            ("input", graph.InputsLength(), graph.Inputs, [-1, n_bits, 1]),
            ("output", graph.OutputsLength(), graph.Outputs, [-1, n_bits + 1])):
        if count != 1:
            problems.append(f"graph has {count} {role}s, expected 1")
            continue
        tensor = graph.Tensors(index_of(0))
        signature = (tensor.ShapeSignatureAsNumpy().tolist() if tensor.ShapeSignatureLength()
                     else tensor.ShapeAsNumpy().tolist())
        if signature != want:
            problems.append(f"{role} shape is {signature}, expected {want} (-1: dynamic batch)")
        if types.get(tensor.Type()) != "FLOAT32":
            problems.append(f"{role} type is {types.get(tensor.Type())}, expected FLOAT32")
    # Operators: builtin only, no variables.
    builtin = set(names.values())
    flex = sorted({op for op in ops if op.startswith("Flex")})
    custom = sorted({op for op in ops if op not in builtin and not op.startswith("Flex")})
    variables = sorted({op for op in ops if op in _VARIABLE_OPS})
    if flex:
        problems.append("Flex (Select-TF) operators, which need TensorFlow on the device: " + ", ".join(flex))
    if custom:
        problems.append("custom operators: " + ", ".join(custom))
    if variables:
        problems.append("resource-variable operators: " + ", ".join(variables))
    tensor_types = set()
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        tensor_types |= {types.get(sub.Tensors(t).Type()) for t in range(sub.TensorsLength())}
    if tensor_types & _VARIABLE_TYPES:
        problems.append("tensors of type " + ", ".join(sorted(tensor_types & _VARIABLE_TYPES))
                        + " (variables or tensor lists left in the graph)")
    return problems


def tflite_weights(content: bytes) -> list[str]:
    """The constant tensors of a TFLite file with their element types: what was quantised."""
    schema = _tflite_schema()
    types = _tensor_types(schema)
    model = schema.Model.GetRootAsModel(content, 0)
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
        if model.Buffers(tensor.Buffer()).DataLength() and np.prod(shape or [1]) > 1 \
                and types[tensor.Type()] != "INT32":
            found.append(f"{types[tensor.Type()].lower()} {shape}")
    return sorted(found)


# ------------------------------------------------------------------------------------ ONNX

# Operators that carry a recurrence instead of spelling out every step.
_RECURRENT_OPS = {"Loop", "Scan", "RNN", "GRU", "LSTM", "WHILE", "UNIDIRECTIONAL_SEQUENCE_RNN",
                  "UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM"}


def recurrent_ops(ops) -> list[str]:
    """The operators among ``ops`` that loop over the steps (none in an unrolled graph)."""
    return sorted(set(ops) & _RECURRENT_OPS)


def onnx_ops(proto) -> list[str]:
    """Operator types of an ONNX model's main graph."""
    return [node.op_type for node in proto.graph.node]


def check_onnx(proto, n_bits: int, opset: int = ONNX_OPSET) -> list[str]:
    """Every way ``proto`` breaks the ONNX rules; an empty list when it keeps them all."""
    import onnx

    problems = []
    graph = proto.graph
    # Names.
    inputs = [v.name for v in graph.input if v.name not in {t.name for t in graph.initializer}]
    outputs = [v.name for v in graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        problems.append(f"inputs {inputs} and outputs {outputs}, expected [{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]")
    # Shapes and types.
    for value, want in ((graph.input[0] if graph.input else None, [None, n_bits, 1]),
                        (graph.output[0] if graph.output else None, [None, n_bits + 1])):
        if value is None:
            continue
        tensor = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if shape != want:
            problems.append(f"{value.name} shape is {shape}, expected {want} (None: dynamic batch)")
        if tensor.elem_type != onnx.TensorProto.FLOAT:
            problems.append(f"{value.name} type is {onnx.TensorProto.DataType.Name(tensor.elem_type)}, expected FLOAT")
    # Opset, weights inside, checker.
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    if opsets.get("ai.onnx") != opset:
        problems.append(f"opset is {opsets.get('ai.onnx')}, expected {opset}")
    # The runtime's own reader: a tensor anywhere (subgraph, function, sparse tensor) with
    # external_data entries or an EXTERNAL location, the rule the runtime refuses by.
    from runtime.onnx_graph import external_tensors

    external = external_tensors(proto.SerializeToString())
    if external:
        problems.append("weights stored outside the file: " + ", ".join(external[:5]))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        problems.append(f"onnx.checker (full_check) refuses the model: {first_line(exc)}")
    return problems


def onnx_weights(proto) -> list[str]:
    """The weight initializers of an ONNX model with their element types."""
    import onnx

    found = []
    for tensor in proto.graph.initializer:
        if int(np.prod(tensor.dims or [1])) > 1 and tensor.data_type != onnx.TensorProto.INT64:
            found.append(f"{onnx.TensorProto.DataType.Name(tensor.data_type).lower()} {list(tensor.dims)}")
    return sorted(found)
