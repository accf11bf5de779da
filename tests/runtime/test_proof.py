"""runtime.proof in numpy alone: the folded map's proof against brute force, and the
recurrent proof's affine form against the network it describes."""

import itertools

import numpy as np
import pytest

from runtime.proof import UNIT_ROUNDOFF, certify_affine, certify_recurrent, gamma, linear_form

pytestmark = pytest.mark.runtime


def all_strings(n_bits):
    return np.array(list(itertools.product((0, 1), repeat=n_bits)), np.uint8)


def counts_of(bits):
    return bits.sum(axis=1)


def analytic_folded(n_bits=50, width=0.5):
    """The soft targets' optimum for an exact counter: ``z_k = (k y - k^2 / 2) / width^2``."""
    k = np.arange(n_bits + 1)
    gains = np.tile(k / width ** 2, (n_bits, 1)).astype(np.float32)
    base = (-(k ** 2) / 2 / width ** 2).astype(np.float32)
    return gains, base


def near_counter(n_bits, seed, units=4):
    """A small non-negative near-integrator with a readout fitted by least squares."""
    rng = np.random.default_rng(seed)
    kernel = rng.uniform(0.5, 1.0, (1, units)).astype(np.float32)
    recurrent = (np.diag(rng.uniform(0.97, 1.03, units))
                 + rng.uniform(0, 0.01 / units, (units, units))).astype(np.float32)
    bits = all_strings(n_bits)
    state = np.zeros((len(bits), units))
    for t in range(n_bits):
        state = np.maximum(bits[:, t:t + 1] * kernel + state @ recurrent, 0)
    u = np.linalg.lstsq(np.c_[state, np.ones(len(bits))], counts_of(bits), rcond=None)[0]
    k = np.arange(n_bits + 1)
    dense_kernel = (u[:-1, None] * k[None, :] / 0.25).astype(np.float32)
    dense_bias = ((k * u[-1] - k ** 2 / 2) / 0.25).astype(np.float32)
    return kernel, recurrent, None, dense_kernel, dense_bias


def top2_margin(logits, counts):
    truth = np.take_along_axis(logits, counts[:, None], axis=1)[:, 0]
    rival = np.where(np.eye(logits.shape[1], dtype=bool)[counts], -np.inf, logits).max(axis=1)
    return (truth - rival).min()


def test_the_analytic_folded_counter_is_proved_with_its_known_margin():
    certificate = certify_affine(*analytic_folded())
    assert certificate.applicable and certificate.proved
    assert certificate.margin == pytest.approx(2.0, abs=1e-9)
    assert 0 < certificate.rounding < certificate.margin
    assert certificate.slack == pytest.approx(certificate.margin - certificate.rounding)


@pytest.mark.parametrize("seed", range(3))
def test_folded_margin_is_the_smallest_gap_over_every_string(seed):
    weights = near_counter(10, seed)
    gains, base = linear_form(*weights).folded()
    certificate = certify_affine(gains, base)
    bits = all_strings(10)
    logits = bits.astype(np.float64) @ gains.astype(np.float64) + base.astype(np.float64)
    assert certificate.proved == bool((logits.argmax(axis=1) == counts_of(bits)).all())
    assert certificate.margin == pytest.approx(top2_margin(logits, counts_of(bits)), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_the_linear_form_is_the_network(seed):
    """Where the proof holds, the network's float32 logits are the affine map's, within the
    round-off bound the proof carries."""
    weights = near_counter(10, seed)
    form = linear_form(*weights)
    kernel, recurrent, _, dense_kernel, dense_bias = weights
    bits = all_strings(10)
    state = np.zeros((len(bits), recurrent.shape[0]), np.float32)
    for t in range(10):
        state = np.maximum(bits[:, t:t + 1].astype(np.float32) * kernel + state @ recurrent, 0)
    logits = state @ dense_kernel + dense_bias
    affine = bits @ form.gains + form.base
    assert (np.abs(logits - affine) <= form.error).all()
    # Folding rounds each gain and base to float32, which moves a margin by at most:
    moved = UNIT_ROUNDOFF * 2 * (np.abs(form.gains).sum(axis=0).max() + np.abs(form.base).max())
    assert certify_recurrent(*weights).margin == pytest.approx(
        certify_affine(*form.folded()).margin, abs=moved)


def test_a_perturbed_folded_map_is_refused_and_the_named_pair_really_fails():
    gains, base = analytic_folded()
    gains[0, 30] += np.float32(2.5)  # a string with 29 ones, bit 0 among them, reads as 30
    certificate = certify_affine(gains, base)
    assert certificate.applicable and not certificate.proved
    count, rival = certificate.worst
    assert f"strings with {count} ones can be read as {rival}" in certificate.reason
    string = np.zeros(50, np.float64)
    string[:count] = 1  # bit 0 set, and the count the proof names
    assert (string @ gains + base).argmax() == rival


def test_folded_round_off_is_not_waved_away():
    # Exact in real arithmetic with biases near 2**23, where float32 steps are whole numbers
    # and neighbouring counts are only 2 apart.
    gains, base = analytic_folded()
    shifted = (base.astype(np.float64) + 2.0 ** 23).astype(np.float32)
    certificate = certify_affine(gains, shifted)
    assert certificate.margin == pytest.approx(2.0, abs=1e-9)
    assert not certificate.proved and certificate.rounding > certificate.margin


def test_the_folded_allowance_is_gamma_n_of_the_terms():
    gains, base = analytic_folded()
    certificate = certify_affine(gains, base)
    k, j = certificate.worst
    a, c = gains.astype(np.float64), base.astype(np.float64)
    top = lambda col: np.sort(np.abs(a[:, col]))[::-1][:k].sum()
    bound = gamma(50) * (top(k) + abs(c[k]) + top(j) + abs(c[j]))
    assert certificate.rounding == pytest.approx(bound, rel=1e-6)


def test_a_folded_map_of_the_wrong_shape_or_type_is_refused():
    gains, base = analytic_folded()
    with pytest.raises(ValueError, match="n bits to n \\+ 1 logits"):
        certify_affine(gains[:, :-1], base[:-1])
    with pytest.raises(ValueError, match="float32"):
        certify_affine(gains.astype(np.float64), base)
    gains[3, 3] = np.nan
    assert not certify_affine(gains, base).proved
