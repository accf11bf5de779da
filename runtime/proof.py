"""The proof that a count-the-ones model counts every string of its window right, in numpy.

Two forms of the model are proved, each on its own float32 numbers:

**The recurrent form** (``certify_recurrent``): the Elman ReLU cell
``h_t = relu(x_t * kernel + h_{t-1} @ recurrent + bias)`` over ``n_bits`` steps from
``h_0 = 0`` (``bias`` may be absent), then ``logits = h @ dense_kernel + dense_bias``. If
every unit's pre-activation keeps one sign for every input (always active, or always
dead), the network is linear wherever it can be, and the state after step ``t`` is an
affine function of the bits: ``h_t = x @ P_t + q_t``. Each step is checked exactly: over
binary ``x`` the smallest value of ``x @ a + c`` is ``c`` plus the sum of the negative
entries of ``a``, the largest ``c`` plus the sum of the positive ones. The logits are then
``z = x @ A + c`` (``linear_form``).

**The folded form** (``certify_affine``): a file that computes ``z = x @ A + c`` directly,
with float32 ``A`` ``[n_bits, n_bits + 1]`` and ``c`` ``[n_bits + 1]``.

For both, "count ``k`` beats count ``j`` on every string with ``k`` ones" holds exactly
when ``c_k - c_j`` plus the sum of the ``k`` smallest entries of ``A[:, k] - A[:, j]`` is
positive. All ``(n_bits + 1) * n_bits`` pairs together decide all ``2**n_bits`` strings in
milliseconds, and the smallest of these sums is the smallest gap between the winning and
the runner-up logit over every string, in exact arithmetic on the given weights.

The files run in float32, so each proof subtracts a bound on float32 round-off that holds
for any order of summation, with or without fused multiply-adds. A sum of ``n`` terms
computed in float32 in any order (any binary tree of additions has depth at most
``n - 1``) is off by at most ``gamma_{n-1} * sum|terms|``, ``gamma_n = n u / (1 - n u)``,
``u = 2**-24`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1), and
products with a 0/1 bit are exact.

- Recurrent form: each step sums ``units + 2`` terms (the input term, ``units`` recurrent
  products, the bias) and each recurrent product is rounded once; ``gamma_{units + 3}``
  covers both, and the error already in the state is carried through ``|recurrent|``.
  The readout sums ``units + 1`` products and the bias: ``gamma_{units + 2}``.
- Folded form: logit ``j`` of a string with ``k`` ones is the dot product of 50 bits with
  ``A[:, j]`` (its ``k`` non-zero products exact) plus ``c_j``: at most ``n_bits + 1``
  terms, so ``|fl(z_j) - z_j| <= gamma_{n_bits} * (sum_i x_i |A_ij| + |c_j|)``, and
  ``sum_i x_i |A_ij|`` is at most the sum of the ``k`` largest ``|A_ij|``. The pair
  ``(k, j)`` loses at most the sum of that bound for logits ``k`` and ``j``.

A proof over every window covers every length: the runtime's left-padding and windows
are exact. No TensorFlow here: the runtime proves the weights inside an artifact file
(``runtime.weights``), and ``train.certify`` proves a Keras model with the same code.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

__all__ = ["UNIT_ROUNDOFF", "gamma", "Certificate", "LinearForm", "linear_form",
           "certify_recurrent", "certify_affine"]

UNIT_ROUNDOFF = 2.0 ** -24  # float32


def gamma(n: int) -> float:
    """``n u / (1 - n u)``: the relative error bound of ``n`` float32 roundings in a row."""
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


@dataclasses.dataclass(frozen=True)
class LinearForm:
    """The recurrent network shown linear in the bits: ``logits = bits @ gains + base``.

    ``gains`` float64 ``[n_bits, n_classes]`` and ``base`` float64 ``[n_classes]``, exact
    (up to float64) on the given weights; ``error`` bounds, per logit, how far the
    network's own float32 logits may be from them on any string; ``error_pair``
    ``[n_classes, n_classes]`` bounds the error of ``logit_k - logit_j`` (it is tighter
    than the sum of the two, since the state's error reaches both through one readout).
    """

    gains: np.ndarray
    base: np.ndarray
    error: np.ndarray
    error_pair: np.ndarray

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, c)`` as float32, the numbers a folded file holds."""
        return self.gains.astype(np.float32), self.base.astype(np.float32)


def linear_form(kernel, recurrent, bias, dense_kernel, dense_bias) -> LinearForm | str:
    """The Elman ReLU network as an affine map of its bits, or the reason it is not one."""
    w_in = np.asarray(kernel, np.float64).reshape(-1)
    w_rec = np.asarray(recurrent, np.float64)
    units = len(w_in)
    b = np.zeros(units) if bias is None else np.asarray(bias, np.float64).reshape(-1)
    d = np.asarray(dense_kernel, np.float64)
    c = np.asarray(dense_bias, np.float64).reshape(-1)
    if w_rec.shape != (units, units) or b.shape != (units,) or d.ndim != 2 \
            or d.shape[0] != units or c.shape != (d.shape[1],) or d.shape[1] < 2:
        raise ValueError(f"inconsistent weight shapes: kernel {np.shape(kernel)}, recurrent "
                         f"{np.shape(recurrent)}, bias {np.shape(bias) if bias is not None else None}, "
                         f"dense kernel {np.shape(dense_kernel)}, dense bias {np.shape(dense_bias)}")
    n_bits = d.shape[1] - 1

    slope = np.zeros((n_bits, units))  # P_t: how each bit moves each unit
    offset = np.zeros(units)  # q_t
    error = np.zeros(units)  # bound on |float32 state - exact state|
    largest = np.zeros(units)  # bound on |exact state| over all strings
    g_step = gamma(units + 3)
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
            return (f"at step {t + 1} the pre-activation of unit(s) {mixed.tolist()} takes both "
                    f"signs, so the ReLU is not linear there")
        slope[:, dead] = 0.0
        offset[dead] = 0.0
        error = error @ abs_rec + g_step * ((largest + error) @ abs_rec + np.abs(w_in) + np.abs(b))
        largest = np.where(active, high, 0.0)

    per_logit = gamma(units + 2) * ((largest + error) @ np.abs(d) + np.abs(c))
    abs_d = np.abs(d)
    # |error of logit_k - logit_j| <= error . |d_k - d_j| + rounding of each readout sum.
    pair = np.stack([error @ np.abs(d[:, [k]] - d) for k in range(d.shape[1])])
    pair = pair + per_logit[:, None]
    pair = pair + per_logit[None, :]
    return LinearForm(slope @ d, offset @ d + c, error @ abs_d + per_logit, pair)


def _decide(gains: np.ndarray, base: np.ndarray, rounding_of, started: float) -> Certificate:
    """Every pair (k, j) of the affine map ``bits @ gains + base``; ``rounding_of(k)``: the
    float32 allowance of ``logit_k - logit_j`` for every j, on strings with k ones."""
    n_classes = gains.shape[1]
    # The float64 arithmetic of the proof itself, generously.
    exact_slack = 1e-12 * (np.abs(gains).sum(axis=0).max() + np.abs(base).max())
    best = (np.inf, np.inf, np.inf, None)  # (slack, margin, rounding, pair)
    smallest_margin = np.inf
    for k in range(n_classes):
        diff = np.sort(gains[:, [k]] - gains, axis=0)
        margins = base[k] - base + diff[:k].sum(axis=0)
        rounding = rounding_of(k) + exact_slack
        margins[k], rounding[k] = np.inf, 0.0
        j = int(np.argmin(margins - rounding))
        smallest_margin = min(smallest_margin, float(margins.min()))
        if margins[j] - rounding[j] < best[0]:
            best = (float(margins[j] - rounding[j]), float(margins[j]), float(rounding[j]), (k, j))
    slack, margin, rounding, pair = best
    seconds = time.perf_counter() - started
    if not slack > 0:
        return Certificate(True, False, smallest_margin, rounding, slack, pair,
                           reason=f"strings with {pair[0]} ones can be read as {pair[1]} "
                                  f"(worst-case gap {margin:.4g}, float32 allowance {rounding:.3g})",
                           seconds=seconds)
    return Certificate(True, True, smallest_margin, rounding, slack, pair, seconds=seconds)


def certify_recurrent(kernel, recurrent, bias, dense_kernel, dense_bias) -> Certificate:
    """The proof of the recurrent form on raw weights (see the module docstring): ``kernel``
    ``[1, units]`` (or ``[units]``), ``recurrent`` ``[units, units]`` (``h @ recurrent``),
    ``bias`` ``[units]`` or None, ``dense_kernel`` ``[units, n_classes]``, ``dense_bias``
    ``[n_classes]``, all float32 as the model holds them."""
    started = time.perf_counter()
    form = linear_form(kernel, recurrent, bias, dense_kernel, dense_bias)
    if isinstance(form, str):
        return Certificate(True, False, reason=form, seconds=time.perf_counter() - started)
    return _decide(form.gains, form.base, lambda k: form.error_pair[k].copy(), started)


def certify_affine(gains, base) -> Certificate:
    """The proof of the folded form ``logits = bits @ gains + base`` on its float32 numbers
    (``gains`` ``[n_bits, n_bits + 1]``, ``base`` ``[n_bits + 1]``): see the module docstring."""
    started = time.perf_counter()
    a32 = np.asarray(gains)
    c32 = np.asarray(base).reshape(-1)
    if a32.ndim != 2 or a32.shape[1] != a32.shape[0] + 1 or c32.shape != (a32.shape[1],):
        raise ValueError(f"a folded model maps n bits to n + 1 logits: got A {list(a32.shape)} "
                         f"and c {list(c32.shape)}")
    if a32.dtype != np.float32 or c32.dtype != np.float32:
        raise ValueError(f"the folded proof is about float32 numbers, got {a32.dtype} and {c32.dtype}")
    a, c = a32.astype(np.float64), c32.astype(np.float64)
    n_bits = a.shape[0]
    if not (np.isfinite(a).all() and np.isfinite(c).all()):
        return Certificate(True, False, reason="the folded weights are not all finite",
                           seconds=time.perf_counter() - started)
    # Per count k: the largest sum_i x_i |A_ij| over strings with k ones, for every logit j.
    top = np.vstack([np.zeros(a.shape[1]), np.cumsum(-np.sort(-np.abs(a), axis=0), axis=0)])
    per_logit = gamma(n_bits) * (top + np.abs(c))  # [n_bits + 1 counts, n_classes logits]
    return _decide(a, c, lambda k: per_logit[k, k] + per_logit[k], started)
