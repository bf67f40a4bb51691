#!/usr/bin/env python3
"""Rehearsal of the paper's job at real OPT shapes, on the CPU, and its projection to the GPU.

Random OPT models of real shapes (OPT's initialisation, f16 weights, fc1 biases set so that
about --activity of the neurons fire) go through each record mode:

  opt-1.3b   the whole model;
  opt-13b    a slice of its first 2 layers, streamed layer by layer (--stream-layers);
  opt-66b    a slice of its first layer, streamed.

A slice keeps the preset's widths, so its per-layer costs are the full model's. Each run
measures bytes on disk per fire (shards) and per count row (counts), the token and sequence
tables' bytes per token, peak host memory and tokens/s on this CPU. From those, and from the
assumptions printed beside them, it projects every OPT size (125m to 66b) and each of the
paper's three experiments: disk, host memory, GPU memory (whole model and streamed) and
GPU-hours on one H100, and checks the goals:

  - no experiment needs more than 1 TB of disk for any model;
  - the Section 3 pass needs under 1 GB for opt-66b;
  - the whole paper (eight models, three experiments) fits one 8-GPU node's local disk.

The other families are rehearsed the same way at their released shapes (random models written
by benches/random_family.py): Pythia-12B (2 layers, streamed), Llama-3-8B, Llama-3-70B and
Qwen2.5-7B (1 layer each, streamed), with vocabularies of 128k-152k tokens, and Llama-3-8B once
more over one 8,192-token sequence counted by position. Their projection adds contexts of 2k,
8k and 32k tokens and the memory of the positional counters, which grows with the context.

    pip install duckdb
    cargo build --release -p census-cli --bin neuron-census -p census-train --example random_opt \
        -p census-stats --example count_bench
    python benches/scale_rehearsal.py [--tokens 1024] [--activity 0.05] [--work DIR]
        [--only opt|families]

Needs about 25 GB of disk and 16 GB of memory; takes about half an hour on 2 cores.
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

import random_family

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"

# OPT family (Zhang et al. 2022, Table 1): layers, hidden, FFN width, heads.
OPT = {
    "opt-125m": (12, 768, 3072, 12),
    "opt-350m": (24, 1024, 4096, 16),
    "opt-1.3b": (24, 2048, 8192, 32),
    "opt-2.7b": (32, 2560, 10240, 32),
    "opt-6.7b": (32, 4096, 16384, 32),
    "opt-13b": (40, 5120, 20480, 40),
    "opt-30b": (48, 7168, 28672, 56),
    "opt-66b": (64, 9216, 36864, 72),
}
VOCAB = 50272
POSITIONS = 2048

# The rehearsed shapes: (preset, layers written (None: all), streamed).
SHAPES = [("opt-1.3b", None, False), ("opt-13b", 2, True), ("opt-66b", 1, True)]

# The paper's experiments as pipelines/paper.toml runs them.
EXPERIMENTS = {
    "§3 dead neurons": dict(tokens=21_000_000, mode="counts", layers="all", domains=9,
                            positions=False),
    "§4 n-grams": dict(tokens=5_500_000, mode="shards", layers="first-half", domains=5,
                       positions=False),
    "§5 positional": dict(tokens=3_000_000, mode="counts", layers="all", domains=3,
                          positions=True),
}
PART_TOKENS = {"counts": 2_097_152, "shards": 65_536}
DOMAINS_PER_PART = 1.5  # sources are read one after the other: most parts hold one domain
H100_TFLOPS = 989.0  # dense f16/bf16 peak
MFU = 0.40
BATCH_TOKENS = 4096
NODE_DISK_TB = 30.0  # 8 x 3.84 TB NVMe, as in a DGX H100
ANALYSIS_CORES = 64
ANALYSIS_MEMORY = 1e12  # bytes
NODES_GPUS = 8  # GPUs of one node


def params(layers, hidden, ffn):
    return layers * (4 * hidden * hidden + 2 * hidden * ffn) + (VOCAB + POSITIONS) * hidden


def run_measured(command):
    """Runs `command`; returns (seconds, peak resident bytes of the child)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{command[0]} failed: {child.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024


def size(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_corpus(path: Path, tokens: int, seq_len: int):
    rng = random.Random(0)
    with path.open("w") as out:
        for _ in range(tokens // seq_len):
            ids = [rng.randrange(4, 50265) for _ in range(seq_len - 1)]
            out.write(json.dumps({"input_ids": ids}) + "\n")


def rehearse(work: Path, tokens: int, activity: float, seq_len: int):
    corpus = work / "corpus.jsonl"
    write_corpus(corpus, tokens, seq_len)
    measured = {}
    for preset, layers, streamed in SHAPES:
        n_layers, hidden, ffn, _ = OPT[preset]
        model = work / f"{preset}-{layers or n_layers}"
        # fc1 pre-activations have a standard deviation of about 0.02 * sqrt(hidden) under OPT's
        # initialisation; a bias of -z * std leaves the share above z of a normal firing.
        z = {0.02: 2.054, 0.05: 1.645, 0.10: 1.282}.get(activity, 1.645)
        bias = -z * 0.02 * math.sqrt(hidden)
        command = [str(TARGET / "examples/random_opt"), str(model), "--preset", preset,
                   "--fc1-bias", f"{bias:.4f}", "--save-dtype", "f16"]
        if layers:
            command += ["--num-layers", str(layers)]
        if not (model / "model.safetensors").exists():
            print(f"writing {model.name} ...", flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        written_layers = layers or n_layers
        for mode in ["shards", "counts"]:
            out = work / f"run-{model.name}-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            command = [str(TARGET / "neuron-census"), "extract", "--model", str(model),
                       "--data", str(corpus), "--out", str(out), "--max-seq-len", str(seq_len),
                       "--full-length", "--record", mode, "--quiet"]
            if streamed:
                command.append("--stream-layers")
            seconds, rss = run_measured(command)
            entry = run_entry(out, mode, ffn, written_layers, seconds, rss)
            entry.update(tokens_bytes=size(out / "tokens"),
                         sequences_bytes=size(out / "sequences.parquet"))
            run_tokens = entry["tokens"]
            # The analysis of what was extracted: the token tables in every layer and the bigram
            # and trigram tables in the first half of the model's (shards), or the frequencies
            # and positions from the counts.
            analysis = work / f"analysis-{model.name}-{mode}"
            shutil.rmtree(analysis, ignore_errors=True)
            command = [str(TARGET / "neuron-census"), "analyze", "--run", str(out), "--out",
                       str(analysis), "--no-projection", "--quiet"]
            if mode == "counts":
                command += ["--unigram-layers", "none", "--ngram-layers", "none"]
            analyze_seconds, analyze_rss = run_measured(command)
            ngram_layers = sum(1 for layer in range(written_layers) if layer < n_layers // 2)
            entry.update(analyze_seconds=analyze_seconds, analyze_rss=analyze_rss,
                         ngram_layers=ngram_layers if mode == "shards" else 0)
            measured[(preset, mode)] = entry
            print(f"{preset} ({written_layers} layers{', streamed' if streamed else ''}) {mode}: "
                  f"{run_tokens / entry['seconds']:.1f} tokens/s, peak {entry['rss'] / 2**30:.2f} GiB, "
                  f"activity {100 * entry['activity']:.1f}%, {entry['bytes'] / 1e6:.2f} MB; "
                  f"analysed in {entry['analyze_seconds']:.1f} s, peak "
                  f"{entry['analyze_rss'] / 2**30:.2f} GiB", flush=True)
    return measured


def analysis_rates(work: Path, activity: float):
    """The analysis's per-fire costs, measured on a synthetic run at opt-1.3b width large enough
    that start-up costs vanish (`count_bench make-run`: Zipf-like tokens, half of each token's
    fires the same on every occurrence): 32,768 tokens x 4 layers x 8,192 neurons, analysed
    with no count tables, then with token tables in every layer and bigram and trigram tables
    in the first two."""
    run = work / "synthetic-opt-1.3b-width"
    if not (run / "manifest.json").exists():
        subprocess.run([str(TARGET / "examples/count_bench"), "make-run", str(run), "--tokens",
                        "32768", "--layers", "4", "--ffn", "8192", "--density", str(activity)],
                       check=True, stdout=subprocess.DEVNULL)
    fires = duckdb.sql(
        f"SELECT sum(len(neurons)) FROM read_parquet('{run}/activations/*/*.parquet')"
    ).fetchall()[0][0]
    analysis = work / "synthetic-analysis"
    command = [str(TARGET / "neuron-census"), "analyze", "--run", str(run), "--out",
               str(analysis), "--no-projection", "--quiet"]
    shutil.rmtree(analysis, ignore_errors=True)
    read = run_measured(command + ["--unigram-layers", "none", "--ngram-layers", "none"])
    shutil.rmtree(analysis, ignore_errors=True)
    full = run_measured(command + ["--ngram-layers", "0..2"])
    rates = dict(fires=fires, layers=4, ngram_layers=2, read=read, full=full)
    print(f"synthetic run at opt-1.3b width: {fires / 1e6:.1f}M fires; analysed without tables "
          f"in {read[0]:.1f} s (peak {read[1] / 2**30:.2f} GiB), with them in {full[0]:.1f} s "
          f"(peak {full[1] / 2**30:.2f} GiB)", flush=True)
    return rates


def human(n_bytes):
    for unit, scale in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)]:
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes:.0f} B"


def project(measured, rates, activity, seq_len):
    shards = [m for (p, mode), m in measured.items() if mode == "shards"]
    counts = [m for (p, mode), m in measured.items() if mode == "counts"]
    bytes_per_fire = max(m["bytes"] / m["fires"] for m in shards)
    # A count row: domain, neuron, fires, fires_bos and seq_len position counts; split into a
    # fixed part and a per-position part from the runs (all full-length, seq_len positions).
    bytes_per_cell = max(m["bytes"] / m["cells"] for m in counts)
    bytes_per_row = bytes_per_cell * seq_len  # with positions
    bytes_per_row_plain = 8.0  # without positions: upper bound (u16 + 2 x u64, compressed)
    token_bytes = max(m["tokens_bytes"] / m["tokens"] for m in shards + counts)
    sequence_bytes = max(m["sequences_bytes"] / m["tokens"] for m in shards + counts)
    print()
    print("Assumptions:")
    activities = ", ".join(f"{100 * m['activity']:.1f}%" for m in shards)
    print(f"- activity {100 * activity:.0f}% of neurons per token in every layer "
          f"(measured: {activities})")
    print(f"- shards: {bytes_per_fire:.2f} bytes per fire (measured on random models, whose "
          "uniform fires compress worst; trained models write 0.5-1)")
    print(f"- counts: parts of {PART_TOKENS['counts']:,} tokens holding {DOMAINS_PER_PART} domains "
          f"on average, a row per (domain, neuron); {bytes_per_row_plain:.0f} bytes per row "
          f"without positions (upper bound), {bytes_per_cell:.2f} bytes per position count "
          "(measured)")
    print(f"- token parts {token_bytes:.2f} and sequence table {sequence_bytes:.2f} bytes per "
          "token (measured)")
    print(f"- sequences of {POSITIONS} tokens; batches of {BATCH_TOKENS} tokens; f16 weights and "
          "activations on the GPU")
    print(f"- one H100 at {H100_TFLOPS:.0f} TFLOP/s f16 peak and {100 * MFU:.0f}% MFU; forward "
          "FLOPs per token 2 x (non-embedding parameters) + 2 x layers x 2048 x hidden "
          "(attention), no LM head")
    print(f"- host memory: the shard's sequences (4 bytes per token), two parts in flight "
          "(one computing, one writing): fired lists at 2 bytes per fire, or counters at 16 "
          "bytes per neuron and domain plus 4 per position; weights are read from disk as "
          "needed")
    print(f"- one 8-GPU node: {NODE_DISK_TB:.0f} TB of local NVMe")
    print()
    print("| model | experiment | disk | host memory | GPU memory, whole / streamed | "
          "H100-hours |")
    print("|---|---|---|---|---|---|")
    total = 0.0
    worst = (0.0, "")
    section3_66b = 0.0
    gpu_hours = {name: 0.0 for name in OPT}
    for name, (layers, hidden, ffn, heads) in OPT.items():
        for experiment, e in EXPERIMENTS.items():
            recorded = layers if e["layers"] == "all" else layers // 2
            tokens = e["tokens"]
            if e["mode"] == "shards":
                layer_bytes = tokens * ffn * activity * recorded * bytes_per_fire
                in_flight = 2 * PART_TOKENS["shards"] * ffn * activity * recorded * 2
            else:
                parts = math.ceil(tokens / PART_TOKENS["counts"])
                rows = parts * recorded * DOMAINS_PER_PART * ffn
                per_row = bytes_per_row * POSITIONS / seq_len if e["positions"] else \
                    bytes_per_row_plain
                layer_bytes = rows * per_row
                counters = 16 + (4 * POSITIONS if e["positions"] else 0)
                in_flight = 2 * recorded * DOMAINS_PER_PART * ffn * counters
            disk = layer_bytes + tokens * (token_bytes + sequence_bytes)
            host = 4 * tokens + in_flight
            non_embedding = layers * (4 * hidden * hidden + 2 * hidden * ffn)
            weights = 2 * params(layers, hidden, ffn)
            activations = 2 * BATCH_TOKENS * (4 * hidden + 2 * ffn) + \
                2 * (BATCH_TOKENS // POSITIONS) * heads * POSITIONS * POSITIONS
            whole = weights + activations
            streamed = 2 * (VOCAB + POSITIONS) * hidden + 2 * non_embedding / layers + activations
            flops = 2 * non_embedding * recorded / layers + 2 * recorded * POSITIONS * hidden
            hours = tokens * flops / (H100_TFLOPS * 1e12 * MFU) / 3600
            gpu_hours[name] += hours
            total += disk
            if disk > worst[0]:
                worst = (disk, f"{name} {experiment}")
            if name == "opt-66b" and experiment.startswith("§3"):
                section3_66b = disk
            print(f"| {name} | {experiment} | {human(disk)} | {human(host)} | "
                  f"{human(whole)} / {human(streamed)} | {hours:.2f} |")
    print()
    print(f"largest experiment: {worst[1]}, {human(worst[0])} (goal: under 1 TB): "
          f"{'met' if worst[0] < 1e12 else 'NOT met'}")
    print(f"§3 on opt-66b: {human(section3_66b)} (goal: under 1 GB): "
          f"{'met' if section3_66b < 1e9 else 'NOT met'}")
    print(f"the whole paper: {human(total)} (goal: one node's {NODE_DISK_TB:.0f} TB): "
          f"{'met' if total < NODE_DISK_TB * 1e12 else 'NOT met'}")
    costs = AnalysisCosts(measured, rates, activity, seq_len)
    project_analysis(costs, seq_len)
    project_wall_clock(gpu_hours, costs)


class AnalysisCosts:
    """`analyze`'s time and peak memory, from the rates measured on the synthetic run and the
    analyses of the rehearsal's counts runs."""

    def __init__(self, measured, rates, activity, seq_len):
        cores = os.cpu_count()
        self.activity, self.seq_len = activity, seq_len
        # Shards: reading a fire, and one table increment per fire and table (token tables in
        # every layer, bigram and trigram tables in the n-gram layers), in core-seconds; memory
        # per fire counted in a table from the peak above the analysis without tables, with
        # min(cores, n-gram layers) layers counted at once.
        per_layer = rates["fires"] / rates["layers"]
        (read_seconds, read_rss), (full_seconds, full_rss) = rates["read"], rates["full"]
        self.read_s = read_seconds * cores / rates["fires"]
        units = per_layer * (rates["layers"] + 2 * rates["ngram_layers"])
        self.unit_s = max(full_seconds - read_seconds, 0) * cores / units
        concurrent = min(cores, rates["ngram_layers"])
        self.entry_b = max(full_rss - read_rss, 0) / (concurrent * per_layer * 3)
        # Counts: core-seconds per count row read (a row holds every position of a neuron and
        # domain).
        self.row_seconds = max(m["analyze_seconds"] * cores / m["rows"]
                               for (p, mode), m in measured.items() if mode == "counts")
        self.base_bytes = max([read_rss] + [m["analyze_rss"] for (p, mode), m in measured.items()
                                            if mode == "counts"])

    def experiment(self, name, experiment, nodes=1):
        """One model's analysis of one experiment, its layers split evenly over `nodes` analysis
        nodes (`[split] analyze`): (table memory per layer in one pass, layers at once, passes
        per layer, core-hours in all, hours on the node with the most layers)."""
        layers, hidden, ffn, heads = OPT[name]
        e = EXPERIMENTS[experiment]
        recorded = layers if e["layers"] == "all" else layers // 2
        per_node = math.ceil(recorded / min(nodes, recorded))
        tokens = e["tokens"]
        at_once = min(ANALYSIS_CORES, per_node)
        if e["mode"] == "shards":
            per_layer = tokens * ffn * self.activity
            ngram_layers = min(recorded, layers // 2)
            layer_memory = per_layer * 3 * self.entry_b
            share = (ANALYSIS_MEMORY - self.base_bytes) / at_once
            passes = 1 if layer_memory <= share else \
                1 + math.ceil(1.25 * layer_memory / share)
            core_seconds = per_layer * recorded * self.read_s * passes + \
                per_layer * (recorded + 2 * ngram_layers) * self.unit_s
        else:
            parts = math.ceil(tokens / PART_TOKENS["counts"])
            rows = parts * recorded * DOMAINS_PER_PART * ffn
            positions = POSITIONS / self.seq_len if e["positions"] else 1
            core_seconds = rows * self.row_seconds * positions
            layer_memory = ffn * 8 * (POSITIONS if e["positions"] else 2)
            passes = 1
        hours = core_seconds * per_node / recorded / 3600 / at_once
        return layer_memory, at_once, passes, core_seconds / 3600, hours

    def model_hours(self, name, nodes=1):
        """Hours of one model's whole analysis (its three experiments) on `nodes` nodes."""
        return sum(self.experiment(name, experiment, nodes)[4] for experiment in EXPERIMENTS)


def project_analysis(costs, seq_len):
    """Projects `analyze`'s time and peak memory for every model and experiment."""
    print()
    print("Analysis, assumptions:")
    print(f"- shards: {costs.read_s * 1e9:.0f} core-ns to read a fire, {costs.unit_s * 1e9:.0f} "
          "core-ns per fire and count table (measured on the synthetic run; a token table in "
          "every recorded layer, bigram and trigram tables in the first half of the model's "
          "layers); layers are counted in parallel")
    print(f"- n-gram tables: {costs.entry_b:.1f} bytes per fire and table in one pass (measured "
          "on the synthetic run's Zipf-like tokens, above the analysis without tables)")
    print("- --ngram-memory-mib set to the node's memory: a layer whose tables outgrow its share "
          "is counted in neuron ranges, one more pass over its fires each (sized with a quarter "
          "to spare)")
    print(f"- counts: {costs.row_seconds * 1e6:.0f} core-µs per count row (measured on rows "
          f"holding {seq_len} positions, scaled to {POSITIONS}); counters of 8 bytes per neuron "
          f"and position in the layers counted at once; {human(costs.base_bytes)} besides "
          "(measured)")
    print(f"- one analysis node of {ANALYSIS_CORES} cores and {human(ANALYSIS_MEMORY)}; "
          "`[split] analyze` splits a model's layers over several (a Slurm array, merged)")
    print()
    print("| model | experiment | table memory per layer, one pass | layers at once | passes "
          f"per layer | analysis core-hours | hours on one node |")
    print("|---|---|---|---|---|---|---|")
    for name in OPT:
        for experiment in EXPERIMENTS:
            layer_memory, at_once, passes, core_hours, hours = costs.experiment(name, experiment)
            print(f"| {name} | {experiment} | {human(layer_memory)} | {at_once} | {passes} | "
                  f"{core_hours:.2f} | {hours:.2f} |")


def schedule(extraction, analysis):
    """Wall-clock hours of models extracted one after the other (`extraction` hours each, in
    order), each analysed once extracted and once the analysis before it is done (`analysis`
    hours each), beside the next model's extraction, as `run` schedules them; returns (wall,
    extraction alone, analysis alone)."""
    extracted = analysed = 0.0
    for e, a in zip(extraction, analysis):
        extracted += e
        analysed = max(extracted, analysed) + a
    return analysed, sum(extraction), sum(analysis)


def project_wall_clock(gpu_hours, costs):
    """The whole paper's wall-clock time on one 8-GPU node and on a few."""
    print()
    print("The whole paper (eight models, §3-§5), wall-clock, assumptions:")
    print(f"- extraction: the H100-hours above, spread data-parallel over every GPU "
          f"(`--devices cuda:all`) with linear scaling (the workers share only the manifest; "
          f"a multi-GPU node was not measured)")
    print(f"- analysis: each node of {NODES_GPUS} H100s analyses on its host, as the analysis "
          f"node above; on one node each model's analysis runs beside the next model's "
          f"extraction (`run`); on N nodes each model's layers are split over them "
          f"(`[split] analyze = N`, merged), its extraction over their {NODES_GPUS}N GPUs "
          f"(`[split] extract = N`, `--devices cuda:all` in each shard's job), models in the "
          f"pipeline's order")
    print(f"- the models in the pipeline's order; start-up, loading and the report neglected")
    print()
    print("| nodes | extraction alone | analysis alone | wall-clock | goal: under 1 hour on one "
          "node |")
    print("|---|---|---|---|---|")
    for nodes in [1, 2, 4]:
        extraction = [gpu_hours[name] / (NODES_GPUS * nodes) for name in OPT]
        analysis = [costs.model_hours(name, nodes) for name in OPT]
        wall, extraction_alone, analysis_alone = schedule(extraction, analysis)
        goal = ("met" if wall < 1 else "NOT met") if nodes == 1 else ""
        print(f"| {nodes} | {extraction_alone:.2f} h | {analysis_alone:.2f} h | {wall:.2f} h | "
              f"{goal} |")
    slowest = max(OPT, key=costs.model_hours)
    worst = max(EXPERIMENTS, key=lambda e: costs.experiment(slowest, e)[4])
    print()
    print(f"  the longest analysis: {slowest} {worst}, "
          f"{costs.experiment(slowest, worst)[4]:.2f} h on one node "
          f"({costs.experiment(slowest, worst)[2]} passes per layer)")


# The other families' rehearsed shapes: (preset, layers written, streamed). Pythia's MLP has a
# bias, set for --activity as OPT's; the gated families have none and fire on about half their
# neurons at random initialisation.
FAMILY_SHAPES = [("pythia-12b", 2), ("llama3-8b", 1), ("llama3-70b", 1), ("qwen2.5-7b", 1)]
# The long-context rehearsal: one sequence of this many tokens, counted by position.
LONG_CONTEXT = ("llama3-8b", 8192)
# Contexts the families' projection covers.
CONTEXTS = [2048, 8192, 32768]
INT_BYTES = 4  # the device's position counters (i32 on CUDA)
HOST_BYTES = 12  # a counter on the host: its u32 copy, the part's u32 total, the part before it


def write_ids(path: Path, tokens: int, seq_len: int, p):
    """Documents of `seq_len` tokens with the BOS the family adds (Llama's), of random ids."""
    rng = random.Random(0)
    length = seq_len - (1 if p["family"] == "llama" else 0)
    with path.open("w") as out:
        for _ in range(max(1, tokens // seq_len)):
            ids = [rng.randrange(4, p["vocab"]) for _ in range(length)]
            out.write(json.dumps({"input_ids": ids}) + "\n")


def family_model(work: Path, preset: str, layers: int, activity: float) -> Path:
    p = random_family.PRESETS[preset]
    model = work / f"{preset}-{layers}"
    if not (model / "model.safetensors").exists():
        print(f"writing {model.name} ...", flush=True)
        z = {0.02: 2.054, 0.05: 1.645, 0.10: 1.282}.get(activity, 1.645)
        # LayerNorm'd inputs: the MLP's pre-activations have a std of 0.02 * sqrt(hidden).
        bias = -z * 0.02 * math.sqrt(p["hidden"]) if p["family"] == "gpt_neox" else 0.0
        random_family.write(model, preset, layers, None, bias)
    return model


def extract_measured(model: Path, corpus: Path, out: Path, mode: str, seq_len: int, ffn: int,
                     layers: int):
    shutil.rmtree(out, ignore_errors=True)
    command = [str(TARGET / "neuron-census"), "extract", "--model", str(model), "--data",
               str(corpus), "--out", str(out), "--max-seq-len", str(seq_len), "--full-length",
               "--record", mode, "--stream-layers", "--quiet"]
    seconds, rss = run_measured(command)
    return run_entry(out, mode, ffn, layers, seconds, rss)


def run_entry(out: Path, mode: str, ffn: int, layers: int, seconds: float, rss: int) -> dict:
    """What an extraction run `out` of `mode` wrote, read back by DuckDB: tokens, fires, bytes
    and activity (fires per token, neuron and layer), beside its time and peak memory."""
    manifest = json.loads((out / "manifest.json").read_text())
    tokens = manifest["counts"]["tokens"]
    entry = dict(seconds=seconds, rss=rss, tokens=tokens, layers=layers)
    if mode == "shards":
        fires = duckdb.sql(
            f"SELECT sum(len(neurons)) FROM read_parquet('{out}/activations/*/*.parquet')"
        ).fetchall()[0][0]
        entry.update(fires=fires, bytes=size(out / "activations"))
    else:
        rows, fires, cells = duckdb.sql(
            f"SELECT count(*), sum(fires + fires_bos), sum(len(position_fires)) "
            f"FROM read_parquet('{out}/counts/*/*.parquet')").fetchall()[0]
        entry.update(fires=fires, rows=rows, cells=cells, bytes=size(out / "counts"))
    entry["activity"] = entry["fires"] / (tokens * ffn * layers)
    return entry


def rehearse_families(work: Path, tokens: int, activity: float, seq_len: int):
    measured = {}
    for preset, layers in FAMILY_SHAPES:
        p = random_family.PRESETS[preset]
        model = family_model(work, preset, layers, activity)
        corpus = work / f"corpus-{p['family']}-{p['vocab']}.jsonl"
        write_ids(corpus, tokens, seq_len, p)
        for mode in ["shards", "counts"]:
            out = work / f"run-{model.name}-{mode}"
            entry = extract_measured(model, corpus, out, mode, seq_len, p["ffn"], layers)
            if mode == "shards":
                # Every analysis table, n-grams in every layer: the large vocabulary's codes.
                analysis = work / f"analysis-{model.name}"
                shutil.rmtree(analysis, ignore_errors=True)
                entry["analyze_seconds"], entry["analyze_rss"] = run_measured(
                    [str(TARGET / "neuron-census"), "analyze", "--run", str(out), "--out",
                     str(analysis), "--no-projection", "--ngram-layers", "all", "--quiet"])
            measured[(preset, mode)] = entry
            print(f"{preset} ({layers} layers, streamed) {mode}: "
                  f"{entry['tokens'] / entry['seconds']:.1f} tokens/s, peak "
                  f"{entry['rss'] / 2**30:.2f} GiB, activity {100 * entry['activity']:.1f}%, "
                  f"{entry['bytes'] / entry['fires']:.3f} bytes per fire", flush=True)
    preset, context = LONG_CONTEXT
    p = random_family.PRESETS[preset]
    model = family_model(work, preset, 1, activity)
    corpus = work / f"corpus-long-{context}.jsonl"
    write_ids(corpus, context, context, p)
    entry = extract_measured(model, corpus, work / f"run-{model.name}-long", "counts", context,
                             p["ffn"], 1)
    measured[(preset, f"counts, {context} positions")] = entry
    (work / "families.json").write_text(json.dumps(
        [dict(preset=p, mode=m, **e) for (p, m), e in measured.items()], indent=1))
    print(f"{preset} (1 layer, streamed) counts over one {context}-token sequence: "
          f"{entry['tokens'] / entry['seconds']:.1f} tokens/s, peak {entry['rss'] / 2**30:.2f} GiB",
          flush=True)
    return measured


def family_costs(p):
    """(non-embedding parameters, embedding parameters) of a released family shape."""
    d, f, v, layers = p["hidden"], p["ffn"], p["vocab"], p["layers"]
    kv = p["kv_heads"] * d // p["heads"]
    if p["family"] == "gpt_neox":
        per_layer = 4 * d * d + 2 * d * f
    else:
        per_layer = 2 * d * d + 2 * d * kv + 3 * d * f
    return layers * per_layer, 2 * v * d


def project_families(measured, seq_len):
    shards = {p: m for (p, mode), m in measured.items() if mode == "shards"}
    bytes_per_fire = {p: m["bytes"] / m["fires"] for p, m in shards.items()}
    activity = {p: m["activity"] for p, m in shards.items()}
    print()
    print("Families, assumptions:")
    print("- activity and bytes per fire as measured on each random slice (gated families fire on "
          "about half their neurons with the paper's rule at random initialisation; trained "
          "models must be measured: `--fire-threshold` reads a magnitude instead)")
    print(f"- the paper's experiments and token counts as for OPT; f16/bf16 weights; batches of "
          f"{BATCH_TOKENS} tokens; attention through the backends' flash kernels (no score "
          "matrix in memory), so activations grow with the context only through K and V")
    print(f"- one H100 at {H100_TFLOPS:.0f} TFLOP/s and {100 * MFU:.0f}% MFU; forward FLOPs per "
          "token 2 x (non-embedding parameters) + 2 x layers x context x hidden")
    print(f"- positional counters (§5, counts by position), per (position, neuron, domain of a "
          f"part; {DOMAINS_PER_PART} domains a part on average): {INT_BYTES} bytes on the device "
          f"for every recorded layer (whole model) or one layer (--stream-layers), and "
          f"{HOST_BYTES} bytes on the host for every recorded layer (the device's counters copied "
          "as u32, the part's u32 totals, and the previous part's totals being written)")
    print()
    print("| model | context | §4 n-gram shards, disk | §5 counters: GPU whole / streamed | "
          "§5 counters: host | GPU memory, whole / streamed | H100-hours, §3–§5 |")
    print("|---|---|---|---|---|---|---|")
    domains = DOMAINS_PER_PART
    for preset, p in random_family.PRESETS.items():
        non_embedding, embedding = family_costs(p)
        layers, d, f = p["layers"], p["hidden"], p["ffn"]
        kv = p["kv_heads"] * d // p["heads"]
        s4 = EXPERIMENTS["§4 n-grams"]
        disk = s4["tokens"] * f * activity[preset] * (layers // 2) * bytes_per_fire[preset]
        for context in CONTEXTS:
            if context > p["positions"]:
                continue
            cells = context * f * domains
            gpu_whole = layers * cells * INT_BYTES
            gpu_streamed = cells * INT_BYTES
            host = layers * cells * HOST_BYTES
            kv_cache = 2 * BATCH_TOKENS * 2 * kv  # K and V of a batch, f16
            activations = 2 * BATCH_TOKENS * (4 * d + 3 * f) + kv_cache
            whole = 2 * (non_embedding + embedding) + activations + gpu_whole
            streamed = 2 * embedding + 2 * non_embedding / layers + activations + gpu_streamed
            hours = 0.0
            for e in EXPERIMENTS.values():
                recorded = layers if e["layers"] == "all" else layers // 2
                flops = 2 * non_embedding * recorded / layers + 2 * recorded * context * d
                hours += e["tokens"] * flops / (H100_TFLOPS * 1e12 * MFU) / 3600
            print(f"| {preset} | {context:,} | {human(disk)} | {human(gpu_whole)} / "
                  f"{human(gpu_streamed)} | {human(host)} | {human(whole)} / {human(streamed)} | "
                  f"{hours:.1f} |")
    print()
    print(f"Bound: a recorded layer's counters take {HOST_BYTES} x context x FFN width bytes of "
          "host memory per domain of a part, and the device holds every recorded layer's "
          "(whole model) or one layer's (--stream-layers). `extract` logs the host figure "
          "before it starts and refuses a run whose counters for one domain exceed the memory "
          "available, naming what shrinks them: fewer layers per run (--layers), shorter "
          "sequences (--max-seq-len), or counts without positions (no --full-length).")

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--activity", type=float, default=0.05)
    parser.add_argument("--work", type=Path, help="keep models and runs here (reused)")
    parser.add_argument("--only", choices=["opt", "families"], help="rehearse one part only")
    parser.add_argument("--project-only", action="store_true",
                        help="project from the measurements saved in --work")
    args = parser.parse_args()
    needed = [TARGET / "neuron-census"]
    if args.only != "families":
        needed += [TARGET / "examples/random_opt", TARGET / "examples/count_bench"]
    for binary in needed:
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: see the top of this script")
    work = args.work or Path(tempfile.mkdtemp(prefix="scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.only != "opt":
            cached = work / "families.json"
            if args.project_only and cached.exists():
                families = {(e.pop("preset"), e.pop("mode")): e
                            for e in json.loads(cached.read_text())}
            else:
                families = rehearse_families(work, args.tokens, args.activity, args.seq_len)
            print()
            print("| shape | mode | tokens/s (CPU) | peak host memory | activity | bytes per fire |")
            print("|---|---|---|---|---|---|")
            for (preset, mode), m in families.items():
                print(f"| {preset} ({m['layers']} layer{'s' if m['layers'] > 1 else ''}) | {mode} "
                      f"| {m['tokens'] / m['seconds']:.1f} | {m['rss'] / 2**30:.2f} GiB | "
                      f"{100 * m['activity']:.1f}% | {m['bytes'] / m['fires']:.3f} |")
            project_families(families, args.seq_len)
            if args.only == "families":
                print(f"\ncores: {os.cpu_count()}")
                return
        cached = work / "opt.json"
        if args.project_only and cached.exists() and "rates" in json.loads(cached.read_text()):
            saved = json.loads(cached.read_text())
            measured = {(e.pop("preset"), e.pop("mode")): e for e in saved["measured"]}
            rates = saved["rates"]
        else:
            measured = rehearse(work, args.tokens, args.activity, args.seq_len)
            saved = {"measured": [dict(m, preset=p, mode=mode) for (p, mode), m in measured.items()]}
            cached.write_text(json.dumps(saved))
            rates = analysis_rates(work, args.activity)
            cached.write_text(json.dumps(dict(saved, rates=rates)))
        print()
        print("| shape | mode | tokens/s (CPU) | peak host memory | activity | bytes per fire | "
              "bytes per token | analysis: seconds, peak memory |")
        print("|---|---|---|---|---|---|---|---|")
        for (preset, mode), m in measured.items():
            print(f"| {preset} ({m['layers']} layers) | {mode} | {m['tokens'] / m['seconds']:.1f} | "
                  f"{m['rss'] / 2**30:.2f} GiB | {100 * m['activity']:.1f}% | "
                  f"{m['bytes'] / m['fires']:.3f} | {m['bytes'] / m['tokens']:.0f} | "
                  f"{m['analyze_seconds']:.1f} s, {m['analyze_rss'] / 2**30:.2f} GiB |")
        project(measured, rates, args.activity, args.seq_len)
        print(f"\ncores: {os.cpu_count()}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
