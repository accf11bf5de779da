"""Bit strings and their labels, generated from a seed in numpy.

Three sources are mixed:

- ``uniform``: every bit is an independent fair coin. Counts cluster around 25;
  a count below 10 or above 40 almost never occurs.
- ``stratified``: the count is drawn uniformly from 0..n_bits, then that many
  ones are placed at random positions. This covers the extreme counts that
  short inputs become once the runtime left-pads them with zeros.
- ``clustered``: the count is drawn uniformly, then the ones are placed at random
  inside a window of random length (from exactly the count up to all of the
  string) at a random offset. Ones packed at the start or at the end of the
  string are where a recurrent counter whose per-step gain is slightly off goes
  wrong; uniform strings spread the ones out and hide that error.

``bits`` are uint8 ``[N, n_bits]``; ``counts`` (the labels) are int64 ``[N]``.
"""

from __future__ import annotations

import numpy as np

N_BITS = 50

# The chapter's example string: it says 30 ones, it holds 31.
CHAPTER_EXAMPLE = "10011011101001101110100110111010011011110101101110"


def uniform_bits(n: int, rng: np.random.Generator, n_bits: int = N_BITS) -> np.ndarray:
    """``n`` strings of independent fair bits."""
    return rng.integers(0, 2, size=(n, n_bits), dtype=np.uint8)


def stratified_bits(n: int, rng: np.random.Generator, n_bits: int = N_BITS,
                    counts: np.ndarray | None = None) -> np.ndarray:
    """``n`` strings whose count of ones is uniform on 0..n_bits (or given by ``counts``)."""
    if counts is None:
        counts = rng.integers(0, n_bits + 1, size=n)
    # The positions of the ``count`` smallest of n_bits random keys get a one:
    # the ones land uniformly at random, without a Python loop.
    return _ones_at_smallest_keys(rng.random((n, n_bits)), counts)


def clustered_bits(n: int, rng: np.random.Generator, n_bits: int = N_BITS,
                   counts: np.ndarray | None = None) -> np.ndarray:
    """``n`` strings with a uniform count (or ``counts``) whose ones lie inside a random window.

    The window is ``count`` to ``n_bits`` long (uniformly) at a uniform offset,
    so the family ranges from a single run of ones (prefixes and suffixes
    included) to stratified strings.
    """
    if counts is None:
        counts = rng.integers(0, n_bits + 1, size=n)
    counts = np.asarray(counts, dtype=np.int64)
    lengths = counts + (rng.random(n) * (n_bits - counts + 1)).astype(np.int64)
    starts = (rng.random(n) * (n_bits - lengths + 1)).astype(np.int64)
    positions = np.arange(n_bits)[None, :]
    inside = (positions >= starts[:, None]) & (positions < (starts + lengths)[:, None])
    # Random keys inside the window, 2 (above any key) outside: the ``count``
    # smallest keys of a row are then all inside its window.
    keys = np.where(inside, rng.random((n, n_bits)), 2.0)
    return _ones_at_smallest_keys(keys, counts)


def _ones_at_smallest_keys(keys: np.ndarray, counts) -> np.ndarray:
    """uint8 rows with a one where a key is among its row's ``count`` smallest.

    Compares each key with its row's ``count``-th smallest (one sort of the values,
    several times faster than ranking them); the keys are random floats, so a tie,
    which would let a row take more ones than its count, does not happen in practice
    (and the labels are counted from the bits either way).
    """
    counts = np.asarray(counts, dtype=np.int64)
    kth = np.take_along_axis(np.sort(keys, axis=1), np.maximum(counts - 1, 0)[:, None], axis=1)
    return ((keys <= kth) & (counts[:, None] > 0)).astype(np.uint8)


def padded_bits(n: int, rng: np.random.Generator, n_bits: int = N_BITS) -> np.ndarray:
    """``n`` short strings, left-padded with zeros to ``n_bits``: what the runtime feeds
    the model for an input shorter than the window. Lengths are uniform on 1..n_bits."""
    lengths = rng.integers(1, n_bits + 1, size=n)
    bits = uniform_bits(n, rng, n_bits)
    bits[np.arange(n_bits)[None, :] < (n_bits - lengths)[:, None]] = 0
    return bits


def run_bits(n_bits: int = N_BITS) -> np.ndarray:
    """Every string whose ones form one contiguous run: each count 1..n_bits at each start
    position, and the string of zeros (``1 + n_bits * (n_bits + 1) / 2`` strings)."""
    positions = np.arange(n_bits)
    starts, stops = np.triu_indices(n_bits + 1, k=1)  # every run [start, stop)
    runs = (positions >= starts[:, None]) & (positions < stops[:, None])
    return np.concatenate([np.zeros((1, n_bits), bool), runs]).astype(np.uint8)


def random_run_bits(n: int, rng: np.random.Generator, n_bits: int = N_BITS) -> np.ndarray:
    """``n`` strings holding one run of ones, of a uniform count 0..n_bits at a uniform start."""
    counts = rng.integers(0, n_bits + 1, size=n)
    starts = (rng.random(n) * (n_bits - counts + 1)).astype(np.int64)
    positions = np.arange(n_bits)[None, :]
    return ((positions >= starts[:, None]) & (positions < (starts + counts)[:, None])).astype(np.uint8)


def mix_bits(n: int, rng: np.random.Generator, stratified_fraction: float,
             clustered_fraction: float = 0.0, n_bits: int = N_BITS) -> np.ndarray:
    """A shuffled mix of the three sources; uniform strings fill what the fractions leave."""
    for name, value in (("stratified_fraction", stratified_fraction),
                        ("clustered_fraction", clustered_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if stratified_fraction + clustered_fraction > 1.0:
        raise ValueError("stratified_fraction + clustered_fraction must be at most 1, "
                         f"got {stratified_fraction} + {clustered_fraction}")
    n_strat = int(round(n * stratified_fraction))
    n_clust = min(int(round(n * clustered_fraction)), n - n_strat)
    bits = np.concatenate([stratified_bits(n_strat, rng, n_bits),
                           uniform_bits(n - n_strat - n_clust, rng, n_bits)])
    if n_clust:
        bits = np.concatenate([bits, clustered_bits(n_clust, rng, n_bits)])
    return bits[rng.permutation(n)]


def make_bits(n: int, seed: int, stratified_fraction: float, n_bits: int = N_BITS,
              clustered_fraction: float = 0.0) -> np.ndarray:
    """A shuffled mix from ``seed``: ``stratified_fraction`` of the rows stratified,
    ``clustered_fraction`` clustered, the rest uniform."""
    return mix_bits(n, np.random.default_rng(seed), stratified_fraction,
                    clustered_fraction, n_bits)


def count_ones(bits: np.ndarray) -> np.ndarray:
    """The ground truth: the number of ones in each row. Always computed, never stated."""
    return bits.sum(axis=1, dtype=np.int64)


def to_inputs(bits: np.ndarray) -> np.ndarray:
    """Model input: float32 ``[N, n_bits, 1]``, one bit per time step."""
    return bits.astype(np.float32)[:, :, None]


def edge_case_bits(n_bits: int = N_BITS) -> dict[str, np.ndarray]:
    """Named families of hand-picked strings, each uint8 ``[k, n_bits]``.

    All zeros, all ones, each single one, each single zero, both alternating
    strings, every prefix and every suffix of ones, and the chapter's example.
    """
    eye = np.eye(n_bits, dtype=np.uint8)
    lengths = np.arange(n_bits + 1)[:, None]
    positions = np.arange(n_bits)[None, :]
    cases = {
        "all_zeros": np.zeros((1, n_bits), np.uint8),
        "all_ones": np.ones((1, n_bits), np.uint8),
        "single_one": eye,
        "single_zero": 1 - eye,
        "alternating": np.stack([positions[0] % 2, 1 - positions[0] % 2]).astype(np.uint8),
        "prefix_ones": (positions < lengths).astype(np.uint8),
        "suffix_ones": (positions >= n_bits - lengths).astype(np.uint8),
    }
    if n_bits == len(CHAPTER_EXAMPLE):
        cases["chapter_example"] = np.frombuffer(CHAPTER_EXAMPLE.encode(), np.uint8)[None, :] - ord("0")
    return cases
