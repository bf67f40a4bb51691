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
    // The analysis logs what it wrote.
    Cli::parse().args.run()?;
    Ok(())
}
