//! Named shapes of released models: `opt-125m` … `opt-66b`, as [`ModelConfig`]s.

use census_format::model::ModelConfig;

use crate::error::{ModelError, Result};

/// Names accepted by [`preset`], smallest first.
pub const PRESET_NAMES: [&str; 8] = [
    "opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b", "opt-30b", "opt-66b",
];

/// A released checkpoint's shape: `layers`, `heads`, `hidden` and `d_ffn = 4 * hidden`.
fn released(layers: usize, heads: usize, hidden: usize) -> ModelConfig {
    ModelConfig {
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        ffn_dim: 4 * hidden,
        word_embed_proj_dim: Some(hidden),
        dtype: Some("float16".to_string()),
        ..ModelConfig::default()
    }
}

/// `facebook/opt-125m`.
pub fn opt_125m() -> ModelConfig {
    released(12, 12, 768)
}

/// `facebook/opt-350m`: post-LN, 512-wide embeddings with `project_in`/`project_out`, no final LayerNorm.
pub fn opt_350m() -> ModelConfig {
    ModelConfig {
        do_layer_norm_before: false,
        word_embed_proj_dim: Some(512),
        ..released(24, 16, 1024)
    }
}

/// `facebook/opt-1.3b`.
pub fn opt_1_3b() -> ModelConfig {
    released(24, 32, 2048)
}

/// `facebook/opt-2.7b`.
pub fn opt_2_7b() -> ModelConfig {
    released(32, 32, 2560)
}

/// `facebook/opt-6.7b`.
pub fn opt_6_7b() -> ModelConfig {
    released(32, 32, 4096)
}

/// `facebook/opt-13b`.
pub fn opt_13b() -> ModelConfig {
    released(40, 40, 5120)
}

/// `facebook/opt-30b`.
pub fn opt_30b() -> ModelConfig {
    released(48, 56, 7168)
}

/// `facebook/opt-66b`.
pub fn opt_66b() -> ModelConfig {
    released(64, 72, 9216)
}

/// The preset called `name` (`opt-125m` … `opt-66b`, with or without the `facebook/` prefix).
pub fn preset(name: &str) -> Result<ModelConfig> {
    let short = name.strip_prefix("facebook/").unwrap_or(name);
    let config = match short.to_ascii_lowercase().as_str() {
        "opt-125m" => opt_125m(),
        "opt-350m" => opt_350m(),
        "opt-1.3b" => opt_1_3b(),
        "opt-2.7b" => opt_2_7b(),
        "opt-6.7b" => opt_6_7b(),
        "opt-13b" => opt_13b(),
        "opt-30b" => opt_30b(),
        "opt-66b" => opt_66b(),
        _ => return Err(ModelError::UnknownPreset(name.to_string())),
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{check_config, parse_config};

    #[test]
    fn presets_follow_the_opt_table() {
        let neurons: Vec<usize> = PRESET_NAMES
            .iter()
            .map(|n| preset(n).unwrap().total_neurons())
            .collect();
        assert_eq!(
            neurons,
            [
                36_864, 98_304, 196_608, 327_680, 524_288, 819_200, 1_376_256, 2_359_296
            ]
        );
        for name in PRESET_NAMES {
            check_config(&preset(name).unwrap(), name).unwrap();
        }
        let m350 = preset("facebook/opt-350m").unwrap();
        assert!(m350.has_projections() && !m350.has_final_layer_norm());
        assert!(opt_125m().has_final_layer_norm());
    }

    #[test]
    fn unknown_preset_is_an_error() {
        let err = preset("opt-7b").unwrap_err();
        assert!(err.to_string().contains("opt-7b"), "{err}");
    }

    #[test]
    fn hf_config_json_with_unknown_fields_parses() {
        let json = r#"{"_name_or_path": "facebook/opt-350m", "architectures": ["OPTForCausalLM"],
            "model_type": "opt",
            "do_layer_norm_before": false, "word_embed_proj_dim": 512, "hidden_size": 1024,
            "num_hidden_layers": 24, "ffn_dim": 4096, "num_attention_heads": 16,
            "torch_dtype": "float16", "some_future_field": {"x": 1}}"#;
        let cfg = parse_config(serde_json::from_str(json).unwrap(), "test").unwrap();
        assert_eq!(cfg, opt_350m());
    }

    #[test]
    fn contradictory_configs_are_rejected() {
        let bad_heads = ModelConfig {
            num_attention_heads: 5,
            ..opt_125m()
        };
        let err = check_config(&bad_heads, "test").unwrap_err().to_string();
        assert!(err.contains("not divisible"), "{err}");
        let rotary_opt = ModelConfig {
            rotary: Some(census_format::model::Rotary {
                dims: 8,
                theta: 1e4,
                scaling: None,
            }),
            ..opt_125m()
        };
        let err = check_config(&rotary_opt, "test").unwrap_err().to_string();
        assert!(err.contains("learned positions"), "{err}");
    }
}
