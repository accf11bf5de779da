"""Where the command line's results go: standard output, or ``--output PATH``.

``open_output(path)`` picks what a shell redirect (``> PATH``) would write to, and how:

- a regular file, or a new one, is written to a temporary file in its directory and
  renamed over it at the end (``AtomicFile``): a failed or interrupted run leaves the
  previous file as it was. The file must be one the user may write, as for a redirect;
  the replacement keeps its mode, and its owner and group where the user may set them;
- a path naming one of this process's descriptors (``/dev/stdout``, ``/dev/fd/N``,
  ``/proc/self/fd/N``) is written through that descriptor, in place: a ``>> log``
  redirect keeps appending, a pipe is written as a pipe;
- a device or a FIFO (another process's pipe included) is opened and written in place.

A symbolic link is followed. A path ending in ``/`` names a directory, never a file.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from ..files import create_beside, sync_directory
from .interrupts import forget, held, remove_on_signal

__all__ = ["StdoutSink", "AtomicFile", "StreamSink", "open_output", "is_input"]

#: Standard descriptors found closed at start (``>&-``) and held open on /dev/null since
#: (``runtime.cli.streams.claim_standard_descriptors``), so that files opened later never take
#: their numbers: writing to one is an error, as it would have been.
CLOSED_AT_START: set[int] = set()


def _closed() -> OSError:
    return OSError(errno.EBADF, os.strerror(errno.EBADF))


class StdoutSink:
    """Standard output, flushed after every batch so a reader downstream sees progress."""

    name = "<stdout>"

    def __init__(self):
        if sys.stdout is None or 1 in CLOSED_AT_START:
            raise _closed()
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


class StreamSink:
    """A descriptor written in place (a device, a pipe, a descriptor the shell opened),
    flushed after every batch like standard output."""

    def __init__(self, name: str, fd: int):
        self.name = name
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    def commit(self) -> None:
        self._file.close()

    def discard(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass


def _own_descriptor(path: str) -> int | None:
    """The number N when ``path`` leads, through symbolic links, to ``/proc/<this pid>/fd/N``
    (``/dev/stdout``, ``/dev/fd/1``, ``/proc/self/fd/1``); None otherwise. A symbolic link
    is followed one step at a time: resolving it whole would name the file behind the
    descriptor, and replacing that file would lose what the shell's redirect meant."""
    import re

    here = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links in a path
        head, tail = os.path.split(here)
        head = os.path.realpath(head)
        match = re.fullmatch(r"/proc/(\d+)(?:/task/\d+)?/fd", head)
        if match and tail.isdigit():
            return int(tail) if int(match.group(1)) == os.getpid() else None
        here = os.path.join(head, tail)
        try:
            if not stat.S_ISLNK(os.lstat(here).st_mode):
                return None
            here = os.path.normpath(os.path.join(head, os.readlink(here)))
        except OSError:
            return None
    return None


def is_input(path: str, input_fd: int) -> bool:
    """Whether the output ``path`` is the file open as ``input_fd`` (the same device and
    inode, through any name or link): writing it would replace the input with its counts.
    A device or a FIFO is never "the input" (both ends are streams)."""
    try:
        source = os.fstat(input_fd)
        target = os.stat(path)
    except (OSError, ValueError):
        return False
    return (stat.S_ISREG(source.st_mode) and
            (source.st_dev, source.st_ino) == (target.st_dev, target.st_ino))


def open_output(path: str):
    """A sink (``write``, ``commit``, ``discard``, ``name``) for ``--output path``.

    Raises OSError (with a ``strerror`` that says what is wrong) when it cannot be written.
    """
    fd = _own_descriptor(path)
    if fd is not None:
        if fd in CLOSED_AT_START:
            raise _closed()
        return StreamSink(path, os.dup(fd))  # shares the offset and O_APPEND of the original
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if path.endswith(("/", os.sep)) and (st is None or not stat.S_ISDIR(st.st_mode)):
        # What open(2) says of "name/": a directory was meant, and none is there.
        raise (IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)) if st is None
               else NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if st is not None and not stat.S_ISREG(st.st_mode):
        flags = os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
        return StreamSink(path, os.open(path, flags))
    return AtomicFile(path)


class AtomicFile:
    """Writes to a temporary file beside ``path``; ``commit`` renames it over ``path``.

    For a regular file or a new one (``open_output`` sends anything else elsewhere). A
    symbolic link is followed, so the file it points to is the one replaced. The
    temporary file is ``.NAME.<random>.tmp``, removed by ``discard``; the command line
    discards it on any error and on the signals that end it (``runtime.cli.interrupts``).
    """

    def __init__(self, path: str):
        self.name = path
        target = os.path.realpath(path)
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if st is not None:
            _check_replaceable(target, st)
        directory, base = os.path.split(target)
        self._target, self._directory, self._st = target, directory, st
        try:
            with held():  # a signal in between would leave a file no one knows of
                self._tmp, fd = create_beside(directory, f".{base}.", ".tmp")
                remove_on_signal(self._tmp)
                self._file = os.fdopen(fd, "wb")
        except OSError as exc:
            # The file may well be writable; it is its directory that is not.
            raise type(exc)(exc.errno, f"cannot create a file in its directory "
                                       f"{directory}: {exc.strerror}") from None

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        fd = self._file.fileno()
        self._file.flush()
        st = self._st
        if st is None:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        else:
            _keep_owner(fd, st)
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)
        os.fsync(fd)
        self._file.close()
        with held():  # renamed into place and forgotten, or neither
            os.replace(self._tmp, self._target)
            forget(self._tmp)
            self._tmp = None
        sync_directory(self._directory or ".")

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
            forget(self._tmp)
            self._tmp = None


def _check_replaceable(target: str, st: os.stat_result) -> None:
    """Refuse what a shell redirect would refuse: a file the user may not write (probed by
    opening it for writing, which changes nothing), or one in a sticky directory (like
    /tmp) that belongs to someone else, which may not be renamed over."""
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    os.close(os.open(target, flags))
    directory = os.path.dirname(target)
    dir_st = os.stat(directory)
    uid = os.geteuid()
    if dir_st.st_mode & stat.S_ISVTX and uid not in (0, st.st_uid, dir_st.st_uid):
        raise PermissionError(errno.EPERM, f"{os.strerror(errno.EPERM)} (it belongs to another "
                                           f"user, in the sticky directory {directory})")


def _keep_owner(fd: int, st: os.stat_result) -> None:
    """Give the replacement the owner and group of the file it replaces, as far as allowed."""
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) == (st.st_uid, st.st_gid):
        return
    for uid, gid in ((st.st_uid, st.st_gid), (-1, st.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue
