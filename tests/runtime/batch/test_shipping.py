"""runtime.batch.shipping without Ray: the driver ships the artifact of the graph it chose, and
each worker opens that graph again."""

from pathlib import Path

import pytest

import runtime
from runtime.batch.shipping import ModelBytes

pytestmark = pytest.mark.runtime

SHIPPED = Path(runtime.__file__).resolve().parent / "model"


@pytest.mark.parametrize("graph, name", [("auto", "model.folded.onnx"), ("folded", "model.folded.onnx"),
                                         ("recurrent", "model.onnx")])
def test_the_worker_runs_the_graph_the_driver_chose(graph, name):
    shipped = ModelBytes.load(SHIPPED, "onnx", graph)
    assert shipped.artifact_name == name and shipped.graph == ("folded" if graph == "auto" else graph)
    predictor = shipped.open()
    assert predictor.graph == shipped.graph and predictor.backend.path.endswith(name)
    assert predictor.predict(["0110", "1" * 77]).counts.tolist() == [2, 77]


def test_an_unknown_graph_is_refused_on_the_driver():
    with pytest.raises(runtime.UsageError, match="unknown graph"):
        ModelBytes.load(SHIPPED, "onnx", "unrolled")
