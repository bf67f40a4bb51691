//! `census-report`: the report stage as a standalone program (also `cargo xtask report`).

use anyhow::Result;
use census_report::cli::ReportArgs;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "census-report",
    about = "An HTML report of neuron-census analyses"
)]
struct Cli {
    #[command(flatten)]
    args: ReportArgs,
}

fn main() -> Result<()> {
    census_extract::cli::init_tracing();
    let summary = Cli::parse().args.run()?;
    tracing::info!(index = %summary.index.display(), figures = summary.figures, "done");
    Ok(())
}
