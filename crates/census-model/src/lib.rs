//! Decoder families in burn (OPT 125m–66b including the post-LN 350m, GPT-2, GPT-NeoX/Pythia,
//! Llama, Qwen2, Mistral), built for counting FFN neurons: the forward pass returns, per layer,
//! the activation's inputs (fc1 or gate outputs) or the fired mask (input > 0), can stop after
//! any layer, and computes the LM head only when asked.
//!
//! - [`family`]: each family's `config.json` (read into one
//!   [`census_format::model::ModelConfig`]) and its table of checkpoint tensors.
//! - [`presets`]: the shapes of released models by name.
//! - [`DecoderModel`]: the decoder; [`DecoderLayer`] runs one layer on given hidden states.
//! - [`load_pretrained`] / [`load_checkpoint`]: safetensors (single or sharded) and
//!   `pytorch_model.bin` (single or sharded), f32/f16/bf16, cast to a chosen compute dtype.
//! - [`save_pretrained`]: writes an OPT model in the Hugging Face layout (for models trained here).
//! - [`checkpoint_series`]: the checkpoints of a training run (`checkpoint-<step>/`), in step order.
//! - [`ModelTokenizer`]: each family's tokenizer, giving exactly Hugging Face's ids.
//! - [`host`]: the host engine, every family's decoder layers on the CPU in f32 straight on the
//!   `gemm` kernels, doing only the work extraction needs (the fastest path on CPUs).

mod attention;
mod batch;
pub mod checkpoint;
mod choices;
mod decoder;
mod device_set;
mod dtype;
mod error;
pub mod family;
mod ffn;
pub mod fired;
pub mod host;
pub mod hub;
pub mod hub_dataset;
mod layer;
pub mod loader;
mod norm;
pub mod presets;
mod rotary;
mod saver;
pub mod series;
mod tokenizer;
mod tokenizer_config;
mod vocab_projection;
pub mod weights;

pub use attention::{Attention, AttentionContext};
pub use batch::TokenBatch;
pub use choices::{BackendJob, Device, UnavailableDevice};
pub use decoder::{DecoderModel, DecoderOutput, ForwardOptions, LayerActivity, Record};
pub use device_set::{DeviceListError, DeviceSet, ParallelJob, Worker, Workers};
pub use dtype::{burn_dtype, float_type};
pub use error::{BatchError, ModelError, Result, SaveError, SeriesError, SpecError};
pub use ffn::FeedForward;
pub use fired::FiredNeurons;
pub use hub::{HubOptions, ModelSpec};
pub use layer::{DecoderLayer, LayerOutput};
pub use loader::{CheckpointPlan, load_checkpoint, load_pretrained};
pub use norm::Norm;
pub use rotary::RotaryTables;
pub use saver::save_pretrained;
pub use series::{SeriesCheckpoint, checkpoint_series};
pub use tokenizer::{BOS_TOKEN, ModelTokenizer, SPECIAL_TOKENS, tokenizer_files};
pub use weights::{LayerWeight, Part};

/// The CPU backend used by tests, examples and the default pipeline.
pub type CpuBackend = burn::backend::Flex;

/// The CUDA backend (with the `cuda` feature).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;
