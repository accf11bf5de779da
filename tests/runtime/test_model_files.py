"""A hostile model directory: what its files may not do, whatever the manifest says.

Each test edits a copy of the shipped model and lists the edited file in the manifest with
its true sha256 and size, so only the rule under test can refuse it."""

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.errors import ModelError
from runtime.onnx_graph import _fields
from conftest import SHIPPED, copy_model, relist, varint

pytestmark = pytest.mark.runtime

BITS = b"1111111\n"


def predict(*args, cwd, stdin=BITS):
    return subprocess.run([sys.executable, "-m", "runtime.predict", *args], input=stdin,
                          capture_output=True, cwd=cwd, timeout=120)


# ------------------------------------------------------------------ ONNX external data

def _key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def _encode(number: int, wire: int, value) -> bytes:
    if wire == 0:
        return _key(number, 0) + varint(value)
    if wire == 2:
        return _key(number, 2) + varint(len(value)) + bytes(value)
    return _key(number, wire) + bytes(value)


def externalize(onnx: bytes, where: str = "initializer") -> tuple[bytes, int]:
    """``onnx`` with its largest float initializer's data moved to ``weights.bin`` (as the
    ONNX external-data format stores it), and the number of bytes moved."""
    moved = 0

    def tensor(b) -> bytes:
        nonlocal moved
        fields = list(_fields(b))
        raw = next(bytes(v) for n, w, v in fields if n == 9)
        moved = len(raw)
        entry = lambda k, v: _encode(13, 2, _encode(1, 2, k.encode()) + _encode(2, 2, v.encode()))
        return (b"".join(_encode(n, w, v) for n, w, v in fields if n != 9)
                + entry("location", "weights.bin") + entry("offset", "0") + entry("length", str(moved))
                + _encode(14, 0, 1))

    def graph(b) -> bytes:
        fields = list(_fields(b))
        sizes = [len(next((v for n2, _, v in _fields(v) if n2 == 9), b"")) if n == 5 else -1
                 for n, _, v in fields]
        biggest = sizes.index(max(sizes))
        return b"".join(_encode(n, w, tensor(v) if i == biggest else v)
                        for i, (n, w, v) in enumerate(fields))

    out = b"".join(_encode(n, w, graph(v) if n == 7 else v) for n, w, v in _fields(memoryview(onnx)))
    return out, moved


def test_onnx_external_data_is_refused_not_read_from_the_cwd(tmp_path):
    model = copy_model(tmp_path / "ext")
    content, moved = externalize((model / "model.onnx").read_bytes())
    (model / "model.onnx").write_bytes(content)
    relist(model, "model.onnx")
    (tmp_path / "weights.bin").write_bytes(bytes(moved))  # zeroed weights, where onnxruntime looks

    done = predict("--model", "ext", "--backend", "onnx", "--graph", "recurrent", cwd=tmp_path)
    assert done.returncode == 1, done
    assert done.stdout == b""
    err = done.stderr.decode()
    assert err.count("\n") == 1 and "external data" in err and "model.onnx" in err, err

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(ModelError, match="external data"):
            runtime.load("ext", backend="onnx", graph="recurrent")
    finally:
        os.chdir(cwd)


def test_onnx_reader_finds_external_data_anywhere():
    from runtime.onnx_graph import external_tensors

    content, _ = externalize((SHIPPED / "model.onnx").read_bytes())
    assert len(external_tensors(content)) == 1
    assert external_tensors((SHIPPED / "model.onnx").read_bytes()) == []
    # the same tensor inside a node's attribute of a function: still found
    tensor = next(v for n, _, v in _fields(memoryview(content)) if n == 7)
    tensor = next(v for n, _, v in _fields(tensor) if n == 5 and any(n2 == 13 for n2, _, _ in _fields(v)))
    attribute = _encode(1, 2, b"value") + _encode(5, 2, tensor)
    node = _encode(4, 2, b"Constant") + _encode(5, 2, attribute)
    function = _encode(1, 2, b"f") + _encode(7, 2, node)
    assert len(external_tensors(_encode(25, 2, function))) == 1


# ------------------------------------------------------------------ links out of the directory

@pytest.mark.parametrize("name", ["model.tflite", "model.onnx", "golden.npz", "manifest.json"])
def test_a_link_out_of_the_model_directory_is_refused_without_describing_its_target(tmp_path, name):
    model = copy_model(tmp_path / "m")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    (model / name).unlink()
    (model / name).symlink_to(outside)
    command = "runtime.verify" if name == "golden.npz" else "runtime.predict"
    backend = "onnx" if name == "model.onnx" else "tflite"
    done = subprocess.run([sys.executable, "-m", command, "--model", "m", "--backend", backend,
                           "--graph", "recurrent"], input=BITS, capture_output=True, cwd=tmp_path,
                          timeout=120)
    err = done.stderr.decode()
    assert done.returncode == 1 and done.stdout == b"", done
    assert f"m/{name}: cannot read" in err and "symbolic link" in err, err
    assert "6 bytes" not in err and "sha256 is" not in err, err


def test_a_link_to_a_file_inside_is_refused_too(tmp_path):
    """A link is refused as such: whether it leads out cannot be judged without following it."""
    model = copy_model(tmp_path / "m")
    (model / "copy.onnx").write_bytes((model / "model.onnx").read_bytes())
    (model / "model.onnx").unlink()
    (model / "model.onnx").symlink_to("copy.onnx")
    with pytest.raises(ModelError, match="symbolic link"):
        runtime.load(model, backend="onnx", graph="recurrent")


# ------------------------------------------------------------------ golden.npz as a zip bomb

def _npz(members: dict[str, tuple[np.dtype, tuple, int]]) -> bytes:
    """An .npz whose members have the given headers, each followed by ``n`` zero bytes,
    written in pieces so the test itself never holds them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (dtype, shape, n) in members.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                         "shape": shape})
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(header.getvalue())
                zeros = bytes(1 << 20)
                while n > 0:
                    member.write(zeros[:n])
                    n -= len(zeros)
    return buffer.getvalue()


def _verify_rss(tmp_path, golden: bytes):
    """(status, stderr, peak resident MB) of runtime.verify on the shipped model with ``golden``.

    The peak is the verifying process's own ``VmHWM``: the ``ru_maxrss`` of a child counts
    the memory of the process that forked it (this test's), which says nothing here."""
    model = copy_model(tmp_path / "m")
    (model / "golden.npz").write_bytes(golden)
    relist(model, "golden.npz")
    code = ("import sys, runtime.verify\n"
            "try:\n    status = runtime.verify.main(['--model', 'm', '--backend', 'onnx'])\n"
            "finally:\n"
            "    peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
            "    print(peak, file=sys.stderr)\n"
            "sys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=120)
    err, peak_kb = _split_peak(done.stderr.decode())
    return done.returncode, err, peak_kb / 1024


def _split_peak(stderr: str) -> tuple[str, int]:
    """The command's own lines, and the peak in kB printed after them."""
    lines = stderr.splitlines(keepends=True)
    return "".join(lines[:-1]), int(lines[-1])


@pytest.mark.parametrize("case", ["rows", "columns", "dtype", "size"])
def test_a_golden_set_that_expands_is_refused_from_its_headers(tmp_path, case):
    rows = 511
    members = {"bits.npy": (np.uint8, (rows, 50), rows * 50), "counts.npy": (np.int64, (rows,), rows * 8),
               "logits.npy": (np.float32, (rows, 51), rows * 51 * 4)}
    big = 400 << 20
    if case == "rows":
        members["bits.npy"] = (np.uint8, (big // 50, 50), big // 50 * 50)
    elif case == "columns":
        members["logits.npy"] = (np.float32, (rows, big // rows // 4), rows * (big // rows // 4) * 4)
    elif case == "dtype":
        members["counts.npy"] = (np.complex128, (rows,), rows * 16)
    else:  # a header that fits, data that does not: more bytes than the header promises
        members["bits.npy"] = (np.uint8, (rows, 50), big)
    golden = _npz(members)
    assert len(golden) < 2 << 20
    status, err, peak_mb = _verify_rss(tmp_path, golden)
    assert status == 1 and err.count("\n") == 1 and "damaged golden set" in err, err
    assert peak_mb < 300, f"{peak_mb:.0f} MB to refuse a {len(golden)}-byte golden set"


# ------------------------------------------------------------------ onnxruntime's prints

def _non_utf8_op_type(directory: Path) -> None:
    """model.onnx with its first node's op type made of bytes that are not UTF-8."""
    path = directory / "model.onnx"
    content = path.read_bytes()
    graph = next(v for n, _, v in _fields(memoryview(content)) if n == 7)
    node = bytes(next(v for n, _, v in _fields(graph) if n == 1))
    op_type = next(bytes(v) for n, _, v in _fields(node) if n == 4)
    at = content.index(node) + node.index(op_type)
    path.write_bytes(content[:at] + b"\xff" * len(op_type) + content[at + len(op_type):])
    relist(directory, "model.onnx")


@pytest.mark.parametrize("command", ["runtime.predict", "runtime.verify"])
def test_onnxruntime_prints_nothing_on_standard_output_for_a_damaged_file(tmp_path, command):
    _non_utf8_op_type(copy_model(tmp_path / "m"))
    done = subprocess.run([sys.executable, "-m", command, "--model", "m", "--backend", "onnx",
                           "--graph", "recurrent"], input=BITS, capture_output=True, cwd=tmp_path,
                          timeout=120)
    out = done.stdout.decode()
    assert "EP Error" not in out and "*****" not in out, out
    assert done.returncode == 1 and "onnxruntime cannot load the model" in (done.stderr.decode() + out)


def test_onnxruntime_prints_nothing_through_the_api(tmp_path, capfd):
    _non_utf8_op_type(copy_model(tmp_path / "m"))
    with pytest.raises(ModelError, match="onnxruntime cannot load the model"):
        runtime.load(tmp_path / "m", backend="onnx", graph="recurrent")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
