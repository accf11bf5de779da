"""What a prediction returns: ``Result``, the counts and parities of N bit strings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Result", "result_of", "one_result"]


@dataclass(frozen=True)
class Result:
    """Predictions for N bit strings: ``counts`` (number of ones) and ``parities`` (counts % 2).

    Both are int64 numpy arrays ``[N]``, in input order.
    """

    counts: np.ndarray
    parities: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)


#: ``[k]`` as int64 for the counts of models up to 255 bits, copied into the Result of one
#: string: a copy costs less than making the array. Made at import: no thread adds to it.
_SINGLES = [np.array([k], np.int64) for k in range(256)]


def one_result(logits: np.ndarray) -> Result:
    """The Result of one window's logits ``[1, n_classes]``."""
    count = int(logits.argmax())
    if count >= len(_SINGLES):
        return result_of(np.array([count]))
    return Result(counts=_SINGLES[count].copy(), parities=_SINGLES[count & 1].copy())


def result_of(counts: np.ndarray) -> Result:
    """The Result of per-item ``counts``."""
    counts = counts.astype(np.int64, copy=False)  # argmax gives intp: int32 on some platforms
    return Result(counts=counts, parities=counts & 1)
