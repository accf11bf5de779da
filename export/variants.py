"""The variant gate: a reduced-precision file is published only if it still counts exactly.

``python -m export --variants float16,int8,int8-static`` (or ``all``) adds, beside the
float32 files, the variants ``export.convert`` makes (its docstring says how each is
quantised). ``build_variants`` has each converted, checked (``export.structure``) and put
through the gate.

Every variant goes through the gate (``gate``): the parity check's inputs at every batch
size, counts agreeing 100% with Keras; the training stage's evaluation sets, every string
counted right; and the smallest top-2 logit gap on all of them at least ``min_gap``. Logit
differences are reported, not gated: reduced precision exceeds the float32 tolerance by
design. What failed is not published, and the report says why.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ExportError

__all__ = ["gate", "Gate", "build_variants"]

# The element type a variant's quantised weights are stored in.
_STORED_AS = {"float16": "float16", "int8": "int8", "int8-static": "int8"}


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

    from . import convert, structure

    n_bits = twin.input_shape[1]
    calibration = convert.calibration_bits(n_bits)
    parity_bits = np.concatenate(list(parity_sets.values()))
    reference_logits = reference.predict(parity_bits)
    sets = evaluation_sets(n_bits)
    outcomes: dict[str, dict] = {}
    for precision in precisions:
        for fmt in convert.FORMATS[precision]:
            t0 = time.perf_counter()
            name = convert.variant_file(precision, fmt)
            outcome = {"published": False, "file": name, "weights": [], "reasons": [], "gate": None}
            try:
                with quiet_native():
                    if fmt == "tflite":
                        data = convert.describe_tflite(
                            convert.to_tflite(twin, directory, precision, calibration),
                            describe(fmt, precision))
                        problems = structure.check_tflite(data, n_bits)
                        outcome["weights"] = structure.tflite_weights(data)
                    else:
                        proto = convert.describe_onnx(
                            convert.to_onnx_variant(float_onnx, precision, calibration),
                            describe(fmt, precision))
                        problems = structure.check_onnx(proto, n_bits)
                        outcome["weights"] = structure.onnx_weights(proto)
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
