//! Llama (`model_type: llama`) and its relatives Qwen2 (`qwen2`: biases on q, k and v) and
//! Mistral (`mistral`: a sliding attention window): RMSNorm, rotary, SwiGLU (the neurons are
//! `gate_proj`'s outputs), grouped-query attention.

use census_format::model::{Activation, Family, ModelConfig, Rotary};
use serde::Deserialize;

use super::{RopeFields, TensorSpecs, hf_dtype, special_ids};

/// The fields of Hugging Face's `LlamaConfig`, `Qwen2Config` and `MistralConfig` this crate reads.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct LlamaConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    hidden_act: Activation,
    max_position_embeddings: usize,
    rms_norm_eps: f64,
    attention_bias: bool,
    mlp_bias: bool,
    tie_word_embeddings: bool,
    bos_token_id: Option<u32>,
    eos_token_id: Option<serde_json::Value>,
    pad_token_id: Option<u32>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    #[serde(flatten)]
    rope: RopeFields,
}

impl Default for LlamaConfig {
    /// Hugging Face's `LlamaConfig()` defaults.
    fn default() -> Self {
        Self {
            vocab_size: 32000,
            hidden_size: 4096,
            intermediate_size: 11008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: None,
            head_dim: None,
            hidden_act: Activation::Silu,
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-6,
            attention_bias: false,
            mlp_bias: false,
            tie_word_embeddings: false,
            bos_token_id: Some(1),
            eos_token_id: None,
            pad_token_id: None,
            sliding_window: None,
            use_sliding_window: None,
            rope: RopeFields::default(),
        }
    }
}

/// A Llama, Qwen2 or Mistral `config.json` as a [`ModelConfig`].
pub(super) fn parse(family: Family, value: serde_json::Value) -> Result<ModelConfig, String> {
    let dtype = hf_dtype(&value);
    let hf: LlamaConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let head_dim = hf
        .head_dim
        .unwrap_or(hf.hidden_size / hf.num_attention_heads.max(1));
    let share = hf.rope.partial_rotary_factor().unwrap_or(1.0);
    // Llama 3 lists several end-of-sequence ids; the first is the one it writes.
    let first_eos = match &hf.eos_token_id {
        Some(serde_json::Value::Array(ids)) => ids.first().and_then(|id| id.as_u64()),
        Some(id) => id.as_u64(),
        None => None,
    };
    let [pad, bos, eos] = special_ids(
        hf.pad_token_id,
        hf.bos_token_id,
        first_eos.map(|id| id as u32),
        2,
    );
    let sliding_window = match family {
        Family::Mistral => hf.sliding_window,
        Family::Qwen2 if hf.use_sliding_window == Some(true) => {
            return Err(
                "use_sliding_window = true (a window on some layers only) is not \
                        supported for qwen2"
                    .to_string(),
            );
        }
        _ => None,
    };
    let (enable_bias, qkv_bias, mlp_bias) = match family {
        Family::Qwen2 => (false, Some(true), None),
        Family::Mistral => (false, None, None),
        _ => (
            hf.attention_bias,
            None,
            (hf.mlp_bias != hf.attention_bias).then_some(hf.mlp_bias),
        ),
    };
    Ok(ModelConfig {
        model_type: family,
        vocab_size: hf.vocab_size,
        hidden_size: hf.hidden_size,
        num_hidden_layers: hf.num_hidden_layers,
        ffn_dim: hf.intermediate_size,
        num_attention_heads: hf.num_attention_heads,
        num_key_value_heads: hf
            .num_key_value_heads
            .filter(|&kv| kv != hf.num_attention_heads),
        head_dim: hf
            .head_dim
            .filter(|&hd| hd * hf.num_attention_heads != hf.hidden_size),
        max_position_embeddings: hf.max_position_embeddings,
        activation_function: hf.hidden_act,
        norm_eps: hf.rms_norm_eps,
        tie_word_embeddings: hf.tie_word_embeddings,
        enable_bias,
        qkv_bias,
        mlp_bias,
        sliding_window,
        rotary: Some(Rotary {
            dims: (head_dim as f64 * share) as usize,
            theta: hf.rope.theta().unwrap_or(10_000.0),
            scaling: hf.rope.scaling()?,
        }),
        pad_token_id: pad,
        bos_token_id: bos,
        eos_token_id: eos,
        dtype,
        ..ModelConfig::default()
    })
}

/// Every tensor of a Llama-style checkpoint (names without `model.`).
pub(super) fn specs(config: &ModelConfig) -> TensorSpecs {
    let (d, f, v) = (config.hidden_size, config.ffn_dim, config.vocab_size);
    let (q, kv) = (
        config.num_attention_heads * config.head_dim(),
        config.kv_heads() * config.head_dim(),
    );
    let biases = config.biases();
    let mut specs = TensorSpecs::default();
    specs.plain("embed_tokens.weight", "embed_tokens.weight", vec![v, d]);
    for l in 0..config.num_hidden_layers {
        let (hf, ours) = (format!("layers.{l}"), format!("layers.{l}"));
        let linear = |specs: &mut TensorSpecs, name: &str, param: &str, i, o, bias| {
            specs.linear(
                &format!("{hf}.{name}"),
                &format!("{ours}.{param}"),
                i,
                o,
                bias,
            );
        };
        specs.norm(
            &format!("{hf}.input_layernorm"),
            &format!("{ours}.self_attn_layer_norm"),
            d,
            false,
        );
        linear(
            &mut specs,
            "self_attn.q_proj",
            "self_attn.q_proj",
            d,
            q,
            biases.qkv,
        );
        linear(
            &mut specs,
            "self_attn.k_proj",
            "self_attn.k_proj",
            d,
            kv,
            biases.qkv,
        );
        linear(
            &mut specs,
            "self_attn.v_proj",
            "self_attn.v_proj",
            d,
            kv,
            biases.qkv,
        );
        linear(
            &mut specs,
            "self_attn.o_proj",
            "self_attn.out_proj",
            q,
            d,
            biases.out,
        );
        specs.norm(
            &format!("{hf}.post_attention_layernorm"),
            &format!("{ours}.final_layer_norm"),
            d,
            false,
        );
        linear(&mut specs, "mlp.gate_proj", "ffn.fc1", d, f, biases.mlp);
        linear(&mut specs, "mlp.up_proj", "ffn.up", d, f, biases.mlp);
        linear(&mut specs, "mlp.down_proj", "ffn.fc2", f, d, biases.mlp);
    }
    specs.norm("norm", "final_layer_norm", d, false);
    if !config.tie_word_embeddings {
        specs.plain("lm_head.weight", "lm_head.weight", vec![v, d]);
    }
    specs
}
