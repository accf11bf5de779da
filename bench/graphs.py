"""The folded graph against the recurrent one, per backend, on one thread: throughput at
batch 1, 1,024 and 10,000; a single string's latency through the runtime against the raw
engine's own call on the same file; and ``python -m runtime.predict FILE > /dev/null`` with
each graph against the floor of the same file read and parsed with no model (numpy parse
and row sum) and against the TensorFlow script (``bench/tf_predict.py``).

    python -m bench --graphs [--out DIR] [--lines N]

Both graphs count the same strings: the end-to-end outputs are compared, or the comparison
means nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import ROOT, interleaved, krate, rate, run_command, spread
from bench.overhead import STRING, per_call_us, raw_litert

BATCH_SIZES = (1, 1024, 10_000)
GRAPHS = ("recurrent", "folded")
BACKENDS = ("tflite", "onnx")

# The floor: the same file read and parsed with numpy, and each row's ones summed; no model,
# no output written (so the floor is what any counter of this file must at least pay).
FLOOR = """
import sys, numpy as np
raw = np.fromfile(sys.argv[1], dtype=np.uint8)
counts = (raw.reshape(-1, 51)[:, :50] - 48).sum(axis=1)
"""


def predictors(model_dir: Path) -> dict:
    import runtime

    return {f"{backend} {graph}": runtime.load(model_dir, backend, graph=graph, threads=1)
            for backend in BACKENDS for graph in GRAPHS}


def bench_throughput(model_dir: Path, rounds: int = 3) -> dict:
    """Sequences/s (and per CPU-second) of each backend and graph, one thread, by batch."""
    opened = predictors(model_dir)
    bits = np.random.default_rng(1).integers(0, 2, (max(BATCH_SIZES), 50), dtype=np.uint8)
    table = {}
    for batch in BATCH_SIZES:
        b = bits[:batch]
        contenders = {name: (lambda p=p: rate(lambda: p.predict(b), batch)) for name, p in opened.items()}
        for fn in contenders.values():
            fn()
        table[str(batch)] = {name: spread([w for w, _ in v]) | {"per_cpu_s": spread([c for _, c in v])}
                             for name, v in interleaved(contenders, rounds).items()}
        print(f"  batch {batch:>6}: " + ", ".join(f"{name} {krate(s['median'])}/s"
                                                  for name, s in table[str(batch)].items()), flush=True)
    return table


def raw_onnxruntime(content: bytes, n_bits: int):
    """One call of onnxruntime's own Python API on one prepared window."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    window = (np.frombuffer(STRING.encode(), np.uint8)[:n_bits].astype(np.float32) - 48).reshape(1, n_bits, 1)
    return lambda: session.run(None, {name: window})


def bench_latency(model_dir: Path, rounds: int = 10) -> dict:
    """Microseconds per single string, each backend and graph, and each file's raw engine call."""
    opened = predictors(model_dir)
    calls = {}
    for name, predictor in opened.items():
        path = Path(predictor.backend.path)
        raw = (raw_litert(path, 50) if predictor.backend.name == "tflite"
               else raw_onnxruntime(path.read_bytes(), 50))
        calls[f"{name}, raw engine"] = raw
        calls[f"{name}, runtime"] = lambda p=predictor: p.predict([STRING])
    samples = per_call_us(calls, rounds=rounds)
    result = {name: spread(values) for name, values in samples.items()}
    for name in opened:
        runtime_us, raw_us = result[f"{name}, runtime"]["median"], result[f"{name}, raw engine"]["median"]
        print(f"  {name}: {runtime_us:.1f} us, raw engine {raw_us:.1f} us "
              f"({runtime_us / raw_us:.2f}x)", flush=True)
    return result


def end_to_end_commands(model_dir: Path, bits_path: Path, keras_path: Path | None) -> dict:
    predict = [sys.executable, "-m", "runtime.predict", str(bits_path), "--model", str(model_dir)]
    argvs = {f"runtime.predict --graph {graph}": [*predict, "--graph", graph] for graph in GRAPHS}
    argvs["no-model floor"] = [sys.executable, "-c", FLOOR, str(bits_path)]
    if keras_path is not None and keras_path.exists():
        argvs["tensorflow script"] = [sys.executable, str(ROOT / "bench" / "tf_predict.py"),
                                      str(keras_path), str(bits_path), "/dev/null"]
    return argvs


def bench_end_to_end(model_dir: Path, bits_path: Path, keras_path: Path | None, rounds: int = 3) -> dict:
    """Wall seconds of each command on the same file, interleaved (standard output to /dev/null)."""
    import subprocess

    argvs = end_to_end_commands(model_dir, bits_path, keras_path)
    walls = {name: [] for name in argvs}
    for _ in range(rounds):
        for name, argv in argvs.items():
            walls[name].append(run_command(argv)[0])
    outputs = {graph: subprocess.run(argvs[f"runtime.predict --graph {graph}"], capture_output=True,
                                     check=True).stdout for graph in GRAPHS}
    for name, values in walls.items():
        print(f"  {name}: {statistics.median(values):.3f} s", flush=True)
    return {"wall_s": {k: spread(v) for k, v in walls.items()},
            "outputs_identical": outputs["recurrent"] == outputs["folded"]}


def bench_graphs(model_dir: Path, bits_path: Path, keras_path: Path | None = None) -> dict:
    started = time.perf_counter()
    result = {"throughput": bench_throughput(model_dir), "latency": bench_latency(model_dir),
              "end_to_end": bench_end_to_end(model_dir, bits_path, keras_path)}
    result["lines"] = sum(1 for _ in open(bits_path, "rb"))
    result["seconds"] = time.perf_counter() - started
    return result


def markdown(r: dict) -> str:
    lines = ["The folded graph against the recurrent one (one thread; sequences/s, median; then per "
             "CPU-second):", "", "| batch | " + " | ".join(next(iter(r["throughput"].values()))) + " |",
             "| ---: |" + " ---: |" * len(next(iter(r["throughput"].values())))]
    for batch, row in r["throughput"].items():
        lines.append(f"| {int(batch):,} | " + " | ".join(
            f"{krate(s['median'])}; {krate(s['per_cpu_s']['median'])}/cpu-s" for s in row.values()) + " |")
    lines += ["", f"End to end on {r['lines']:,} lines, `> /dev/null` (median wall seconds): " + ", ".join(
        f"{name} {s['median']:.3f} s" for name, s in r["end_to_end"]["wall_s"].items()) + "."]
    return "\n".join(lines) + "\n"
