"""The proof of exactness, checked against brute force where all strings can be listed."""

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from train.certify import certify, certify_weights
from train.data import count_ones, make_bits
from train.model import build_model, recurrent_init
from train.targets import fit_readout, optimal_readout

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics

REPO = Path(__file__).resolve().parents[2]


def all_strings(n_bits):
    return np.array(list(itertools.product((0, 1), repeat=n_bits)), np.uint8)


def forward(bits, kernel, recurrent, bias, dense_kernel, dense_bias, dtype=np.float64):
    """The Elman ReLU network in plain numpy."""
    h = np.zeros((len(bits), recurrent.shape[0]), dtype)
    b = 0 if bias is None else bias.astype(dtype)
    for t in range(bits.shape[1]):
        h = np.maximum(bits[:, t:t + 1].astype(dtype) * kernel.astype(dtype)
                       + h @ recurrent.astype(dtype) + b, 0)
    return h @ dense_kernel.astype(dtype) + dense_bias.astype(dtype)


def top2_gap(logits):
    top = np.sort(logits, axis=1)
    return top[:, -1] - top[:, -2]


def small_counter(n_bits, seed, width=0.5, spread=0.03):
    """A near-integrator network with its readout fitted by least squares, in numpy."""
    kernel, recurrent = recurrent_init(6, seed, spread=spread)
    bits = all_strings(n_bits)
    state = np.zeros((len(bits), 6))
    for t in range(n_bits):
        state = np.maximum(bits[:, t:t + 1] * kernel + state @ recurrent, 0)
    design = np.c_[state, np.ones(len(bits))]
    u = np.linalg.lstsq(design, count_ones(bits), rcond=None)[0]
    dense_kernel, dense_bias = optimal_readout(u[:-1], u[-1], width, n_bits + 1)
    return kernel, recurrent, None, dense_kernel, dense_bias


def analytic_counter(gain=1.0, width=0.5, n_bits=50):
    """One unit, ``h_t = gain * h_{t-1} + x_t``, read out at the soft targets' optimum."""
    kernel = np.ones((1, 1), np.float32)
    recurrent = np.full((1, 1), gain, np.float32)
    return (kernel, recurrent, None) + optimal_readout(np.ones(1), 0.0, width, n_bits + 1)


def test_the_analytic_counter_is_proved_with_its_known_margin():
    certificate = certify_weights(*analytic_counter())
    assert certificate.applicable and certificate.proved
    # Neighbouring counts are 1 / (2 width**2) apart at the optimum.
    assert certificate.margin == pytest.approx(2.0, abs=1e-9)
    assert 0 < certificate.rounding < 0.05 and certificate.slack == pytest.approx(2.0 - certificate.rounding)


@pytest.mark.parametrize("seed", range(4))
def test_proof_and_margin_agree_with_every_string(seed):
    """10-bit windows: the proof's margin is the smallest top-2 gap over all 1,024 strings."""
    weights = small_counter(10, seed)
    certificate = certify_weights(*weights)
    bits = all_strings(10)
    logits = forward(bits, *weights)
    right = logits.argmax(axis=1) == count_ones(bits)
    assert certificate.proved == bool(right.all())
    truth = np.take_along_axis(logits, count_ones(bits)[:, None], axis=1)[:, 0]
    rival = np.where(np.eye(11, dtype=bool)[count_ones(bits)], -np.inf, logits).max(axis=1)
    assert certificate.margin == pytest.approx((truth - rival).min(), rel=1e-9, abs=1e-9)


def test_a_counter_that_drifts_is_refused_and_the_named_pair_really_fails():
    weights = analytic_counter(gain=1.0005)
    certificate = certify_weights(*weights)
    assert certificate.applicable and not certificate.proved
    count, rival = certificate.worst
    assert f"strings with {count} ones can be read as {rival}" in certificate.reason
    # The string the proof points at: the ones first, where the drifting gain weighs most.
    string = (np.arange(50) < count).astype(np.uint8)[None, :]
    assert forward(string, *weights).argmax() == rival


def test_float32_round_off_is_not_waved_away():
    # The same counter with 2**23 added to every logit: exact in real arithmetic (the
    # biases stay integers, which float32 holds exactly), but float32 sums near 2**23 round
    # to whole numbers, and neighbouring counts are only 2 apart.
    kernel, recurrent, bias, dense_kernel, dense_bias = analytic_counter()
    shifted = (dense_bias.astype(np.float64) + 2.0 ** 23).astype(np.float32)
    certificate = certify_weights(kernel, recurrent, bias, dense_kernel, shifted)
    assert certificate.margin == pytest.approx(2.0, abs=1e-9) and not certificate.proved
    assert certificate.rounding > certificate.margin


def test_units_that_change_regime_are_reported():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(1, 4)).astype(np.float32)
    recurrent = rng.normal(size=(4, 4)).astype(np.float32)
    dense_kernel, dense_bias = optimal_readout(np.ones(4), 0.0, 0.5, 51)
    certificate = certify_weights(kernel, recurrent, None, dense_kernel, dense_bias)
    assert certificate.applicable and not certificate.proved
    assert "takes both signs" in certificate.reason


def test_units_that_are_always_dead_are_allowed():
    kernel, recurrent, _, dense_kernel, dense_bias = analytic_counter()
    # A second unit that never fires: its bias keeps its pre-activation negative.
    kernel2 = np.array([[1.0, 0.5]], np.float32)
    recurrent2 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    bias2 = np.array([0.0, -100.0], np.float32)
    dense_kernel2 = np.vstack([dense_kernel, np.full((1, 51), 7.0, np.float32)])
    certificate = certify_weights(kernel2, recurrent2, bias2, dense_kernel2, dense_bias)
    assert certificate.proved and certificate.margin == pytest.approx(2.0, abs=1e-9)


def test_the_default_model_after_its_readout_fit_is_proved():
    model = build_model(seed=0)
    fit_readout(model, make_bits(5_000, seed=3, stratified_fraction=0.3, clustered_fraction=0.3), 0.5)
    certificate = certify(model)
    assert certificate.proved and certificate.slack > 1.0


def test_cells_the_proof_does_not_cover_say_so():
    certificate = certify(build_model("gru", hidden_units=4, seed=0))
    assert not certificate.applicable and not certificate.proved
    assert "GRU" in certificate.reason


def test_certify_cli(tmp_path):
    proved = build_model(seed=1)
    fit_readout(proved, make_bits(5_000, seed=4, stratified_fraction=0.3, clustered_fraction=0.3), 0.5)
    proved.save(tmp_path / "proved.keras")
    build_model(seed=1).save(tmp_path / "zero.keras")  # readout at zero: every string reads 0
    run = lambda *args: subprocess.run([sys.executable, "-m", "train.certify", *args],
                                       capture_output=True, text=True, cwd=REPO, timeout=300)
    ok = run(str(tmp_path / "proved.keras"))
    assert ok.returncode == 0 and "proved: every string" in ok.stdout, ok.stderr
    refused = run(str(tmp_path / "zero.keras"))
    assert refused.returncode == 1 and "not proved" in refused.stdout
    missing = run(str(tmp_path / "nothing.keras"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "No such file" in missing.stderr
    assert "Traceback" not in ok.stderr + refused.stderr + missing.stderr


def test_the_proofs_affine_form_is_what_keras_computes():
    """runtime.proof's linear form of a proved Keras model: Keras's own float32 logits lie
    within the round-off bound the proof carries, and the folded map proves the same."""
    from runtime.proof import certify_affine, linear_form
    from train.certify import layer_weights

    model = build_model(seed=2)
    fit_readout(model, make_bits(5_000, seed=5, stratified_fraction=0.3, clustered_fraction=0.3), 0.5)
    form = linear_form(*layer_weights(model))
    bits = make_bits(2_000, seed=6, stratified_fraction=0.5, clustered_fraction=0.3)
    logits = model.predict(bits[:, :, None].astype(np.float32), verbose=0)
    assert (np.abs(logits - (bits @ form.gains + form.base)) <= form.error).all()
    proved, folded = certify(model), certify_affine(*form.folded())
    assert proved.proved and folded.proved
    # Folding rounds each gain and base to float32, which moves a margin by at most:
    moved = 2 ** -24 * 2 * (np.abs(form.gains).sum(axis=0).max() + np.abs(form.base).max())
    assert folded.margin == pytest.approx(proved.margin, abs=moved)


@pytest.mark.parametrize("module", ["train.certify", "train.evaluate"])
def test_a_missing_model_is_said_before_tensorflow_is_imported(module, tmp_path):
    """TensorFlow's import takes many seconds: a path that cannot be a model is said first."""
    import subprocess
    import sys

    code = ("import runpy, sys\n"
            f"sys.argv = [{module!r}, {str(tmp_path / 'missing.keras')!r}]\n"
            "try:\n"
            f"    runpy.run_module({module!r}, run_name='__main__')\n"
            "except SystemExit as exit:\n"
            "    print('tensorflow' in sys.modules, 'keras' in sys.modules, exit.code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout == "False False 2\n", (done.stdout, done.stderr)
    assert done.stderr == f"{module}: cannot read {tmp_path / 'missing.keras'}: No such file or directory\n"
