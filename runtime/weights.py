"""The weights inside an artifact file, found by their place in its graph, and their proof.

``read_weights(path)`` reads a ``.tflite`` or ``.onnx`` file's own bytes (``runtime.graphs``,
no TensorFlow, no ``onnx`` package) and returns one of:

- ``RecurrentWeights``: the Elman ReLU cell unrolled over the steps, then the readout. Each
  weight is found by what it does, not by its shape: the readout is the linear operator
  that produces the output (its bias is its own or the constant added to it); walking back
  from its input, every step is a ReLU of a sum of one linear operator applied to a slice of
  the input bits (the input kernel), at most one applied to the previous step's state (the
  recurrent kernel; absent or applied to a zero fill at the first step) and at most one
  constant (the bias). Every step must hold the same weights, each step must read its own
  slice tensor of the bits, and there must be one step per bit. Which bit a slice holds is
  not interpreted: the proof's verdict and margin are the same for the bits in any order,
  since reordering maps the strings with ``k`` ones onto themselves; a graph that read one
  bit twice through two different slicing operators is not caught here (the parity check
  and the golden set would catch it). The weights come out oriented as
  the proof takes them, ``h @ recurrent`` (TFLite's ``FULLY_CONNECTED`` stores ``[out, in]``).
- ``FoldedWeights``: ``logits = bits @ A + c``, one linear operator on the bits as they come
  (only order-keeping reshapes in between), and its bias.

A graph that is neither, an operator outside this vocabulary, or weights not stored as
float32 (a reduced-precision variant) raise ``WeightsError``, a ``ModelError`` naming the file.

``prove_file(path)`` runs ``runtime.proof`` on those float32 numbers: the certificate of the
file itself, re-derived in milliseconds.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from .files import read_regular
from .errors import ModelError
from .graphs import Graph, WeightsError
from .limits import MAX_ARTIFACT_BYTES

__all__ = ["WeightsError", "RecurrentWeights", "FoldedWeights", "FileProof", "read_weights",
           "prove_file"]


@dataclasses.dataclass(frozen=True)
class RecurrentWeights:
    """float32: ``kernel [1, units]``, ``recurrent [units, units]`` (``h @ recurrent``),
    ``bias [units]`` or None, ``dense_kernel [units, n_classes]``, ``dense_bias [n_classes]``."""

    kernel: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray | None
    dense_kernel: np.ndarray
    dense_bias: np.ndarray
    graph: str = "recurrent"

    def arrays(self) -> tuple:
        return self.kernel, self.recurrent, self.bias, self.dense_kernel, self.dense_bias


@dataclasses.dataclass(frozen=True)
class FoldedWeights:
    """float32: ``gains [n_bits, n_classes]`` (A) and ``base [n_classes]`` (c)."""

    gains: np.ndarray
    base: np.ndarray
    graph: str = "folded"


@dataclasses.dataclass(frozen=True)
class FileProof:
    """``graph`` (``recurrent`` or ``folded``), the ``certificate`` (``runtime.proof``) and
    the ``weights`` it was computed on."""

    path: str
    graph: str
    certificate: object
    weights: object

    def __bool__(self) -> bool:
        return bool(self.certificate.proved)


def read_weights(path: str | os.PathLike, content: bytes | None = None):
    """The weights of the model file at ``path`` (``content``: its bytes, when read already)."""
    name = os.fspath(path)
    if content is None:
        content = read_regular(name, "model", MAX_ARTIFACT_BYTES)
    graph = read_graph(name, content)
    try:
        if any(op.kind == "relu" or op.relu for op in graph.ops):
            return _recurrent(graph)
        return _folded(graph)
    except WeightsError as exc:
        raise WeightsError(f"{name}: {exc}") from None


def prove_file(path: str | os.PathLike, content: bytes | None = None) -> FileProof:
    """The proof of the model file at ``path`` on the float32 numbers inside it."""
    from .proof import certify_affine, certify_recurrent

    weights = read_weights(path, content)
    if isinstance(weights, FoldedWeights):
        certificate = certify_affine(weights.gains, weights.base)
    else:
        certificate = certify_recurrent(*weights.arrays())
    return FileProof(os.fspath(path), weights.graph, certificate, weights)


def read_graph(path: str, content: bytes) -> Graph:
    """The graph of the model file at ``path`` whose bytes are ``content``."""
    from .onnx_graph import onnx_graph
    from .tflite_graph import tflite_graph

    try:
        if str(path).endswith(".onnx"):
            return onnx_graph(memoryview(content))
        return tflite_graph(bytes(content))
    except ModelError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except (IndexError, struct.error, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model's graph: damaged or not a "
                         f"{'ONNX' if str(path).endswith('.onnx') else 'TFLite'} file "
                         f"({type(exc).__name__}: {exc})") from exc


class _Walk:
    """Follows tensors back to the operators that made them."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.made_by = graph.producers()
        for op in graph.ops:
            if op.kind == "other":
                raise WeightsError(f"operator {op.name} is not one the proof knows the meaning of")
            if op.kind == "linear":
                _float32(op.weight, f"the weight of a {op.name}")
                if op.bias is not None:
                    _float32(op.bias, f"the bias of a {op.name}")

    def op(self, tensor):
        return self.made_by.get(tensor)

    def through_views(self, tensor, in_order: bool = False):
        """The tensor ``tensor`` is a view of, following views back; ``(source, views)``."""
        views = []
        while (op := self.op(tensor)) is not None and op.kind == "view":
            if in_order and not op.order_kept:
                raise WeightsError(f"the bits reach the linear map through a {op.name}, "
                                   "which may reorder them")
            views.append(op)
            tensor = op.inputs[0]
        return tensor, views

    def is_zero_fill(self, tensor) -> bool:
        op = self.op(self.through_views(tensor)[0])
        if op is None or op.kind != "fill":
            return False
        values = [self.graph.constants[i] for i in op.inputs if i in self.graph.constants
                  and self.graph.constants[i].dtype.kind == "f"]
        if op.weight is not None:
            values.append(op.weight)
        return bool(values) and all(not np.any(v) for v in values)

    def sum_terms(self, tensor) -> list:
        """The terms of the sum that makes ``tensor``: tensors made by anything but an
        unfused ``add``, and constants."""
        op = self.op(tensor)
        if op is None or op.kind != "add" or op.relu:
            return [tensor]
        return [t for i in op.inputs for t in self.sum_terms(i)]


def _float32(array, what: str) -> np.ndarray:
    if array.dtype != np.float32:
        raise WeightsError(f"{what} is stored as {array.dtype}, not float32: the proof covers "
                           "float32 files only")
    return array


def _readout(walk: _Walk):
    """The readout: ``(linear op, bias)`` of the operator that makes the graph's output."""
    tensor = walk.through_views(walk.graph.output)[0]
    terms = walk.sum_terms(tensor)
    constants = [t for t in terms if t in walk.graph.constants]
    made = [walk.op(t) for t in terms if t not in walk.graph.constants]
    if len(made) != 1 or made[0] is None or made[0].kind != "linear" or made[0].relu \
            or len(constants) + (made[0].bias is not None) > 1:
        raise WeightsError("the output is not one linear map plus at most one bias")
    bias = made[0].bias if made[0].bias is not None else (
        walk.graph.constants[constants[0]] if constants else None)
    n_classes = made[0].weight.shape[-1]
    bias = np.zeros(n_classes, np.float32) if bias is None else _float32(bias, "the readout bias")
    if made[0].weight.ndim != 2 or bias.reshape(-1).shape != (n_classes,):
        raise WeightsError(f"the readout's weight {list(made[0].weight.shape)} and bias "
                           f"{list(bias.shape)} do not fit together")
    return made[0], bias.reshape(-1)


def _folded(graph: Graph) -> FoldedWeights:
    walk = _Walk(graph)
    linear, bias = _readout(walk)
    source, _ = walk.through_views(linear.inputs[0], in_order=True)
    if source != graph.input:
        raise WeightsError("the linear map of a graph without ReLU does not read the input bits")
    gains = linear.weight
    if gains.shape[1] != gains.shape[0] + 1:
        raise WeightsError(f"a folded model maps n bits to n + 1 logits; its map is {list(gains.shape)}")
    return FoldedWeights(np.array(gains, np.float32), np.array(bias, np.float32))


def _step(walk: _Walk, state):
    """One step, read back from its state: ``(input op, bit tensor, recurrent op or None,
    bias or None, the previous state or None at the first step)``."""
    op = walk.op(state)
    if op is not None and op.kind == "relu":
        pre = op.inputs[0]
    elif op is not None and op.relu and op.kind == "add":
        pre, op = None, op
    else:
        raise WeightsError("a state is not made by a ReLU")
    terms = walk.sum_terms(pre) if pre is not None else [t for i in op.inputs for t in walk.sum_terms(i)]
    bias_terms, inputs, recurrents = [], [], []
    for term in terms:
        if term in walk.graph.constants:
            bias_terms.append(_float32(walk.graph.constants[term], "a recurrent bias"))
            continue
        made = walk.op(term)
        if made is None or made.kind != "linear" or made.relu:
            raise WeightsError("a step's pre-activation holds a term that is not a linear map "
                               "or a constant")
        if made.bias is not None:
            bias_terms.append(made.bias)
        source, _ = walk.through_views(made.inputs[0])
        (inputs if source == walk.graph.input else recurrents).append((made, made.inputs[0]))
    if len(inputs) != 1 or len(recurrents) > 1 or len(bias_terms) > 1:
        raise WeightsError(f"a step has {len(inputs)} input maps, {len(recurrents)} recurrent maps "
                           f"and {len(bias_terms)} biases; expected 1, at most 1, at most 1")
    previous = None
    if recurrents and not walk.is_zero_fill(recurrents[0][1]):
        previous = recurrents[0][1]
    bias = bias_terms[0].reshape(-1) if bias_terms else None
    return inputs[0][0], inputs[0][1], recurrents[0][0] if recurrents else None, bias, previous


def _same(arrays: list, what: str) -> np.ndarray:
    first = arrays[0]
    if any(a.shape != first.shape or a.tobytes() != first.tobytes() for a in arrays[1:]):
        raise WeightsError(f"the steps do not all hold the same {what}")
    return first


def _recurrent(graph: Graph) -> RecurrentWeights:
    walk = _Walk(graph)
    readout, dense_bias = _readout(walk)
    n_bits = readout.weight.shape[1] - 1
    steps, state = [], readout.inputs[0]
    while state is not None:
        steps.append(_step(walk, state))
        state = steps[-1][4]
        if len(steps) > n_bits:
            break
    if len(steps) != n_bits:
        raise WeightsError(f"{len(steps)} recurrent steps lead to the output, expected one per bit "
                           f"({n_bits})")
    if len({bit for _, bit, _, _, _ in steps}) != n_bits:
        raise WeightsError("two steps read the same slice of the input bits")
    kernel = _same([s[0].weight for s in steps], "input kernel")
    recurrent = _same([s[2].weight for s in steps if s[2] is not None], "recurrent kernel") \
        if any(s[2] is not None for s in steps) else None
    biases = [s[3] for s in steps]
    if any(b is None for b in biases) and not all(b is None for b in biases):
        raise WeightsError("some steps add a bias and others do not")
    bias = None if biases[0] is None else _same(biases, "bias")
    units = kernel.shape[-1]
    if recurrent is None:
        recurrent = np.zeros((units, units), np.float32)
    if kernel.shape != (1, units) or recurrent.shape != (units, units) \
            or readout.weight.shape[0] != units or (bias is not None and bias.shape != (units,)):
        raise WeightsError(f"the weights do not fit together: input kernel {list(kernel.shape)}, "
                           f"recurrent kernel {list(recurrent.shape)}, readout "
                           f"{list(readout.weight.shape)}")
    copy = lambda a: None if a is None else np.array(a, np.float32)
    return RecurrentWeights(copy(kernel), copy(recurrent), copy(bias), copy(readout.weight),
                            copy(dense_bias))
