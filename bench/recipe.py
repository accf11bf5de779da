"""The training recipe over several seeds: is it exact for each, how fast, and on what evidence.

    python -m bench.recipe [--seeds 0-4] [--soak N] [--out artifacts]

For every seed: ``python -m train --seed S`` with default settings (wall time of the whole
command, TensorFlow's start included), the proof and the evaluation sets from its report,
and with ``--soak N`` an export that counts N fresh strings through each converted file
(``python -m export --soak N``). Writes ``<out>/recipe.json`` and ``<out>/recipe.md`` (the
README's per-seed table). The seeds run one after another, so each has the machine to itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Median wall time of the default training over the seeds, by the CPU's kind: the AVX2-only
# machines of this project run TensorFlow about twice as slowly.
TARGET_TRAIN_S = {"avx512": 120, "avx2": 240}
TARGET_STRINGS = 5_000_000
TARGET_MARGIN = 0.5


def seed_list(text: str) -> list[int]:
    """``0-4`` or ``0,3,7``: each part a seed or a range of them, in ASCII digits."""
    from runtime.cli.args import integer

    whole = integer(0)
    seeds = []
    try:
        for part in text.split(","):
            first, dash, last = part.partition("-")
            low, high = whole(first), whole(last) if dash else whole(first)
            if high < low:
                raise argparse.ArgumentTypeError(f"expected a rising range, got {part!r}")
            seeds += list(range(low, high + 1))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} in {text!r} (seeds: 0-4 or 0,3,7)") from None
    return seeds


def run(argv: list[str], cwd: Path = ROOT) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done


def one_seed(seed: int, out: Path, soak: int) -> dict:
    wall, done = run([sys.executable, "-m", "train", "--seed", str(seed), "--out", str(out),
                      "--verbose", "0"])
    report = json.loads((out / "train_report.json").read_text())
    row = {"seed": seed, "exit": done.returncode, "wall_s": round(wall, 1),
           "train_s": report["wall_time_s"], "strings_seen": report["strings_seen"],
           "exact": report["exact"], "epochs_run": report["epochs_run"],
           "miscounts": {name: r["errors"] for name, r in report["evaluation"].items()},
           "strings": {name: r["n"] for name, r in report["evaluation"].items()},
           "min_margin": report["min_margin"], "certificate": report["certificate"],
           "start": report["start"], "machine": report["machine"]}
    if soak:
        wall, done = run([sys.executable, "-m", "export", "--out", str(out), "--soak", str(soak)])
        row["export_exit"] = done.returncode
        row["export_s"] = round(wall, 1)
        if done.returncode == 0:
            manifest = json.loads((out / "manifest.json").read_text())
            row["soak"] = manifest["exactness"]["soak"]
        else:
            row["export_error"] = done.stderr.strip()[-500:]
    return row


def cpu_kind(machine: dict) -> str:
    return "avx512" if machine.get("avx512") else "avx2"


def markdown(result: dict) -> str:
    rows = result["seeds"]
    kind = cpu_kind(rows[0]["machine"])
    lines = [f"Measured by `python -m bench.recipe` on {result['date']}: {rows[0]['machine']['cpu']} "
             f"({'AVX-512' if kind == 'avx512' else 'AVX2, no AVX-512'}), "
             f"{rows[0]['machine']['cores']} cores.", ""]
    sets = list(rows[0]["miscounts"])
    header = ["seed", "exact", "proved (gap / float32 allowance)", *[f"{s} miscounts" for s in sets],
              "smallest top-2 gap, all sets", "strings seen", "`python -m train` wall time"]
    if any("soak" in r for r in rows):
        header.append("soak: miscounts / fresh strings (tflite, onnx)")
    lines += ["| " + " | ".join(header) + " |", "|" + " ---: |" * len(header)]
    for r in rows:
        c = r["certificate"]
        proof = (f"yes ({c['margin']:.3f} / {c['rounding']:.2g})" if c["proved"]
                 else f"no: {c['reason']}")
        cells = [str(r["seed"]), "yes" if r["exact"] else "**no**", proof,
                 *[f"{r['miscounts'][s]} / {r['strings'][s]:,}" for s in sets],
                 f"{r['min_margin']:.3f}", f"{r['strings_seen']:,}", f"{r['wall_s']:.1f} s"]
        if "soak" in r:
            cells.append(", ".join(f"{v['errors']} / {v['strings']:,}" for v in r["soak"].values()))
        elif any("soak" in x for x in rows):
            cells.append(r.get("export_error", "-"))
        lines.append("| " + " | ".join(cells) + " |")
    s = result["summary"]
    lines += ["", f"Median wall time {s['median_wall_s']:.1f} s (target under "
                  f"{s['target_train_s']} s on this CPU kind: {s['time_verdict']}); most strings seen "
                  f"{s['max_strings_seen']:,} (target at most {TARGET_STRINGS:,}); smallest margin "
                  f"{s['min_margin']:.3f} (target at least {TARGET_MARGIN}); exact for "
                  f"{s['exact_seeds']} of {len(rows)} seeds."]
    return "\n".join(lines) + "\n"


def summarise(rows: list[dict]) -> dict:
    kind = cpu_kind(rows[0]["machine"])
    median = statistics.median(r["wall_s"] for r in rows)
    return {"cpu_kind": kind, "median_wall_s": median, "target_train_s": TARGET_TRAIN_S[kind],
            "time_verdict": "met" if median < TARGET_TRAIN_S[kind] else "missed",
            "max_strings_seen": max(r["strings_seen"] for r in rows),
            "min_margin": min(r["min_margin"] for r in rows),
            "exact_seeds": sum(bool(r["exact"]) for r in rows),
            "all_soaks_clean": all(v["errors"] == 0 for r in rows for v in r.get("soak", {}).values())}


def main(argv: list[str] | None = None) -> int:
    from runtime.cli.args import OneLineParser, integer

    parser = OneLineParser(prog="python -m bench.recipe", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="exit status: 0 every seed exact (and every soak clean); 1 not; "
                                  "2 usage; 130 interrupted")
    parser.add_argument("--seeds", type=seed_list, default=seed_list("0-4"),
                        help="seeds to train, e.g. 0-4 or 0,3 (default: 0-4)")
    parser.add_argument("--soak", type=integer(0), default=0, metavar="N",
                        help="export each model and count N fresh strings through each file "
                             "(default: 0, no export)")
    parser.add_argument("--out", type=Path, default=Path("artifacts"),
                        help="where recipe.json and recipe.md go (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="parity-edge-recipe-") as tmp:
        for seed in args.seeds:
            rows.append(one_seed(seed, Path(tmp) / f"seed{seed}", args.soak))
            r = rows[-1]
            print(f"seed {seed}: exact {r['exact']}, proved {r['certificate']['proved']}, "
                  f"margin {r['min_margin']:.3f}, {r['strings_seen']:,} strings, {r['wall_s']:.1f} s"
                  + (f", soak {[v['errors'] for v in r['soak'].values()]} miscounts"
                     if "soak" in r else ""), flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seeds": rows,
              "summary": summarise(rows)}
    from runtime.files import write_atomically

    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("recipe.json", json.dumps(result, indent=2)), ("recipe.md", markdown(result))):
        write_atomically(args.out / name, text.encode())
    print(markdown(result))
    s = result["summary"]
    return 0 if s["exact_seeds"] == len(rows) and s["all_soaks_clean"] else 1


if __name__ == "__main__":
    from runtime.cli.args import run_main

    sys.exit(run_main("python -m bench.recipe", main))
