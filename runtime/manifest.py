"""Finding a model, reading its manifest, and trusting its artifacts.

A model is a directory holding ``manifest.json`` (written by the export stage) and one
artifact per backend (``model.tflite``, ``model.onnx``). The manifest records what the
model computes (``task``, ``n_bits``, its input and output) and, for each artifact, its
file name, size and sha256.

Where a model is looked for (``find_manifest``), first match wins:

1. the ``model`` argument (``--model``): an artifact directory or its ``manifest.json``;
2. ``./artifacts`` when it holds a ``manifest.json``;
3. the default model shipped inside this package (``runtime/model/``).

Before an artifact is opened its size and sha256 are checked against the manifest, and
after it is opened its input and output are checked against the manifest's
(``open_artifact``): a damaged, replaced or mismatched model is refused with a
ModelError, never run. Checksums are the only reliable guard: damaged ``.tflite`` files
can load and give wrong numbers, or crash the process while loading. An artifact is read
once: the bytes checked are the bytes opened.

A model directory may be hostile: the manifest and each artifact must be regular files
of bounded size (``runtime.files``), the manifest at most ``MAX_DEPTH`` deep, and values
quoted in messages are shortened.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError, UsageError, show
from .files import read_regular
from .limits import MAX_ARTIFACT_BYTES, MAX_MANIFEST_BYTES

__all__ = [
    "MANIFEST_NAME", "SCHEMA_VERSION", "TASK", "DEFAULT_MODEL_DIR", "LOCAL_MODEL_DIR",
    "Artifact", "Manifest", "find_manifest", "read_manifest", "verify_artifact", "open_artifact",
]

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
TASK = "count-ones"
#: The model shipped with the package, so the runtime works out of the box when embedded.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"
#: Where ``make export`` writes a freshly exported model, relative to the working directory.
LOCAL_MODEL_DIR = Path("artifacts")

_REQUIRED = ("schema_version", "task", "n_bits", "n_classes", "input", "output", "artifacts")


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


@dataclass(frozen=True)
class Manifest:
    """A parsed and checked ``manifest.json``. ``data`` keeps the whole document."""

    path: Path
    n_bits: int
    n_classes: int
    artifacts: dict[str, Artifact]
    data: dict[str, Any] = field(repr=False, compare=False)

    @property
    def directory(self) -> Path:
        return self.path.parent


def find_manifest(model: str | bytes | os.PathLike | None = None) -> Path:
    """The path of the manifest to use; see the module docstring for the search order.

    Raises UsageError when ``model`` is not a path (or is empty), ModelError when there is
    no model there or its directory cannot be searched.
    """
    if model is not None:
        path = Path(_as_path(model))
        if _exists(path, model, stat.S_ISDIR):
            path = path / MANIFEST_NAME
        elif path.suffix in (".tflite", ".onnx"):
            raise ModelError(f"{os.fsdecode(model)}: pass the artifact directory or its {MANIFEST_NAME}, "
                             "not a model file: the manifest is what vouches for it")
        if not _exists(path, model, stat.S_ISREG):
            raise ModelError(f"{os.fsdecode(model)}: no model there (expected an artifact directory "
                             f"holding {MANIFEST_NAME}, or the manifest itself)")
        return path
    local = LOCAL_MODEL_DIR / MANIFEST_NAME
    if _exists(local, local, stat.S_ISREG):
        return local
    shipped = DEFAULT_MODEL_DIR / MANIFEST_NAME
    if _exists(shipped, shipped, stat.S_ISREG):
        return shipped
    raise ModelError(f"no model found: pass a model directory, or put one in ./{LOCAL_MODEL_DIR}; "
                     f"the default model ({shipped}) is missing from this installation")


def _as_path(model: Any) -> str:
    """``model`` as a str path; UsageError for anything that is not a non-empty path."""
    try:
        path = os.fsdecode(model)  # str, bytes or os.PathLike
    except TypeError:
        raise UsageError(f"model must be a path (str, bytes or os.PathLike) or None, "
                         f"got {type(model).__name__}") from None
    if not path:
        raise UsageError("model must be a path, got an empty one (None means the default model)")
    return path


def _exists(path: Path, given: Any, kind) -> bool:
    """Whether ``path`` is of ``kind`` (``stat.S_ISDIR``, ``S_ISREG``); False when it does not
    exist. A path that cannot be looked at (too long, a directory that cannot be entered) is
    a ModelError, not an answer."""
    try:
        return kind(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise ModelError(f"{os.fsdecode(given)}: cannot look for a model there: "
                         f"{exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL in the path
        raise UsageError(f"model {os.fsdecode(given)!r} is not a usable path: {exc}") from None


def _fail(path: Path, what: str) -> ModelError:
    return ModelError(f"{path}: bad manifest: {what}")


#: JSON nesting deeper than this is refused: the manifest's own schema is 4 deep, and code
#: that walks ``Manifest.data`` recursively must never run out of stack.
MAX_DEPTH = 32


def _depth_exceeds(data: Any, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


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
    path = Path(_as_path(path))
    raw = read_regular(path, "manifest", MAX_MANIFEST_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise ModelError(f"{path}: manifest is not valid JSON: {exc}") from exc
    except RecursionError:
        data = None
    if data is None or _depth_exceeds(data, MAX_DEPTH):
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
    artifacts = {}
    for backend, entry in entries.items():
        where = f"artifacts.{show(backend)[1:-1]}"
        if not isinstance(entry, dict):
            raise _fail(path, f"{where} must be an object")
        lacking = [k for k in ("file", "format", "sha256", "size_bytes") if k not in entry]
        if lacking:
            raise _fail(path, f"{where} is missing {', '.join(lacking)}")
        file = entry["file"]
        # A plain file name beside the manifest: never a path that leads elsewhere.
        if (not isinstance(file, str) or not file or file in (".", "..")
                or "/" in file or "\\" in file or "\0" in file):
            raise _fail(path, f"{where}.file must be a file name beside the manifest, got {show(file)}")
        digest = entry["sha256"]
        if (not isinstance(digest, str) or len(digest) != 64
                or any(c not in "0123456789abcdef" for c in digest.lower())):
            raise _fail(path, f"{where}.sha256 must be 64 hex digits, got {show(digest)}")
        size = entry["size_bytes"]
        if not _int(size) or size < 0:
            raise _fail(path, f"{where}.size_bytes must be a non-negative integer, got {show(size)}")
        opset = entry.get("opset")
        artifacts[backend] = Artifact(
            backend=backend, path=path.parent / file, format=str(entry["format"]),
            sha256=digest.lower(), size_bytes=size, converter=entry.get("converter"),
            opset=opset if _int(opset) else None)
    return Manifest(path=path, n_bits=n_bits, n_classes=n_classes, artifacts=artifacts, data=data)


def _sha256(data: bytes):
    """A sha256 hash of ``data``, by CPython's built-in implementation when it has one.

    ``import hashlib`` loads OpenSSL first, about 3 ms of a command-line cold start of
    ~0.1 s, to hash one file of some 50 KB; the result is the same.
    """
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.11 and before
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def verify_artifact(manifest: Manifest, backend: str) -> Artifact:
    """Check that the backend's artifact exists and matches its recorded size and sha256."""
    return _read_verified(manifest, backend)[0]


def _read_verified(manifest: Manifest, backend: str) -> tuple[Artifact, bytes]:
    """The backend's artifact and its content, checked against the manifest.

    The content is read once, and the bytes that were checked are the ones the backend
    opens: a file replaced between the check and the load cannot slip through.
    """
    if not isinstance(backend, str):
        raise UsageError(f"backend must be a backend name, got {show(backend)}")
    artifact = manifest.artifacts.get(backend)
    if artifact is None:
        raise ModelError(f"{manifest.path}: no {backend} artifact in this model "
                         f"(it has: {', '.join(manifest.artifacts)})")
    content = read_regular(artifact.path, "artifact", MAX_ARTIFACT_BYTES, size=artifact.size_bytes)
    digest = _sha256(content).hexdigest()
    if digest != artifact.sha256:
        raise ModelError(f"{artifact.path}: sha256 is {digest[:16]}..., the manifest says "
                         f"{artifact.sha256[:16]}...: damaged or replaced artifact, refusing it")
    return artifact, content


def open_artifact(manifest: Manifest, backend: str, **options: Any):
    """Verify the backend's artifact, open it, and check it against the manifest.

    Returns a ``runtime.backends.Backend``. Raises ModelError for a damaged or mismatched
    artifact, BackendUnavailableError when the backend's package is missing.
    """
    from .backends import open_backend

    artifact, content = _read_verified(manifest, backend)
    opened = open_backend(backend, artifact.path, content=content, **options)
    if opened.n_bits != manifest.n_bits or opened.n_classes != manifest.n_classes:
        raise ModelError(
            f"{artifact.path}: the model reads [batch, {opened.n_bits}, 1] and writes "
            f"[batch, {opened.n_classes}], but the manifest says [batch, {manifest.n_bits}, 1] "
            f"and [batch, {manifest.n_classes}]")
    return opened
