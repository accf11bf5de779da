"""Measure every stage side by side with TensorFlow, in one run, on this machine.

    python -m bench [--out artifacts] [--quick | --no-stages | --batch]

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
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.batch import bench_batch
from bench.batch import markdown as batch_markdown
from bench.environments import bench_environments
from bench.environments import markdown as environments_markdown
from bench.variants import bench_variants
from bench.variants import markdown as variants_markdown

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (1, 64, 1024, 10_000)
ROUNDS = 5
MIN_SECONDS = 0.25  # per contender per round: long enough to average out timer noise

# The targets of the benchmark issue, each checked against the figures of this run.
TARGET_THROUGHPUT = 2_000_000   # sequences/s at batch >= 1024, default settings
TARGET_SHARE_OF_LIMIT = 0.40    # of the CPU's limit for this model (what 2 M/s was, for 24 units)
TARGET_THROUGHPUT_VS_KERAS = 10
TARGET_E2E_S = 0.8              # 1,000,000 lines, file to file
TARGET_E2E_VS_TF = 6
TARGET_COLD_S = 0.15
TARGET_COLD_MB = 60
TARGET_COLD_VS_TF = 10
TARGET_LATENCY_US = 20
TARGET_MEMORY_GROWTH = 1.10     # peak RSS for 10M lines / for 100k lines
TARGET_EXPORT_S = 60
TRAIN_SEEDS = (0, 1, 2, 3, 4)


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
# benchmark holds TensorFlow (~800 MB): started from here, every command would read ~800 MB.
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
    versions = {"python": platform.python_version()}
    for name in ("numpy", "tensorflow", "keras", "onnxruntime", "ai_edge_litert", "tf2onnx", "ray", "pyarrow"):
        try:
            from importlib.metadata import version
            versions[name] = version(name.replace("_", "-"))
        except Exception:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "load_average_at_start": os.getloadavg()}


# --- the parts ---------------------------------------------------------------------------

def bench_throughput(model_dir: Path, keras_path: Path) -> dict:
    import keras
    import tensorflow as tf

    import runtime

    n_bits = 50
    bits = np.random.default_rng(1).integers(0, 2, (max(BATCH_SIZES), n_bits), dtype=np.uint8)
    inputs = bits.astype(np.float32)[:, :, None]
    model = keras.models.load_model(keras_path, compile=False)
    graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    predictors = {"runtime (default)": runtime.load(model_dir),
                  "runtime (1 thread)": runtime.load(model_dir, threads=1)}
    for backend in ("tflite", "onnx"):
        predictors[f"runtime {backend}"] = runtime.load(model_dir, backend=backend)

    table = {}
    for batch in BATCH_SIZES:
        x, b = inputs[:batch], bits[:batch]
        contenders = {name: (lambda p=p: rate(lambda: p.predict(b), batch))
                      for name, p in predictors.items()}
        contenders["keras predict"] = lambda: rate(lambda: model.predict(x, verbose=0), batch)
        contenders["tf.function"] = lambda: rate(lambda: graph(x), batch)
        for fn in contenders.values():  # warm-up: graph tracing, allocation
            fn()
        table[batch] = {name: spread([w for w, _ in v]) | {"per_cpu_s": spread([c for _, c in v])}
                        for name, v in interleaved(contenders).items()}
        print(f"  batch {batch:>6}: " + ", ".join(
            f"{name} {krate(s['median'])}/s ({krate(s['per_cpu_s']['median'])}/cpu-s)"
            for name, s in table[batch].items()), flush=True)
    return table


def flops_per_sequence(cell: str, hidden_units: int, n_bits: int) -> int:
    """Floating-point operations of one forward pass, two per multiply-add: per step the input
    and recurrent products (times 3 gates for a GRU, 4 for an LSTM), then the output layer."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    step = 2 * gates * (hidden_units + hidden_units * hidden_units)
    return n_bits * step + 2 * hidden_units * (n_bits + 1)


def bench_cpu_limit(model_dir: Path) -> dict:
    """The CPU's limit for this model: the float32 rate of a large matrix product (numpy's
    BLAS on every core: the best this machine does on dense arithmetic), divided by the
    model's operations per sequence. Measured in the same run as the throughput."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    flops = flops_per_sequence(manifest["cell"], manifest["hidden_units"], manifest["n_bits"])
    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b  # warm-up: thread pool start
    # rate() counts "sequences" of 2 n^3 operations: one product each.
    gemm = spread([rate(lambda: a @ b, 2 * n ** 3)[0] for _ in range(ROUNDS)])
    return {"flops_per_sequence": flops, "gemm_flops_per_s": gemm,
            "sequences_per_s": gemm["median"] / flops}


def bench_latency(model_dir: Path) -> dict:
    import runtime

    string = "10011011101001101110100110111010011011110101101110"
    predictors = {name: runtime.load(model_dir, backend=backend)
                  for name, backend in (("runtime (default)", "auto"), ("runtime tflite", "tflite"),
                                        ("runtime onnx", "onnx"))}
    times = {name: [] for name in predictors}
    for predictor in predictors.values():
        for _ in range(200):
            predictor.predict([string])
    for _ in range(10):  # interleaved rounds of 500 calls: a burst of load hits every contender
        for name, predictor in predictors.items():
            for _ in range(500):
                start = time.perf_counter_ns()
                predictor.predict([string])
                times[name].append((time.perf_counter_ns() - start) / 1e3)
    result = {}
    for name, samples in times.items():
        result[name] = {"median_us": float(np.median(samples)),
                        "p99_us": float(np.percentile(samples, 99)),
                        "min_us": float(np.min(samples))}
        print(f"  {name}: median {result[name]['median_us']:.1f} us, "
              f"p99 {result[name]['p99_us']:.1f} us, min {result[name]['min_us']:.1f} us", flush=True)
    return result


def commands(model_dir: Path, keras_path: Path, bits_path: Path, out_path: Path) -> dict:
    return {
        "runtime.predict": [sys.executable, "-m", "runtime.predict", str(bits_path),
                            "--model", str(model_dir), "--output", str(out_path) + ".rt"],
        "tensorflow script": [sys.executable, str(ROOT / "bench" / "tf_predict.py"),
                              str(keras_path), str(bits_path), str(out_path) + ".tf"],
    }


def bench_commands(model_dir: Path, keras_path: Path, bits_path: Path, tmp: Path,
                   rounds: int) -> dict:
    argvs = commands(model_dir, keras_path, bits_path, tmp / "out")
    walls = {name: [] for name in argvs}
    rss = {name: [] for name in argvs}
    for _ in range(rounds):
        for name, argv in argvs.items():
            w, m = run_command(argv)
            walls[name].append(w)
            rss[name].append(m)
    # Both must have written the same answers, or the comparison means nothing.
    same = (tmp / "out.rt").read_bytes() == (tmp / "out.tf").read_bytes()
    for name in argvs:
        print(f"  {name}: {statistics.median(walls[name]):.3f} s, "
              f"{statistics.median(rss[name]):.0f} MB", flush=True)
    return {"wall_s": {k: spread(v) for k, v in walls.items()},
            "peak_rss_mb": {k: spread(v) for k, v in rss.items()},
            "outputs_identical": same}


def bench_memory(model_dir: Path, tmp: Path) -> dict:
    result = {}
    for n in (100_000, 10_000_000):
        path = tmp / f"bits_{n}.txt"
        write_bits_file(path, n, seed=3)
        wall, mb = run_command([sys.executable, "-m", "runtime.predict", str(path),
                                "--model", str(model_dir), "--output", str(tmp / "mem.out")])
        result[n] = {"wall_s": wall, "peak_rss_mb": mb}
        path.unlink()
        print(f"  {n:,} lines: {wall:.2f} s, {mb:.0f} MB", flush=True)
    return result


def compile_runtime() -> None:
    """Write the runtime's bytecode, as installing it does: without it (an editable install,
    PYTHONDONTWRITEBYTECODE) every cold start would compile the package from source first."""
    import compileall

    compileall.compile_dir(ROOT / "runtime", quiet=1)


def bench_stages(tmp: Path, model_dir: Path, quick: bool) -> dict:
    """Training (the default recipe over TRAIN_SEEDS, one after another) and export."""
    from bench import recipe

    result = {}
    out = tmp / "stages"
    if quick:
        train_report = model_dir / "train_report.json"
        report = json.loads(train_report.read_text()) if train_report.exists() else {}
        result["train_s"] = report.get("wall_time_s")
        result["train_source"] = str(train_report)
        result["cpu_kind"] = recipe.cpu_kind(report.get("machine") or {})
        out.mkdir()
        for name in ("model.keras", "train_report.json"):
            (out / name).write_bytes((model_dir / name).read_bytes())
    else:
        rows = [recipe.one_seed(seed, tmp / f"seed{seed}", soak=0) for seed in TRAIN_SEEDS]
        summary = recipe.summarise(rows)
        result.update(train_s=summary["median_wall_s"], cpu_kind=summary["cpu_kind"],
                      train_source=f"median of seeds {', '.join(map(str, TRAIN_SEEDS))}",
                      recipe=summary, seeds=rows)
        out = tmp / f"seed{TRAIN_SEEDS[0]}"
    wall, _ = run_command([sys.executable, "-m", "export", "--out", str(out)])
    result["export_s"] = wall
    trained = f"{result['train_s']:.0f} s" if result["train_s"] is not None else "not recorded"
    print(f"  train {trained} ({result['train_source']}), export {result['export_s']:.1f} s", flush=True)
    return result


# --- verdicts and the table ------------------------------------------------------------

def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    if ok:
        return "met"
    ratio = target / value if higher_is_better else value / target
    return f"missed ({ratio:.2f}x off)"


def summarise(r: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    tp = r["throughput"]
    best_batch = max((b for b in tp if int(b) >= 1024),
                     key=lambda b: tp[b]["runtime (default)"]["median"])
    best = tp[best_batch]["runtime (default)"]["median"]
    per_cpu = tp[best_batch]["runtime (default)"]["per_cpu_s"]["median"]
    keras_same = tp[best_batch]["keras predict"]["median"]
    rows.append(("throughput, batch >= 1024 (default)",
                 f"{best / 1e6:.2f} M/s at batch {best_batch} ({per_cpu / 1e6:.2f} M/cpu-s)",
                 f">= {TARGET_THROUGHPUT / 1e6:.0f} M/s", verdict(best, TARGET_THROUGHPUT, True)))
    limit = r.get("cpu_limit")
    if limit:
        share = best / limit["sequences_per_s"]
        rows.append(("  share of the CPU's limit",
                     f"{share:.0%} of {limit['sequences_per_s'] / 1e6:.2f} M/s "
                     f"({limit['gemm_flops_per_s']['median'] / 1e9:.0f} GFLOP/s matrix product / "
                     f"{limit['flops_per_sequence']:,} FLOP a sequence)",
                     f">= {TARGET_SHARE_OF_LIMIT:.0%}", verdict(share, TARGET_SHARE_OF_LIMIT, True)))
    rows.append(("  vs keras predict, same batch", f"{best / keras_same:.1f}x",
                 f">= {TARGET_THROUGHPUT_VS_KERAS}x", verdict(best / keras_same, TARGET_THROUGHPUT_VS_KERAS, True)))
    lat = r["latency"]["runtime (default)"]
    rows.append(("single-string latency (median / p99)", f"{lat['median_us']:.1f} / {lat['p99_us']:.1f} us",
                 f"<= {TARGET_LATENCY_US} us", verdict(lat["median_us"], TARGET_LATENCY_US, False)))
    e2e = r["end_to_end"]["wall_s"]
    rt, tf_ = e2e["runtime.predict"]["median"], e2e["tensorflow script"]["median"]
    rows.append(("end to end, 1,000,000 lines", f"{rt:.3f} s (TF {tf_:.2f} s)",
                 f"<= {TARGET_E2E_S} s", verdict(rt, TARGET_E2E_S, False)))
    rows.append(("  vs tensorflow script", f"{tf_ / rt:.1f}x", f">= {TARGET_E2E_VS_TF}x",
                 verdict(tf_ / rt, TARGET_E2E_VS_TF, True)))
    cold = r["cold_start"]
    cw, cm = cold["wall_s"]["runtime.predict"]["median"], cold["peak_rss_mb"]["runtime.predict"]["median"]
    tw = cold["wall_s"]["tensorflow script"]["median"]
    rows.append(("cold start, one line", f"{cw:.3f} s, {cm:.0f} MB (TF {tw:.2f} s, "
                 f"{cold['peak_rss_mb']['tensorflow script']['median']:.0f} MB)",
                 f"<= {TARGET_COLD_S} s, {TARGET_COLD_MB} MB",
                 verdict(cw, TARGET_COLD_S, False) + ", " + verdict(cm, TARGET_COLD_MB, False)))
    rows.append(("  vs tensorflow script", f"{tw / cw:.1f}x", f">= {TARGET_COLD_VS_TF}x",
                 verdict(tw / cw, TARGET_COLD_VS_TF, True)))
    mem = r["memory"]
    small, large = mem["100000"]["peak_rss_mb"], mem["10000000"]["peak_rss_mb"]
    rows.append(("peak RSS, 10M vs 100k lines", f"{large:.0f} / {small:.0f} MB ({large / small:.2f}x)",
                 f"<= {TARGET_MEMORY_GROWTH:.2f}x", verdict(large / small, TARGET_MEMORY_GROWTH, False)))
    st = r.get("stages")
    if st is None:
        return rows
    if st.get("train_s") is not None:
        from bench.recipe import TARGET_STRINGS, TARGET_TRAIN_S

        target = TARGET_TRAIN_S[st.get("cpu_kind", "avx2")]
        rows.append(("training to a proved exact model", f"{st['train_s']:.0f} s ({st['train_source']})",
                     f"< {target} s ({st.get('cpu_kind', 'avx2').upper()})",
                     verdict(st["train_s"], target, False)))
        if "recipe" in st:
            r = st["recipe"]
            rows.append(("  exact and proved, seeds", f"{r['exact_seeds']} of {len(st['seeds'])}",
                         "all", "met" if r["exact_seeds"] == len(st["seeds"]) else "missed"))
            rows.append(("  training strings seen (most)", f"{r['max_strings_seen']:,}",
                         f"<= {TARGET_STRINGS:,}", verdict(r["max_strings_seen"], TARGET_STRINGS, False)))
    rows.append(("export (convert + parity check)", f"{st['export_s']:.1f} s",
                 f"<= {TARGET_EXPORT_S} s", verdict(st["export_s"], TARGET_EXPORT_S, False)))
    return rows


def markdown(r: dict, rows) -> str:
    m = r["machine"]
    load = ", ".join(f"{x:.1f}" for x in m["load_average_at_start"])
    lines = [f"Measured by `make bench` on {r['date']}: {m['cpu']}, {m['cores']} cores, "
             f"{m['platform']}; load average at the start {load} (1, 5, 15 min).", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", "",
             "| measure | this run | target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "Throughput in sequences/s (median of "
              f"{ROUNDS} interleaved rounds; min..max in brackets; then per CPU-second):", "",
              "| batch | " + " | ".join(next(iter(r["throughput"].values())).keys()) + " |",
              "| ---: |" + " ---: |" * len(next(iter(r["throughput"].values())))]
    for batch, row in r["throughput"].items():
        lines.append(f"| {int(batch):,} | " + " | ".join(
            f"{krate(s['median'])} ({krate(s['min'])}..{krate(s['max'])}); "
            f"{krate(s['per_cpu_s']['median'])}/cpu-s"
            for s in row.values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--lines", type=int, default=None, metavar="N",
                        help="with --batch: lines of input (default: 10,000,000), for a quick check")
    args = parser.parse_args(argv)
    model_dir, keras_path = args.out, args.out / "model.keras"
    if args.batch:
        return main_batch(model_dir, args.lines)
    if not (model_dir / "manifest.json").exists() or not keras_path.exists():
        parser.exit(2, f"bench: {model_dir} holds no exported model; run `make train export` first\n")

    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
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
        print("reduced-precision variants against float32", flush=True)
        results["variants"] = bench_variants(model_dir, rate, spread)
        print("runtime.batch (local Ray) against runtime.predict, 10,000,000 lines", flush=True)
        results["batch"] = bench_batch(model_dir, tmp, write_bits_file)
        if not args.no_stages:
            print("training and export", flush=True)
            results["stages"] = bench_stages(tmp, args.out, args.quick)
    results["machine"]["load_average_at_end"] = os.getloadavg()

    rows = summarise(results)
    results["summary"] = [dict(zip(("measure", "value", "target", "verdict"), row)) for row in rows]
    width = max(len(r[0]) for r in rows)
    print()
    for a, b, c, d in rows:
        print(f"{a:<{width}}  {b:<40} {c:<22} {d}")
    text = (markdown(results, rows) + "\n" + environments_markdown(results["environments"]) + "\n"
            + variants_markdown(results["variants"]) + "\n" + batch_markdown(results["batch"]))
    for name, text in (("bench.json", json.dumps(results, indent=2)), ("bench.md", text)):
        _write(args.out / name, text)
    print(f"\nwrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0


def _write(path: Path, text: str) -> None:
    tmp_path = path.with_name(path.name + ".tmp")
    tmp_path.write_text(text)
    os.replace(tmp_path, path)


def main_batch(model_dir: Path, n_lines: int | None = None) -> int:
    """``--batch``: runtime.batch against runtime.predict alone (one node and two)."""
    from bench.batch import N_LINES

    n_lines = n_lines or N_LINES
    if not (model_dir / "manifest.json").exists():
        raise SystemExit(f"bench: {model_dir} holds no exported model; run `make export` first")
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    compile_runtime()
    with tempfile.TemporaryDirectory(prefix="parity-edge-bench-") as tmp_name:
        print(f"runtime.batch (local Ray, and two nodes) against runtime.predict, {n_lines:,} lines", flush=True)
        results["batch"] = bench_batch(model_dir, Path(tmp_name), write_bits_file, n_lines)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    m = results["machine"]
    head = (f"Measured by `python -m bench --batch` on {results['date']}: {m['cpu']}, {m['cores']} cores; "
            "load average at the start " + ", ".join(f"{x:.1f}" for x in m["load_average_at_start"])
            + ", at the end " + ", ".join(f"{x:.1f}" for x in m["load_average_at_end"]) + ".\n\n")
    _write(model_dir / "bench_batch.json", json.dumps(results, indent=2))
    _write(model_dir / "bench_batch.md", head + batch_markdown(results["batch"]))
    print(f"wrote {model_dir / 'bench_batch.json'} and {model_dir / 'bench_batch.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
