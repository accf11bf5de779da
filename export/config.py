"""Settings of the export stage: one frozen dataclass, fields named like the CLI's flags."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runtime.errors import UsageError

__all__ = ["ExportConfig", "GRAPH_FORMS", "ONNX_GRAPH_FOR_CELL", "DEFAULT_BATCH_SIZES"]

# How the recurrent layer appears in the ONNX graph. "unrolled": the unroll=True twin, one
# block of operators per step. "recurrent": the trained layer as is, which tf2onnx turns into
# an ONNX Loop (SimpleRNN, GRU) or into ONNX's own LSTM operator (LSTM). TFLite is always
# unrolled: the recurrent form needs Flex ops there.
GRAPH_FORMS = ("unrolled", "recurrent")

# The faster form per cell, both exact (identical logits): the unrolled Loop-free graph
# wins for SimpleRNN and GRU at every batch size; for LSTM the native operator is far
# faster on single strings and level on large batches.
ONNX_GRAPH_FOR_CELL = {"rnn": "unrolled", "gru": "unrolled", "lstm": "recurrent"}

# The batch sizes the parity check runs every candidate at: a single string, an odd size
# that leaves a ragged last batch, a typical serving batch, and a large one.
DEFAULT_BATCH_SIZES = (1, 7, 256, 4096)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What ``run_export`` does. Saved in the manifest beside what it produced."""

    # Directory the artifacts are published into.
    out: Path = Path("artifacts")
    # The trained Keras model; None means ``<out>/model.keras``.
    model: Path | None = None
    # Seed of the parity check's random strings.
    seed: int = 2018
    # Uniformly random strings in the parity check.
    n_random: int = 10_000
    # Strings for each count 0..n_bits (ones at random positions) in the parity check.
    per_count: int = 20
    # Batch sizes every candidate is run at; the reference runs once.
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    # Graph form of the ONNX file: "auto" (ONNX_GRAPH_FOR_CELL) or one of GRAPH_FORMS.
    onnx_graph: str = "auto"
    # Export a model whose training report does not say it is exact (or that has no
    # report); the manifest then says so. Off: such a model is refused.
    allow_inexact: bool = False
    # Fresh strings to count through each converted file with the runtime before
    # publishing (export.soak); any miscount fails the export. 0: no soak.
    soak: int = 0
    # Seed of the soak's strings; None draws a fresh one (recorded in the manifest).
    soak_seed: int | None = None
    # Reduced-precision variants to build and gate (export.convert.VARIANTS).
    variants: tuple[str, ...] = ()
    # A variant is published only if every string it is checked on is won by this much.
    variant_min_gap: float = 0.25
    # A private key (elliptic-curve PEM): sign the published files with it (export.signing).
    sign_key: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "out", Path(self.out))
        if self.model is not None:
            object.__setattr__(self, "model", Path(self.model))
        if self.sign_key is not None:
            object.__setattr__(self, "sign_key", Path(self.sign_key))
        problems = []
        for name in ("seed", "n_random", "per_count", "soak"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"{name.replace('_', '-')} must be a non-negative integer, got {value!r}")
        sizes = tuple(self.batch_sizes)
        if not sizes or any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in sizes):
            problems.append(f"batch-sizes must be positive integers, got {list(sizes)}")
        object.__setattr__(self, "batch_sizes", tuple(dict.fromkeys(sizes)))
        if self.onnx_graph not in ("auto", *GRAPH_FORMS):
            problems.append(f"onnx-graph must be one of auto, {', '.join(GRAPH_FORMS)}, "
                            f"got {self.onnx_graph!r}")
        from .convert import VARIANTS

        variants = tuple(dict.fromkeys(self.variants))
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            problems.append(f"variants must be among {', '.join(VARIANTS)} (or all), "
                            f"got {', '.join(map(repr, unknown))}")
        object.__setattr__(self, "variants", variants)
        if not isinstance(self.variant_min_gap, (int, float)) or self.variant_min_gap < 0:
            problems.append(f"variant-min-gap must be a non-negative number, got {self.variant_min_gap!r}")
        if self.soak_seed is not None and (not isinstance(self.soak_seed, int) or self.soak_seed < 0):
            problems.append(f"soak-seed must be a non-negative integer, got {self.soak_seed!r}")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def model_path(self) -> Path:
        """The model to export: ``model``, or ``<out>/model.keras``."""
        return self.model if self.model is not None else self.out / "model.keras"

    def onnx_graph_for(self, cell: str) -> str:
        """The ONNX graph form to build for a model with this cell."""
        return ONNX_GRAPH_FOR_CELL.get(cell, "unrolled") if self.onnx_graph == "auto" else self.onnx_graph

    def to_dict(self) -> dict:
        """JSON-ready settings, with the model path resolved."""
        return {"out": str(self.out), "model": str(self.model_path), "seed": self.seed,
                "n_random": self.n_random, "per_count": self.per_count,
                "batch_sizes": list(self.batch_sizes), "onnx_graph": self.onnx_graph,
                "allow_inexact": self.allow_inexact, "soak": self.soak, "soak_seed": self.soak_seed,
                "variants": list(self.variants), "variant_min_gap": self.variant_min_gap,
                "signed": self.sign_key is not None}  # never the key's path
