"""Fixtures shared by the test files."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

NOBODY = 65534


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
