//! Command-line options of the report stage, shared by the `census-report` binary and
//! `cargo xtask report`.

use std::path::PathBuf;

use clap::Args;

use crate::{ReportRequest, ReportSummary, Result};

/// `report` flags.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// An analysis directory; repeat to compare models (one directory per model).
    #[arg(long = "analysis", required = true)]
    pub analyses: Vec<PathBuf>,
    /// Report directory to write (index.html, summary.md, figures/, data/).
    #[arg(long)]
    pub out: PathBuf,
    /// Skip the PNG copies of the figures.
    #[arg(long)]
    pub no_png: bool,
    /// Example contexts shown per neuron in the neuron browser, at most those the analysis
    /// recorded (`analyze --contexts`); 0 shows none.
    #[arg(long, default_value_t = 3)]
    pub contexts: usize,
}

impl ReportArgs {
    /// Writes the report.
    pub fn run(&self) -> Result<ReportSummary> {
        crate::render(&ReportRequest {
            analyses: self.analyses.clone(),
            out: self.out.clone(),
            png: !self.no_png,
            contexts: self.contexts,
        })
    }
}
