//! Trains small OPT-architecture models: a byte-level BPE tokenizer with OPT's special tokens,
//! then the model (burn autodiff, on CPU or CUDA), saved in the Hugging Face layout so it loads
//! through exactly the path released OPT checkpoints take.
//!
//! - [`bpe::train_tokenizer`]: the tokenizer (`tokenizer.json`).
//! - [`trainer::train`]: the training loop; [`trainer::TrainOptions`] its settings.
//! - [`checkpoints`]: checkpoints along the run (`checkpoint-<step>/`, each a model directory).
//! - [`cli::TrainArgs`]: the `cargo xtask train` flags, which write a whole model directory;
//!   [`training_run`] runs them phase by phase, and [`model_dir`] owns the directory written.

pub mod bpe;
pub mod checkpoints;
pub mod cli;
pub mod data;
mod error;
pub mod eval_data;
pub mod init;
pub mod loss_curve;
pub mod model_dir;
pub mod trainer;
pub mod training_run;

pub use error::{Result, SettingsError, TrainError};
