"""The one redirection of file descriptor 2, where C and C++ libraries (LiteRT, TensorFlow,
Ray) write beyond the reach of Python's ``sys.stderr``.

``stderr_to(fd)`` points descriptor 2 at ``fd`` for a block and gives it back after, on
any exit (``to_devnull`` points a descriptor at /dev/null for good); each use says what it
does with the text (drops it, keeps it for a traceback, filters one known note out of it, or
keeps standard error for a command's own lines).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["stderr_to", "stderr_to_devnull", "to_devnull"]


def _flush_python_stderr() -> None:
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


@contextlib.contextmanager
def stderr_to(fd: int) -> Iterator[int | None]:
    """Descriptor 2 pointed at ``fd`` for the block; yields a duplicate of the original
    descriptor 2 (to write to it meanwhile), or None when there was none to redirect (it
    was closed), in which case nothing is changed."""
    _flush_python_stderr()
    try:
        saved = os.dup(2)
    except OSError:
        yield None
        return
    try:
        os.dup2(fd, 2)
        try:
            yield saved
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
    finally:
        os.close(saved)


@contextlib.contextmanager
def stderr_to_devnull() -> Iterator[int | None]:
    """``stderr_to`` /dev/null: what is written to descriptor 2 in the block is dropped."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield None
        return
    try:
        with stderr_to(devnull) as saved:
            yield saved
    finally:
        os.close(devnull)


def to_devnull(fd: int) -> None:
    """Point descriptor ``fd`` at /dev/null for good: what is written to it is dropped (a
    closed standard output whose buffer can never be written, a command's own stream once
    a duplicate of it is kept). Quietly nothing when /dev/null cannot be opened."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    if devnull == fd:  # fd was closed, and /dev/null took its number
        return
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)
