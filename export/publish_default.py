"""Ship a default model with the runtime package (``make default-model``).

``python -m export.publish_default ARTIFACTS_DIR PACKAGE_MODEL_DIR`` copies ``manifest.json``,
``model.tflite``, ``model.onnx`` and ``golden.npz`` from an export into the runtime package's
model directory.
It refuses (exit 1) unless the manifest records a passed parity check and every file matches
its recorded size and sha256; the copies are checked again and moved into place with
``os.replace``, the manifest last, so the package never holds a mix of two exports.

Exit codes: 0 copied, 1 refused or failed (the package directory is unchanged), 2 usage,
130 interrupted.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from runtime.loader import model_manifest, verify_files
from runtime.manifest import MANIFEST_NAME

from .errors import ExportError
from .publish import Staging, read_export

__all__ = ["publish_default", "main"]


def publish_default(artifacts: Path, package: Path) -> list[Path]:
    """Copy a verified export from ``artifacts`` into ``package``; return the paths written."""
    artifacts, package = Path(artifacts), Path(package)
    manifest = read_export(artifacts)
    parity = manifest.data.get("parity")
    if not isinstance(parity, dict) or parity.get("passed") is not True:
        raise ExportError(f"{artifacts / MANIFEST_NAME}: the parity check did not pass; "
                          "refusing to ship these artifacts")
    problems = verify_files(manifest)
    if problems:
        raise ExportError("refusing to ship: " + "; ".join(problems))
    listed = manifest.file_names()
    names = [name for name in listed if "/" not in name]
    copied = [name for name in listed if "/" in name]  # in a folder (the ONNX test data), which moves in whole
    with Staging(package) as staging:
        for name in [*names, *copied, MANIFEST_NAME]:
            (staging.path / name).parent.mkdir(exist_ok=True)
            shutil.copyfile(artifacts / name, staging.path / name)
        names += sorted({name.split("/")[0] for name in copied})
        problems = verify_files(model_manifest(staging.path))  # the copies, not only the sources
        if problems:
            raise ExportError("copies differ from the manifest: " + "; ".join(problems))
        return staging.commit(names, last=MANIFEST_NAME)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (see ``--help``)."""
    from runtime.cli.args import run_main

    return run_main("export.publish_default", lambda: _main(argv),
                    interrupted="export.publish_default: interrupted; nothing was copied")


def _main(argv: list[str] | None) -> int:
    from runtime.cli.args import OneLineParser

    parser = OneLineParser(
        prog="python -m export.publish_default",
        description="Copy a verified export (manifest.json and every file it lists) into the "
                    "runtime package's model directory.",
        epilog="exit codes: 0 copied; 1 refused (parity not passed, files not matching the "
               "manifest) or failed; 2 usage; 130 interrupted")
    parser.add_argument("artifacts", metavar="ARTIFACTS_DIR", help="directory of a finished export")
    parser.add_argument("package", metavar="PACKAGE_MODEL_DIR", help="e.g. runtime/model")
    args = parser.parse_args(argv)
    try:
        written = publish_default(Path(args.artifacts), Path(args.package))
    except OSError as exc:
        raise ExportError(f"{exc.filename or args.package}: {exc.strerror or exc}") from exc
    print(f"export.publish_default: {', '.join(p.name for p in written)} -> {args.package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
