//! The burn dtype of each float type ([`FloatType`], owned by census-format with its spellings).

use burn::tensor::DType;
use census_format::model::FloatType;

/// The tensor dtype of `float`.
pub fn burn_dtype(float: FloatType) -> DType {
    match float {
        FloatType::F32 => DType::F32,
        FloatType::F16 => DType::F16,
        FloatType::Bf16 => DType::BF16,
    }
}

/// The float type of tensor dtype `dtype`, if it is one of ours.
pub fn float_type(dtype: DType) -> Option<FloatType> {
    FloatType::ALL
        .into_iter()
        .find(|&float| burn_dtype(float) == dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_round_trip() {
        for float in FloatType::ALL {
            assert_eq!(float_type(burn_dtype(float)), Some(float));
        }
        assert_eq!(float_type(DType::F64), None);
    }
}
