//! The `neuron-census` command line: every stage as a subcommand, and whole pipelines with
//! stage caching (`run`). `cargo xtask` offers the same commands by calling [`Command::run`].
//!
//! - [`command`]: the subcommands and what each logs when done.
//! - [`orchestrate`]: `run`, a pipeline file's stages in order, each skipped when up to date.
//! - [`pipeline`]: pipeline files (`pipelines/*.toml`).
//! - [`split`]: `[split]`, extractions as shards and analyses as layer ranges.
//! - [`slurm`]: a pipeline's stages as Slurm jobs and job arrays (`run --slurm`).
//! - [`stages`]: the ledger of finished stages and what each was made from.
//! - [`fired`]: the neurons that fire on one text, printed.
//! - [`logging`]: the one `tracing` setup.
//! - [`allocator`]: glibc's allocator told to keep freed memory for the next allocation.

pub mod allocator;
pub mod command;
pub mod data;
pub mod fired;
pub mod logging;
pub mod orchestrate;
pub mod pipeline;
pub mod slurm;
pub mod split;
pub mod stages;

pub use command::{Cli, Command};
