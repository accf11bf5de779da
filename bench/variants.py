"""The reduced-precision variants against float32, measured in the same run.

For every file the model publishes (float32 and each variant, on each backend): size on
disk, throughput at batch 1, 1,024 and 10,000, and single-string latency; and for every
variant the export refused, why. Whether int8 is faster on this CPU is measured here, not
assumed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.harness import rate, spread

BATCHES = (1, 1024, 10_000)
ROUNDS = 5


def bench_variants(model_dir: Path) -> dict:
    """``rate(fn, n) -> (per s, per cpu-s)`` and ``spread(values)`` are the bench's own."""
    import runtime

    manifest = json.loads((Path(model_dir) / "manifest.json").read_text())
    files = {("float32", b): e for b, e in manifest["artifacts"].items()}
    files.update({(p, b): e for p, by in (manifest.get("variants") or {}).items() for b, e in by.items()})
    predictors = {key: runtime.load(model_dir, key[1], precision=key[0], threads=1) for key in files}
    bits = np.random.default_rng(7).integers(0, 2, (max(BATCHES), 50), dtype=np.uint8)
    string = ["10011011101001101110100110111010011011110101101110"]
    throughput = {key: {n: [] for n in BATCHES} for key in files}
    latency = {key: [] for key in files}
    for key, p in predictors.items():  # warm-up
        p.predict(bits[:1024])
        p.predict(string)
    for _ in range(ROUNDS):  # interleaved: a burst of load hits every file alike
        for key, p in predictors.items():
            for n in BATCHES:
                throughput[key][n].append(rate(lambda p=p, b=bits[:n]: p.predict(b), n)[0])
            samples = []
            for _ in range(200):
                start = time.perf_counter_ns()
                p.predict(string)
                samples.append((time.perf_counter_ns() - start) / 1e3)
            latency[key].append(float(np.median(samples)))
    rows = []
    for key, entry in files.items():
        precision, backend = key
        rows.append({"precision": precision, "backend": backend, "file": entry["file"],
                     "size_bytes": entry["size_bytes"],
                     "throughput": {str(n): spread(v) for n, v in throughput[key].items()},
                     "latency_us": spread(latency[key]),
                     "min_margin": (entry.get("gate") or {}).get("min_margin")})
        print(f"  {backend} {precision}: {entry['size_bytes']:,} bytes, " + ", ".join(
            f"batch {n} {np.median(throughput[key][n]) / 1e3:,.0f}k/s" for n in BATCHES)
              + f", latency {np.median(latency[key]):.1f} us", flush=True)
    refused = [{"precision": p, "backend": b, "reasons": r["reasons"]}
               for p, by in (manifest.get("variants_refused") or {}).items() for b, r in by.items()]
    return {"files": rows, "refused": refused, "threads": 1}


def markdown(result: dict) -> str:
    lines = ["Every published file, one thread each (the default runtime runs one such thread per "
             "core), medians of interleaved rounds; ratios against the float32 file of the same "
             "backend:", "",
             "| backend | precision | size | batch 1 | batch 1,024 | batch 10,000 | latency | smallest top-2 gap kept |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base = {r["backend"]: r for r in result["files"] if r["precision"] == "float32"}
    for r in result["files"]:
        f32 = base[r["backend"]]
        cells = []
        for n in BATCHES:
            v, ref = r["throughput"][str(n)]["median"], f32["throughput"][str(n)]["median"]
            cells.append(f"{v / 1e3:,.0f}k/s" + ("" if r is f32 else f" ({v / ref:.2f}x)"))
        lat, ref = r["latency_us"]["median"], f32["latency_us"]["median"]
        gap = "-" if r["min_margin"] is None else f"{r['min_margin']:.3f}"
        lines.append(f"| {r['backend']} | {r['precision']} | {r['size_bytes']:,} B"
                     + ("" if r is f32 else f" ({r['size_bytes'] / f32['size_bytes']:.2f}x)")
                     + f" | {' | '.join(cells)} | {lat:.1f} us"
                     + ("" if r is f32 else f" ({lat / ref:.2f}x)") + f" | {gap} |")
    if result["refused"]:
        lines += ["", "Refused by the export's gate (not published):", ""]
        lines += [f"- {r['backend']} {r['precision']}: {'; '.join(r['reasons'])}" for r in result["refused"]]
    return "\n".join(lines) + "\n"
