//! `OptConfig`: the OPT hyper-parameters, read from a Hugging Face `config.json` or a named preset.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::weights::{LayerWeight, Part};

/// Names accepted by [`OptConfig::preset`], smallest first.
pub const PRESET_NAMES: [&str; 8] = [
    "opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b", "opt-30b", "opt-66b",
];

/// The hyper-parameters of an OPT decoder, with the field names of Hugging Face's `OPTConfig`.
///
/// Unknown fields of a `config.json` are ignored; missing ones take the Hugging Face defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptConfig {
    /// Rows of the token embedding (50272 for the released models: 50265 tokens padded to a multiple of 8).
    pub vocab_size: usize,
    /// Width of the residual stream (`d_model`).
    pub hidden_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of FFN neurons per layer (`d_ffn`).
    pub ffn_dim: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Longest sequence the learned position table covers (it holds this many rows plus 2).
    pub max_position_embeddings: usize,
    /// `true`: LayerNorm before attention and FFN (pre-LN). `false`: after them (post-LN, the 350m style).
    pub do_layer_norm_before: bool,
    /// Drops the decoder's final LayerNorm even for pre-LN models.
    #[serde(rename = "_remove_final_layer_norm")]
    pub remove_final_layer_norm: bool,
    /// Width of the token embedding; when it differs from `hidden_size`, `project_in`/`project_out` map between them.
    pub word_embed_proj_dim: Option<usize>,
    /// Whether the linear layers carry biases.
    pub enable_bias: bool,
    /// Whether LayerNorms have a learned scale and shift.
    pub layer_norm_elementwise_affine: bool,
    /// FFN activation; only `relu` is supported (a neuron fires iff its ReLU output is positive).
    pub activation_function: String,
    /// Padding token id.
    pub pad_token_id: u32,
    /// Beginning-of-sequence id (`</s>`, prepended to every input).
    pub bos_token_id: u32,
    /// End-of-sequence id.
    pub eos_token_id: u32,
    /// Storage dtype the checkpoint declares (`torch_dtype` in older files, `dtype` in newer ones).
    #[serde(alias = "torch_dtype")]
    pub dtype: Option<String>,
}

impl Default for OptConfig {
    /// Hugging Face's `OPTConfig()` defaults, which describe opt-350m's vocabulary and a 125m-like body.
    fn default() -> Self {
        Self {
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
            activation_function: "relu".to_string(),
            pad_token_id: 1,
            bos_token_id: 2,
            eos_token_id: 2,
            dtype: None,
        }
    }
}

impl OptConfig {
    /// A released checkpoint's shape: `layers`, `heads`, `hidden` and `d_ffn = 4 * hidden`.
    fn released(layers: usize, heads: usize, hidden: usize) -> Self {
        Self {
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            ffn_dim: 4 * hidden,
            word_embed_proj_dim: Some(hidden),
            dtype: Some("float16".to_string()),
            ..Self::default()
        }
    }

    /// `facebook/opt-125m`.
    pub fn opt_125m() -> Self {
        Self::released(12, 12, 768)
    }

    /// `facebook/opt-350m`: post-LN, 512-wide embeddings with `project_in`/`project_out`, no final LayerNorm.
    pub fn opt_350m() -> Self {
        Self {
            do_layer_norm_before: false,
            word_embed_proj_dim: Some(512),
            ..Self::released(24, 16, 1024)
        }
    }

    /// `facebook/opt-1.3b`.
    pub fn opt_1_3b() -> Self {
        Self::released(24, 32, 2048)
    }

    /// `facebook/opt-2.7b`.
    pub fn opt_2_7b() -> Self {
        Self::released(32, 32, 2560)
    }

    /// `facebook/opt-6.7b`.
    pub fn opt_6_7b() -> Self {
        Self::released(32, 32, 4096)
    }

    /// `facebook/opt-13b`.
    pub fn opt_13b() -> Self {
        Self::released(40, 40, 5120)
    }

    /// `facebook/opt-30b`.
    pub fn opt_30b() -> Self {
        Self::released(48, 56, 7168)
    }

    /// `facebook/opt-66b`.
    pub fn opt_66b() -> Self {
        Self::released(64, 72, 9216)
    }

    /// The preset called `name` (`opt-125m` … `opt-66b`, with or without the `facebook/` prefix).
    pub fn preset(name: &str) -> Result<Self> {
        let short = name.strip_prefix("facebook/").unwrap_or(name);
        let config = match short.to_ascii_lowercase().as_str() {
            "opt-125m" => Self::opt_125m(),
            "opt-350m" => Self::opt_350m(),
            "opt-1.3b" => Self::opt_1_3b(),
            "opt-2.7b" => Self::opt_2_7b(),
            "opt-6.7b" => Self::opt_6_7b(),
            "opt-13b" => Self::opt_13b(),
            "opt-30b" => Self::opt_30b(),
            "opt-66b" => Self::opt_66b(),
            _ => return Err(ModelError::UnknownPreset(name.to_string())),
        };
        Ok(config)
    }

    /// Reads and validates a Hugging Face `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let config: Self = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// Checks that the hyper-parameters describe a model this crate can run.
    ///
    /// `origin` names the source in the error message.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let fail = |reason: String| {
            Err(ModelError::InvalidConfig {
                origin: origin.to_string(),
                reason,
            })
        };
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("ffn_dim", self.ffn_dim),
            ("num_attention_heads", self.num_attention_heads),
            ("max_position_embeddings", self.max_position_embeddings),
            ("word_embed_proj_dim", self.embed_dim()),
        ];
        for (name, value) in sizes {
            if value == 0 {
                return fail(format!("{name} must be positive"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return fail(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.ffn_dim > usize::from(u16::MAX) + 1 {
            return fail(format!(
                "ffn_dim {} exceeds 65536: neuron ids are stored as u16",
                self.ffn_dim
            ));
        }
        if self.activation_function != "relu" {
            return fail(format!(
                "activation_function '{}' is not supported: a neuron fires iff its ReLU output is positive, so only 'relu' is",
                self.activation_function
            ));
        }
        if !self.layer_norm_elementwise_affine {
            return fail("layer_norm_elementwise_affine = false is not supported".to_string());
        }
        Ok(())
    }

    /// Width of the token embedding (`word_embed_proj_dim`, defaulting to `hidden_size`).
    pub fn embed_dim(&self) -> usize {
        self.word_embed_proj_dim.unwrap_or(self.hidden_size)
    }

    /// Whether `project_in`/`project_out` exist (embedding width differs from the residual width).
    pub fn has_projections(&self) -> bool {
        self.embed_dim() != self.hidden_size
    }

    /// Whether the decoder ends with a LayerNorm (pre-LN models unless explicitly removed).
    pub fn has_final_layer_norm(&self) -> bool {
        self.do_layer_norm_before && !self.remove_final_layer_norm
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Total number of FFN neurons in the model.
    pub fn total_neurons(&self) -> usize {
        self.num_hidden_layers * self.ffn_dim
    }

    /// Every parameter the model holds, as `(Hugging Face name without prefix, shape in PyTorch layout)`.
    ///
    /// Used to check a checkpoint against the config before any tensor is read.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (d, e, f, v) = (
            self.hidden_size,
            self.embed_dim(),
            self.ffn_dim,
            self.vocab_size,
        );
        let mut out = vec![
            ("embed_tokens.weight".to_string(), vec![v, e]),
            (
                "embed_positions.weight".to_string(),
                vec![self.max_position_embeddings + crate::POSITION_OFFSET, d],
            ),
        ];
        if self.has_projections() {
            out.push(("project_in.weight".to_string(), vec![d, e]));
            out.push(("project_out.weight".to_string(), vec![e, d]));
        }
        if self.has_final_layer_norm() {
            out.push(("final_layer_norm.weight".to_string(), vec![d]));
            out.push(("final_layer_norm.bias".to_string(), vec![d]));
        }
        for l in 0..self.num_hidden_layers {
            for weight in LayerWeight::ALL {
                let (rows, cols) = match weight {
                    LayerWeight::Fc1 => (f, d),
                    LayerWeight::Fc2 => (d, f),
                    _ => (d, d),
                };
                if weight.is_norm() {
                    out.push((weight.hf_name(l, Part::Weight), vec![d]));
                    out.push((weight.hf_name(l, Part::Bias), vec![d]));
                } else {
                    out.push((weight.hf_name(l, Part::Weight), vec![rows, cols]));
                    if self.enable_bias {
                        out.push((weight.hf_name(l, Part::Bias), vec![rows]));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_the_opt_table() {
        let neurons: Vec<usize> = PRESET_NAMES
            .iter()
            .map(|n| OptConfig::preset(n).unwrap().total_neurons())
            .collect();
        assert_eq!(
            neurons,
            [
                36_864, 98_304, 196_608, 327_680, 524_288, 819_200, 1_376_256, 2_359_296
            ]
        );
        for name in PRESET_NAMES {
            OptConfig::preset(name).unwrap().validate(name).unwrap();
        }
        let m350 = OptConfig::preset("facebook/opt-350m").unwrap();
        assert!(m350.has_projections() && !m350.has_final_layer_norm());
        assert!(OptConfig::opt_125m().has_final_layer_norm());
    }

    #[test]
    fn unknown_preset_is_an_error() {
        let err = OptConfig::preset("opt-7b").unwrap_err();
        assert!(err.to_string().contains("opt-7b"), "{err}");
    }

    #[test]
    fn hf_config_json_with_unknown_fields_parses() {
        let json = r#"{"_name_or_path": "facebook/opt-350m", "architectures": ["OPTForCausalLM"],
            "do_layer_norm_before": false, "word_embed_proj_dim": 512, "hidden_size": 1024,
            "num_hidden_layers": 24, "ffn_dim": 4096, "num_attention_heads": 16,
            "torch_dtype": "float16", "some_future_field": {"x": 1}}"#;
        let cfg: OptConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg, OptConfig::opt_350m());
    }

    #[test]
    fn contradictory_configs_are_rejected() {
        let bad_heads = OptConfig {
            num_attention_heads: 5,
            ..OptConfig::opt_125m()
        };
        let err = bad_heads.validate("test").unwrap_err().to_string();
        assert!(err.contains("not divisible"), "{err}");
        let gelu = OptConfig {
            activation_function: "gelu".into(),
            ..OptConfig::opt_125m()
        };
        assert!(
            gelu.validate("test")
                .unwrap_err()
                .to_string()
                .contains("gelu")
        );
    }
}
