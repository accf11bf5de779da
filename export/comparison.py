"""One candidate against the reference: the figures it is judged by, and the tolerance.

For each candidate and batch size (``Comparison.by_batch_size``, from ``measure``):

- the largest absolute difference of the logits from the reference's, that difference
  relative to the row's largest reference logit (``max_scaled_diff``), and the largest
  elementwise relative difference (reported only: logits near zero make it jump);
- count agreement: how often ``argmax`` of its logits equals the reference's;
- count accuracy against the true counts (reported only: an untrained model has none, and
  still has to convert faithfully).

The reference's smallest gap between its two largest logits is reported beside them: a
count can legitimately flip only where that gap is within numeric noise.

A candidate passes when, at every batch size, count agreement is 100% and in every row

    max_j |candidate_ij - reference_ij|  <=  ATOL + RTOL * max_j |reference_ij|

(``tolerance_used``, the largest left side over right side, is at most 1). The floor ``ATOL``
covers models with small logits; ``RTOL`` scales with the row because float32 round-off does:
a trained SimpleRNN's logits reach about 2,000, where one unit in the last place is 1.2e-4.
With ``RTOL = 0`` the rule is a plain absolute limit.

``ParityResult`` holds every comparison of one check (``export.parity``) and is true when
every gating one passed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["ATOL", "RTOL", "TOLERANCE_RULE", "measure", "Comparison", "ParityResult"]

# Tolerance on the logits, per row: |diff| <= ATOL + RTOL * (the row's largest |logit|). RTOL
# because float32 round-off grows with the row; ATOL for rows near zero. The figures these were
# chosen from are in the README (Export: the parity check).
ATOL = 1e-4
RTOL = 1e-5
# The rule in words, as the reports state it.
TOLERANCE_RULE = "per row: max |candidate - reference| <= atol + rtol * max |reference|"


def _rel_diff(candidate: np.ndarray, reference: np.ndarray) -> float:
    """Largest |c - r| / |r| over the elements where r is not zero."""
    nonzero = reference != 0
    if not nonzero.any():
        return 0.0
    return float((np.abs(candidate - reference)[nonzero] / np.abs(reference[nonzero])).max())


def measure(candidate: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> dict:
    """One batch size's figures of ``candidate``'s logits against ``reference``'s."""
    agree = candidate.argmax(axis=1) == reference.argmax(axis=1)
    row_diff = np.abs(candidate - reference).max(axis=1)
    row_scale = np.abs(reference).max(axis=1)
    scaled = np.divide(row_diff, row_scale, out=np.zeros_like(row_diff), where=row_scale > 0)
    return {"max_abs_diff": float(row_diff.max()),
            "max_scaled_diff": float(scaled.max()),
            "tolerance_used": float(np.divide(row_diff, atol + rtol * row_scale,
                                              out=np.where(row_diff > 0, np.inf, 0.0),
                                              where=atol + rtol * row_scale > 0).max()),
            "max_rel_diff": _rel_diff(candidate, reference),
            "count_agreement": float(agree.mean()),
            "disagreements": int((~agree).sum())}


@dataclasses.dataclass
class Comparison:
    """One candidate against the reference (or against another candidate), all batch sizes."""

    name: str
    against: str
    atol: float
    rtol: float
    gating: bool = True
    n: int = 0
    error: str | None = None
    # batch size -> {max_abs_diff, max_rel_diff, count_agreement, disagreements, seconds, ...}
    by_batch_size: dict[int, dict] = dataclasses.field(default_factory=dict)
    count_accuracy: float | None = None
    min_reference_gap: float | None = None
    examples: list[dict] = dataclasses.field(default_factory=list)

    def _worst(self, key: str, pick=max) -> float | None:
        """The worst of one figure over the batch sizes (None before any has run)."""
        return pick((f[key] for f in self.by_batch_size.values()), default=None)

    @property
    def max_abs_diff(self) -> float | None:
        return self._worst("max_abs_diff")

    @property
    def max_rel_diff(self) -> float | None:
        return self._worst("max_rel_diff")

    @property
    def max_scaled_diff(self) -> float | None:
        return self._worst("max_scaled_diff")

    @property
    def tolerance_used(self) -> float | None:
        return self._worst("tolerance_used")

    @property
    def count_agreement(self) -> float | None:
        return self._worst("count_agreement", min)

    @property
    def passed(self) -> bool:
        return (self.error is None and bool(self.by_batch_size)
                and self.count_agreement == 1.0 and self.tolerance_used <= 1.0)

    def failures(self) -> list[str]:
        """Why it did not pass, one reason per item."""
        if self.error is not None:
            return [self.error]
        reasons = []
        for size, f in self.by_batch_size.items():
            if f["count_agreement"] < 1.0:
                reasons.append(f"batch {size}: {f['disagreements']} counts differ from {self.against}")
            if f["tolerance_used"] > 1.0:
                reasons.append(f"batch {size}: logits differ by up to {f['max_abs_diff']:.3g}, "
                               f"{f['tolerance_used']:.3g} times the tolerance")
        return reasons

    def line(self) -> str:
        """One line for the terminal: verdict and figures."""
        label = f"{self.name} vs {self.against}"
        verdict = ("PASSED" if self.passed else "FAILED") if self.gating else "(reported)"
        if self.error is not None:
            return f"{label}: {verdict}  {self.error}"
        worst = max(self.by_batch_size.values(), key=lambda f: f["disagreements"])
        agree = self.n - worst["disagreements"]
        text = (f"{label}: {verdict}  counts agree {agree}/{self.n} ({100 * agree / self.n:.3f}%)  "
                f"max |diff| {self.max_abs_diff:.1e}  scaled {self.max_scaled_diff:.1e}")
        if self.gating:
            text += f"  tolerance used {100 * self.tolerance_used:.1f}%"
        text += f"  max rel diff {self.max_rel_diff:.1e}  batch sizes {','.join(map(str, self.by_batch_size))}"
        if self.count_accuracy is not None:
            text += f"  count accuracy {100 * self.count_accuracy:.3f}%"
        if self.min_reference_gap is not None:
            text += f"  reference's min top-2 gap {self.min_reference_gap:.1e}"
        if self.gating and not self.passed:
            text += "  [" + "; ".join(self.failures()) + "]"
        return text

    def to_dict(self) -> dict:
        return {
            "name": self.name, "against": self.against, "gating": self.gating, "n": self.n,
            "passed": self.passed, "error": self.error, "atol": self.atol, "rtol": self.rtol,
            "max_abs_diff": self.max_abs_diff, "max_scaled_diff": self.max_scaled_diff,
            "tolerance_used": self.tolerance_used, "max_rel_diff": self.max_rel_diff,
            "count_agreement": self.count_agreement, "count_accuracy": self.count_accuracy,
            "min_reference_gap": self.min_reference_gap,
            "by_batch_size": {str(k): v for k, v in self.by_batch_size.items()},
            "disagreement_examples": self.examples,
        }


@dataclasses.dataclass
class ParityResult:
    """Everything the check measured. True when every gating comparison passed."""

    reference: str
    atol: float
    rtol: float
    batch_sizes: tuple[int, ...]
    set_sizes: dict[str, int]
    reference_accuracy: float
    reference_min_gap: float
    reference_seconds: float
    comparisons: list[Comparison]

    @property
    def passed(self) -> bool:
        gating = [c for c in self.comparisons if c.gating]
        return bool(gating) and all(c.passed for c in gating)

    def __bool__(self) -> bool:
        return self.passed

    def summary(self, report: str) -> dict:
        """The manifest's parity section: the verdict and each candidate's headline figures;
        ``report`` names the file that holds every figure."""
        figures = ("passed", "max_abs_diff", "max_scaled_diff", "tolerance_used", "max_rel_diff",
                   "count_agreement", "count_accuracy", "min_reference_gap")
        return {
            "passed": self.passed, "atol": self.atol, "rtol": self.rtol, "tolerance": TOLERANCE_RULE,
            "reference": self.reference, "report": report, "n_inputs": sum(self.set_sizes.values()),
            "inputs": dict(self.set_sizes), "batch_sizes": list(self.batch_sizes),
            "reference_count_accuracy": self.reference_accuracy,
            "reference_min_top2_gap": self.reference_min_gap,
            "artifacts": {c.name: {k: getattr(c, k) for k in figures}
                          for c in self.comparisons if c.gating},
            "between_artifacts": [{"pair": [c.name, c.against], "max_abs_diff": c.max_abs_diff,
                                   "max_scaled_diff": c.max_scaled_diff,
                                   "count_agreement": c.count_agreement}
                                  for c in self.comparisons if not c.gating],
        }

    def lines(self) -> list[str]:
        return [c.line() for c in self.comparisons]

    def to_dict(self) -> dict:
        return {
            "passed": self.passed, "atol": self.atol, "rtol": self.rtol,
            "tolerance": TOLERANCE_RULE,
            "reference": self.reference,
            "batch_sizes": list(self.batch_sizes), "inputs": dict(self.set_sizes),
            "n_inputs": sum(self.set_sizes.values()),
            "reference_count_accuracy": self.reference_accuracy,
            "reference_min_top2_gap": self.reference_min_gap,
            "reference_seconds": self.reference_seconds,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }
