//! The weights of a decoder layer ([`LayerWeight`]): by their Hugging Face names in OPT, from
//! which OPT's tensor table ([`crate::family::tensor_specs`]) is built, and by their parameter
//! paths in [`crate::DecoderModel`], which the host engine reads for every family.

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
    /// Fused q/k/v projection (GPT-2, GPT-NeoX; not in OPT).
    QkvProj,
    /// The gated MLP's up projection (Llama, Qwen2, Mistral; not in OPT).
    Up,
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
    /// Every weight of an OPT layer, in the order checkpoints are checked.
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

    /// Its Hugging Face name within an OPT layer (after `layers.N.`); weights OPT lacks give
    /// their parameter path.
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
            Self::QkvProj | Self::Up => self.param(),
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

    /// Its parameter path within a layer of [`crate::DecoderModel`].
    pub fn param(self) -> &'static str {
        match self {
            Self::Fc1 => "ffn.fc1",
            Self::Fc2 => "ffn.fc2",
            Self::QkvProj => "self_attn.qkv_proj",
            Self::Up => "ffn.up",
            other => other.hf(),
        }
    }

    /// The parameter path in [`crate::DecoderModel`] that `part` of this weight fills, e.g.
    /// `layers.3.ffn.fc1.weight` or `layers.3.final_layer_norm.gamma`.
    pub fn param_path(self, layer: usize, part: Part) -> String {
        let part = match (self.is_norm(), part) {
            (false, Part::Weight) => "weight",
            (false, Part::Bias) => "bias",
            (true, Part::Weight) => "gamma",
            (true, Part::Bias) => "beta",
        };
        format!("layers.{layer}.{}.{part}", self.param())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_weight_is_in_the_opt_table() {
        let config = crate::presets::opt_125m();
        let expected: Vec<String> = crate::family::tensor_specs(&config)
            .into_iter()
            .map(|spec| spec.name)
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
