"""The device installs: size on disk and the command line's cold start in each.

``.venv-runtime`` (both backends, the ``runtime`` extra), ``.venv-tflite`` and
``.venv-onnx`` (one backend each), ``.venv-legacy`` (tflite-runtime 2.14 with numpy < 2)
and, for comparison, ``.venv`` (TensorFlow, the converters and Ray: what training needs).
Environments that ``make`` has not built are left out.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = {".venv-runtime": "runtime extra (LiteRT + onnxruntime)",
                ".venv-tflite": "tflite extra (LiteRT only)",
                ".venv-onnx": "onnx extra (onnxruntime only)",
                ".venv-legacy": "tflite-runtime 2.14, numpy < 2, onnxruntime",
                ".venv": "training and export (TensorFlow, converters, Ray)"}


def size_on_disk(directory: Path) -> int:
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def bench_environments(one_line: Path, run_command, rounds: int = 5) -> dict:
    """``run_command(argv) -> (wall s, peak MB)`` is the bench's own launcher."""
    result = {}
    for name, what in ENVIRONMENTS.items():
        python = ROOT / name / "bin" / "python"
        if not python.exists():
            continue
        # The installed copy's own shipped model, as a device would run it.
        argv = [str(python), "-m", "runtime.predict", str(one_line)]
        run_command(argv)  # warm the page cache
        walls, peaks = zip(*(run_command(argv) for _ in range(rounds)))
        result[name] = {"what": what, "size_mb": size_on_disk(ROOT / name) / 1e6,
                        "cold_start_s": statistics.median(walls), "peak_rss_mb": statistics.median(peaks)}
        print(f"  {name}: {result[name]['size_mb']:.0f} MB, cold start "
              f"{result[name]['cold_start_s']:.3f} s, {result[name]['peak_rss_mb']:.0f} MB", flush=True)
    return result


def markdown(result: dict) -> str:
    lines = ["Device installs (`python -m runtime.predict` on one line, each environment's installed "
             "copy and shipped model; median of 5 runs):", "",
             "| environment | what | size on disk | cold start | peak RSS |",
             "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| `{name}` | {r['what']} | {r['size_mb']:,.0f} MB | {r['cold_start_s']:.3f} s | "
              f"{r['peak_rss_mb']:.0f} MB |" for name, r in result.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # a quick look: python -m bench.environments
    import tempfile

    from bench.harness import run_command

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("0110\n")
        f.flush()
        print(markdown(bench_environments(Path(f.name), run_command)))
    sys.exit(0)
