"""The parity check on fake backends: what passes, what fails, and the figures it reports.

No TensorFlow and no model files: the backends are stand-ins with the runtime's surface.
"""

from __future__ import annotations

import numpy as np
import pytest

from export.comparison import ATOL, RTOL
from export.parity import check_parity, parity_inputs
from runtime.errors import ModelError
from train.data import count_ones
from conftest import FakeBackend

N_BITS = 50


@pytest.fixture(scope="module")
def sets():
    return parity_inputs(N_BITS, seed=0, n_random=300, per_count=2)


def test_inputs_cover_every_count_and_the_edge_cases(sets):
    assert set(sets) == {"uniform", "per_count", "edge_cases", "padded"}
    assert sets["padded"].shape == (300, N_BITS)
    assert (~sets["padded"][:, :40].any(axis=1)).sum() > 30  # many short strings
    assert set(count_ones(sets["per_count"]).tolist()) == set(range(N_BITS + 1))
    assert sets["uniform"].shape == (300, N_BITS) and sets["uniform"].dtype == np.uint8
    again = parity_inputs(N_BITS, seed=0, n_random=300, per_count=2)
    assert all(np.array_equal(sets[k], again[k]) for k in sets)  # seeded


def test_identical_candidates_pass_at_every_batch_size(sets):
    tflite = FakeBackend(name="tflite")
    result = check_parity(FakeBackend(name="keras"), {"tflite": lambda: tflite, "onnx": lambda: FakeBackend(name="onnx")},
                          sets, batch_sizes=(1, 7, 256, 4096))
    assert result and result.passed
    sizes = [shape[0] for shape in tflite.calls]
    assert max(sizes) == sum(len(v) for v in sets.values()) and 1 in sizes and 7 in sizes
    comp = result.comparisons[0]
    assert comp.max_abs_diff == 0.0 and comp.count_agreement == 1.0 and comp.count_accuracy == 1.0
    assert comp.min_reference_gap == 1.0
    assert "PASSED" in comp.line()
    assert [c.gating for c in result.comparisons] == [True, True, False]  # tflite vs onnx: reported


def test_small_noise_within_atol_passes(sets):
    noise = lambda logits, counts: logits + ATOL / 2
    assert check_parity(FakeBackend(name="keras"), {"onnx": lambda: FakeBackend(name="onnx", distort=noise)}, sets, (256,))


def test_difference_above_tolerance_fails_even_when_counts_agree(sets):
    # The fake's rows reach |logit| 50 at most: the tolerance is at most ATOL + 50 * RTOL.
    shift = lambda logits, counts: logits + 3 * (ATOL + 50 * RTOL)
    result = check_parity(FakeBackend(name="keras"), {"onnx": lambda: FakeBackend(name="onnx", distort=shift)}, sets, (7, 256))
    assert not result
    comp = result.comparisons[0]
    assert comp.count_agreement == 1.0 and comp.tolerance_used > 2.9
    assert comp.max_abs_diff == pytest.approx(3 * (ATOL + 50 * RTOL), rel=0.05)
    assert "FAILED" in comp.line() and "times the tolerance" in comp.failures()[0]


def test_tolerance_scales_with_the_rows_largest_logit(sets):
    # Logits in the thousands, as a trained SimpleRNN gives: round-off beyond ATOL passes
    # when it is small beside the row's scale, and fails under a plain absolute limit.
    big = lambda logits, counts: 1000 * logits
    noisy = lambda logits, counts: 1000 * logits * (1 + 2e-7)
    loaders = {"tflite": lambda: FakeBackend(name="tflite", distort=noisy)}
    result = check_parity(FakeBackend(name="keras", distort=big), loaders, sets, (256,))
    comp = result.comparisons[0]
    assert result and comp.max_abs_diff > ATOL and 1e-7 < comp.max_scaled_diff < 1e-6
    assert not check_parity(FakeBackend(name="keras", distort=big), loaders, sets, (256,), rtol=0.0)


def test_a_flipped_count_fails_and_is_shown(sets):
    def flip_all_zeros(logits, counts):
        logits = logits.copy()
        logits[counts == 0, 1] = 1.0  # says 1 where the reference says 0
        return logits

    result = check_parity(FakeBackend(name="keras"), {"tflite": lambda: FakeBackend(name="tflite", distort=flip_all_zeros)},
                          sets, (1, 4096))
    assert not result
    comp = result.comparisons[0]
    assert comp.count_agreement < 1.0
    example = comp.examples[0]
    assert example["reference_count"] == 0 and example["count"] == 1 and example["true_count"] == 0


def test_a_candidate_that_cannot_load_fails_with_its_message(sets):
    def load():
        raise ModelError("model.tflite: LiteRT cannot load the model: bad magic")

    result = check_parity(FakeBackend(name="keras"), {"tflite": load, "onnx": lambda: FakeBackend(name="onnx")}, sets, (256,))
    assert not result
    failed, passed = result.comparisons[:2]
    assert "bad magic" in failed.line() and not failed.passed and passed.passed
    assert result.to_dict()["comparisons"][0]["error"].startswith("ModelError")
