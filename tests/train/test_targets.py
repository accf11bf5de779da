"""The soft ordinal targets: the loss has its optimum at the analytic counter's logits."""

import numpy as np
import pytest
import tensorflow as tf

from train.data import count_ones, make_bits
from train.model import build_model
from train.targets import OrdinalCrossEntropy, fit_readout, optimal_readout

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics


def logits_for(counts, width, n_classes=51):
    kernel, bias = optimal_readout(np.ones(1), 0.0, width, n_classes)
    return counts[:, None].astype(np.float64) * kernel.astype(np.float64) + bias


@pytest.mark.parametrize("width", [0.35, 0.5, 1.0])
def test_optimal_readout_counts_with_neighbours_half_over_width_squared_apart(width):
    counts = np.arange(51)
    logits = logits_for(counts, width)
    assert (logits.argmax(axis=1) == counts).all()
    top = np.sort(logits, axis=1)
    # float32 weights: the gaps are exact to float32 rounding of logits up to ~1e4.
    np.testing.assert_allclose(top[:, -1] - top[:, -2], 1 / (2 * width ** 2), rtol=1e-3)


def test_the_loss_is_smallest_at_the_optimal_readout():
    loss = OrdinalCrossEntropy(0.5, 51)
    counts = np.arange(51, dtype=np.float32)
    best = tf.constant(logits_for(counts, 0.5), tf.float32)
    at_best = float(loss(counts, best))
    rng = np.random.default_rng(0)
    for scale in (1e-2, 1.0):
        nudged = best + tf.constant(rng.normal(scale=scale, size=best.shape), tf.float32)
        assert float(loss(counts, nudged)) > at_best
    # A finite optimum: growing every margin (scaling the logits) makes it worse, unlike
    # one-hot cross-entropy, which keeps falling as the logits grow.
    assert float(loss(counts, best * 2)) > at_best
    one_hot = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(one_hot(counts, best * 2)) < float(one_hot(counts, best))


def test_fit_readout_makes_an_integrator_bank_count():
    model = build_model(seed=2)
    bits = make_bits(4_000, seed=5, stratified_fraction=0.3, clustered_fraction=0.3)
    fit = fit_readout(model, bits, 0.5)
    assert fit["strings"] == 4_000 and fit["rms_error"] < 0.01
    fresh = make_bits(4_000, seed=6, stratified_fraction=0.3, clustered_fraction=0.3)
    from train.data import to_inputs

    predicted = model.predict(to_inputs(fresh), verbose=0).argmax(axis=1)
    assert (predicted == count_ones(fresh)).all()
    kernel, bias = model.get_layer("logits").get_weights()
    # Shaped like the optimum: column k is k times column 1; bias_k ~ -k**2 / (2 width**2).
    np.testing.assert_allclose(kernel[:, 7], 7 * kernel[:, 1], rtol=1e-4, atol=1e-5)
    assert bias[50] == pytest.approx(-50 ** 2 / (2 * 0.25), rel=0.01)
