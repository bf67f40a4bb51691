//! OPT (`model_type: opt`): learned positions at offset 2, pre-LN or post-LN, optional
//! `project_in`/`project_out`, tied head. Its `config.json` fields are [`ModelConfig`]'s own.

use census_format::model::{Family, ModelConfig};

use super::TensorSpecs;
use crate::weights::{LayerWeight, Part};

/// An OPT `config.json` as a [`ModelConfig`] (read field for field).
pub(super) fn parse(value: serde_json::Value) -> Result<ModelConfig, String> {
    let config: ModelConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if config.rotary.is_some() || config.parallel_residual || !config.tie_word_embeddings {
        return Err(
            "rotary positions, a parallel residual and an untied head are not OPT's".into(),
        );
    }
    Ok(ModelConfig {
        model_type: Family::Opt,
        ..config
    })
}

/// Every tensor of an OPT checkpoint (names without `model.decoder.`/`decoder.`).
pub(super) fn specs(config: &ModelConfig) -> TensorSpecs {
    let (d, e, f, v) = (
        config.hidden_size,
        config.embed_dim(),
        config.ffn_dim,
        config.vocab_size,
    );
    let offset = Family::Opt
        .learned_position_offset()
        .expect("OPT has learned positions");
    let mut specs = TensorSpecs::default();
    specs.plain("embed_tokens.weight", "embed_tokens.weight", vec![v, e]);
    specs.plain(
        "embed_positions.weight",
        "embed_positions.weight",
        vec![config.max_position_embeddings + offset, d],
    );
    if config.has_projections() {
        specs.linear("project_in", "project_in", e, d, false);
        specs.linear("project_out", "project_out", d, e, false);
    }
    if config.has_final_layer_norm() {
        specs.norm("final_layer_norm", "final_layer_norm", d, true);
    }
    for l in 0..config.num_hidden_layers {
        for weight in LayerWeight::ALL {
            let name = weight.hf_name(l, Part::Weight);
            let name = name.strip_suffix(".weight").expect("a weight name");
            let param = weight.param_path(l, Part::Weight);
            if weight.is_norm() {
                let param = param.strip_suffix(".gamma").expect("a norm's scale");
                specs.norm(name, param, d, true);
            } else {
                let param = param.strip_suffix(".weight").expect("a weight path");
                let (inputs, outputs) = match weight {
                    LayerWeight::Fc1 => (d, f),
                    LayerWeight::Fc2 => (f, d),
                    _ => (d, d),
                };
                specs.linear(name, param, inputs, outputs, config.enable_bias);
            }
        }
    }
    specs
}
