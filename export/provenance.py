"""Where an export came from: the manifest's ``provenance``.

Which commit of this project made it (and whether the work tree had uncommitted changes),
which locked environment (the sha256 of ``requirements.lock``), which kind of machine (CPU
model, AVX-512 or not: TensorFlow's float32 sums differ between the two kinds, see the
README), and the training seed. What cannot be known is ``None``, never a guess: an
installed copy of the project has no git history and no lock file beside it.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

__all__ = ["LOCK_NAME", "provenance", "git_state", "machine"]

LOCK_NAME = "requirements.lock"
ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict:
    """``{commit, dirty}`` of the project's work tree; both None outside a git checkout."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def machine() -> dict:
    """The CPU model and whether it has AVX-512 (Linux's /proc/cpuinfo; None elsewhere)."""
    model, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model or platform.processor() or None, "arch": platform.machine(),
            "avx512": ("avx512f" in flags) if flags else None}


def provenance(training: dict | None) -> dict:
    from train.report import sha256_of

    lock = ROOT / LOCK_NAME
    return {**git_state(), "lock": LOCK_NAME if lock.is_file() else None,
            "lock_sha256": sha256_of(lock) if lock.is_file() else None,
            "machine": machine(), "training_seed": (training or {}).get("seed")}
