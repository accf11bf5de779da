"""parity-edge export: turn a trained Keras model into files an edge device runs without TensorFlow.

``python -m export`` reads ``artifacts/model.keras`` and writes, into ``artifacts/``:

- ``model.tflite``: builtin LiteRT operators only, float32, dynamic batch;
- ``model.onnx``: opset ``convert.ONNX_OPSET``, dynamic batch, weights inside the file;
- ``model.folded.tflite``, ``model.folded.onnx``: for a proved Elman model, its affine map
  ``logits = bits @ A + c``, each proved again from its own bytes (``fold``);
- ``parity_report.json``: what the parity check measured;
- ``manifest.json``: what the runtime reads (names, shapes, hashes, versions, parity, training figures).

Nothing is published until the parity check has shown that LiteRT and onnxruntime compute what
Keras computes (``parity.check_parity``). Everything is built in a staging directory and moved
into place with ``os.replace``, the manifest last, so a failed or interrupted export leaves the
previous artifacts exactly as they were.

Modules: ``config`` (settings), ``keras_backend`` (the reference runner), ``convert``
(``to_tflite``, ``to_onnx``, the variants' files), ``structure`` (a converted file's operators,
weights and structural checks), ``variants`` (the variant gate), ``parity`` (``check_parity``),
``comparison`` (one candidate's figures and the tolerance), ``fold`` (the folded form),
``manifest`` (writing it),
``publish`` (staging and atomic replacement), ``pipeline`` (``run_export``, the whole stage),
``publish_default`` (copy verified artifacts into the runtime package).

Only ``export`` and ``train`` import TensorFlow; this package imports it lazily, so
``import export`` and ``python -m export --help`` stay cheap.
"""

from .config import ExportConfig
from .errors import ExportError

__all__ = ["ExportConfig", "ExportError"]
