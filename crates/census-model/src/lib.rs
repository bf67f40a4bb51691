//! Meta's OPT decoder family (125m to 66b, including the post-LN 350m) in burn, built for
//! counting FFN neurons: the forward pass returns, per layer, the fc1 pre-activations or the
//! fired mask (ReLU output > 0), can stop after any layer, and computes the tied LM head only
//! when asked.
//!
//! - [`OptConfig`]: hyper-parameters from a Hugging Face `config.json` or a named preset.
//! - [`OptModel`]: the decoder; [`OptDecoderLayer`] runs one layer on given hidden states.
//! - [`load_pretrained`] / [`load_checkpoint`]: safetensors (single or sharded) and
//!   `pytorch_model.bin` (single or sharded), f32/f16/bf16, cast to a chosen compute dtype.
//! - [`save_pretrained`]: writes a model in the Hugging Face layout (for models trained here).
//! - [`checkpoint_series`]: the checkpoints of a training run (`checkpoint-<step>/`), in step order.
//! - [`OptTokenizer`]: byte-level BPE with `</s>` prepended, as Hugging Face does.
//! - [`host`]: the host engine, the decoder layers on the CPU in f32 straight on the `gemm`
//!   kernels, doing only the work extraction needs (the fastest path on CPUs).

mod attention;
mod batch;
pub mod checkpoint;
mod choices;
pub mod config;
mod decoder;
mod dtype;
mod error;
mod ffn;
pub mod fired;
pub mod host;
pub mod hub;
mod layer;
pub mod loader;
mod saver;
pub mod series;
mod tokenizer;
mod vocab_projection;
pub mod weights;

pub use attention::OptAttention;
pub use batch::{OptBatch, POSITION_OFFSET};
pub use choices::{BackendJob, Device, FloatType, UnavailableDevice};
pub use config::{OptConfig, PRESET_NAMES};
pub use decoder::{ForwardOptions, LayerActivity, OptModel, OptOutput, Record};
pub use dtype::{checkpoint_dtype, float_dtype};
pub use error::{ModelError, Result};
pub use ffn::OptFeedForward;
pub use fired::FiredNeurons;
pub use hub::{HubOptions, ModelSpec};
pub use layer::{LayerOutput, OptDecoderLayer};
pub use loader::{CheckpointPlan, load_checkpoint, load_pretrained};
pub use saver::save_pretrained;
pub use series::{SeriesCheckpoint, checkpoint_series};
pub use tokenizer::{BOS_TOKEN, OptTokenizer, SPECIAL_TOKENS};
pub use weights::{LayerWeight, Part};

/// The CPU backend used by tests, examples and the default pipeline.
pub type CpuBackend = burn::backend::Flex;

/// The CUDA backend (with the `cuda` feature).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;
