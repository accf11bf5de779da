"""The model on a cluster: verified on the driver, sent as bytes, verified again on each worker.

``ModelBytes.load`` finds and opens the model on the driver exactly as ``runtime.load``
does (sha256 against the manifest, the model's signature), then holds the manifest and
the chosen backend's artifact as bytes, with the sha256 of each as the driver read them.
The bytes travel with the actors' constructor arguments through Ray, so no node needs
the model on its disk. ``ModelBytes.open``, on a worker, refuses bytes whose sha256 is
not the driver's, then loads them through ``runtime.load`` from a private directory,
which checks the artifact against the manifest and its signature once more.

``CountOnes`` is the callable class Ray Data runs as an actor: the Predictor is built
once per actor, in ``__init__``; nothing unpicklable is shipped. ``count_column`` counts
the ones in an Arrow column of bit strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, ModelError, ParityEdgeError, UsageError
from ..files import sha256
from ..manifest import MANIFEST_NAME, read_manifest

__all__ = ["ModelBytes", "CountOnes", "count_column"]


@dataclass(frozen=True)
class ModelBytes:
    """A verified model to send to workers: its manifest and one backend's artifact.

    ``sha256`` maps each file name to the digest of its bytes as the driver read them.
    """

    backend: str
    manifest: bytes
    artifact_name: str
    artifact: bytes
    sha256: dict[str, str]
    source: str = ""
    #: The graph of the artifact (``runtime.load``'s choice on the driver), opened as such on workers.
    graph: str = "recurrent"

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, backend: str = "auto",
             graph: str = "auto", trusted_key: str | os.PathLike | None = None) -> "ModelBytes":
        """Find, verify and open the model as ``runtime.load(model, backend, graph=graph,
        trusted_key=trusted_key)`` does, and keep its bytes. Raises ModelError
        (SignatureError among them), BackendUnavailableError or UsageError as
        ``runtime.load`` does."""
        from ..predictor import load

        predictor = load(model, backend, threads=1, graph=graph, trusted_key=trusted_key)
        manifest = predictor.manifest
        artifact = manifest.artifact(predictor.backend.name, predictor.precision, predictor.graph)
        try:
            with open(manifest.path, "rb") as f:
                manifest_bytes = f.read()
            with open(artifact.path, "rb") as f:
                artifact_bytes = f.read()
        except OSError as exc:
            raise ModelError(f"{manifest.directory}: cannot read the model: {exc.strerror or exc}") from exc
        # What is sent is what was verified: the bytes read now, checked again.
        if trusted_key is not None and sha256(manifest_bytes).hexdigest() != manifest.sha256:
            raise ModelError(f"{manifest.path}: changed while it was read, after its signature "
                             "was checked; refusing it")
        digest = sha256(artifact_bytes).hexdigest()
        if digest != artifact.sha256:
            raise ModelError(f"{artifact.path}: changed while it was read (sha256 {digest[:16]}..., "
                             f"the manifest says {artifact.sha256[:16]}...), refusing it")
        return cls(backend=predictor.backend.name, manifest=manifest_bytes,
                   artifact_name=artifact.path.name, artifact=artifact_bytes,
                   sha256={MANIFEST_NAME: sha256(manifest_bytes).hexdigest(), artifact.path.name: digest},
                   source=os.fspath(manifest.directory), graph=predictor.graph)

    def check(self) -> None:
        """Raise ModelError unless every file's bytes have the driver's sha256."""
        for name, data in ((MANIFEST_NAME, self.manifest), (self.artifact_name, self.artifact)):
            digest = sha256(data).hexdigest()
            expected = self.sha256.get(name, "")
            if digest != expected:
                raise ModelError(f"{self.source or 'model'}/{name}: the bytes this worker received have "
                                 f"sha256 {digest[:16]}..., the driver sent {expected[:16]}...: "
                                 "damaged on the way, refusing them")

    def open(self, batch_size: int | None = None):
        """A Predictor for this model on this worker (one thread), after ``check``."""
        import shutil
        import tempfile

        from ..predictor import load

        self.check()
        directory = tempfile.mkdtemp(prefix="parity-edge-model-")
        try:
            for name, data in ((MANIFEST_NAME, self.manifest), (self.artifact_name, self.artifact)):
                with open(os.path.join(directory, name), "wb") as f:
                    f.write(data)
            read_manifest(os.path.join(directory, MANIFEST_NAME))
            return load(directory, self.backend, graph=self.graph, batch_size=batch_size, threads=1,
                        num_threads=1)
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # both backends hold the model in memory


class CountOnes:
    """Ray Data's callable class: adds ``count`` and ``parity`` (int64) to each batch.

    A model that does not open on this worker is reported by the first batch, so the
    job fails with the model's own error rather than as a lost actor, which Ray retries.
    """

    def __init__(self, model: ModelBytes, column: str, batch_size: int | None, drop: bool):
        self._column = column
        self._drop = drop
        self._error: ParityEdgeError | None = None
        try:
            self._predictor = model.open(batch_size)
        except ParityEdgeError as exc:
            self._error = exc

    def __call__(self, table):
        import pyarrow as pa

        if self._error is not None:
            raise self._error
        counts = count_column(self._predictor, table, self._column)
        if self._drop:
            table = table.drop_columns([self._column])
        return table.append_column("count", pa.array(counts)).append_column("parity", pa.array(counts & 1))


def count_column(predictor, table, column: str) -> np.ndarray:
    """int64 counts of the bit strings in ``table[column]`` (Arrow strings of 0 and 1).

    Raises UsageError for a missing column, InputError for values that are not bit
    strings (the message quotes the value, since a row of a user's dataset has no
    other name).
    """
    import pyarrow as pa

    from ..bits import char_bits
    from ..windows import windows_from_ragged, windows_from_rows

    if column not in table.column_names:
        raise UsageError(f"no column {column!r} of bit strings in the dataset "
                         f"(it has: {', '.join(table.column_names) or 'no columns'})")
    values = table.column(column).combine_chunks()
    kind = values.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        raise InputError(f"column {column!r} holds {kind}; expected strings of 0 and 1 (a CSV "
                         "reader may take '0101' for a number: read the column as strings)")
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64)
    if values.null_count:
        row = int(np.flatnonzero(~np.asarray(values.is_valid()))[0])
        raise InputError(f"column {column!r}: a null value; expected a string of 0 and 1", item=row)
    wide = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64 if wide else np.int32)[values.offset:values.offset + n + 1]
    lengths = np.diff(offsets)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise InputError(f"column {column!r}: an empty string; expected a string of 0 and 1",
                         item=int(empty[0]))
    chars = np.frombuffer(data_buffer, np.uint8)
    first, last = int(offsets[0]), int(offsets[-1])
    bits, bad = char_bits(chars[first:last])
    if bad.any():
        _raise_bad_value(column, values, offsets, first + int(bad.argmax()), chars)
    starts = offsets[:-1] - first
    if (lengths == lengths[0]).all():
        windows = windows_from_rows(bits.reshape(n, int(lengths[0])), predictor.n_bits)
    else:
        windows = windows_from_ragged(bits, starts, lengths, predictor.n_bits)
    return predictor.predict(windows).counts


def _raise_bad_value(column: str, values, offsets: np.ndarray, at: int, chars: np.ndarray) -> None:
    from ..bits import describe_char

    row = int(np.searchsorted(offsets, at, side="right")) - 1
    position = at - int(offsets[row])
    what, _ = describe_char(chars[at:at + 4].tobytes())
    value: Any = values[row].as_py()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    shown = value if len(value) <= 60 else value[:57] + "..."
    raise InputError(f"column {column!r}: {what} at position {position} of {shown!r}; expected 0 or 1",
                     item=row, position=position)
