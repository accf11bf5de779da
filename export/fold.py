"""The folded form: a proved Elman counter compiled to its affine map, ``logits = bits @ A + c``.

The proof (``runtime.proof``) shows that no ReLU of a proved model ever clips, so its logits
are exactly an affine map of the bits. ``python -m export`` then also publishes that map as
``model.folded.tflite`` and ``model.folded.onnx``: a Keras model with the same input
``[batch, n_bits, 1]`` and output ``[batch, n_bits + 1]``, a Reshape and one Dense layer
whose kernel and bias are the float32 ``A`` and ``c`` of the proof, converted by the same
converters (``export.convert``). One matrix product replaces ``n_bits`` recurrent steps.

Each folded file is published only with its own evidence:

- **its own proof**, on the float32 numbers read back from the file itself
  (``runtime.weights.prove_file``), not on the numbers the export meant to write;
- the parity check against the Keras model at every batch size the export checks, by the
  same rule as the other files;
- the golden set replayed through it: every count agrees and every row is within the
  tolerance;
- the soak, when one is asked for (``export.pipeline`` adds the files to it).

Refused, not fatal: a folded file that fails any of these is not published and the manifest
says why, as for the reduced-precision variants. The recurrent files stand on their own
evidence, and a folded form the export cannot vouch for is simply not offered. No folded
form at all for a GRU or LSTM (the proof covers the Elman cell), for ``--allow-inexact``
and for a model whose proof fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ExportError

__all__ = ["FOLDED_FILES", "refusal", "folded_map", "build_folded_model", "build_folded"]

FOLDED_FILES = {"tflite": "model.folded.tflite", "onnx": "model.folded.onnx"}


def refusal(cell: str, certificate: dict, allow_inexact: bool) -> str | None:
    """Why this model gets no folded form, or None when it does."""
    if cell != "rnn":
        return f"the folded form needs the Elman (SimpleRNN) cell, which the proof covers; this is {cell}"
    if allow_inexact:
        return "exported with --allow-inexact: the folded form is published only for a proved model"
    if not certificate.get("proved"):
        return f"the model is not proved exact ({certificate.get('reason') or 'no proof'})"
    return None


def folded_map(model) -> tuple[np.ndarray, np.ndarray]:
    """``(A, c)``, float32, of a proved Keras Elman model (ExportError if it is not linear)."""
    from runtime.proof import linear_form
    from train.certify import layer_weights

    weights = layer_weights(model)
    if isinstance(weights, str):
        raise ExportError(weights)
    form = linear_form(*weights)
    if isinstance(form, str):
        raise ExportError(f"the model is not linear in its bits: {form}")
    return form.folded()


def build_folded_model(gains: np.ndarray, base: np.ndarray):
    """A Keras model ``bits [batch, n_bits, 1] -> logits [batch, n_bits + 1]`` that is exactly
    ``bits @ gains + base`` (a Reshape, then a Dense layer holding them)."""
    import keras

    n_bits = gains.shape[0]
    inputs = keras.Input((n_bits, 1), name="bits", dtype="float32")
    flat = keras.layers.Reshape((n_bits,), name="flat")(inputs)
    dense = keras.layers.Dense(n_bits + 1, name="logits")
    model = keras.Model(inputs, dense(flat), name=f"count_ones_folded{n_bits}")
    dense.set_weights([np.asarray(gains, np.float32), np.asarray(base, np.float32)])
    return model


def _convert(fmt: str, folded, directory: Path, description: dict, quiet_native) -> tuple[bytes, list[str], object]:
    """The converted file's bytes, the rules it breaks, and its ONNX proto (None for TFLite)."""
    from . import convert, structure

    n_bits = folded.input_shape[1]
    with quiet_native():
        if fmt == "tflite":
            data = convert.describe_tflite(convert.to_tflite(folded, directory), description)
            return data, structure.check_tflite(data, n_bits), None
        proto = convert.describe_onnx(convert.to_onnx(folded), description)
        return proto.SerializeToString(), structure.check_onnx(proto, n_bits), proto


def _golden_figures(backend, bits: np.ndarray, reference_logits: np.ndarray, atol: float,
                    rtol: float) -> dict:
    from .comparison import measure

    figures = measure(backend.predict(bits), reference_logits, atol, rtol)
    return {"n": int(len(bits)), "count_agreement": figures["count_agreement"],
            "max_abs_diff": figures["max_abs_diff"], "tolerance_used": figures["tolerance_used"]}


def _check_against_reference(by_format: dict, loaders: dict, reference, sets: dict,
                             batch_sizes) -> None:
    """The parity check and the golden set, for each folded file that ``loaders`` opens;
    figures and reasons go into ``by_format``."""
    from .golden import golden_bits
    from .parity import check_parity

    result = check_parity(reference, {f"{fmt} folded": load for fmt, load in loaders.items()},
                          sets, batch_sizes)
    golden = golden_bits(reference.n_bits)
    golden_reference = reference.predict(golden)
    for comparison in result.comparisons:
        if not comparison.gating:
            continue
        fmt = comparison.name.split()[0]
        outcome = by_format[fmt]
        outcome["parity"] = {k: getattr(comparison, k) for k in (
            "passed", "max_abs_diff", "max_scaled_diff", "tolerance_used", "count_agreement",
            "count_accuracy")}
        outcome["parity"]["sequences_per_s"] = {
            str(size): figures.get("sequences_per_s") for size, figures in comparison.by_batch_size.items()}
        if not comparison.passed:
            outcome["reasons"].append(comparison.error or comparison.line())
            continue
        golden_figures = _golden_figures(loaders[fmt](), golden, golden_reference,
                                         comparison.atol, comparison.rtol)
        outcome["golden"] = golden_figures
        if golden_figures["count_agreement"] < 1.0 or golden_figures["tolerance_used"] > 1.0:
            outcome["reasons"].append(f"the golden set disagrees: {golden_figures}")


def build_folded(model, cell: str, certificate: dict, allow_inexact: bool, directory: Path,
                 describe: Callable[[str], dict], reference, sets: dict, batch_sizes,
                 log: Callable[[str], None], quiet_native, variants=(),
                 variant_min_gap: float = 0.25) -> dict:
    """Build, prove and check the folded files into ``directory``; see the module docstring.

    Returns ``{"published": bool, "reason": str | None, "files": {format: name},
    "by_format": {format: {"proof", "weights_match", "parity", "golden", "reasons"}},
    "variants": {precision: {format: outcome}}, "variant_files": {precision: {format: name}},
    "seconds"}``. Files that are not published are removed from ``directory``. With ``int8``
    among ``variants``, the folded int8 files go through the variant gate
    (``export.variants``): their activations are quantised at run time, which the proof
    does not cover, so the gate's measured figures decide.
    """
    from runtime.backends import open_backend
    from runtime.errors import ParityEdgeError
    from runtime.weights import FoldedWeights, prove_file

    from .publish import write_file

    started = time.perf_counter()
    reason = refusal(cell, certificate, allow_inexact)
    if reason:
        log(f"export: folded: none: {reason}")
        return {"published": False, "reason": reason, "files": {}, "by_format": {},
                "variants": {}, "variant_files": {}}
    gains, base = folded_map(model)
    folded = build_folded_model(gains, base)
    by_format, loaders, protos = {}, {}, {}
    for fmt, name in FOLDED_FILES.items():
        outcome = by_format[fmt] = {"proof": None, "weights_match": None, "parity": None,
                                    "golden": None, "reasons": []}
        path = directory / name
        try:
            data, problems, protos[fmt] = _convert(fmt, folded, directory, describe(fmt), quiet_native)
        except ExportError as exc:
            data, problems = b"", [str(exc)]
        outcome["reasons"] += problems
        if problems:
            continue
        write_file(path, data)
        try:
            proof = prove_file(path)
        except ParityEdgeError as exc:
            outcome["reasons"].append(f"its weights cannot be read back: {exc}")
            continue
        outcome["proof"] = proof.certificate.to_dict()
        if not isinstance(proof.weights, FoldedWeights):
            outcome["reasons"].append("the file read back is not a folded map")
            continue
        outcome["weights_match"] = bool(np.array_equal(proof.weights.gains, gains)
                                        and np.array_equal(proof.weights.base, base))
        if not proof:
            outcome["reasons"].append(f"its own proof fails: {proof.certificate.reason}")
        loaders[fmt] = functools.partial(open_backend, fmt, path)

    if loaders:
        _check_against_reference(by_format, loaders, reference, sets, batch_sizes)

    published = all(not outcome["reasons"] for outcome in by_format.values())
    reasons = [f"{fmt}: {r}" for fmt, outcome in by_format.items() for r in outcome["reasons"]]
    if not published:
        for name in FOLDED_FILES.values():
            (directory / name).unlink(missing_ok=True)
    seconds = round(time.perf_counter() - started, 2)
    if published:
        proofs = {fmt: outcome["proof"] for fmt, outcome in by_format.items()}
        log(f"export: folded: proved from each file (smallest top-2 gap "
            + ", ".join(f"{fmt} {p['margin']:.3f}" for fmt, p in proofs.items())
            + f"), parity and golden set passed; {seconds:.1f} s")
    else:
        log(f"export: folded: REFUSED: {'; '.join(reasons[:3])}")
    gated = {}
    if published and "int8" in variants:
        gated = _int8_variants(folded, protos.get("onnx"), directory, describe, reference, sets,
                               batch_sizes, variant_min_gap, log, quiet_native)
    return {"published": published, "reason": None if published else "; ".join(reasons),
            "files": dict(FOLDED_FILES) if published else {}, "by_format": by_format,
            "variants": gated,
            "variant_files": {p: {fmt: o["file"] for fmt, o in by_format.items() if o["published"]}
                              for p, by_format in gated.items()},
            "seconds": round(time.perf_counter() - started, 2)}


def _int8_variants(folded, proto, directory: Path, describe: Callable[[str], dict], reference,
                   sets: dict, batch_sizes, min_gap: float, log: Callable[[str], None],
                   quiet_native) -> dict:
    """The folded model's int8 files through the variant gate, published ones renamed
    ``model.folded.int8.*``; ``{"int8": {format: outcome}}`` as ``build_variants`` gives."""
    from .variants import build_variants

    work = directory / ".folded-variants"
    work.mkdir()
    try:
        outcomes = build_variants(("int8",), folded, proto, work,
                                  lambda fmt, precision: {**describe(fmt), "precision": precision},
                                  reference, sets, batch_sizes, min_gap,
                                  lambda line: log(line.replace("export: ", "export: folded ", 1)),
                                  quiet_native)
        for precision, by_format in outcomes.items():
            for fmt, outcome in by_format.items():
                name = f"model.folded.{precision}.{fmt}"
                if outcome["published"]:
                    os.replace(work / outcome["file"], directory / name)
                outcome["file"] = name
        return outcomes
    finally:
        shutil.rmtree(work, ignore_errors=True)

