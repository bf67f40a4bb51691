//! Saving an OPT [`DecoderModel`] in the Hugging Face layout (`config.json` + `model.safetensors`), so a
//! model trained here loads through exactly the path released checkpoints take, and in
//! `transformers`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;
use burn_store::{BurnToPyTorchAdapter, ModuleAdapter, ModuleSnapshot};
use census_format::model::{Family, FloatType};

use crate::decoder::DecoderModel;
use crate::error::{ModelError, Result, SaveError};
use crate::family::tensor_specs;

/// The prefix `transformers` writes before decoder tensor names.
const SAVED_PREFIX: &str = "model.decoder.";

/// Writes `config.json` (the model's config, `model_type: opt`, and `extra` fields) and
/// `model.safetensors` (every parameter, in PyTorch layout, cast to `dtype`; the LM head is tied
/// and not written) into `dir`. Each file is written under a temporary name and renamed.
pub fn save_pretrained<B: Backend>(
    model: &DecoderModel<B>,
    dir: impl AsRef<Path>,
    dtype: DType,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let dir = dir.as_ref();
    let family = model.config().model_type;
    if family != Family::Opt {
        return Err(SaveError::Family(family).into());
    }
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    write_config(model, dir, dtype, extra)?;
    write_weights(model, &dir.join("model.safetensors"), dtype)
}

/// The `torch_dtype` name of a dtype.
fn torch_dtype_name(dtype: DType) -> Result<&'static str> {
    crate::dtype::float_type(dtype)
        .map(FloatType::torch_name)
        .ok_or(ModelError::NotAFloatType(dtype))
}

fn write_config<B: Backend>(
    model: &DecoderModel<B>,
    dir: &Path,
    dtype: DType,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let mut config = model.config().clone();
    config.dtype = Some(torch_dtype_name(dtype)?.to_string());
    let path = dir.join("config.json");
    let config_error = |source| SaveError::Config {
        path: path.clone(),
        source,
    };
    let serde_json::Value::Object(mut fields) =
        serde_json::to_value(&config).map_err(config_error)?
    else {
        unreachable!("a struct serializes to an object")
    };
    fields.insert("model_type".into(), "opt".into());
    fields.insert(
        "architectures".into(),
        serde_json::json!(["OPTForCausalLM"]),
    );
    fields.insert("tie_word_embeddings".into(), true.into());
    for key in ["dropout", "attention_dropout", "layerdrop"] {
        fields.insert(key.into(), 0.0.into());
    }
    for (key, value) in extra {
        fields.insert(key.clone(), value.clone());
    }
    let text =
        serde_json::to_string_pretty(&serde_json::Value::Object(fields)).map_err(config_error)?;
    write_atomically(&path, text.as_bytes())
}

fn write_weights<B: Backend>(model: &DecoderModel<B>, path: &Path, dtype: DType) -> Result<()> {
    let names: BTreeMap<String, String> = tensor_specs(model.config())
        .into_iter()
        .map(|spec| (spec.param, spec.name))
        .collect();
    let adapter = BurnToPyTorchAdapter;
    let mut tensors = BTreeMap::new();
    for snapshot in model.collect(None, None, false) {
        let snapshot = adapter.adapt(&snapshot);
        let param = snapshot.full_path();
        let name = names
            .get(&param)
            .cloned()
            .ok_or_else(|| SaveError::UnnamedParameter(param.clone()))?;
        let data = snapshot
            .to_data()
            .map_err(|e| SaveError::ParameterData {
                name: name.clone(),
                reason: format!("{e:?}"),
            })?
            .convert_dtype(dtype);
        crate::checkpoint::refuse_non_finite(data.as_bytes(), data.dtype).map_err(|reason| {
            SaveError::NonFinite {
                name: name.clone(),
                reason,
                path: path.to_path_buf(),
            }
        })?;
        tensors.insert(format!("{SAVED_PREFIX}{name}"), data);
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, data)| {
            let dtype = match data.dtype {
                DType::F32 => safetensors::Dtype::F32,
                DType::F16 => safetensors::Dtype::F16,
                _ => safetensors::Dtype::BF16,
            };
            let view =
                safetensors::tensor::TensorView::new(dtype, data.shape.to_vec(), data.as_bytes())
                    .expect("shape and bytes agree");
            (name.clone(), view)
        })
        .collect();
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    let bytes = safetensors::serialize(views, metadata).map_err(|source| SaveError::Weights {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to `path` whole or not at all ([`census_format::write_atomic`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    census_format::write_atomic(path, bytes).map_err(|source| SaveError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;
    use census_format::model::ModelConfig;

    /// The saver writes every weight under the Hugging Face name the loader's table expects
    /// (one table for both directions), for pre-LN and post-LN models with and without biases.
    #[test]
    fn saved_names_are_the_expected_hugging_face_names() {
        let small = |do_layer_norm_before: bool, enable_bias: bool| ModelConfig {
            vocab_size: 64,
            hidden_size: 16,
            num_hidden_layers: 2,
            ffn_dim: 32,
            num_attention_heads: 2,
            max_position_embeddings: 32,
            word_embed_proj_dim: Some(if do_layer_norm_before { 16 } else { 8 }),
            do_layer_norm_before,
            enable_bias,
            ..ModelConfig::default()
        };
        for config in [small(true, true), small(false, true), small(true, false)] {
            let model = DecoderModel::<CpuBackend>::new(&config, &Default::default());
            let dir = tempfile::tempdir().unwrap();
            save_pretrained(&model, dir.path(), DType::F32, &Default::default()).unwrap();
            let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
            let saved = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut names: Vec<String> = saved.names().into_iter().map(str::to_string).collect();
            names.sort();
            let mut expected: Vec<String> = tensor_specs(&config)
                .into_iter()
                .map(|spec| format!("{SAVED_PREFIX}{}", spec.name))
                .collect();
            expected.sort();
            assert_eq!(names, expected, "{config:?}");
        }
    }
}
