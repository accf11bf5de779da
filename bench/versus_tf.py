"""The runtime against TensorFlow on this machine: throughput by batch size, the CPU's limit
for the model, single-string latency, whole commands (end to end, cold start), memory, and
the training and export stages."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import ROOT, ROUNDS, interleaved, krate, rate, run_command, spread, write_bits_file

BATCH_SIZES = (1, 64, 1024, 10_000)
TRAIN_SEEDS = (0, 1, 2, 3, 4)


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
