//! Helpers shared by the integration tests: fixture paths and golden tensors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use census_testkit::golden::{GoldenTensor, read_tensors};

/// The committed default model (`data/model`), compared against its goldens under this name.
pub const DEFAULT_MODEL: &str = "default-model";

/// One model fixture directory (for [`DEFAULT_MODEL`], `data/model`).
pub fn model_dir(name: &str) -> PathBuf {
    if name == DEFAULT_MODEL {
        return census_testkit::fixtures_dir().join("../../data/model");
    }
    census_testkit::fixtures_dir().join("opt").join(name)
}

/// Where a model's `golden.safetensors` is.
pub fn golden_dir(name: &str) -> PathBuf {
    if name == DEFAULT_MODEL {
        return census_testkit::fixtures_dir().join("golden").join(name);
    }
    model_dir(name)
}

/// Reads every tensor of a fixture's `golden.safetensors`.
pub fn goldens(name: &str) -> HashMap<String, GoldenTensor> {
    read_tensors(&golden_dir(name))
}

/// One fixture of another family (`tests/fixtures/families/<name>`).
pub fn family_dir(name: &str) -> PathBuf {
    census_testkit::fixtures_dir().join("families").join(name)
}

/// Names of the batches in a golden file (`plain`, `padded`, `full`).
pub fn batch_names(goldens: &HashMap<String, GoldenTensor>) -> Vec<String> {
    let mut names: Vec<String> = goldens
        .keys()
        .filter_map(|k| k.strip_suffix(".input_ids").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// A golden `[rows, width]` integer tensor (ids or a mask) on `device`.
pub fn int_tensor(
    g: &GoldenTensor,
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

/// The logits `head` computes from the host engine's residual stream after the last layer.
pub fn host_logits(
    head: &census_model::DecoderModel<census_model::CpuBackend>,
    states: census_model::host::HostStates,
) -> Vec<f64> {
    let width = states.hidden.len() / states.rows.tokens().max(1);
    let hidden = burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(states.hidden, [states.rows.batch, states.rows.seq, width]),
        &Default::default(),
    );
    floats(head.logits(hidden))
}
