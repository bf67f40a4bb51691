//! Released models by short name: their hub repositories and shapes. The shapes are
//! for planning (the scale rehearsal, random models); a run reads the downloaded `config.json`.
//!
//! - OPT: `opt-125m` … `opt-66b` (`facebook/`);
//! - GPT-2: `gpt2`, `gpt2-medium`, `gpt2-large`, `gpt2-xl` (`openai-community/`);
//! - Pythia: `pythia-70m` … `pythia-12b`, each also `-deduped` (`EleutherAI/`), with 154
//!   training checkpoints as revisions `stepN` ([`log_spaced_revisions`] picks 20 of them);
//! - Qwen2.5: `qwen2.5-0.5b` … `qwen2.5-7b` (`Qwen/`);
//! - Mistral: `mistral-7b` (`mistralai/Mistral-7B-v0.1`; the hub asks users to accept its
//!   terms first: log in, and its token file in the Hugging Face cache is used).

use census_format::model::{Activation, Family, ModelConfig, Rotary};

use crate::error::{ModelError, Result};

/// A released model by short name.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// Its short name (`opt-125m`, `pythia-160m-deduped`, …).
    pub name: &'static str,
    /// Its hub repository.
    pub hub_id: &'static str,
    shape: fn() -> ModelConfig,
}

impl Preset {
    /// Its shape.
    pub fn config(&self) -> ModelConfig {
        (self.shape)()
    }
}

macro_rules! presets {
    ($($name:literal => $hub:literal, $shape:expr;)*) => {
        /// Every preset, family by family, smallest first.
        pub const PRESETS: &[Preset] = &[$(Preset { name: $name, hub_id: $hub, shape: $shape }),*];
    };
}

presets! {
    "opt-125m" => "facebook/opt-125m", opt_125m;
    "opt-350m" => "facebook/opt-350m", opt_350m;
    "opt-1.3b" => "facebook/opt-1.3b", opt_1_3b;
    "opt-2.7b" => "facebook/opt-2.7b", opt_2_7b;
    "opt-6.7b" => "facebook/opt-6.7b", opt_6_7b;
    "opt-13b" => "facebook/opt-13b", opt_13b;
    "opt-30b" => "facebook/opt-30b", opt_30b;
    "opt-66b" => "facebook/opt-66b", opt_66b;
    "gpt2" => "openai-community/gpt2", || gpt2(12, 12, 768);
    "gpt2-medium" => "openai-community/gpt2-medium", || gpt2(24, 16, 1024);
    "gpt2-large" => "openai-community/gpt2-large", || gpt2(36, 20, 1280);
    "gpt2-xl" => "openai-community/gpt2-xl", || gpt2(48, 25, 1600);
    "pythia-70m" => "EleutherAI/pythia-70m", || pythia(6, 8, 512, 50304);
    "pythia-160m" => "EleutherAI/pythia-160m", || pythia(12, 12, 768, 50304);
    "pythia-410m" => "EleutherAI/pythia-410m", || pythia(24, 16, 1024, 50304);
    "pythia-1b" => "EleutherAI/pythia-1b", || pythia(16, 8, 2048, 50304);
    "pythia-1.4b" => "EleutherAI/pythia-1.4b", || pythia(24, 16, 2048, 50304);
    "pythia-2.8b" => "EleutherAI/pythia-2.8b", || pythia(32, 32, 2560, 50304);
    "pythia-6.9b" => "EleutherAI/pythia-6.9b", || pythia(32, 32, 4096, 50432);
    "pythia-12b" => "EleutherAI/pythia-12b", || pythia(36, 40, 5120, 50688);
    "pythia-70m-deduped" => "EleutherAI/pythia-70m-deduped", || pythia(6, 8, 512, 50304);
    "pythia-160m-deduped" => "EleutherAI/pythia-160m-deduped", || pythia(12, 12, 768, 50304);
    "pythia-410m-deduped" => "EleutherAI/pythia-410m-deduped", || pythia(24, 16, 1024, 50304);
    "pythia-1b-deduped" => "EleutherAI/pythia-1b-deduped", || pythia(16, 8, 2048, 50304);
    "pythia-1.4b-deduped" => "EleutherAI/pythia-1.4b-deduped", || pythia(24, 16, 2048, 50304);
    "pythia-2.8b-deduped" => "EleutherAI/pythia-2.8b-deduped", || pythia(32, 32, 2560, 50304);
    "pythia-6.9b-deduped" => "EleutherAI/pythia-6.9b-deduped", || pythia(32, 32, 4096, 50432);
    "pythia-12b-deduped" => "EleutherAI/pythia-12b-deduped", || pythia(36, 40, 5120, 50688);
    "qwen2.5-0.5b" => "Qwen/Qwen2.5-0.5B", || qwen2(24, 14, 896, 4864, 151936, true);
    "qwen2.5-1.5b" => "Qwen/Qwen2.5-1.5B", || qwen2(28, 12, 1536, 8960, 151936, true);
    "qwen2.5-3b" => "Qwen/Qwen2.5-3B", || qwen2(36, 16, 2048, 11008, 151936, true);
    "qwen2.5-7b" => "Qwen/Qwen2.5-7B", || qwen2(28, 28, 3584, 18944, 152064, false);
    "mistral-7b" => "mistralai/Mistral-7B-v0.1", mistral_7b;
}

/// The names of every preset, in [`PRESETS`] order.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// The preset called `name` (the short name, or its hub id), if there is one.
pub fn find(name: &str) -> Option<&'static Preset> {
    let lower = name.to_ascii_lowercase();
    PRESETS
        .iter()
        .find(|p| p.name == lower || p.hub_id.eq_ignore_ascii_case(name))
}

/// Pythia's 154 checkpoints are the revisions `step0`, `step1`, `step2`, `step4` … `step512`
/// and `step1000` … `step143000` by thousands. The log-spaced subset (`series:pythia-…@log`):
/// every power of two up to `step512`, then `step1000` doubling to `step128000`, and the final
/// `step143000` (20 checkpoints). `None` for presets that publish no checkpoints.
pub fn log_spaced_revisions(preset: &Preset) -> Option<Vec<String>> {
    if !preset.hub_id.starts_with("EleutherAI/pythia-") {
        return None;
    }
    let early = std::iter::once(0).chain((0..10).map(|k| 1u64 << k));
    let late = (0..8).map(|k| 1000u64 << k).chain(std::iter::once(143_000));
    Some(
        early
            .chain(late)
            .map(|step| format!("step{step}"))
            .collect(),
    )
}

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

/// GPT-2 of `layers` layers, `heads` heads and width `hidden` (`d_ffn = 4 * hidden`).
fn gpt2(layers: usize, heads: usize, hidden: usize) -> ModelConfig {
    ModelConfig {
        model_type: Family::Gpt2,
        vocab_size: 50257,
        hidden_size: hidden,
        num_hidden_layers: layers,
        ffn_dim: 4 * hidden,
        num_attention_heads: heads,
        max_position_embeddings: 1024,
        activation_function: Activation::GeluTanh,
        pad_token_id: 50256,
        bos_token_id: 50256,
        eos_token_id: 50256,
        dtype: Some("float32".to_string()),
        ..ModelConfig::default()
    }
}

/// Pythia of `layers` layers, `heads` heads and width `hidden` (`d_ffn = 4 * hidden`), a
/// quarter of each head rotated.
fn pythia(layers: usize, heads: usize, hidden: usize, vocab: usize) -> ModelConfig {
    ModelConfig {
        model_type: Family::GptNeox,
        vocab_size: vocab,
        hidden_size: hidden,
        num_hidden_layers: layers,
        ffn_dim: 4 * hidden,
        num_attention_heads: heads,
        activation_function: Activation::Gelu,
        parallel_residual: true,
        tie_word_embeddings: false,
        rotary: Some(Rotary {
            dims: hidden / heads / 4,
            theta: 10_000.0,
            scaling: None,
        }),
        pad_token_id: 0,
        bos_token_id: 0,
        eos_token_id: 0,
        dtype: Some("float16".to_string()),
        ..ModelConfig::default()
    }
}

/// A Llama-layout model (RMSNorm, rotary, SwiGLU, grouped queries) of `family`.
#[allow(clippy::too_many_arguments)]
fn llama_layout(
    family: Family,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    hidden: usize,
    ffn: usize,
    vocab: usize,
    theta: f64,
) -> ModelConfig {
    ModelConfig {
        model_type: family,
        vocab_size: vocab,
        hidden_size: hidden,
        num_hidden_layers: layers,
        ffn_dim: ffn,
        num_attention_heads: heads,
        num_key_value_heads: (kv_heads != heads).then_some(kv_heads),
        activation_function: Activation::Silu,
        enable_bias: false,
        norm_eps: 1e-6,
        tie_word_embeddings: false,
        rotary: Some(Rotary {
            dims: hidden / heads,
            theta,
            scaling: None,
        }),
        dtype: Some("bfloat16".to_string()),
        ..ModelConfig::default()
    }
}

/// Qwen2.5: q, k and v biases, 2 or 4 key-value heads, tied heads below 7B.
fn qwen2(
    layers: usize,
    heads: usize,
    hidden: usize,
    ffn: usize,
    vocab: usize,
    tied: bool,
) -> ModelConfig {
    let kv_heads = if hidden >= 3584 { 4 } else { 2 };
    ModelConfig {
        qkv_bias: Some(true),
        tie_word_embeddings: tied,
        max_position_embeddings: 32768,
        pad_token_id: 151643,
        bos_token_id: 151643,
        eos_token_id: 151643,
        ..llama_layout(
            Family::Qwen2,
            layers,
            heads,
            kv_heads,
            hidden,
            ffn,
            vocab,
            1_000_000.0,
        )
    }
}

/// `mistralai/Mistral-7B-v0.1`: a 4,096-token sliding window.
pub fn mistral_7b() -> ModelConfig {
    ModelConfig {
        max_position_embeddings: 32768,
        sliding_window: Some(4096),
        norm_eps: 1e-5,
        pad_token_id: 2,
        bos_token_id: 1,
        eos_token_id: 2,
        ..llama_layout(Family::Mistral, 32, 32, 8, 4096, 14336, 32000, 10_000.0)
    }
}

/// Llama 3 with `layers` layers, `heads` query heads and width `hidden`: 8 key-value heads,
/// the 128,256-token vocabulary and 8,192 positions.
fn llama3(layers: usize, heads: usize, hidden: usize, ffn: usize) -> ModelConfig {
    ModelConfig {
        max_position_embeddings: 8192,
        norm_eps: 1e-5,
        bos_token_id: 128000,
        eos_token_id: 128001,
        pad_token_id: 128001,
        ..llama_layout(
            Family::Llama,
            layers,
            heads,
            8,
            hidden,
            ffn,
            128256,
            500_000.0,
        )
    }
}

/// Meta-Llama-3-8B's shape (gated on the hub: a shape for planning, not a preset).
pub fn llama3_8b() -> ModelConfig {
    llama3(32, 32, 4096, 14336)
}

/// Meta-Llama-3-70B's shape (gated on the hub: a shape for planning, not a preset).
pub fn llama3_70b() -> ModelConfig {
    llama3(80, 64, 8192, 28672)
}

/// The shape of the preset called `name` (its short name or hub id).
pub fn preset(name: &str) -> Result<ModelConfig> {
    find(name)
        .map(Preset::config)
        .ok_or_else(|| ModelError::UnknownPreset(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{check_config, parse_config};

    #[test]
    fn presets_follow_the_opt_table() {
        let neurons: Vec<usize> = preset_names()[..8]
            .iter()
            .map(|n| preset(n).unwrap().total_neurons())
            .collect();
        assert_eq!(
            neurons,
            [
                36_864, 98_304, 196_608, 327_680, 524_288, 819_200, 1_376_256, 2_359_296
            ]
        );
        for preset in PRESETS {
            check_config(&preset.config(), preset.name).unwrap();
        }
        let m350 = preset("facebook/opt-350m").unwrap();
        assert!(m350.has_projections() && !m350.has_final_layer_norm());
        assert!(opt_125m().has_final_layer_norm());
    }

    #[test]
    fn presets_of_other_families_have_their_shapes_and_hub_ids() {
        let pythia = find("pythia-160m").unwrap();
        assert_eq!(pythia.hub_id, "EleutherAI/pythia-160m");
        assert_eq!(pythia.config().total_neurons(), 12 * 3072);
        assert_eq!(pythia.config().rotary.unwrap().dims, 16);
        assert_eq!(find("EleutherAI/Pythia-160m").unwrap().name, "pythia-160m");
        let qwen = preset("qwen2.5-0.5b").unwrap();
        assert_eq!((qwen.head_dim(), qwen.kv_heads()), (64, 2));
        assert_eq!(preset("gpt2-xl").unwrap().total_neurons(), 48 * 6400);
        assert_eq!(llama3_70b().total_neurons(), 80 * 28672);
    }

    #[test]
    fn pythias_log_spaced_checkpoints_are_twenty_revisions_in_step_order() {
        let revisions = log_spaced_revisions(find("pythia-70m-deduped").unwrap()).unwrap();
        assert_eq!(revisions.len(), 20);
        assert_eq!(revisions[..3], ["step0", "step1", "step2"]);
        assert_eq!(revisions[10..12], ["step512", "step1000"]);
        assert_eq!(revisions[18..], ["step128000", "step143000"]);
        assert!(log_spaced_revisions(find("gpt2").unwrap()).is_none());
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
