"""The runtime's exceptions: one tree, one base class.

::

    Exception
     +-- ParityEdgeError                  everything the runtime raises on purpose
          +-- InputError (+ ValueError)   bad bits: names the item and the position
          +-- UsageError (+ ValueError)   a bad setting: backend name, batch size, threads
          +-- ModelError                  missing, damaged or mismatched model or manifest
               +-- BackendUnavailableError   the backend's package is not installed;
                                             says what to ``pip install``
               +-- SignatureError            runtime.signing: no signature, another key's,
                                             or files changed since signing
          +-- ClusterError                 runtime.batch: Ray is not installed (says what to
                                           ``pip install``), the cluster cannot be started or
                                           reached, or it lost a worker

Exceptions from onnxruntime, LiteRT, the file system or the JSON parser are translated
into this tree where they arise (``raise ModelError(...) from exc``), so a caller catches
``ParityEdgeError`` and never a dependency's own types. Anything else that escapes is a bug.
"""

from __future__ import annotations

__all__ = ["ParityEdgeError", "InputError", "UsageError", "ModelError", "BackendUnavailableError",
           "SignatureError", "ClusterError"]


class ParityEdgeError(Exception):
    """Base class of every error the runtime raises on purpose."""


class InputError(ParityEdgeError, ValueError):
    """Input that is not a string of 0 and 1 (or a 0/1 array of the right shape).

    ``item`` is the 0-based index of the offending item (or ``None`` when the error is about
    the input as a whole), ``position`` the 0-based index of the offending character or
    column in it (or ``None``).
    """

    def __init__(self, message: str, item: int | None = None, position: int | None = None):
        super().__init__(message)
        self.item = item
        self.position = position


class UsageError(ParityEdgeError, ValueError):
    """A bad setting: an unknown backend name, a batch size or thread count out of range."""


class ModelError(ParityEdgeError):
    """A model or manifest that is missing, damaged, or not what it claims to be."""


class BackendUnavailableError(ModelError):
    """The package a backend needs is not installed.

    ``package`` is what to ``pip install``.
    """

    def __init__(self, message: str, package: str | None = None):
        super().__init__(message)
        self.package = package


class SignatureError(ModelError):
    """The model directory is not signed by the trusted key as it is now: no signature, a
    signature by another key, or files changed, added to the signed set or missing since."""


class ClusterError(ParityEdgeError):
    """``runtime.batch`` cannot run: Ray is not installed, the cluster cannot be started
    or reached, or a worker or node was lost.

    ``package`` is what to ``pip install`` when Ray is missing, else None.
    """

    def __init__(self, message: str, package: str | None = None):
        super().__init__(message)
        self.package = package


def show(value) -> str:
    """A value that a caller or a file gave, quoted for a message: its repr, shortened, so
    a megabyte-long string or a deeply nested list never becomes a megabyte-long message."""
    import reprlib

    shown = reprlib.Repr()
    shown.maxstring = shown.maxother = 60
    return shown.repr(value)
