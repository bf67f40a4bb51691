//! The float types a model computes and stores weights in, and each of their spellings: the
//! flags' (`f32`, `f16`, `bf16`), the manifests' (`F32`, `F16`, `BF16`) and Hugging Face's
//! `config.json` (`float32`, `float16`, `bfloat16`).

use serde::{Deserialize, Serialize};

/// A float type to compute in or to store weights in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FloatType {
    /// 32-bit IEEE float.
    #[serde(rename = "F32")]
    F32,
    /// 16-bit IEEE float (OPT's released dtype).
    #[serde(rename = "F16")]
    F16,
    /// bfloat16 (8-bit exponent, 7-bit mantissa).
    #[serde(rename = "BF16")]
    Bf16,
}

impl FloatType {
    /// Every float type.
    pub const ALL: [FloatType; 3] = [Self::F32, Self::F16, Self::Bf16];

    /// The flag's spelling (`f32`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }

    /// The manifests' spelling (`F32`, `F16`, `BF16`).
    pub fn manifest_name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
        }
    }

    /// The spelling of `torch_dtype` in a Hugging Face `config.json`.
    pub fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
        }
    }

    /// Explicit mantissa bits.
    pub fn mantissa_bits(self) -> u32 {
        match self {
            Self::F32 => 23,
            Self::F16 => 10,
            Self::Bf16 => 7,
        }
    }

    /// The float type a flag names (`f32`, `f16`, `bf16`), if any.
    pub fn from_flag(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The float type a checkpoint declares in `config.json` (`torch_dtype`, or `dtype` as newer
    /// `transformers` write it) or a manifest records, in any of its spellings (`half` too), if
    /// it is one of ours.
    pub fn from_declared(name: &str) -> Option<Self> {
        if name == "half" {
            return Some(Self::F16);
        }
        Self::ALL
            .into_iter()
            .find(|f| [f.name(), f.manifest_name(), f.torch_name()].contains(&name))
    }

    /// Whether computing in this type is coarser than the `checkpoint`'s declared dtype.
    pub fn coarser_than_checkpoint(self, checkpoint: Option<&str>) -> bool {
        checkpoint
            .and_then(Self::from_declared)
            .is_some_and(|stored| self.mantissa_bits() < stored.mantissa_bits())
    }
}

impl std::fmt::Display for FloatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.manifest_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_names_its_type() {
        for float in FloatType::ALL {
            assert_eq!(FloatType::from_flag(float.name()), Some(float));
            for name in [float.name(), float.manifest_name(), float.torch_name()] {
                assert_eq!(FloatType::from_declared(name), Some(float));
            }
            let json = serde_json::to_string(&float).unwrap();
            assert_eq!(json, format!("\"{}\"", float.manifest_name()));
            assert_eq!(serde_json::from_str::<FloatType>(&json).unwrap(), float);
        }
        assert_eq!(FloatType::from_declared("half"), Some(FloatType::F16));
        assert_eq!(FloatType::from_flag("fp32"), None);
        assert_eq!(FloatType::from_declared("int8"), None);
    }

    #[test]
    fn coarser_compares_mantissas() {
        assert!(FloatType::Bf16.coarser_than_checkpoint(Some("float16")));
        assert!(FloatType::F16.coarser_than_checkpoint(Some("float32")));
        assert!(!FloatType::F16.coarser_than_checkpoint(Some("float16")));
        assert!(!FloatType::F32.coarser_than_checkpoint(Some("float16")));
        assert!(!FloatType::Bf16.coarser_than_checkpoint(None));
        assert!(!FloatType::Bf16.coarser_than_checkpoint(Some("auto")));
    }
}
