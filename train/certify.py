"""A proof that an Elman ReLU counter counts every string of its window right.

If every unit's pre-activation keeps one sign for every input (always active, or always
dead), the network is linear wherever it can be, and the state after step ``t`` is an
affine function of the bits: ``h_t = x @ P_t + q_t``. Each step is checked exactly: over
binary ``x`` the smallest value of ``x @ a + c`` is ``c`` plus the sum of the negative
entries of ``a``, the largest ``c`` plus the sum of the positive ones. The logits are
then ``z = x @ A + c``, and "count ``k`` beats count ``j`` on every string with ``k``
ones" holds exactly when ``c_k - c_j`` plus the sum of the ``k`` smallest entries of
``A[:, k] - A[:, j]`` is positive. All 51 x 50 pairs together decide all ``2**n_bits``
strings in milliseconds, and the smallest of these sums is the smallest gap between the
winning and the runner-up logit over every string.

The model runs in float32, not in exact arithmetic, so the proof subtracts a bound on
float32 round-off that holds for any order of summation, with or without fused
multiply-adds (``|fl(sum) - sum| <= gamma_n * sum|terms|``, ``gamma_n = n u / (1 - n u)``,
``u = 2**-24``), carried through every step. A proof over every window covers every
length: the runtime's left-padding and windows are exact.

``certify(model)`` returns a ``Certificate``; ``python -m train.certify [MODEL]`` prints it.
Exit status: 0 proved; 1 not proved (the reason is printed); 2 the model cannot be read.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

UNIT_ROUNDOFF = 2.0 ** -24  # float32


def _gamma(n: int) -> float:
    return n * UNIT_ROUNDOFF / (1.0 - n * UNIT_ROUNDOFF)


@dataclasses.dataclass(frozen=True)
class Certificate:
    """The outcome. ``proved``: every string of the window is counted right, round-off included.

    ``margin``: the smallest gap between the top two logits over every string, in exact
    arithmetic on the float32 weights; ``rounding``: the float32 allowance subtracted at
    the pair where the two together are tightest; ``slack = margin - rounding`` there (a
    proof needs it positive); ``worst``: that pair, as (count, the count it is closest to
    being read as). ``reason`` says why nothing was proved.
    """

    applicable: bool
    proved: bool
    margin: float | None = None
    rounding: float | None = None
    slack: float | None = None
    worst: tuple[int, int] | None = None
    reason: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def line(self) -> str:
        if self.proved:
            return (f"proved: every string of the window is counted right; smallest top-2 "
                    f"gap {self.margin:.4f}, float32 allowance at the tightest pair "
                    f"{self.rounding:.2e}")
        return f"not proved: {self.reason}"


def _layer_weights(model):
    """(input kernel, recurrent kernel, bias or None, Dense kernel, Dense bias), or a reason."""
    layer = model.get_layer("rnn")
    if type(layer).__name__ != "SimpleRNN":
        return f"the proof covers the Elman (SimpleRNN) cell, not {type(layer).__name__}"
    if layer.activation.__name__ != "relu":
        return f"the proof covers ReLU, not {layer.activation.__name__}"
    weights = layer.get_weights()
    bias = weights[2] if len(weights) == 3 else None
    kernel, dense_bias = model.get_layer("logits").get_weights()
    return weights[0], weights[1], bias, kernel, dense_bias


def certify(model) -> Certificate:
    """Try to prove ``model`` (a Keras count-the-ones model) exact on its whole window."""
    found = _layer_weights(model)
    if isinstance(found, str):
        return Certificate(applicable=False, proved=False, reason=found)
    return certify_weights(*found)


def certify_weights(kernel, recurrent, bias, dense_kernel, dense_bias) -> Certificate:
    """The proof on raw float32 weights: ``h_t = relu(x_t * kernel + h_{t-1} @ recurrent +
    bias)`` over ``n_bits = n_classes - 1`` steps from ``h_0 = 0``, then
    ``logits = h @ dense_kernel + dense_bias``."""
    started = time.perf_counter()
    w_in = np.asarray(kernel, np.float64).reshape(-1)
    w_rec = np.asarray(recurrent, np.float64)
    units = len(w_in)
    b = np.zeros(units) if bias is None else np.asarray(bias, np.float64)
    d = np.asarray(dense_kernel, np.float64)
    c = np.asarray(dense_bias, np.float64)
    n_classes = d.shape[1]
    n_bits = n_classes - 1

    slope = np.zeros((n_bits, units))  # P_t: how each bit moves each unit
    offset = np.zeros(units)  # q_t
    error = np.zeros(units)  # bound on |float32 state - exact state|
    largest = np.zeros(units)  # bound on |exact state| over all strings
    g_step = _gamma(units + 3)
    abs_rec = np.abs(w_rec)
    for t in range(n_bits):
        slope = slope @ w_rec
        slope[t] += w_in
        offset = offset @ w_rec + b
        low = offset + np.minimum(slope, 0.0).sum(axis=0)
        high = offset + np.maximum(slope, 0.0).sum(axis=0)
        active, dead = low >= 0.0, high <= 0.0
        mixed = np.flatnonzero(~(active | dead))
        if mixed.size:
            return Certificate(True, False, reason=f"at step {t + 1} the pre-activation of unit(s) "
                               f"{mixed.tolist()} takes both signs, so the ReLU is not linear there",
                               seconds=time.perf_counter() - started)
        slope[:, dead] = 0.0
        offset[dead] = 0.0
        error = error @ abs_rec + g_step * ((largest + error) @ abs_rec + np.abs(w_in) + np.abs(b))
        largest = np.where(active, high, 0.0)

    gains = slope @ d  # A: [n_bits, n_classes]
    base = offset @ d + c
    g_out = _gamma(units + 2)
    per_logit = g_out * ((largest + error) @ np.abs(d) + np.abs(c))
    # The float64 arithmetic of the proof itself, generously.
    exact_slack = 1e-12 * (np.abs(gains).sum(axis=0).max() + np.abs(base).max())
    best = (np.inf, np.inf, np.inf, None)  # (slack, margin, rounding, pair)
    smallest_margin = np.inf
    for k in range(n_classes):
        diff = np.sort(gains[:, [k]] - gains, axis=0)
        margins = base[k] - base + diff[:k].sum(axis=0)
        rounding = error @ np.abs(d[:, [k]] - d) + per_logit[k] + per_logit + exact_slack
        margins[k], rounding[k] = np.inf, 0.0
        j = int(np.argmin(margins - rounding))
        smallest_margin = min(smallest_margin, float(margins.min()))
        if margins[j] - rounding[j] < best[0]:
            best = (float(margins[j] - rounding[j]), float(margins[j]), float(rounding[j]), (k, j))
    slack, _, rounding, pair = best
    seconds = time.perf_counter() - started
    if slack <= 0:
        return Certificate(True, False, smallest_margin, rounding, slack, pair,
                           reason=f"strings with {pair[0]} ones can be read as {pair[1]} "
                                  f"(worst-case gap {best[1]:.4g}, float32 allowance {rounding:.3g})",
                           seconds=seconds)
    return Certificate(True, True, smallest_margin, rounding, slack, pair, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    from runtime.cli.args import OneLineParser

    parser = OneLineParser(
        prog="python -m train.certify",
        description="Prove (or fail to prove) that a saved count-the-ones model counts every "
                    "string of its window right, float32 round-off included.",
        epilog="exit status: 0 proved; 1 not proved; 2 the model cannot be read")
    parser.add_argument("model_path", nargs="?", default="artifacts/model.keras",
                        help="saved Keras model (default: %(default)s)")
    args = parser.parse_args(argv)
    from train.evaluate import load_saved_model

    model = load_saved_model(args.model_path)
    if model is None:
        return 2
    certificate = certify(model)
    print(f"{args.model_path}: {certificate.line()}")
    if certificate.proved:
        print(f"worst pair: strings with {certificate.worst[0]} ones against {certificate.worst[1]}; "
              f"slack {certificate.slack:.4f}; {certificate.seconds * 1e3:.0f} ms")
    return 0 if certificate.proved else 1


if __name__ == "__main__":
    import sys

    from runtime.cli.args import run_main

    sys.exit(run_main("train.certify", main))
