"""runtime.batch on a real local Ray cluster of 2 CPUs, started once for this module.

The API runs in this process, on the module's cluster; the command line runs in child
processes that join it (``--address``), as a user's would join a running cluster.
"""

import dataclasses
import gc
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import ray

import runtime
from runtime import predict
from runtime.batch import ModelBytes, count_ones, run, unwrap

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(9)


def _bits(n: int, length: int) -> list[str]:
    return ["".join(map(str, row)) for row in RNG.integers(0, 2, (n, length))]


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=512 << 20,
             logging_level=logging.ERROR, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()



@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Several files: 50-bit lines, short and long ones, CRLF, a BOM, an empty file, one of a single line."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "a_50bit.txt").write_text("\n".join(_bits(3000, 50)) + "\n")
    mixed = _bits(40, 1) + _bits(40, 7) + _bits(40, 49) + _bits(40, 51) + _bits(20, 333) + ["1" * 2000]
    RNG.shuffle(mixed)
    (d / "b_mixed_crlf.txt").write_bytes(("\r\n".join(mixed)).encode())  # and no final line end
    (d / "c_bom.txt").write_bytes(b"\xef\xbb\xbf" + ("\n".join(_bits(500, 50)) + "\n").encode())
    (d / "d_empty.txt").write_bytes(b"")
    sub = d / "sub"
    sub.mkdir()
    (sub / "e_one_line.txt").write_text("0110")
    return d


def _predict_rows(path: Path) -> dict:
    """{(path, line): count} from runtime.predict on one file."""
    out = path.parent.parent / f"{path.name}.predict.jsonl"
    assert predict.main([str(path), "--format", "jsonl", "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    out.unlink()
    return {(str(path), r["line"]): r["count"] for r in rows}


def _read_output(directory: Path, format: str) -> list[tuple]:
    rows = []
    for part in sorted(directory.iterdir()):
        if format == "parquet":
            t = pq.read_table(part)
        elif format == "csv":
            t = pcsv.read_csv(part)
        else:
            rows += [(r["path"], r["line"], r["count"], r["parity"])
                     for r in map(json.loads, part.read_text().splitlines())]
            continue
        rows += list(zip(*(t.column(c).to_pylist() for c in ("path", "line", "count", "parity"))))
    return rows


def _check_against_predict(rows: list[tuple], inputs: Path) -> None:
    expected = {}
    for f in sorted(inputs.rglob("*.txt")):
        expected.update(_predict_rows(f))
    keys = [(p, line) for p, line, _, _ in rows]
    assert len(keys) == len(set(keys)), "a line was written twice"
    assert set(keys) == set(expected), "lines missing or extra"
    assert {(p, line): c for p, line, c, _ in rows} == expected
    assert all(parity == c % 2 for _, _, c, parity in rows)


def _no_leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".") and p.name.endswith((".tmp", ".old"))]


def _env(**extra) -> dict:
    """The environment of a child that runs this checkout's command line."""
    return dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", **extra)


def _cli(*args, timeout=180):
    env = _env()
    return subprocess.run([sys.executable, "-m", "runtime.batch", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def test_same_counts_as_runtime_predict_for_every_line(cluster, inputs, tmp_path):
    out = tmp_path / "out"
    # Ranges of 997 bytes cut every file but the smallest into several read tasks.
    summary = run([str(inputs)], str(out), range_bytes=997)
    rows = _read_output(out, "parquet")
    _check_against_predict(rows, inputs)
    assert (summary.files, summary.lines, summary.workers) == (5, len(rows), 1)
    assert summary.parts == len(list(out.iterdir())) and not _no_leftovers(tmp_path)
    assert pq.read_schema(next(out.iterdir())).names == ["path", "line", "count", "parity"]


def test_the_command_line_writes_csv_from_files_and_patterns(cluster, inputs, tmp_path):
    out = tmp_path / "csv"
    done = _cli(inputs / "a_50bit.txt", inputs / "b_*.txt", inputs / "c_bom.txt", inputs / "d_empty.txt",
                inputs / "sub", inputs / "a_50bit.txt", "--output", out, "--format", "csv", "--address", cluster)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("5 files, 3,682 lines: 3,682 counts written to ")
    assert done.stdout.count("\n") == 1  # the summary, and nothing of Ray's
    assert "lines/s on 1 worker" in done.stdout
    _check_against_predict(_read_output(out, "csv"), inputs)
    assert next(out.iterdir()).read_text().splitlines()[0] == '"path","line","count","parity"'


def test_jsonl_and_overwrite(cluster, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    run([str(inputs)], str(out), format="jsonl", overwrite=True, workers=1)
    assert not (out / "stale.txt").exists()
    _check_against_predict(_read_output(out, "jsonl"), inputs)
    assert not _no_leftovers(tmp_path)


def test_a_bad_line_in_the_third_file_fails_the_job_and_leaves_no_output(cluster, tmp_path):
    files = tmp_path / "in"
    files.mkdir()
    for k in range(5):
        lines = _bits(400, 50)
        if k == 2:
            lines[211] = lines[211][:17] + "2" + lines[211][18:]
        (files / f"f{k}.txt").write_text("\n".join(lines) + "\n")
    bad = files / "f2.txt"
    assert predict.main([str(bad), "-o", str(tmp_path / "p.out")]) == 1  # its message, below
    expected = f"{bad}:212:18: invalid character '2' (U+0032); expected 0 or 1"
    out = tmp_path / "out"
    done = _cli(files, "--output", out, "--address", cluster)
    assert (done.returncode, done.stderr, done.stdout) == (1, expected + "\n", "")
    assert not out.exists() and not _no_leftovers(tmp_path)


def test_an_existing_output_is_refused_and_left_as_it_was(cluster, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.parquet").write_bytes(b"mine")
    done = _cli(inputs, "--output", out, "--address", cluster)
    assert done.returncode == 2
    assert done.stderr == f"runtime.batch: {out} already exists; pass --overwrite to replace it\n"
    assert [p.name for p in out.iterdir()] == ["keep.parquet"] and (out / "keep.parquet").read_bytes() == b"mine"
    assert not _no_leftovers(tmp_path)


def test_bad_options_and_missing_inputs_are_one_line(cluster, tmp_path):
    done = _cli(tmp_path / "nothing.txt", "--output", tmp_path / "o")
    assert (done.returncode, done.stderr) == (
        2, f"runtime.batch: cannot read {tmp_path / 'nothing.txt'}: No such file or directory\n")
    done = _cli(str(tmp_path / "*.bits"), "--output", tmp_path / "o", "--workers", "0")
    assert done.returncode == 2 and done.stderr.startswith("runtime.batch: argument --workers: ")
    done = _cli(str(tmp_path / "*.bits"), "--output", tmp_path / "o")
    assert (done.returncode, done.stderr) == (2, f"runtime.batch: {tmp_path / '*.bits'}: no file matches this pattern\n")


def test_a_pool_on_every_cpu_is_refused(cluster, inputs, tmp_path):
    with pytest.raises(runtime.UsageError, match=r"^workers must leave a CPU for reading: at most 1 on this "
                                                 r"cluster of 2 CPUs, got 2$"):
        run([str(inputs)], str(tmp_path / "out"), workers=2)
    assert not (tmp_path / "out").exists() and not _no_leftovers(tmp_path)


def test_an_unreachable_cluster_is_one_line(tmp_path):
    (tmp_path / "x.txt").write_text("01\n")
    done = _cli(tmp_path / "x.txt", "--output", tmp_path / "o", "--address", "127.0.0.1:1", timeout=60)
    assert (done.returncode, done.stderr) == (
        3, "runtime.batch: cannot reach a Ray cluster at 127.0.0.1:1: Connection refused\n")
    assert not (tmp_path / "o").exists() and not _no_leftovers(tmp_path)


def test_count_ones_in_a_user_pipeline(cluster):
    items = _bits(50, 50) + ["0", "1", "0110", "1" * 51, "10" * 500]
    ds = ray.data.from_items([{"id": k, "bits": s} for k, s in enumerate(items)])
    rows = count_ones(ds).take_all()
    assert sorted(r["id"] for r in rows) == list(range(len(items)))
    for r in rows:
        assert (r["bits"], r["count"], r["parity"]) == (items[r["id"]], items[r["id"]].count("1"),
                                                       items[r["id"]].count("1") % 2)
    assert runtime.load().predict(items).counts.tolist() == [
        r["count"] for r in sorted(rows, key=lambda r: r["id"])]


def _failure(dataset) -> runtime.ParityEdgeError:
    """The runtime's error inside what Ray raises when ``dataset`` runs."""
    with pytest.raises(Exception) as failed:
        dataset.take_all()
    error = unwrap(failed.value)
    assert error is not None, failed.value
    # The failed dataset's actors go once nothing refers to them; the traceback does, in
    # cycles: collected, their CPUs are free for the next dataset.
    del failed
    _wait_for_idle_cluster()
    return error


def _wait_for_idle_cluster(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while ray.available_resources().get("CPU", 0) < 2:
        gc.collect()
        assert time.monotonic() < deadline, f"the cluster's CPUs are still held: {ray.available_resources()}"
        time.sleep(0.2)


def test_count_ones_names_what_is_wrong_with_a_column(cluster):
    ds = ray.data.from_items([{"b": "0110"}, {"b": "01x0"}])
    error = _failure(count_ones(ds, column="b"))
    assert isinstance(error, runtime.InputError)
    assert str(error) == "column 'b': invalid character 'x' (U+0078) at position 2 of '01x0'; expected 0 or 1"
    error = _failure(count_ones(ray.data.from_items([{"bits": 101}])))
    assert isinstance(error, runtime.InputError) and str(error).startswith(
        "column 'bits' holds int64; expected strings of 0 and 1")
    error = _failure(count_ones(ds))
    assert isinstance(error, runtime.UsageError)
    assert str(error) == "no column 'bits' of bit strings in the dataset (it has: b)"


def test_a_worker_refuses_damaged_model_bytes(cluster, inputs, tmp_path):
    shipped = ModelBytes.load()
    flipped = bytearray(shipped.artifact)
    flipped[len(flipped) // 2] ^= 0x01
    damaged = dataclasses.replace(shipped, artifact=bytes(flipped))
    error = _failure(count_ones(ray.data.from_items([{"bits": "0110"}]), model=damaged))
    assert isinstance(error, runtime.ModelError)
    assert re.fullmatch(r".*/model.folded.tflite: the bytes this worker received have sha256 [0-9a-f]{16}\.\.\., "
                        r"the driver sent [0-9a-f]{16}\.\.\.: damaged on the way, refusing them", str(error))
    out = tmp_path / "out"
    with pytest.raises(runtime.ModelError, match=r"damaged on the way, refusing them$"):
        run([str(inputs)], str(out), model=damaged)
    assert not out.exists() and not _no_leftovers(tmp_path)


def _signal_a_big_job(tmp_path, signum, env, *args, start_within: float, into_job: float,
                      finish_within: float) -> None:
    """``python -m runtime.batch`` on 4,000,000 lines (``args`` added), sent ``signum``
    ``into_job`` seconds after its temporary directory appears: it must end quietly with
    128 + ``signum``, leaving no output and no temporary directory. The job is long enough
    for the signal to land while it runs on the faster CPU kind too (that is asserted); the
    signal stops it at once, so its length costs nothing."""
    big = tmp_path / "big.txt"
    rows = np.full((4_000_000, 51), ord("1"), np.uint8)
    rows[:, 50] = ord("\n")
    big.write_bytes(rows.tobytes())
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-m", "runtime.batch", str(big), "--output", str(out), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + start_within
        while not _no_leftovers(tmp_path) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(into_job)
        assert child.poll() is None, "the job ended before the signal could be sent"
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=finish_within)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert (child.returncode, stdout, stderr) == (128 + signum, b"", b"")
    assert not out.exists() and not _no_leftovers(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1],
                         ids=["ctrl-c", "sigterm", "sighup", "sigquit", "sigusr1"])
def test_ctrl_c_stops_the_job_and_leaves_no_output(cluster, tmp_path, signum):
    env = _env()
    _signal_a_big_job(tmp_path, signum, env, "--address", cluster, start_within=60, into_job=2.0,
                      finish_within=60)


def test_inputs_that_are_not_regular_files_are_refused_before_ray_starts(tmp_path):
    fifo = tmp_path / "in" / "pipe"
    fifo.parent.mkdir()
    (tmp_path / "in" / "a.txt").write_text("0110\n")
    os.mkfifo(fifo)
    for given in (fifo, fifo.parent):  # named, or found in a directory
        done = _cli(given, "--output", tmp_path / "o", timeout=60)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (f"runtime.batch: cannot read {fifo}: a FIFO, not a regular file (runtime.batch "
                               "reads files by byte ranges; copy it to a file first)\n")
    done = _cli("/dev/null", "--output", tmp_path / "o", timeout=60)
    assert done.returncode == 2 and "cannot read /dev/null: a character device, not a regular file" in done.stderr
    assert not (tmp_path / "o").exists() and not _no_leftovers(tmp_path)


def test_ray_client_is_refused_with_what_to_use_instead(tmp_path):
    (tmp_path / "x.txt").write_text("01\n")
    start = time.monotonic()
    done = _cli(tmp_path / "x.txt", "--output", tmp_path / "o", "--address", "ray://127.0.0.1:10001", timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("runtime.batch: --address ray://127.0.0.1:10001: Ray Client cannot run Ray "
                                  "Data jobs (Ray 2.60); run the command on a node of the cluster with --address ")
    assert "ray job submit" in done.stderr and done.stderr.count("\n") == 1
    assert time.monotonic() - start < 30
    with pytest.raises(runtime.UsageError, match="Ray Client cannot run Ray Data jobs"):
        run([str(tmp_path / "x.txt")], str(tmp_path / "o"), address="ray://127.0.0.1:10001")
    assert not (tmp_path / "o").exists() and not _no_leftovers(tmp_path)


# --- empty files, and what a task raised that is not ours -------------------------------------

@pytest.mark.parametrize("others", [0, 2])
def test_an_empty_file_has_no_lines_and_fails_nothing(cluster, tmp_path, others):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(others):
        (inputs / f"f{k}.txt").write_text("\n".join(_bits(50_000, 50)) + "\n")
    (inputs / "z_empty.txt").write_bytes(b"")
    done = _cli(inputs, "--output", tmp_path / "out", "--address", cluster)
    assert done.returncode == 0, done.stderr
    rows = _read_output(tmp_path / "out", "parquet")
    assert len(rows) == 50_000 * others
    if others:
        _check_against_predict(rows, inputs)


def test_an_untranslated_error_in_a_task_is_its_own_class_not_the_clusters():
    from runtime.batch import _translate
    from runtime.errors import ClusterError, UsageError

    def task_error(cause):
        try:
            raise cause
        except BaseException as exc:
            return ray.exceptions.RayTaskError("read", "Traceback ...", exc)

    bug = _translate(ray, task_error(KeyError('Field "path" does not exist in schema')))
    assert isinstance(bug, KeyError) and not isinstance(bug, ClusterError)
    assert isinstance(_translate(ray, task_error(PermissionError(13, "Permission denied", "x"))), UsageError)
    assert isinstance(_translate(ray, task_error(MemoryError())), MemoryError)
    lost = _translate(ray, task_error(ray.exceptions.ObjectLostError("0" * 56, None, "")))
    assert isinstance(lost, ClusterError)


def _local_ray_env() -> tuple[dict, str]:
    """``(env, ray_tmp)``: the environment of a child that starts a local Ray instance of its
    own, in a new directory ``ray_tmp`` that names its processes."""
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # short: Ray's socket paths must fit
    env = _env(RAY_TMPDIR=ray_tmp)
    env.pop("RAY_ADDRESS", None)
    return env, ray_tmp


def _ray_processes_left(ray_tmp: str) -> list[str]:
    """The processes of the local instance in ``ray_tmp`` still alive after up to 15 s (its
    directory removed when there are none)."""
    deadline = time.monotonic() + 15
    while _ray_processes(ray_tmp) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _ray_processes(ray_tmp)
    if not left:
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)
    return left


def _ray_processes(marker: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["sighup", "sigterm"])
def test_a_signal_mid_job_on_a_local_cluster_leaves_no_directory_and_no_process(tmp_path, signum):
    env, ray_tmp = _local_ray_env()
    _signal_a_big_job(tmp_path, signum, env, start_within=90, into_job=3.0, finish_within=90)
    assert _ray_processes_left(ray_tmp) == []


#: ``python -m runtime.batch`` sent SIGTERM by itself inside ray.init, just after the
#: driver's CoreWorker exists (the next thing ray.init makes is the error subscriber).
SIGTERM_IN_RAY_INIT = """
import os, signal, sys
import ray._raylet
from runtime.batch.__main__ import main

make, sent = ray._raylet.GcsErrorSubscriber, []
def sigterm_then_make(*args, **kwargs):
    sent.append(signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)
    return make(*args, **kwargs)
ray._raylet.GcsErrorSubscriber = sigterm_then_make
status = main(sys.argv[1:])
print(len(sent), status, signal.alarm(0), flush=True)  # and what is left of an alarm set meanwhile
sys.exit(status)
"""


def test_a_sigterm_while_ray_starts_ends_the_job_with_143_and_no_alarm(inputs, tmp_path):
    """Ray's C++ failure-signal handler would take a SIGTERM landing in ray.init and arm a
    3 s SIGALRM that killed the process while it cleaned up (exit -14 or -6, not 143)."""
    env, ray_tmp = _local_ray_env()
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", SIGTERM_IN_RAY_INIT, str(inputs), "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (143, "1 143 0\n", "")
    assert not out.exists() and not _no_leftovers(tmp_path)
    assert _ray_processes_left(ray_tmp) == []


def test_a_ctrl_c_once_the_output_is_published_is_success(cluster, inputs, tmp_path, monkeypatch):
    from runtime.batch import write

    commit = write.OutputDir.commit

    def commit_then_ctrl_c(self):
        commit(self)
        raise KeyboardInterrupt  # as a Ctrl-C landing just after the rename would

    monkeypatch.setattr(write.OutputDir, "commit", commit_then_ctrl_c)
    summary = run([str(inputs)], str(tmp_path / "out"))
    assert summary.lines > 0 and (tmp_path / "out").is_dir()
    _check_against_predict(_read_output(tmp_path / "out", "parquet"), inputs)


#: ``python -m runtime.batch`` sent SIGTERM by itself just after one of its commit's renames:
#: ``into-place`` (the new directory renamed to the output) or ``aside`` (the old one moved
#: aside for ``--overwrite``, the new one not yet in place).
SIGTERM_AT_A_RENAME = """
import os, signal, sys
from runtime.batch.__main__ import main

rename, at, sent = os.replace, sys.argv[1], sys.argv[2]
def replace(src, dst):
    rename(src, dst)
    if os.path.basename(src if at == "into-place" else dst).startswith(".out.") and not os.path.exists(sent):
        open(sent, "w").close()
        os.kill(os.getpid(), signal.SIGTERM)
os.replace = replace
sys.exit(main(sys.argv[3:]))
"""


def _sigterm_at(at: str, tmp_path, *args) -> subprocess.CompletedProcess:
    env = _env()
    sent = tmp_path / "sent"  # made when the signal is sent
    done = subprocess.run([sys.executable, "-c", SIGTERM_AT_A_RENAME, at, sent, *map(str, args)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert sent.exists()
    sent.unlink()
    return done


def test_a_sigterm_just_after_the_output_is_in_place_is_success(cluster, inputs, tmp_path):
    out = tmp_path / "out"
    done = _sigterm_at("into-place", tmp_path, inputs, "--output", out, "--address", cluster)
    assert (done.returncode, done.stderr) == (0, "")
    assert re.fullmatch(rf"5 files, ([\d,]+) lines: \1 counts written to {re.escape(str(out))} .*\n", done.stdout)
    _check_against_predict(_read_output(out, "parquet"), inputs)
    assert _no_leftovers(tmp_path) == []


def test_a_sigterm_between_the_renames_of_an_overwrite_keeps_the_old_output(cluster, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("the previous output")
    done = _sigterm_at("aside", tmp_path, inputs, "--output", out, "--overwrite", "--address", cluster)
    assert (done.returncode, done.stdout, done.stderr) == (143, "", "")
    assert [p.name for p in out.iterdir()] == ["kept.txt"] and (out / "kept.txt").read_text() == "the previous output"
    assert _no_leftovers(tmp_path) == []


def test_progress_reports_the_lines_written_so_far(cluster, tmp_path, monkeypatch):
    from runtime.batch import progress

    monkeypatch.setattr(progress, "EVERY", 0.02)
    big = tmp_path / "big.txt"
    rows = np.full((300_000, 51), ord("1"), np.uint8)
    rows[:, 50] = ord("\n")
    big.write_bytes(rows.tobytes())
    reports = []
    summary = run([str(big)], str(tmp_path / "out"), range_bytes=1 << 20, progress=reports.append)
    assert summary.lines == 300_000 and reports
    assert reports == sorted(reports) and 0 <= reports[0] and reports[-1] <= 300_000
    assert len(set(reports)) > 1  # it moved while the job ran


def test_a_ctrl_c_during_shutdown_after_publishing_is_not_a_failure():
    from runtime.batch.cluster import shutdown

    class Ray:
        calls = 0

        def shutdown(self):
            Ray.calls += 1
            if Ray.calls == 1:
                raise KeyboardInterrupt

    shutdown(Ray(), published=True)
    assert Ray.calls == 2  # finished, not left half-way
    Ray.calls = 0
    with pytest.raises(KeyboardInterrupt):
        shutdown(Ray(), published=False)


def test_the_command_line_ignores_signals_once_published():
    import runtime.batch.__main__ as cli

    saved = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            cli._stop_on(signal.SIGTERM, None)
        cli._published()
        cli._stop_on(signal.SIGTERM, None)  # nothing raised: the job has succeeded
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        cli._done, cli._stopped_by = False, None
        signal.signal(signal.SIGINT, saved)


def test_a_summary_that_cannot_be_written_is_one_line_and_exit_2(cluster, inputs, tmp_path):
    env = _env()
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "runtime.batch", str(inputs / "a_50bit.txt"), "--output",
                               str(tmp_path / "out"), "--address", cluster], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=180, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "runtime.batch: cannot write <stdout>: No space left on device\n"
