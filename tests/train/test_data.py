"""Generated strings and their labels."""

import numpy as np
import pytest

from train.data import (CHAPTER_EXAMPLE, N_BITS, clustered_bits, count_ones, edge_case_bits,
                        make_bits, mix_bits, padded_bits, random_run_bits, run_bits,
                        stratified_bits, to_inputs, uniform_bits)


def test_labels_are_the_number_of_ones():
    bits = make_bits(2_000, seed=3, stratified_fraction=0.5, clustered_fraction=0.2)
    assert bits.dtype == np.uint8 and bits.shape == (2_000, N_BITS)
    assert set(np.unique(bits)) <= {0, 1}
    counts = count_ones(bits)
    assert counts.dtype == np.int64
    assert np.array_equal(counts, [sum(int(b) for b in row) for row in bits])


@pytest.mark.parametrize("make", [
    lambda rng: stratified_bits(20_000, rng),
    lambda rng: clustered_bits(20_000, rng),
    lambda rng: mix_bits(20_000, rng, stratified_fraction=0.3, clustered_fraction=0.3),
])
def test_stratified_families_cover_every_count(make):
    counts = count_ones(make(np.random.default_rng(0)))
    assert set(counts.tolist()) == set(range(N_BITS + 1))


def test_uniform_strings_rarely_reach_the_extremes():
    # Why the stratified and clustered families exist at all.
    counts = count_ones(uniform_bits(20_000, np.random.default_rng(0)))
    assert counts.min() > 5 and counts.max() < 45


def test_given_counts_are_respected():
    rng = np.random.default_rng(1)
    wanted = np.repeat(np.arange(N_BITS + 1), 3)
    assert np.array_equal(count_ones(stratified_bits(len(wanted), rng, counts=wanted)), wanted)
    assert np.array_equal(count_ones(clustered_bits(len(wanted), rng, counts=wanted)), wanted)


def test_clustered_strings_include_runs_at_both_ends():
    bits = clustered_bits(50_000, np.random.default_rng(2))
    counts = count_ones(bits)
    middle = (counts > 5) & (counts < 45)
    positions = np.arange(N_BITS)
    prefix = (bits == (positions < counts[:, None])).all(axis=1) & middle
    suffix = (bits == (positions >= N_BITS - counts[:, None])).all(axis=1) & middle
    assert prefix.sum() > 10 and suffix.sum() > 10


def test_padded_strings_are_short_strings_behind_zeros():
    bits = padded_bits(20_000, np.random.default_rng(3))
    first_one = np.where(bits.any(axis=1), bits.argmax(axis=1), N_BITS)
    # Every length 1..50 occurs, so the first possible one ranges over all positions.
    assert set(first_one.tolist()) >= set(range(N_BITS))
    short = bits[:, :40].sum(axis=1) == 0
    assert 0.15 < short.mean() < 0.3  # lengths <= 10: about a fifth


def test_same_seed_same_strings_other_seed_other_strings():
    a = make_bits(500, seed=7, stratified_fraction=0.4, clustered_fraction=0.3)
    b = make_bits(500, seed=7, stratified_fraction=0.4, clustered_fraction=0.3)
    c = make_bits(500, seed=8, stratified_fraction=0.4, clustered_fraction=0.3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mix_fractions_are_checked():
    with pytest.raises(ValueError, match="stratified_fraction"):
        make_bits(10, seed=0, stratified_fraction=1.5)
    with pytest.raises(ValueError, match="at most 1"):
        make_bits(10, seed=0, stratified_fraction=0.7, clustered_fraction=0.7)


def test_to_inputs_shape_and_dtype():
    bits = make_bits(4, seed=0, stratified_fraction=0.0)
    inputs = to_inputs(bits)
    assert inputs.shape == (4, N_BITS, 1) and inputs.dtype == np.float32
    assert np.array_equal(inputs[:, :, 0], bits)


def test_edge_cases_have_the_expected_counts():
    cases = edge_case_bits()
    expected = {
        "all_zeros": [0], "all_ones": [N_BITS],
        "single_one": [1] * N_BITS, "single_zero": [N_BITS - 1] * N_BITS,
        "alternating": [N_BITS // 2, N_BITS // 2],
        "prefix_ones": list(range(N_BITS + 1)), "suffix_ones": list(range(N_BITS + 1)),
        "chapter_example": [31],
    }
    assert set(cases) == set(expected)
    for name, bits in cases.items():
        assert bits.dtype == np.uint8 and bits.shape[1] == N_BITS, name
        assert count_ones(bits).tolist() == expected[name], name
    # The chapter claims 30 ones for its example; the string holds 31 (odd parity).
    assert CHAPTER_EXAMPLE.count("1") == 31
    assert count_ones(cases["chapter_example"])[0] % 2 == 1
    # Prefixes start at the first bit, suffixes end at the last.
    assert cases["prefix_ones"][1, 0] == 1 and cases["suffix_ones"][1, -1] == 1


def is_one_run(row):
    return np.count_nonzero(np.diff(np.r_[0, row, 0])) <= 2


def test_run_bits_is_every_single_run_once():
    bits = run_bits()
    assert len(bits) == 1 + N_BITS * (N_BITS + 1) // 2 == len({row.tobytes() for row in bits})
    assert all(is_one_run(row) for row in bits)
    counts = count_ones(bits)
    # Count k starts at each of N_BITS - k + 1 places.
    assert all((counts == k).sum() == N_BITS - k + 1 for k in range(1, N_BITS + 1))


def test_random_run_bits_are_single_runs_of_every_count():
    bits = random_run_bits(20_000, np.random.default_rng(4))
    assert all(is_one_run(row) for row in bits[:2_000])
    assert set(count_ones(bits).tolist()) == set(range(N_BITS + 1))
    first = np.where(bits.any(axis=1), bits.argmax(axis=1), -1)
    assert first.max() == N_BITS - 1 and (first == 0).sum() > 100
