"""Publishing without TensorFlow: staging, atomic replacement, Ctrl-C during the moves,
and the import weight of the export package."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import export
from export.publish import Staging, replace_atomically, write_file

ROOT = Path(__file__).resolve().parents[2]


def test_public_api_is_pinned():
    assert export.__all__ == ["ExportConfig", "ExportError"]


def test_light_modules_do_not_import_tensorflow():
    code = ("import sys, export, export.config, export.errors, export.publish, export.manifest, "
            "export.parity, export.pipeline, export.fold, export.publish_default, export.__main__\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'tf2onnx', 'onnx') if m in sys.modules)\n"
            "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_staging_commits_files_with_the_last_one_last(tmp_path, monkeypatch):
    out = tmp_path / "out"
    order = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append(Path(b).name), real_replace(a, b)))
    with Staging(out) as staging:
        for name in ("a.bin", "b.bin", "manifest.json"):
            write_file(staging.path / name, name.encode())
        staging.commit(["a.bin", "b.bin"], last="manifest.json")
    assert order == ["a.bin", "b.bin", "manifest.json"]
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.bin", "manifest.json"]


def test_staging_removes_everything_on_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with Staging(out) as staging:
            write_file(staging.path / "model.onnx", b"new")
            raise RuntimeError("conversion failed")
    assert [p.name for p in out.iterdir()] == ["model.onnx"]
    assert (out / "model.onnx").read_bytes() == b"old"


def test_staging_removes_an_out_dir_it_created(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        with Staging(out):
            raise KeyboardInterrupt
    assert not out.exists()


def test_ctrl_c_during_the_moves_is_held_until_all_are_done(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.bin", "manifest.json"):
        (out / name).write_bytes(b"old")
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        if Path(dst).name == "a.bin":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the first move and the manifest

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with Staging(out) as staging:
            write_file(staging.path / "a.bin", b"new")
            write_file(staging.path / "manifest.json", b"new")
            staging.commit(["a.bin"], last="manifest.json")
    assert (out / "a.bin").read_bytes() == b"new" and (out / "manifest.json").read_bytes() == b"new"
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "manifest.json"]


def test_replace_atomically_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "parity_report.failed.json"
    target.write_text("old")

    def full_disk(fd):  # the data written so far is not on disk: the write fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("runtime.files.os.fsync", full_disk)
    with pytest.raises(OSError):
        replace_atomically(target, {"passed": False})
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
