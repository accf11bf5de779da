"""Conversion of a Keras count-ones model to TFLite and ONNX, and the structural checks.

``to_tflite`` and ``to_onnx`` return the converted model; ``check_tflite`` and ``check_onnx``
list every way a converted model breaks the rules below (names first, then shapes, then the
rest), so one run reports all of them; ``describe_tflite`` and ``describe_onnx`` embed a
description, so a file that travels alone is still identifiable.

The rules, and why:

- TFLite: builtin operators only. Flex (Select-TF) and custom operators need a runtime we do
  not ship; resource variables (``VAR_HANDLE``, ``READ_VARIABLE``) gave NaN outputs. The
  plain recurrent layers do not convert with a dynamic batch (``tf.TensorListReserve``), so
  the converter sees the ``unroll=True`` twin (``train.model.unrolled_twin``), saved as a
  SavedModel first: converting concrete functions directly kept the variables.
- ONNX: opset ``ONNX_OPSET``, input ``bits`` and output ``logits`` with a dynamic batch,
  weights inside the file, and ``onnx.checker.check_model(full_check=True)`` passes.

Both are float32 with input ``[batch, n_bits, 1]`` and output ``[batch, n_bits + 1]``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile

from .errors import ExportError

__all__ = ["ONNX_OPSET", "INPUT_NAME", "OUTPUT_NAME", "TFLITE_METADATA_NAME", "to_tflite",
           "to_onnx", "tflite_ops", "onnx_ops", "recurrent_ops", "check_tflite", "check_onnx", "describe_tflite",
           "describe_onnx", "tflite_converter_name", "onnx_converter_name"]

# 17 is the oldest opset we accept: onnxruntime has supported it since 1.12, so the legacy
# runtime (onnxruntime < 1.24) runs it too.
ONNX_OPSET = 17
INPUT_NAME = "bits"
OUTPUT_NAME = "logits"
# Name of the flatbuffer metadata entry that holds our JSON description.
TFLITE_METADATA_NAME = "parity_edge"

# TFLite operators that mean variables stayed in the graph.
_VARIABLE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}
# Tensor types that only variables and TensorFlow's tensor lists use.
_VARIABLE_TYPES = {"RESOURCE", "VARIANT"}


def tflite_converter_name() -> str:
    import tensorflow as tf

    return f"tensorflow.lite.TFLiteConverter {tf.__version__}"


def onnx_converter_name() -> str:
    import tf2onnx

    return f"tf2onnx {tf2onnx.__version__}"


def _input_spec(n_bits: int):
    import tensorflow as tf

    return tf.TensorSpec([None, n_bits, 1], tf.float32, name=INPUT_NAME)


# ---------------------------------------------------------------------------------- TFLite

def to_tflite(model, workdir: str | os.PathLike | None = None, precision: str = "float32",
              calibration=None) -> bytes:
    """Convert ``model`` (give it the unrolled twin) to a TFLite flatbuffer with builtin ops only.

    The model goes through a SavedModel in a temporary directory under ``workdir``, with one
    signature ``serving_default(bits) -> {logits}``. ``precision``: ``float32`` as trained;
    ``float16`` weights; ``int8`` dynamic range (int8 weights, float activations quantised
    on the fly); ``int8-static`` full integer, calibrated on ``calibration`` (bits), with
    float input and output. Raises ExportError when the converter refuses, naming the
    TensorFlow operators it could not express as builtins.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    n_bits = model.input_shape[1]
    with tempfile.TemporaryDirectory(prefix="saved_model-", dir=workdir) as saved:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name="serving_default",
                             fn=lambda bits: {OUTPUT_NAME: model(bits, training=False)},
                             input_signature=[_input_spec(n_bits)])
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.optimizations = []  # float32 as trained: no quantisation
        if precision != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif precision == "int8-static":
            rows = np.asarray(calibration, np.float32)[:, :, None]
            converter.representative_dataset = lambda: ([rows[i:i + 1]] for i in range(len(rows)))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            return bytes(converter.convert())
        except Exception as exc:
            ops = _ops_named_in(exc)
            if ops:
                raise ExportError(
                    "TFLite conversion needs operators outside the builtin set: " + ", ".join(ops)
                    + " (Flex/Select-TF or custom ops, which the runtime cannot run); "
                    "convert the unroll=True twin of the model") from exc
            raise ExportError(f"TFLite conversion failed: {_first_line(exc)}") from exc


def _ops_named_in(exc: Exception) -> list[str]:
    """The TensorFlow operators a ConverterError complains about, e.g. ``tf.TensorListReserve``."""
    names = []
    for error in getattr(exc, "errors", None) or []:
        name = getattr(getattr(error, "operator", None), "name", "")
        if name:
            names.append(name)
    names += re.findall(r"'(tf\.\w+)'", str(exc))
    # tf.Const is where MLIR pins errors without a better location; it is never the cause.
    return sorted(set(n for n in names if n.startswith("tf.") and n != "tf.Const"))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return f"{type(exc).__name__}: {line.strip()}"
    return type(exc).__name__


def _tflite_schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _builtin_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


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
        return [f"not a readable TFLite flatbuffer: {_first_line(exc)}"]
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
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
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


def describe_tflite(content: bytes, description: dict) -> bytes:
    """``content`` with ``description`` as JSON in the metadata entry ``TFLITE_METADATA_NAME``
    and a one-line summary as the model's description string."""
    schema = _tflite_schema()
    from tensorflow.lite.tools import flatbuffer_utils

    import numpy as np

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(description, sort_keys=True).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = TFLITE_METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != TFLITE_METADATA_NAME.encode()]
    model.metadata.append(entry)
    model.description = _summary(description)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _summary(description: dict) -> str:
    return (f"parity-edge {description.get('task')} model: {description.get('cell')} "
            f"{description.get('hidden_units')} units, {description.get('n_bits')} bits in, "
            f"{description.get('n_classes')} logits out")


# ------------------------------------------------------------------------------------ ONNX

def to_onnx(model, opset: int = ONNX_OPSET):
    """Convert ``model`` to an ``onnx.ModelProto`` with tf2onnx: input ``bits``, output
    ``logits``, batch dimension named ``batch``.

    Pass the unrolled twin for a graph without ``Loop``, the trained model for one with it.
    Raises ExportError when tf2onnx fails.
    """
    import tensorflow as tf
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = (_input_spec(model.input_shape[1]),)

    @tf.function(input_signature=spec)
    def serve(bits):
        return {OUTPUT_NAME: model(bits, training=False)}

    try:
        proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    except Exception as exc:
        raise ExportError(f"ONNX conversion failed: {_first_line(exc)}") from exc
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"  # tf2onnx names it unk__N
    from .canonical import canonicalize

    return canonicalize(proto)  # the same bytes from every process (export.canonical)


def describe_onnx(proto, description: dict):
    """Put ``description`` into ``proto``'s ``metadata_props`` (strings) and doc string."""
    del proto.metadata_props[:]
    for key, value in sorted(description.items()):
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    proto.doc_string = _summary(description)
    return proto


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
        problems.append(f"onnx.checker (full_check) refuses the model: {_first_line(exc)}")
    return problems
