"""Every command line of the project says a bad option in one line and exits 2, and still
answers --help; a UsageError is said the same way (runtime.cli.args.run_main)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

COMMANDS = ["runtime.predict", "runtime.verify", "runtime.batch", "train", "export", "train.certify",
            "train.evaluate", "export.soak", "export.add_folded", "export.publish_default", "bench",
            "bench.recipe"]


def run_module(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


@pytest.mark.parametrize("module", COMMANDS)
def test_a_bad_option_is_one_line_and_exit_2(module):
    done = run_module(module, "--no-such-option")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"{module}: ") and done.stderr.endswith(" (see --help)\n")
    assert done.stderr.count("\n") == 1 and ("--no-such-option" in done.stderr
                                             or "the following arguments are required" in done.stderr)


@pytest.mark.parametrize("module", COMMANDS)
def test_help_still_works(module):
    done = run_module(module, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m {module}")


def test_a_usage_error_is_exit_2_everywhere():
    from runtime import UsageError
    from runtime.cli.args import run_main

    def body():
        raise UsageError("threads must be a positive integer, got 0")

    said = []
    assert run_main("runtime.predict", body, report=said.append) == 2
    assert said == ["runtime.predict: threads must be a positive integer, got 0"]


def test_run_main_maps_each_error_to_its_status():
    from runtime import ClusterError, InputError, ModelError
    from runtime.cli.args import Fail, run_main

    cases = [(InputError("data.txt:3:7: invalid character"), 1, "data.txt:3:7: invalid character"),
             (ModelError("no manifest"), 1, "prog: no manifest"),
             (ClusterError("no cluster"), 3, "prog: no cluster"),
             (Fail("prog: cannot read x", 2), 2, "prog: cannot read x")]
    for error, status, line in cases:
        said = []

        def body(error=error):
            raise error

        assert run_main("prog", body, report=said.append) == status
        assert said == [line]

    def interrupted():
        raise KeyboardInterrupt

    said = []
    assert run_main("prog", interrupted, report=said.append) == 130 and said == []


# One parser for every number option: finite, in range, ASCII, refused at parsing (exit 2,
# one line, before any work: before Ray starts, before TensorFlow is imported).
BAD_NUMBERS = [
    ("runtime.predict", "--batch-size", "\uff14"), ("runtime.predict", "--threads", "100000"),
    ("runtime.batch", "--batch-size", "\uff14"), ("runtime.batch", "--batch-size", "+4"),
    ("runtime.batch", "--batch-size", " 4"), ("runtime.batch", "--batch-size", "100000"),
    ("runtime.batch", "--workers", "\uff14"), ("runtime.batch", "--workers", "0"),
    ("train", "--target-width", "nan"), ("train", "--target-width", "inf"), ("train", "--seed", "\uff14"),
    ("train", "--epochs", "1_0"), ("export", "--variant-min-gap", "nan"), ("export", "--variant-min-gap", "-inf"),
    ("export", "--batch-sizes", "1,+2"), ("export", "--seed", " 4"), ("export.soak", "--strings", "\uff14"),
    ("export.add_folded", "--soak", "+4"), ("train.evaluate", "--batch-size", "4.0"),
]


@pytest.mark.parametrize("module, option, value", BAD_NUMBERS)
def test_every_number_option_is_finite_in_range_and_ascii(module, option, value):
    done = run_module(module, f"{option}={value}", "x")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and f"argument {option}: expected" in done.stderr, done.stderr
    assert repr(value) in done.stderr


@pytest.mark.parametrize("text, value", [("4", 4), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), (".5", 0.5)])
def test_the_number_parsers_take_plain_ascii_numbers(text, value):
    from runtime.cli.args import integer, number

    parse = integer(None) if isinstance(value, int) else number()
    assert parse(text) == value
