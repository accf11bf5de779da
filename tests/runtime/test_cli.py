"""``python -m runtime.predict``: parsing, formats, messages and exit statuses in this process
on the fake model (``predict_fake``: its counts are exact, so the output is the truth), and
end to end in subprocesses where the shipped model, a model file or the process itself is
what is tested (each backend, damaged models, signals, pipes, descriptors, memory).

The exact-count assertions of the subprocess runs need an accurate model in runtime/model/
(the trained default).
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHIPPED, copy_model, damage

pytestmark = pytest.mark.runtime


def run(args, stdin=b"", cwd=None, **kwargs):
    """Run the command line in a child process; returns (status, stdout bytes, stderr text)."""
    done = subprocess.run([sys.executable, "-m", "runtime.predict", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120, cwd=cwd, **kwargs)
    return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")


def write_lines(path, bits_rows, end=b"\n"):
    path.write_bytes(b"".join(row + end for row in bits_rows))
    return path


def to_lines(bits):
    """uint8 [N, L] of 0/1 -> list of bytes lines."""
    return [bytes(row + 48) for row in bits]


def text_output(counts):
    counts = [int(c) for c in counts]  # numpy 1.x: uint64 % int is a float
    return "".join(f"{c}\t{c % 2}\n" for c in counts).encode()


@pytest.fixture(scope="module")
def random50(tmp_path_factory):
    rng = np.random.default_rng(10)
    bits = rng.integers(0, 2, (20000, 50)).astype(np.uint8)
    ramp = (np.arange(50)[None, :] < np.arange(51)[:, None]).astype(np.uint8)
    bits = np.concatenate([bits, ramp, ramp[:, ::-1]])
    path = write_lines(tmp_path_factory.mktemp("data") / "random50.txt", to_lines(bits))
    return path, bits.sum(axis=1).astype(np.int64)


@pytest.mark.parametrize("backend", ["auto", "tflite", "onnx"])
def test_50_bit_lines(random50, backend):
    path, counts = random50
    status, out, err = run([path, "--backend", backend])
    assert (status, err) == (0, "")
    assert out == text_output(counts)


def model_counts(lines):
    """What the CLI must print for ``lines``, worked out here without runtime.bits: each line
    left-padded with zeros to a multiple of 50 bits, the shipped model run on every 50-bit
    window, and the windows' counts added. Separates the padding and chunking arithmetic
    (checked here) from the model's accuracy (checked by the training evaluation)."""
    from runtime.backends import open_backend

    backend = open_backend("onnx", SHIPPED / "model.onnx")
    counts = []
    for line in lines:
        bits = np.frombuffer(line, np.uint8) - 48
        padded = np.concatenate([np.zeros(-len(bits) % 50, np.uint8), bits]).reshape(-1, 50)
        counts.append(int(backend.predict(padded).argmax(axis=1).sum()))
    return counts


def test_short_and_long_lines(tmp_path):
    rng = np.random.default_rng(11)
    lines = [bytes(rng.integers(0, 2, k).astype(np.uint8) + 48) for k in rng.integers(1, 400, 3000)]
    lines += [b"1", b"0", b"1" * 50, b"1" * 51, b"1" * 100, b"1" * 101, b"1" * 5000,
              b"10" * 2_500_000, b"0110"]  # one line longer than a read block
    path = write_lines(tmp_path / "mixed.txt", lines)
    # Run away from any ./artifacts, whose model would take precedence over the shipped one.
    status, out, err = run([path, "--batch-size", "100"], cwd=tmp_path)
    assert (status, err) == (0, "")
    assert out == text_output(model_counts(lines))
    # The hand-picked lines are runs of ones and alternations, which the model counts exactly
    # in every window: there the output is the truth.
    assert out.splitlines()[-9:] == text_output([line.count(b"1") for line in lines[-9:]]).splitlines()
    # And the model is right on nearly all of the random lines too.
    truth = [line.count(b"1") for line in lines]
    printed = [int(row.split(b"\t")[0]) for row in out.splitlines()]
    assert sum(p != t for p, t in zip(printed, truth)) <= len(lines) // 500


@pytest.mark.parametrize("args", [["--threads", "1"], ["--threads", "3", "--batch-size", "100"],
                                  ["--backend", "onnx", "--threads", "2"]])
def test_threads_give_the_same_output(predict_fake, random50, args):
    path, counts = random50
    status, out, err = predict_fake([path, *args])
    assert (status, err) == (0, "")
    assert out == text_output(counts)
    assert predict_fake.loads[-1]["threads"] == int(args[args.index("--threads") + 1])


def test_parallel_run_over_many_blocks_keeps_order(predict_fake, tmp_path):
    """Several read blocks, each spread over threads: every line in its place."""
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 2, (150000, 50)).astype(np.uint8)
    lines = to_lines(bits) + [b"1" * 7, b"0110"]
    path = write_lines(tmp_path / "many.txt", lines)
    status, out, err = predict_fake([path, "--threads", "4", "--format", "csv"])
    assert (status, err) == (0, "")
    rows = out.decode().splitlines()
    counts = bits.sum(axis=1).tolist() + [7, 2]
    assert rows[1:] == [f"{i},{c},{c % 2}" for i, c in enumerate(counts, start=1)]


def test_stdin_and_dash(predict_fake, random50):
    path, counts = random50
    data = path.read_bytes()
    for args in ([], ["-"]):
        status, out, err = predict_fake(args, stdin=data)
        assert (status, err) == (0, "")
        assert out == text_output(counts)


def test_formats(predict_fake, tmp_path):
    lines = [b"0110", b"1" * 50, b"1"]
    path = write_lines(tmp_path / "in.txt", lines)
    assert predict_fake([path, "--format", "text"])[1] == b"2\t0\n50\t0\n1\t1\n"
    assert predict_fake([path, "--format", "csv"])[1] == b"line,count,parity\n1,2,0\n2,50,0\n3,1,1\n"
    status, out, _ = predict_fake([path, "--format", "jsonl"])
    assert status == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"line": 1, "count": 2, "parity": 0}, {"line": 2, "count": 50, "parity": 0},
        {"line": 3, "count": 1, "parity": 1}]


def test_csv_line_numbers_span_batches(predict_fake, random50):
    path, counts = random50
    status, out, err = predict_fake([path, "--format", "csv"])
    assert (status, err) == (0, "")
    rows = out.decode().splitlines()
    assert rows[0] == "line,count,parity"
    assert rows[1:] == [f"{i},{c},{c % 2}" for i, c in enumerate(counts, start=1)]


@pytest.mark.parametrize("data", [
    b"0110\r\n11111\r\n1\r\n",             # CRLF
    b"0110\n11111\r\n1",                   # mixed, no final newline
    b"\xef\xbb\xbf0110\n11111\n1\n",       # byte-order mark
    b"\xef\xbb\xbf0110\r\n11111\r\n1",     # all three
])
def test_line_ends_and_bom(predict_fake, tmp_path, data):
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    assert predict_fake([path]) == (0, b"2\t0\n5\t1\n1\t1\n", "")
    assert predict_fake([], stdin=data) == (0, b"2\t0\n5\t1\n1\t1\n", "")


def test_empty_file(predict_fake, tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert predict_fake([path]) == (0, b"", "")
    assert predict_fake([path, "--format", "csv"]) == (0, b"line,count,parity\n", "")
    path.write_bytes(b"\xef\xbb\xbf")
    assert predict_fake([path]) == (0, b"", "")


@pytest.mark.parametrize("data, message", [
    (b"01\n0x1\n", "{f}:2:2: invalid character 'x' (U+0078); expected 0 or 1"),
    (b"01\n\n1\n", "{f}:2:1: empty line; expected a string of 0 and 1"),
    (b"01\r\n\r\n1\r\n", "{f}:2:1: empty line; expected a string of 0 and 1"),
    (b"01\n1\n\n", "{f}:3:1: empty line; expected a string of 0 and 1"),
    (b"\n", "{f}:1:1: empty line; expected a string of 0 and 1"),
    (b"01\n0\r1\n", "{f}:2:2: invalid character '\\r' (U+000D); expected 0 or 1"),
    (b"01\n01\r", "{f}:2:3: invalid character '\\r' (U+000D); expected 0 or 1"),
    (b"011 \n", "{f}:1:4: invalid character ' ' (U+0020); expected 0 or 1"),
    (b"0\t1\n", "{f}:1:2: invalid character '\\t' (U+0009); expected 0 or 1"),
    (b"1\n1\n01\xef\xbc\x91\n", "{f}:3:3: invalid character '１' (U+FF11); expected 0 or 1"),
    (b"01\n0\xff1\n", "{f}:2:2: invalid UTF-8 byte 0xff; expected 0 or 1"),
    (b"01\n0\xe2\x82\n", "{f}:2:2: invalid UTF-8 byte 0xe2; expected 0 or 1"),
    (b"0\xef\xbb\xbf1\n", "{f}:1:2: invalid character '\\ufeff' (U+FEFF); expected 0 or 1"),
    (b"2\n", "{f}:1:1: invalid character '2' (U+0032); expected 0 or 1"),
])
def test_bad_input_is_one_line_and_status_1(predict_fake, tmp_path, data, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    status, out, err = predict_fake([path])
    assert status == 1
    assert err == message.format(f=path) + "\n"
    assert "Traceback" not in err
    status, out, err = predict_fake([], stdin=data)
    assert (status, err) == (1, message.format(f="<stdin>") + "\n")


def test_lines_before_a_bad_one_are_written(predict_fake, tmp_path):
    lines = [b"1" * 50] * 70000 + [b"10"] * 5 + [b"1x"]
    path = write_lines(tmp_path / "late.txt", lines)
    status, out, err = predict_fake([path])
    assert (status, err) == (1, f"{path}:70006:2: invalid character 'x' (U+0078); expected 0 or 1\n")
    assert out == text_output([50] * 70000 + [1] * 5)


def test_bad_line_far_into_a_large_file(predict_fake, tmp_path):
    lines = [b"01" * 25] * 200000
    lines[150001] = b"0" * 49 + b"a"
    path = write_lines(tmp_path / "big.txt", lines)
    status, _, err = predict_fake([path])
    assert (status, err) == (1, f"{path}:150002:50: invalid character 'a' (U+0061); expected 0 or 1\n")


@pytest.mark.parametrize("args, fragment", [
    (["missing.txt"], "cannot read missing.txt: No such file or directory"),
    (["."], "cannot read .: Is a directory"),
    (["--format", "xml"], "argument --format: invalid choice"),
    (["--backend", "tensorflow"], "argument --backend: invalid choice"),
    (["--batch-size", "0"], "argument --batch-size: expected a positive integer"),
    (["--batch-size", "x"], "argument --batch-size: expected a positive integer"),
    (["--threads", "0"], "argument --threads: expected a positive integer"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["a", "b"], "unrecognized arguments: b"),
    (["-", "--output", "no/such/dir/out.txt"], "cannot write no/such/dir/out.txt"),
])
def test_usage_and_file_errors_exit_2(predict_fake, tmp_path, args, fragment):
    status, out, err = predict_fake(args, cwd=tmp_path)
    assert status == 2
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_help_documents_exit_codes_and_padding(predict_fake):
    status, out, err = predict_fake(["--help"])
    text = out.decode()
    assert status == 0
    for fragment in ("exit status", "130", "left-padded", "--model", "--backend", "--batch-size",
                     "--threads", "--format", "--output"):
        assert fragment in text


@pytest.mark.parametrize("graph", ["recurrent", "folded"])
@pytest.mark.parametrize("backend", ["tflite", "onnx"])
@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damaged_model_exit_1(model_dir, backend, how, graph):
    name = f"model.{backend}" if graph == "recurrent" else f"model.folded.{backend}"
    damage(model_dir / name, how)
    status, out, err = run(["--model", model_dir, "--backend", backend, "--graph", graph], stdin=b"0110\n")
    assert (status, out) == (1, b"")
    assert name in err and "manifest" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_model_exit_1(tmp_path):
    status, out, err = run(["--model", tmp_path / "nowhere"], stdin=b"0110\n")
    assert status == 1 and "no model there" in err and err.count("\n") == 1


def test_artifacts_dir_in_cwd_is_used(tmp_path):
    copy_model(tmp_path / "artifacts")
    (tmp_path / "artifacts" / "model.folded.tflite").write_bytes(b"damaged")  # the file auto runs
    status, _, err = run([], stdin=b"01\n", cwd=tmp_path)
    assert status == 1 and "artifacts" in err  # it was ./artifacts that got checked


BLOCK = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None   # as if the package were not installed
from runtime.predict import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("blocked, backend, package", [
    (["onnxruntime"], "onnx", 'pip install "parity-edge[onnx]"'),
    (["ai_edge_litert", "tflite_runtime"], "tflite", 'pip install "parity-edge[tflite]"'),
])
def test_missing_backend_package_says_what_to_install(blocked, backend, package):
    code = BLOCK.format(blocked=blocked)
    done = subprocess.run([sys.executable, "-c", code, "--backend", backend], input=b"01\n",
                          capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 1 and done.stdout == b""
    assert package in err and err.count("\n") == 1


def test_auto_falls_back_to_the_installed_backend():
    code = BLOCK.format(blocked=["ai_edge_litert", "tflite_runtime"])
    done = subprocess.run([sys.executable, "-c", code], input=b"0110\n111\n", capture_output=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"2\t0\n3\t1\n", b"")


def test_output_file_is_written_atomically(predict_fake, tmp_path, random50):
    path, counts = random50
    out = tmp_path / "out.txt"
    assert predict_fake([path, "--output", out])[0] == 0
    assert out.read_bytes() == text_output(counts)
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    # A failing run leaves the previous file untouched and no temporary file behind.
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"1" * 50 + b"\n" + b"12\n")
    status, _, err = predict_fake([bad, "-o", out])
    assert status == 1 and err.startswith(f"{bad}:2:2:")
    assert out.read_bytes() == text_output(counts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "out.txt"]


def test_output_to_a_fifo_or_through_a_link(predict_fake, tmp_path):
    """Only regular files are replaced; a FIFO (like /dev/null, a device) is written in place."""
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    status, _, err = predict_fake(["-o", fifo], stdin=b"0110\n")
    reader.join(timeout=60)
    assert (status, err, received) == (0, "", [b"2\t0\n"])
    assert fifo.is_fifo()
    target = tmp_path / "real.txt"
    target.write_bytes(b"old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert predict_fake(["-o", link], stdin=b"1\n")[0] == 0
    assert link.is_symlink() and target.read_bytes() == b"1\t1\n"


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_full_disk_on_standard_output(random50):
    path, _ = random50
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "runtime.predict", str(path)], stdout=full,
                              stderr=subprocess.PIPE, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err == "runtime.predict: cannot write <stdout>: No space left on device\n"


def test_write_failure_leaves_no_partial_output_file(tmp_path, random50):
    """A write error (here the file-size limit, EFBIG; ENOSPC takes the same path)."""
    import resource

    path, _ = random50
    out = tmp_path / "out.txt"
    out.write_bytes(b"previous\n")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    done = subprocess.run([sys.executable, "-m", "runtime.predict", str(path), "-o", str(out)],
                          capture_output=True, timeout=60, preexec_fn=limit)
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err.startswith(f"runtime.predict: cannot write {out}: ") and err.count("\n") == 1
    assert out.read_bytes() == b"previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_closed_pipe_ends_quietly(tmp_path):
    path = write_lines(tmp_path / "many.txt", [b"10" * 25] * 300000)
    proc = subprocess.Popen([sys.executable, "-m", "runtime.predict", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"25\t1\n"
    proc.stdout.close()  # like `head -n 1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_piped_into_head(tmp_path):
    path = write_lines(tmp_path / "many.txt", [b"10" * 25] * 300000)
    done = subprocess.run(
        f"set -o pipefail; {sys.executable} -m runtime.predict {path} | head -n 2",
        shell=True, executable="/bin/bash", capture_output=True, timeout=60)
    assert done.stdout == b"25\t1\n25\t1\n"
    assert done.stderr == b""
    assert done.returncode == 141


def test_ctrl_c_ends_quietly_with_130():
    proc = subprocess.Popen([sys.executable, "-m", "runtime.predict"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # More than one read block, so some output proves the process is in its main loop.
    proc.stdin.write(b"01" * 25 + b"\n" + b"1" * 50 * 100000 + b"\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"25\t1\n"
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read().decode()
    status = proc.wait(timeout=60)
    proc.stdin.close()
    assert status == 130
    assert "Traceback" not in err and err == ""


def test_progress_on_a_terminal(tmp_path):
    import pty

    path = write_lines(tmp_path / "in.txt", [b"1" * 50] * 300000)
    leader, follower = pty.openpty()
    code = ("import sys; from runtime import predict; from runtime.cli import streams; streams.Progress.MIN_BYTES = 0; "
            "streams.Progress.EVERY = 0; sys.exit(predict.main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.DEVNULL,
                            stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    assert b" lines (" in shown and b"%)" in shown
    assert shown.endswith(b"\r\x1b[K")  # cleared at the end


def test_no_progress_when_stderr_is_not_a_terminal(predict_fake, random50):
    path, _ = random50
    assert predict_fake([path])[2] == ""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_large_input_streams_in_bounded_memory(tmp_path):
    """Peak memory does not grow with the input: 3x the lines, about the same peak."""
    # VmHWM is this process's own peak; ru_maxrss would include the forked copy of pytest.
    code = ("import sys; from runtime.predict import main; status = main(sys.argv[1:]); "
            "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]; "
            "print(peak, file=sys.stderr); sys.exit(status)")
    peaks = []
    for n in (210000, 630000):
        path = write_lines(tmp_path / f"{n}.txt", [b"01" * 25, b"1" * 50, b"0" * 50] * (n // 3))
        done = subprocess.run([sys.executable, "-c", code, str(path), "--format", "csv"],
                              capture_output=True, timeout=120)
        assert done.returncode == 0
        assert done.stdout.count(b"\n") == n + 1 and done.stdout.endswith(b",0,0\n")
        peaks.append(int(done.stderr.decode().strip().splitlines()[-1]) / 1024)  # MB
    # The larger input is 20 MB more bytes in and 9 MB more out; none of it may stay resident.
    assert peaks[1] - peaks[0] < 10, peaks
