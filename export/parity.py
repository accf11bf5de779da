"""The parity check: do the converted models compute what the Keras model computes?

The reference (``KerasBackend``, the model as trained) runs once over every input; each
candidate (a runtime backend on a converted file) runs over the same inputs at every batch
size of the check, one batch at a time, and is measured and judged by the rule of
``export.comparison`` (``ATOL``, ``RTOL``). The two candidates are also compared with each
other; that comparison is reported, and implied by the two against the reference.

``check_parity`` returns a ``ParityResult``, which is true when every candidate passed.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np

from runtime.backends import Backend
from runtime.errors import ParityEdgeError

from train.data import count_ones, edge_case_bits, padded_bits, stratified_bits, uniform_bits

from .comparison import ATOL, RTOL, Comparison, ParityResult, measure

__all__ = ["parity_inputs", "check_parity"]

# How many disagreeing strings a comparison keeps as examples.
_EXAMPLES = 10


def parity_inputs(n_bits: int, seed: int, n_random: int, per_count: int) -> dict[str, np.ndarray]:
    """The check's strings by set, uint8 ``[k, n_bits]`` each, generated from ``seed``.

    ``uniform``: ``n_random`` strings of fair bits. ``per_count``: ``per_count`` strings for
    each count 0..n_bits, ones at random positions. ``edge_cases``: every family of
    ``train.data.edge_case_bits`` (all zeros, all ones, single ones and zeros, prefixes...).
    ``padded``: ``n_random`` strings of a random length, left-padded with zeros, as the
    runtime feeds short inputs.
    """
    rng = np.random.default_rng(seed)
    counts = np.repeat(np.arange(n_bits + 1), per_count)
    return {
        "uniform": uniform_bits(n_random, rng, n_bits),
        "per_count": stratified_bits(len(counts), rng, n_bits, counts=counts),
        "edge_cases": np.concatenate(list(edge_case_bits(n_bits).values())),
        "padded": padded_bits(n_random, rng, n_bits),
    }


def _top2_gaps(logits: np.ndarray) -> np.ndarray:
    top2 = np.partition(logits, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _row_string(bits: np.ndarray) -> str:
    return "".join("1" if b else "0" for b in bits)


def _run_batched(backend: Backend, bits: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([backend.predict(bits[i:i + batch_size])
                           for i in range(0, len(bits), batch_size)])


def check_parity(reference: Backend, candidates: Mapping[str, Callable[[], Backend]],
                 sets: Mapping[str, np.ndarray], batch_sizes=(1, 7, 256, 4096),
                 atol: float = ATOL, rtol: float = RTOL) -> ParityResult:
    """Compare every candidate with ``reference`` on the strings of ``sets``.

    ``candidates`` maps a name to a loader: a function that opens the backend. A candidate
    that fails to load or to run (any ``ParityEdgeError``) fails the check with that message;
    other exceptions are bugs and propagate. ``reference`` runs once, in its own batches.
    """
    bits = np.concatenate(list(sets.values()))
    truth = count_ones(bits)
    start = time.perf_counter()
    ref_logits = reference.predict(bits)
    ref_seconds = time.perf_counter() - start
    ref_counts = ref_logits.argmax(axis=1)
    gaps = _top2_gaps(ref_logits)
    ref_name = getattr(reference, "name", "reference")

    comparisons, outputs = [], {}
    for name, load in candidates.items():
        comp = Comparison(name=name, against=ref_name, atol=atol, rtol=rtol, n=len(bits))
        comparisons.append(comp)
        try:
            backend = load()
            for size in batch_sizes:
                start = time.perf_counter()
                logits = _run_batched(backend, bits, size)
                seconds = time.perf_counter() - start
                figures = measure(logits, ref_logits, atol, rtol)
                figures.update(seconds=round(seconds, 4),
                               sequences_per_s=round(len(bits) / seconds) if seconds > 0 else None)
                comp.by_batch_size[size] = figures
                if figures["disagreements"] and not comp.examples:
                    for i in np.flatnonzero(logits.argmax(axis=1) != ref_counts)[:_EXAMPLES]:
                        comp.examples.append({"batch_size": size, "bits": _row_string(bits[i]),
                                              "true_count": int(truth[i]),
                                              "reference_count": int(ref_counts[i]),
                                              "count": int(logits[i].argmax()),
                                              "reference_top2_gap": float(gaps[i])})
                outputs[name] = logits
        except ParityEdgeError as exc:
            comp.error = f"{type(exc).__name__}: {exc}"
            outputs.pop(name, None)
            continue
        comp.count_accuracy = float((outputs[name].argmax(axis=1) == truth).mean())
        comp.min_reference_gap = float(gaps.min())

    # Candidates against each other (the last batch size's outputs): reported, not gating.
    names = list(outputs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            cross = Comparison(name=a, against=b, atol=atol, rtol=rtol, gating=False, n=len(bits))
            figures = measure(outputs[a], outputs[b], atol, rtol)
            cross.by_batch_size[batch_sizes[-1]] = figures
            comparisons.append(cross)

    return ParityResult(reference=ref_name, atol=atol, rtol=rtol, batch_sizes=tuple(batch_sizes),
                        set_sizes={k: len(v) for k, v in sets.items()},
                        reference_accuracy=float((ref_counts == truth).mean()),
                        reference_min_gap=float(gaps.min()), reference_seconds=round(ref_seconds, 4),
                        comparisons=comparisons)
