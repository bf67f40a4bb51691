//! Names of the floating-point dtypes the model computes and stores in, as flags spell them.

use burn::tensor::DType;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_dtypes() {
        assert_eq!(float_dtype("bf16"), Some(DType::BF16));
        assert_eq!(float_dtype("f16"), Some(DType::F16));
        assert_eq!(float_dtype("f32"), Some(DType::F32));
        assert_eq!(float_dtype("fp32"), None);
    }
}
