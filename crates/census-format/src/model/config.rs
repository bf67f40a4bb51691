//! [`ModelConfig`]: a decoder's hyper-parameters, family-aware. The fields an OPT model has keep
//! the names of Hugging Face's `OPTConfig` (an OPT `config.json` reads straight into it, and an
//! OPT run's manifest records exactly those fields); what other families add is written only
//! where it differs from OPT.

use serde::{Deserialize, Serialize};

use crate::model::family::{Activation, Family, Rotary};

/// The hyper-parameters of a decoder, for every supported family.
///
/// Unknown fields of an OPT `config.json` are ignored; missing ones take Hugging Face's
/// `OPTConfig` defaults. Other families' `config.json` files are read by the model crate and
/// converted into this form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// The family (`model_type`); absent in OPT runs' manifests.
    #[serde(skip_serializing_if = "is_opt")]
    pub model_type: Family,
    /// Rows of the token embedding (50272 for the released OPT models: 50265 tokens padded to a multiple of 8).
    pub vocab_size: usize,
    /// Width of the residual stream (`d_model`).
    pub hidden_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of FFN neurons per layer (`d_ffn`; `intermediate_size` or `n_inner` elsewhere).
    pub ffn_dim: usize,
    /// Number of attention (query) heads.
    pub num_attention_heads: usize,
    /// Longest sequence the model takes (for OPT, the position table holds this many rows plus 2).
    pub max_position_embeddings: usize,
    /// `true`: norm before attention and FFN (pre-LN). `false`: after them (post-LN, the OPT-350m style).
    pub do_layer_norm_before: bool,
    /// Drops the decoder's final LayerNorm even for pre-LN models.
    #[serde(rename = "_remove_final_layer_norm")]
    pub remove_final_layer_norm: bool,
    /// Width of the token embedding; when it differs from `hidden_size`, `project_in`/`project_out` map between them.
    pub word_embed_proj_dim: Option<usize>,
    /// Whether the linear layers carry biases (see [`ModelConfig::biases`] for the exceptions).
    pub enable_bias: bool,
    /// Whether norms have a learned scale and shift.
    pub layer_norm_elementwise_affine: bool,
    /// FFN activation.
    pub activation_function: Activation,
    /// Padding token id (what left padding fills with; never attended to).
    pub pad_token_id: u32,
    /// Beginning-of-sequence id.
    pub bos_token_id: u32,
    /// End-of-sequence id.
    pub eos_token_id: u32,
    /// Storage dtype the checkpoint declares (`torch_dtype` in older files, `dtype` in newer ones).
    #[serde(alias = "torch_dtype")]
    pub dtype: Option<String>,
    /// Key and value heads, when fewer than the query heads (grouped-query attention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Width of one attention head, when it is not `hidden_size / num_attention_heads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// The norms' epsilon.
    #[serde(skip_serializing_if = "is_default_eps")]
    pub norm_eps: f64,
    /// Rotary position embedding (families without learned positions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotary: Option<Rotary>,
    /// Attention and FFN read the same input and are added together (GPT-NeoX).
    #[serde(skip_serializing_if = "is_false")]
    pub parallel_residual: bool,
    /// Whether the LM head is the token embedding (otherwise a separate matrix).
    #[serde(skip_serializing_if = "is_true")]
    pub tie_word_embeddings: bool,
    /// Biases on q, k and v, when they differ from [`ModelConfig::enable_bias`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qkv_bias: Option<bool>,
    /// Bias on the attention output, when it differs from [`ModelConfig::enable_bias`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_bias: Option<bool>,
    /// Biases of the FFN, when they differ from [`ModelConfig::enable_bias`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// Each query sees only the keys this many positions back, itself included (Mistral).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
}

/// The default norm epsilon (`LayerNorm`'s).
const DEFAULT_EPS: f64 = 1e-5;

fn is_opt(family: &Family) -> bool {
    *family == Family::Opt
}

fn is_default_eps(eps: &f64) -> bool {
    *eps == DEFAULT_EPS
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Default for ModelConfig {
    /// Hugging Face's `OPTConfig()` defaults, which describe opt-350m's vocabulary and a 125m-like body.
    fn default() -> Self {
        Self {
            model_type: Family::Opt,
            vocab_size: 50272,
            hidden_size: 768,
            num_hidden_layers: 12,
            ffn_dim: 3072,
            num_attention_heads: 12,
            max_position_embeddings: 2048,
            do_layer_norm_before: true,
            remove_final_layer_norm: false,
            word_embed_proj_dim: None,
            enable_bias: true,
            layer_norm_elementwise_affine: true,
            activation_function: Activation::Relu,
            pad_token_id: 1,
            bos_token_id: 2,
            eos_token_id: 2,
            dtype: None,
            num_key_value_heads: None,
            head_dim: None,
            norm_eps: DEFAULT_EPS,
            rotary: None,
            parallel_residual: false,
            tie_word_embeddings: true,
            qkv_bias: None,
            out_bias: None,
            mlp_bias: None,
            sliding_window: None,
        }
    }
}

/// Which linear maps of a layer carry biases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Biases {
    /// q, k and v.
    pub qkv: bool,
    /// The attention output.
    pub out: bool,
    /// The FFN's projections.
    pub mlp: bool,
}

impl ModelConfig {
    /// Width of the token embedding (`word_embed_proj_dim`, defaulting to `hidden_size`).
    pub fn embed_dim(&self) -> usize {
        self.word_embed_proj_dim.unwrap_or(self.hidden_size)
    }

    /// Whether `project_in`/`project_out` exist (embedding width differs from the residual width).
    pub fn has_projections(&self) -> bool {
        self.embed_dim() != self.hidden_size
    }

    /// Whether the decoder ends with a norm (pre-LN models unless explicitly removed).
    pub fn has_final_layer_norm(&self) -> bool {
        self.do_layer_norm_before && !self.remove_final_layer_norm
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Key and value heads (the query heads unless attention is grouped).
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Which linear maps carry biases.
    pub fn biases(&self) -> Biases {
        Biases {
            qkv: self.qkv_bias.unwrap_or(self.enable_bias),
            out: self.out_bias.unwrap_or(self.enable_bias),
            mlp: self.mlp_bias.unwrap_or(self.enable_bias),
        }
    }

    /// Total number of FFN neurons in the model.
    pub fn total_neurons(&self) -> usize {
        self.num_hidden_layers * self.ffn_dim
    }

    /// The fired rule in words, as the manifest and the report state it: which projection's
    /// outputs are the activation's inputs, and the threshold they must exceed.
    pub fn fired_rule(&self, threshold: f32) -> String {
        format!(
            "{} output > {threshold} (the input of {})",
            self.model_type.neuron_projection(),
            self.activation_function.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opt_config_records_only_opt_fields() {
        let value = serde_json::to_value(ModelConfig::default()).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 16, "{keys:?}");
        assert!(!keys.contains(&"model_type") && !keys.contains(&"rotary"));
        let back: ModelConfig = serde_json::from_value(value).unwrap();
        assert_eq!(back, ModelConfig::default());
    }

    #[test]
    fn another_family_records_what_differs_and_reads_back() {
        let config = ModelConfig {
            model_type: Family::Llama,
            activation_function: Activation::Silu,
            num_key_value_heads: Some(2),
            norm_eps: 1e-6,
            tie_word_embeddings: false,
            rotary: Some(crate::model::Rotary {
                dims: 8,
                theta: 10_000.0,
                scaling: None,
            }),
            ..ModelConfig::default()
        };
        let value = serde_json::to_value(&config).unwrap();
        assert_eq!(value["model_type"], "llama");
        assert_eq!(value["activation_function"], "silu");
        let back: ModelConfig = serde_json::from_value(value).unwrap();
        assert_eq!(back, config);
        assert_eq!(back.kv_heads(), 2);
        assert!(back.fired_rule(0.0).starts_with("mlp.gate_proj output > 0"));
    }
}
