//! `census-extract`: the extraction stage as a standalone program (also `cargo xtask extract`).

use anyhow::Result;
use census_extract::cli::ExtractArgs;
use census_extract::extract;
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = Cli::parse().args.to_options()?;
    let summary =
        extract::<census_model::CpuBackend>(&options, &Default::default(), "cpu (burn flex)")?;
    tracing::info!(
        written = summary.parts_written,
        kept = summary.parts_kept,
        tokens = summary.tokens_processed,
        seconds = summary.seconds,
        complete = summary.manifest.complete,
        out = %options.out.display(),
        "done"
    );
    Ok(())
}
