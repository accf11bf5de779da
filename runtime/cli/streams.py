"""Files and streams of the command line: where its bytes come from, and its standard streams.

- ``claim_standard_descriptors``: standard input, output or error closed at start
  (``<&-``, ``>&-``, ``2>&-``) are held on /dev/null, so that no file opened later takes
  their number (LiteRT's messages would land in it), and using them is an error;
- ``open_stdin``: standard input, read so that Ctrl-C always ends a wait (``PipeReader``);
- ``Progress``: a line count on standard error when it is a terminal and the run is long;
- ``QuietNativeStderr``: silences what C++ libraries print while a model is opened.

Where results go (``StdoutSink``, ``AtomicFile``, ``--output``) is ``runtime.cli.output``.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from .output import CLOSED_AT_START, AtomicFile, StdoutSink

__all__ = ["StdoutSink", "AtomicFile", "Progress", "QuietNativeStderr", "PipeReader", "open_stdin",
           "claim_standard_descriptors"]


def claim_standard_descriptors() -> set[int]:
    """Put /dev/null on each of descriptors 0, 1 and 2 that is closed; return their numbers.

    Each is remembered in ``runtime.cli.output.CLOSED_AT_START``: standard output or input
    found closed stays an error to use ("Bad file descriptor"), as it was.
    """
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            break
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        closed.add(fd)
    CLOSED_AT_START.update(closed)
    return closed


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and 2 not in CLOSED_AT_START and sys.stderr.isatty()
    except (OSError, ValueError):
        return False


class Progress:
    """``N lines (P%)`` on standard error when it is a terminal and the input is large."""

    MIN_BYTES = 16 << 20   # show at once for inputs at least this big
    MIN_SECONDS = 1.0      # or once a run of unknown size takes this long
    EVERY = 0.2

    def __init__(self, total_bytes: int | None):
        self.enabled = _stderr_is_terminal()
        self.total = total_bytes
        self.start = self.last = time.monotonic()
        self.shown = False

    def update(self, lines: int, bytes_read: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < self.EVERY:
            return
        if not self.shown and (self.total or 0) < self.MIN_BYTES and now - self.start < self.MIN_SECONDS:
            return
        self.last, self.shown = now, True
        pct = f" ({min(100, 100 * bytes_read // self.total)}%)" if self.total else ""
        self._show(f"\r{lines:,} lines{pct}\x1b[K")

    def clear(self) -> None:
        if self.shown:
            self._show("\r\x1b[K")
            self.shown = False

    def _show(self, text: str) -> None:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):  # the terminal went away (a hang-up): no more progress
            self.enabled = self.shown = False


class QuietNativeStderr:
    """Silences C-level writes to file descriptor 2 for a moment.

    LiteRT prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` from C++
    when an interpreter is first set up; the command line keeps standard error for its
    own one-line messages. Only used while the model is opened, when nothing else runs.
    """

    def __enter__(self):
        from ..stderr import stderr_to_devnull

        self._quiet = stderr_to_devnull()
        self._quiet.__enter__()
        return self

    def __exit__(self, *exc):
        return self._quiet.__exit__(*exc)


class PipeReader:
    """Reads a pipe or terminal so that Ctrl-C always ends the wait, and without waiting
    for a full block when the writer pauses.

    A signal may be handled by any thread of the process (numpy and the model runtimes
    start their own); the main thread, blocked in ``read``, would not notice. Waiting in
    ``select`` on the input and on the signal wake-up pipe does. ``read(n)`` returns up to
    ``n`` bytes: as many as arrive without waiting once some have, so a slow writer gets
    its answers line by line and a fast one fills whole blocks.
    """

    def __init__(self, fd: int):
        import signal

        self._fd = fd
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._old_wake = signal.set_wakeup_fd(self._wake_w)  # ValueError off the main thread

    def read(self, n: int) -> bytes:
        import select

        chunks, size = [], 0
        while size < n:
            ready, _, _ = select.select([self._fd, self._wake_r], [], [], 0 if chunks else None)
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 64)  # a signal came; Python raises it on return
                except BlockingIOError:
                    pass
                continue
            if not ready:
                break  # the writer paused: work on what there is
            data = os.read(self._fd, n - size)
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)

    def close(self) -> None:
        import signal

        signal.set_wakeup_fd(self._old_wake)
        os.close(self._wake_r)
        os.close(self._wake_w)


def open_stdin():
    """(a reader of standard input, what to close); OSError when it is closed."""
    import stat

    if sys.stdin is None or 0 in CLOSED_AT_START:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return sys.stdin.buffer, None
    try:
        reader = PipeReader(fd)
    except ValueError:  # not the main thread: signals are not ours to watch
        return sys.stdin.buffer, None
    return reader, reader
