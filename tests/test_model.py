"""The chapter's model and its unrolled twin."""

import numpy as np
import pytest

from train import config
from train.data import make_bits, to_inputs
from train.model import CELLS, build_model, unrolled_twin


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


@pytest.mark.parametrize("cell", CELLS)
def test_unrolled_twin_gives_the_same_logits(cell):
    model = build_model(cell, hidden_units=8, seed=1)
    twin = unrolled_twin(model)
    assert twin.get_layer("rnn").unroll and not model.get_layer("rnn").unroll
    inputs = to_inputs(make_bits(64, seed=1, stratified_fraction=0.5))
    np.testing.assert_allclose(twin.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_same_seed_same_initial_weights():
    a, b = build_model(seed=5), build_model(seed=5)
    c = build_model(seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        build_model("transformer")

