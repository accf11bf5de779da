"""The benchmark's targets, each checked against the figures of one run: the verdicts, the
summary rows and the markdown table (arithmetic only, no timing)."""

from __future__ import annotations

from bench.harness import ROUNDS, krate

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
TARGET_OVERHEAD = 1.3            # one call through the runtime / the raw engine's own calls
TARGET_FOLDED_SPEEDUP = 10       # folded / recurrent sequences per CPU-second, batch >= 1024
TARGET_E2E_VS_FLOOR = 2.0        # runtime.predict (folded) / reading and parsing the file, no model


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
    rows += overhead_rows(r.get("overhead"))
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
    rows += graph_rows(r.get("graphs"))
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


def graph_rows(graphs: dict | None) -> list[tuple[str, str, str, str]]:
    """The folded graph against the recurrent one (``bench.graphs``): per backend, the speed-up
    per core at each batch >= 1024; each graph's single string over its raw engine; and end to
    end against the no-model floor and the TensorFlow script."""
    if not graphs:
        return []
    rows = []
    tp, lat = graphs["throughput"], graphs["latency"]
    backends = sorted({name.split(" ")[0] for name in next(iter(tp.values()))})
    for backend in backends:
        for batch in (b for b in tp if int(b) >= 1024):
            folded = tp[batch][f"{backend} folded"]["per_cpu_s"]["median"]
            recurrent = tp[batch][f"{backend} recurrent"]["per_cpu_s"]["median"]
            rows.append((f"{backend} folded vs recurrent, batch {int(batch):,}, per core",
                         f"{folded / recurrent:.1f}x ({folded / 1e6:.2f} vs {recurrent / 1e6:.3f} M/cpu-s)",
                         f">= {TARGET_FOLDED_SPEEDUP}x",
                         verdict(folded / recurrent, TARGET_FOLDED_SPEEDUP, True)))
        for graph in ("folded", "recurrent"):
            ours = lat[f"{backend} {graph}, runtime"]["median"]
            raw = lat[f"{backend} {graph}, raw engine"]["median"]
            rows.append((f"  {backend} {graph}, one string vs raw engine ({raw:.1f} us)",
                         f"{ours:.1f} us ({ours / raw:.2f}x)", f"<= {TARGET_OVERHEAD}x",
                         verdict(ours / raw, TARGET_OVERHEAD, False)))
    walls = {name: s["median"] for name, s in graphs["end_to_end"]["wall_s"].items()}
    floor = walls["no-model floor"]
    for graph in ("folded", "recurrent"):
        wall = walls[f"runtime.predict --graph {graph}"]
        tf_ = walls.get("tensorflow script")
        rows.append((f"end to end --graph {graph}, {graphs['lines']:,} lines, vs no-model floor",
                     f"{wall:.3f} s / {floor:.3f} s = {wall / floor:.2f}x"
                     + (f" (TF script {tf_:.2f} s, {tf_ / wall:.1f}x slower)" if tf_ else ""),
                     f"<= {TARGET_E2E_VS_FLOOR}x" if graph == "folded" else "",
                     verdict(wall / floor, TARGET_E2E_VS_FLOOR, False) if graph == "folded" else ""))
    return rows


def overhead_rows(overhead: dict | None) -> list[tuple[str, str, str, str]]:
    """The runtime's single-call cost over raw LiteRT (``bench.overhead``), one row per
    graph and path."""
    rows = []
    for graph, result in (overhead or {}).items():
        raw = result["raw litert"]["median"]
        rows += [(f"  {name}, {graph} vs raw LiteRT ({raw:.1f} us)",
                  f"{result[name]['median']:.1f} us ({ratio:.2f}x)", f"<= {TARGET_OVERHEAD}x",
                  verdict(ratio, TARGET_OVERHEAD, False))
                 for name, ratio in result["ratio"].items()]
    return rows
