"""runtime.lines: an unfinished line is judged as its bytes arrive, so input without a
newline can never grow in memory before its first bad byte is named."""

import io
import subprocess
import sys

import pytest

from runtime.errors import InputError
from runtime.lines import read_batches, read_lines

pytestmark = pytest.mark.runtime


class Endless(io.RawIOBase):
    """``prefix``, then ``fill`` up to ``LIMIT`` bytes (endless to a reader that waits for a
    newline; bounded so that such a reader fails the test instead of the machine), counting
    what was read."""

    LIMIT = 8 << 20

    def __init__(self, prefix: bytes, fill: bytes):
        self.data, self.fill, self.read_bytes = prefix, fill, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.read_bytes >= self.LIMIT:
            return 0
        if len(self.data) < len(buffer):
            self.data += self.fill * (len(buffer) // len(self.fill) + 1)
        n = len(buffer)
        buffer[:n], self.data = self.data[:n], self.data[n:]
        self.read_bytes += n
        return n


@pytest.mark.parametrize("reader", [read_batches, read_lines])
@pytest.mark.parametrize("prefix, fill, where, what", [
    (b"", b"\0", "1:1", "'\\x00'"),
    (b"0110\n", b"\0", "2:1", "'\\x00'"),
    (b"0110\n01", b"x", "2:3", "'x'"),
    (b"1" * 3000, b"1" * 999 + b" ", "1:4000", "' '"),      # valid for a while, then a space
    (b"01\r", b"1", "1:3", "'\\r'"),                          # a lone CR, its line unfinished
    (b"1" * 10 + "é".encode(), b"0", "1:11", "'é'"),         # a whole character, named
])
def test_an_endless_line_fails_at_its_first_bad_byte(reader, prefix, fill, where, what):
    stream = Endless(prefix, fill)
    args = ("<in>", 50) if reader is read_batches else ("<in>",)
    with pytest.raises(InputError) as error:
        for _ in reader(stream, *args, block_size=1 << 10):
            pass
    assert str(error.value).startswith(f"<in>:{where}: invalid character {what}"), str(error.value)
    assert stream.read_bytes < 1 << 16  # a few blocks, not the whole stream


def test_a_character_cut_by_a_read_is_named_whole():
    stream = io.BytesIO(b"01" + "é".encode() + b"1" * 100)
    with pytest.raises(InputError, match=r"<in>:1:3: invalid character 'é' \(U\+00E9\)"):
        list(read_batches(stream, "<in>", 50, block_size=3))


def test_crlf_split_across_reads_is_a_line_end():
    stream = io.BytesIO(b"011\r\n1\r\n")
    batches = list(read_batches(stream, "<in>", 50, block_size=4))
    assert sum(b.n_lines for b in batches) == 2


def test_dev_zero_fails_at_once_on_the_command_line():
    done = subprocess.run([sys.executable, "-m", "runtime.predict", "/dev/zero"], capture_output=True,
                          timeout=60)
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode() == ("/dev/zero:1:1: invalid character '\\x00' (U+0000); "
                                    "expected 0 or 1\n")


class Hungry(io.RawIOBase):
    """``size`` bytes of ``1`` without a newline, then MemoryError, as a read fails when
    memory has run out."""

    def __init__(self, size: int):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            raise MemoryError
        n = min(len(buffer), self.left)
        buffer[:n] = b"1" * n
        self.left -= n
        return n


def test_memory_running_out_in_a_long_line_names_the_file_the_line_and_its_length():
    with pytest.raises(MemoryError, match=r"reading <in>: line 1 is 5000 bytes long so far"):
        list(read_batches(Hungry(5000), "<in>", 50, block_size=1000))


@pytest.mark.parametrize("raised, status, line", [
    (MemoryError("reading x.txt: line 1 is 9 bytes long so far"), 2,
     "prog: out of memory: reading x.txt: line 1 is 9 bytes long so far"),
    (MemoryError(), 2, "prog: out of memory"),
    (KeyError("path"), 70, "prog: internal error, a bug (please report it): KeyError: 'path'"),
])
def test_every_command_line_says_an_unexpected_exception_in_one_line(raised, status, line):
    from runtime.cli.args import run_main

    said = []

    def body():
        raise raised

    assert run_main("prog", body, report=said.append) == status
    assert len(said) == 1 and said[0].startswith(line) and "\n" not in said[0], said
