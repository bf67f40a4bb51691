//! Names of the floating-point dtypes the model computes and stores in, as flags spell them.

use burn::tensor::DType;

/// The names [`float_dtype`] accepts, for messages.
pub const FLOAT_DTYPE_NAMES: &str = "f32, f16 or bf16";

/// The dtype called `name` (`f32`, `f16` or `bf16`), if any.
pub fn float_dtype(name: &str) -> Option<DType> {
    match name {
        "f32" => Some(DType::F32),
        "f16" => Some(DType::F16),
        "bf16" => Some(DType::BF16),
        _ => None,
    }
}

/// The dtype a checkpoint declares in `config.json` (`torch_dtype`, or `dtype` as newer
/// `transformers` write it: `float32`, `float16`, `bfloat16`), if it is one of ours.
pub fn checkpoint_dtype(declared: &str) -> Option<DType> {
    match declared {
        "float32" | "f32" | "F32" => Some(DType::F32),
        "float16" | "f16" | "F16" | "half" => Some(DType::F16),
        "bfloat16" | "bf16" | "BF16" => Some(DType::BF16),
        _ => None,
    }
}

/// Explicit mantissa bits of a float dtype: the precision that decides whether a value near zero
/// keeps its sign (f32 23, f16 10, bf16 7).
pub fn mantissa_bits(dtype: DType) -> Option<u32> {
    match dtype {
        DType::F32 => Some(23),
        DType::F16 => Some(10),
        DType::BF16 => Some(7),
        _ => None,
    }
}

/// Whether computing in `run` (as a run manifest records it: `F32`, `F16`, `BF16`) is coarser
/// than the checkpoint's declared dtype.
pub fn coarser_than_checkpoint(run: &str, checkpoint: Option<&str>) -> bool {
    let bits = |name: &str| checkpoint_dtype(name).and_then(mantissa_bits);
    match (bits(run), checkpoint.and_then(bits)) {
        (Some(run), Some(stored)) => run < stored,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_coarser_than_its_checkpoint_is_recognised() {
        assert_eq!(checkpoint_dtype("float16"), Some(DType::F16));
        assert!(coarser_than_checkpoint("BF16", Some("float16")));
        assert!(coarser_than_checkpoint("F16", Some("float32")));
        assert!(!coarser_than_checkpoint("F16", Some("float16")));
        assert!(!coarser_than_checkpoint("F32", Some("float16")));
        assert!(!coarser_than_checkpoint("BF16", None));
    }

    #[test]
    fn names_map_to_dtypes() {
        assert_eq!(float_dtype("bf16"), Some(DType::BF16));
        assert_eq!(float_dtype("f16"), Some(DType::F16));
        assert_eq!(float_dtype("f32"), Some(DType::F32));
        assert_eq!(float_dtype("fp32"), None);
    }
}
