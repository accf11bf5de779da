"""The export stage's exception.

``ExportError`` joins the runtime's tree (``runtime.errors.ParityEdgeError``), so one
``except ParityEdgeError`` catches every error either stage raises on purpose::

    ParityEdgeError
     +-- ExportError      missing or unreadable model, a conversion that cannot be done,
                          a converted file that breaks a structural rule, a bad manifest
     +-- UsageError       (runtime) a bad setting; the CLI answers it with exit code 2
     +-- ModelError ...   (runtime) raised by the backends that load converted files

A failed parity check is not an exception: ``check_parity`` returns a result that is false.
"""

from __future__ import annotations

from runtime.errors import ParityEdgeError

__all__ = ["ExportError", "first_line"]


class ExportError(ParityEdgeError):
    """The export cannot go on; the message says what was found and what was expected."""


def first_line(exc: Exception) -> str:
    """``Type: first line`` of a library's exception, for a message of ours: converters and
    checkers put pages of context after it."""
    for line in str(exc).strip().splitlines():
        if line.strip():
            return f"{type(exc).__name__}: {line.strip()}"
    return type(exc).__name__
