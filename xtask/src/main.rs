//! `cargo xtask <task>`: the project's front door. Run with no task to list the tasks.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::DType;
use census_extract::cli::ExtractArgs;
use census_model::{
    CpuBackend, ForwardOptions, LayerActivity, OptBatch, OptTokenizer, Record, load_pretrained,
};
use census_report::cli::ReportArgs;
use census_stats::cli::AnalyzeArgs;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "neuron-census tasks",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run a corpus through a model and write which FFN neurons fire on every token and layer
    /// to a run directory of Parquet shards (resumable; see docs/SCHEMA.md).
    Extract(ExtractArgs),
    /// Compute the paper's statistics (dead neurons, n-gram coverage, token and trigram
    /// detectors, vocabulary projections, positional neurons) from one or more run directories
    /// into an analysis directory of Parquet tables (see docs/SCHEMA.md and docs/ANALYSIS.md).
    Analyze(AnalyzeArgs),
    /// Write an HTML report (the paper's figures, the paper's numbers beside ours, a neuron
    /// browser), each figure as SVG and PNG, and a Markdown summary, from one or more analysis
    /// directories (one per model).
    Report(ReportArgs),
    /// Tokenize a text, run it through a model directory and print the FFN neurons that fire
    /// on each token in each layer.
    Fired {
        /// A model directory in the Hugging Face layout (config.json, weights, tokenizer files).
        #[arg(long)]
        model: PathBuf,
        /// Compute dtype: f32, f16 or bf16.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// Print at most this many neuron ids per token and layer.
        #[arg(long, default_value_t = 12)]
        show: usize,
        /// The text.
        text: String,
    },
}

fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        other => anyhow::bail!("unknown dtype '{other}' (expected f32, f16 or bf16)"),
    }
}

#[allow(clippy::print_stdout)]
fn fired(model_dir: PathBuf, dtype: &str, show: usize, text: &str) -> Result<()> {
    let device = Default::default();
    let dtype = parse_dtype(dtype)?;
    let tokenizer = OptTokenizer::from_dir(&model_dir)
        .with_context(|| format!("loading the tokenizer of {}", model_dir.display()))?;
    let model = load_pretrained::<CpuBackend>(&model_dir, &device, dtype)
        .with_context(|| format!("loading the model in {}", model_dir.display()))?;
    let ids = tokenizer.encode(text)?;
    let config = model.config();
    let batch = OptBatch::left_padded(
        std::slice::from_ref(&ids),
        config.pad_token_id,
        config.vocab_size,
        &device,
    )?;
    let options = ForwardOptions {
        record: Record::Fired,
        ..Default::default()
    };
    let output = model.forward(&batch, &options)?;
    println!(
        "{} tokens, {} layers x {} neurons",
        ids.len(),
        config.num_hidden_layers,
        config.ffn_dim
    );
    for (layer, activity) in output.layers.into_iter().enumerate() {
        let LayerActivity::Fired(mask) = activity else {
            unreachable!("recording fired masks")
        };
        let bits = mask.into_data().convert::<bool>();
        let bits = bits
            .as_slice::<bool>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let width = config.ffn_dim;
        let total = bits.iter().filter(|b| **b).count();
        println!(
            "layer {layer}: {total} firings ({:.1}% of token x neuron)",
            100.0 * total as f64 / bits.len() as f64
        );
        for (pos, row) in bits.chunks(width).enumerate() {
            let on: Vec<usize> = (0..width).filter(|&n| row[n]).collect();
            let token = tokenizer.token(ids[pos]).unwrap_or_default();
            let shown: Vec<String> = on.iter().take(show).map(usize::to_string).collect();
            let more = if on.len() > show { " …" } else { "" };
            println!(
                "  {pos:>4} {token:<16} {:>4} [{}{more}]",
                on.len(),
                shown.join(" ")
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    census_extract::cli::init_tracing();
    match Cli::parse().task {
        Task::Extract(args) => {
            let summary = args.run()?;
            tracing::info!(
                written = summary.parts_written,
                kept = summary.parts_kept,
                tokens = summary.tokens_processed,
                tokens_per_second = summary.tokens_processed as f64 / summary.seconds.max(1e-9),
                out = %args.out.display(),
                "run directory ready"
            );
            Ok(())
        }
        Task::Analyze(args) => {
            let summary = args.run()?;
            tracing::info!(
                out = %args.out.display(),
                dead = summary.dead.total,
                token_detectors = summary.token_detectors.as_ref().map(|d| d.detectors),
                positional = summary.positional.as_ref().map(|p| p.total),
                "analysis ready"
            );
            Ok(())
        }
        Task::Report(args) => {
            let summary = args.run()?;
            tracing::info!(
                index = %summary.index.display(),
                figures = summary.figures,
                "report ready"
            );
            Ok(())
        }
        Task::Fired {
            model,
            dtype,
            show,
            text,
        } => fired(model, &dtype, show, &text),
    }
}
