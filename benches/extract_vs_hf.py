#!/usr/bin/env python3
"""Benchmark: our extraction against the Python peer, side by side in one invocation.

Both run on the same random model of a released shape (--shape: OPT-125m by default, or GPT-2,
Pythia-160m, Qwen2.5-0.5B, Llama 3.2-1B, Mistral-7B; --layers keeps a slice of the layers at
the full widths), f32 weights, and the same pre-tokenized corpus of sequences of --seq-len
tokens. Where the family's first MLP projection has a bias (OPT, GPT-2, Pythia) it is shifted
so about --density of the neurons fire, as in a trained model's sparse layers; gated families
(Llama, Qwen2, Mistral) fire on about half at random initialisation. Both sides write the same
Parquet layout (fired neurons per token and layer, zstd):

  ours  `neuron-census extract` (release build), timed end to end as a user runs it:
        model loading, batching, forward pass, index extraction, Parquet writing;
  peer  Hugging Face `transformers` + PyTorch as a user writes it: `AutoModelForCausalLM`,
        hooks where the activation function's input leaves each MLP (OPT's fc1 output, the
        other families' activation module's input), fired masks to sorted index lists, pyarrow
        Parquet writes; timed the same way (model loading included). Its forward computes the
        LM head, which extraction never needs;
  peer, decoder only
        the same with `AutoModel` (no LM head): a peer tuned by hand, printed beside it.

Both sides' fires are counted per layer from their Parquet files and must agree (to 0.1%, for
neurons within rounding of zero). Prints tokens/s for each and the ratios, the FLOPs our engine
does per token (q/k/v/out and fc1 dense, causal attention over the lower triangle, fc2 over the
fired share of neurons where the activation is a ReLU) and the rate that makes end to end, and,
on the CPU, the GEMM-bound ceiling: those FLOPs at the `gemm` kernel's own rate, measured alone
at the FFN's shapes with the engine's layout.

    pip install torch transformers safetensors pyarrow numpy
    cargo build --release -p census-cli --bin neuron-census -p census-extract --example gemm_throughput
    python benches/extract_vs_hf.py [--shape opt-125m] [--layers N] [--tokens 4096]
        [--seq-len 512] [--device cpu|cuda]
    python benches/extract_vs_hf.py --shape all      # every shape, one after the other

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
import transformers
from transformers import AutoModel, AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"

# Released shapes: the config class, its fields, and how the family starts a sequence (the BOS
# token our extraction adds to pre-tokenized input, or None). Dropouts are off everywhere.
SHAPES = {
    "opt-125m": ("OPTConfig", dict(
        vocab_size=50272, hidden_size=768, num_hidden_layers=12, ffn_dim=3072,
        num_attention_heads=12, max_position_embeddings=2048, word_embed_proj_dim=768,
        dropout=0.0, attention_dropout=0.0), 2),
    "gpt2": ("GPT2Config", dict(
        vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0), None),
    "pythia-160m": ("GPTNeoXConfig", dict(
        vocab_size=50304, hidden_size=768, num_hidden_layers=12, intermediate_size=3072,
        num_attention_heads=12, max_position_embeddings=2048, rotary_pct=0.25,
        rotary_emb_base=10000, use_parallel_residual=True, hidden_act="gelu",
        tie_word_embeddings=False, attention_dropout=0.0, hidden_dropout=0.0), None),
    "qwen2.5-0.5b": ("Qwen2Config", dict(
        vocab_size=151936, hidden_size=896, num_hidden_layers=24, intermediate_size=4864,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
        use_sliding_window=False), None),
    "llama3.2-1b": ("LlamaConfig", dict(
        vocab_size=128256, hidden_size=2048, num_hidden_layers=16, intermediate_size=8192,
        num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
        rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
        rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                          high_freq_factor=4.0, original_max_position_embeddings=8192),
        bos_token_id=128000, eos_token_id=128001), 128000),
    "mistral-7b": ("MistralConfig", dict(
        vocab_size=32000, hidden_size=4096, num_hidden_layers=32, intermediate_size=14336,
        num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
        rope_theta=10000.0, rms_norm_eps=1e-5, sliding_window=4096, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2), 1),
}
# Layers kept by default where the whole model is too slow for a 2-core machine.
DEFAULT_LAYERS = {"mistral-7b": 2}


def layers_of(model):
    """The decoder layers of a Hugging Face model, with or without its LM head."""
    base = model.base_model
    for path in ("decoder.layers", "layers", "h"):
        node = base
        try:
            for part in path.split("."):
                node = getattr(node, part)
            return node
        except AttributeError:
            continue
    raise ValueError(f"no decoder layers in {type(model).__name__}")


def fired_hooks(model, fired):
    """Hooks that store each layer's fired mask (the activation function's input > 0) in
    `fired[layer]`."""
    hooks = []
    for k, layer in enumerate(layers_of(model)):
        if hasattr(layer, "fc1"):  # OPT: fc1's output is the activation's input
            hooks.append(layer.fc1.register_forward_hook(
                lambda m, i, o, k=k: fired.__setitem__(k, o > 0)))
            continue
        act = getattr(layer.mlp, "act", None) or layer.mlp.act_fn
        hooks.append(act.register_forward_pre_hook(
            lambda m, args, k=k: fired.__setitem__(k, args[0] > 0)))
    return hooks


def make_model(path: Path, shape: str, layers: int | None, density: float, seed: int = 0):
    torch.manual_seed(seed)
    config_class, fields, _ = SHAPES[shape]
    fields = dict(fields)
    key = "n_layer" if "n_layer" in fields else "num_hidden_layers"
    if layers:
        fields[key] = layers
    config = getattr(transformers, config_class)(**fields)
    model = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.randint(4, min(config.vocab_size, 50265), (2, 256))
    store = {}
    hooks = fired_hooks(model, store)
    with torch.no_grad():
        for k, layer in enumerate(layers_of(model)):
            first = getattr(layer, "fc1", None) or getattr(layer.mlp, "c_fc", None) \
                or getattr(layer.mlp, "dense_h_to_4h", None)
            if first is None or first.bias is None:
                continue  # gated: no bias to shift
            model(input_ids=ids)
            # The pre-activations are not stored by value, so recompute them from the hook's
            # input: shift the bias by the (1 - density) quantile of fc1's output.
            captured = {}
            h = first.register_forward_hook(lambda m, i, o: captured.__setitem__("o", o))
            model(input_ids=ids)
            h.remove()
            first.bias -= torch.quantile(captured["o"].flatten()[:1_000_000].float(), 1 - density)
    for h in hooks:
        h.remove()
    model.save_pretrained(path)
    if shape == "opt-125m":
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(ROOT / "tests/fixtures/tokenizer" / f, path / f)
    return config


def make_corpus(path: Path, tokens: int, seq_len: int, vocab: int, bos: int | None, seed: int = 1):
    rng = np.random.default_rng(seed)
    n = max(1, tokens // seq_len)
    text_len = seq_len - (bos is not None)
    with open(path, "w") as f:
        for _ in range(n):
            f.write(json.dumps({"input_ids": rng.integers(4, min(vocab, 50265), text_len).tolist()}) + "\n")
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


def run_peer(model_dir: Path, corpus: Path, out: Path, batch: int, device: str, lm_head: bool,
             bos: int | None):
    start = time.perf_counter()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    kind = AutoModelForCausalLM if lm_head else AutoModel
    model = kind.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    fired = {}
    hooks = fired_hooks(model, fired)
    prefix = [] if bos is None else [bos]
    seqs = [prefix + json.loads(line)["input_ids"] for line in open(corpus)]
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


def fires_per_layer(out: Path):
    """Fires per layer, summed over every Parquet file under `layer=NN` directories."""
    counts = {}
    for path in sorted(out.rglob("*.parquet")):
        layer = next((p.name for p in path.parents if p.name.startswith("layer=")), None)
        if layer is None:
            continue
        column = pq.read_table(path, columns=["neurons"]).column("neurons")
        counts[layer] = counts.get(layer, 0) + sum(len(c.values) for c in column.chunks)
    return counts


def check_fires(ours: dict, peer: dict, tolerance: float = 1e-3):
    """Both sides' fires per layer agree to `tolerance` (random weights put a few neurons within
    rounding of zero)."""
    if sorted(ours) != sorted(peer):
        raise SystemExit(f"layers differ: ours {sorted(ours)}, the peer's {sorted(peer)}")
    for layer in ours:
        if abs(ours[layer] - peer[layer]) > tolerance * max(peer[layer], 1):
            raise SystemExit(f"{layer}: ours fired {ours[layer]} times, the peer {peer[layer]}")
    return sum(ours.values())


def shape_of(config):
    """(hidden, ffn, layers, query width, key/value width, gated, relu) of a transformers config."""
    d = config.hidden_size
    f = getattr(config, "ffn_dim", None) or getattr(config, "intermediate_size", None) \
        or getattr(config, "n_inner", None) or 4 * d
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    kv = getattr(config, "num_key_value_heads", None) or heads
    gated = config.model_type in ("llama", "qwen2", "mistral")
    relu = config.model_type == "opt"
    return d, f, config.num_hidden_layers, heads * head_dim, kv * head_dim, gated, relu


def flops_per_token(config, seq_len: int, density: float):
    """FLOPs per token of our host engine: per layer the q, k, v and out projections, fc1 (and
    the gate's up projection), fc2 (over the fired share of neurons where the activation is a
    ReLU, dense otherwise), and causal attention scores and context over the lower triangle
    (the mean number of keys is (seq_len + 1) / 2); multiply-adds count 2."""
    d, f, layers, q, kv, gated, relu = shape_of(config)
    mlp = d * f * (2 if gated else 1) + (density if relu else 1.0) * d * f
    return 2 * layers * (d * (q + 2 * kv) + q * d + mlp + 2 * q * (seq_len + 1) / 2)


def peer_flops_per_token(config, seq_len: int):
    """FLOPs per token of the decoder-only peer's forward: dense MLP and full attention
    matrices."""
    d, f, layers, q, kv, gated, _ = shape_of(config)
    return 2 * layers * (d * (q + 2 * kv) + q * d + d * f * (3 if gated else 2) + 2 * q * seq_len)


def bench(shape: str, a) -> dict:
    layers = a.layers or DEFAULT_LAYERS.get(shape)
    work = Path(tempfile.mkdtemp(prefix="census-bench-"))
    try:
        model = work / "model"
        config = make_model(model, shape, layers, a.density)
        bos = SHAPES[shape][2]
        corpus = work / "corpus.jsonl"
        tokens = make_corpus(corpus, a.tokens, a.seq_len, config.vocab_size, bos)
        t_ours = run_ours(model, corpus, work / "ours", a.seq_len, a.batch, a.device)
        t_peer = run_peer(model, corpus, work / "peer", a.batch, a.device, True, bos)
        t_tuned = run_peer(model, corpus, work / "tuned", a.batch, a.device, False, bos)
        fires = check_fires(fires_per_layer(work / "ours"), fires_per_layer(work / "tuned"))
        width = getattr(config, "ffn_dim", None) or getattr(config, "intermediate_size", None) \
            or 4 * config.hidden_size
        n_layers = config.num_hidden_layers
        row = dict(shape=shape, layers=n_layers, tokens=tokens, activity=fires / (tokens * n_layers * width),
                   ours=tokens / t_ours, peer=tokens / t_peer, tuned=tokens / t_tuned)
        sliced = f", {n_layers} layers of its full widths" if layers else ""
        print(f"model: random {shape}{sliced}, f32 weights, {row['activity']:.1%} of MLP neurons "
              f"active (the same fires on both sides); {tokens} tokens in sequences of "
              f"{a.seq_len}, batch {a.batch}, device {a.device}")
        print(f"ours : {row['ours']:9.1f} tokens/s  ({t_ours:.2f} s, end to end)")
        print(f"peer : {row['peer']:9.1f} tokens/s  ({t_peer:.2f} s, end to end; with the LM head)")
        print(f"peer, decoder only: {row['tuned']:9.1f} tokens/s  ({t_tuned:.2f} s; no LM head)")
        print(f"ratio: {row['ours'] / row['peer']:.2f}x the peer, "
              f"{row['ours'] / row['tuned']:.2f}x the decoder-only peer")
        flops = flops_per_token(config, a.seq_len, row["activity"])
        row["engine_gflops"] = row["ours"] * flops / 1e9
        print(f"work per token: ours {flops / 1e6:.0f} MFLOP, the decoder-only peer's "
              f"{peer_flops_per_token(config, a.seq_len) / 1e6:.0f} MFLOP; ours runs at "
              f"{row['engine_gflops']:.0f} GFLOP/s end to end")
        if a.device == "cpu":
            probe = TARGET / "examples" / "gemm_throughput"
            d, f = shape_of(config)[:2]
            gemm = json.loads(subprocess.check_output([str(probe), str(a.batch * a.seq_len), str(d), str(f)]))
            row["kernel_gflops"] = gemm["kernel_gflops"]
            ceiling = gemm["kernel_gflops"] * 1e9 / flops
            print(f"GEMM ceiling: {ceiling:9.1f} tokens/s  (the gemm kernel alone at this FFN's "
                  f"shapes: {gemm['kernel_gflops']:.0f} GFLOP/s; burn's matmul "
                  f"{gemm['burn_gflops']:.0f}); ours at {row['ours'] / ceiling:.0%} of it")
        else:
            # On the GPU ours runs the dense pass (no LM head).
            mfu = row["ours"] * peer_flops_per_token(config, a.seq_len) / (a.peak_tflops * 1e12)
            print(f"MFU (ours, bf16 peak {a.peak_tflops} TFLOP/s): {mfu:.1%}")
        print()
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=[*SHAPES, "all"], default="opt-125m")
    p.add_argument("--layers", type=int, help="keep this many layers (default: all, "
                   + ", ".join(f"{k}: {v}" for k, v in DEFAULT_LAYERS.items()) + ")")
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=2, help="sequences per forward pass, both sides")
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="GPU bf16 dense peak (H100 SXM: 989)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    shapes = list(SHAPES) if a.shape == "all" else [a.shape]
    rows = [bench(shape, a) for shape in shapes]
    if len(rows) > 1:
        print("| shape | layers | activity | ours, tokens/s | peer (LM head) | peer, decoder only "
              "| ours is | ours, GFLOP/s end to end | gemm kernel alone |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['shape']} | {r['layers']} | {r['activity']:.1%} | {r['ours']:.0f} | "
                  f"{r['peer']:.0f} | {r['tuned']:.0f} | {r['ours'] / r['tuned']:.2f}× | "
                  f"{r['engine_gflops']:.0f} | {r.get('kernel_gflops', 0):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
