//! GPT-NeoX (`model_type: gpt_neox`, Pythia): partial rotary, parallel residual, exact GELU,
//! fused per-head `query_key_value`, untied `embed_out`.

use census_format::model::{Activation, Family, ModelConfig, Rotary};
use serde::Deserialize;

use super::{RopeFields, TensorSpecs, hf_dtype, special_ids};

/// The fields of Hugging Face's `GPTNeoXConfig` this crate reads.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct GptNeoxConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    hidden_act: Activation,
    rotary_pct: Option<f64>,
    rotary_emb_base: Option<f64>,
    max_position_embeddings: usize,
    layer_norm_eps: f64,
    use_parallel_residual: bool,
    tie_word_embeddings: bool,
    attention_bias: bool,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
    pad_token_id: Option<u32>,
    #[serde(flatten)]
    rope: RopeFields,
}

impl Default for GptNeoxConfig {
    /// Hugging Face's `GPTNeoXConfig()` defaults.
    fn default() -> Self {
        Self {
            vocab_size: 50432,
            hidden_size: 6144,
            num_hidden_layers: 44,
            num_attention_heads: 64,
            intermediate_size: 24576,
            hidden_act: Activation::Gelu,
            rotary_pct: None,
            rotary_emb_base: None,
            max_position_embeddings: 2048,
            layer_norm_eps: 1e-5,
            use_parallel_residual: true,
            tie_word_embeddings: false,
            attention_bias: true,
            bos_token_id: Some(0),
            eos_token_id: Some(2),
            pad_token_id: None,
            rope: RopeFields::default(),
        }
    }
}

/// A GPT-NeoX `config.json` as a [`ModelConfig`].
pub(super) fn parse(value: serde_json::Value) -> Result<ModelConfig, String> {
    let dtype = hf_dtype(&value);
    let hf: GptNeoxConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let head_dim = hf.hidden_size / hf.num_attention_heads.max(1);
    let share = hf
        .rotary_pct
        .or(hf.rope.partial_rotary_factor())
        .unwrap_or(0.25);
    let theta = hf.rotary_emb_base.or(hf.rope.theta()).unwrap_or(10_000.0);
    let [pad, bos, eos] = special_ids(hf.pad_token_id, hf.bos_token_id, hf.eos_token_id, 0);
    Ok(ModelConfig {
        model_type: Family::GptNeox,
        vocab_size: hf.vocab_size,
        hidden_size: hf.hidden_size,
        num_hidden_layers: hf.num_hidden_layers,
        ffn_dim: hf.intermediate_size,
        num_attention_heads: hf.num_attention_heads,
        max_position_embeddings: hf.max_position_embeddings,
        activation_function: hf.hidden_act,
        norm_eps: hf.layer_norm_eps,
        parallel_residual: hf.use_parallel_residual,
        tie_word_embeddings: hf.tie_word_embeddings,
        enable_bias: true,
        qkv_bias: (!hf.attention_bias).then_some(false),
        out_bias: (!hf.attention_bias).then_some(false),
        rotary: Some(Rotary {
            dims: (head_dim as f64 * share) as usize,
            theta,
            scaling: hf.rope.scaling()?,
        }),
        pad_token_id: pad,
        bos_token_id: bos,
        eos_token_id: eos,
        dtype,
        ..ModelConfig::default()
    })
}

/// Every tensor of a GPT-NeoX checkpoint (names without `gpt_neox.`).
pub(super) fn specs(config: &ModelConfig) -> TensorSpecs {
    let (d, f, v) = (config.hidden_size, config.ffn_dim, config.vocab_size);
    let biases = config.biases();
    let mut specs = TensorSpecs::default();
    specs.plain("embed_in.weight", "embed_tokens.weight", vec![v, d]);
    for l in 0..config.num_hidden_layers {
        let (hf, ours) = (format!("layers.{l}"), format!("layers.{l}"));
        specs.norm(
            &format!("{hf}.input_layernorm"),
            &format!("{ours}.self_attn_layer_norm"),
            d,
            true,
        );
        specs.norm(
            &format!("{hf}.post_attention_layernorm"),
            &format!("{ours}.final_layer_norm"),
            d,
            true,
        );
        specs.linear(
            &format!("{hf}.attention.query_key_value"),
            &format!("{ours}.self_attn.qkv_proj"),
            d,
            3 * d,
            biases.qkv,
        );
        specs.linear(
            &format!("{hf}.attention.dense"),
            &format!("{ours}.self_attn.out_proj"),
            d,
            d,
            biases.out,
        );
        specs.linear(
            &format!("{hf}.mlp.dense_h_to_4h"),
            &format!("{ours}.ffn.fc1"),
            d,
            f,
            biases.mlp,
        );
        specs.linear(
            &format!("{hf}.mlp.dense_4h_to_h"),
            &format!("{ours}.ffn.fc2"),
            f,
            d,
            biases.mlp,
        );
    }
    specs.norm("final_layer_norm", "final_layer_norm", d, true);
    if !config.tie_word_embeddings {
        specs.plain("embed_out.weight", "lm_head.weight", vec![v, d]);
    }
    specs
}
