"""What Predictor.predict accepts and refuses, checked on the values the model sees, in
bounded memory (runtime.inputs, runtime.bits)."""

import collections
import threading
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.predictor import Predictor
from conftest import FakeBackend

pytestmark = pytest.mark.runtime

MODEL = Path(runtime.__file__).parent / "model"


@pytest.fixture(scope="module")
def predictor():
    return runtime.load(MODEL)


# --- item kinds ---------------------------------------------------------------------------

def test_a_masked_array_with_masked_values_is_refused(predictor):
    masked = np.ma.array(np.full((1, 50), 255, np.uint8), mask=True)
    with pytest.raises(runtime.InputError, match="masked array with masked values"):
        predictor.predict(masked)
    partly = np.ma.array(np.ones((2, 50), np.uint8), mask=np.zeros((2, 50), bool))
    partly.mask[1, 3] = True
    with pytest.raises(runtime.InputError, match="masked"):
        predictor.predict(partly)
    with pytest.raises(runtime.InputError, match="masked"):
        predictor.backend.predict(partly)


def test_a_masked_array_without_masked_values_is_its_data(predictor):
    bits = np.random.default_rng(0).integers(0, 2, (20, 50)).astype(np.uint8)
    data = np.ma.array(bits, mask=np.zeros_like(bits, bool))
    assert predictor.predict(data).counts.tolist() == bits.sum(axis=1).tolist()
    with pytest.raises(runtime.InputError, match="value 255"):
        predictor.predict(np.ma.array(np.full((1, 50), 255, np.uint8), mask=False))


def test_array_likes_are_checked_as_the_arrays_they_hold(predictor):
    class ArrayLike:
        def __init__(self, array):
            self.array = array

        def __array__(self, dtype=None, copy=None):
            return self.array

    class Subclass(np.ndarray):
        pass

    ones = np.ones((3, 50), np.uint8)
    assert predictor.predict(ArrayLike(ones)).counts.tolist() == [50, 50, 50]
    assert predictor.predict(ones.view(Subclass)).counts.tolist() == [50, 50, 50]
    with pytest.raises(runtime.InputError, match="item 0, position 0: value 7"):
        predictor.predict(ArrayLike(np.full((1, 50), 7, np.int32)))
    assert predictor.predict(np.array(["0110", "1"], dtype=object)).counts.tolist() == [2, 1]


def test_bool_arrays_count_what_they_mean(predictor):
    """A bool array whose bytes hold other values than 0 and 1 (a view of uint8) counts as bools."""
    raw = np.zeros((1, 50), np.uint8)
    raw[0, :3] = 255
    assert predictor.predict(raw.view(bool)).counts.tolist() == [3]


@pytest.mark.parametrize("unordered", [
    {"0110", "111"}, frozenset({"0110"}), {"0110": 1, "111": 2}, collections.Counter(["01"]),
    {"0110": 1}.keys(), {"0110": 1}.items(), collections.OrderedDict(a="01"),
])
def test_unordered_collections_are_refused(predictor, unordered):
    with pytest.raises(runtime.InputError, match="order is not the caller's"):
        predictor.predict(unordered)
    with pytest.raises(runtime.InputError, match="order is not the caller's"):
        predictor.submit(unordered)


def test_ordered_iterables_are_accepted(predictor):
    strings = {"a": "0110", "b": "111"}
    assert predictor.predict(strings.values()).counts.tolist() == [2, 3]
    assert predictor.predict(s for s in ["1", "0"]).counts.tolist() == [1, 0]
    assert predictor.predict(("01", "11")).counts.tolist() == [1, 2]


def test_a_ragged_nested_list_is_an_input_error(predictor):
    with pytest.raises(runtime.InputError):
        predictor.predict([[0, 1], [1]])
    with pytest.raises(runtime.InputError):
        predictor.backend.predict([[0, 1], [1]])


# --- the values the model sees --------------------------------------------------------------

def test_an_array_changed_after_submit_never_reaches_the_model_unchecked():
    """submit checks the input at once; the array may change before its batches run. What the
    model reads is the copy that was checked."""
    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    predictor = Predictor(backend, batch_size=10, threads=2)
    bits = np.ones((200, 50), np.uint8)
    future = predictor.submit(bits)
    bits[:] = 255
    gate.set()
    assert future.result(timeout=60).counts.tolist() == [50] * 200
    assert backend.largest == 1.0


def test_a_chunk_changed_after_the_check_is_checked_again():
    """A large array is checked again chunk by chunk as it is windowed: values changed to
    invalid ones after submit's check raise an InputError, and never reach the model."""
    from runtime.limits import CHUNK_ITEMS

    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    predictor = Predictor(backend, batch_size=1000, threads=2)
    bits = np.ones((3 * CHUNK_ITEMS, 1), np.uint8)
    future = predictor.submit(bits)
    bits[-1, 0] = 9
    gate.set()
    with pytest.raises(runtime.InputError, match=f"item {3 * CHUNK_ITEMS - 1}, position 0: value 9"):
        future.result(timeout=120)
    assert backend.largest <= 1.0


def test_windows_made_elsewhere_are_checked_once_on_the_copy_the_model_reads():
    """runtime.windows.Windows (what runtime.lines makes) are taken whole: their bits are
    copied and checked like an array, naming the item the bad window belongs to, and a
    change after submit never reaches the model."""
    from runtime.inputs import parse_bits
    from runtime.windows import Windows

    backend = FakeBackend()
    predictor = Predictor(backend, batch_size=10, threads=2)
    windows = parse_bits(["1" * 120, "0110", "1" * 50], 50)  # 3 windows, then 1 and 1
    assert predictor.predict(windows).counts.tolist() == [120, 2, 50]

    bad = Windows(windows.bits.astype(np.int64), n_items=3, first=windows.first)
    bad.bits[3, 7] = 256  # wraps to 0 as uint8: checked before it is converted
    with pytest.raises(runtime.InputError, match="item 1, window 3, position 7: value 256"):
        predictor.predict(bad)
    with pytest.raises(runtime.InputError, match=r"uint8 0 and 1 \[M, 50\], got dtype float"):
        predictor.predict(Windows(windows.bits.astype(float), n_items=3, first=windows.first))

    gate = threading.Event()
    gated = FakeBackend(gate=gate)
    rows = np.ones((200, 50), np.uint8)
    future = Predictor(gated, batch_size=10, threads=2).submit(Windows(rows, n_items=200))
    rows[:] = 9
    gate.set()
    assert future.result(timeout=60).counts.tolist() == [50] * 200
    assert gated.largest == 1.0


# --- chunks -----------------------------------------------------------------------------------

def test_chunked_input_gives_the_same_counts_as_one_piece():
    """Inputs of many chunks (strings, ragged and equal; arrays): every item in its place,
    and errors named by their index in the whole input."""
    from runtime.limits import CHUNK_CHARS, CHUNK_ITEMS

    rng = np.random.default_rng(3)
    predictor = Predictor(FakeBackend(), batch_size=512, threads=3)
    lengths = rng.integers(1, 130, 2 * CHUNK_CHARS // 64)
    strings = ["".join("1" if b else "0" for b in rng.integers(0, 2, k)) for k in lengths[:2000]]
    strings = strings * (len(lengths) // 2000)
    strings += ["1" * (CHUNK_CHARS + 5), "0", "1" * 3]  # one string longer than a chunk
    result = predictor.predict(strings)
    assert result.counts.tolist() == [s.count("1") for s in strings]
    assert predictor.submit(strings).result(timeout=120).counts.tolist() == result.counts.tolist()
    bits = rng.integers(0, 2, (CHUNK_ITEMS * 2 + 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(predictor.predict(bits).counts, bits.sum(axis=1))
    strings[-2] = "0x"
    with pytest.raises(runtime.InputError, match=f"item {len(strings) - 2}, position 1"):
        predictor.predict(strings)
    with pytest.raises(runtime.InputError, match=f"item {len(strings) - 2}, position 1"):
        predictor.submit(strings)


def test_a_list_changed_after_submit_changes_nothing():
    gate = threading.Event()
    predictor = Predictor(FakeBackend(gate=gate), batch_size=4, threads=2)
    strings = ["1" * k for k in range(1, 40)]
    future = predictor.submit(strings)
    strings.clear()
    gate.set()
    assert future.result(timeout=60).counts.tolist() == list(range(1, 40))


def test_memory_for_ragged_input_stays_bounded():
    """Memory beyond the input itself, for mixed-length strings: a few bytes per string (a
    copy of the list, lengths, counts), plus the fixed size of a chunk. Windowing the whole
    input at once took about 1,600 bytes per string of ~75 bits."""
    import tracemalloc

    predictor = Predictor(FakeBackend(), batch_size=512, threads=1)
    rng = np.random.default_rng(4)
    pool = "".join(map(str, rng.integers(0, 2, 100_000)))
    peaks = {}
    for n in (40_000, 120_000):
        starts, lengths = rng.integers(0, 90_000, n), rng.integers(1, 151, n)
        strings = [pool[a:a + k] for a, k in zip(starts.tolist(), lengths.tolist())]
        tracemalloc.start()
        try:
            predictor.predict(strings)
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    per_string = (peaks[120_000] - peaks[40_000]) / 80_000
    assert per_string < 100, (per_string, peaks)
