//! The analysis stage end to end: runs in, count tables layer by layer (in parallel), results,
//! projections and the tables, summary and manifest of an analysis directory. Four phases, a
//! module each: [`plan`] (what each data group counts), [`count`] (the counts, merged into
//! per-layer results), [`project`] (detectors onto the vocabulary) and [`write`] (tables,
//! summary and manifest, swapped in only when complete); [`counting`] counts one layer within
//! the memory cap.

mod count;
pub mod counting;
mod plan;
mod project;
pub(crate) mod write;

use crate::error::RequestError;
use std::path::{Path, PathBuf};
use std::time::Instant;

use census_format::analysis::manifest::{ANALYSIS_KIND, MANIFEST_FILE};
use census_format::{OutputKind, OutputLock, Ownership, check_replaceable};

use crate::error::{Result, StatsError};
use census_format::analysis::options::{AnalysisOptions, LayerScope};
use census_format::analysis::summary::Summary;

/// What to analyse and where to write it.
#[derive(Debug, Clone)]
pub struct AnalyzeRequest {
    /// Extraction run directories (shards of one run, or runs of one model): the data of the
    /// frequencies and dead neurons, and of every section not given its own runs.
    pub runs: Vec<PathBuf>,
    /// Runs of the same model for the n-gram statistics (empty: `runs`).
    pub ngram_runs: Vec<PathBuf>,
    /// Runs of the same model for the positional statistics (empty: `runs`).
    pub positional_runs: Vec<PathBuf>,
    /// The analysis directory.
    pub out: PathBuf,
    /// The checkpoint directory for projections, when the runs' recorded source is not one.
    pub model: Option<PathBuf>,
    /// Analyse the committed parts of incomplete runs.
    pub allow_incomplete: bool,
    /// The runs' parts were rewritten by another tool (DuckDB, polars): skip the size, checksum
    /// and footer checks against the manifests (values are still checked).
    pub rewritten_parts: bool,
    /// The analysis options.
    pub options: AnalysisOptions,
    /// The layers to analyse (of those the runs recorded): a part of a split analysis, whose
    /// parts [`crate::merge::merge_analyses`] combines into the tables of one analysis.
    pub layers: LayerScope,
    /// Show a progress bar.
    pub progress: bool,
}

impl AnalyzeRequest {
    /// The analysis of `runs` into `out` with the default options (the paper's), every section
    /// on `runs`, projections from the recorded model, and no progress bar.
    pub fn new(runs: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            runs,
            out: out.into(),
            model: None,
            allow_incomplete: false,
            rewritten_parts: false,
            ngram_runs: Vec::new(),
            positional_runs: Vec::new(),
            options: AnalysisOptions::default(),
            layers: LayerScope::All,
            progress: false,
        }
    }
}

/// Refuses to replace a directory that holds something other than an analysis of ours.
pub fn check_output_dir(out: &Path) -> Result<()> {
    const KIND: OutputKind = OutputKind {
        directory: "an analysis directory",
        ours: "analysis of neuron-census",
    };
    check_replaceable(out, KIND, |dir| {
        let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST_FILE)) else {
            return Ownership::NotOurs;
        };
        let kind = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string));
        if kind.as_deref() == Some(ANALYSIS_KIND) {
            Ownership::Ours
        } else {
            Ownership::OtherKind("another kind of manifest (an extraction run's?)".to_string())
        }
    })
    .map_err(|reason| StatsError::Output {
        path: out.to_path_buf(),
        reason,
    })
}

/// Runs the analysis and writes the analysis directory; returns the headline numbers. The
/// phases, in order: [`plan`], [`count`], [`project`] and [`write`] (the directory is swapped in
/// only when complete).
pub fn analyze(request: &AnalyzeRequest) -> Result<Summary> {
    let started = Instant::now();
    let _lock = OutputLock::acquire(&request.out, "analyze")?;
    let plan = plan::plan_analysis(request)?;
    let counted = count::count(&plan, request)?;
    let projected = project::project(&plan, request, &counted)?;
    write::write(&plan, request, counted, projected, started)
}

/// Checks option values.
pub(super) fn validate(options: &AnalysisOptions) -> Result<()> {
    use census_format::bounded::{HALF_SHARE, NON_NEGATIVE, POSITIVE_SHARE, SHARE};
    let (detectors, positional) = (&options.detectors, &options.positional);
    for (flag, value, bounds) in [
        ("--coverage-share", detectors.coverage_share, POSITIVE_SHARE),
        ("--trigger-share", detectors.trigger_share, POSITIVE_SHARE),
        ("--mi-threshold", positional.mi_threshold, NON_NEGATIVE),
        ("--weak-epsilon", positional.weak_epsilon, HALF_SHARE),
        (
            "--extreme-run-share",
            positional.extreme_run_share,
            POSITIVE_SHARE,
        ),
        (
            "--oscillation-min-swing",
            positional.oscillation_min_swing,
            SHARE,
        ),
        (
            "--smooth-residual-share",
            positional.smooth_residual_share,
            NON_NEGATIVE,
        ),
        (
            "--range-threshold",
            positional.range_threshold,
            POSITIVE_SHARE,
        ),
    ] {
        bounds
            .check(value)
            .map_err(|reason| RequestError::OutOfRange { flag, reason })?;
    }
    if options.coverage_bins.windows(2).any(|w| w[0] >= w[1]) || options.coverage_bins.is_empty() {
        return Err(RequestError::CoverageBins.into());
    }
    if options.projection.top_k == 0 {
        return Err(RequestError::TopK.into());
    }
    Ok(())
}
