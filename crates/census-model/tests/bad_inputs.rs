//! Contract tests: every bad checkpoint, config or input gives an error that names the file and
//! the tensor or value at fault.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::DType;
use census_format::model::ModelConfig;
use census_model::{
    CpuBackend, DecoderModel, ForwardOptions, ModelError, TokenBatch, load_checkpoint,
    load_pretrained,
};
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

type B = CpuBackend;

/// Copies a fixture into a fresh temporary directory.
fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(common::model_dir(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    (tmp, dir)
}

fn load(dir: &Path) -> Result<DecoderModel<B>, ModelError> {
    load_pretrained::<B>(dir, &Default::default(), DType::F32)
}

/// Rewrites `model.safetensors` through `edit`, which receives the tensors by name.
fn rewrite_safetensors(
    dir: &Path,
    edit: impl FnOnce(&mut HashMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)>),
) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(k, (dtype, shape, data))| {
            (
                k.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
}

#[test]
fn missing_config_names_the_file() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn malformed_config_names_the_file() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": \"wide\"}").unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::InvalidConfig { .. }), "{err}");
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": 3").unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::Json { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn config_contradicting_the_weights_is_a_shape_error() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    let config = ModelConfig {
        ffn_dim: 96,
        ..census_model::family::read_config(dir.join("config.json")).unwrap()
    };
    let err = load_checkpoint::<B>(&dir, &config, &Default::default(), DType::F32).unwrap_err();
    let ModelError::ShapeMismatch {
        tensor,
        path,
        expected,
        found,
    } = &err
    else {
        panic!("expected a shape mismatch, got {err}");
    };
    assert!(tensor.contains("fc"), "{err}");
    assert!(path.ends_with("model.safetensors"), "{err}");
    assert_ne!(expected, found);
    assert!(
        err.to_string().contains("does not match the weights"),
        "{err}"
    );
}

#[test]
fn post_ln_config_on_pre_ln_weights_is_rejected() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    let config = ModelConfig {
        word_embed_proj_dim: Some(16),
        ..census_model::family::read_config(dir.join("config.json")).unwrap()
    };
    let err = load_checkpoint::<B>(&dir, &config, &Default::default(), DType::F32).unwrap_err();
    assert!(err.to_string().contains("embed_tokens.weight"), "{err}");
}

#[test]
fn missing_tensor_is_named() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    rewrite_safetensors(&dir, |t| {
        t.remove("model.decoder.layers.1.fc2.bias").unwrap();
    });
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");
    assert!(err.to_string().contains("layers.1.fc2.bias"), "{err}");
}

#[test]
fn extra_tensor_is_named() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    rewrite_safetensors(&dir, |t| {
        let bias = t["model.decoder.layers.0.fc1.bias"].clone();
        t.insert("model.decoder.layers.0.fc3.bias".to_string(), bias);
    });
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::UnexpectedTensor { .. }), "{err}");
    assert!(err.to_string().contains("layers.0.fc3.bias"), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn tied_lm_head_in_the_file_is_accepted() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    rewrite_safetensors(&dir, |t| {
        let embed = t["model.decoder.embed_tokens.weight"].clone();
        t.insert("lm_head.weight".to_string(), embed);
    });
    load(&dir).unwrap();
}

#[test]
fn truncated_safetensors_names_file_and_tensor() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::TensorData { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn garbage_safetensors_is_corrupt() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    std::fs::write(
        dir.join("model.safetensors"),
        b"this is not a checkpoint at all",
    )
    .unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::CorruptCheckpoint { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn truncated_pytorch_bin_is_corrupt() {
    let (_tmp, dir) = copy_fixture("bin");
    let path = dir.join("pytorch_model.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::CorruptCheckpoint { .. } | ModelError::TensorData { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}

#[test]
fn missing_shard_is_named() {
    let (_tmp, dir) = copy_fixture("sharded");
    std::fs::remove_file(dir.join("model-00002-of-00003.safetensors")).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(
        err.to_string().contains("model-00002-of-00003.safetensors"),
        "{err}"
    );
}

#[test]
fn directory_without_weights_is_reported() {
    let (_tmp, dir) = copy_fixture("pre-ln");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, ModelError::NoCheckpoint { .. }), "{err}");
}

#[test]
fn non_float_compute_dtype_is_rejected() {
    let err = load_pretrained::<B>(common::model_dir("pre-ln"), &Default::default(), DType::I32)
        .unwrap_err();
    assert!(err.to_string().contains("not a floating-point"), "{err}");
}

#[test]
fn too_long_sequence_and_out_of_vocab_ids_are_input_errors() {
    let device = Default::default();
    let model = load(&common::model_dir("pre-ln")).unwrap();
    let config = model.config().clone();
    let long = vec![vec![5u32; config.max_position_embeddings + 1]];
    let batch = TokenBatch::<B>::left_padded(&long, 1, config.vocab_size, &device).unwrap();
    let err = model
        .forward(&batch, &ForwardOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("exceeds the model's 48 positions"),
        "{err}"
    );

    let bad = vec![vec![2u32, config.vocab_size as u32]];
    let err = TokenBatch::<B>::left_padded(&bad, 1, config.vocab_size, &device).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Batch(census_model::BatchError::TokenOutOfVocabulary { row: 0, .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("outside the model's vocabulary"),
        "{err}"
    );

    let err = TokenBatch::<B>::left_padded(&[], 1, config.vocab_size, &device).unwrap_err();
    assert!(
        matches!(err, ModelError::Batch(census_model::BatchError::Empty)),
        "{err}"
    );
}

#[test]
fn impossible_forward_options_are_rejected() {
    let device = Default::default();
    let model = load(&common::model_dir("pre-ln")).unwrap();
    let batch = TokenBatch::<B>::left_padded(&[vec![2, 5, 6]], 1, 520, &device).unwrap();
    let beyond = ForwardOptions {
        last_layer: Some(2),
        ..Default::default()
    };
    assert!(model.forward(&batch, &beyond).is_err());
    let logits_early = ForwardOptions {
        last_layer: Some(0),
        logits: true,
        ..Default::default()
    };
    let err = model.forward(&batch, &logits_early).unwrap_err();
    assert!(err.to_string().contains("logits need every layer"), "{err}");
}

#[test]
fn weights_holding_nan_or_infinity_are_refused_naming_the_tensor() {
    let name = "model.decoder.layers.1.fc1.weight";
    for (label, bits) in [("NaN", 0x7fc0_0000u32), ("infinity", 0xff80_0000u32)] {
        let (_tmp, dir) = copy_fixture("pre-ln");
        rewrite_safetensors(&dir, |t| {
            let (dtype, _, data) = t.get_mut(name).unwrap();
            assert_eq!(*dtype, safetensors::Dtype::F32);
            data[40..44].copy_from_slice(&bits.to_le_bytes());
        });
        let err = load(&dir).unwrap_err().to_string();
        assert!(
            err.contains(name)
                && err.contains("model.safetensors")
                && err.contains("NaN or infinity (first at element 10)"),
            "{label}: {err}"
        );
        // The host engine reads f32 weights straight from the file: refused there too.
        let plan = census_model::loader::CheckpointPlan::open(
            &dir,
            &census_model::family::read_config(dir.join("config.json")).unwrap(),
        )
        .unwrap();
        let err = plan
            .read_f32("layers.1.ffn.fc1.weight")
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains("NaN"), "{label}: {err}");
    }
}

#[test]
fn non_finite_values_are_found_in_every_float_dtype() {
    use census_model::checkpoint::refuse_non_finite;
    let f16 = |x: f32| half::f16::from_f32(x).to_bits().to_le_bytes();
    let bf16 = |x: f32| half::bf16::from_f32(x).to_bits().to_le_bytes();
    let finite = [1.0f32, -65504.0, 0.0, 1e-7];
    let ok16: Vec<u8> = finite.iter().flat_map(|&x| f16(x)).collect();
    refuse_non_finite(&ok16, DType::F16).unwrap();
    let okb: Vec<u8> = finite.iter().flat_map(|&x| bf16(x)).collect();
    refuse_non_finite(&okb, DType::BF16).unwrap();
    let ok64: Vec<u8> = [1.0f64, -1e300]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    refuse_non_finite(&ok64, DType::F64).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let values = [1.0f32, 2.0, bad];
        let b16: Vec<u8> = values.iter().flat_map(|&x| f16(x)).collect();
        let e = refuse_non_finite(&b16, DType::F16).unwrap_err();
        assert!(e.contains("element 2"), "{e}");
        let bb: Vec<u8> = values.iter().flat_map(|&x| bf16(x)).collect();
        assert!(refuse_non_finite(&bb, DType::BF16).is_err());
        let b32: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert!(refuse_non_finite(&b32, DType::F32).is_err());
        let b64: Vec<u8> = values
            .iter()
            .flat_map(|&x| (x as f64).to_le_bytes())
            .collect();
        assert!(refuse_non_finite(&b64, DType::F64).is_err());
    }
}

/// Buffers older checkpoints saved beside the weights (GPT-NeoX's boolean causal masks and
/// rotary frequencies) are skipped: the model loads and computes as without them. A boolean
/// tensor where a weight belongs is refused, naming it.
#[test]
fn buffers_of_older_checkpoints_are_skipped_and_non_float_weights_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pythia");
    census_testkit::copy_dir(&census_testkit::family_fixture("pythia-serial"), &dir);
    let device = Default::default();
    let batch = TokenBatch::<B>::left_padded(&[vec![5, 6, 7, 8]], 0, 512, &device).unwrap();
    let before = load(&dir)
        .unwrap()
        .forward_pre_activations(&batch, None)
        .unwrap();
    rewrite_safetensors(&dir, |tensors| {
        for layer in 0..2 {
            let prefix = format!("gpt_neox.layers.{layer}.attention");
            tensors.insert(
                format!("{prefix}.bias"),
                (safetensors::Dtype::BOOL, vec![1, 1, 4, 4], vec![1; 16]),
            );
            tensors.insert(
                format!("{prefix}.rotary_emb.inv_freq"),
                (safetensors::Dtype::F32, vec![2], vec![0; 8]),
            );
        }
    });
    let after = load(&dir)
        .unwrap()
        .forward_pre_activations(&batch, None)
        .unwrap();
    for (a, b) in before.into_iter().zip(after) {
        assert_eq!(a.into_data(), b.into_data());
    }
    rewrite_safetensors(&dir, |tensors| {
        let (_, shape, data) = tensors.remove("gpt_neox.final_layer_norm.weight").unwrap();
        let bools = vec![1u8; data.len() / 4];
        tensors.insert(
            "gpt_neox.final_layer_norm.weight".to_string(),
            (safetensors::Dtype::BOOL, shape, bools),
        );
    });
    let err = load(&dir).unwrap_err().to_string();
    assert!(
        err.contains("final_layer_norm.weight") && err.contains("unsupported dtype"),
        "{err}"
    );
}
