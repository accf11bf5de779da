"""The export stage from end to end: ``run_export(config)``.

1. Load the trained model and check it is a count-ones model.
2. Convert it, into a staging directory: TFLite from the unrolled twin, ONNX from the graph
   form the settings name (by default the faster one for the cell: ``ONNX_GRAPH_FOR_CELL``). Check each file's structure (operators, names, shapes, opset,
   checker) and embed a description in it.
3. Run the parity check: the Keras model against each file, loaded through the runtime's own
   backends (which proves the file runs without TensorFlow).
4. For a proved Elman model, the folded form (``export.fold``): the proof's affine map
   ``logits = bits @ A + c`` as ``model.folded.tflite`` and ``model.folded.onnx``, each proved
   again on the numbers read back from the file, parity-checked and replayed on the golden
   set; refused (not published, the manifest says why) if any of that fails.
5. With ``soak``: count that many fresh strings through each file with the runtime
   (``export.soak``); one miscount fails the export.
6. Only when everything passed: write the golden set (``export.golden``: inputs and the
   Keras logits, for ``runtime.verify`` on the device), ``parity_report.json`` and
   ``manifest.json``, and move
   the files into place, manifest last. Otherwise publish nothing, and write the report as
   ``parity_report.failed.json`` (atomically) so the reasons can be read.

Before any of it, the model must be exact by its own training report (``exact: true``,
for this very file), unless ``allow_inexact``: ``python -m train`` writes an inexact model
for inspection, and ``make train export`` must not ship it. The proof (``train.certify``)
is run again on the model, and the manifest records it with the rest of the evidence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from .config import ExportConfig
from .errors import ExportError
from .fold import build_folded
from .golden import GOLDEN_NAME, golden_entry
from .onnx_test_data import TEST_DATA_DIR
from .provenance import provenance
from .publish import Staging, replace_atomically, write_file, write_json
from .signing import SIGNATURE_NAME, sign_directory
from .variants import build_variants

__all__ = ["run_export", "ExportOutcome", "ARTIFACT_FILES", "REPORT_NAME", "FAILED_REPORT_NAME"]

ARTIFACT_FILES = {"tflite": "model.tflite", "onnx": "model.onnx"}
REPORT_NAME = "parity_report.json"
# Where a failed run leaves its report: beside the previous, still valid, artifacts.
FAILED_REPORT_NAME = "parity_report.failed.json"
TRAIN_REPORT_NAME = "train_report.json"


@dataclasses.dataclass
class ExportOutcome:
    """What ``run_export`` did. True when the artifacts were published."""

    passed: bool
    parity: object  # comparison.ParityResult
    report_path: Path
    published: list[Path]
    manifest: dict | None
    seconds: dict[str, float]
    soak: dict | None = None  # format -> export.soak figures, when a soak ran

    def __bool__(self) -> bool:
        return self.passed


@contextlib.contextmanager
def _native_stderr_captured(enabled: bool):
    """Send file descriptor 2 to a temporary file for the block.

    TensorFlow's C++ side and the TFLite converter print pages of logs there that Python's
    logging settings do not reach. The text is replayed when the block ends with an
    unexpected exception, so a bug still shows its context; otherwise it is dropped.
    """
    if not enabled:
        yield
        return
    from runtime.stderr import stderr_to

    with tempfile.TemporaryFile() as sink, stderr_to(sink.fileno()) as saved:
        try:
            yield
        except (ExportError, KeyboardInterrupt):
            raise
        except BaseException:
            if saved is not None:
                sink.seek(0)
                os.write(saved, sink.read()[-20_000:])
            raise


def _failing_loader(message: str) -> Callable:
    def load():
        raise ExportError(message)
    return load


def run_export(config: ExportConfig, log: Callable[[str], None] = print,
               quiet: bool = True) -> ExportOutcome:
    """Convert, check and (only if everything passed) publish; see the module docstring.

    Raises ExportError for a missing or unusable model or training report. A conversion that
    fails, a converted file that breaks a rule, or a failed parity check is not raised: the
    outcome is false and nothing is published. ``log`` receives progress lines; ``quiet``
    hides TensorFlow's native logging.
    """
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    model_path = config.model_path
    if not model_path.is_file():
        raise ExportError(f"{model_path}: no such model file (train one first: make train)")
    if config.out.exists() and not config.out.is_dir():
        raise ExportError(f"{config.out}: exists and is not a directory")

    from . import evidence, manifest

    report_path = model_path.parent / TRAIN_REPORT_NAME
    training = evidence.read_training_report(report_path)
    source = {"file": model_path.name, "sha256": manifest.sha256_of(model_path),
              "size_bytes": model_path.stat().st_size}
    evidence.check_exact(training, model_path, source["sha256"], config.allow_inexact)

    with _native_stderr_captured(quiet):
        from train.certify import certify
        from train.model import unrolled_twin

        from runtime.backends import open_backend

        from . import convert, structure
        from .keras_backend import KerasBackend, describe_model, load_keras_model
        from .parity import check_parity, parity_inputs
        from .soak import soak_files

        model = load_keras_model(model_path)
        info = describe_model(model)
    certificate = certify(model).to_dict()
    seconds["load"] = time.perf_counter() - started
    log(f"export: {model_path}: {info.cell}, {info.hidden_units} units, {info.n_bits} bits")

    graphs = {"tflite": "unrolled", "onnx": config.onnx_graph_for(info.cell)}
    converters = {"tflite": convert.tflite_converter_name(), "onnx": convert.onnx_converter_name()}
    opsets = {"tflite": None, "onnx": convert.ONNX_OPSET}

    with Staging(config.out) as staging:
        twin = unrolled_twin(model)
        problems: dict[str, list[str]] = {}
        loops: dict[str, list[str]] = {}
        protos = {}
        for fmt in ARTIFACT_FILES:
            t0 = time.perf_counter()
            graph_model = twin if graphs[fmt] == "unrolled" else model
            description = {**manifest.describe(info, converters[fmt], graphs[fmt]),
                           "source_sha256": source["sha256"]}
            try:
                with _native_stderr_captured(quiet):
                    if fmt == "tflite":
                        data = convert.describe_tflite(convert.to_tflite(graph_model, staging.path),
                                                       description)
                        problems[fmt] = structure.check_tflite(data, info.n_bits)
                        loops[fmt] = structure.recurrent_ops(structure.tflite_ops(data))
                    else:
                        proto = convert.describe_onnx(convert.to_onnx(graph_model), description)
                        protos[fmt] = proto
                        problems[fmt] = structure.check_onnx(proto, info.n_bits)
                        loops[fmt] = structure.recurrent_ops(structure.onnx_ops(proto))
                        data = proto.SerializeToString()
            except ExportError as exc:
                problems[fmt] = [str(exc)]
            if not problems[fmt]:
                write_file(staging.path / ARTIFACT_FILES[fmt], data)
            seconds[fmt] = time.perf_counter() - t0
            form = graphs[fmt] + (f" ({', '.join(loops[fmt])})" if loops.get(fmt) else "")
            log(f"export: {fmt}: {'converted' if not problems[fmt] else 'FAILED'}, "
                f"{form} graph, {seconds[fmt]:.1f} s")

        t0 = time.perf_counter()
        sets = parity_inputs(info.n_bits, config.seed, config.n_random, config.per_count)
        candidates = {
            fmt: (_failing_loader("; ".join(problems[fmt])) if problems[fmt]
                  else functools.partial(open_backend, fmt, staging.path / ARTIFACT_FILES[fmt]))
            for fmt in ARTIFACT_FILES}
        with _native_stderr_captured(quiet):
            reference = KerasBackend(model, path=str(model_path))
            result = check_parity(reference, candidates, sets, config.batch_sizes)
        seconds["parity"] = time.perf_counter() - t0

        variants = {}
        if result and config.variants:
            t0 = time.perf_counter()

            def describe_variant(fmt: str, precision: str) -> dict:
                return {**manifest.describe(info, converters[fmt], graphs[fmt]),
                        "source_sha256": source["sha256"], "precision": precision}

            variants = build_variants(config.variants, twin, protos.get("onnx"), staging.path,
                                      describe_variant, reference, sets, config.batch_sizes,
                                      config.variant_min_gap, log,
                                      functools.partial(_native_stderr_captured, quiet))
            seconds["variants"] = time.perf_counter() - t0
        folded = {"published": False, "reason": "the parity check of the recurrent files failed",
                  "files": {}, "by_format": {}, "variants": {}, "variant_files": {}}
        if result:
            t0 = time.perf_counter()
            folded = build_folded(
                model, info.cell, certificate, config.allow_inexact, staging.path,
                lambda fmt: {**manifest.describe(info, converters[fmt], "folded"),
                             "source_sha256": source["sha256"]},
                reference, sets, config.batch_sizes, log,
                functools.partial(_native_stderr_captured, quiet), config.variants,
                config.variant_min_gap)
            seconds["folded"] = time.perf_counter() - t0
        published_variants = {(precision, fmt): outcome["file"]
                              for precision, by_format in variants.items()
                              for fmt, outcome in by_format.items() if outcome["published"]}

        soaked = None
        if result and config.soak:
            t0 = time.perf_counter()
            files = {fmt: (fmt, staging.path / name) for fmt, name in ARTIFACT_FILES.items()}
            files.update({f"{fmt} {precision}": (fmt, staging.path / name)
                          for (precision, fmt), name in published_variants.items()})
            files.update({f"{fmt} folded": (fmt, staging.path / name)
                          for fmt, name in folded["files"].items()})
            files.update({f"{fmt} folded {precision}": (fmt, staging.path / name)
                          for precision, by_format in folded["variant_files"].items()
                          for fmt, name in by_format.items()})
            soaked = soak_files(files, config.soak, config.soak_seed, log)
            seconds["soak"] = time.perf_counter() - t0
        passed = bool(result) and not any(r["errors"] for r in (soaked or {}).values())

        parity = result.to_dict()
        report = {"passed": passed, "parity_passed": parity.pop("passed"), "model": str(model_path),
                  "source": source, "settings": config.to_dict(), "cell": info.cell,
                  "hidden_units": info.hidden_units, "n_bits": info.n_bits,
                  "certificate": certificate, "soak": soaked, "variants": variants,
                  "folded": folded, **parity}
        if not passed:
            failed_path = config.out / FAILED_REPORT_NAME
            replace_atomically(failed_path, report)
            seconds["total"] = time.perf_counter() - started
            return ExportOutcome(False, result, failed_path, [], None, _rounded(seconds), soaked)

        artifacts = {fmt: manifest.artifact_entry(staging.path / name, fmt, converters[fmt],
                                                  opsets[fmt], graph=graphs[fmt],
                                                  recurrent_ops=loops[fmt])
                     for fmt, name in ARTIFACT_FILES.items()}
        variant_entries = manifest.variant_entries(staging.path, variants, converters, opsets, graphs)
        golden = golden_entry(reference, info.n_bits, staging.path, result)
        write_json(staging.path / REPORT_NAME, report)
        seconds["total"] = time.perf_counter() - started
        exact = evidence.exactness(training, certificate, soaked, config.allow_inexact, info.n_bits)
        document = manifest.build_manifest(info, artifacts, result.summary(REPORT_NAME), training,
                                           config.to_dict(), source, _rounded(seconds), exact, golden,
                                           variant_entries,
                                           manifest.folded_entries(staging.path, folded, converters,
                                                                   opsets))
        document["provenance"] = provenance(training)
        write_json(staging.path / manifest.MANIFEST_NAME, document)
        names = [*ARTIFACT_FILES.values(), *published_variants.values(), *folded["files"].values(),
                 *(name for by_format in folded["variant_files"].values() for name in by_format.values()),
                 GOLDEN_NAME, TEST_DATA_DIR, REPORT_NAME]
        signed = ([sign_directory(staging.path, [*names, manifest.MANIFEST_NAME], config.sign_key)]
                  if config.sign_key else [])
        published = staging.commit([*names, *signed], last=manifest.MANIFEST_NAME)
        if not signed:  # a signature of the previous files would only ever refuse these
            with contextlib.suppress(FileNotFoundError):
                (config.out / SIGNATURE_NAME).unlink()
    with contextlib.suppress(FileNotFoundError):
        (config.out / FAILED_REPORT_NAME).unlink()  # stale: the artifacts now pass
    seconds["total"] = time.perf_counter() - started
    return ExportOutcome(True, result, config.out / REPORT_NAME, published, document,
                         _rounded(seconds), soaked)


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in seconds.items()}
