"""The chapter's model in Keras 3: bits in, one recurrent layer, logits out.

``Input((n_bits, 1)) -> SimpleRNN(units, activation="relu") -> Dense(n_bits + 1)``.
The recurrent layer returns only its last step (``return_sequences=False``), as
the chapter's ``dynamic_rnn`` read-out did. ``cell`` swaps the Elman cell for a
GRU or an LSTM; everything else stays.

The Elman cell differs from the chapter's in one detail, and is started in a
particular place:

- **No bias, and input and recurrent weights that cannot go negative** (a
  ``NonNeg`` constraint after every step). The state starts at zero and every
  term added to it is non-negative, so no pre-activation is ever negative and the
  ReLU never clips: the network is linear in the bits in every reachable state.
  That is what lets ``train.certify`` decide exactness over all 2**50 strings,
  and it makes leading zeros a no-op (the state stays exactly 0 through them), so
  a left-padded short string is read exactly like the string itself.
- **A bank of near-integrators** (``recurrent_init``): recurrent weights close to
  the identity, each unit keeping between 97% and 103% of its state a step, with
  weak non-negative couplings, and non-negative input weights. What this assumes:
  the answer depends on bits up to 50 steps back, so the state should neither fade
  nor grow much over 50 steps. No unit counts exactly (over 50 steps their gains
  range from about 0.2 to 4); the readout that combines them into a count is
  fitted from data (``train.targets.fit_readout``), and then all weights are trained.
"""

from __future__ import annotations

import keras
import numpy as np

CELLS = ("rnn", "gru", "lstm")

# The near-integrator start of the Elman cell (see the module docstring).
INIT_SPREAD = 0.03
INIT_COUPLING = 0.01


def recurrent_init(hidden_units: int, seed: int, spread: float = INIT_SPREAD,
                   coupling: float = INIT_COUPLING) -> tuple[np.ndarray, np.ndarray]:
    """Input kernel ``[1, units]`` and recurrent kernel ``[units, units]``, float32, >= 0.

    Recurrent: the identity with its diagonal drawn from ``1 +- spread``, plus couplings
    drawn from ``[0, coupling / units)``; input: uniform on ``[0, 1)``.
    """
    rng = np.random.default_rng([seed, 7])
    recurrent = (np.diag(rng.uniform(1.0 - spread, 1.0 + spread, hidden_units))
                 + rng.uniform(0.0, coupling / hidden_units, (hidden_units, hidden_units)))
    kernel = rng.uniform(0.0, 1.0, (1, hidden_units))
    return kernel.astype(np.float32), recurrent.astype(np.float32)


def build_model(cell: str = "rnn", hidden_units: int = 24, n_bits: int = 50,
                unroll: bool = False, seed: int | None = None,
                recurrent_bias: bool = False) -> keras.Model:
    """Build an untrained count-the-ones model.

    ``unroll=True`` builds the same layers as a chain of ``n_bits`` steps instead of a
    loop. The weights are interchangeable; the unrolled twin is what converts to
    builtin TFLite ops with a dynamic batch (see ``export``). For ``rnn`` the layer has
    no bias and non-negative weights unless ``recurrent_bias`` (the chapter's cell, kept
    for models trained before); with a ``seed`` it starts at ``recurrent_init``. The
    Dense readout starts at zero: training fits it from data before anything else.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    inputs = keras.Input((n_bits, 1), name="bits", dtype="float32")
    if cell == "rnn":
        constraint = None if recurrent_bias else keras.constraints.NonNeg()
        recurrent = keras.layers.SimpleRNN(
            hidden_units, activation="relu", unroll=unroll, use_bias=recurrent_bias,
            kernel_constraint=constraint, recurrent_constraint=constraint, name="rnn")
    else:
        init = dict(kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                    recurrent_initializer=keras.initializers.Orthogonal(
                        seed=None if seed is None else seed + 1))
        layer = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
        recurrent = layer(hidden_units, unroll=unroll, name="rnn", **init)
    hidden = recurrent(inputs)
    logits = keras.layers.Dense(n_bits + 1, name="logits", kernel_initializer="zeros")(hidden)
    model = keras.Model(inputs, logits, name=f"count_ones_{cell}{hidden_units}")
    if cell == "rnn" and seed is not None and not recurrent_bias:
        recurrent.set_weights(list(recurrent_init(hidden_units, seed)))
    return model


def describe_layer(model: keras.Model) -> tuple[str, int, bool]:
    """``(cell, units, recurrent_bias)`` of a count-the-ones model's recurrent layer."""
    recurrent = model.get_layer("rnn")
    cell = {"SimpleRNN": "rnn", "GRU": "gru", "LSTM": "lstm"}[type(recurrent).__name__]
    bias = bool(getattr(recurrent, "use_bias", True)) if cell == "rnn" else True
    return cell, recurrent.units, bias


def unrolled_twin(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with its recurrent layer unrolled, holding the same weights."""
    cell, units, bias = describe_layer(model)
    twin = build_model(cell, units, model.input_shape[1], unroll=True, recurrent_bias=bias)
    twin.set_weights(model.get_weights())
    return twin


def loop_form(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with its recurrent layer as a loop (what is saved)."""
    cell, units, bias = describe_layer(model)
    saved = build_model(cell, units, model.input_shape[1], unroll=False, recurrent_bias=bias)
    saved.set_weights(model.get_weights())
    return saved
