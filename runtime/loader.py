"""Opening a model: find its manifest, verify its artifact, open it, pick the backend.

Where a model is looked for (``find_manifest``), first match wins:

1. the ``model`` argument (``--model``): an artifact directory or its ``manifest.json``;
2. ``./artifacts`` when it holds a ``manifest.json``;
3. the default model shipped inside this package (``runtime/model/``).

Before an artifact is opened its size and sha256 are checked against the manifest, and
after it is opened its input and output are checked against the manifest's
(``open_artifact``): a damaged, replaced or mismatched model is refused with a
ModelError, never run. Checksums are the only reliable guard: damaged ``.tflite`` files
can load and give wrong numbers, or crash the process while loading. An artifact is read
once: the bytes checked are the bytes opened. ``verify_files`` checks every file a manifest
lists the same way, without opening any.

``open_model`` is the one place where ``backend="auto"`` is decided: the first backend
of ``AUTO_PREFERENCE`` that the model has and whose package is installed; and
``pick_graph`` the one place where ``graph="auto"`` is: the folded file where the model
has one for that backend and precision and its manifest entry records it proved (it is
exact only because of its proof), else the recurrent one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .errors import BackendUnavailableError, ModelError, UsageError, show
from .files import as_path, read_regular, sha256
from .limits import MAX_ARTIFACT_BYTES
from .manifest import (DEFAULT_PRECISION, MANIFEST_NAME, Artifact, Manifest, check_graph,
                       read_manifest)

__all__ = ["AUTO_PREFERENCE", "DEFAULT_MODEL_DIR", "LOCAL_MODEL_DIR", "find_manifest", "model_manifest",
           "read_verified", "read_artifact", "verify_artifact", "verify_files", "open_verified", "open_artifact",
           "open_model", "auto_order", "pick_graph", "installed"]

#: The order in which ``backend="auto"`` tries the backends; the first one installed wins.
#: LiteRT first: on single strings a call costs it far less than onnxruntime's, on large
#: batches the two are about level, and it needs less memory (the README's benchmark has
#: the figures of the shipped model).
AUTO_PREFERENCE: tuple[str, ...] = ("tflite", "onnx")
#: The model shipped with the package, so the runtime works out of the box when embedded.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"
#: Where ``make export`` writes a freshly exported model, relative to the working directory.
LOCAL_MODEL_DIR = Path("artifacts")


def find_manifest(model: str | bytes | os.PathLike | None = None) -> Path:
    """The path of the manifest to use; see the module docstring for the search order.

    Raises UsageError when ``model`` is not a path (or is empty), ModelError when there is
    no model there or its directory cannot be searched.
    """
    if model is not None:
        path = Path(as_path(model))
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


def model_manifest(model: Any = None, trusted_key: str | os.PathLike | None = None) -> Manifest:
    """The manifest of the model ``find_manifest`` finds. With ``trusted_key`` (a public key
    file), only a model directory that key signed, exactly as it is now
    (``runtime.signing``): SignatureError otherwise, before any file of the model is opened."""
    path = find_manifest(model)
    if trusted_key is None:
        return read_manifest(path)
    try:
        key = as_path(trusted_key)
    except UsageError:
        raise UsageError(f"trusted_key must be the path of a public key file, got "
                         f"{show(trusted_key)}") from None
    from .signing import read_trusted_manifest

    return read_trusted_manifest(path, key)


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


def verify_artifact(manifest: Manifest, backend: str, precision: str = DEFAULT_PRECISION,
                    graph: str = "recurrent") -> Artifact:
    """Check that the backend's artifact exists and matches its recorded size and sha256."""
    return read_artifact(manifest, backend, precision, graph)[0]


def pick_graph(manifest: Manifest, backend: str, precision: str = DEFAULT_PRECISION,
               graph: str = "auto") -> str:
    """``graph``, or for ``auto`` the fastest whose evidence is a proof: ``folded`` where the
    model has that file and its entry records it proved, else ``recurrent``."""
    check_graph(graph)
    if graph != "auto":
        return graph
    folded = manifest.find(backend, precision, "folded")
    return "folded" if folded is not None and folded.proved else "recurrent"


def read_verified(artifact: Artifact) -> bytes:
    """The content of a file the manifest lists, checked against its size and sha256."""
    content = read_regular(artifact.path, "artifact", MAX_ARTIFACT_BYTES, size=artifact.size_bytes)
    digest = sha256(content).hexdigest()
    if digest != artifact.sha256:
        raise ModelError(f"{artifact.path}: sha256 is {digest[:16]}..., the manifest says "
                         f"{artifact.sha256[:16]}...: damaged or replaced artifact, refusing it")
    return content


def verify_files(manifest: Manifest) -> list[str]:
    """Why each file the manifest lists (``Manifest.files``) is missing or differs from its
    recorded size and sha256, one message a file; an empty list when every one matches."""
    problems = []
    for artifact in manifest.files():
        try:
            read_verified(artifact)
        except ModelError as exc:
            problems.append(str(exc))
    return problems


def read_artifact(manifest: Manifest, backend: str, precision: str = DEFAULT_PRECISION,
                  graph: str = "recurrent") -> tuple[Artifact, bytes]:
    """The backend's artifact (at ``precision``, in ``graph``) and its content, checked
    against the manifest.

    The content is read once, and the bytes that were checked are the ones the backend
    opens: a file replaced between the check and the load cannot slip through.
    """
    if not isinstance(backend, str):
        raise UsageError(f"backend must be a backend name, got {show(backend)}")
    artifact = manifest.artifact(backend, precision, graph)
    return artifact, read_verified(artifact)


def open_artifact(manifest: Manifest, backend: str, precision: str = DEFAULT_PRECISION,
                  graph: str = "recurrent", **options: Any):
    """Verify the backend's artifact (at ``precision``, in ``graph``), open it, and check it
    against the manifest.

    Returns a ``runtime.backends.Backend``. Raises ModelError for a damaged or mismatched
    artifact or one the model does not have, BackendUnavailableError when the backend's
    package is missing, UsageError for an unknown precision or graph.
    """
    return open_verified(manifest, *read_artifact(manifest, backend, precision, graph), **options)


def open_verified(manifest: Manifest, artifact: Artifact, content: bytes, **options: Any):
    """Open ``content``, the bytes ``read_artifact`` checked, and check its signature."""
    from .backends import open_backend

    opened = open_backend(artifact.backend, artifact.path, content=content, **options)
    if opened.n_bits != manifest.n_bits or opened.n_classes != manifest.n_classes:
        raise ModelError(
            f"{artifact.path}: the model reads [batch, {opened.n_bits}, 1] and writes "
            f"[batch, {opened.n_classes}], but the manifest says [batch, {manifest.n_bits}, 1] "
            f"and [batch, {manifest.n_classes}]")
    return opened


def installed(backend: str) -> bool:
    """Whether the package ``backend`` needs is installed."""
    from .backends import BACKENDS

    try:
        BACKENDS[backend].available()
    except BackendUnavailableError:
        return False
    return True


def auto_order(manifest: Manifest, precision: str, graph: str = "recurrent") -> list[str]:
    """The backends the model has at ``precision`` in ``graph``, in the order ``auto`` tries them."""
    has = manifest.precisions(graph).get(precision, [])
    return [name for name in AUTO_PREFERENCE if name in has] + \
           [name for name in has if name not in AUTO_PREFERENCE]


def open_model(model: Any, backend: str = "auto", precision: str = DEFAULT_PRECISION,
               graph: str = "auto", trusted_key: str | os.PathLike | None = None, **options: Any):
    """Find, verify and open a model: ``(backend, manifest, graph)``, the backend opened on
    the artifact at ``precision`` in ``graph`` (``pick_graph``). ``backend="auto"``: the
    first of ``auto_order`` whose package is installed. ``trusted_key``: see
    ``model_manifest``. ``options`` go to the backend
    (``num_threads``).

    Raises ModelError for a missing, damaged or mismatched model, or one without a file for
    any known backend at ``precision``; BackendUnavailableError when no backend it could
    use is installed (naming what to install); UsageError for a bad argument.
    """
    check_graph(graph)
    manifest = model_manifest(model, trusted_key)
    if backend != "auto":
        chosen = pick_graph(manifest, backend, precision, graph)
        return open_artifact(manifest, backend, precision, chosen, **options), manifest, chosen
    missing = []
    for name in auto_order(manifest, precision, "recurrent" if graph == "auto" else graph):
        chosen = pick_graph(manifest, name, precision, graph)
        try:
            return open_artifact(manifest, name, precision, chosen, **options), manifest, chosen
        except BackendUnavailableError as exc:
            missing.append(exc)
    if missing:
        raise BackendUnavailableError(
            "no backend installed for this model: " + "; ".join(str(e) for e in missing),
            package=missing[0].package) from missing[0]
    kind = "folded " if graph == "folded" else ""
    raise ModelError(f"{manifest.path}: this model has no {kind}{precision} file for any known "
                     f"backend; it has: {manifest.describe()}")
