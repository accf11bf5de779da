"""Is this model directory signed by the key we trust, exactly as it is now?

``verify_signature(model_dir, public_key)`` checks ``model.sig`` (written by ``python -m
export --sign-key``) with the OpenSSF ``model-signing`` library (the ``sign`` extra) and
raises ``SignatureError`` unless all of this holds:

- the signature exists and was made by the private half of ``public_key``;
- every file it signed is there, byte for byte as signed;
- the manifest is among them, and so is every file the manifest lists (artifacts, variants,
  folded files, golden set, ONNX test data): a signature that covers less than the model
  trusts nothing.

Files the signature does not cover (the Keras model, reports written later) are ignored.
Call it before anything opens a model file: a backend parses what it is given.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from .errors import BackendUnavailableError, SignatureError

__all__ = ["SIGNATURE_NAME", "verify_signature", "signed_files", "signed_digests", "read_trusted_manifest"]

SIGNATURE_NAME = "model.sig"
MANIFEST_NAME = "manifest.json"


def _verifying():
    try:
        from model_signing import verifying
    except ImportError:
        raise BackendUnavailableError(
            "checking a signature needs the sign extra: pip install 'parity-edge[sign]'",
            package="parity-edge[sign]") from None
    return verifying


def signed_digests(signature: Path) -> dict[str, str]:
    """File (relative path) -> sha256 as the signature records it, read from its in-toto
    statement. Only meaningful after ``verify_signature`` accepted it: this checks nothing.
    A loader compares the bytes it actually parses (the manifest) with these, so a file
    swapped between the check and the read is refused too."""
    try:
        bundle = json.loads(Path(signature).read_text(encoding="utf-8"))
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        return {entry["name"]: entry["digest"] for entry in statement["predicate"]["resources"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{signature}: not a model signature: {exc}") from exc


def signed_files(signature: Path) -> set[str]:
    """The files a signature names (see ``signed_digests``)."""
    return set(signed_digests(signature))


def _reason(directory: Path, signature: Path, exc: Exception) -> str:
    """Which signed files changed or went missing; else the library's first line (its own
    message on a hash mismatch is a page of byte strings)."""
    import hashlib

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if text.startswith("Key mismatch"):
        return "signed by another key than the one given"
    try:
        digests = signed_digests(signature)
    except SignatureError:
        return text[:300]
    missing, changed = [], []
    for name, digest in sorted(digests.items()):
        path = directory / name
        if not path.is_file():
            missing.append(name)
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            changed.append(name)
    parts = ([f"changed since signing: {', '.join(changed)}"] if changed else []) + \
            ([f"missing: {', '.join(missing)}"] if missing else [])
    return "; ".join(parts) or text[:300]


def verify_signature(model_dir: str | Path, public_key: str | Path) -> set[str]:
    """Refuse (SignatureError) a model directory that ``public_key`` did not sign as it is
    now; return the files the signature covers. See the module docstring."""
    return _verified(Path(model_dir), Path(public_key))[1]


def _verified(directory: Path, key: Path):
    """``(manifest, covered)``: the directory's manifest as signed, parsed by the one reader,
    and the files the signature covers, once the signature holds and covers every file the
    manifest lists."""
    from .manifest import read_manifest

    signature = directory / SIGNATURE_NAME
    if not key.is_file():
        raise SignatureError(f"{key}: no such public key file")
    if not signature.is_file():
        raise SignatureError(f"{directory}: not signed (no {SIGNATURE_NAME}); refusing to "
                             f"trust it")
    verifying = _verifying()
    try:
        config = verifying.Config().use_elliptic_key_verifier(public_key=key)
        config.set_ignore_unsigned_files(True).verify(directory, signature)
    except Exception as exc:  # the library raises ValueError and its dependencies' own types
        raise SignatureError(f"{directory}: signature check failed: "
                             f"{_reason(directory, signature, exc)}") from exc
    manifest = read_manifest(directory / MANIFEST_NAME)
    if signed_digests(signature).get(MANIFEST_NAME) != manifest.sha256:
        raise SignatureError(f"{directory / MANIFEST_NAME}: not the manifest that was signed (it "
                             "changed while it was being checked, or it is not the signed "
                             "directory's manifest)")
    covered = signed_files(signature)
    uncovered = sorted({MANIFEST_NAME, *manifest.file_names()} - covered)
    if uncovered:
        raise SignatureError(f"{directory}: the signature does not cover {', '.join(uncovered)}")
    return manifest, covered


def read_trusted_manifest(path: str | Path, public_key: str | Path):
    """The manifest at ``path``, read only after the signature of its directory held for
    ``public_key``, and refused unless the bytes parsed are the bytes signed (a manifest
    swapped between the check and the read is not trusted). What the loader calls before
    any backend opens a file of the model."""
    path = Path(path)
    if path.name != MANIFEST_NAME:
        raise SignatureError(f"{path}: not the signed directory's manifest ({MANIFEST_NAME})")
    return _verified(path.parent, Path(public_key))[0]
