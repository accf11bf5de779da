"""The command line with its standard streams closed, odd arguments and paths it cannot look
at: one line on standard error (when there is one), a documented status, no traceback.

Closed streams and models need the real command; arguments and messages are run in this
process on the fake model (``predict_fake``)."""

import os
import subprocess
import sys

import pytest

from conftest import copy_model

pytestmark = pytest.mark.runtime

RESULT = b"2\t0\n3\t1\n"


def predict(*args, close=(), **kwargs):
    """Run the command with the descriptors in ``close`` closed, as ``>&-`` would."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    preexec = (lambda: [os.close(fd) for fd in close]) if close else None
    return subprocess.run([sys.executable, "-m", "runtime.predict", *map(str, args)], timeout=120,
                          preexec_fn=preexec, **kwargs)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"0110\n111\n")
    return path


# --- closed standard streams ---------------------------------------------------------------------

def test_closed_standard_output(tmp_path, data):
    """``>&-`` gave an AttributeError traceback."""
    done = predict(data, close=[1], stdout=None)
    assert done.returncode == 2
    assert done.stderr == b"runtime.predict: cannot write <stdout>: Bad file descriptor\n"
    out = tmp_path / "out.txt"
    done = predict(data, "-o", out, close=[1], stdout=None)
    assert (done.returncode, done.stderr, out.read_bytes()) == (0, b"", RESULT)


def test_closed_standard_input(data):
    """``<&-`` gave a traceback."""
    done = predict(close=[0], stdin=None)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == b"runtime.predict: cannot read <stdin>: Bad file descriptor\n"
    done = predict(data, close=[0], stdin=None)
    assert (done.returncode, done.stdout, done.stderr) == (0, RESULT, b"")


def test_closed_standard_error(tmp_path, data):
    """``2>&-`` printed nothing and exited 1 on valid input. Nor may a file opened later take
    descriptor 2, where LiteRT's messages would land in it."""
    done = predict(data, close=[2], stderr=None)
    assert (done.returncode, done.stdout) == (0, RESULT)
    out = tmp_path / "out.txt"
    done = predict(data, "-o", out, "--backend", "tflite", close=[2], stderr=None)
    assert (done.returncode, done.stdout, out.read_bytes()) == (0, b"", RESULT)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"01x\n")
    assert predict(bad, close=[2], stderr=None).returncode == 1


def test_all_three_closed(tmp_path, data):
    out = tmp_path / "out.txt"
    done = predict(data, "-o", out, close=[0, 1, 2], stdin=None, stdout=None, stderr=None)
    assert (done.returncode, out.read_bytes()) == (0, RESULT)


# --- arguments -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--batch-size", "\uff14"], "argument --batch-size: expected a positive integer, got '\uff14'"),
    (["--batch-size", " 4"], "argument --batch-size: expected a positive integer, got ' 4'"),
    (["--batch-size", "+4"], "argument --batch-size: expected a positive integer, got '+4'"),
    (["--threads", "4_0"], "argument --threads: expected a positive integer, got '4_0'"),
    (["--threads", "\u0664"], "argument --threads: expected a positive integer, got '\u0664'"),
    (["--threads", "100000"], "argument --threads: expected a positive integer up to 256, got '100000'"),
    (["--batch-size", "99999999999"], "argument --batch-size: expected a positive integer up to 16384"),
    ([""], "argument FILE: expected a path, got an empty one"),
    (["--model", ""], "argument --model: expected a path, got an empty one"),
])
def test_numbers_in_ascii_digits_within_bounds(predict_fake, data, args, message):
    """``--batch-size \uff14`` (a full-width 4) was accepted."""
    status, out, err = predict_fake(args, stdin=data)
    assert (status, out) == (2, b"")
    assert err.startswith(f"runtime.predict: {message}")
    assert err.count("\n") == 1


def test_bounds_are_accepted(predict_fake, data):
    assert predict_fake([data, "--threads", "256", "--batch-size", "16384"]) == (0, RESULT, "")
    assert (predict_fake.loads[-1]["threads"], predict_fake.loads[-1]["batch_size"]) == (256, 16384)


# --- models that cannot be looked at ----------------------------------------------------------------

def test_a_model_name_too_long(data):
    done = predict(data, "--model", "x" * 300)
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode() == (f"runtime.predict: {'x' * 300}: cannot look for a model there: "
                                    "File name too long\n")


def test_a_model_in_a_directory_the_user_cannot_enter(unprivileged, data):
    prefix, home = unprivileged
    (home / "in.txt").write_bytes(data.read_bytes())
    copy_model(home / "locked" / "m")
    (home / "locked").chmod(0o000)
    done = subprocess.run([*prefix, sys.executable, "-m", "runtime.predict", "in.txt", "--model",
                           "locked/m"], capture_output=True, timeout=120, cwd=home)
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr == b"runtime.predict: locked/m: cannot look for a model there: Permission denied\n"


def test_control_characters_in_a_message_stay_on_one_line(predict_fake, tmp_path):
    name = tmp_path / "two\nlines\r.txt"
    name.write_bytes(b"0x\n")
    status, _, err = predict_fake([name])
    assert status == 1
    shown = str(name).replace("\n", "\\n").replace("\r", "\\r")
    assert err == f"{shown}:1:2: invalid character 'x' (U+0078); expected 0 or 1\n"
