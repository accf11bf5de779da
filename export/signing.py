"""Signing the published files with a private key: ``python -m export --sign-key KEY.pem``.

The OpenSSF ``model-signing`` library (the ``sign`` extra), its elliptic-curve key method:
it hashes every file of the model directory and signs the list (an in-toto statement in a
Sigstore bundle, DSSE envelope), written as ``model.sig`` beside the manifest. The
signature is not listed in the manifest: it covers the manifest, so it cannot be in it.

What is signed: the manifest and every file the export publishes (artifacts, variants,
golden set, ONNX test data, parity report). Whatever else lies in the directory (the Keras
model, the training report, a benchmark's output) is named in the signature as ignored, so
files added there later do not void it. ``runtime.signing.verify_signature`` checks it on
the device, without TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ExportError

__all__ = ["SIGNATURE_NAME", "sign_directory"]

SIGNATURE_NAME = "model.sig"


def _signing_library():
    try:
        from model_signing import hashing, signing
    except ImportError as exc:
        raise ExportError(f"--sign-key needs the sign extra: pip install 'parity-edge[sign]' "
                          f"({exc})") from None
    return hashing, signing


def sign_directory(directory: Path, names: list[str], key: Path) -> str:
    """Sign ``names`` (files or folders of ``directory``) with the private ``key``; write the
    signature to ``directory/model.sig`` atomically and return its name.

    Raises ExportError for a missing, unreadable or unsuitable key.
    """
    hashing, signing = _signing_library()
    directory, key = Path(directory), Path(key)
    if not key.is_file():
        raise ExportError(f"{key}: no such key file (make keys makes a pair under keys/)")
    from runtime.files import atomic_path

    with atomic_path(directory / SIGNATURE_NAME) as tmp:
        ignored = sorted({p.name for p in directory.iterdir() if p.name not in names}
                         | {SIGNATURE_NAME, tmp.name})
        config = signing.Config().set_hashing_config(
            hashing.Config().set_ignored_paths(paths=ignored))
        try:
            config.use_elliptic_key_signer(private_key=key).sign(directory, tmp)
        except (ValueError, TypeError, OSError) as exc:
            raise ExportError(f"{key}: cannot sign with this key: {exc}") from exc
    return SIGNATURE_NAME
