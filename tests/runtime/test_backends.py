"""The backend surface, and batching/windowing above it, with a fake backend (no model files)
and with the shipped artifacts."""

from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.backends import BACKENDS, OnnxBackend, TFLiteBackend, open_backend
from runtime.inputs import parse_bits
from runtime.predictor import Predictor
from conftest import FakeBackend

pytestmark = pytest.mark.runtime

MODEL = Path(runtime.__file__).parent / "model"


def test_registry():
    assert BACKENDS == {"tflite": TFLiteBackend, "onnx": OnnxBackend}
    assert TFLiteBackend.name == "tflite" and OnnxBackend.name == "onnx"


def test_zero_rows_never_reach_the_hook():
    backend = FakeBackend()
    logits = backend.predict(np.zeros((0, 50), np.uint8))
    assert logits.shape == (0, 51) and logits.dtype == np.float32
    assert backend.calls == []


@pytest.mark.parametrize("bits", [np.zeros((3, 49), np.uint8), np.zeros((3, 50, 1), np.uint8),
                                  np.zeros((3, 50), np.float32), np.full((1, 50), 2, np.uint8)])
def test_public_method_checks_before_the_hook(bits):
    backend = FakeBackend()
    with pytest.raises(runtime.InputError):
        backend.predict(bits)
    assert backend.calls == []


def test_bad_logits_are_a_model_error():
    class Broken(FakeBackend):
        def _predict(self, inputs):
            out = super()._predict(inputs)
            out[0, 0] = np.nan
            return out

    with pytest.raises(runtime.ModelError, match="non-finite"):
        Broken().predict(np.zeros((2, 50), np.uint8))


@pytest.mark.parametrize("n_bits", [50, 8])
def test_windows_are_exact_for_any_length(n_bits):
    rng = np.random.default_rng(0)
    predictor = Predictor(FakeBackend(n_bits), batch_size=5)
    for low, high in [(1, n_bits), (n_bits, n_bits), (1, 5 * n_bits), (4 * n_bits, 9 * n_bits)]:
        items = ["".join(map(str, rng.integers(0, 2, k))) for k in rng.integers(low, high + 1, 200)]
        assert predictor.predict(items).counts.tolist() == [s.count("1") for s in items]
    # Very long strings take another path (copied one by one); mixed with short ones.
    items = ["1" * 70001, "01", "0" * 65536 + "1", "1"]
    assert predictor.predict(items).counts.tolist() == [70001, 1, 1, 1]


def test_short_strings_are_left_padded_and_long_ones_chunked():
    windows = parse_bits(["1", "0" * 49 + "1" * 2], 50)
    assert windows.bits.shape == (3, 50)
    np.testing.assert_array_equal(windows.bits[0], [0] * 49 + [1])   # "1", left-padded
    np.testing.assert_array_equal(windows.bits[1], [0] * 49 + [0])   # first chunk of 51 bits: pad 49
    np.testing.assert_array_equal(windows.bits[2], [0] * 48 + [1, 1])
    assert windows.fold(np.array([1, 0, 2])).tolist() == [1, 2]


def test_batching_bounds_each_call():
    backend = FakeBackend()
    Predictor(backend, batch_size=64).predict(np.ones((1000, 120), np.uint8))
    sizes = [shape[0] for shape in backend.calls]
    assert sum(sizes) == 3000 and max(sizes) == 64


@pytest.mark.parametrize("name", ["tflite", "onnx"])
def test_opened_artifact_reports_its_signature(name):
    backend = open_backend(name, MODEL / f"model.{name}")
    assert backend.name == name and backend.n_bits == 50 and backend.n_classes == 51
    logits = backend.predict(np.zeros((3, 50), np.uint8))
    assert logits.shape == (3, 51) and logits.dtype == np.float32
    # The batch dimension is dynamic: other sizes, then the first again.
    for n in (1, 17, 3):
        assert backend.predict(np.ones((n, 50), bool)).shape == (n, 51)
    # LiteRT crashes on a zero-row batch; the public method never hands it one.
    assert backend.predict(np.zeros((0, 50), np.uint8)).shape == (0, 51)


@pytest.mark.parametrize("name", ["tflite", "onnx"])
def test_backends_translate_load_failures(tmp_path, name):
    junk = tmp_path / f"junk.{name}"
    junk.write_bytes(b"\xff\xfe not a model \x00" * 10)
    with pytest.raises(runtime.ModelError):
        open_backend(name, junk)
    with pytest.raises(runtime.ModelError):
        open_backend(name, tmp_path / "missing")


def test_unknown_backend_name():
    with pytest.raises(runtime.UsageError, match="unknown backend"):
        open_backend("tensorflow", MODEL / "model.tflite")


# --- parallel batches ------------------------------------------------------------------

class SlowFakeBackend(FakeBackend):
    """FakeBackend whose batches take uneven times, so threads finish out of order;
    records the thread that ran each batch."""

    def __init__(self, n_bits=50, fail_on=()):
        super().__init__(n_bits)
        self.threads = []
        self.fail_on = set(fail_on)  # batch sums that fail, to find which batch it was
        self._rng = np.random.default_rng(0)

    def _predict(self, inputs):
        import threading
        import time

        self.threads.append(threading.get_ident())
        time.sleep(float(self._rng.uniform(0, 0.004)))
        first = int(inputs[0, :, 0].sum())
        if first in self.fail_on:
            raise runtime.ModelError(f"batch starting with {first} ones failed")
        return super()._predict(inputs)


def ramp_bits(n, n_bits=50):
    """Row i has i % (n_bits + 1) ones: the counts say which row went where."""
    ones = np.arange(n) % (n_bits + 1)
    return (np.arange(n_bits)[None, :] < ones[:, None]).astype(np.uint8), ones


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_parallel_batches_keep_input_order(threads):
    bits, ones = ramp_bits(1000)
    backend = SlowFakeBackend()
    result = Predictor(backend, batch_size=16, threads=threads).predict(bits)
    np.testing.assert_array_equal(result.counts, ones)
    np.testing.assert_array_equal(result.parities, ones % 2)
    assert len(set(backend.threads)) > 1  # it did run on several threads
    assert sorted(shape[0] for shape in backend.calls) == [8] + [16] * 62


def test_threads_do_not_change_the_batches():
    """Same batches, hence the same numbers, whatever the number of threads."""
    bits, _ = ramp_bits(777)
    one, many = FakeBackend(), SlowFakeBackend()
    Predictor(one, batch_size=50, threads=1).predict(bits)
    Predictor(many, batch_size=50, threads=8).predict(bits)
    assert sorted(one.calls) == sorted(many.calls)


def test_one_batch_runs_on_the_calling_thread():
    import threading

    backend = SlowFakeBackend()
    predictor = Predictor(backend, batch_size=64, threads=4)
    predictor.predict(np.ones((64, 50), np.uint8))
    predictor.predict(["1" * 50])
    assert set(backend.threads) == {threading.get_ident()}
    assert predictor._pool is None  # no thread was started for it


def test_the_error_is_the_first_failing_batch():
    """With batches failing on several threads, the error is the one a single thread meets first."""
    bits, _ = ramp_bits(51 * 10)  # batch k (of 17 rows) starts with (17 * k) % 51 ones
    backend = SlowFakeBackend(fail_on={17, 34})  # batches 1, 2, 4, 5, 7, ...
    for threads in (1, 4):
        with pytest.raises(runtime.ModelError, match="starting with 17 ones"):
            Predictor(backend, batch_size=17, threads=threads).predict(bits)


def test_submit_gives_a_future_of_the_result():
    bits, ones = ramp_bits(500)
    predictor = Predictor(SlowFakeBackend(), batch_size=32, threads=3)
    futures = [predictor.submit(bits), predictor.submit(["1", "01" * 40]), predictor.submit([])]
    np.testing.assert_array_equal(futures[0].result(timeout=60).counts, ones)
    assert futures[1].result(timeout=60).counts.tolist() == [1, 40]
    assert len(futures[2].result(timeout=60)) == 0


def test_submit_checks_input_at_once():
    predictor = Predictor(SlowFakeBackend(), batch_size=32, threads=2)
    with pytest.raises(runtime.InputError, match="item 1, position 0"):
        predictor.submit(["0", "x"])


def test_submit_reports_model_errors_through_the_future():
    bits, _ = ramp_bits(51 * 4)
    predictor = Predictor(SlowFakeBackend(fail_on={17}), batch_size=17, threads=2)
    future = predictor.submit(bits)
    with pytest.raises(runtime.ModelError, match="starting with 17 ones"):
        future.result(timeout=60)


def test_cancel_stops_the_remaining_batches():
    import threading

    release = threading.Event()

    class Blocking(FakeBackend):
        def _predict(self, inputs):
            release.wait(timeout=60)
            return super()._predict(inputs)

    backend = Blocking()
    future = Predictor(backend, batch_size=10, threads=2).submit(np.ones((1000, 50), np.uint8))
    assert future.cancel()
    release.set()
    assert future.cancelled()
    import time

    time.sleep(0.2)  # let the two batches in progress finish
    assert len(backend.calls) <= 2


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_are_a_usage_error(threads):
    with pytest.raises(runtime.UsageError, match="threads must be a positive integer"):
        Predictor(FakeBackend(), threads=threads)


def test_defaults_come_from_the_backend_and_the_cpu():
    from runtime.predictor import default_threads

    predictor = Predictor(FakeBackend())
    assert predictor.batch_size == FakeBackend.default_batch_size
    assert predictor.threads == default_threads() >= 1
    assert TFLiteBackend.default_batch_size > 0 and OnnxBackend.default_batch_size > 0


def test_single_string_fast_path_agrees_with_the_general_one():
    from runtime.bits import one_window

    predictor = Predictor(FakeBackend(), batch_size=4, threads=1)
    for item in ["1" * 50, "0" * 50, "01" * 25]:
        assert one_window(item, 50).tolist() == [[[float(c)] for c in item]]  # the fast path taken
        assert one_window(item, 50).dtype == np.float32
        assert predictor.predict([item]).counts.tolist() == [item.count("1")]
    for item in ["1" * 49, "1" * 51, "1" * 49 + "x", "1" * 49 + "１", "1" * 49 + "\n", b"1" * 50, 5]:
        assert one_window(item, 50) is None
    with pytest.raises(runtime.InputError, match="item 0, position 49: invalid character '１'"):
        predictor.predict(["1" * 49 + "１"])
    with pytest.raises(runtime.InputError, match="item 0: expected a string of 0 and 1, got bytes"):
        predictor.predict([b"1" * 50])


def test_tflite_keeps_an_interpreter_sized_for_the_batch():
    """A steady batch size never resizes the interpreter (resize + allocate on every call cost
    latency); a new size resizes once."""
    backend = open_backend("tflite", MODEL / "model.tflite")
    resizes = []
    for slot in backend._idle:
        original = slot[0].resize_tensor_input
        slot[0].resize_tensor_input = lambda *a, _o=original, **k: (resizes.append(a[1][0]), _o(*a, **k))
    for n in (3, 3, 3, 5, 5, 3):
        assert backend.predict(np.ones((n, 50), np.uint8)).shape == (n, 51)
    assert resizes == [3, 5, 3]


def test_predict_stream_order_and_errors():
    """predict_stream (the command line's loop) overlaps reading, inference and writing:
    results still come in order, every line before a bad one first, and nothing after a
    batch whose inference failed."""
    import io

    from runtime.lines import read_batches
    from runtime.pipeline import pipeline

    rows = [b"1" * (i % 51) or b"0" for i in range(5000)]
    data = b"\n".join(rows) + b"\nx1\n" + b"1\n" * 10
    predictor = Predictor(SlowFakeBackend(), batch_size=64, threads=3)
    got = []
    with pytest.raises(runtime.InputError, match=":5001:1: invalid character 'x'"):
        for batch, result in predictor.predict_stream(io.BytesIO(data), "<x>"):
            got += result.counts.tolist()
            assert batch.first_line == len(got) - batch.n_lines + 1
    assert got == [i % 51 for i in range(5000)]

    # Inference fails on one batch: the batches before it come out, then the error.
    predictor = Predictor(SlowFakeBackend(fail_on={50}), batch_size=64, threads=3)
    data = b"".join(b"1" * 50 + b"\n" if i == 3000 else b"1\n" for i in range(6000))
    got = []
    with pytest.raises(runtime.ModelError):
        for batch, result in pipeline(read_batches(io.BytesIO(data), "<x>", 50, block_size=2000),
                                      predictor):
            got += result.counts.tolist()
    assert got == [1] * 3000  # the three blocks before the failing one


def test_load_takes_an_opened_backend_as_it_is():
    backend = FakeBackend(8)
    predictor = runtime.load(backend, batch_size=2, threads=1)
    assert predictor.backend is backend and predictor.manifest is None
    assert predictor.predict(["0110", "1" * 12]).counts.tolist() == [2, 12]
    assert [shape[0] for shape in backend.calls] == [2, 1]  # 3 windows, 2 per call
    for wrong in ({"backend": "onnx"}, {"precision": "int8"}, {"num_threads": 2}):
        with pytest.raises(runtime.UsageError, match="an opened backend is used as it is"):
            runtime.load(backend, **wrong)


def test_one_row_fast_path_agrees_and_still_refuses_bad_values():
    backend = FakeBackend()
    predictor = Predictor(backend, batch_size=4, threads=1)
    row = np.zeros((1, 50), np.uint8)
    row[0, ::3] = 1
    assert predictor.predict(row).counts.tolist() == [17]
    assert predictor.predict(row.astype(bool)).counts.tolist() == [17]
    assert backend.calls == [(1, 50, 1), (1, 50, 1)]
    row[0, 7] = 2
    with pytest.raises(runtime.InputError, match="item 0, position 7: value 2; expected 0 or 1"):
        predictor.predict(row)


def test_single_rows_on_many_threads_each_get_their_own_interpreter():
    """A one-row call runs on an interpreter its thread holds (no lock); many threads at
    once, mixed with batches on the shared pool, all count exactly; a thread that ends gives
    its interpreter to the next."""
    import threading

    backend = open_backend("tflite", MODEL / "model.folded.tflite")
    rng = np.random.default_rng(4)
    rows = rng.integers(0, 2, (64, 50)).astype(np.uint8)
    interpreters, errors = set(), []
    together = threading.Barrier(6)  # all alive at once: none can take another's interpreter

    def work():
        try:
            together.wait(timeout=60)
            for k in range(200):
                row = rows[k % 64:k % 64 + 1]
                assert backend.predict(row).argmax(axis=1).tolist() == [int(row.sum())]
                if k % 50 == 0:
                    assert (backend.predict(rows).argmax(axis=1) == rows.sum(axis=1)).all()
            interpreters.add(id(backend._own.lease.slot[0]))
            together.wait(timeout=60)
        except BaseException as exc:  # the main thread reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(interpreters) == 6
    # The threads have ended: their interpreters are free for the next threads, none made anew.
    assert len(backend._singles) == 6
    reused = []
    thread = threading.Thread(target=lambda: reused.append(
        (backend.predict(rows[:1]).argmax(axis=1).tolist(), id(backend._own.lease.slot[0]))))
    thread.start()
    thread.join()
    assert reused[0][0] == [int(rows[0].sum())] and reused[0][1] in interpreters
