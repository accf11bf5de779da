"""What every measurement shares: timing a call, the spread of repeated runs, running one
command in a fresh process, writing an input file, and the facts of the machine."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5
MIN_SECONDS = 0.25  # per contender per round: long enough to average out timer noise


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def rate(fn, n_per_call: int) -> tuple[float, float]:
    """Sequences per second of ``fn`` over at least MIN_SECONDS, and per CPU-second of this
    process (every thread's time counts)."""
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SECONDS:
            return calls * n_per_call / elapsed, calls * n_per_call / max(time.process_time() - cpu, 1e-9)


def krate(value: float) -> str:
    """Sequences per second in thousands, with enough digits for the slow contenders."""
    return f"{value / 1e3:,.0f}k" if value >= 10_000 else f"{value / 1e3:.2f}k"


def interleaved(contenders: dict, rounds: int = ROUNDS) -> dict[str, list]:
    """Run each contender once per round, in turn, so drift hits all of them alike."""
    results = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            results[name].append(fn())
    return results


# Each command is started by this launcher, a fresh and small Python process. A child's
# peak RSS (ru_maxrss) counts the memory of the process it was forked from, and this
# benchmark holds TensorFlow: started from here, every command would read as much as it.
_LAUNCHER = """
import os, sys, time
argv = sys.argv[1:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ,
                      file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_command(argv: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of one child process."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], capture_output=True, cwd=ROOT)
    try:
        wall, maxrss, status = (float(x) for x in done.stdout.split())
    except ValueError:
        wall, maxrss, status = 0.0, 0.0, done.returncode or 1
    if done.returncode != 0 or status != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({status:.0f}): "
                         f"{done.stderr.decode(errors='replace').strip()[-500:]}")
    return wall, maxrss / 1024  # ru_maxrss is in KiB on Linux


def write_bits_file(path: Path, n_lines: int, seed: int, n_bits: int = 50) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for start in range(0, n_lines, 1_000_000):
            n = min(1_000_000, n_lines - start)
            rows = np.empty((n, n_bits + 1), np.uint8)
            rows[:, :n_bits] = rng.integers(0, 2, (n, n_bits), dtype=np.uint8) + ord("0")
            rows[:, n_bits] = ord("\n")
            f.write(rows.tobytes())


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from runtime.versions import versions as installed

    found = installed(("numpy", "tensorflow", "keras", "onnxruntime", "ai_edge_litert", "tf2onnx", "ray",
                       "pyarrow"))
    versions = {name: value for name, value in found.items() if value is not None}
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "load_average_at_start": os.getloadavg()}


def compile_runtime() -> None:
    """Write the runtime's bytecode, as installing it does: without it (an editable install,
    PYTHONDONTWRITEBYTECODE) every cold start would compile the package from source first."""
    import compileall

    compileall.compile_dir(ROOT / "runtime", quiet=1)
