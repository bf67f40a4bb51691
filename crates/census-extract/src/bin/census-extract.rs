//! `census-extract`: the extraction stage as a standalone program (also `cargo xtask extract`).

use anyhow::Result;
use census_extract::cli::ExtractArgs;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "census-extract",
    about = "Record which OPT FFN neurons fire on a corpus"
)]
struct Cli {
    #[command(flatten)]
    args: ExtractArgs,
}

fn main() -> Result<()> {
    census_extract::cli::init_tracing();
    let args = Cli::parse().args;
    let summary = args.run()?;
    tracing::info!(
        written = summary.parts_written,
        kept = summary.parts_kept,
        tokens = summary.tokens_processed,
        seconds = summary.seconds,
        complete = summary.manifest.complete,
        out = %args.out.display(),
        "done"
    );
    Ok(())
}
