//! The model's configuration as a run records it: Hugging Face's `OPTConfig` fields, written
//! under the same names and in the same order as the model crate reads them from `config.json`,
//! so a manifest carries everything the analysis needs without loading the model.

use serde::{Deserialize, Serialize};

/// The hyper-parameters of the OPT decoder a run used (Hugging Face's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Rows of the token embedding.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// FFN neurons per layer.
    pub ffn_dim: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Pre-LN (`true`) or post-LN (`false`, the 350m style).
    pub do_layer_norm_before: bool,
    /// Whether the final LayerNorm is dropped.
    #[serde(rename = "_remove_final_layer_norm")]
    pub remove_final_layer_norm: bool,
    /// Width of the token embedding, when it differs from `hidden_size`.
    pub word_embed_proj_dim: Option<usize>,
    /// Whether the linear layers carry biases.
    pub enable_bias: bool,
    /// Whether LayerNorms have a learned scale and shift.
    pub layer_norm_elementwise_affine: bool,
    /// FFN activation.
    pub activation_function: String,
    /// Padding token id.
    pub pad_token_id: u32,
    /// Beginning-of-sequence id.
    pub bos_token_id: u32,
    /// End-of-sequence id.
    pub eos_token_id: u32,
    /// Storage dtype the checkpoint declares.
    pub dtype: Option<String>,
}

impl ModelConfig {
    /// The recorded form of any configuration that serialises with these field names (the model
    /// crate's `OptConfig`).
    ///
    /// # Panics
    /// If `config` does not serialise to these fields: a programming error, caught by the
    /// round-trip test of every crate that records a configuration.
    pub fn record<C: Serialize>(config: &C) -> Self {
        serde_json::to_value(config)
            .and_then(serde_json::from_value)
            .expect("the model configuration has the recorded fields")
    }

    /// This configuration as another type with these field names (the model crate's
    /// `OptConfig`).
    ///
    /// # Panics
    /// As [`ModelConfig::record`].
    pub fn to<C: serde::de::DeserializeOwned>(&self) -> C {
        serde_json::to_value(self)
            .and_then(serde_json::from_value)
            .expect("the recorded configuration reads back")
    }
}

/// Explicit mantissa bits of a dtype as a manifest (`F32`, `F16`, `BF16`) or a checkpoint's
/// `config.json` (`float32`, `float16`, `bfloat16`) names it.
fn mantissa_bits(name: &str) -> Option<u32> {
    match name {
        "float32" | "f32" | "F32" => Some(23),
        "float16" | "f16" | "F16" | "half" => Some(10),
        "bfloat16" | "bf16" | "BF16" => Some(7),
        _ => None,
    }
}

/// Whether computing in `run` (as a run manifest records it: `F32`, `F16`, `BF16`) is coarser
/// than the checkpoint's declared dtype.
pub fn coarser_than_checkpoint(run: &str, checkpoint: Option<&str>) -> bool {
    match (mantissa_bits(run), checkpoint.and_then(mantissa_bits)) {
        (Some(run), Some(stored)) => run < stored,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_coarser_than_its_checkpoint_is_recognised() {
        assert!(coarser_than_checkpoint("BF16", Some("float16")));
        assert!(coarser_than_checkpoint("F16", Some("float32")));
        assert!(!coarser_than_checkpoint("F16", Some("float16")));
        assert!(!coarser_than_checkpoint("F32", Some("float16")));
        assert!(!coarser_than_checkpoint("BF16", None));
    }
}
