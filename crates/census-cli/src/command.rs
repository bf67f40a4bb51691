//! The subcommands of `neuron-census`, also offered as `cargo xtask <command>`.

use anyhow::Result;
use census_extract::cli::ExtractArgs;
use census_report::cli::ReportArgs;
use census_stats::cli::{AnalyzeArgs, MergeArgs};
use census_train::cli::TrainArgs;
use clap::Subcommand;

use crate::orchestrate::RunArgs;

/// The `neuron-census` command line: one command of the census.
#[derive(Debug, clap::Parser)]
#[command(
    name = "neuron-census",
    version,
    about = "Dead, n-gram and positional neurons of language models",
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// One command of the census.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole pipeline (extract, analyze, report), skipping every stage whose output is up
    /// to date; with no flags, the embedded default model and corpus (pipelines/default.toml).
    Run(Box<RunArgs>),
    /// Run a corpus through a model and write which FFN neurons fire on every token and layer
    /// to a run directory of Parquet shards (resumable; see docs/SCHEMA.md).
    Extract(ExtractArgs),
    /// Compute the paper's statistics (dead neurons, n-gram coverage, token and trigram
    /// detectors, vocabulary projections, positional neurons) from one or more run directories
    /// into an analysis directory of Parquet tables (see docs/SCHEMA.md and docs/ANALYSIS.md).
    Analyze(Box<AnalyzeArgs>),
    /// Combine the parts of an analysis split by layer (`analyze --layers START..END`, one job
    /// per range) into the analysis directory one analysis of all their layers writes.
    MergeAnalyses(MergeArgs),
    /// Write an HTML report (the paper's figures, the paper's numbers beside ours, a neuron
    /// browser), each figure as SVG and PNG, and a Markdown summary, from one or more analysis
    /// directories (one per model).
    Report(ReportArgs),
    /// Download a recipe's hub datasets and split them by domain into JSONL files (`paper`: the
    /// data pipelines/paper.toml reads), with a manifest of their checksums; files already made
    /// are kept.
    Data(crate::data::DataArgs),
    /// Train a byte-level BPE tokenizer and an OPT-architecture model on a corpus and save both
    /// in the Hugging Face layout (the defaults rebuild the embedded default in data/model).
    Train(Box<TrainArgs>),
    /// Tokenize a text, run it through a model directory and print the FFN neurons that fire
    /// on each token in each layer.
    Fired {
        /// A model directory in the Hugging Face layout (config.json, weights, tokenizer files),
        /// a preset or a hub id.
        #[arg(long)]
        model: String,
        /// Compute dtype.
        #[arg(long, value_enum, default_value = "f32")]
        dtype: census_format::model::FloatType,
        /// Print at most this many neuron ids per token and layer.
        #[arg(long, default_value_t = 12)]
        show: usize,
        /// The text.
        text: String,
    },
}

impl Command {
    /// Runs the command, logging what it wrote.
    pub fn run(self) -> Result<()> {
        match self {
            Self::Extract(args) => {
                let summary = args.run()?;
                tracing::info!(
                    written = summary.parts_written,
                    kept = summary.parts_kept,
                    tokens = summary.tokens_processed,
                    tokens_per_second =
                        summary.tokens_processed as f64 / summary.seconds.max(1e-9),
                    out = %args.out.display(),
                    "run directory ready"
                );
            }
            Self::Analyze(args) => {
                // The analysis logs what it wrote.
                args.run()?;
            }
            Self::MergeAnalyses(args) => {
                // The merge logs what it wrote.
                args.run()?;
            }
            Self::Report(args) => {
                let summary = args.run()?;
                tracing::info!(
                    index = %summary.index.display(),
                    figures = summary.figures,
                    "report ready"
                );
            }
            Self::Run(args) => {
                let summary = args.run()?;
                tracing::info!(
                    out = %summary.out.display(),
                    report = %summary.index.display(),
                    ran = summary.ran,
                    skipped = summary.skipped,
                    "pipeline done"
                );
            }
            Self::Data(args) => {
                let summary = args.run()?;
                tracing::info!(
                    out = %args.out.display(),
                    written = summary.written.len(),
                    missing = ?summary.missing,
                    "data ready"
                );
            }
            Self::Train(args) => {
                let summary = args.run()?;
                tracing::info!(
                    out = %summary.out.display(),
                    parameters = summary.parameters,
                    tokens = summary.tokens,
                    train_loss = summary.final_train_loss,
                    held_out_loss = summary.held_out_loss,
                    held_out_loss_saved = summary.held_out_loss_saved,
                    seconds = summary.seconds,
                    "model ready"
                );
            }
            Self::Fired {
                model,
                dtype,
                show,
                text,
            } => {
                let dir =
                    census_model::hub::resolve(&model, &census_model::HubOptions::from_env(true))?;
                let fired = crate::fired::fired_neurons(&dir, dtype, &text)?;
                crate::fired::print_fired(&fired, show);
            }
        }
        Ok(())
    }
}
