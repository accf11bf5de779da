"""Reduced-precision variants of the artifacts, published only if they still count exactly.

``python -m export --variants float16,int8,int8-static`` (or ``all``) adds, beside the
float32 files:

- ``float16`` (TFLite): float16 weights, dequantised to float32 when the model loads;
- ``int8`` (TFLite, ONNX): dynamic range, int8 weights and float activations quantised
  on the fly. The TFLite converter quantises only weight tensors of 1,024 elements or more,
  which here is the readout (51 x units, per output channel); the ONNX file quantises the
  same readout, per channel (``quantize_dynamic`` with ``nodes_to_quantize``): quantising
  the 50 recurrent products as well miscounts most strings, since each step's error is
  carried into every later one;
- ``int8-static`` (TFLite, ONNX): full integer, calibrated on 20 strings of every count
  0..n_bits (float input and output kept, so the runtime's API does not change): TFLite's
  full-integer conversion, and ONNX static QDQ.

Every variant goes through the gate (``gate``): the parity check's inputs at every batch
size, counts agreeing 100% with Keras; the training stage's evaluation sets, every string
counted right; and the smallest top-2 logit gap on all of them at least ``min_gap``. Logit
differences are reported, not gated: reduced precision exceeds the float32 tolerance by
design. What failed is not published, and the report says why.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from runtime.manifest import DEFAULT_PRECISION, PRECISIONS
from train.data import stratified_bits

from .errors import ExportError

__all__ = ["VARIANTS", "FORMATS", "variant_file", "calibration_bits", "to_onnx_variant",
           "tflite_weights", "onnx_weights", "gate", "Gate"]

# The reduced precisions: every precision of the one list (the manifest schema's) but float32.
VARIANTS = tuple(p for p in PRECISIONS if p != DEFAULT_PRECISION)
FORMATS = {"float16": ("tflite",), "int8": ("tflite", "onnx"), "int8-static": ("tflite", "onnx")}
CALIBRATION_PER_COUNT = 20
_EXTENSION = {"tflite": "tflite", "onnx": "onnx"}
# The element type a variant's quantised weights are stored in.
_STORED_AS = {"float16": "float16", "int8": "int8", "int8-static": "int8"}


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
            self.batches = iter([{"bits": rows[i:i + 64]} for i in range(0, len(rows), 64)])

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
            raise ExportError(f"ONNX {precision} quantisation failed: {type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
        return onnx.load(target)


def tflite_weights(content: bytes) -> list[str]:
    """The constant tensors of a TFLite file with their element types: what was quantised."""
    from tensorflow.lite.python import schema_py_generated as schema

    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
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


def onnx_weights(proto) -> list[str]:
    """The weight initializers of an ONNX model with their element types."""
    import onnx

    found = []
    for tensor in proto.graph.initializer:
        if int(np.prod(tensor.dims or [1])) > 1 and tensor.data_type != onnx.TensorProto.INT64:
            found.append(f"{onnx.TensorProto.DataType.Name(tensor.data_type).lower()} {list(tensor.dims)}")
    return sorted(found)


@dataclasses.dataclass
class Gate:
    """A variant's figures against the reference. True when it may be published."""

    passed: bool
    reasons: list[str]
    count_agreement: float
    max_abs_diff: float
    sets: dict  # name -> {"n", "errors", "min_margin"}
    min_margin: float
    seconds: float

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _logits_in_batches(predict: Callable, bits: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([predict(bits[i:i + batch_size]) for i in range(0, len(bits), batch_size)]
                          or [np.zeros((0, bits.shape[1] + 1), np.float32)])


def gate(backend, parity_bits: np.ndarray, reference_logits: np.ndarray, batch_sizes,
         evaluation_sets: dict, min_gap: float) -> Gate:
    """Run the variant ``backend`` (a runtime backend) through the gate; see the module docstring."""
    started = time.perf_counter()
    reasons = []
    reference_counts = reference_logits.argmax(axis=1)
    agreement, max_diff, short = 1.0, 0.0, []
    for batch_size in batch_sizes:
        logits = _logits_in_batches(backend.predict, parity_bits, batch_size)
        agree = float((logits.argmax(axis=1) == reference_counts).mean()) if len(logits) else 1.0
        agreement = min(agreement, agree)
        max_diff = max(max_diff, float(np.abs(logits - reference_logits).max()) if len(logits) else 0.0)
        if agree < 1.0:
            short.append(batch_size)
    if short:
        reasons.append(f"counts agree with Keras on {agreement:.4%} of the {len(parity_bits):,} "
                       f"parity inputs (batch sizes {', '.join(map(str, short))})")
    sets = {}
    for name, (bits, counts) in evaluation_sets.items():
        logits = _logits_in_batches(backend.predict, bits, 65_536)
        top = np.partition(logits, -2, axis=1)[:, -2:]
        gaps = top[:, 1] - top[:, 0]
        errors = int((logits.argmax(axis=1) != counts).sum())
        sets[name] = {"n": int(len(bits)), "errors": errors,
                      "min_margin": float(gaps.min()) if len(gaps) else None}
        if errors:
            reasons.append(f"{errors} miscounts in {len(bits):,} strings of the {name} evaluation set")
    margins = [s["min_margin"] for s in sets.values() if s["min_margin"] is not None]
    smallest = min(margins) if margins else float("inf")
    if not reasons and smallest < min_gap:
        reasons.append(f"smallest top-2 logit gap {smallest:.3f}, under the {min_gap} required")
    return Gate(not reasons, reasons, agreement, max_diff, sets, smallest,
                round(time.perf_counter() - started, 2))



def build_variants(precisions, twin, float_onnx, directory: Path, describe: Callable[[str, str], dict],
                   reference, parity_sets: dict, batch_sizes, min_gap: float,
                   log: Callable[[str], None], quiet_native) -> dict:
    """Convert, check and gate every requested variant into ``directory``.

    Returns ``{precision: {format: outcome}}``; an outcome holds ``published``, ``file``,
    ``weights`` (the constant tensors and their types), ``reasons`` (why it is not
    published) and ``gate`` (its figures). Files that fail are removed from ``directory``.
    """
    from runtime.backends import open_backend
    from train.evaluate import evaluation_sets

    from . import convert

    n_bits = twin.input_shape[1]
    calibration = calibration_bits(n_bits)
    parity_bits = np.concatenate(list(parity_sets.values()))
    reference_logits = reference.predict(parity_bits)
    sets = evaluation_sets(n_bits)
    outcomes: dict[str, dict] = {}
    for precision in precisions:
        for fmt in FORMATS[precision]:
            t0 = time.perf_counter()
            name = variant_file(precision, fmt)
            outcome = {"published": False, "file": name, "weights": [], "reasons": [], "gate": None}
            try:
                with quiet_native():
                    if fmt == "tflite":
                        data = convert.describe_tflite(
                            convert.to_tflite(twin, directory, precision, calibration),
                            describe(fmt, precision))
                        problems = convert.check_tflite(data, n_bits)
                        outcome["weights"] = tflite_weights(data)
                    else:
                        proto = convert.describe_onnx(to_onnx_variant(float_onnx, precision, calibration),
                                                      describe(fmt, precision))
                        problems = convert.check_onnx(proto, n_bits)
                        outcome["weights"] = onnx_weights(proto)
                        data = proto.SerializeToString()
            except ExportError as exc:
                problems = [str(exc)]
            stored = _STORED_AS[precision]
            if not problems and not any(w.startswith(stored) for w in outcome["weights"]):
                problems = [f"no weight was stored as {precision}: {', '.join(outcome['weights'])}"]
            outcome["reasons"] = problems
            if not problems:
                path = directory / name
                path.write_bytes(data)
                try:
                    checked = gate(open_backend(fmt, path), parity_bits, reference_logits,
                                   batch_sizes, sets, min_gap)
                    outcome["gate"] = checked.to_dict()
                    outcome["reasons"] = checked.reasons
                except Exception as exc:  # a variant the runtime cannot run is refused, not fatal
                    outcome["reasons"] = [f"the runtime cannot run it: {exc}"]
                outcome["published"] = not outcome["reasons"]
                if not outcome["published"]:
                    path.unlink()
            outcome["seconds"] = round(time.perf_counter() - t0, 2)
            outcomes.setdefault(precision, {})[fmt] = outcome
            verdict = ("published" if outcome["published"]
                       else "REFUSED: " + "; ".join(outcome["reasons"][:3]))
            margin = outcome["gate"]["min_margin"] if outcome["gate"] else None
            log(f"export: {fmt} {precision}: {verdict}"
                + (f"; smallest top-2 gap {margin:.3f}" if margin is not None else "")
                + f"; {outcome['seconds']:.1f} s")
    return outcomes
