//! GPT-2 (`model_type: gpt2`): learned positions, tanh GELU, fused `c_attn`, weights stored by
//! `Conv1D` as `[in, out]`, tied head.

use census_format::model::{Activation, Family, ModelConfig};
use serde::Deserialize;

use super::{TensorSpecs, hf_dtype, special_ids};

/// The fields of Hugging Face's `GPT2Config` this crate reads.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Gpt2Config {
    vocab_size: usize,
    n_positions: usize,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    n_inner: Option<usize>,
    activation_function: Activation,
    layer_norm_epsilon: f64,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
    pad_token_id: Option<u32>,
    scale_attn_weights: bool,
    scale_attn_by_inverse_layer_idx: bool,
    reorder_and_upcast_attn: bool,
    tie_word_embeddings: bool,
}

impl Default for Gpt2Config {
    /// Hugging Face's `GPT2Config()` defaults (the 124M model).
    fn default() -> Self {
        Self {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            activation_function: Activation::GeluTanh,
            layer_norm_epsilon: 1e-5,
            bos_token_id: Some(50256),
            eos_token_id: Some(50256),
            pad_token_id: None,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            reorder_and_upcast_attn: false,
            tie_word_embeddings: true,
        }
    }
}

/// A GPT-2 `config.json` as a [`ModelConfig`].
pub(super) fn parse(value: serde_json::Value) -> Result<ModelConfig, String> {
    let dtype = hf_dtype(&value);
    let hf: Gpt2Config = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if !hf.scale_attn_weights || hf.scale_attn_by_inverse_layer_idx || hf.reorder_and_upcast_attn {
        return Err(
            "scale_attn_weights = false, scale_attn_by_inverse_layer_idx and \
                    reorder_and_upcast_attn are not supported"
                .to_string(),
        );
    }
    if !hf.tie_word_embeddings {
        return Err("an untied GPT-2 head is not supported".to_string());
    }
    let [pad, bos, eos] = special_ids(hf.pad_token_id, hf.bos_token_id, hf.eos_token_id, 0);
    Ok(ModelConfig {
        model_type: Family::Gpt2,
        vocab_size: hf.vocab_size,
        hidden_size: hf.n_embd,
        num_hidden_layers: hf.n_layer,
        ffn_dim: hf.n_inner.unwrap_or(4 * hf.n_embd),
        num_attention_heads: hf.n_head,
        max_position_embeddings: hf.n_positions,
        activation_function: hf.activation_function,
        norm_eps: hf.layer_norm_epsilon,
        pad_token_id: pad,
        bos_token_id: bos,
        eos_token_id: eos,
        dtype,
        ..ModelConfig::default()
    })
}

/// Every tensor of a GPT-2 checkpoint (names without `transformer.`).
pub(super) fn specs(config: &ModelConfig) -> TensorSpecs {
    let (d, f, v) = (config.hidden_size, config.ffn_dim, config.vocab_size);
    let mut specs = TensorSpecs::default();
    specs.plain("wte.weight", "embed_tokens.weight", vec![v, d]);
    specs.plain(
        "wpe.weight",
        "embed_positions.weight",
        vec![config.max_position_embeddings, d],
    );
    specs.norm("ln_f", "final_layer_norm", d, true);
    for l in 0..config.num_hidden_layers {
        let (hf, ours) = (format!("h.{l}"), format!("layers.{l}"));
        specs.norm(
            &format!("{hf}.ln_1"),
            &format!("{ours}.self_attn_layer_norm"),
            d,
            true,
        );
        specs.norm(
            &format!("{hf}.ln_2"),
            &format!("{ours}.final_layer_norm"),
            d,
            true,
        );
        specs.conv1d(
            &format!("{hf}.attn.c_attn"),
            &format!("{ours}.self_attn.qkv_proj"),
            d,
            3 * d,
        );
        specs.conv1d(
            &format!("{hf}.attn.c_proj"),
            &format!("{ours}.self_attn.out_proj"),
            d,
            d,
        );
        specs.conv1d(&format!("{hf}.mlp.c_fc"), &format!("{ours}.ffn.fc1"), d, f);
        specs.conv1d(
            &format!("{hf}.mlp.c_proj"),
            &format!("{ours}.ffn.fc2"),
            f,
            d,
        );
    }
    specs
}
