"""The chapter's model and its unrolled twin."""

import numpy as np
import pytest

from train import config
from train.data import make_bits, to_inputs
import keras

from train.model import (CELLS, INIT_COUPLING, INIT_SPREAD, build_model, loop_form,
                         recurrent_init, unrolled_twin)

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics


def test_cli_cells_match_the_model_cells():
    assert config.CELLS == CELLS


@pytest.mark.parametrize("cell", CELLS)
def test_shapes_and_dtypes(cell):
    model = build_model(cell, hidden_units=8, seed=0)
    assert model.input_shape == (None, 50, 1)
    assert model.output_shape == (None, 51)
    logits = model.predict(to_inputs(make_bits(5, seed=0, stratified_fraction=0.5)), verbose=0)
    assert logits.shape == (5, 51) and logits.dtype == np.float32


def test_default_is_the_chapters_elman_relu_layer():
    model = build_model(seed=0)
    layer = model.get_layer("rnn")
    assert type(layer).__name__ == "SimpleRNN"
    assert layer.units == 24 and layer.activation.__name__ == "relu"
    assert layer.return_sequences is False


def test_the_elman_layer_has_no_bias_and_non_negative_weights():
    layer = build_model(seed=0).get_layer("rnn")
    assert layer.use_bias is False
    assert isinstance(layer.cell.kernel_constraint, keras.constraints.NonNeg)
    assert isinstance(layer.cell.recurrent_constraint, keras.constraints.NonNeg)
    kernel, recurrent = layer.get_weights()
    assert (kernel >= 0).all() and (recurrent >= 0).all()


def test_the_start_is_a_bank_of_near_integrators_none_of_which_counts():
    kernel, recurrent = recurrent_init(24, seed=0)
    diagonal = np.diag(recurrent)
    assert ((diagonal > 1 - INIT_SPREAD) & (diagonal < 1 + INIT_SPREAD + INIT_COUPLING / 24)).all()
    off = recurrent[~np.eye(24, dtype=bool)]
    assert (off >= 0).all() and off.max() < INIT_COUPLING / 24
    # Some units fade and some grow over 50 steps: none keeps a one at weight 1.
    gains = diagonal ** 49
    assert gains.min() < 0.5 and gains.max() > 2


def test_leading_zeros_leave_the_state_at_exactly_zero():
    model = build_model(seed=0)
    state = keras.Model(model.inputs, model.get_layer("rnn").output)
    bits = np.zeros((1, 50), np.uint8)
    assert not state.predict(to_inputs(bits), verbose=0).any()


def with_random_readout(model, seed):
    rng = np.random.default_rng(seed)
    model.get_layer("logits").set_weights([w + rng.normal(size=w.shape).astype(np.float32)
                                           for w in model.get_layer("logits").get_weights()])
    return model


@pytest.mark.parametrize("cell", CELLS)
def test_unrolled_twin_gives_the_same_logits(cell, assert_logits_close):
    model = with_random_readout(build_model(cell, hidden_units=8, seed=1), 1)
    twin = unrolled_twin(model)
    assert twin.get_layer("rnn").unroll and not model.get_layer("rnn").unroll
    inputs = to_inputs(make_bits(64, seed=1, stratified_fraction=0.5))
    # Two graphs of the same weights: the same sums, possibly in another order.
    assert_logits_close(twin.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_same_seed_same_initial_weights():
    a, b = build_model(seed=5), build_model(seed=5)
    c = build_model(seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_the_chapters_cell_with_a_bias_still_builds_and_twins(assert_logits_close):
    model = with_random_readout(build_model(hidden_units=4, recurrent_bias=True), 2)
    assert model.get_layer("rnn").use_bias
    inputs = to_inputs(make_bits(16, seed=2, stratified_fraction=0.5))
    for copy in (unrolled_twin(model), loop_form(model)):
        assert copy.get_layer("rnn").use_bias
        assert_logits_close(copy.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        build_model("transformer")

