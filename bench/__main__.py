"""Measure every stage side by side with TensorFlow, in one run, on this machine.

    python -m bench [--out artifacts] [--quick | --no-stages | --batch | --graphs | --overhead]

Shared machines are noisy, so contenders are interleaved (A B A B ...), each measurement
is repeated, and the table quotes medians, the spread (min..max) and ratios taken in the
same run; throughput is also given per CPU-second (all threads together), which load on
the machine disturbs less than wall time, and the load average is recorded. The command
line runs from compiled bytecode, as an installed copy does. Results go to the terminal,
``<out>/bench.json`` and ``<out>/bench.md`` (the README's results section is that file).
Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.batch import bench_batch
from bench.batch import markdown as batch_markdown
from bench.environments import bench_environments
from bench.environments import markdown as environments_markdown
from bench.graphs import bench_graphs
from bench.graphs import markdown as graphs_markdown
from bench.variants import bench_variants
from bench.variants import markdown as variants_markdown
from bench.harness import compile_runtime, machine, run_command, write_bits_file
from bench.overhead import bench_overhead
from bench.targets import markdown, summarise
from bench.versus_tf import (bench_commands, bench_cpu_limit, bench_latency, bench_memory,
                             bench_stages, bench_throughput)


PROG = "python -m bench"


def main(argv: list[str] | None = None) -> int:
    from runtime.cli.args import Fail, OneLineParser, integer

    parser = OneLineParser(prog=PROG, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="exit status: 0 measured; 2 usage, or no exported model in --out; "
                                  "130 interrupted")
    parser.add_argument("--out", type=Path, default=Path("artifacts"),
                        help="artifact directory to benchmark and to write bench.json/bench.md into")
    stages = parser.add_mutually_exclusive_group()
    stages.add_argument("--quick", action="store_true",
                        help="do not retrain: take the training time from <out>/train_report.json")
    stages.add_argument("--no-stages", action="store_true",
                        help="neither train nor export: only the runtime against TensorFlow, on the "
                             "model in --out (its model.keras and exported artifacts)")
    stages.add_argument("--batch", action="store_true",
                        help="only runtime.batch against runtime.predict on 10,000,000 lines, on the "
                             "exported model in --out; writes <out>/bench_batch.json and .md")
    stages.add_argument("--graphs", action="store_true",
                        help="only the folded graph against the recurrent one, on the model in --out "
                             "(its model.keras too, if there, for the TensorFlow script); writes "
                             "<out>/bench_graphs.json and .md")
    stages.add_argument("--overhead", action="store_true",
                        help="only the runtime's single-call cost over raw LiteRT, for each graph of "
                             "the model in --out; writes <out>/bench_overhead.json and .md")
    parser.add_argument("--lines", type=integer(1), default=None, metavar="N",
                        help="with --batch: lines of input (default: 10,000,000); with --graphs "
                             "(default: 1,000,000), for a quick check")
    args = parser.parse_args(argv)
    model_dir, keras_path = args.out, args.out / "model.keras"
    if args.batch:
        return main_batch(model_dir, args.lines)
    if args.graphs:
        return main_graphs(model_dir, keras_path, args.lines or 1_000_000)
    if args.overhead:
        return main_overhead(model_dir)
    if not (model_dir / "manifest.json").exists() or not keras_path.exists():
        raise Fail(f"bench: {model_dir} holds no exported model (manifest.json and model.keras); "
                   "run `make train export` first", 2)

    results = _begin()
    with tempfile.TemporaryDirectory(prefix="parity-edge-bench-") as tmp_name:
        tmp = Path(tmp_name)
        print("throughput (sequences/s)", flush=True)
        results["throughput"] = {str(k): v for k, v in bench_throughput(model_dir, keras_path).items()}
        print("the CPU's limit (float32 matrix product)", flush=True)
        results["cpu_limit"] = bench_cpu_limit(model_dir)
        print(f"  {results['cpu_limit']['gemm_flops_per_s']['median'] / 1e9:.0f} GFLOP/s, "
              f"{results['cpu_limit']['flops_per_sequence']:,} FLOP a sequence: "
              f"{results['cpu_limit']['sequences_per_s'] / 1e6:.2f} M sequences/s", flush=True)
        print("single-string latency", flush=True)
        results["latency"] = bench_latency(model_dir)
        print("single-call overhead over raw LiteRT", flush=True)
        results["overhead"] = bench_overhead(model_dir)
        compile_runtime()
        print("end to end, 1,000,000 lines", flush=True)
        big = tmp / "bits_1M.txt"
        write_bits_file(big, 1_000_000, seed=2)
        results["end_to_end"] = bench_commands(model_dir, keras_path, big, tmp, rounds=3)
        print("cold start, one line", flush=True)
        one = tmp / "bits_1.txt"
        write_bits_file(one, 1, seed=4)
        results["cold_start"] = bench_commands(model_dir, keras_path, one, tmp, rounds=5)
        print("memory", flush=True)
        results["memory"] = {str(k): v for k, v in bench_memory(model_dir, tmp).items()}
        print("the device installs", flush=True)
        results["environments"] = bench_environments(one, run_command)
        print("the folded graph against the recurrent one", flush=True)
        results["graphs"] = bench_graphs(model_dir, big, keras_path)
        print("reduced-precision variants against float32", flush=True)
        results["variants"] = bench_variants(model_dir)
        print("runtime.batch (local Ray) against runtime.predict, 10,000,000 lines", flush=True)
        results["batch"] = bench_batch(model_dir, tmp)
        if not args.no_stages:
            print("training and export", flush=True)
            results["stages"] = bench_stages(tmp, args.out, args.quick)
    results["machine"]["load_average_at_end"] = os.getloadavg()

    rows = summarise(results)
    _summarised(results, rows)
    width = max(len(r[0]) for r in rows)
    print()
    for a, b, c, d in rows:
        print(f"{a:<{width}}  {b:<40} {c:<22} {d}")
    text = (markdown(results, rows) + "\n" + environments_markdown(results["environments"]) + "\n"
            + graphs_markdown(results["graphs"]) + "\n" + variants_markdown(results["variants"]) + "\n"
            + batch_markdown(results["batch"]))
    for name, text in (("bench.json", json.dumps(results, indent=2)), ("bench.md", text)):
        _write(args.out / name, text)
    print(f"\nwrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0


def _begin() -> dict:
    """A run's results as it starts: the date and the machine (its load average now)."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}


def _summarised(results: dict, rows: list[tuple[str, str, str, str]]) -> str:
    """``rows`` kept as ``results``' summary, and returned as a markdown table."""
    results["summary"] = [dict(zip(("measure", "value", "target", "verdict"), row)) for row in rows]
    return "\n".join(["| measure | this run | target | |", "| --- | --- | --- | --- |"]
                     + [f"| {a.strip()} | {b} | {c} | {d} |" for a, b, c, d in rows])


def _save(directory: Path, stem: str, results: dict, text: str) -> int:
    """``<stem>.json`` (every figure) and ``<stem>.md`` written into ``directory``; status 0."""
    _write(directory / f"{stem}.json", json.dumps(results, indent=2))
    _write(directory / f"{stem}.md", text)
    print(f"wrote {directory / (stem + '.json')} and {directory / (stem + '.md')}")
    return 0


def _require_model(model_dir: Path) -> None:
    from runtime.cli.args import Fail

    if not (model_dir / "manifest.json").exists():
        raise Fail(f"bench: {model_dir} holds no exported model; run `make export` first", 2)


def _write(path: Path, text: str) -> None:
    from runtime.files import write_atomically

    write_atomically(path, text.encode())


def main_batch(model_dir: Path, n_lines: int | None = None) -> int:
    """``--batch``: runtime.batch against runtime.predict alone (one node and two)."""
    from bench.batch import N_LINES

    n_lines = n_lines or N_LINES
    _require_model(model_dir)
    results = _begin()
    compile_runtime()
    with tempfile.TemporaryDirectory(prefix="parity-edge-bench-") as tmp_name:
        print(f"runtime.batch (local Ray, and two nodes) against runtime.predict, {n_lines:,} lines", flush=True)
        results["batch"] = bench_batch(model_dir, Path(tmp_name), n_lines)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    m = results["machine"]
    head = (f"Measured by `python -m bench --batch` on {results['date']}: {m['cpu']}, {m['cores']} cores; "
            "load average at the start " + ", ".join(f"{x:.1f}" for x in m["load_average_at_start"])
            + ", at the end " + ", ".join(f"{x:.1f}" for x in m["load_average_at_end"]) + ".\n\n")
    return _save(model_dir, "bench_batch", results, head + batch_markdown(results["batch"]))


def main_graphs(model_dir: Path, keras_path: Path, n_lines: int) -> int:
    """``--graphs``: the folded graph against the recurrent one alone."""
    from bench.targets import graph_rows

    _require_model(model_dir)
    results = _begin()
    compile_runtime()
    with tempfile.TemporaryDirectory(prefix="parity-edge-bench-") as tmp_name:
        bits = Path(tmp_name) / "bits.txt"
        write_bits_file(bits, n_lines, seed=2)
        results["graphs"] = bench_graphs(model_dir, bits, keras_path)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    rows = graph_rows(results["graphs"])
    table = _summarised(results, rows)
    print()
    for row in rows:
        print("  ".join(row))
    return _save(model_dir, "bench_graphs", results, table + "\n\n" + graphs_markdown(results["graphs"]))


def main_overhead(model_dir: Path) -> int:
    """``--overhead``: the runtime's single-call cost over raw LiteRT alone."""
    from bench.targets import overhead_rows

    _require_model(model_dir)
    results = _begin()
    print("single-call overhead over raw LiteRT", flush=True)
    results["overhead"] = bench_overhead(model_dir)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    table = _summarised(results, overhead_rows(results["overhead"]))
    print("\n" + table)
    return _save(model_dir, "bench_overhead", results, table + "\n")


if __name__ == "__main__":
    from runtime.cli.args import run_main

    sys.exit(run_main(PROG, main))
