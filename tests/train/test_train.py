"""Training, evaluation and their command lines, on tiny settings."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from train.config import TrainConfig, parse_config
from train.data import N_BITS, count_ones
from train.evaluate import EVAL_SEED, SET_NAMES, evaluate, evaluation_sets
from train.fit import BACKUP_DIR, TrainError, train, validation_set

# TensorFlow's numbers: `make test-avx2` runs these again on oneDNN's AVX2 kernels.
pytestmark = pytest.mark.numerics

REPO = Path(__file__).resolve().parents[2]
REPORT_KEYS = {"settings", "seed", "versions", "machine", "device", "wall_time_s", "epochs_run",
               "evaluation", "per_count_accuracy", "exact", "evaluation_exact", "certificate",
               "min_margin", "strings_seen", "start"}
# A few seconds of training: small model, few steps, small validation. It runs all
# its epochs (no early stop), so that resuming has epochs to resume.
TINY = dict(hidden_units=8, epochs=3, steps_per_epoch=6, batch_size=32, warmup_epochs=1,
            readout_strings=400, validation_uniform=300, validation_per_count=4,
            validation_padded=200, stop_when_exact=False, steps_per_execution=2, verbose=0,
            device="cpu")
def flags(settings: dict) -> list[str]:
    """Command-line flags for ``settings`` (booleans as --name / --no-name)."""
    out = []
    for key, value in settings.items():
        name = key.replace("_", "-")
        out += [f"--{name}" if value else f"--no-{name}"] if isinstance(value, bool) \
            else [f"--{name}", str(value)]
    return out


TINY_FLAGS = flags(TINY)


@pytest.fixture(scope="module")
def small_sets():
    return evaluation_sets(uniform_size=2_000, per_count_size=4, padded_size=2_000)


def tiny(tmp_path, name="run", **overrides):
    return TrainConfig(out=str(tmp_path / name), **{**TINY, **overrides})


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, small_sets):
    """One uninterrupted tiny run, shared by the tests that compare against it."""
    config = tiny(tmp_path_factory.mktemp("reference"))
    report = train(config, sets=small_sets)
    return config, report, keras.models.load_model(Path(config.out) / "model.keras")


def weights_equal(a, b):
    # Bit-identical on purpose: both runs train in this process, on this CPU, in the same
    # batch shapes, with TensorFlow's op determinism on, so every sum runs in the same order.
    # This is the promise "same seed, same machine, same weights"; across CPU kinds it does
    # not hold (oneDNN's kernels differ), and no test compares weights across processes.
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


# ---- outputs ---------------------------------------------------------------------------

def test_short_run_writes_every_output(reference_run):
    config, report, model = reference_run
    out = Path(config.out)
    assert model.input_shape == (None, N_BITS, 1) and model.output_shape == (None, N_BITS + 1)
    # The saved model is the loop form of the layer; export unrolls it itself.
    assert not model.get_layer("rnn").unroll
    on_disk = json.loads((out / "train_report.json").read_text())
    assert REPORT_KEYS <= set(on_disk)
    assert on_disk["settings"] == config.to_dict()
    assert on_disk["seed"] == config.seed
    assert {"tensorflow", "keras", "numpy"} <= set(on_disk["versions"])
    assert on_disk["device"] == "cpu"
    assert on_disk["epochs_run"] == config.epochs
    assert set(on_disk["evaluation"]) == set(SET_NAMES)
    for row in on_disk["evaluation"].values():
        assert {"n", "errors", "accuracy", "parity_accuracy"} <= set(row)
        assert isinstance(row["n"], int) and isinstance(row["errors"], int)
    assert len(on_disk["per_count_accuracy"]) == N_BITS + 1
    assert {"cpu", "avx512", "cores"} <= set(on_disk["machine"])
    assert on_disk["certificate"]["applicable"] is True
    assert on_disk["exact"] == (on_disk["evaluation_exact"] and on_disk["certificate"]["proved"])
    # The readout is fitted before the first step; then three epochs of fresh strings.
    assert on_disk["start"]["strings"] == config.readout_strings
    assert on_disk["strings_seen"] == config.readout_strings + 3 * config.examples_per_epoch
    assert all({"val_errors", "proved", "proved_slack"} <= set(row) for row in on_disk["history"])
    assert (out / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The backup is removed once training completes, and no temporary files remain.
    assert sorted(p.name for p in out.iterdir()) == ["model.keras", "train_report.json",
                                                     "training_curves.png"]


def test_same_seed_gives_identical_weights(tmp_path, reference_run, small_sets):
    config, _, model = reference_run
    again = tiny(tmp_path)
    train(again, sets=small_sets)
    assert weights_equal(model, keras.models.load_model(Path(again.out) / "model.keras"))


def test_other_seed_gives_other_weights(tmp_path, reference_run, small_sets):
    _, _, model = reference_run
    other = tiny(tmp_path, seed=1)
    train(other, sets=small_sets)
    assert not weights_equal(model, keras.models.load_model(Path(other.out) / "model.keras"))


class InterruptAfter(keras.callbacks.Callback):
    """Acts like Ctrl-C right after an epoch has been backed up."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_and_matches(tmp_path, reference_run, small_sets):
    _, reference, model = reference_run
    config = tiny(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[InterruptAfter(1)], sets=small_sets)
    assert (Path(config.out) / BACKUP_DIR).is_dir()
    assert not (Path(config.out) / "model.keras").exists()
    report = train(config, sets=small_sets)
    assert report["resumed_from_epoch"] == 2
    assert report["epochs_run"] == config.epochs
    assert [row["epoch"] for row in report["history"]] == [0, 1, 2]
    untimed = [{k: v for k, v in row.items() if k != "seconds"} for row in report["history"]]
    assert untimed == [{k: v for k, v in row.items() if k != "seconds"} for row in reference["history"]]
    assert all(row["seconds"] > 0 for row in report["history"])
    assert weights_equal(model, keras.models.load_model(Path(config.out) / "model.keras"))
    assert not (Path(config.out) / BACKUP_DIR).exists()


def test_backup_of_other_settings_is_refused(tmp_path, small_sets):
    config = tiny(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[InterruptAfter(0)], sets=small_sets)
    with pytest.raises(TrainError, match="other settings.*learning_rate"):
        train(tiny(tmp_path, learning_rate=0.5), sets=small_sets)


# ---- evaluation ------------------------------------------------------------------------

def oracle(bits):
    """Perfect logits: one-hot of the true count."""
    return np.eye(bits.shape[1] + 1, dtype=np.float32)[count_ones(bits)]


def test_evaluation_sets_are_as_specified():
    sets = evaluation_sets()
    assert list(sets) == list(SET_NAMES)
    uniform, per_count, edges, padded, runs = (sets[name] for name in SET_NAMES)
    # Every single run of ones: each count 1..50 at each start, and no ones at all.
    assert len(runs[0]) == 1 + N_BITS * (N_BITS + 1) // 2 == len({r.tobytes() for r in runs[0]})
    assert all(np.count_nonzero(np.diff(np.r_[0, row, 0])) <= 2 for row in runs[0])
    assert uniform[0].shape == (1_000_000, N_BITS) and uniform[0].dtype == np.uint8
    assert np.array_equal(np.bincount(per_count[1], minlength=N_BITS + 1),
                          [1_000] * (N_BITS + 1))
    assert 31 in edges[1] and 0 in edges[1] and N_BITS in edges[1]
    # Padded strings: every length 1..N_BITS, zeros before the first bit of each.
    assert padded[0].shape == (1_000_000, N_BITS)
    leading_zeros = np.where(padded[0].any(axis=1), padded[0].argmax(axis=1), N_BITS)
    assert leading_zeros.max() == N_BITS and (leading_zeros >= 40).mean() > 0.15
    assert not np.array_equal(padded[0][:1_000], uniform[0][:1_000])
    for bits, counts in sets.values():
        assert np.array_equal(count_ones(bits), counts)


def test_evaluation_data_is_never_training_or_validation_data():
    again = evaluation_sets(uniform_size=1_000, per_count_size=2, padded_size=1_000)
    assert np.array_equal(again["uniform"][0], evaluation_sets(uniform_size=1_000, per_count_size=2,
                                                               padded_size=1_000)["uniform"][0])
    # Even a validation seed equal to the evaluation seed draws other strings.
    val_bits, _ = validation_set(TrainConfig(validation_seed=EVAL_SEED, validation_uniform=1_000,
                                             validation_per_count=0, validation_padded=0))
    assert not np.array_equal(val_bits, again["uniform"][0])


def test_evaluate_counts_errors_and_parity(small_sets):
    exact = evaluate(oracle, small_sets, batch_size=333)
    assert exact["exact"] and all(exact[name]["errors"] == 0 for name in SET_NAMES)
    assert exact["per_count_accuracy"] == [1.0] * (N_BITS + 1)

    def off_by_one_at_7(bits):
        counts = count_ones(bits)
        return np.eye(N_BITS + 1, dtype=np.float32)[np.where(counts == 7, 8, counts)]

    result = evaluate(off_by_one_at_7, small_sets, batch_size=1_000)
    assert not result["exact"]
    n7 = int((small_sets["per_count"][1] == 7).sum())
    assert result["per_count"]["errors"] == n7
    assert result["per_count"]["parity_accuracy"] == pytest.approx(1 - n7 / len(small_sets["per_count"][1]))
    assert result["per_count_accuracy"][7] == 0.0 and result["per_count_accuracy"][8] == 1.0


def test_evaluate_gives_the_same_figures_in_any_batch_size(small_sets):
    rng = np.random.default_rng(0)
    noise = rng.normal(size=N_BITS + 1).astype(np.float32)

    def noisy(bits):
        return oracle(bits) * 0.1 + noise

    assert evaluate(noisy, small_sets, batch_size=97) == evaluate(noisy, small_sets, batch_size=5_000)


# ---- command lines ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def inexact_run(tmp_path_factory):
    """``python -m train`` on a model that cannot count: no readout fit, so the readout
    stays at zero and every string is read as 0 ones."""
    out = tmp_path_factory.mktemp("inexact")
    result = run_module("train", "--out", str(out), *TINY_FLAGS, "--readout-strings", "0")
    report = json.loads((out / "train_report.json").read_text())
    return {**report, "returncode": result.returncode, "stderr": result.stderr}


def test_an_inexact_model_is_written_but_never_quietly(inexact_run):
    assert inexact_run["returncode"] == 3
    assert "NOT exact" in inexact_run["stderr"] and "Traceback" not in inexact_run["stderr"]
    assert inexact_run["exact"] is False and inexact_run["certificate"]["proved"] is False
    assert inexact_run["evaluation"]["uniform"]["errors"] > 0
    assert (Path(inexact_run["settings"]["out"]) / "model.keras").is_file()


def run_module(*args, timeout=300, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, env=env, **kwargs)


def test_help_works_without_tensorflow():
    result = run_module("train", "--help")
    assert result.returncode == 0
    assert "--hidden-units" in result.stdout and "--device" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--hidden-units", "many"], "expected an integer, got 'many'"),
    (["--cell", "transformer"], "invalid choice"),
    (["--device", "tpu"], "invalid choice"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--stratified-fraction", "0.8", "--clustered-fraction", "0.8"], "at most 1"),
])
def test_bad_arguments_give_a_usage_error(args, message):
    result = run_module("train", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("train: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "usage:" not in result.stderr


def test_parse_config_fields_are_the_flags():
    config = parse_config(["--hidden-units", "30", "--no-unroll", "--seed", "5"])
    assert (config.hidden_units, config.unroll, config.seed) == (30, False, 5)


def test_gpu_request_without_gpu_is_a_one_line_error(tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible here")
    result = run_module("train", "--device", "gpu", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "error: --device gpu" in result.stderr and "Traceback" not in result.stderr


def test_interrupted_in_the_middle_of_a_backup_resumes_and_matches(tmp_path, reference_run,
                                                                   small_sets, monkeypatch):
    """Ctrl-C while the second epoch's weights are being written: the half-written file
    is never the backup, and the resumed run still trains what the uninterrupted one did."""
    _, reference, model = reference_run
    config = tiny(tmp_path)
    save_weights = keras.Model.save_weights
    calls = []

    def interrupted_save(self, filepath, *args, **kwargs):
        calls.append(filepath)
        save_weights(self, filepath, *args, **kwargs)
        if len(calls) == 2:
            Path(filepath).write_bytes(Path(filepath).read_bytes()[:100])  # half written
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train(config, sets=small_sets)
    monkeypatch.setattr(keras.Model, "save_weights", save_weights)
    backup = Path(config.out) / BACKUP_DIR
    assert [p.name for p in backup.glob("*.weights.h5")] == ["epoch-00001.weights.h5"]
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    report = train(config, sets=small_sets)
    assert report["resumed_from_epoch"] == 1
    assert weights_equal(model, keras.models.load_model(Path(config.out) / "model.keras"))


def test_ctrl_c_exits_130_quietly_and_make_train_resumes(tmp_path):
    out = tmp_path / "cli"
    flags = ["train", "--out", str(out), *TINY_FLAGS, "--epochs", "40", "--verbose", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", *flags], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = out / BACKUP_DIR / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    done = len(json.loads(state.read_text())["history"])
    assert 1 <= done < 40

    result = run_module("train", *flags[1:], "--validation-uniform", "300")
    assert result.returncode in (0, 3), result.stderr
    assert f"resuming the interrupted run in {out / BACKUP_DIR}" in result.stdout
    report = json.loads((out / "train_report.json").read_text())
    assert (result.returncode == 0) == report["exact"]
    # Ctrl-C between our bookkeeping's save and the Keras backup's leaves the backup one
    # epoch behind; that epoch is trained again.
    assert report["resumed_from_epoch"] >= done - 1 and report["epochs_run"] == 40
    assert not (out / BACKUP_DIR).exists()


def test_evaluate_cli(tmp_path, inexact_run):
    model_path = str(Path(inexact_run["settings"]["out"]) / "model.keras")
    result = run_module("train.evaluate", model_path)
    assert result.returncode == 0, result.stderr
    for name in SET_NAMES:
        assert name in result.stdout
    assert "NOT exact" in result.stdout
    assert run_module("train.evaluate", model_path, "--require-exact").returncode == 1
    missing = run_module("train.evaluate", str(tmp_path / "nothing.keras"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "No such file" in missing.stderr
    assert "Traceback" not in missing.stderr


# ---- the bar ---------------------------------------------------------------------------

SLOW_SEEDS = (0, 3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_default_training_is_exact_and_proved(tmp_path, request, seed):
    """``python -m train --seed S`` with default settings counts every evaluation string
    right, is proved exact for every string, and wins every string by at least 0.5."""
    selection = request.config.getoption("markexpr") or ""
    if "slow" not in selection or "not slow" in selection:
        pytest.skip("full training: select it with -m slow")
    result = run_module("train", "--out", str(tmp_path), "--seed", str(seed), timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "train_report.json").read_text())
    assert report["exact"] is True
    for name in SET_NAMES:
        assert report["evaluation"][name]["errors"] == 0, (name, report["evaluation"][name])
        assert report["evaluation"][name]["parity_accuracy"] == 1.0
        assert report["evaluation"][name]["min_margin"] >= 0.5, (name, report["evaluation"][name])
    assert report["per_count_accuracy"] == [1.0] * (N_BITS + 1)
    certificate = report["certificate"]
    assert certificate["proved"] and certificate["slack"] >= 0.5, certificate
    assert report["settings"]["hidden_units"] == 24
    assert report["strings_seen"] <= 5_000_000
