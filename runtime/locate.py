"""Finding a model: where ``runtime.load`` and the command lines look for ``manifest.json``.

First match wins:

1. the ``model`` argument (``--model``): an artifact directory or its ``manifest.json``;
2. ``./artifacts`` when it holds a ``manifest.json``;
3. the default model shipped inside this package (``runtime/model/``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .errors import ModelError, UsageError

__all__ = ["MANIFEST_NAME", "DEFAULT_MODEL_DIR", "LOCAL_MODEL_DIR", "find_manifest"]

MANIFEST_NAME = "manifest.json"
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
