//! Statistics over extraction runs, the second pipeline stage: dead neurons and activation
//! frequency, n-gram coverage, token and trigram detectors, detected-token coverage across
//! layers, detector updates projected onto the vocabulary, and positional neurons, written as an
//! analysis directory of Parquet tables (see `docs/SCHEMA.md` and `docs/ANALYSIS.md`).
//!
//! - [`inputs`]: the runs (shards of one run merge into one).
//! - [`sections`]: which runs, and which part of them, each section's statistics rest on.
//! - [`counts`]: partial-mergeable count tables, built part by part.
//! - [`coverage`], [`detectors`], [`positional`], [`projection`]: the paper's definitions.
//! - [`positional_domains`]: positional neurons domain by domain, against the pooled ones.
//! - [`model_files`]: the model's weights and tokenizer, found as the extraction found them.
//! - [`analyze()`]: the stage end to end.

pub mod analysis_tables;
pub mod analyze;
pub mod cli;
pub mod contexts;
pub mod counts;
pub mod coverage;
pub mod detectors;
mod error;
pub mod inputs;
pub mod layer_analysis;
pub mod merge;
pub mod model_files;
pub mod ngram;
pub mod part_data;
pub mod positional;
pub mod positional_domains;
pub mod projection;
pub mod sections;
pub mod seeded;
pub mod shared_sequences;
pub mod sorted_counts;
pub mod stability;
pub mod summary;
pub mod suppression;
pub mod tables;
pub mod token_neurons;

pub use analyze::{AnalyzeRequest, analyze};
pub use error::{ModelFilesError, RequestError, Result, StatsError};
pub use merge::merge_analyses;
