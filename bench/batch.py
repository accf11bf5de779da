"""runtime.batch against runtime.predict on the same 10,000,000 lines, on this host.

Measured: the wall time of each command (``runtime.batch`` starts a local Ray instance,
counts on its actor pool, writes Parquet parts and stops the instance), their ratio
(Ray's cost on one host), the lines per second of each ``runtime.batch`` worker while
the job runs, and the time to start the local instance. Beside it, the same job on a
two-node cluster on this host (``ray start`` on 127.0.0.2 and 127.0.0.3, one CPU each, so
the same two CPUs as the one-node run, with token authentication, the driver joining
with ``--address``): what splitting the CPUs over two raylets costs, blocks crossing
between their object stores. From the per-worker rate, an estimate on paper of what N
hosts would give. Each command runs ``ROUNDS`` times, in turn; medians are quoted.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
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


def _timed(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
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


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def two_nodes(tmp: Path, cpus_per_node: int = 1):
    """A two-node Ray cluster on this host, with token authentication: yields
    ``(address, env, start_seconds)``, the driver's environment holding the token. Its
    processes are stopped by id at the end (``ray stop`` would stop every Ray of the host)."""
    import tempfile

    ray = str(Path(sys.executable).parent / "ray")
    base = Path(tempfile.mkdtemp(prefix="pe-bench-", dir="/tmp"))  # Unix socket paths are short
    port = _free_port("127.0.0.2")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=uuid.uuid4().hex)
    common = [f"--num-cpus={cpus_per_node}", "--dashboard-agent-listen-port=0", "--object-store-memory=500000000"]
    start = time.perf_counter()
    try:
        for argv in ([ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.2",
                      f"--temp-dir={base / 'h'}", "--include-dashboard=false",
                      f"--ray-client-server-port={_free_port('127.0.0.2')}", *common],
                     [ray, "start", f"--address=127.0.0.2:{port}", "--node-ip-address=127.0.0.3",
                      f"--temp-dir={base / 'n'}", *common]):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)
            if done.returncode != 0:
                raise SystemExit(f"bench: {' '.join(argv[1:3])} failed: {done.stderr.strip()[-500:]}")
        yield f"127.0.0.2:{port}", env, time.perf_counter() - start
    finally:
        marker = str(base).encode()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _batch_run(argv: list[str], n_lines: int, env: dict | None = None) -> tuple[float, float, int, float]:
    """One runtime.batch run: wall, job seconds, workers, cluster-ready seconds."""
    wall, out = _timed(argv, env)
    match = _SUMMARY.search(out)
    if match is None:
        raise SystemExit(f"bench: cannot read runtime.batch's summary: {out!r}")
    lines, job_s, workers, start_s = (int(match[1].replace(",", "")), float(match[2]),
                                      int(match[3]), float(match[4]))
    if lines != n_lines:
        raise SystemExit(f"bench: runtime.batch wrote {lines:,} lines of {n_lines:,}")
    return wall, job_s, workers, start_s


def bench_batch(model_dir: Path, tmp: Path, n_lines: int = N_LINES,
                rounds: int = ROUNDS) -> dict:
    big = tmp / "bits_batch.txt"
    write_bits_file(big, n_lines, seed=5)
    predict = [sys.executable, "-m", "runtime.predict", str(big), "--model", str(model_dir),
               "--output", str(tmp / "predict.out")]
    batch = [sys.executable, "-m", "runtime.batch", str(big), "--model", str(model_dir),
             "--output", str(tmp / "batch.out"), "--overwrite"]
    walls = {"runtime.predict": [], "runtime.batch": [], "runtime.batch, two nodes": []}
    jobs, starts, per_worker, workers = [], [], [], 0
    jobs2, joins2, per_worker2, workers2 = [], [], [], 0
    with two_nodes(tmp) as (address, env, cluster_up_s):
        for _ in range(rounds):
            walls["runtime.predict"].append(_timed(predict)[0])
            wall, job_s, workers, start_s = _batch_run(batch, n_lines)
            walls["runtime.batch"].append(wall)
            jobs.append(job_s)
            starts.append(start_s)
            per_worker.append(n_lines / job_s / workers)
            wall, job_s, workers2, join_s = _batch_run(batch + ["--address", address], n_lines, env)
            walls["runtime.batch, two nodes"].append(wall)
            jobs2.append(job_s)
            joins2.append(join_s)
            per_worker2.append(n_lines / job_s / workers2)
    big.unlink()
    result = {name: statistics.median(v) for name, v in walls.items()}
    rate = statistics.median(per_worker)
    out = {"lines": n_lines, "rounds": rounds, "wall_s": {k: {"median": v, "runs": walls[k]} for k, v in result.items()},
           "ratio": result["runtime.batch"] / result["runtime.predict"],
           "job_s": statistics.median(jobs), "cluster_start_s": statistics.median(starts),
           "workers": workers, "lines_per_s_per_worker": rate,
           "predict_lines_per_s": n_lines / result["runtime.predict"],
           "two_nodes": {"cpus_per_node": 1, "cluster_up_s": cluster_up_s, "join_s": statistics.median(joins2),
                         "job_s": statistics.median(jobs2), "workers": workers2,
                         "lines_per_s_per_worker": statistics.median(per_worker2),
                         "ratio_to_one_node": statistics.median(jobs2) / statistics.median(jobs)},
           "estimates": [estimate(rate, h, c) for h, c in ESTIMATES]}
    two = out["two_nodes"]
    print(f"  runtime.predict {result['runtime.predict']:.1f} s, runtime.batch {result['runtime.batch']:.1f} s "
          f"({out['ratio']:.2f}x; local cluster ready in {out['cluster_start_s']:.1f} s, job "
          f"{out['job_s']:.1f} s on {workers} worker(s): {rate:,.0f} lines/s per worker); two nodes: job "
          f"{two['job_s']:.1f} s on {workers2} worker(s) ({two['ratio_to_one_node']:.2f}x one node)", flush=True)
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
             f"| per worker | {b['lines_per_s_per_worker']:,.0f} lines/s |"]
    two = b.get("two_nodes")
    if two is not None:
        lines += [f"| two nodes on this host, {two['cpus_per_node']} CPU each (`ray start`, token auth), up | "
                  f"{two['cluster_up_s']:.1f} s |",
                  f"| two nodes: runtime.batch wall (join, job) | "
                  f"{w['runtime.batch, two nodes']['median']:.1f} s (joined in {two['join_s']:.1f} s) |",
                  f"| two nodes: job | {two['job_s']:.1f} s on {two['workers']} worker(s), "
                  f"{two['ratio_to_one_node']:.2f}x the one-node job |",
                  f"| two nodes: per worker | {two['lines_per_s_per_worker']:,.0f} lines/s |"]
    lines += ["",
             "On paper, from the per-worker rate (default pool: one actor per CPU, less one in 16 "
             "for reading), if the input arrives fast enough:", "",
             "| hosts x CPUs | workers | lines/s | input per host | 1 TB of lines |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {e['hosts']} x {e['cores_per_host']} | {e['workers']} | {e['lines_per_s'] / 1e6:,.1f} M | "
              f"{e['input_mb_per_s_per_host']:,.0f} MB/s | {duration(e['seconds_per_terabyte'])} |"
              for e in b["estimates"]]
    return "\n".join(lines) + "\n"
