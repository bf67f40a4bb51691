#!/usr/bin/env python3
"""Benchmark: the counting core of the analysis against DuckDB SQL, side by side in one invocation.

Both compute, over the same run directory, the two tables every statistic of the analysis rests
on, with the `</s>` prefix left out:

  fire counts   per (layer, neuron): how often it fires;
  token counts  per (layer, neuron, token): how often it fires on that token (joins the
                activation shards with the token shards).

  ours    `count_bench count` (release build): parquet decoding, per-layer parallel counting
          into hash tables, as `neuron-census analyze` does it;
  duckdb  the same two GROUP BYs in SQL over `read_parquet` (all threads), materialised.

Each side runs in its own process; wall time and peak RSS (from wait4) are printed for both with
the ratio, and the checksums (total fires, distinct pairs, sum of squared pair counts) must agree.
The run is synthetic (`count_bench make-run`): Zipf-like tokens over OPT's vocabulary and about
5% of 3072 neurons firing per token in 12 layers, the shape of OPT-125m.

    pip install duckdb
    cargo build --release -p census-stats --example count_bench
    python benches/analyze_vs_duckdb.py [--tokens 65536] [--threads N]
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
    parser.add_argument("--tokens", type=int, default=65536)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()
    if not BENCH.exists():
        sys.exit(f"{BENCH} missing: cargo build --release -p census-stats --example count_bench")
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        if not (run / "manifest.json").exists():
            subprocess.run([str(BENCH), "make-run", str(run), "--tokens", str(args.tokens)], check=True)
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        ours_out, ours_s, ours_mib = timed([str(BENCH), "count", str(run)], env)
        duck_out, duck_s, duck_mib = timed([sys.executable, "-c", DUCKDB_SCRIPT, str(run), str(args.threads)])
    ours, duck = (json.loads(o.strip().splitlines()[-1]) for o in (ours_out, duck_out))
    for key in ("fires", "pairs", "pair_squares"):
        if ours[key] != duck[key]:
            sys.exit(f"MISMATCH {key}: ours {ours[key]}, duckdb {duck[key]}")
    rows = ours["rows"]
    print(f"run: {rows} tokens x 12 layers, {ours['fires']} fires, {ours['pairs']} (layer, neuron, token) pairs; "
          f"{args.threads} threads; results agree")
    print(f"ours    {ours_s:8.2f} s  {rows / ours_s:10.0f} tok/s  peak RSS {ours_mib:8.0f} MiB")
    print(f"duckdb  {duck_s:8.2f} s  {rows / duck_s:10.0f} tok/s  peak RSS {duck_mib:8.0f} MiB")
    print(f"ratio   {duck_s / ours_s:.2f}x faster (target >= 3x), memory {ours_mib / duck_mib:.2f}x of DuckDB's")


if __name__ == "__main__":
    main()
