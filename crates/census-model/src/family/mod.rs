//! What each decoder family reads: its `config.json` (into one [`ModelConfig`]) and the one
//! table of its checkpoint's tensors ([`TensorSpec`]: Hugging Face name, shape as stored, and
//! the parameter of [`crate::DecoderModel`] it fills). The loader checks a checkpoint against the
//! table before reading any data, and the saver writes parameters back under its names.

mod gpt2;
mod gpt_neox;
mod llama;
mod opt;

use std::path::Path;

use census_format::model::{Family, ModelConfig};
use regex::Regex;

use crate::error::{ModelError, Result};

/// One tensor of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Its Hugging Face name, without the family's prefix ([`name_prefix`]).
    pub name: String,
    /// The parameter of [`crate::DecoderModel`] it fills, e.g. `layers.3.ffn.fc1.weight`.
    pub param: String,
    /// Its shape as stored: `[out, in]` for a PyTorch `Linear`, `[in, out]` for GPT-2's `Conv1D`.
    pub shape: Vec<usize>,
}

/// A family's tensor table, built in model order.
#[derive(Debug, Default)]
pub struct TensorSpecs(Vec<TensorSpec>);

impl TensorSpecs {
    /// A tensor stored as the parameter holds it.
    fn plain(&mut self, name: &str, param: &str, shape: Vec<usize>) {
        self.0.push(TensorSpec {
            name: name.to_string(),
            param: param.to_string(),
            shape,
        });
    }

    /// A PyTorch `Linear` (`weight` `[outputs, inputs]`, optional `bias`).
    fn linear(&mut self, name: &str, param: &str, inputs: usize, outputs: usize, bias: bool) {
        self.plain(
            &format!("{name}.weight"),
            &format!("{param}.weight"),
            vec![outputs, inputs],
        );
        if bias {
            self.plain(
                &format!("{name}.bias"),
                &format!("{param}.bias"),
                vec![outputs],
            );
        }
    }

    /// GPT-2's `Conv1D` (`weight` `[inputs, outputs]`, `bias`).
    fn conv1d(&mut self, name: &str, param: &str, inputs: usize, outputs: usize) {
        self.plain(
            &format!("{name}.weight"),
            &format!("{param}.weight"),
            vec![inputs, outputs],
        );
        self.plain(
            &format!("{name}.bias"),
            &format!("{param}.bias"),
            vec![outputs],
        );
    }

    /// A norm of width `width`: `weight` → `gamma`, and for LayerNorms `bias` → `beta`.
    fn norm(&mut self, name: &str, param: &str, width: usize, shift: bool) {
        self.plain(
            &format!("{name}.weight"),
            &format!("{param}.gamma"),
            vec![width],
        );
        if shift {
            self.plain(
                &format!("{name}.bias"),
                &format!("{param}.beta"),
                vec![width],
            );
        }
    }

    /// The table.
    pub fn into_vec(self) -> Vec<TensorSpec> {
        self.0
    }
}

/// Every tensor a checkpoint of `config` holds, in model order (the LM head only when untied).
pub fn tensor_specs(config: &ModelConfig) -> Vec<TensorSpec> {
    match config.model_type {
        Family::Opt => opt::specs(config),
        Family::Gpt2 => gpt2::specs(config),
        Family::GptNeox => gpt_neox::specs(config),
        Family::Llama | Family::Qwen2 | Family::Mistral => llama::specs(config),
    }
    .into_vec()
}

/// What a checkpoint of `family` may put before the names of [`tensor_specs`] (a regex).
pub fn name_prefix(family: Family) -> &'static str {
    match family {
        // `transformers` writes `model.decoder.`, the released `facebook/opt-*` files `decoder.`.
        Family::Opt => r"^(?:model\.)?decoder\.",
        // `transformers` writes `transformer.`, the released `gpt2` files nothing.
        Family::Gpt2 => r"^transformer\.",
        Family::GptNeox => r"^gpt_neox\.",
        Family::Llama | Family::Qwen2 | Family::Mistral => r"^model\.",
    }
}

/// Buffers a checkpoint of `family` may hold that are not weights (causal masks and rotary
/// frequencies older `transformers` versions saved), matched on prefix-stripped names.
pub fn ignored_buffers(family: Family) -> &'static str {
    match family {
        Family::Gpt2 => r"^h\.\d+\.attn\.(?:bias|masked_bias)$",
        Family::GptNeox => r"^layers\.\d+\.attention\.(?:bias|masked_bias|rotary_emb\.inv_freq)$",
        Family::Llama | Family::Qwen2 | Family::Mistral => {
            r"^layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"
        }
        Family::Opt => r"^$",
    }
}

/// The name of the LM head a checkpoint of `family` may hold even when it is tied (then it is
/// checked and not loaded).
pub fn head_name(family: Family) -> &'static str {
    match family {
        Family::GptNeox => "embed_out.weight",
        _ => "lm_head.weight",
    }
}

/// Whether `family` stores its linear weights as `[in, out]` (GPT-2's `Conv1D`), the layout
/// burn's `Linear` holds, rather than PyTorch's `[out, in]`.
pub fn stores_inputs_first(family: Family) -> bool {
    family == Family::Gpt2
}

/// Prefix and buffer patterns of a family, compiled.
#[derive(Debug)]
pub struct NamePatterns {
    prefix: Regex,
    ignored: Regex,
}

impl NamePatterns {
    /// The patterns of `family`.
    pub fn of(family: Family) -> Self {
        Self {
            prefix: Regex::new(name_prefix(family)).expect("valid prefix pattern"),
            ignored: Regex::new(ignored_buffers(family)).expect("valid buffer pattern"),
        }
    }

    /// The name without the family's prefix.
    pub fn strip<'a>(&self, name: &'a str) -> &'a str {
        match self.prefix.find(name) {
            Some(m) => &name[m.end()..],
            None => name,
        }
    }

    /// Whether a prefix-stripped name is a buffer to skip.
    pub fn is_ignored(&self, stripped: &str) -> bool {
        self.ignored.is_match(stripped)
    }
}

/// `(pad, bos, eos)` ids of a `config.json` that may name none: the end-of-text id stands in for
/// a missing pad or BOS id (GPT-2, Pythia and Llama name no pad token), and `eos` for a missing
/// end-of-text id.
fn special_ids(pad: Option<u32>, bos: Option<u32>, eos: Option<u32>, default_eos: u32) -> [u32; 3] {
    let eos = eos.unwrap_or(default_eos);
    [pad.unwrap_or(eos), bos.unwrap_or(eos), eos]
}

/// The storage dtype a `config.json` declares (`dtype`, or `torch_dtype` in older files).
fn hf_dtype(value: &serde_json::Value) -> Option<String> {
    ["dtype", "torch_dtype"]
        .iter()
        .find_map(|key| value.get(*key)?.as_str().map(str::to_string))
}

/// Reads a Hugging Face `config.json` of any supported family and checks it.
pub fn read_config(path: impl AsRef<Path>) -> Result<ModelConfig> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let config = parse_config(value, &path.display().to_string())?;
    check_config(&config, &path.display().to_string())?;
    Ok(config)
}

/// A `config.json`'s contents as a [`ModelConfig`], by its `model_type`; `origin` names the
/// source in errors.
pub fn parse_config(value: serde_json::Value, origin: &str) -> Result<ModelConfig> {
    let invalid = |reason: String| ModelError::InvalidConfig {
        origin: origin.to_string(),
        reason,
    };
    let model_type = value
        .get("model_type")
        .and_then(|t| t.as_str())
        .unwrap_or(Family::Opt.model_type())
        .to_string();
    let family = Family::from_model_type(&model_type).ok_or_else(|| {
        invalid(format!(
            "model_type '{model_type}' is not supported (supported: {})",
            Family::supported()
        ))
    })?;
    let parsed = match family {
        Family::Opt => opt::parse(value),
        Family::Gpt2 => gpt2::parse(value),
        Family::GptNeox => gpt_neox::parse(value),
        Family::Llama | Family::Qwen2 | Family::Mistral => llama::parse(family, value),
    };
    parsed.map_err(invalid)
}

/// Checks that the hyper-parameters describe a model this crate can run; `origin` names the
/// source in the error message.
pub fn check_config(config: &ModelConfig, origin: &str) -> Result<()> {
    let fail = |reason: String| {
        Err(ModelError::InvalidConfig {
            origin: origin.to_string(),
            reason,
        })
    };
    let sizes = [
        ("vocab_size", config.vocab_size),
        ("hidden_size", config.hidden_size),
        ("num_hidden_layers", config.num_hidden_layers),
        ("ffn_dim", config.ffn_dim),
        ("num_attention_heads", config.num_attention_heads),
        ("max_position_embeddings", config.max_position_embeddings),
        ("word_embed_proj_dim", config.embed_dim()),
        ("num_key_value_heads", config.kv_heads()),
        ("head_dim", config.head_dim()),
    ];
    for (name, value) in sizes {
        if value == 0 {
            return fail(format!("{name} must be positive"));
        }
    }
    if config.head_dim.is_none()
        && !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return fail(format!(
            "hidden_size {} is not divisible by num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        ));
    }
    if !config.num_attention_heads.is_multiple_of(config.kv_heads()) {
        return fail(format!(
            "num_attention_heads {} is not a multiple of num_key_value_heads {}",
            config.num_attention_heads,
            config.kv_heads()
        ));
    }
    if config.ffn_dim > usize::from(u16::MAX) + 1 {
        return fail(format!(
            "ffn_dim {} exceeds 65536: neuron ids are stored as u16",
            config.ffn_dim
        ));
    }
    if !config.layer_norm_elementwise_affine {
        return fail("layer_norm_elementwise_affine = false is not supported".to_string());
    }
    let family = config.model_type;
    match (&config.rotary, family.learned_position_offset()) {
        (Some(_), Some(_)) => {
            return fail(format!(
                "a {family} model has learned positions, not rotary ones"
            ));
        }
        (None, None) => return fail(format!("a {family} model needs rotary positions")),
        (Some(rotary), None) => {
            if rotary.dims == 0 || rotary.dims % 2 == 1 || rotary.dims > config.head_dim() {
                return fail(format!(
                    "{} rotary dimensions do not fit heads of {} (an even number, at most the head width)",
                    rotary.dims,
                    config.head_dim()
                ));
            }
        }
        (None, Some(_)) => {}
    }
    if family != Family::Opt && (config.has_projections() || !config.do_layer_norm_before) {
        return fail(format!(
            "embedding projections and post-LN layers are OPT's; a {family} model has neither"
        ));
    }
    Ok(())
}

/// The rotary fields of a `config.json`, wherever its `transformers` version put them:
/// `rope_theta`, `rope_scaling` and `partial_rotary_factor` at the top level, or inside
/// `rope_parameters`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RopeFields {
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    partial_rotary_factor: Option<f64>,
}

impl RopeFields {
    /// A number in `rope_parameters`.
    fn parameter(&self, key: &str) -> Option<f64> {
        self.rope_parameters.as_ref()?.get(key)?.as_f64()
    }

    /// The frequencies' base.
    fn theta(&self) -> Option<f64> {
        self.parameter("rope_theta").or(self.rope_theta)
    }

    /// The share of each head that is rotated.
    fn partial_rotary_factor(&self) -> Option<f64> {
        self.parameter("partial_rotary_factor")
            .or(self.partial_rotary_factor)
    }

    /// The scaling rule, if any; an unsupported one is an error naming it.
    fn scaling(&self) -> std::result::Result<Option<census_format::model::RopeScaling>, String> {
        use census_format::model::RopeScaling;
        let Some(fields) = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref()) else {
            return Ok(None);
        };
        if fields.is_null() {
            return Ok(None);
        }
        let kind = fields
            .get("rope_type")
            .or_else(|| fields.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("default");
        let number = |key: &str| {
            fields
                .get(key)
                .and_then(|v| v.as_f64())
                .ok_or_else(|| format!("rope scaling '{kind}' needs a number '{key}'"))
        };
        match kind {
            "default" => Ok(None),
            "linear" => Ok(Some(RopeScaling::Linear {
                factor: number("factor")?,
            })),
            "llama3" => Ok(Some(RopeScaling::Llama3 {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_max_position_embeddings: number("original_max_position_embeddings")?
                    as usize,
            })),
            other => Err(format!(
                "rope scaling '{other}' is not supported (supported: default, linear, llama3)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_model_type_is_refused_naming_the_supported_ones() {
        let value = serde_json::json!({"model_type": "bloom", "hidden_size": 64});
        let err = parse_config(value, "config.json").unwrap_err().to_string();
        assert!(err.contains("bloom") && err.contains("gpt_neox"), "{err}");
    }

    #[test]
    fn every_family_table_names_each_parameter_once() {
        let gpt2 =
            serde_json::json!({"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4});
        let neox = serde_json::json!({"model_type": "gpt_neox", "hidden_size": 32,
            "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64});
        let qwen = serde_json::json!({"model_type": "qwen2", "hidden_size": 32,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "intermediate_size": 64, "tie_word_embeddings": true});
        let mut configs = vec![crate::presets::opt_350m()];
        for value in [gpt2, neox, qwen] {
            configs.push(parse_config(value, "test").unwrap());
        }
        for config in configs {
            check_config(&config, "test").unwrap();
            let specs = tensor_specs(&config);
            let mut params: Vec<&str> = specs.iter().map(|s| s.param.as_str()).collect();
            let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let total = params.len();
            params.sort_unstable();
            params.dedup();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                (params.len(), names.len()),
                (total, total),
                "{}",
                config.model_type
            );
        }
    }
}
