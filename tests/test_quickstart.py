"""The README's quick start, run exactly as written."""

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_the_quick_start_is_train_export_then_predict_on_the_shipped_example():
    commands = quick_start_commands()
    assert commands[0] == "make train export"
    assert commands[1] == ".venv/bin/python -m runtime.predict examples/bits.txt"


def test_the_runtime_command_runs_as_written():
    """The second line, typed as it stands in the README, from the repository's root: it
    counts the example file right (with ./artifacts when an export is there, else the
    model shipped in the package)."""
    command = quick_start_commands()[1]
    result = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = (ROOT / "examples" / "bits.txt").read_text().splitlines()
    expected = [f"{line.count('1')}\t{line.count('1') % 2}" for line in lines]
    assert result.stdout.splitlines() == expected
    assert result.stderr == ""


def test_make_targets_say_what_to_run_next():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("train", "export", "default-model", "test", "bench", "evidence"):
        recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert "next: " in recipe, target
