"""The versions a report records: Python's, and each named distribution's as installed.

One helper for every report of the project (the export's manifest, the training report,
the benchmark's machine facts); each passes the distributions that matter to it.
"""

from __future__ import annotations

import platform
from typing import Iterable

__all__ = ["versions"]


def versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """``{"python": ..., name: version or None when not installed}``, in the order given.
    Names are distribution names (``ai-edge-litert``); ``_`` is read as ``-``."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in distributions:
        try:
            found[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            found[name] = None
    return found
