"""The command line ended by a signal at any moment: quietly, with status 128 + the signal,
the previous ``--output`` file as it was and no temporary file left beside it.

The moments are made exact rather than timed: the process sends itself the signal when it
reaches a given import (while its own imports run, while the model's are made, once the
output file is being written), or right after the temporary file is created.
"""

import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.runtime

AT_IMPORT = r"""
import os, runpy, signal, sys
module, signame = sys.argv[1], sys.argv[2]

class Trip:  # sends the signal when ``module`` is first imported
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, signame))
        return None

sys.meta_path.insert(0, Trip())
sys.argv = ["runtime.predict", *sys.argv[3:]]
runpy.run_module("runtime.predict", run_name="__main__", alter_sys=True)
"""

AT_CREATE = r"""
import os, runpy, signal, sys
import runtime.cli.output as output

create = output.create_beside

def create_then_signal(*args):
    made = create(*args)
    os.kill(os.getpid(), signal.SIGTERM)  # the file exists; its name is not recorded yet
    return made

output.create_beside = create_then_signal
sys.argv = ["runtime.predict", *sys.argv[1:]]
runpy.run_module("runtime.predict", run_name="__main__", alter_sys=True)
"""


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "in.txt"
    data.write_bytes(b"0110\n" * 1000)
    out = tmp_path / "out.txt"
    out.write_bytes(b"previous\n")
    return tmp_path, data, out


def left_behind(directory):
    return sorted(p.name for p in directory.iterdir() if p.name not in ("in.txt", "out.txt"))


# runtime.cli.streams: among the command's own first imports; numpy: the model's, inside argument
# parsing; runtime.cli.formats: once the output file is being written.
@pytest.mark.parametrize("module", ["runtime.cli.streams", "numpy", "runtime.cli.formats"])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_at_any_moment_ends_quietly(files, module, signame):
    """Ctrl-C while the command's own imports ran printed a KeyboardInterrupt traceback (and
    inside numpy's, numpy's 'bad install' message); SIGTERM and SIGHUP left a hidden
    ``.out.txt.<hex>.tmp`` beside the output file."""
    directory, data, out = files
    done = subprocess.run([sys.executable, "-c", AT_IMPORT, module, signame, data, "-o", out],
                          capture_output=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (128 + getattr(signal, signame), b"", b"")
    assert out.read_bytes() == b"previous\n"
    assert left_behind(directory) == []


def test_a_signal_between_creating_the_temporary_file_and_recording_it(files):
    directory, data, out = files
    done = subprocess.run([sys.executable, "-c", AT_CREATE, data, "-o", out], capture_output=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (128 + signal.SIGTERM, b"")
    assert out.read_bytes() == b"previous\n"
    assert left_behind(directory) == []


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_mid_stream(files, signame):
    """Lines arrive on a pipe; once the output file is being written, the signal comes."""
    directory, _, out = files
    proc = subprocess.Popen([sys.executable, "-m", "runtime.predict", "-o", str(out)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write((b"01" * 25 + b"\n") * 1000)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not left_behind(directory) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left_behind(directory), "the temporary output file never appeared"
    time.sleep(0.2)  # well into the loop that reads, predicts and writes
    proc.send_signal(getattr(signal, signame))
    status = proc.wait(timeout=60)
    err = proc.stderr.read()
    proc.stdin.close()
    assert (status, err) == (128 + getattr(signal, signame), b"")
    assert out.read_bytes() == b"previous\n"
    assert left_behind(directory) == []


def test_an_ignored_signal_stays_ignored(files):
    """As under nohup: SIGHUP ignored when the command starts is not taken over."""
    directory, data, out = files
    code = ("import signal, subprocess, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
            "sys.exit(subprocess.call([sys.executable, '-c', sys.argv[1], 'numpy', 'SIGHUP', "
            "*sys.argv[2:]]))")
    done = subprocess.run([sys.executable, "-c", code, AT_IMPORT, data, "-o", out], capture_output=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (0, b"")
    assert out.read_bytes() == b"2\t0\n" * 1000
    assert left_behind(directory) == []
