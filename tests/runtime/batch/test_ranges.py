"""A file read in byte ranges gives exactly the lines, numbers and errors of the whole file."""

import io

import numpy as np
import pytest

from runtime import InputError
from runtime.lines import read_lines
from runtime.batch.ranges import count_newlines, count_spans, first_lines, read_range, split

pytestmark = pytest.mark.runtime

FILES = {
    "lf": b"0110\n1\n" + b"10" * 40 + b"\n0\n111\n",
    "crlf, no final line end": b"01\r\n1111\r\n0\r\n" + b"1" * 120,
    "bom": b"\xef\xbb\xbf1\n01\n001\n",
    "one line": b"1" * 60,
    "one line with its end": b"0" * 50 + b"\n",
    "empty": b"",
    "uniform": b"".join(b"%050d\n" % (i % 2) for i in range(40)),
}


def whole(data: bytes, name="f.txt"):
    """(line number, text) of every line, read in one piece."""
    rows = []
    for block in read_lines(io.BytesIO(data), name, block_size=7):
        chars, offsets = block.joined()
        rows += [(block.first_line + i, chars[offsets[i]:offsets[i + 1]].tobytes())
                 for i in range(block.n_lines)]
    return rows


def in_ranges(data: bytes, range_bytes: int, name="f.txt"):
    starts = split(len(data), range_bytes)
    counts = [count_newlines(io.BytesIO(data), lo, hi, block_size=3) for lo, hi in count_spans(starts)]
    numbers = first_lines(counts)
    rows = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else None
        for block in read_range(io.BytesIO(data), name, start, end, numbers[k], block_size=5):
            chars, offsets = block.joined()
            rows += [(block.first_line + i, chars[offsets[i]:offsets[i + 1]].tobytes())
                     for i in range(block.n_lines)]
    return rows


@pytest.mark.parametrize("kind", FILES)
def test_every_cut_gives_every_line_once_with_its_number(kind):
    data = FILES[kind]
    expected = whole(data)
    assert [text for _, text in expected] == [line.rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
                                              for line in data.split(b"\n") if line]
    for range_bytes in range(1, len(data) + 2):
        assert in_ranges(data, range_bytes) == expected, range_bytes


def test_a_bad_line_is_named_as_in_the_whole_file():
    data = b"01\n10\n" * 20 + b"01x1\n" + b"1\n" * 20
    with pytest.raises(InputError) as whole_error:
        whole(data)
    assert str(whole_error.value) == "f.txt:41:3: invalid character 'x' (U+0078); expected 0 or 1"
    for range_bytes in (1, 2, 5, 13, 64, len(data)):
        with pytest.raises(InputError) as ranged:
            in_ranges(data, range_bytes)
        assert str(ranged.value) == str(whole_error.value), range_bytes


def test_an_empty_line_in_a_later_range():
    data = b"1\n" * 30 + b"\n" + b"0\n"
    for range_bytes in (3, 10, 31):
        with pytest.raises(InputError, match=r"^f\.txt:31:1: empty line; expected a string of 0 and 1$"):
            in_ranges(data, range_bytes)


def test_a_bom_is_skipped_only_at_the_start_of_the_file():
    data = b"1\n\xef\xbb\xbf1\n"
    for range_bytes in (1, 2, 3, 4):
        with pytest.raises(InputError, match=r"^f\.txt:2:1: invalid character '\\ufeff' \(U\+FEFF\)"):
            in_ranges(data, range_bytes)


def test_split_covers_the_file():
    assert split(0, 10) == [0]
    assert split(100, 30) == [0, 25, 50, 75]
    starts = split(10**12, 3 << 30)
    assert starts[0] == 0 and all(b > a for a, b in zip(starts, starts[1:])) and starts[-1] < 10**12
    assert np.diff(starts + [10**12]).max() <= 3 << 30
