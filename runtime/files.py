"""Files: reading a model's (only regular files, never more than a bound), a path given by
a caller, the sha256 of what was read, and writing a file atomically (the one writer of
reports, manifests and benchmark results; the command line's streaming ``--output`` is
``runtime.cli.output``).

A manifest or an artifact path may lead anywhere: to a symbolic link to ``/dev/zero``
(reading it never ends), a FIFO (opening it waits for a writer forever), a directory, or
a file far larger than any model. ``read_regular`` opens without waiting, refuses
anything but a regular file, checks its size before reading, and reads at most that.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any, Iterator

from .errors import ModelError, UsageError

__all__ = ["read_regular", "as_path", "sha256", "atomic_path", "write_atomically", "sync_directory"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | os.PathLike, what: str, limit: int, size: int | None = None,
                 follow: bool = False) -> bytes:
    """The whole content of the regular file at ``path``, which holds a ``what`` (for messages).

    A symbolic link is refused unless ``follow``: a model's files are named by its manifest
    and must be the files inside its directory, so a link out of it (to ``/etc/...``) is
    never read, and no message describes the file it leads to. ``follow=True`` is for a
    path the caller gave itself.

    Raises ModelError when it cannot be opened or read, is a symbolic link, is not a regular file, is larger
    than ``limit`` bytes, is not ``size`` bytes when ``size`` is given (a damaged or
    replaced file), or changes size while it is read.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and _is_link(path):
            raise ModelError(f"{name}: cannot read {what}: it is a symbolic link; a model's files "
                             "must be regular files inside its directory") from None
        raise ModelError(f"{name}: cannot read {what}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL in the path
        raise ModelError(f"{name!r}: cannot read {what}: {exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{name}: cannot read {what}: it is {_kind(st.st_mode)}, not a regular file")
        if size is not None and st.st_size != size:
            raise ModelError(f"{name}: size is {st.st_size} bytes, the manifest says {size}: "
                             "damaged or replaced artifact, refusing it")
        if st.st_size > limit:
            raise ModelError(f"{name}: cannot read {what}: {st.st_size} bytes, more than the "
                             f"{limit} bytes a {what} may have")
        chunks, got = [], 0
        while got <= st.st_size:  # one byte more than expected: did it grow meanwhile?
            data = os.read(fd, st.st_size + 1 - got)
            if not data:
                break
            chunks.append(data)
            got += len(data)
    except OSError as exc:
        raise ModelError(f"{name}: cannot read {what}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if got != st.st_size:
        raise ModelError(f"{name}: cannot read {what}: it changed while being read "
                         f"({st.st_size} bytes at first, then {got})")
    return b"".join(chunks)


def _is_link(path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def as_path(model: Any) -> str:
    """``model`` as a str path; UsageError for anything that is not a non-empty path."""
    try:
        path = os.fsdecode(model)  # str, bytes or os.PathLike
    except TypeError:
        raise UsageError(f"model must be a path (str, bytes or os.PathLike) or None, "
                         f"got {type(model).__name__}") from None
    if not path:
        raise UsageError("model must be a path, got an empty one (None means the default model)")
    return path


def sha256(data: bytes):
    """A sha256 hash of ``data``, by CPython's built-in implementation when it has one.

    ``import hashlib`` loads OpenSSL first, a visible share of a command line's cold start
    to hash one small file; the result is the same.
    """
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.11 and before
        except ImportError:
            from hashlib import sha256
    return sha256(data)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; when the block succeeds it replaces
    ``target`` (``os.replace``), so a reader sees the old file or the new one, never a part.

    The temporary name keeps the target's suffixes (Keras insists on ``.keras`` and
    ``.weights.h5``), and the file gets the permissions any new file gets (the umask's).
    On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.name.split(".", 1)[0]
    name, fd = create_beside(str(target.parent), f".{stem}.", "".join(target.suffixes))
    os.close(fd)
    temporary = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(target.parent)


def create_beside(directory: str, prefix: str, suffix: str) -> tuple[str, int]:
    """A new, private file ``<prefix><random><suffix>`` in ``directory``: ``(path, fd)``,
    opened for writing. What ``tempfile.mkstemp`` does, without its imports (shutil, random
    and the compression modules, a visible share of a command line's cold start)."""
    import errno

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return path, os.open(path, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "No usable temporary file name",
                          os.path.join(directory, f"{prefix}*{suffix}"))


def write_atomically(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` through ``atomic_path``, on disk before the rename."""
    with atomic_path(target) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def sync_directory(directory: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename in it) to disk, where the file system allows."""
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
