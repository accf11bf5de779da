"""The runtime's cost over the raw engine for one call: a single string, and a one-row
array, through ``Predictor.predict`` against LiteRT's own Python calls (set the input,
invoke, read the output) on the same file, in the same run, interleaved; for each graph
the model has (the recurrent file, and the folded one where it was published).

The ratio is what the runtime adds (validation, the model's input, the logits' check, the
Result); the target is at most ``TARGET_OVERHEAD`` times the raw engine
(``bench.targets``). What the runtime adds is about the same for both graphs, so the
ratio is far larger on the folded file, whose engine call is several times shorter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.harness import spread

STRING = "10011011101001101110100110111010011011110101101110"
CALLS = 500  # per round and contender
ROUNDS = 10


def raw_litert(model_path: Path, n_bits: int):
    """One call of LiteRT on one prepared window, as its own Python API makes it."""
    from runtime.backends.tflite import _import_litert

    interpreter = _import_litert().Interpreter(model_content=model_path.read_bytes(), num_threads=1)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(source["index"], [1, n_bits, 1])
    interpreter.allocate_tensors()
    window = np.frombuffer(STRING.encode(), np.uint8)[:n_bits].astype(np.float32).reshape(1, n_bits, 1) - 48

    def call():
        interpreter.set_tensor(source["index"], window)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    return call


def per_call_us(calls: dict, rounds: int = ROUNDS, n: int = CALLS) -> dict[str, list[float]]:
    """Microseconds per call of each contender: the mean of ``n`` calls, ``rounds`` times,
    the contenders in turn in every round."""
    samples = {name: [] for name in calls}
    for fn in calls.values():  # warm-up
        for _ in range(n):
            fn()
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter_ns()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter_ns() - start) / n / 1e3)
    return samples


def summarise_overhead(samples: dict[str, list[float]]) -> dict:
    """Spreads in microseconds, and each runtime path's median over the raw engine's."""
    result = {name: spread(values) for name, values in samples.items()}
    raw = result["raw litert"]["median"]
    result["ratio"] = {name: result[name]["median"] / raw for name in samples if name != "raw litert"}
    return result


def bench_overhead(model_dir: Path) -> dict:
    """``{graph: summarise_overhead(...)}`` for each graph of the model at ``model_dir``."""
    import runtime
    from runtime.loader import model_manifest

    manifest = model_manifest(model_dir)
    graphs = ["recurrent"] + (["folded"] if manifest.find("tflite", graph="folded") else [])
    results = {}
    for graph in graphs:
        predictor = runtime.load(model_dir, backend="tflite", threads=1, graph=graph)
        n_bits = predictor.n_bits
        row = (np.frombuffer(STRING.encode(), np.uint8)[:n_bits] - 48).reshape(1, n_bits)
        calls = {"raw litert": raw_litert(Path(predictor.backend.path), n_bits),  # the file it runs
                 "runtime, one string": lambda: predictor.predict([STRING]),
                 "runtime, one-row array": lambda: predictor.predict(row)}
        result = results[graph] = summarise_overhead(per_call_us(calls))
        for name, ratio in result["ratio"].items():
            print(f"  {graph}, {name}: {result[name]['median']:.1f} us, {ratio:.2f}x raw LiteRT "
                  f"({result['raw litert']['median']:.1f} us)", flush=True)
    return results
