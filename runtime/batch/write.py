"""The output of ``runtime.batch``: part files in a directory that appears whole or not at all.

``OutputDir`` makes a hidden temporary directory beside the target
(``.DIR.<random>.tmp``); the job writes its part files there; ``commit`` renames it to
the target once the job has succeeded (with ``overwrite``, the old directory is moved
aside first and removed after), and ``discard`` removes it on any error or Ctrl-C. A
commit cut short between its renames (by a signal) is made whole by ``settle``: the new
directory is in place, or the old one is back where it was.

``part_files`` is the Ray Data datasink: each write task writes one part file
(``part-<task>-<random>.<format>``) of the rows it receives, in Parquet, CSV (a header,
then ``path,line,count,parity``) or JSON lines (``{"path": ..., "line": ..., "count":
..., "parity": ...}``). The driver then checks that it sees every part file and that
their rows add up to what the tasks wrote: on a cluster whose nodes do not share the
output directory, the parts written on other nodes would be missing, and the job fails
rather than publish part of the output.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from ..errors import UsageError

__all__ = ["FORMATS", "OutputDir", "part_files", "check_parts", "Written"]

FORMATS = ("parquet", "csv", "jsonl")
COLUMNS = ("path", "line", "count", "parity")


class OutputDir:
    """A directory written under a temporary name and renamed into place by ``commit``."""

    def __init__(self, path: str, overwrite: bool = False):
        if "://" in path:
            raise UsageError(f"cannot write {path}: --output must be a local or mounted directory "
                             "(every node of a cluster must see it: a shared or network filesystem)")
        self.path = path
        self.overwrite = overwrite
        self.committed = False
        target = os.path.abspath(path)
        if os.path.lexists(target):
            if not overwrite:
                raise UsageError(f"{path} already exists; pass --overwrite to replace it")
            if not os.path.isdir(target) or os.path.islink(target):
                raise UsageError(f"cannot write {path}: it exists and is not a directory")
        parent, base = os.path.split(target)
        if not os.path.isdir(parent):
            raise UsageError(f"cannot write {path}: No such file or directory")
        self._target = target
        self._committing = False
        self._old: str | None = None
        self.temporary = _new_dir(parent, base, "tmp")

    def commit(self) -> None:
        """Move the finished directory into place (an old one aside first, removed after)."""
        self._committing = True
        if os.path.lexists(self._target):
            if not self.overwrite:
                raise UsageError(f"{self.path} appeared while the job ran; its output is not written")
            self._old = _new_dir(os.path.dirname(self._target), os.path.basename(self._target), "old")
            os.replace(self._target, self._old)  # over the empty directory just made
        os.replace(self.temporary, self._target)
        self.settle()

    def settle(self) -> bool:
        """Make whole what ``commit`` did, however far it got; True once the output is in place.

        A signal can end ``commit`` between any two of its steps. The rename into place is
        the one that counts: once the temporary directory is gone, the output is published
        (``committed``: the job has succeeded, whatever comes) and the old directory is
        removed; before that, an old directory moved aside is put back.
        """
        if self._committing and not self.committed and not os.path.lexists(self.temporary):
            self.committed = True
        old, self._old = self._old, None
        if old is not None:
            if self.committed:
                shutil.rmtree(old, ignore_errors=True)
            elif not os.path.lexists(self._target):
                try:
                    os.replace(old, self._target)
                except OSError:  # left aside, hidden, rather than mask what went wrong
                    pass
            else:  # cut short before the old directory moved: the empty one made for it
                try:
                    os.rmdir(old)
                except OSError:
                    pass
        return self.committed

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


def _new_dir(parent: str, base: str, kind: str) -> str:
    for _ in range(100):
        path = os.path.join(parent, f".{base}.{os.urandom(6).hex()}.{kind}")
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot write {os.path.join(parent, base)}: {exc.strerror or exc}") from None
    raise UsageError(f"cannot write {os.path.join(parent, base)}: no usable temporary name")


@dataclass(frozen=True)
class Written:
    """What the write tasks reported: part file names (in the directory) and their rows."""

    parts: tuple[tuple[str, int], ...]

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.parts)


def _render_jsonl(table) -> bytes:
    """``{"path": ..., "line": ..., "count": ..., "parity": ...}`` per row."""
    import json

    paths = table.column("path").to_pylist()
    lines = table.column("line").to_numpy()
    counts = table.column("count").to_numpy()
    parities = table.column("parity").to_numpy()
    quoted: dict[str, str] = {}
    out = []
    for p, line, count, parity in zip(paths, lines.tolist(), counts.tolist(), parities.tolist()):
        q = quoted.get(p)
        if q is None:
            q = quoted[p] = json.dumps(p)
        out.append(f'{{"path": {q}, "line": {line}, "count": {count}, "parity": {parity}}}\n')
    return "".join(out).encode("utf-8")


def part_files(directory: str, format: str, progress=None):
    """The datasink that writes part files into ``directory`` (see the module docstring).

    ``progress``: an actor with ``add(rows)``, told of every block written, or None.
    After the write, the sink's ``written`` is a ``Written``.
    """
    from ray.data import Datasink

    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")

    class PartFilesDatasink(Datasink):
        def __init__(self):
            self.written: Written | None = None

        def get_name(self) -> str:
            return "PartFiles"

        def write(self, blocks, ctx) -> tuple[str, int]:
            try:
                return self._write(blocks, ctx)
            except OSError as exc:
                raise UsageError(f"cannot write {directory}: {exc.strerror or exc}") from None

        def _write(self, blocks, ctx) -> tuple[str, int]:
            import pyarrow as pa

            name = f"part-{ctx.task_idx:05d}-{os.urandom(4).hex()}.{format}"
            os.makedirs(directory, exist_ok=True)  # on a node other than the driver's
            path = os.path.join(directory, name)
            rows, writer = 0, None
            with open(path, "wb") as f:
                for block in blocks:
                    if block.num_rows == 0:  # an empty file's: nothing to write, maybe no columns
                        continue
                    table = block.select(list(COLUMNS))
                    if format != "parquet":
                        table = table.set_column(0, "path", table.column("path").cast(pa.string()))
                    if writer is None:
                        writer = _writer(format, f, table.schema)
                    writer(table)
                    rows += table.num_rows
                    if progress is not None:
                        progress.add.remote(table.num_rows)
                if writer is not None:
                    writer(None)
                f.flush()
                os.fsync(f.fileno())
            if rows == 0:
                os.unlink(path)
                return ("", 0)
            return (name, rows)

        def on_write_complete(self, write_result) -> None:
            self.written = Written(tuple(r for r in write_result.write_returns if r[0]))

    return PartFilesDatasink()


def _writer(format: str, f, schema):
    """A function that writes a table to ``f``, and finishes the file when given None."""
    if format == "parquet":
        import pyarrow.parquet as pq

        out = pq.ParquetWriter(f, schema)
        return lambda t: out.write_table(t) if t is not None else out.close()
    if format == "csv":
        import pyarrow.csv as pcsv

        out = pcsv.CSVWriter(f, schema, write_options=pcsv.WriteOptions(quoting_style="needed"))
        return lambda t: out.write_table(t) if t is not None else out.close()
    return lambda t: f.write(_render_jsonl(t)) if t is not None else None


def check_parts(directory: str, format: str, written: Written) -> None:
    """Raise UsageError unless every part file the tasks wrote is here, with its rows."""
    seen = set(os.listdir(directory))
    missing = [name for name, _ in written.parts if name not in seen]
    if missing:
        raise UsageError(
            f"{len(missing)} of {len(written.parts)} part files were written where this machine cannot "
            "see them: on a cluster, --output must be a directory every node shares")
    if format == "parquet":
        import pyarrow.parquet as pq

        for name, rows in written.parts:
            found = pq.read_metadata(os.path.join(directory, name)).num_rows
            if found != rows:
                raise UsageError(f"{name}: {found} rows, its task wrote {rows}: the output is damaged")
