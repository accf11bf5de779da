"""Fixtures shared by the test files."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from runtime.backends import Backend

NOBODY = 65534


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
