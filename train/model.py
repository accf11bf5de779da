"""The chapter's model in Keras 3: bits in, one recurrent layer, logits out.

``Input((n_bits, 1)) -> SimpleRNN(units, activation="relu") -> Dense(n_bits + 1)``.
The recurrent layer returns only its last step (``return_sequences=False``), as
the chapter's ``dynamic_rnn`` read-out did. ``cell`` swaps the Elman cell for a
GRU or an LSTM; everything else stays.
"""

from __future__ import annotations

import keras

CELLS = ("rnn", "gru", "lstm")


def build_model(cell: str = "rnn", hidden_units: int = 24, n_bits: int = 50,
                unroll: bool = False, seed: int | None = None) -> keras.Model:
    """Build an untrained count-the-ones model.

    ``unroll=True`` builds the same layers as a chain of ``n_bits`` steps instead of a
    loop. The weights are interchangeable; the unrolled twin is what converts to
    builtin TFLite ops with a dynamic batch (see ``export``).
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    init = keras.initializers.GlorotUniform(seed=seed)
    rec_init = keras.initializers.Orthogonal(seed=None if seed is None else seed + 1)
    common = dict(unroll=unroll, kernel_initializer=init, recurrent_initializer=rec_init, name="rnn")
    if cell == "rnn":
        recurrent = keras.layers.SimpleRNN(hidden_units, activation="relu", **common)
    elif cell == "gru":
        recurrent = keras.layers.GRU(hidden_units, **common)
    else:
        recurrent = keras.layers.LSTM(hidden_units, **common)
    inputs = keras.Input((n_bits, 1), name="bits", dtype="float32")
    hidden = recurrent(inputs)
    logits = keras.layers.Dense(n_bits + 1, name="logits",
                                kernel_initializer=keras.initializers.GlorotUniform(
                                    seed=None if seed is None else seed + 2))(hidden)
    return keras.Model(inputs, logits, name=f"count_ones_{cell}{hidden_units}")


def unrolled_twin(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with its recurrent layer unrolled, holding the same weights."""
    recurrent = model.get_layer("rnn")
    cell = {"SimpleRNN": "rnn", "GRU": "gru", "LSTM": "lstm"}[type(recurrent).__name__]
    n_bits = model.input_shape[1]
    twin = build_model(cell, recurrent.units, n_bits, unroll=True)
    twin.set_weights(model.get_weights())
    return twin
