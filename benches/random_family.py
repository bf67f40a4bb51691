#!/usr/bin/env python3
"""Writes a random model of a released family's real shape, as its Hugging Face repository holds
it (config.json and one model.safetensors), for the scale rehearsal.

    python benches/random_family.py OUT --preset llama3-8b [--num-layers 1] [--dtype bf16]
        [--mlp-bias -0.1]

A slice (--num-layers) keeps the preset's widths and vocabulary, so its per-layer costs are the
full model's. Weights are drawn from N(0, 0.02²) (the families' initialisation), norms are ones
and biases zeros, except the bias of the MLP's first projection where the family has one
(--mlp-bias, Pythia): it sets the share of neurons that fire. Gated families have no such bias:
at random initialisation their gate fires on about half the neurons.

The safetensors file is written tensor by tensor, a block of rows at a time, so memory stays
small whatever the shape. Only numpy is needed.
"""

import argparse
import json
import struct
from pathlib import Path

import numpy as np

# Released shapes: family, layers, hidden, FFN width, heads, key/value heads, vocabulary,
# positions, and what else each config.json says.
PRESETS = {
    "pythia-12b": dict(family="gpt_neox", layers=36, hidden=5120, ffn=20480, heads=40,
                       kv_heads=40, vocab=50688, positions=2048, dtype="f16"),
    "llama3-8b": dict(family="llama", layers=32, hidden=4096, ffn=14336, heads=32, kv_heads=8,
                      vocab=128256, positions=131072, dtype="bf16"),
    "llama3-70b": dict(family="llama", layers=80, hidden=8192, ffn=28672, heads=64,
                       kv_heads=8, vocab=128256, positions=131072, dtype="bf16"),
    "qwen2.5-7b": dict(family="qwen2", layers=28, hidden=3584, ffn=18944, heads=28,
                       kv_heads=4, vocab=152064, positions=32768, dtype="bf16"),
}


def config(preset, p, layers):
    """The preset's config.json, with `layers` layers."""
    common = dict(hidden_size=p["hidden"], intermediate_size=p["ffn"],
                  num_attention_heads=p["heads"], num_hidden_layers=layers,
                  vocab_size=p["vocab"], max_position_embeddings=p["positions"],
                  torch_dtype={"f16": "float16", "bf16": "bfloat16"}[p["dtype"]],
                  tie_word_embeddings=False, _name_or_path=f"random-{preset}")
    if p["family"] == "gpt_neox":
        return dict(common, architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox",
                    hidden_act="gelu", rotary_pct=0.25, rotary_emb_base=10000,
                    layer_norm_eps=1e-5, use_parallel_residual=True, bos_token_id=0,
                    eos_token_id=0)
    if p["family"] == "llama":
        return dict(common, architectures=["LlamaForCausalLM"], model_type="llama",
                    hidden_act="silu", num_key_value_heads=p["kv_heads"], rms_norm_eps=1e-5,
                    rope_theta=500000.0, attention_bias=False, mlp_bias=False,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0,
                                      original_max_position_embeddings=8192),
                    bos_token_id=128000, eos_token_id=128001)
    return dict(common, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                hidden_act="silu", num_key_value_heads=p["kv_heads"], rms_norm_eps=1e-6,
                rope_theta=1000000.0, use_sliding_window=False, sliding_window=131072,
                bos_token_id=151643, eos_token_id=151643)


def tensors(p, layers, mlp_bias):
    """(name, shape, fill) of every tensor: fill is "normal", "ones", "zeros" or a constant."""
    d, f, v = p["hidden"], p["ffn"], p["vocab"]
    hd = d // p["heads"]
    kv = p["kv_heads"] * hd
    out = []
    if p["family"] == "gpt_neox":
        out.append(("gpt_neox.embed_in.weight", [v, d], "normal"))
        for i in range(layers):
            x = f"gpt_neox.layers.{i}"
            for norm in ["input_layernorm", "post_attention_layernorm"]:
                out += [(f"{x}.{norm}.weight", [d], "ones"), (f"{x}.{norm}.bias", [d], "zeros")]
            out += [(f"{x}.attention.query_key_value.weight", [3 * d, d], "normal"),
                    (f"{x}.attention.query_key_value.bias", [3 * d], "zeros"),
                    (f"{x}.attention.dense.weight", [d, d], "normal"),
                    (f"{x}.attention.dense.bias", [d], "zeros"),
                    (f"{x}.mlp.dense_h_to_4h.weight", [f, d], "normal"),
                    (f"{x}.mlp.dense_h_to_4h.bias", [f], mlp_bias),
                    (f"{x}.mlp.dense_4h_to_h.weight", [d, f], "normal"),
                    (f"{x}.mlp.dense_4h_to_h.bias", [d], "zeros")]
        out += [("gpt_neox.final_layer_norm.weight", [d], "ones"),
                ("gpt_neox.final_layer_norm.bias", [d], "zeros"),
                ("embed_out.weight", [v, d], "normal")]
        return out
    out.append(("model.embed_tokens.weight", [v, d], "normal"))
    for i in range(layers):
        x = f"model.layers.{i}"
        out += [(f"{x}.input_layernorm.weight", [d], "ones"),
                (f"{x}.self_attn.q_proj.weight", [d, d], "normal"),
                (f"{x}.self_attn.k_proj.weight", [kv, d], "normal"),
                (f"{x}.self_attn.v_proj.weight", [kv, d], "normal"),
                (f"{x}.self_attn.o_proj.weight", [d, d], "normal"),
                (f"{x}.post_attention_layernorm.weight", [d], "ones"),
                (f"{x}.mlp.gate_proj.weight", [f, d], "normal"),
                (f"{x}.mlp.up_proj.weight", [f, d], "normal"),
                (f"{x}.mlp.down_proj.weight", [d, f], "normal")]
        if p["family"] == "qwen2":
            out += [(f"{x}.self_attn.{n}_proj.bias", [s], "zeros")
                    for n, s in [("q", d), ("k", kv), ("v", kv)]]
    out += [("model.norm.weight", [d], "ones"), ("lm_head.weight", [v, d], "normal")]
    return out


def encode(values, dtype):
    """float32 values as little-endian f16 or bf16 bytes (bf16: rounded to nearest even)."""
    if dtype == "f16":
        return values.astype("<f2").tobytes()
    bits = values.astype("<f4").view("<u4")
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2").tobytes()


def write(out: Path, preset: str, layers: int, dtype: str, mlp_bias: float):
    p = PRESETS[preset]
    layers = layers or p["layers"]
    dtype = dtype or p["dtype"]
    out.mkdir(parents=True, exist_ok=True)
    cfg = config(preset, p, layers)
    cfg["torch_dtype"] = {"f16": "float16", "bf16": "bfloat16"}[dtype]
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    specs = tensors(p, layers, mlp_bias)
    header, offset = {}, 0
    for name, shape, _ in specs:
        n_bytes = 2 * int(np.prod(shape))
        header[name] = dict(dtype={"f16": "F16", "bf16": "BF16"}[dtype], shape=shape,
                            data_offsets=[offset, offset + n_bytes])
        offset += n_bytes
    header["__metadata__"] = dict(format="pt")
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    rng = np.random.default_rng(0)
    with (out / "model.safetensors").open("wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name, shape, fill in specs:
            rows, width = shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1
            block = max(1, (1 << 24) // width)
            for start in range(0, rows, block):
                n = min(block, rows - start) * width
                if fill == "normal":
                    values = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
                elif fill == "ones":
                    values = np.ones(n, dtype=np.float32)
                elif fill == "zeros":
                    values = np.zeros(n, dtype=np.float32)
                else:
                    values = np.full(n, fill, dtype=np.float32)
                f.write(encode(values, dtype))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    parser.add_argument("--num-layers", type=int, help="a slice of the first layers")
    parser.add_argument("--dtype", choices=["f16", "bf16"], help="default: the released one")
    parser.add_argument("--mlp-bias", type=float, default=0.0,
                        help="bias of the MLP's first projection (families that have one)")
    args = parser.parse_args()
    write(args.out, args.preset, args.num_layers, args.dtype, args.mlp_bias)


if __name__ == "__main__":
    main()
