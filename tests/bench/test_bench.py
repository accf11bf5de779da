"""The benchmark's arithmetic: operation counts, verdicts, and the summary rows (no timing)."""

import numpy as np

from bench.harness import spread
from bench.targets import summarise, verdict
from bench.versus_tf import flops_per_sequence
from bench.batch import estimate, markdown


def test_flops_per_sequence_counts_every_multiply_add_twice():
    # 50 steps of (1 x 32 input + 32 x 32 recurrent) products, then 32 x 51 out.
    assert flops_per_sequence("rnn", 32, 50) == 2 * 50 * (32 + 32 * 32) + 2 * 32 * 51
    assert flops_per_sequence("rnn", 24, 50) == 62_448  # the chapter's width
    assert flops_per_sequence("lstm", 24, 50) == 2 * 50 * 4 * (24 + 24 * 24) + 2 * 24 * 51


def test_flops_match_a_numpy_forward_pass():
    """Count the multiply-adds of an explicit forward pass and compare."""
    hidden, n_bits = 8, 5
    rng = np.random.default_rng(0)
    kernel, recurrent, dense = rng.random((1, hidden)), rng.random((hidden, hidden)), rng.random((hidden, n_bits + 1))
    multiply_adds = 0
    h = np.zeros((1, hidden))
    for bit in rng.integers(0, 2, n_bits):
        h = np.maximum(np.array([[bit]]) @ kernel + h @ recurrent, 0)
        multiply_adds += kernel.size + recurrent.size
    h @ dense
    multiply_adds += dense.size
    assert flops_per_sequence("rnn", hidden, n_bits) == 2 * multiply_adds


def test_verdicts():
    assert verdict(2.5e6, 2e6, True) == "met"
    assert verdict(1e6, 2e6, True) == "missed (2.00x off)"
    assert verdict(0.4, 0.8, False) == "met"
    assert verdict(1.2, 0.8, False) == "missed (1.50x off)"


def _results(throughput_per_s: float, limit_per_s: float) -> dict:
    rate = lambda v: spread([v]) | {"per_cpu_s": spread([v])}  # noqa: E731
    row = {"runtime (default)": rate(throughput_per_s), "keras predict": rate(throughput_per_s / 50)}
    both = lambda a, b: {"runtime.predict": spread([a]), "tensorflow script": spread([b])}  # noqa: E731
    return {
        "throughput": {"1024": row, "10000": row},
        "cpu_limit": {"flops_per_sequence": 108_864, "gemm_flops_per_s": spread([limit_per_s * 108_864]),
                      "sequences_per_s": limit_per_s},
        "latency": {"runtime (default)": {"median_us": 15.0, "p99_us": 30.0}},
        "end_to_end": {"wall_s": both(1.0, 10.0)},
        "cold_start": {"wall_s": both(0.1, 3.0), "peak_rss_mb": both(40.0, 600.0)},
        "memory": {"100000": {"peak_rss_mb": 50.0}, "10000000": {"peak_rss_mb": 52.0}},
    }


def test_summary_states_the_share_of_the_cpu_limit():
    rows = {name.strip(): (value, target, outcome)
            for name, value, target, outcome in summarise(_results(1.2e6, 2.4e6))}
    value, target, outcome = rows["share of the CPU's limit"]
    assert value.startswith("50% of 2.40 M/s") and target == ">= 40%" and outcome == "met"
    assert rows["throughput, batch >= 1024 (default)"][2] == "missed (1.67x off)"
    assert rows["vs keras predict, same batch"][2] == "met"
    low = {name.strip(): outcome for name, _, _, outcome in summarise(_results(0.6e6, 2.4e6))}
    assert low["share of the CPU's limit"] == "missed (1.60x off)"


def _seed_row(seed, wall, exact=True, margin=1.8, strings=71_200, avx512=True, soak_errors=None):
    row = {"seed": seed, "wall_s": wall, "exact": exact, "strings_seen": strings, "min_margin": margin,
           "miscounts": {"uniform": 0 if exact else 3}, "strings": {"uniform": 1_000_000},
           "certificate": {"proved": exact, "margin": margin, "rounding": 0.09,
                           "reason": "" if exact else "strings with 49 ones can be read as 50"},
           "machine": {"cpu": "test CPU", "avx512": avx512, "cores": 2}}
    if soak_errors is not None:
        row["soak"] = {"tflite": {"errors": soak_errors, "strings": 100},
                       "onnx": {"errors": 0, "strings": 100}}
    return row


def test_recipe_seeds_and_summary():
    from bench.recipe import markdown, seed_list, summarise

    assert seed_list("0-4") == [0, 1, 2, 3, 4] and seed_list("0,3,7-8") == [0, 3, 7, 8]
    rows = [_seed_row(0, 30.0), _seed_row(1, 50.0), _seed_row(2, 130.0, exact=False, margin=-0.2)]
    summary = summarise(rows)
    assert summary["median_wall_s"] == 50.0 and summary["target_train_s"] == 120
    assert summary["time_verdict"] == "met" and summary["exact_seeds"] == 2
    assert summary["min_margin"] == -0.2 and summary["all_soaks_clean"]
    # The AVX2-only machines are allowed twice the time.
    assert summarise([_seed_row(0, 200.0, avx512=False)])["time_verdict"] == "met"
    assert summarise([_seed_row(0, 200.0)])["time_verdict"] == "missed"
    table = markdown({"date": "today", "seeds": rows, "summary": summary})
    assert "| 2 | **no** | no: strings with 49 ones can be read as 50 |" in table
    assert "exact for 2 of 3 seeds" in table
    soaked = [_seed_row(0, 30.0, soak_errors=1)]
    assert not summarise(soaked)["all_soaks_clean"]
    assert "1 / 100, 0 / 100" in markdown({"date": "today", "seeds": soaked, "summary": summarise(soaked)})


def test_the_estimate_for_n_hosts_scales_the_per_worker_rate():
    one = estimate(500_000, 1, 2)  # 2 CPUs: 1 actor, 1 CPU for reading
    assert (one["workers"], one["lines_per_s"]) == (1, 500_000)
    many = estimate(500_000, 100, 16)  # 1,600 CPUs, 100 of them for reading
    assert (many["workers"], many["lines_per_s"]) == (1_500, 750_000_000)
    assert many["input_mb_per_s_per_host"] == 750_000_000 * 51 / 100 / 1e6
    assert abs(many["seconds_per_terabyte"] - 1e12 / 51 / 750e6) < 1e-6
    table = markdown({"lines": 10, "rounds": 1, "ratio": 2.0, "cluster_start_s": 5.0, "job_s": 3.0,
                      "workers": 1, "lines_per_s_per_worker": 500_000, "predict_lines_per_s": 1e6,
                      "wall_s": {"runtime.predict": {"median": 1.0}, "runtime.batch": {"median": 2.0}},
                      "estimates": [one, many]})
    assert "| 100 x 16 | 1500 | 750.0 M | 382 MB/s | 26 s |" in table
    assert "| 1 x 2 | 1 | 0.5 M | 26 MB/s | 10.9 h |" in table
    assert "two nodes" not in table  # a run from before the two-node bench


def test_the_two_node_rows_sit_beside_the_one_node_ones():
    one = estimate(500_000, 1, 2)
    table = markdown({"lines": 10, "rounds": 1, "ratio": 2.0, "cluster_start_s": 5.0, "job_s": 3.0,
                      "workers": 1, "lines_per_s_per_worker": 500_000, "predict_lines_per_s": 1e6,
                      "wall_s": {"runtime.predict": {"median": 1.0}, "runtime.batch": {"median": 2.0},
                                 "runtime.batch, two nodes": {"median": 4.5}},
                      "two_nodes": {"cpus_per_node": 1, "cluster_up_s": 12.34, "join_s": 0.5, "job_s": 3.6,
                                    "workers": 1, "lines_per_s_per_worker": 400_000, "ratio_to_one_node": 1.2},
                      "estimates": [one]})
    rows = table.splitlines()
    at = rows.index("| per worker | 500,000 lines/s |")
    assert rows[at + 1:at + 5] == [
        "| two nodes on this host, 1 CPU each (`ray start`, token auth), up | 12.3 s |",
        "| two nodes: runtime.batch wall (join, job) | 4.5 s (joined in 0.5 s) |",
        "| two nodes: job | 3.6 s on 1 worker(s), 1.20x the one-node job |",
        "| two nodes: per worker | 400,000 lines/s |"]


def test_variant_table_gives_ratios_against_float32_of_the_same_backend():
    from bench.variants import markdown as variants_markdown

    def row(precision, backend, size, per_s, latency, gap=None):
        return {"precision": precision, "backend": backend, "file": f"{precision}.{backend}",
                "size_bytes": size, "throughput": {n: {"median": per_s} for n in ("1", "1024", "10000")},
                "latency_us": {"median": latency}, "min_margin": gap}

    table = variants_markdown({"files": [row("float32", "tflite", 1000, 100_000, 20.0),
                                         row("int8", "tflite", 500, 50_000, 30.0, 0.5)],
                               "refused": [{"precision": "float16", "backend": "tflite",
                                            "reasons": ["9 miscounts in 1,000,000 strings"]}]})
    assert "| tflite | int8 | 500 B (0.50x) | 50k/s (0.50x) | 50k/s (0.50x) | 50k/s (0.50x) | 30.0 us (1.50x) | 0.500 |" in table
    assert "| tflite | float32 | 1,000 B | 100k/s | 100k/s | 100k/s | 20.0 us | - |" in table
    assert "- tflite float16: 9 miscounts in 1,000,000 strings" in table


def test_environment_sizes_are_the_files_under_them(tmp_path):
    from bench.environments import markdown as environments_markdown, size_on_disk

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1" * 1000)
    (tmp_path / "y").write_bytes(b"2" * 500)
    assert size_on_disk(tmp_path) == 1500
    table = environments_markdown({".venv-tflite": {"what": "tflite extra", "size_mb": 61.2,
                                                    "cold_start_s": 0.1234, "peak_rss_mb": 40.4}})
    assert "| `.venv-tflite` | tflite extra | 61 MB | 0.123 s | 40 MB |" in table


def test_overhead_is_each_path_over_the_raw_engine_in_the_same_run():
    from bench.overhead import per_call_us, summarise_overhead
    from bench.targets import overhead_rows

    samples = {"raw litert": [40.0, 38.0, 42.0], "runtime, one string": [52.0, 50.0, 60.0],
               "runtime, one-row array": [120.0, 118.0, 121.0]}
    result = summarise_overhead(samples)
    assert result["raw litert"]["median"] == 40.0
    assert result["ratio"] == {"runtime, one string": 1.3, "runtime, one-row array": 3.0}
    folded = summarise_overhead({"raw litert": [3.0], "runtime, one string": [9.0]})
    rows = {name.strip(): (value, target, outcome)
            for name, value, target, outcome in overhead_rows({"recurrent": result, "folded": folded})}
    assert rows["runtime, one string, recurrent vs raw LiteRT (40.0 us)"] == ("52.0 us (1.30x)", "<= 1.3x", "met")
    assert rows["runtime, one-row array, recurrent vs raw LiteRT (40.0 us)"][2] == "missed (2.31x off)"
    assert rows["runtime, one string, folded vs raw LiteRT (3.0 us)"] == ("9.0 us (3.00x)", "<= 1.3x",
                                                                          "missed (2.31x off)")
    assert len(rows) == 3
    assert overhead_rows(None) == []

    calls = []
    timed = per_call_us({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=2, n=3)
    assert [len(v) for v in timed.values()] == [2, 2] and all(t >= 0 for v in timed.values() for t in v)
    assert calls == ["a"] * 3 + ["b"] * 3 + (["a"] * 3 + ["b"] * 3) * 2  # warm-up, then interleaved


def test_the_summary_carries_the_overhead_rows():
    results = _results(2.4e6, 2.4e6)
    results["overhead"] = {"recurrent": {"raw litert": spread([40.0]), "runtime, one string": spread([44.0]),
                                         "ratio": {"runtime, one string": 1.1}}}
    names = [name.strip() for name, *_ in summarise(results)]
    assert "runtime, one string, recurrent vs raw LiteRT (40.0 us)" in names


def _graphs(folded_per_cpu: float, recurrent_per_cpu: float, folded_s: float, floor_s: float) -> dict:
    rate = lambda v: spread([v]) | {"per_cpu_s": spread([v])}  # noqa: E731
    row = {f"{b} {g}": rate(folded_per_cpu if g == "folded" else recurrent_per_cpu)
           for b in ("tflite", "onnx") for g in ("recurrent", "folded")}
    latency = {f"{b} {g}, {who}": spread([13.0 if who == "runtime" else 10.0])
               for b in ("tflite", "onnx") for g in ("recurrent", "folded") for who in ("runtime", "raw engine")}
    walls = {"runtime.predict --graph folded": spread([folded_s]),
             "runtime.predict --graph recurrent": spread([5 * folded_s]),
             "no-model floor": spread([floor_s]), "tensorflow script": spread([10.0])}
    return {"throughput": {"1": row, "1024": row, "10000": row}, "latency": latency,
            "end_to_end": {"wall_s": walls, "outputs_identical": True}, "lines": 1_000_000}


def test_graph_rows_judge_the_speed_up_per_core_the_floor_and_the_raw_engine():
    from bench.targets import graph_rows

    rows = {name.strip(): (value, target, outcome) for name, value, target, outcome
            in graph_rows(_graphs(3e6, 0.5e6, 0.9, 0.3))}
    value, target, outcome = rows["onnx folded vs recurrent, batch 1,024, per core"]
    assert value.startswith("6.0x") and target == ">= 10x" and outcome == "missed (1.67x off)"
    assert "tflite folded vs recurrent, batch 10,000, per core" in rows
    assert not any("batch 1," in name and "per core" in name and "1,0" not in name for name in rows)
    value, target, outcome = rows["tflite folded, one string vs raw engine (10.0 us)"]
    assert value == "13.0 us (1.30x)" and outcome == "met"
    value, target, outcome = rows["end to end --graph folded, 1,000,000 lines, vs no-model floor"]
    assert value.startswith("0.900 s / 0.300 s = 3.00x") and "TF script 10.00 s, 11.1x slower" in value
    assert (target, outcome) == ("<= 2.0x", "missed (1.50x off)")
    met = {name: outcome for name, (_, _, outcome) in
           ((n.strip(), r) for n, *r in graph_rows(_graphs(6e6, 0.5e6, 0.5, 0.3)))}
    assert met["onnx folded vs recurrent, batch 10,000, per core"] == "met"
    assert met["end to end --graph folded, 1,000,000 lines, vs no-model floor"] == "met"
    assert graph_rows(None) == []
