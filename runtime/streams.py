"""Files and streams of the command line: where its bytes come from and go to.

- ``open_stdin``: standard input, read so that Ctrl-C always ends a wait (``PipeReader``);
- ``AtomicFile``: an ``--output`` file written beside its target and renamed over it, so a
  failed run leaves the previous file as it was; ``StdoutSink`` for standard output;
- ``Progress``: a line count on standard error when it is a terminal and the run is long;
- ``QuietNativeStderr``: silences what C++ libraries print while a model is opened.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["StdoutSink", "AtomicFile", "Progress", "QuietNativeStderr", "PipeReader", "open_stdin"]


class StdoutSink:
    """Standard output, flushed after every batch so a reader downstream sees progress."""

    name = "<stdout>"

    def __init__(self):
        self._buffer = sys.stdout.buffer

    def write(self, data: bytes) -> None:
        self._buffer.write(data)
        self._buffer.flush()

    def commit(self) -> None:
        self._buffer.flush()

    def discard(self) -> None:
        try:
            self._buffer.flush()
        except OSError:
            pass


class AtomicFile:
    """Writes to a temporary file beside ``path``; ``commit`` renames it over ``path``.

    Only a regular file (or a new one) can be replaced atomically: a device, a FIFO or a
    socket (``-o /dev/null``, ``-o /dev/stdout``) is written in place instead. A symbolic
    link is followed, so the file it points to is the one replaced.
    """

    def __init__(self, path: str):
        import stat

        self.name = path
        target = os.path.realpath(path)
        try:
            mode = os.stat(target).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", path)
        if mode is not None and not stat.S_ISREG(mode):
            self._tmp, self._target = None, target
            self._file = open(target, "wb")
            return
        directory, base = os.path.split(target)
        self._target = target
        self._mode = None if mode is None else stat.S_IMODE(mode)
        self._tmp, fd = _create_beside(directory, base)
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        if self._tmp is None:
            self._file.close()
            return
        mode = self._mode
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.chmod(self._tmp, mode)
        os.replace(self._tmp, self._target)

    def discard(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass


def _create_beside(directory: str, base: str) -> tuple[str, int]:
    """Create a new, private temporary file ``.<base>.<random>.tmp`` in ``directory``.

    What ``tempfile.mkstemp`` does, without its imports (shutil, random and the
    compression modules cost ~3 ms of a ~0.1 s cold start).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(directory, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            return path, os.open(path, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(17, "No usable temporary file name", os.path.join(directory, f".{base}.*.tmp"))


class Progress:
    """``N lines (P%)`` on standard error when it is a terminal and the input is large."""

    MIN_BYTES = 16 << 20   # show at once for inputs at least this big
    MIN_SECONDS = 1.0      # or once a run of unknown size takes this long
    EVERY = 0.2

    def __init__(self, total_bytes: int | None):
        self.enabled = sys.stderr.isatty()
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
        sys.stderr.write(f"\r{lines:,} lines{pct}\x1b[K")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


class QuietNativeStderr:
    """Silences C-level writes to file descriptor 2 for a moment.

    LiteRT prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` from C++
    when an interpreter is first set up; the command line keeps standard error for its
    own one-line messages. Only used while the model is opened, when nothing else runs.
    """

    def __enter__(self):
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            self._saved = None
            return self
        os.dup2(devnull, 2)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)


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
    import stat

    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return sys.stdin.buffer, None
    try:
        reader = PipeReader(fd)
    except ValueError:  # not the main thread: signals are not ours to watch
        return sys.stdin.buffer, None
    return reader, reader
