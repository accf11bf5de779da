"""Conversion of a Keras count-ones model to TFLite and ONNX, the variants' files included.

``to_tflite`` and ``to_onnx`` return the converted float32 model, ``to_tflite`` also its
reduced-precision variants and ``to_onnx_variant`` the ONNX ones (``VARIANTS``, ``FORMATS``;
which of them are published is the gate's, ``export.variants``); ``describe_tflite`` and
``describe_onnx`` embed a description, so a file that travels alone is still identifiable.
Whether a converted file keeps the structural rules is ``export.structure``.

How, and why:

- TFLite: the plain recurrent layers do not convert with a dynamic batch
  (``tf.TensorListReserve``), so the converter sees the ``unroll=True`` twin
  (``train.model.unrolled_twin``), saved as a SavedModel first: converting concrete
  functions directly kept the variables. Builtin operators only.
- ONNX: tf2onnx at opset ``ONNX_OPSET``, input ``bits`` and output ``logits`` with a
  dynamic batch, renamed by what it computes (``export.canonical``).
- Variants: ``float16`` (TFLite): float16 weights, dequantised to float32 when the model
  loads; ``int8`` (TFLite, ONNX): dynamic range, int8 weights and float activations
  quantised on the fly. The TFLite converter quantises only weight tensors of 1,024 elements
  or more, which here is the readout (51 x units, per output channel); the ONNX file
  quantises the same readout, per channel (``quantize_dynamic`` with ``nodes_to_quantize``):
  quantising the 50 recurrent products as well miscounts most strings, since each step's
  error is carried into every later one; ``int8-static`` (TFLite, ONNX): full integer,
  calibrated on ``CALIBRATION_PER_COUNT`` strings of every count 0..n_bits
  (``calibration_bits``; float input and output kept, so the runtime's API does not change):
  TFLite's full-integer conversion, and ONNX static QDQ.

Both are float32 at their input ``[batch, n_bits, 1]`` and output ``[batch, n_bits + 1]``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from runtime.manifest import DEFAULT_PRECISION, PRECISIONS
from train.data import stratified_bits

from .errors import ExportError, first_line

__all__ = ["ONNX_OPSET", "INPUT_NAME", "OUTPUT_NAME", "TFLITE_METADATA_NAME", "VARIANTS", "FORMATS",
           "to_tflite", "to_onnx", "to_onnx_variant", "variant_file", "calibration_bits",
           "describe_tflite", "describe_onnx", "tflite_converter_name", "onnx_converter_name"]

# 17 is the oldest opset we accept: onnxruntime has supported it since 1.12, so the legacy
# runtime (onnxruntime < 1.24) runs it too.
ONNX_OPSET = 17
INPUT_NAME = "bits"
OUTPUT_NAME = "logits"
# Name of the flatbuffer metadata entry that holds our JSON description.
TFLITE_METADATA_NAME = "parity_edge"
# The reduced precisions: every precision of the one list (the manifest schema's) but float32.
VARIANTS = tuple(p for p in PRECISIONS if p != DEFAULT_PRECISION)
FORMATS = {"float16": ("tflite",), "int8": ("tflite", "onnx"), "int8-static": ("tflite", "onnx")}
CALIBRATION_PER_COUNT = 20
_EXTENSION = {"tflite": "tflite", "onnx": "onnx"}


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
            raise ExportError(f"TFLite conversion failed: {first_line(exc)}") from exc


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


def describe_tflite(content: bytes, description: dict) -> bytes:
    """``content`` with ``description`` as JSON in the metadata entry ``TFLITE_METADATA_NAME``
    and a one-line summary as the model's description string."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

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
        raise ExportError(f"ONNX conversion failed: {first_line(exc)}") from exc
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


# -------------------------------------------------------------------------------- variants

def variant_file(precision: str, fmt: str) -> str:
    return f"model.{precision}.{_EXTENSION[fmt]}"


def calibration_bits(n_bits: int, seed: int = 8) -> np.ndarray:
    """Strings of every count 0..n_bits, ``CALIBRATION_PER_COUNT`` of each."""
    counts = np.repeat(np.arange(n_bits + 1), CALIBRATION_PER_COUNT)
    return stratified_bits(len(counts), np.random.default_rng(seed), n_bits, counts=counts)


def _readout_matmuls(proto, n_classes: int) -> list[str]:
    """The MatMul nodes whose weight is the readout (``[units, n_classes]``)."""
    from onnx import numpy_helper

    shapes = {t.name: numpy_helper.to_array(t).shape for t in proto.graph.initializer}
    return [node.name for node in proto.graph.node if node.op_type == "MatMul"
            and any(len(shapes.get(i, ())) == 2 and shapes[i][1] == n_classes for i in node.input)]


def to_onnx_variant(proto, precision: str, calibration: np.ndarray | None = None):
    """The float32 ONNX model ``proto`` quantised to ``precision`` (``int8`` or ``int8-static``)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    class Calibration(CalibrationDataReader):
        def __init__(self, bits):
            rows = np.asarray(bits, np.float32)[:, :, None]
            self.batches = iter([{INPUT_NAME: rows[i:i + 64]} for i in range(0, len(rows), 64)])

        def get_next(self):
            return next(self.batches, None)

    n_classes = proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    with tempfile.TemporaryDirectory(prefix="onnx-variant-") as work:
        source, target = Path(work) / "float32.onnx", Path(work) / f"{precision}.onnx"
        onnx.save(proto, source)
        try:
            if precision == "int8":
                quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True,
                                 nodes_to_quantize=_readout_matmuls(proto, n_classes))
            elif precision == "int8-static":
                quantize_static(source, target, Calibration(calibration), quant_format=QuantFormat.QDQ,
                                per_channel=True, weight_type=QuantType.QInt8,
                                activation_type=QuantType.QInt8)
            else:
                raise ExportError(f"no ONNX {precision} variant")
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"ONNX {precision} quantisation failed: {first_line(exc)}") from exc
        return onnx.load(target)
