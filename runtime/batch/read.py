"""The inputs of ``runtime.batch``: files found, cut into byte ranges, read as Ray Data blocks.

``find_inputs`` turns the command line's INPUTs (files, directories, glob patterns;
local paths or any filesystem that pyarrow opens, ``s3://bucket/key`` and the like) into
files. ``plan_ranges`` cuts each file into byte ranges and numbers each range's first
line (``runtime.batch.ranges``; the line ends before a range are counted by Ray tasks, in
parallel). ``bit_lines`` is the Ray Data datasource: one read task per range, which reads
its bytes as binary with ``runtime.lines`` (the rules and messages of
``runtime.predict``) and yields Arrow blocks of ``path`` (the file), ``line`` (1-based)
and ``bits`` (the line's string). A bad line fails its task with ``FILE:LINE:COL: ...``.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

__all__ = ["InputFile", "Range", "find_inputs", "plan_ranges", "bit_lines", "RANGE_BYTES"]

#: Bytes per read task: enough work to hide a task's start (tens of ms), few enough
#: that a file of a few GB is read by many tasks at once.
RANGE_BYTES = 64 << 20
_GLOB = set("*?[")


@dataclass(frozen=True)
class InputFile:
    """``name``: as messages and the ``path`` column show it; ``path``: what
    ``filesystem`` (a pyarrow filesystem, or None for a local file) opens."""

    name: str
    path: str
    size: int
    filesystem: Any = None

    def open(self):
        if self.filesystem is None:
            return open(self.path, "rb")
        return self.filesystem.open_input_file(self.path)


@dataclass(frozen=True)
class Range:
    """The lines that start in bytes ``[start, end)`` of ``file`` (``end`` None: to its
    end), the first of them numbered ``first_line``."""

    file: InputFile
    start: int
    end: int | None
    first_line: int


def _hidden(name: str) -> bool:
    return os.path.basename(name).startswith(".")


def find_inputs(inputs: list[str]) -> list[InputFile]:
    """The files named by ``inputs``, in order, each once. A directory stands for every
    file under it (hidden ones, whose names start with ``.``, excepted), in name order; a
    pattern for the files it matches. Raises UsageError for one that names nothing."""
    found: dict[tuple, InputFile] = {}
    for item in inputs:
        files = _find_remote(item) if "://" in item else _find_local(item)
        for f in files:
            key = (type(f.filesystem).__name__, f.path if f.filesystem else os.path.realpath(f.path))
            found.setdefault(key, f)
    return list(found.values())


def _find_local(item: str) -> list[InputFile]:
    if _GLOB & set(item):
        matches = sorted(glob.glob(item, recursive=True))
        if not matches:
            raise UsageError(f"{item}: no file matches this pattern")
        return [f for m in matches for f in _find_local(m)]
    if os.path.isdir(item):
        files = []
        for root, dirs, names in os.walk(item):
            dirs[:] = sorted(d for d in dirs if not _hidden(d))
            files += [os.path.join(root, n) for n in sorted(names) if not _hidden(n)]
        return [_local_file(f) for f in files]
    return [_local_file(item)]


def _local_file(path: str) -> InputFile:
    # A FIFO or a device would block the open below, or be read by many tasks at once
    # at byte offsets it does not have: only regular files can be cut into ranges.
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"cannot read {path}: {_kind(mode)}, not a regular file (runtime.batch reads "
                         "files by byte ranges; copy it to a file first)")
    try:
        with open(path, "rb") as f:  # proves it readable here, as runtime.predict would
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return InputFile(name=path, path=path, size=size)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _find_remote(item: str) -> list[InputFile]:
    import pyarrow as pa
    from pyarrow import fs as pafs

    scheme = item.split("://", 1)[0]
    try:
        filesystem, path = pafs.FileSystem.from_uri(item)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise UsageError(f"cannot read {item}: {exc}") from None

    def named(p: str) -> str:
        return f"{scheme}://{p}"

    try:
        if _GLOB & set(path):
            import fnmatch

            parts = path.split("/")
            fixed = next(i for i, part in enumerate(parts) if _GLOB & set(part))
            base = "/".join(parts[:fixed]) or "/"
            infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
            files = sorted((i for i in infos if i.type == pafs.FileType.File
                            and fnmatch.fnmatchcase(i.path, path)), key=lambda i: i.path)
            if not files:
                raise UsageError(f"{item}: no file matches this pattern")
        else:
            info = filesystem.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                infos = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
                files = sorted((i for i in infos if i.type == pafs.FileType.File
                                and not any(_hidden(p) for p in i.path[len(path):].split("/"))),
                               key=lambda i: i.path)
            elif info.type == pafs.FileType.File:
                files = [info]
            else:
                raise UsageError(f"cannot read {item}: No such file or directory")
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"cannot read {item}: {exc}") from None
    return [InputFile(name=named(i.path), path=i.path, size=i.size, filesystem=filesystem) for i in files]


def plan_ranges(files: list[InputFile], range_bytes: int = RANGE_BYTES) -> list[Range]:
    """Every file's byte ranges with their first line numbers. The line ends before each
    range after a file's first are counted by Ray tasks (Ray must be initialised)."""
    import ray

    from .ranges import count_spans, first_lines, split

    @ray.remote(num_cpus=1, max_retries=0)
    def count(file: InputFile, lo: int, hi: int) -> int:
        from .ranges import count_newlines

        try:
            with file.open() as stream:
                return count_newlines(stream, lo, hi)
        except OSError as exc:
            raise UsageError(f"cannot read {file.name}: {exc.strerror or exc}") from None

    starts = [split(f.size, range_bytes) for f in files]
    pending = {k: [count.remote(f, lo, hi) for lo, hi in count_spans(s)]
               for k, (f, s) in enumerate(zip(files, starts)) if len(s) > 1}
    ranges = []
    for k, (f, s) in enumerate(zip(files, starts)):
        numbers = first_lines(ray.get(pending[k])) if k in pending else [1]
        ranges += [Range(f, start, s[i + 1] if i + 1 < len(s) else None, numbers[i])
                   for i, start in enumerate(s)]
    return ranges


def _read(part: Range, rows_per_block: int):
    """Arrow tables of ``path``, ``line`` and ``bits`` for the lines of one range."""
    import numpy as np
    import pyarrow as pa

    from .ranges import read_range

    name = pa.array([part.file.name], pa.string())
    chars, lengths, first, n = [], [], None, 0
    yielded = False

    def table():
        joined = np.concatenate(chars) if len(chars) > 1 else chars[0]
        kind, width = (pa.large_string(), np.int64) if len(joined) >= 1 << 31 else (pa.string(), np.int32)
        offsets = np.zeros(n + 1, width)
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
        bits = pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(joined)])
        path = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), name)
        return pa.table({"path": path, "line": pa.array(np.arange(first, first + n, dtype=np.int64)),
                         "bits": bits})

    try:
        with part.file.open() as stream:
            for block in read_range(stream, part.file.name, part.start, part.end, part.first_line):
                if first is None:
                    first = block.first_line
                chars.append(block.joined()[0])
                lengths.append(block.lengths)
                n += block.n_lines
                if n >= rows_per_block:
                    yield table()
                    yielded = True
                    chars, lengths, first, n = [], [], None, 0
    except OSError as exc:  # pyarrow's filesystems raise OSError too
        raise UsageError(f"cannot read {part.file.name}: {exc.strerror or exc}") from None
    if n:
        yield table()
    elif not yielded:
        # An empty file (or a range in which no line starts) has no lines, but its block must
        # still have the columns: a block without them fails every step after this one.
        chars, lengths, first = [np.zeros(0, np.uint8)], [np.zeros(0, np.int64)], part.first_line
        yield table()


def bit_lines(ranges: list[Range], rows_per_block: int):
    """A Ray Data datasource that reads ``ranges`` (see ``_read``), one task each."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class BitLinesDatasource(Datasource):
        def get_name(self) -> str:
            return "BitLines"

        def estimate_inmemory_data_size(self) -> int:
            # Per line: its characters, a 4-byte offset, 8 bytes of line number, 4 of path.
            return sum(_range_bytes(r) for r in ranges) * 2

        def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None):
            return [ReadTask(lambda r=r: _read(r, rows_per_block),
                             BlockMetadata(num_rows=None, size_bytes=_range_bytes(r),
                                           exec_stats=None, input_files=[r.file.name]),
                             per_task_row_limit=per_task_row_limit)
                    for r in ranges]

    return BitLinesDatasource()


def _range_bytes(r: Range) -> int:
    return (r.end if r.end is not None else r.file.size) - r.start
