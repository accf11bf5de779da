"""Fixtures shared by the test files."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.backends import Backend

NOBODY = 65534
#: The model shipped with the package (``from conftest import SHIPPED``): read it, never change it.
SHIPPED = Path(runtime.__file__).resolve().parent / "model"


class FakeBackend(Backend):
    """The one stand-in for a model in the tests (``from conftest import FakeBackend``): no
    model file, logits from the true count of ones, peaking at it (``-|class - count|``).

    It records each call's input shape (``calls``), the rows it was given (``rows``) and the
    largest input value (``largest``). ``distort(logits, counts)`` may change the logits it
    returns; ``gate`` (a ``threading.Event``) holds every call until it is set.
    """

    def __init__(self, n_bits=50, *, name="fake", distort=None, gate=None):
        super().__init__(f"<{name}>")
        self.name = name
        self.n_bits, self.n_classes = n_bits, n_bits + 1
        self.distort, self.gate = distort, gate
        self.calls, self.rows, self.largest = [], 0, 0.0

    def _predict(self, inputs):
        if self.gate is not None:
            self.gate.wait(timeout=60)
        assert inputs.dtype == np.float32 and inputs.shape[1:] == (self.n_bits, 1)
        self.calls.append(inputs.shape)
        self.rows += len(inputs)
        self.largest = max(self.largest, float(inputs.max()))
        counts = np.clip(inputs[:, :, 0].sum(axis=1).astype(int), 0, self.n_bits)
        logits = -np.abs(np.arange(self.n_classes)[None, :] - counts[:, None]).astype(np.float32)
        if self.distort is not None:
            logits = self.distort(logits, counts).astype(np.float32)
        return logits


# --- copies of the shipped model to damage ----------------------------------------------------

def copy_model(target) -> Path:
    """A copy of the shipped model at ``target`` (a new directory; its parents are made)."""
    shutil.copytree(SHIPPED, target)
    return Path(target)


@pytest.fixture
def model_dir(tmp_path):
    """``tmp_path / "model"``: a copy of the shipped model, for a test to change."""
    return copy_model(tmp_path / "model")


def edit_manifest(directory, change) -> None:
    """Call ``change(manifest)`` on the parsed manifest.json of ``directory``, write it back."""
    path = Path(directory) / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


DAMAGES = ["flip", "truncate", "append", "delete"]


def damage(path, how: str) -> None:
    """Damage file ``path`` one of the ``DAMAGES`` ways: a bit flipped in its middle, cut to
    half its length, a byte appended, or deleted."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    elif how == "truncate":
        del data[len(data) // 2:]
    elif how == "append":
        data += b"\0"
    elif how == "delete":
        path.unlink()
        return
    else:
        raise ValueError(f"no damage called {how!r}")
    path.write_bytes(bytes(data))


def relist(directory, name: str) -> None:
    """Record file ``name``'s current sha256 and size wherever the manifest of ``directory``
    lists it: a file rewritten so, has only its content wrong, not its checksum."""
    content = (Path(directory) / name).read_bytes()
    digest = hashlib.sha256(content).hexdigest()

    def visit(node):
        if isinstance(node, dict):
            if node.get("file") == name:
                node["sha256"], node["size_bytes"] = digest, len(content)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    edit_manifest(directory, visit)


def varint(value: int) -> bytes:
    """A protobuf base-128 varint (negative numbers as their 64-bit two's complement), for
    the tests that write ONNX files byte by byte."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def verify_cli(*args):
    """``python -m runtime.verify ARGS`` in a child process, away from any ./artifacts (text)."""
    return subprocess.run([sys.executable, "-m", "runtime.verify", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd="/")


# --- the command line in this process, on a fake model ------------------------------------------

@pytest.fixture
def predict_fake(monkeypatch, capfdbinary):
    """``run(args, stdin=b"", cwd=None) -> (status, stdout bytes, stderr text)``: the command
    line ``python -m runtime.predict ARGS``, run here by ``runtime.predict.main``, with the
    model a ``FakeBackend`` (exact counts, no file opened, whatever ``--model``, ``--backend``,
    ``--precision`` or ``--graph`` say). ``run.loads`` lists what each ``runtime.load`` was
    asked for; outside ``run``, ``runtime.load`` is the real one.

    ``stdin``: bytes, given through a pipe (as ``subprocess.run(input=...)``), or a path,
    opened as standard input itself (``< FILE``). ``cwd``: the working directory of the run.
    Standard output and error are read from descriptors 1 and 2; the status is what
    ``main`` returns, or the code of its SystemExit (``--help``).

    For what needs a process of its own (signals, closed or redirected descriptors, a
    terminal, memory, imports), and to prove the shipped model, run the real command.
    """
    import threading

    import runtime.predict

    real_load = runtime.load
    loads = []

    def load(model=None, backend="auto", **options):
        loads.append({"model": model, "backend": backend, **options})
        return real_load(FakeBackend(), batch_size=options.get("batch_size"), threads=options.get("threads"))

    def run(args, stdin=b"", cwd=None):
        feeder = None
        if isinstance(stdin, (bytes, bytearray)):
            read_end, write_end = os.pipe()
            feeder = threading.Thread(target=_feed, args=(write_end, bytes(stdin)), daemon=True)
            feeder.start()
            stream = open(read_end, "r")
        else:
            stream = open(stdin, "r")
        capfdbinary.readouterr()
        try:
            with monkeypatch.context() as patch:
                patch.setattr(runtime, "load", load)
                patch.setattr(sys, "stdin", stream)
                if cwd is not None:
                    patch.chdir(cwd)
                try:
                    status = runtime.predict.main([str(arg) for arg in args])
                except SystemExit as exc:
                    status = exc.code
        finally:
            stream.close()  # a writer still blocked gets EPIPE
            if feeder is not None:
                feeder.join(timeout=60)
        out, err = capfdbinary.readouterr()
        return status, out, err.decode("utf-8", "replace")

    run.loads = loads
    return run


def _feed(fd: int, data: bytes) -> None:
    try:
        with open(fd, "wb") as pipe:
            pipe.write(data)
    except BrokenPipeError:  # the command stopped reading: as a shell's writer would be told
        pass


@pytest.fixture
def unprivileged():
    """``(prefix, directory)``: a command prefixed with ``prefix`` runs as a user without
    root's powers (root reads, writes and enters everything, so permission faults need
    someone else), and ``directory`` belongs to that user.

    Not root: the prefix is empty. Root: ``setpriv`` to uid/gid 65534; skipped when that
    user cannot run this interpreter and import ``runtime``.
    """
    if os.geteuid() != 0:
        home = Path(tempfile.mkdtemp(prefix="parity-edge-"))
        prefix = []
    else:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no unprivileged user to test as")
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        probe = subprocess.run([*prefix, sys.executable, "-c", "import runtime"], capture_output=True,
                               timeout=60, cwd="/")
        if probe.returncode != 0:
            pytest.skip("an unprivileged user cannot run this interpreter with runtime: "
                        + probe.stderr.decode(errors="replace").strip()[-200:])
        home = Path(tempfile.mkdtemp(prefix="parity-edge-"))
        home.chmod(0o755)
        os.chown(home, NOBODY, NOBODY)
    try:
        yield prefix, home
    finally:
        for path in [home, *home.rglob("*")]:  # give back what the test locked, then remove it
            if path.is_dir() and not path.is_symlink():
                try:
                    path.chmod(0o755)
                except OSError:
                    pass
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def assert_logits_close():
    """``check(candidate, reference, copies=1)``: the export's rule for logits computed in
    two different calls (another batch shape, another engine, another process or CPU).

    Per row, ``max |candidate - reference| <= copies * (ATOL + RTOL * max |reference row|)``,
    with the export's own ``ATOL`` and ``RTOL`` (``export.comparison``). Two such calls sum in
    different orders (oneDNN, XNNPACK and MLAS pick their kernels by instruction set and
    batch shape), so float32 round-off, which grows with the row's magnitude, is all that
    may differ; bit-identical results are never assumed. ``copies=2`` compares two
    candidates that each hold the rule against one reference (the triangle inequality).
    """
    from export.comparison import ATOL, RTOL  # only the TensorFlow tests use this fixture

    def check(candidate, reference, copies: int = 1) -> None:
        import numpy as np

        candidate, reference = np.asarray(candidate, np.float64), np.asarray(reference, np.float64)
        assert candidate.shape == reference.shape
        allowed = copies * (ATOL + RTOL * np.abs(reference).max(axis=-1))
        excess = np.abs(candidate - reference).max(axis=-1) / allowed
        worst = int(np.argmax(excess))
        assert excess.max() <= 1.0, (f"row {worst} differs by {excess.max():.3g} times the "
                                     f"float32 tolerance ({allowed.flat[worst]:.3g})")

    return check
