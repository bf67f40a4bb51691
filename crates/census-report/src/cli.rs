//! Command-line options of the report stage, shared by the `census-report` binary and
//! `cargo xtask report`.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::{ReportRequest, ReportSummary, Result};

/// `report` flags: the analyses and the output (set by a pipeline), and the
/// [`ReportSettings`] a pipeline's `[report]` table gives.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ReportArgs {
    /// An analysis directory; repeat to compare models (one directory per model).
    #[arg(long = "analysis", required = true)]
    pub analyses: Vec<PathBuf>,
    /// Report directory to write (index.html, summary.md, figures/, data/).
    #[arg(long)]
    pub out: PathBuf,
    /// What the report shows.
    #[command(flatten)]
    pub settings: ReportSettings,
}

/// The `report` flags that say what the report shows (a pipeline's `[report]` keys).
#[derive(Debug, Clone, Args, Serialize)]
pub struct ReportSettings {
    /// Skip the PNG copies of the figures.
    #[arg(long)]
    pub no_png: bool,
    /// Example contexts shown per neuron in the neuron browser, at most those the analysis
    /// recorded (`analyze --contexts`); 0 shows none.
    #[arg(long, default_value_t = 3)]
    pub contexts: usize,
    /// The least |Spearman ρ| between model size and a value for a claimed trend across scale
    /// to hold (the claims table; docs/ANALYSIS.md).
    #[arg(long, default_value_t = 0.8)]
    pub claim_trend_rho: f64,
    /// A stage of a model's per-layer token-detector counts ends where the count turns back by
    /// more than this share of its largest value.
    #[arg(long, default_value_t = 0.1)]
    pub claim_stage_tolerance: f64,
    /// The least share of the layers below the split of the positional types for "roughly the
    /// first third".
    #[arg(long, default_value_t = 0.2)]
    pub claim_split_min: f64,
    /// The most share of the layers below that split.
    #[arg(long, default_value_t = 0.5)]
    pub claim_split_max: f64,
}

impl ReportArgs {
    /// Writes the report.
    pub fn run(&self) -> Result<ReportSummary> {
        crate::render(&ReportRequest {
            analyses: self.analyses.clone(),
            out: self.out.clone(),
            png: !self.settings.no_png,
            contexts: self.settings.contexts,
            claim_rules: crate::claims::ClaimRules {
                trend_rho: self.settings.claim_trend_rho,
                stage_tolerance: self.settings.claim_stage_tolerance,
                first_third: (self.settings.claim_split_min, self.settings.claim_split_max),
            },
        })
    }
}
