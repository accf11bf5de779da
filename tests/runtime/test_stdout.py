"""Standard output full or closed, for every command line: one line on standard error,
``cannot write <stdout>: REASON``, status 2; never a traceback, "Exception ignored" or a
silent success."""

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.runtime

COMMANDS = ["runtime.predict", "runtime.verify", "runtime.batch", "train", "train.certify",
            "train.evaluate", "export", "export.soak", "export.add_folded", "export.publish_default"]


def run(args, stdout):
    return subprocess.run([sys.executable, "-m", *args], stdin=subprocess.DEVNULL, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_to_a_full_standard_output_is_one_line_and_status_2(command):
    if importlib.util.find_spec(command.split(".")[0]) is None:
        pytest.skip(f"{command} is not installed here")
    with open("/dev/full", "wb") as full:
        done = run([command, "--help"], full)
    err = done.stderr.decode()
    assert done.returncode == 2, (done.returncode, err)
    assert err == f"{command}: cannot write <stdout>: No space left on device\n", err


@pytest.mark.parametrize("where", ["full", "closed"])
def test_verify_says_when_its_verdict_cannot_be_written(where):
    if where == "full":
        with open("/dev/full", "wb") as full:
            done = run(["runtime.verify"], full)
        reason = "No space left on device"
    else:
        done = subprocess.run(["sh", "-c", 'exec "$0" -m runtime.verify >&-', sys.executable],
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        reason = "Bad file descriptor"
    err = done.stderr.decode()
    assert done.returncode == 2, (done.returncode, err)
    assert err == f"runtime.verify: cannot write <stdout>: {reason}\n", err
