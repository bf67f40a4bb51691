//! Loading Hugging Face checkpoints into [`DecoderModel`] through burn-store.
//!
//! Names are mapped by the family's tensor table ([`crate::family::tensor_specs`]); every tensor
//! is checked against the config (name and shape) before any data is read; tensors are then read
//! one at a time, converted from PyTorch layout ([`PyTorchToBurnAdapter`], except for GPT-2's
//! `Conv1D` weights, stored as burn holds them) and cast to the compute dtype ([`CastAdapter`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::module::ParamId;
use burn::prelude::*;
use burn::tensor::DType;
use burn_store::{ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, TensorSnapshot};
use census_format::model::ModelConfig;

use crate::checkpoint::{CheckpointFiles, StoredTensor};
use crate::decoder::DecoderModel;
use crate::error::{ModelError, Result};
use crate::family::{NamePatterns, head_name, read_config, stores_inputs_first, tensor_specs};
use crate::layer::DecoderLayer;

/// Casts floating-point tensors to the compute dtype while they are read.
#[derive(Debug, Clone)]
pub struct CastAdapter {
    target: DType,
}

impl CastAdapter {
    /// An adapter that casts to `target`.
    pub fn new(target: DType) -> Self {
        Self { target }
    }
}

impl ModuleAdapter for CastAdapter {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        if !snapshot.dtype.is_float() || snapshot.dtype == self.target {
            return snapshot.clone();
        }
        let read = snapshot.clone_data_fn();
        let target = self.target;
        TensorSnapshot::from_closure(
            Rc::new(move || Ok(read()?.convert_dtype(target))),
            target,
            snapshot.shape.clone(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Reads `config.json` and the checkpoint in `dir`, and builds the model on `device` in `dtype`.
pub fn load_pretrained<B: Backend>(
    dir: impl AsRef<Path>,
    device: &B::Device,
    dtype: DType,
) -> Result<DecoderModel<B>> {
    let dir = dir.as_ref();
    let config = read_config(dir.join("config.json"))?;
    load_checkpoint(dir, &config, device, dtype)
}

/// Loads the checkpoint in `dir` into a model shaped by `config`, in compute dtype `dtype`.
///
/// Errors name the tensor and file for a missing, unexpected, mis-shaped or unreadable tensor.
pub fn load_checkpoint<B: Backend>(
    dir: impl AsRef<Path>,
    config: &ModelConfig,
    device: &B::Device,
    dtype: DType,
) -> Result<DecoderModel<B>> {
    CheckpointPlan::open(dir, config)?.load_model(device, dtype)
}

/// A checkpoint checked against a config (every tensor's name and shape, before any data is
/// read), ready to load whole, or piece by piece for layer streaming.
pub struct CheckpointPlan {
    dir: PathBuf,
    config: ModelConfig,
    files: usize,
    /// Parameter path in [`DecoderModel`] → the stored tensor that fills it.
    entries: Vec<(String, StoredTensor)>,
}

impl std::fmt::Debug for CheckpointPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointPlan")
            .field("dir", &self.dir)
            .field("tensors", &self.entries.len())
            .finish()
    }
}

impl CheckpointPlan {
    /// Finds and indexes the checkpoint in `dir` and checks it against `config`.
    pub fn open(dir: impl AsRef<Path>, config: &ModelConfig) -> Result<Self> {
        let dir = dir.as_ref();
        crate::family::check_config(config, &dir.display().to_string())?;
        let files = CheckpointFiles::discover(dir)?;
        let stored = files.index()?;
        let entries = plan_loading(config, &stored, dir)?
            .into_iter()
            .map(|(path, tensor)| (path, tensor.clone()))
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            config: config.clone(),
            files: files.paths().len(),
            entries,
        })
    }

    /// The config the checkpoint was checked against.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The whole model.
    pub fn load_model<B: Backend>(
        &self,
        device: &B::Device,
        dtype: DType,
    ) -> Result<DecoderModel<B>> {
        let _span = tracing::info_span!("load_checkpoint", dir = %self.dir.display()).entered();
        let mut model = DecoderModel::<B>::new(&self.config, device);
        let applied = self.apply(&mut model, &|path| Some(path.to_string()), dtype)?;
        tracing::info!(
            tensors = applied,
            files = self.files,
            ?dtype,
            "checkpoint loaded"
        );
        Ok(model)
    }

    /// The model without its decoder layers: embeddings, projections and final LayerNorm, for
    /// [`DecoderModel::embed`] and [`DecoderModel::logits`] while the layers are streamed.
    pub fn load_embeddings<B: Backend>(
        &self,
        device: &B::Device,
        dtype: DType,
    ) -> Result<DecoderModel<B>> {
        let mut model = DecoderModel::<B>::without_layers(&self.config, device);
        let outside_layers = |path: &str| (!path.starts_with("layers.")).then(|| path.to_string());
        self.apply(&mut model, &outside_layers, dtype)?;
        Ok(model)
    }

    /// What feeds the first layer and follows the last, without a separate LM head: for
    /// extraction, which runs the layers elsewhere and never computes logits (an untied head
    /// is a vocabulary-sized matrix: 524 MB in f32 for Mistral-7B).
    pub fn load_inputs<B: Backend>(
        &self,
        device: &B::Device,
        dtype: DType,
    ) -> Result<DecoderModel<B>> {
        let mut model = DecoderModel::<B>::without_layers_or_head(&self.config, device);
        let inputs = |path: &str| {
            (!path.starts_with("layers.") && !path.starts_with("lm_head."))
                .then(|| path.to_string())
        };
        self.apply(&mut model, &inputs, dtype)?;
        Ok(model)
    }

    /// Decoder layer `layer` alone.
    pub fn load_layer<B: Backend>(
        &self,
        layer: usize,
        device: &B::Device,
        dtype: DType,
    ) -> Result<DecoderLayer<B>> {
        if layer >= self.config.num_hidden_layers {
            return Err(ModelError::LayerOutOfRange {
                layer,
                layers: self.config.num_hidden_layers,
            });
        }
        let mut module = DecoderLayer::<B>::new(&self.config, device);
        let prefix = format!("layers.{layer}.");
        let in_layer = |path: &str| path.strip_prefix(prefix.as_str()).map(str::to_string);
        self.apply(&mut module, &in_layer, dtype)?;
        Ok(module)
    }

    /// The stored tensor that fills parameter `path` (as [`DecoderModel`] names it, e.g.
    /// `layers.3.ffn.fc1.weight`), with its shape in PyTorch layout.
    pub fn stored(&self, path: &str) -> Result<&StoredTensor> {
        self.entries
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, tensor)| tensor)
            .ok_or_else(|| ModelError::MissingTensor {
                tensor: path.to_string(),
                location: self.dir.clone(),
            })
    }

    /// [`CheckpointPlan::stored`] read now as `f32`, in its stored (PyTorch) layout.
    pub fn read_f32(&self, path: &str) -> Result<Vec<f32>> {
        let tensor = self.stored(path)?;
        let mut out = vec![0.0; tensor.shape.iter().product()];
        tensor.read_f32_into(&mut out)?;
        Ok(out)
    }

    /// Applies to `module` the entries `select` maps to one of its parameter paths; returns how
    /// many applied.
    fn apply<B: Backend, M: ModuleSnapshot<B>>(
        &self,
        module: &mut M,
        select: &dyn Fn(&str) -> Option<String>,
        dtype: DType,
    ) -> Result<usize> {
        if !dtype.is_float() {
            return Err(ModelError::NotAFloatType(dtype));
        }
        let mut origin: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
        let snapshots: Vec<TensorSnapshot> = self
            .entries
            .iter()
            .filter_map(|(path, tensor)| select(path).map(|p| (p, tensor)))
            .map(|(path, tensor)| {
                origin.insert(path.clone(), (tensor.name.clone(), tensor.file.clone()));
                TensorSnapshot::from_closure(
                    tensor.reader(),
                    tensor.dtype,
                    tensor.shape.clone().into(),
                    path.split('.').map(str::to_string).collect(),
                    Vec::new(),
                    ParamId::new(),
                )
            })
            .collect();
        let cast = CastAdapter::new(dtype);
        let adapter: Box<dyn ModuleAdapter> = if stores_inputs_first(self.config.model_type) {
            Box::new(cast)
        } else {
            Box::new(PyTorchToBurnAdapter.chain(cast))
        };
        let result = module.apply(snapshots, None, Some(adapter), false);
        if let Some(error) = result.errors.first() {
            let path = match error {
                burn_store::ApplyError::ShapeMismatch { path, .. }
                | burn_store::ApplyError::DTypeMismatch { path, .. }
                | burn_store::ApplyError::AdapterError { path, .. }
                | burn_store::ApplyError::LoadError { path, .. } => path,
            };
            let (tensor, file) = origin
                .get(path)
                .cloned()
                .unwrap_or_else(|| (path.clone(), self.dir.clone()));
            return Err(ModelError::TensorData {
                tensor,
                path: file,
                reason: error.to_string(),
            });
        }
        if let Some((path, _)) = result.missing.first() {
            return Err(ModelError::MissingTensor {
                tensor: path.clone(),
                location: self.dir.clone(),
            });
        }
        if let Some(path) = result.unused.first() {
            let (tensor, file) = origin[path].clone();
            return Err(ModelError::UnexpectedTensor { tensor, path: file });
        }
        Ok(result.applied.len())
    }
}

/// Pairs every parameter the config implies with the stored tensor that fills it, checking names
/// and shapes before any data is read.
fn plan_loading<'a>(
    config: &ModelConfig,
    stored: &'a [StoredTensor],
    dir: &Path,
) -> Result<Vec<(String, &'a StoredTensor)>> {
    let specs = tensor_specs(config);
    let patterns = NamePatterns::of(config.model_type);
    let head = head_name(config.model_type);
    let by_name: BTreeMap<&str, &crate::family::TensorSpec> = specs
        .iter()
        .map(|spec| (spec.name.as_str(), spec))
        .collect();
    let mut found: BTreeMap<&str, &StoredTensor> = BTreeMap::new();
    for tensor in stored {
        let stripped = patterns.strip(&tensor.name);
        if patterns.is_ignored(stripped) {
            continue;
        }
        if config.tie_word_embeddings && stripped == head {
            let embed = [config.vocab_size, config.embed_dim()];
            if tensor.shape != embed {
                return Err(ModelError::ShapeMismatch {
                    tensor: tensor.name.clone(),
                    path: tensor.file.clone(),
                    expected: embed.to_vec(),
                    found: tensor.shape.clone(),
                });
            }
            continue;
        }
        match by_name.get(stripped) {
            Some(_) if !tensor.dtype.is_float() => {
                return Err(ModelError::TensorData {
                    tensor: tensor.name.clone(),
                    path: tensor.file.clone(),
                    reason: format!("unsupported dtype {:?} for a weight", tensor.dtype),
                });
            }
            Some(spec) if spec.shape == tensor.shape => {
                found.insert(spec.name.as_str(), tensor);
            }
            Some(spec) => {
                return Err(ModelError::ShapeMismatch {
                    tensor: tensor.name.clone(),
                    path: tensor.file.clone(),
                    expected: spec.shape.clone(),
                    found: tensor.shape.clone(),
                });
            }
            None => {
                return Err(ModelError::UnexpectedTensor {
                    tensor: tensor.name.clone(),
                    path: tensor.file.clone(),
                });
            }
        }
    }
    // Report the first missing tensor in model order.
    let mut plan = Vec::with_capacity(specs.len());
    for spec in &specs {
        match found.get(spec.name.as_str()) {
            Some(tensor) => plan.push((spec.param.clone(), *tensor)),
            None => {
                return Err(ModelError::MissingTensor {
                    tensor: spec.name.clone(),
                    location: dir.to_path_buf(),
                });
            }
        }
    }
    Ok(plan)
}
