"""The manifest: its schema, and reading it (the runtime's and the export's one reader).

A model is a directory holding ``manifest.json`` (written by the export stage) and one
artifact per backend (``model.tflite``, ``model.onnx``). The manifest records what the
model computes (``task``, ``n_bits``, its input and output) and, for each artifact, its
file name, size and sha256. Where a model is looked for, and how its artifacts are
verified before they are opened, is ``runtime.loader``.

Beside the float32 artifacts a model may carry reduced-precision variants (``variants``:
``float16``, ``int8``, ``int8-static``; each published only if it still counts exactly), a
golden set (``golden``, for ``runtime.verify``) with its ONNX test data one folder down, and,
when proved, its folded files (``folded``: ``artifacts`` and ``variants`` again, each with the
proof of its own weights; see ``runtime.weights``); all are listed and checked like the
artifacts. ``Manifest.artifact(backend, precision, graph)`` finds one (saying what the model
has when it lacks it); ``Manifest.files()`` lists every file.

A model directory may be hostile: every file must be regular and of bounded size, the manifest
at most ``MAX_DEPTH`` deep, and values quoted in messages are shortened.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError, UsageError, show
from .files import as_path, read_regular, sha256
from .limits import MAX_DEPTH, MAX_MANIFEST_BYTES, depth_exceeds

__all__ = ["MANIFEST_NAME", "SCHEMA_VERSION", "TASK", "PRECISIONS", "DEFAULT_PRECISION",
           "GRAPHS", "check_precision", "check_graph", "Artifact", "Manifest", "read_manifest"]

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
TASK = "count-ones"
_REQUIRED = ("schema_version", "task", "n_bits", "n_classes", "input", "output", "artifacts")
#: Every precision an export can produce; float32 is the artifacts themselves, the default.
PRECISIONS = ("float32", "float16", "int8", "int8-static")
DEFAULT_PRECISION = "float32"
#: The two graphs a model's files may hold: the recurrent network itself, and its folded
#: form (one linear map of the 50 bits, exact only because the proof holds).
GRAPHS = ("recurrent", "folded")


def check_precision(precision: Any) -> str:
    """``precision`` if it is one of ``PRECISIONS``; UsageError otherwise (checked before any
    model is read, so a typo never costs a load)."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise UsageError(f"unknown precision {show(precision)}; expected one of: {', '.join(PRECISIONS)}")
    return precision


def check_graph(graph: Any, choices: tuple[str, ...] = ("auto", *GRAPHS)) -> str:
    """``graph`` if it is one of ``choices``; UsageError otherwise."""
    if not isinstance(graph, str) or graph not in choices:
        raise UsageError(f"unknown graph {show(graph)}; expected one of: {', '.join(choices)}")
    return graph


@dataclass(frozen=True)
class Artifact:
    """One exported model file, as the manifest describes it."""

    backend: str
    path: Path
    format: str
    sha256: str
    size_bytes: int
    converter: str | None = None
    opset: int | None = None
    precision: str = DEFAULT_PRECISION
    graph: str = "recurrent"
    #: The proof the export recorded for this file's own weights (folded files), or None.
    proof: dict | None = field(default=None, compare=False)

    @property
    def proved(self) -> bool:
        """Whether the manifest records this file's weights as proved exact."""
        return isinstance(self.proof, dict) and self.proof.get("proved") is True


@dataclass(frozen=True)
class Manifest:
    """A parsed and checked ``manifest.json``. ``data`` keeps the whole document.

    ``artifacts``: the float32 files by backend; ``variants``: precision -> backend ->
    file, for the reduced-precision ones; ``golden``: the golden set, or None;
    ``folded``: graph ``folded``'s files the same way, precision -> backend -> file
    (float32 among them), empty when the model has none.
    """

    path: Path
    n_bits: int
    n_classes: int
    artifacts: dict[str, Artifact]
    data: dict[str, Any] = field(repr=False, compare=False)
    variants: dict[str, dict[str, Artifact]] = field(default_factory=dict)
    golden: Artifact | None = None
    folded: dict[str, dict[str, Artifact]] = field(default_factory=dict)
    #: The sha256 of the bytes parsed, held against a signature's record (``runtime.signing``).
    sha256: str = field(default="", repr=False, compare=False)
    test_data: tuple[Artifact, ...] = ()  # the golden set in the ONNX test-data layout

    @property
    def directory(self) -> Path:
        return self.path.parent

    def files(self) -> list[Artifact]:
        """Every file the manifest lists (artifacts, variants, folded files, golden set, test data)."""
        listed = [a for by_backend in (self.artifacts, *self.variants.values(), *self.folded.values())
                  for a in by_backend.values()]
        return listed + ([self.golden] if self.golden else []) + list(self.test_data)

    def file_names(self) -> list[str]:
        """``files()`` as names relative to the model directory (``folder/name`` one down)."""
        return [a.path.relative_to(self.directory).as_posix() for a in self.files()]

    def precisions(self, graph: str = "recurrent") -> dict[str, list[str]]:
        """Every precision the model has in ``graph``, with the backends it has it for."""
        if graph == "folded":
            return {p: list(by_backend) for p, by_backend in self.folded.items() if by_backend}
        return {DEFAULT_PRECISION: list(self.artifacts),
                **{p: list(by_backend) for p, by_backend in self.variants.items()}}

    def graphs(self) -> list[str]:
        """The graphs the model has files of: ``recurrent``, and ``folded`` where published."""
        return [g for g in GRAPHS if self.precisions(g)]

    def describe(self) -> str:
        """What the model has: its recurrent files, then ``folded: ...`` where it has those."""
        return "; ".join(("folded: " if g == "folded" else "") + ", ".join(
            f"{p} ({', '.join(b)})" for p, b in self.precisions(g).items()) for g in self.graphs())

    def find(self, backend: str, precision: str = DEFAULT_PRECISION,
             graph: str = "recurrent") -> Artifact | None:
        """The file for ``backend`` at ``precision`` in ``graph``, or None."""
        if graph == "folded":
            return self.folded.get(precision, {}).get(backend)
        return (self.artifacts if precision == DEFAULT_PRECISION
                else self.variants.get(precision, {})).get(backend)

    def artifact(self, backend: str, precision: str = DEFAULT_PRECISION,
                 graph: str = "recurrent") -> Artifact:
        """The file for ``backend`` at ``precision`` in ``graph``: UsageError for an unknown
        precision or graph, ModelError naming what the model has when it lacks this one."""
        check_precision(precision)
        check_graph(graph, GRAPHS)
        found = self.find(backend, precision, graph)
        if found is None:
            kind = "folded " if graph == "folded" else ""
            raise ModelError(f"{self.path}: this model has no {kind}{precision} {backend} file; "
                             f"it has: {self.describe()}")
        return found


def _fail(path: Path, what: str) -> ModelError:
    return ModelError(f"{path}: bad manifest: {what}")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_tensor(path: Path, data: dict, key: str, name: str, shape: list) -> None:
    spec = data[key]
    if not isinstance(spec, dict):
        raise _fail(path, f"{show(key)} must be an object")
    for k in ("name", "shape", "dtype"):
        if k not in spec:
            raise _fail(path, f"{key}.{k} is missing")
    if spec["name"] != name:
        raise _fail(path, f"{key}.name is {show(spec['name'])}, expected {show(name)}")
    if spec["shape"] != shape:
        raise _fail(path, f"{key}.shape is {show(spec['shape'])}, expected {json.dumps(shape)}")
    if spec["dtype"] != "float32":
        raise _fail(path, f"{key}.dtype is {show(spec['dtype'])}, expected 'float32'")


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read and check a manifest. Raises ModelError for anything missing, unknown or inconsistent."""
    path = Path(as_path(path))
    raw = read_regular(path, "manifest", MAX_MANIFEST_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise ModelError(f"{path}: manifest is not valid JSON: {exc}") from exc
    except RecursionError:
        data = None
    if data is None or depth_exceeds(data, MAX_DEPTH):
        raise _fail(path, f"nested more than {MAX_DEPTH} deep")
    if not isinstance(data, dict):
        raise _fail(path, "expected a JSON object")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise _fail(path, f"missing keys: {', '.join(missing)}")
    if not _int(data["schema_version"]) or data["schema_version"] != SCHEMA_VERSION:
        raise _fail(path, f"schema_version {show(data['schema_version'])} is not supported "
                          f"(this runtime reads version {SCHEMA_VERSION})")
    if data["task"] != TASK:
        raise _fail(path, f"task is {show(data['task'])}, expected {show(TASK)}")
    n_bits, n_classes = data["n_bits"], data["n_classes"]
    if not _int(n_bits) or n_bits < 1:
        raise _fail(path, f"n_bits must be a positive integer, got {show(n_bits)}")
    if not _int(n_classes) or n_classes != n_bits + 1:
        raise _fail(path, f"n_classes must be n_bits + 1 = {n_bits + 1}, got {show(n_classes)}")
    _check_tensor(path, data, "input", "bits", [None, n_bits, 1])
    _check_tensor(path, data, "output", "logits", [None, n_classes])

    entries = data["artifacts"]
    if not isinstance(entries, dict) or not entries:
        raise _fail(path, "'artifacts' must be a non-empty object")
    artifacts = {backend: _entry(path, f"artifacts.{show(backend)[1:-1]}", backend, entry)
                 for backend, entry in entries.items()}
    variants = _variants(path, "variants", data.get("variants"))
    section = data.get("golden")
    golden = None if section is None else _entry(path, "golden", "golden", section)
    return Manifest(path, n_bits, n_classes, artifacts, data, variants, golden,
                    _folded(path, data.get("folded")), sha256(raw).hexdigest(),
                    _test_data(path, section.get("onnx_test_data")) if golden else ())


def _variants(path: Path, where: str, listed: Any, graph: str = "recurrent") -> dict:
    """``variants`` (or ``folded.variants``): precision -> backend -> Artifact, checked."""
    if listed is None:
        return {}
    if not isinstance(listed, dict):
        raise _fail(path, f"{show(where)} must be an object")
    variants = {}
    for precision, by_backend in listed.items():
        at = f"{where}.{show(precision)[1:-1]}"
        if precision not in PRECISIONS or precision == DEFAULT_PRECISION:
            raise _fail(path, f"{at}: unknown precision (expected one of "
                              f"{', '.join(PRECISIONS[1:])})")
        if not isinstance(by_backend, dict):
            raise _fail(path, f"{at} must be an object")
        variants[precision] = {backend: _entry(path, f"{at}.{show(backend)[1:-1]}", backend, entry,
                                               precision, graph)
                               for backend, entry in by_backend.items()}
    return variants


def _folded(path: Path, section: Any) -> dict:
    """The ``folded`` section: precision -> backend -> Artifact; empty when not published."""
    if section is None:
        return {}
    if not isinstance(section, dict) or not isinstance(section.get("published"), bool):
        raise _fail(path, "'folded' must be an object whose 'published' is true or false")
    if not section["published"]:
        return {}
    entries = section.get("artifacts")
    if not isinstance(entries, dict) or not entries:
        raise _fail(path, "folded.artifacts must be a non-empty object where 'published' is true")
    artifacts = {backend: _entry(path, f"folded.artifacts.{show(backend)[1:-1]}", backend, entry,
                                 graph="folded")
                 for backend, entry in entries.items()}
    return {DEFAULT_PRECISION: artifacts,
            **_variants(path, "folded.variants", section.get("variants"), "folded")}


def _test_data(path: Path, section: Any) -> tuple[Artifact, ...]:
    """``golden.onnx_test_data``: the golden set's files one folder down, checked."""
    files = [] if section is None else section.get("files") if isinstance(section, dict) else None
    if not isinstance(files, list) or not all(isinstance(e, dict) for e in files):
        raise _fail(path, "golden.onnx_test_data must be an object whose 'files' are objects")
    return tuple(_entry(path, f"golden.onnx_test_data.files[{i}]", "onnx test data",
                        {"format": "TensorProto", **e}, folder=True) for i, e in enumerate(files))


def _entry(path: Path, where: str, backend: str, entry: Any, precision: str = DEFAULT_PRECISION,
           graph: str = "recurrent", folder: bool = False) -> Artifact:
    """One file's entry (an artifact, a variant, the golden set; ``folder``: a test-data file), checked."""
    if not isinstance(entry, dict):
        raise _fail(path, f"{where} must be an object")
    lacking = [k for k in ("file", "format", "sha256", "size_bytes") if k not in entry]
    if lacking:
        raise _fail(path, f"{where} is missing {', '.join(lacking)}")
    file = entry["file"]
    # A plain file name beside the manifest (or in one folder there): never a path elsewhere.
    names = file.split("/") if isinstance(file, str) else [None]
    if len(names) != 1 + folder or any(not n or n in (".", "..") or "\\" in n or "\0" in n for n in names):
        raise _fail(path, f"{where}.file must be a file name beside the manifest"
                          f"{' in one folder' if folder else ''}, got {show(file)}")
    digest = entry["sha256"]
    if (not isinstance(digest, str) or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest.lower())):
        raise _fail(path, f"{where}.sha256 must be 64 hex digits, got {show(digest)}")
    size = entry["size_bytes"]
    if not _int(size) or size < 0:
        raise _fail(path, f"{where}.size_bytes must be a non-negative integer, got {show(size)}")
    opset = entry.get("opset")
    proof = entry.get("proof")
    if proof is not None and not isinstance(proof, dict):
        raise _fail(path, f"{where}.proof must be an object")
    return Artifact(backend=backend, path=path.parent / file, format=str(entry["format"]),
                    sha256=digest.lower(), size_bytes=size, converter=entry.get("converter"),
                    opset=opset if _int(opset) else None, precision=precision, graph=graph,
                    proof=proof)
