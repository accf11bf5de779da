"""Publishing: build in a staging directory, then move everything into place at once.

Files are written into a staging directory inside the destination (so ``os.replace`` is an
atomic rename on one file system), flushed to disk, and moved in one by one with the manifest
last. Until the manifest moves, the runtime still reads the previous manifest, whose hashes
refuse the new files rather than trust them. Ctrl-C during the moves is held back until they
are done, so an export is published entirely or not at all. A failed or interrupted build
removes the staging directory; the previous files are never touched. A finished export that is
published again (``export.publish_default``, ``export.add_folded``) is read by the runtime's
one reader (``read_export``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from runtime.files import sync_directory, write_atomically
from runtime.manifest import MANIFEST_NAME

from .errors import ExportError

__all__ = ["Staging", "write_file", "write_json", "replace_atomically", "read_export"]

STAGING_PREFIX = ".staging-"


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` and flush it to disk (the file is only ever renamed afterwards)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_export(directory: Path):
    """The manifest (``runtime.manifest.Manifest``) of the finished export in ``directory``,
    read by the runtime's one reader: ModelError for anything missing, unknown or inconsistent.
    Its files are checked with ``runtime.loader.verify_files``."""
    from runtime.loader import model_manifest

    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        raise ExportError(f"{path}: no manifest (run the export first: make export)")
    return model_manifest(directory)


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8")


def write_json(path: Path, obj) -> None:
    write_file(path, _json_bytes(obj))


def replace_atomically(path: Path, data: bytes | dict) -> None:
    """Write ``path`` through a temporary file beside it and ``os.replace``: a reader sees the
    old file or the new one, never a part."""
    write_atomically(path, data if isinstance(data, bytes) else _json_bytes(data))


@contextlib.contextmanager
def _interrupts_held():
    """Hold SIGINT back until the block ends, then deliver it as KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class Staging:
    """A staging directory inside ``out``; ``commit`` moves its files into ``out``.

    Use as a context manager: leaving the block removes the staging directory and whatever
    was not committed, also on errors and Ctrl-C. ``out`` is created when missing and removed
    again if the build fails and leaves it empty.
    """

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.path: Path | None = None
        self._created_out = False

    def __enter__(self) -> "Staging":
        if not self.out.exists():
            self.out.mkdir(parents=True)
            self._created_out = True
        self.path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out))
        return self

    def __exit__(self, *exc_info) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._created_out:
            with contextlib.suppress(OSError):
                self.out.rmdir()  # only succeeds when nothing was published

    def commit(self, names: list[str], last: str) -> list[Path]:
        """Move ``names`` and then ``last`` from staging into ``out``; return the new paths."""
        sync_directory(self.path)
        published = []
        with _interrupts_held():
            for name in [*names, last]:
                if (self.path / name).is_dir() and (self.out / name).is_dir():
                    # os.replace cannot replace a folder that has files: the old one goes
                    # into staging, which is removed on leaving
                    os.replace(self.out / name, self.path / f".replaced-{name}")
                os.replace(self.path / name, self.out / name)
                published.append(self.out / name)
            self._created_out = False
            sync_directory(self.out)
        return published
