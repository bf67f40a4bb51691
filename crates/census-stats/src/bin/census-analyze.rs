//! `census-analyze`: the analysis stage as a standalone program (also `cargo xtask analyze`).

use anyhow::Result;
use census_stats::cli::AnalyzeArgs;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "census-analyze",
    about = "Neuron statistics (dead, n-gram, positional) from extraction runs"
)]
struct Cli {
    #[command(flatten)]
    args: AnalyzeArgs,
}

fn main() -> Result<()> {
    census_extract::cli::init_tracing();
    let args = Cli::parse().args;
    let summary = args.run()?;
    tracing::info!(
        out = %args.out.display(),
        dead = summary.dead.total,
        token_detectors = summary.token_detectors.as_ref().map(|d| d.detectors),
        positional = summary.positional.as_ref().map(|p| p.total),
        "done"
    );
    Ok(())
}
