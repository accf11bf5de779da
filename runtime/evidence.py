"""A file's proof re-derived on this machine and held against the one its manifest records.

The folded file is exact only because of its proof, and every file is exact only because its
weights are the proved ones: ``prove_artifact`` re-derives the certificate from the float32
numbers inside the bytes the loader has just checked against the manifest's sha256
(``runtime.weights.prove_file``, numpy only, milliseconds), and refuses a file

- whose weights do not prove (a damaged or replaced file whose sha256 was rewritten with it),
- whose graph is not the one the manifest lists it as,
- or whose proof differs from the recorded one: a folded file's own ``proof`` entry, and for
  the recurrent files the model's ``exactness.proof`` (the training's, on the same weights).

Recorded and re-derived proofs are computed in float64 on the same float32 weights, but the
order of a sum may differ between machines and numpy builds, so numbers are compared to a
relative ``TOLERANCE`` far below any difference a changed weight makes; the verdict and the
tightest pair must be equal.
"""

from __future__ import annotations

import math

from .errors import ModelError
from .manifest import DEFAULT_PRECISION, Artifact, Manifest

__all__ = ["TOLERANCE", "recorded_proof", "prove_artifact"]

TOLERANCE = 1e-9


def recorded_proof(manifest: Manifest, artifact: Artifact) -> dict | None:
    """The proof the manifest records for ``artifact``'s weights, or None."""
    if artifact.graph == "folded":
        return artifact.proof
    exactness = manifest.data.get("exactness")
    proof = exactness.get("proof") if isinstance(exactness, dict) else None
    return proof if isinstance(proof, dict) else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _differs(certificate, recorded: dict) -> str | None:
    """What differs between the proof found and the one recorded, or None."""
    if recorded.get("proved") is not True:
        return "the manifest records no proof for it"
    worst = recorded.get("worst")
    if list(certificate.worst or ()) != (list(worst) if isinstance(worst, list) else None):
        return f"its tightest pair is {certificate.worst}, the manifest records {worst}"
    for key in ("margin", "rounding"):
        found, expected = getattr(certificate, key), _number(recorded.get(key))
        if expected is None or not math.isclose(found, expected, rel_tol=TOLERANCE):
            return f"its {key} is {found!r}, the manifest records {recorded.get(key)!r}"
    return None


def prove_artifact(manifest: Manifest, artifact: Artifact, content: bytes):
    """The certificate of ``artifact`` from ``content``, its bytes as checked against the
    manifest; ModelError naming the file when it does not prove or does not match the
    recorded proof. Only float32 files carry a proof."""
    from .weights import prove_file

    if artifact.precision != DEFAULT_PRECISION:
        raise ModelError(f"{artifact.path}: a {artifact.precision} file has no proof to re-derive "
                         "(only float32 files do)")
    found = prove_file(artifact.path, content)  # WeightsError, a ModelError, names the file
    if found.graph != artifact.graph:
        raise ModelError(f"{artifact.path}: holds a {found.graph} graph, but the manifest lists it "
                         f"as {artifact.graph}")
    if not found:
        raise ModelError(f"{artifact.path}: its weights do not prove exact: "
                         f"{found.certificate.reason}")
    recorded = recorded_proof(manifest, artifact)
    why = "the manifest records no proof for it" if recorded is None else _differs(
        found.certificate, recorded)
    if why:
        raise ModelError(f"{artifact.path}: its proof differs from the manifest's: {why}")
    return found.certificate
