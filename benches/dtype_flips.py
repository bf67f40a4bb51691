#!/usr/bin/env python3
"""Measurement: how many fired bits (token × layer × neuron: fc1 output > 0) change when the
dense path computes in f16 or bf16 instead of f32, on the CPU backend.

Each model is extracted three times with `--ffn dense --dtype f32|f16|bf16` over the same
sequences, and DuckDB counts the (seq, pos, layer, neuron) fires present in one run and not the
other. Printed as a Markdown table: differing bits over all bits, and over the fires of the f32
run.

Models: the random fixtures (f32 weights), the embedded default (trained here, f16 weights) and a
random OPT-125m-shaped model (OPT's initialisation, f16 weights, fc1 biases set so that about 5%
of neurons fire; written by `cargo run --release -p census-train --example random_opt`).

    pip install duckdb
    cargo build --release -p xtask -p census-train --example random_opt
    python benches/dtype_flips.py [--tokens 4096] [--device cuda]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def extract(model, data, out, dtype, max_seq_len, device, extra=()):
    cmd = [str(TARGET / "xtask"), "extract", "--model", str(model), "--data", str(data),
           "--out", str(out), "--max-seq-len", str(max_seq_len), "--ffn", "dense",
           "--dtype", dtype, "--device", device, "--quiet", *extra]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)


def fires(run):
    return f"""(SELECT seq, pos, layer, unnest(neurons) AS n
               FROM read_parquet('{run}/activations/*/*.parquet', hive_partitioning = true))"""


def compare(base, other):
    con = duckdb.connect()
    differ = con.execute(f"""SELECT count(*) FROM (
        (SELECT * FROM {fires(base)} EXCEPT SELECT * FROM {fires(other)})
        UNION ALL
        (SELECT * FROM {fires(other)} EXCEPT SELECT * FROM {fires(base)}))""").fetchone()[0]
    fired = con.execute(f"SELECT count(*) FROM {fires(base)}").fetchone()[0]
    manifest = json.load(open(Path(base) / "manifest.json"))
    config = manifest["config"]["model"]["config"]
    layers = manifest["config"]["layers"][1] - manifest["config"]["layers"][0]
    tokens = manifest["counts"]["shard_tokens"]
    bits = tokens * layers * config["ffn_dim"]
    return differ, fired, bits, tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=4096,
                        help="tokens of the random OPT-125m-shaped model's corpus")
    parser.add_argument("--device", default="cpu",
                        help="cpu, or cuda (build with `cargo xtask bench dtype --cuda`)")
    a = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dtype-flips-"))
    random_model = work / "opt-125m-random"
    subprocess.run([str(TARGET / "examples" / "random_opt"), str(random_model)], check=True)
    def random_ids(name, vocab, seq, sequences):
        rng = random.Random(0)
        path = work / name
        with open(path, "w") as f:
            for _ in range(sequences):
                ids = [rng.randrange(4, vocab) for _ in range(seq - 1)]
                f.write(json.dumps({"input_ids": ids, "domain": "random"}) + "\n")
        return f"{path},format=pretokenized"

    seq = 256
    ids = random_ids("ids-125m.jsonl", 50265, seq, max(1, a.tokens // seq))
    small = random_ids("ids-fixtures.jsonl", 512, 48, 64)
    fixtures = ROOT / "tests" / "fixtures" / "opt"
    models = [
        ("fixture pre-ln (f32)", fixtures / "pre-ln", small, 48, ()),
        ("fixture post-ln-proj (f32)", fixtures / "post-ln-proj", small, 48, ()),
        ("fixture odd (f32)", fixtures / "odd", small, 48, ()),
        ("embedded default, trained (f16)", ROOT / "data" / "model",
         ROOT / "data" / "corpus" / "census.jsonl", 256, ("--max-tokens", str(a.tokens))),
        ("random OPT-125m shape (f16)", random_model, ids, seq, ()),
    ]
    print("| model | tokens | fires in f32 | f16: differing bits | f16: of all bits | f16: of f32 fires "
          "| bf16: differing bits | bf16: of all bits | bf16: of f32 fires |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, model, data, max_seq_len, extra in models:
        runs = {}
        for dtype in ["f32", "f16", "bf16"]:
            runs[dtype] = work / f"{model.name}-{dtype}"
            extract(model, data, runs[dtype], dtype, max_seq_len, a.device, extra)
        cells = []
        fired = tokens = 0
        for dtype in ["f16", "bf16"]:
            differ, fired, bits, tokens = compare(runs["f32"], runs[dtype])
            cells += [f"{differ:,}", f"{differ / bits:.4%}", f"{differ / max(fired, 1):.3%}"]
        print(f"| {name} | {tokens:,} | {fired:,} | " + " | ".join(cells) + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
