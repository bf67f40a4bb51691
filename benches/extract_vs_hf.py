#!/usr/bin/env python3
"""Benchmark: our extraction against the Python peer, side by side in one invocation.

Both run on the same random OPT-125m-shaped model (f32 weights, fc1 biases shifted so about 5% of
neurons fire, as in a trained model's sparse layers) and the same pre-tokenized corpus of
sequences of --seq-len tokens, and both write the same Parquet layout (fired fc1 indices per
token and layer, zstd):

  ours  `neuron-census extract` (release build), timed end to end as a user runs it:
        model loading, batching, forward pass, index extraction, Parquet writing;
  peer  Hugging Face `transformers` + PyTorch as a user writes it: `OPTForCausalLM`, forward
        hooks on every fc1, fired masks to sorted index lists, pyarrow Parquet writes; timed the
        same way (model loading included). Its forward computes the LM head, which extraction
        never needs;
  peer, decoder only
        the same with `OPTModel` (no LM head): a peer tuned by hand, printed beside it.

Prints tokens/s for each and the ratios, and our GEMM-bound ceiling: the FLOPs our engine does
per token (q/k/v/out and fc1 dense, causal attention over the lower triangle, fc2 over the
fired share of neurons) divided by the measured matmul throughput.

    pip install torch transformers safetensors pyarrow numpy
    cargo build --release -p census-cli --bin neuron-census -p census-extract --example gemm_throughput
    python benches/extract_vs_hf.py [--tokens 4096] [--seq-len 512] [--device cpu|cuda]

With --device cuda (build ours with `cargo build --release -p census-cli --features cuda`;
both sides then run in bf16, ours with the dense FFN on the GPU) it prints MFU against the GPU's
bf16 peak given by --peak-tflops instead of the CPU GEMM ceiling.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from transformers import OPTConfig, OPTForCausalLM, OPTModel

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def make_model(path: Path, density: float, seed: int = 0):
    torch.manual_seed(seed)
    config = OPTConfig(
        vocab_size=50272, hidden_size=768, num_hidden_layers=12, ffn_dim=3072,
        num_attention_heads=12, max_position_embeddings=2048, word_embed_proj_dim=768,
        dropout=0.0, attention_dropout=0.0,
    )
    model = OPTForCausalLM(config).eval()
    ids = torch.randint(4, 50265, (2, 256))
    ids[:, 0] = 2
    store = {}
    hooks = [
        layer.fc1.register_forward_hook(lambda m, i, o, k=k: store.__setitem__(k, o.detach()))
        for k, layer in enumerate(model.model.decoder.layers)
    ]
    with torch.no_grad():
        for k, layer in enumerate(model.model.decoder.layers):
            model(input_ids=ids)
            layer.fc1.bias -= torch.quantile(store[k].flatten()[:1_000_000], 1 - density)
    for h in hooks:
        h.remove()
    model.save_pretrained(path)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(ROOT / "tests/fixtures/tokenizer" / f, path / f)


def make_corpus(path: Path, tokens: int, seq_len: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    n = max(1, tokens // seq_len)
    with open(path, "w") as f:
        for _ in range(n):
            f.write(json.dumps({"input_ids": rng.integers(4, 50265, seq_len - 1).tolist()}) + "\n")
    return n * seq_len


def run_ours(model: Path, corpus: Path, out: Path, seq_len: int, batch: int, device: str):
    cmd = [
        str(TARGET / "neuron-census"), "extract", "--model", str(model),
        "--data", f"{corpus},format=pretokenized", "--out", str(out),
        "--max-seq-len", str(seq_len), "--batch-tokens", str(batch * seq_len), "--quiet",
    ]
    if device == "cuda":
        cmd += ["--dtype", "bf16", "--device", "cuda", "--ffn", "dense"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "RUST_LOG": "warn"})
    return time.perf_counter() - start


def run_peer(model_dir: Path, corpus: Path, out: Path, batch: int, device: str, lm_head: bool):
    start = time.perf_counter()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    kind = OPTForCausalLM if lm_head else OPTModel
    model = kind.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    decoder = model.model.decoder if lm_head else model.decoder
    layers = decoder.layers
    fired = {}
    hooks = [
        layer.fc1.register_forward_hook(lambda m, i, o, k=k: fired.__setitem__(k, o > 0))
        for k, layer in enumerate(layers)
    ]
    seqs = [[2] + json.loads(line)["input_ids"] for line in open(corpus)]
    item = pa.field("item", pa.uint16(), nullable=False)
    schema = pa.schema([("seq", pa.uint64()), ("pos", pa.uint16()), ("neurons", pa.list_(item))])
    writers = {}
    with torch.no_grad():
        for b in range(0, len(seqs), batch):
            ids = torch.tensor(seqs[b:b + batch], device=device)
            model(input_ids=ids)
            for k, mask in fired.items():
                mask = mask.reshape(ids.shape[0], ids.shape[1], -1).cpu().numpy()
                rows, cols, neurons = np.nonzero(mask)
                offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=2).reshape(-1))]).astype(np.int32)
                values = pa.array(neurons.astype(np.uint16), type=pa.uint16())
                lists = pa.ListArray.from_arrays(pa.array(offsets), values).cast(pa.list_(item))
                seq = np.repeat(np.arange(b, b + ids.shape[0], dtype=np.uint64), ids.shape[1])
                pos = np.tile(np.arange(ids.shape[1], dtype=np.uint16), ids.shape[0])
                table = pa.table([seq, pos, lists], schema=schema)
                if k not in writers:
                    d = out / f"layer={k:02d}"
                    d.mkdir(parents=True, exist_ok=True)
                    writers[k] = pq.ParquetWriter(d / "part-00000.parquet", schema, compression="zstd")
                writers[k].write_table(table)
    for w in writers.values():
        w.close()
    for h in hooks:
        h.remove()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def flops_per_token(seq_len: int, density: float, d=768, f=3072, layers=12):
    """FLOPs per token of our engine: per layer the q, k, v and out projections (4 d^2), fc1
    (d f), fc2 over the fired share (density d f), and causal attention scores and context
    (2 d times the mean number of keys, (seq_len + 1) / 2); multiply-adds count 2."""
    return 2 * layers * (4 * d * d + d * f + density * d * f + 2 * d * (seq_len + 1) / 2)


def dense_flops_per_token(seq_len: int, d=768, f=3072, layers=12, vocab=50272):
    """FLOPs per token of the peer's forward: dense FFN and full attention matrices, plus the
    LM head."""
    return 2 * layers * (4 * d * d + 2 * d * f + 2 * seq_len * d) + 2 * d * vocab


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=2, help="sequences per forward pass, both sides")
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="GPU bf16 dense peak (H100 SXM: 989)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    work = Path(tempfile.mkdtemp(prefix="census-bench-"))
    try:
        model = work / "model"
        make_model(model, a.density)
        corpus = work / "corpus.jsonl"
        tokens = make_corpus(corpus, a.tokens, a.seq_len)
        t_ours = run_ours(model, corpus, work / "ours", a.seq_len, a.batch, a.device)
        t_peer = run_peer(model, corpus, work / "peer", a.batch, a.device, lm_head=True)
        t_tuned = run_peer(model, corpus, work / "tuned", a.batch, a.device, lm_head=False)
        ours_tps, peer_tps, tuned_tps = tokens / t_ours, tokens / t_peer, tokens / t_tuned
        flops = flops_per_token(a.seq_len, a.density)
        print(f"model: random OPT-125m shape, f32 weights, ~{a.density:.0%} of fc1 active; "
              f"{tokens} tokens in sequences of {a.seq_len}, batch {a.batch}, device {a.device}")
        print(f"ours : {ours_tps:9.1f} tokens/s  ({t_ours:.2f} s, end to end)")
        print(f"peer : {peer_tps:9.1f} tokens/s  ({t_peer:.2f} s, end to end; OPTForCausalLM with fc1 hooks)")
        print(f"peer, decoder only: {tuned_tps:9.1f} tokens/s  ({t_tuned:.2f} s; OPTModel, no LM head)")
        print(f"ratio: {ours_tps / peer_tps:.2f}x the peer, {ours_tps / tuned_tps:.2f}x the decoder-only peer")
        if a.device == "cpu":
            probe = TARGET / "examples" / "gemm_throughput"
            gemm = json.loads(subprocess.check_output([str(probe), str(a.batch * a.seq_len), "768", "3072"]))
            ceiling = gemm["gflops"] * 1e9 / flops
            print(f"GEMM ceiling: {ceiling:9.1f} tokens/s  (matmul {gemm['gflops']:.0f} GFLOP/s, "
                  f"{flops / 1e6:.0f} MFLOP/token); ours at {ours_tps / ceiling:.0%} of it")
            print(f"work per token: ours {flops / 1e6:.0f} MFLOP, the peer's forward "
                  f"{dense_flops_per_token(a.seq_len) / 1e6:.0f} MFLOP")
        else:
            # On the GPU ours runs the dense pass (no LM head).
            mfu = ours_tps * dense_flops_per_token(a.seq_len, vocab=0) / (a.peak_tflops * 1e12)
            print(f"MFU (ours, bf16 peak {a.peak_tflops} TFLOP/s): {mfu:.1%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
