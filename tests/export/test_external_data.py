"""The export's ONNX check refuses external data by the runtime's own rule: any tensor with
``external_data`` entries or an EXTERNAL location, wherever it sits."""

from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")

import runtime  # noqa: E402
from export.structure import check_onnx  # noqa: E402

MODEL = Path(runtime.__file__).parent / "model" / "model.onnx"


@pytest.mark.parametrize("how", ["location", "entries only"])
def test_check_onnx_refuses_weights_stored_outside_the_file(how):
    proto = onnx.load_from_string(MODEL.read_bytes())
    assert not any("outside the file" in p for p in check_onnx(proto, 50))
    tensor = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    tensor.ClearField("raw_data")
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    if how == "location":
        tensor.data_location = onnx.TensorProto.EXTERNAL
    problems = check_onnx(proto, 50)
    assert any("weights stored outside the file" in p and tensor.name in p for p in problems), problems
