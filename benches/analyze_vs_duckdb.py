#!/usr/bin/env python3
"""Benchmark: the analysis against DuckDB SQL, side by side in one invocation, in two views.

DuckDB computes, over the same run directory, the two tables every statistic of the analysis
rests on, with the `</s>` prefix left out:

  fire counts   per (layer, neuron): how often it fires;
  token counts  per (layer, neuron, token): how often it fires on that token (joins the
                activation shards with the token shards).

  counting core   `count_bench count` (release build): the same two tables, parquet decoding
                  and per-layer counting, as `neuron-census analyze` does it;
  whole analysis  `neuron-census analyze --no-projection` (the run is synthetic: no weights to
                  project) with its defaults: every table it writes (frequencies, dead neurons,
                  token tables in every layer, bigram and trigram tables in the first half,
                  coverage, detectors, detected tokens, neurons per token, positions);
  duckdb          the two GROUP BYs in SQL over `read_parquet` (all threads), materialised.

Each runs in its own process, in interleaved rounds; the best wall time of each and its peak
RSS (from wait4) are printed with the ratios, and the checksums of the counting core and DuckDB
(total fires, distinct pairs, sum of squared pair counts) must agree; the whole analysis's
`neurons.parquet` must count the same fires outside the prefix (its `fires` counts every
position by default, so its `fires_bos` is taken off). The run is synthetic (`count_bench make-run`):
Zipf-like tokens over OPT's vocabulary and about `density` of 3072 neurons firing per token,
the shape of OPT-125m.

    pip install duckdb
    cargo build --release -p census-stats --example count_bench -p census-cli --bin neuron-census
    python benches/analyze_vs_duckdb.py [--tokens 32768] [--layers 6] [--rounds 2] [--threads N]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
BENCH = TARGET / "examples" / "count_bench"
CLI = TARGET / "neuron-census"

DUCKDB_SCRIPT = r"""
import json, sys, duckdb
run, threads = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE VIEW acts AS SELECT layer, seq, pos, neurons FROM read_parquet('{run}/activations/*/*.parquet', hive_partitioning = true)")
con.execute(f"CREATE VIEW toks AS SELECT seq, pos, token FROM read_parquet('{run}/tokens/*.parquet')")
con.execute("CREATE TABLE fires AS SELECT layer, n, count(*) AS c FROM (SELECT layer, unnest(neurons) AS n FROM acts WHERE pos > 0) GROUP BY ALL")
con.execute("CREATE TABLE pairs AS SELECT a.layer, a.n, t.token, count(*) AS c FROM (SELECT layer, seq, pos, unnest(neurons) AS n FROM acts WHERE pos > 0) a JOIN toks t USING (seq, pos) GROUP BY ALL")
fires = con.execute("SELECT sum(c) FROM fires").fetchone()[0]
pairs, squares = con.execute("SELECT count(*), sum(c * c) FROM pairs").fetchone()
print(json.dumps({"fires": int(fires), "pairs": int(pairs), "pair_squares": int(squares)}))
"""


def timed(cmd, env=None):
    """Runs cmd; returns (stdout, seconds, peak RSS in MiB) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{cmd[0]} failed with status {status}")
    return out.decode(), seconds, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--ngram-memory-mib", type=int, help="the whole analysis's cap on its n-gram tables")
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()
    for binary in (BENCH, CLI):
        if not binary.exists():
            sys.exit(f"{binary} missing: cargo build --release -p census-stats --example count_bench "
                     "-p census-cli --bin neuron-census")
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        if not (run / "manifest.json").exists():
            subprocess.run([str(BENCH), "make-run", str(run), "--tokens", str(args.tokens),
                            "--layers", str(args.layers), "--density", str(args.density)], check=True)
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        analysis = Path(tmp) / "analysis"
        whole_cmd = [str(CLI), "analyze", "--run", str(run), "--out", str(analysis), "--no-projection", "--quiet"]
        if args.ngram_memory_mib:
            whole_cmd += ["--ngram-memory-mib", str(args.ngram_memory_mib)]
        best = {}
        outputs = {}
        for _ in range(args.rounds):
            for name, cmd, cmd_env in (
                ("core", [str(BENCH), "count", str(run)], env),
                ("whole", whole_cmd, env),
                ("duckdb", [sys.executable, "-c", DUCKDB_SCRIPT, str(run), str(args.threads)], None),
            ):
                out, seconds, mib = timed(cmd, cmd_env)
                outputs[name] = out
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, mib)
        summary = json.loads((analysis / "summary.json").read_text())
        layers_table = subprocess.run(
            [sys.executable, "-c",
             "import duckdb, sys; print(duckdb.sql(f\"SELECT sum(fires) - sum(fires_bos) FROM '{sys.argv[1]}'\").fetchall()[0][0])",
             str(analysis / "neurons.parquet")],
            check=True, capture_output=True, text=True).stdout.strip()
    ours, duck = (json.loads(outputs[k].strip().splitlines()[-1]) for k in ("core", "duckdb"))
    for key in ("fires", "pairs", "pair_squares"):
        if ours[key] != duck[key]:
            sys.exit(f"MISMATCH {key}: ours {ours[key]}, duckdb {duck[key]}")
    if int(layers_table) != duck["fires"]:
        sys.exit(f"MISMATCH the whole analysis's fires: {layers_table}, duckdb {duck['fires']}")
    rows = ours["rows"]
    print(f"run: {rows} tokens x {args.layers} layers, {ours['fires']} fires, {ours['pairs']} (layer, neuron, token) "
          f"pairs; {args.threads} threads; best of {args.rounds} interleaved rounds; results agree "
          f"(analysis: {summary.get('neurons_per_layer')} neurons per layer)")
    duck_s, duck_mib = best["duckdb"]
    for name, label in (("core", "counting core"), ("whole", "whole analysis")):
        seconds, mib = best[name]
        print(f"{label:15} {seconds:8.2f} s  {rows / seconds:10.0f} tok/s  peak RSS {mib:8.0f} MiB  "
              f"{duck_s / seconds:5.2f}x DuckDB's speed, {mib / duck_mib:.2f}x its memory")
    print(f"{'duckdb':15} {duck_s:8.2f} s  {rows / duck_s:10.0f} tok/s  peak RSS {duck_mib:8.0f} MiB")
    print(f"ratio: whole analysis {duck_s / best['whole'][0]:.2f}x (target >= 4x), "
          f"counting core {duck_s / best['core'][0]:.2f}x")


if __name__ == "__main__":
    main()
