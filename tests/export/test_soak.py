"""The soak: fresh strings of four families, every count compared with the truth."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from export.soak import FAMILIES, soak
from train.data import count_ones
import pytest

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics

REPO = Path(__file__).resolve().parents[2]


def exact(bits):
    return count_ones(bits)


def wrong_on_long_runs(bits):
    """Right except on strings holding 45 or more ones in a row."""
    counts = count_ones(bits)
    runs = np.array([max(map(len, "".join(map(str, row)).split("0"))) for row in bits])
    return np.where(runs >= 45, counts + 1, counts)


def test_every_family_gets_its_share_and_both_counters_the_same_strings():
    results = soak({"a": exact, "b": wrong_on_long_runs}, 20_000, seed=3)
    assert set(results) == {"a", "b"}
    for result in results.values():
        assert result["strings"] == 20_000 and result["seed"] == 3
        assert {name: f["n"] for name, f in result["families"].items()} == dict.fromkeys(FAMILIES, 5_000)
    assert results["a"]["errors"] == 0
    # Only the single-run family (and the odd stratified string) holds such runs.
    assert results["b"]["families"]["single_run"]["errors"] > 0
    assert results["b"]["families"]["uniform"]["errors"] == 0
    example = results["b"]["families"]["single_run"]["examples"][0]
    assert "1" * 45 in example and len(example) == 50


def test_the_same_seed_draws_the_same_strings_and_none_draws_a_fresh_one():
    first = soak({"b": wrong_on_long_runs}, 8_000, seed=11)["b"]
    again = soak({"b": wrong_on_long_runs}, 8_000, seed=11)["b"]
    assert first["families"] == again["families"]
    assert soak({"a": exact}, 400)["a"]["seed"] != soak({"a": exact}, 400)["a"]["seed"]


def test_soak_cli_on_the_shipped_model():
    result = subprocess.run([sys.executable, "-m", "export.soak", "--model", "runtime/model",
                             "--strings", "40000", "--seed", "1"], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tflite: 0 miscounts in 40,000 strings" in result.stdout
    assert "onnx: 0 miscounts in 40,000 strings" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "export.soak", "--strings", "0"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
