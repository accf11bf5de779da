"""runtime.batch against runtime.predict on the same 10,000,000 lines, on this host.

Measured: the wall time of each command (``runtime.batch`` starts a local Ray instance,
counts on its actor pool, writes Parquet parts and stops the instance), their ratio
(Ray's cost on one host), the lines per second of each ``runtime.batch`` worker while
the job runs, and the time to start the local instance. From the per-worker rate, an
estimate on paper of what N hosts would give. Each command runs ``ROUNDS`` times, in
turn; medians are quoted.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import ROOT, write_bits_file
N_LINES = 10_000_000
ROUNDS = 2
BYTES_PER_LINE = 51  # 50 bits and a line end
TERABYTE = 10 ** 12
#: Hosts for the estimate on paper: this host's 2 cores, and 16-core hosts.
ESTIMATES = ((1, 2), (1, 16), (10, 16), (100, 16))

_SUMMARY = re.compile(r"([\d,]+) lines: .* in ([\d.]+) s, [\d,]+ lines/s on (\d+) workers? "
                      r"\(cluster ready in ([\d.]+) s\)")


def _timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, done.stdout


def estimate(per_worker: float, hosts: int, cores: int) -> dict:
    """Lines per second of ``hosts`` hosts of ``cores`` CPUs, at ``per_worker`` lines/s per
    actor, with the default pool; and the time for a terabyte of 50-bit lines."""
    from runtime.batch import default_workers

    workers = default_workers(hosts * cores)
    rate = per_worker * workers
    return {"hosts": hosts, "cores_per_host": cores, "workers": workers, "lines_per_s": rate,
            "input_mb_per_s_per_host": rate * BYTES_PER_LINE / hosts / 1e6,
            "seconds_per_terabyte": TERABYTE / BYTES_PER_LINE / rate}


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 60:,.1f} min" if seconds >= 60 else f"{seconds:,.0f} s"


def bench_batch(model_dir: Path, tmp: Path) -> dict:
    big = tmp / "bits_batch.txt"
    write_bits_file(big, N_LINES, seed=5)
    predict = [sys.executable, "-m", "runtime.predict", str(big), "--model", str(model_dir),
               "--output", str(tmp / "predict.out")]
    batch = [sys.executable, "-m", "runtime.batch", str(big), "--model", str(model_dir),
             "--output", str(tmp / "batch.out"), "--overwrite"]
    walls = {"runtime.predict": [], "runtime.batch": []}
    jobs, starts, per_worker, workers = [], [], [], 0
    for _ in range(ROUNDS):
        walls["runtime.predict"].append(_timed(predict)[0])
        wall, out = _timed(batch)
        walls["runtime.batch"].append(wall)
        match = _SUMMARY.search(out)
        if match is None:
            raise SystemExit(f"bench: cannot read runtime.batch's summary: {out!r}")
        lines, job_s, workers, start_s = (int(match[1].replace(",", "")), float(match[2]),
                                          int(match[3]), float(match[4]))
        if lines != N_LINES:
            raise SystemExit(f"bench: runtime.batch wrote {lines:,} lines of {N_LINES:,}")
        jobs.append(job_s)
        starts.append(start_s)
        per_worker.append(lines / job_s / workers)
    big.unlink()
    result = {name: statistics.median(v) for name, v in walls.items()}
    rate = statistics.median(per_worker)
    out = {"lines": N_LINES, "rounds": ROUNDS, "wall_s": {k: {"median": v, "runs": walls[k]} for k, v in result.items()},
           "ratio": result["runtime.batch"] / result["runtime.predict"],
           "job_s": statistics.median(jobs), "cluster_start_s": statistics.median(starts),
           "workers": workers, "lines_per_s_per_worker": rate,
           "predict_lines_per_s": N_LINES / result["runtime.predict"],
           "estimates": [estimate(rate, h, c) for h, c in ESTIMATES]}
    print(f"  runtime.predict {result['runtime.predict']:.1f} s, runtime.batch {result['runtime.batch']:.1f} s "
          f"({out['ratio']:.2f}x; local cluster ready in {out['cluster_start_s']:.1f} s, job "
          f"{out['job_s']:.1f} s on {workers} worker(s): {rate:,.0f} lines/s per worker)", flush=True)
    return out


def markdown(b: dict) -> str:
    w = b["wall_s"]
    lines = [f"runtime.batch against runtime.predict, {b['lines']:,} lines of 50 bits, file to file on this "
             f"host (median of {b['rounds']} runs each, in turn):", "",
             "| measure | value |", "| --- | --- |",
             f"| runtime.predict, wall | {w['runtime.predict']['median']:.1f} s "
             f"({b['predict_lines_per_s']:,.0f} lines/s) |",
             f"| runtime.batch, wall (local Ray: start, job, stop) | {w['runtime.batch']['median']:.1f} s "
             f"({b['ratio']:.2f}x runtime.predict) |",
             f"| local Ray instance ready | {b['cluster_start_s']:.1f} s |",
             f"| runtime.batch job (read, count, write Parquet) | {b['job_s']:.1f} s on {b['workers']} worker(s) |",
             f"| per worker | {b['lines_per_s_per_worker']:,.0f} lines/s |", "",
             "On paper, from the per-worker rate (default pool: one actor per CPU, less one in 16 "
             "for reading), if the input arrives fast enough:", "",
             "| hosts x CPUs | workers | lines/s | input per host | 1 TB of lines |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {e['hosts']} x {e['cores_per_host']} | {e['workers']} | {e['lines_per_s'] / 1e6:,.1f} M | "
              f"{e['input_mb_per_s_per_host']:,.0f} MB/s | {duration(e['seconds_per_terabyte'])} |"
              for e in b["estimates"]]
    return "\n".join(lines) + "\n"
