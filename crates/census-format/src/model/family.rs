//! What differs between decoder families: the family itself, the FFN activation and the
//! rotary position embedding.

use serde::{Deserialize, Serialize};

/// A decoder family, named as Hugging Face's `config.json` names it (`model_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Meta's OPT: learned positions (offset 2), ReLU FFN, pre-LN or post-LN.
    #[default]
    Opt,
    /// OpenAI's GPT-2: learned positions, tanh GELU FFN, `Conv1D` weights, tied head.
    Gpt2,
    /// EleutherAI's GPT-NeoX (Pythia): partial rotary, parallel residual, exact GELU.
    GptNeox,
    /// Meta's Llama: RMSNorm, rotary, SwiGLU, grouped-query attention.
    Llama,
    /// Alibaba's Qwen2: Llama's layout with biases on q, k and v.
    Qwen2,
    /// Mistral: Llama's layout with a sliding attention window.
    Mistral,
}

impl Family {
    /// Every family, in the order they are listed to users.
    pub const ALL: [Self; 6] = [
        Self::Opt,
        Self::Gpt2,
        Self::GptNeox,
        Self::Llama,
        Self::Qwen2,
        Self::Mistral,
    ];

    /// The `model_type` of its `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Opt => "opt",
            Self::Gpt2 => "gpt2",
            Self::GptNeox => "gpt_neox",
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Mistral => "mistral",
        }
    }

    /// The family whose `config.json` says `model_type`, if it is supported.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.model_type() == model_type)
    }

    /// The supported `model_type`s, comma-separated (for error messages).
    pub fn supported() -> String {
        Self::ALL.map(Self::model_type).join(", ")
    }

    /// Whether the FFN is gated (`down(act(gate(x)) * up(x))`): the neurons are the gate's outputs.
    pub fn gated_mlp(self) -> bool {
        matches!(self, Self::Llama | Self::Qwen2 | Self::Mistral)
    }

    /// Whether its tokenizer puts a BOS before every text (what pre-tokenized input is taken to
    /// need when the model directory has no tokenizer): OPT's `</s>`, Llama's and Mistral's
    /// `<s>`; GPT-2, Pythia and Qwen2 add none.
    pub fn adds_bos(self) -> bool {
        matches!(self, Self::Opt | Self::Llama | Self::Mistral)
    }

    /// Whether its norms are RMSNorms (otherwise LayerNorms).
    pub fn rms_norm(self) -> bool {
        self.gated_mlp()
    }

    /// Rows of the learned position table before position 0 (`None`: no learned positions).
    pub fn learned_position_offset(self) -> Option<usize> {
        match self {
            Self::Opt => Some(2),
            Self::Gpt2 => Some(0),
            _ => None,
        }
    }

    /// The Hugging Face name of the projection whose outputs are the neurons' activation
    /// inputs: a neuron fires when its entry is above the fire threshold (0 by default).
    pub fn neuron_projection(self) -> &'static str {
        match self {
            Self::Opt => "fc1",
            Self::Gpt2 => "mlp.c_fc",
            Self::GptNeox => "mlp.dense_h_to_4h",
            Self::Llama | Self::Qwen2 | Self::Mistral => "mlp.gate_proj",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// The FFN's activation function. For all of them the output is positive exactly when the input
/// is, so "the activation's input > 0" is the paper's ReLU rule for every family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)` (OPT).
    #[default]
    #[serde(rename = "relu")]
    Relu,
    /// The exact, erf-based GELU (GPT-NeoX).
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation of GELU (GPT-2's `gelu_new`).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    /// `x · sigmoid(x)` (Llama, Qwen2, Mistral).
    #[serde(rename = "silu", alias = "swish")]
    Silu,
}

impl Activation {
    /// Its name in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_new",
            Self::Silu => "silu",
        }
    }
}

/// Rotary position embedding, applied to the first `dims` of every query and key head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rotary {
    /// Rotated dimensions per head (all of them, or `rotary_pct` of them for GPT-NeoX).
    pub dims: usize,
    /// The base of the frequencies (`rope_theta`).
    pub theta: f64,
    /// How the frequencies are stretched for long contexts, if they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<RopeScaling>,
}

/// A rope scaling rule (`rope_scaling` in `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rope_type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// Positions divided by `factor`.
    Linear {
        /// The stretch factor.
        factor: f64,
    },
    /// Llama 3's: long wavelengths divided by `factor`, short ones kept, smoothed between.
    Llama3 {
        /// The stretch factor of long wavelengths.
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` are stretched.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The context the model was first trained on.
        original_max_position_embeddings: usize,
    },
}

impl Rotary {
    /// The inverse frequencies of the `dims / 2` rotated pairs, scaled as [`Rotary::scaling`]
    /// says (Hugging Face's `inv_freq`).
    pub fn inverse_frequencies(&self) -> Vec<f64> {
        let dims = self.dims as f64;
        let base: Vec<f64> = (0..self.dims / 2)
            .map(|i| 1.0 / self.theta.powf((2 * i) as f64 / dims))
            .collect();
        match &self.scaling {
            None => base,
            Some(RopeScaling::Linear { factor }) => base.iter().map(|f| f / factor).collect(),
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }) => {
                let original = *original_max_position_embeddings as f64;
                let low_freq_wavelen = original / low_freq_factor;
                let high_freq_wavelen = original / high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_freq_wavelen {
                            f
                        } else if wavelen > low_freq_wavelen {
                            f / factor
                        } else {
                            let smooth = (original / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_round_trip_through_their_model_type() {
        for family in Family::ALL {
            assert_eq!(Family::from_model_type(family.model_type()), Some(family));
            let json = serde_json::to_string(&family).unwrap();
            assert_eq!(json, format!("\"{}\"", family.model_type()));
        }
        assert_eq!(Family::from_model_type("bloom"), None);
        assert!(Family::supported().contains("gpt_neox"));
    }

    #[test]
    fn activation_aliases_read_as_one_function() {
        for name in ["\"gelu_new\"", "\"gelu_pytorch_tanh\"", "\"gelu_fast\""] {
            let a: Activation = serde_json::from_str(name).unwrap();
            assert_eq!(a, Activation::GeluTanh);
        }
        let silu: Activation = serde_json::from_str("\"swish\"").unwrap();
        assert_eq!(silu.name(), "silu");
    }

    #[test]
    fn llama3_scaling_keeps_short_and_stretches_long_wavelengths() {
        let plain = Rotary {
            dims: 64,
            theta: 500_000.0,
            scaling: None,
        };
        let scaled = Rotary {
            scaling: Some(RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            }),
            ..plain.clone()
        };
        let (a, b) = (plain.inverse_frequencies(), scaled.inverse_frequencies());
        assert_eq!(a[0], b[0], "the shortest wavelength is kept");
        assert!(
            (a[31] / b[31] - 8.0).abs() < 1e-12,
            "the longest is stretched 8x"
        );
        assert!(a.iter().zip(&b).all(|(x, y)| y <= x && *y >= x / 8.0));
    }
}
