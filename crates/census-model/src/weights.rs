//! The names of the model's weights, in one table: every weight of a decoder layer by its
//! Hugging Face name ([`LayerWeight`]), and the one mapping from Hugging Face names to the
//! parameter paths of [`crate::OptModel`] ([`crate::loader::NAME_TABLE`]). The loader checks a
//! checkpoint against the names [`crate::OptConfig::expected_tensors`] builds from this table,
//! the host engine reads the tensors it names, and the saver writes them back under the same
//! Hugging Face names (a test checks the round trip).

use std::sync::OnceLock;

use crate::loader::NameMapper;

/// One weight of a decoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerWeight {
    /// Attention query projection.
    QProj,
    /// Attention key projection.
    KProj,
    /// Attention value projection.
    VProj,
    /// Attention output projection.
    OutProj,
    /// LayerNorm of the attention block.
    AttentionNorm,
    /// LayerNorm of the FFN block.
    FfnNorm,
    /// FFN input projection (its outputs are the neurons).
    Fc1,
    /// FFN output projection.
    Fc2,
}

/// Which tensor of a weight: a linear map's weight and bias, or a LayerNorm's scale and shift
/// (stored as `weight` and `bias` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `weight` (a LayerNorm's scale).
    Weight,
    /// `bias` (a LayerNorm's shift).
    Bias,
}

impl LayerWeight {
    /// Every weight of a layer, in the order checkpoints are checked.
    pub const ALL: [Self; 8] = [
        Self::QProj,
        Self::KProj,
        Self::VProj,
        Self::OutProj,
        Self::AttentionNorm,
        Self::FfnNorm,
        Self::Fc1,
        Self::Fc2,
    ];

    /// Its Hugging Face name within a layer (after `layers.N.`).
    pub fn hf(self) -> &'static str {
        match self {
            Self::QProj => "self_attn.q_proj",
            Self::KProj => "self_attn.k_proj",
            Self::VProj => "self_attn.v_proj",
            Self::OutProj => "self_attn.out_proj",
            Self::AttentionNorm => "self_attn_layer_norm",
            Self::FfnNorm => "final_layer_norm",
            Self::Fc1 => "fc1",
            Self::Fc2 => "fc2",
        }
    }

    /// Whether it is a LayerNorm (otherwise a linear map).
    pub fn is_norm(self) -> bool {
        matches!(self, Self::AttentionNorm | Self::FfnNorm)
    }

    /// The Hugging Face name of `part` of this weight in layer `layer` (without the
    /// `model.decoder.` prefix), e.g. `layers.3.fc1.weight`.
    pub fn hf_name(self, layer: usize, part: Part) -> String {
        let part = match part {
            Part::Weight => "weight",
            Part::Bias => "bias",
        };
        format!("layers.{layer}.{}.{part}", self.hf())
    }

    /// The parameter path in [`crate::OptModel`] that `part` of this weight fills, e.g.
    /// `layers.3.ffn.fc1.weight` or `layers.3.final_layer_norm.gamma`.
    pub fn param_path(self, layer: usize, part: Part) -> String {
        static MAPPER: OnceLock<NameMapper> = OnceLock::new();
        MAPPER
            .get_or_init(NameMapper::default)
            .to_param_path(&self.hf_name(layer, part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OptConfig;

    #[test]
    fn every_layer_weight_is_expected_by_the_config() {
        let config = OptConfig::opt_125m();
        let expected: Vec<String> = config
            .expected_tensors()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for layer in [0, 11] {
            for weight in LayerWeight::ALL {
                for part in [Part::Weight, Part::Bias] {
                    assert!(expected.contains(&weight.hf_name(layer, part)));
                }
            }
        }
    }

    #[test]
    fn parameter_paths_follow_the_model() {
        assert_eq!(
            LayerWeight::Fc1.param_path(3, Part::Weight),
            "layers.3.ffn.fc1.weight"
        );
        assert_eq!(
            LayerWeight::FfnNorm.param_path(3, Part::Bias),
            "layers.3.final_layer_norm.beta"
        );
        assert_eq!(
            LayerWeight::QProj.param_path(0, Part::Weight),
            "layers.0.self_attn.q_proj.weight"
        );
    }
}
