//! Helpers shared by the integration tests: fixture paths and golden tensors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};

/// `tests/fixtures` at the workspace root.
pub fn fixtures() -> PathBuf {
    census_testkit::fixtures_dir()
}

/// The committed default model (`data/model`), compared against its goldens under this name.
pub const DEFAULT_MODEL: &str = "default-model";

/// One model fixture directory (for [`DEFAULT_MODEL`], `data/model`).
pub fn model_dir(name: &str) -> PathBuf {
    if name == DEFAULT_MODEL {
        return fixtures().join("../../data/model");
    }
    fixtures().join("opt").join(name)
}

/// Where a model's `golden.safetensors` is.
pub fn golden_dir(name: &str) -> PathBuf {
    if name == DEFAULT_MODEL {
        return fixtures().join("golden").join(name);
    }
    model_dir(name)
}

/// A golden tensor: shape and values (integers widened to f64 for uniform handling).
#[derive(Debug, Clone)]
pub struct Golden {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// Reads every tensor of a fixture's `golden.safetensors`.
pub fn goldens(name: &str) -> HashMap<String, Golden> {
    goldens_in(&golden_dir(name))
}

/// One fixture of another family (`tests/fixtures/families/<name>`).
pub fn family_dir(name: &str) -> PathBuf {
    fixtures().join("families").join(name)
}

/// Reads every tensor of the `golden.safetensors` in `dir`.
pub fn goldens_in(dir: &std::path::Path) -> HashMap<String, Golden> {
    let bytes = std::fs::read(dir.join("golden.safetensors")).expect("golden file");
    let file = SafeTensors::deserialize(&bytes).expect("valid golden file");
    file.tensors()
        .into_iter()
        .map(|(key, view)| {
            let data = view.data();
            let values: Vec<f64> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("unexpected golden dtype {other:?} for {key}"),
            };
            let golden = Golden {
                shape: view.shape().to_vec(),
                values,
            };
            (key, golden)
        })
        .collect()
}

/// Names of the batches in a golden file (`plain`, `padded`, `full`).
pub fn batch_names(goldens: &HashMap<String, Golden>) -> Vec<String> {
    let mut names: Vec<String> = goldens
        .keys()
        .filter_map(|k| k.strip_suffix(".input_ids").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// A golden `[rows, width]` integer tensor (ids or a mask) on `device`.
pub fn int_tensor(
    g: &Golden,
    device: &burn::tensor::Device<census_model::CpuBackend>,
) -> burn::tensor::Tensor<census_model::CpuBackend, 2, burn::tensor::Int> {
    let values: Vec<i64> = g.values.iter().map(|&v| v as i64).collect();
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(values, [g.shape[0], g.shape[1]]),
        device,
    )
}

/// A float tensor's values as `f64`.
pub fn floats<const D: usize>(t: burn::tensor::Tensor<census_model::CpuBackend, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}
