//! The report, the third pipeline stage: one or more analysis directories (one per model) into a
//! self-contained HTML report that redraws the paper's figures, sets the paper's headline numbers
//! beside ours, and lets a reader browse neurons; plus each figure as SVG and PNG and a Markdown
//! summary.
//!
//! - [`analysis`]: an analysis directory read back.
//! - [`figures`]: the figures as backend-independent descriptions; `census-charts` draws them.
//! - [`training`]: the training view, for the checkpoints of a training run.
//! - [`paper`], [`claims`]: the paper's numbers beside ours, and its claims tested.
//! - [`html`], [`browser`], [`markdown`]: the outputs.

pub mod analysis;
pub mod browser;
pub mod claims;
pub mod cli;
pub mod contexts;
mod error;
pub mod figures;
pub mod html;
pub mod markdown;
pub mod page_data;
pub mod paper;
pub mod tiling;
pub mod training;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use error::{ReportError, Result};

use census_format::{OutputKind, OutputLock, Ownership, StagedDir, check_replaceable};

use crate::analysis::ModelAnalysis;
use crate::html::PageModel;

/// What a report directory holds at its top level, as [`StagedDir::begin`] reads a report
/// written without a list of its files.
const REPORT_OWNED: &[&str] = &[INDEX_FILE, MARKDOWN_FILE, REPORT_FILE, "figures", "data"];

/// The report's own marker file.
pub const REPORT_FILE: &str = "report.json";
/// The page.
pub const INDEX_FILE: &str = "index.html";
/// The Markdown summary.
pub const MARKDOWN_FILE: &str = "summary.md";

/// The revision of what a report holds: raise it when the report starts writing something new
/// (2: neuron details by chunk, histories along training, token scripts; 3: curves a byte per
/// value, projections as token ids spelled by `vocab.js`), so pipelines redo their reports.
pub const REPORT_REVISION: u32 = 3;

/// Whether `dir` holds a whole report (reports are committed whole, page last named here).
pub fn is_complete(dir: &Path) -> bool {
    dir.join(INDEX_FILE).is_file() && dir.join(REPORT_FILE).is_file()
}

/// What to report and where.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Analysis directories, one per model.
    pub analyses: Vec<PathBuf>,
    /// The report directory.
    pub out: PathBuf,
    /// Also write every figure as PNG.
    pub png: bool,
    /// Example contexts shown per neuron in the browser, at most those the analysis recorded
    /// (0: none).
    pub contexts: usize,
    /// The thresholds of the claims' rules.
    pub claim_rules: claims::ClaimRules,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// The page.
    pub index: PathBuf,
    /// Figures drawn.
    pub figures: usize,
    /// Browser data scripts written.
    pub layer_scripts: usize,
}

/// Refuses to replace a directory that holds something other than a report of ours.
pub fn check_output_dir(out: &Path) -> Result<()> {
    const KIND: OutputKind = OutputKind {
        directory: "a report directory",
        ours: "report of neuron-census",
    };
    check_replaceable(out, KIND, |dir| {
        let kind = std::fs::read_to_string(dir.join(REPORT_FILE))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string));
        if kind.as_deref() == Some("report") {
            Ownership::Ours
        } else {
            Ownership::NotOurs
        }
    })
    .map_err(|reason| ReportError::OutputRefused {
        path: out.to_path_buf(),
        reason,
    })
}

/// Refuses an analysis directory named twice.
fn check_distinct(analyses: &[PathBuf]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for dir in analyses {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !seen.insert(key) {
            return Err(ReportError::analysis(
                dir,
                "is given twice; name each model's analysis once",
            ));
        }
    }
    Ok(())
}

/// Unique slugs for the models' data directories.
fn slugs(models: &[ModelAnalysis]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let base = figures::slug(&m.name);
            let slug = if seen.contains(&base) {
                format!("{base}-{i}")
            } else {
                base
            };
            seen.insert(slug.clone());
            slug
        })
        .collect()
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| ReportError::io("cannot write", path, e))
}

/// Writes the report directory. The report is built in `<out>.partial` and replaces `out` only
/// when complete, so a failure leaves an earlier report as it was; an existing `out` is
/// replaced only if it is a report of ours.
pub fn render(request: &ReportRequest) -> Result<ReportSummary> {
    if request.analyses.is_empty() {
        return Err(ReportError::NoAnalysis);
    }
    check_distinct(&request.analyses)?;
    request
        .claim_rules
        .check()
        .map_err(ReportError::InvalidOption)?;
    let _lock = OutputLock::acquire(&request.out, "report")?;
    check_output_dir(&request.out)?;
    let analyses = Arranged::load(&request.analyses)?;
    let staged = StagedDir::begin(&request.out, REPORT_OWNED)?;
    let out = staged.path();
    let mut figures = training::figures(&analyses.series, &analyses.all);
    figures.extend(figures::build(&analyses.shown));
    let drawn = draw_figures(&figures, &out.join("figures"), request.png)?;
    let slugs = slugs(&analyses.shown);
    let mut layer_scripts = 0;
    for (k, (m, slug)) in analyses.shown.iter().zip(&slugs).enumerate() {
        stop_point()?;
        layer_scripts +=
            browser::write_layers(m, slug, out, request.contexts, &analyses.history(k))?;
    }
    let headlines = paper::headlines(&analyses.shown);
    let facts: Vec<claims::ModelFacts> =
        analyses.shown.iter().map(claims::ModelFacts::of).collect();
    let claims = claims::shown(&facts, &request.claim_rules);
    let page_models: Vec<PageModel<'_>> = analyses
        .shown
        .iter()
        .zip(&slugs)
        .map(|(analysis, slug)| PageModel {
            analysis,
            slug: slug.clone(),
        })
        .collect();
    write(
        &out.join(INDEX_FILE),
        html::page(&page_models, &figures, &drawn, &headlines, &claims),
    )?;
    write(
        &out.join(MARKDOWN_FILE),
        markdown::summary(&analyses.shown, &headlines, &claims)
            + &markdown::training(&analyses.series, &analyses.all),
    )?;
    write_marker(out, request, &figures)?;
    staged.commit()?;
    let index = request.out.join(INDEX_FILE);
    tracing::info!(index = %index.display(), figures = figures.len(), "report written");
    Ok(ReportSummary {
        index,
        figures: figures.len(),
        layer_scripts,
    })
}

/// Stops the report on request ([`census_format::interrupt`]): the partial directory is
/// removed, and an earlier report in `--out` stays as it was.
pub(crate) fn stop_point() -> Result<()> {
    census_format::interrupt::check(
        "report stopped; nothing of it was kept, and an earlier report in --out is kept",
    )
    .map_err(|stop| census_format::FormatError::from(stop).into())
}

/// The analyses of a report, arranged: a training run's checkpoints form the training view,
/// and of them only the last (the trained model) is shown in the other sections and the
/// browser.
struct Arranged {
    /// Every analysis, in the order given.
    all: Vec<ModelAnalysis>,
    /// The training runs among them.
    series: Vec<training::TrainingSeries>,
    /// The analyses shown (all but the earlier checkpoints of a run), labelled apart.
    shown: Vec<ModelAnalysis>,
    /// The index in `all` of each shown analysis.
    shown_index: Vec<usize>,
}

impl Arranged {
    /// Reads every analysis directory and arranges them.
    fn load(dirs: &[PathBuf]) -> Result<Self> {
        let all = dirs
            .iter()
            .map(|dir| ModelAnalysis::load(dir))
            .collect::<Result<Vec<_>>>()?;
        let series = training::find_series(&all)?;
        let earlier: BTreeSet<usize> = series
            .iter()
            .flat_map(|s| {
                let last = s.last();
                s.checkpoints
                    .iter()
                    .map(|c| c.analysis)
                    .filter(move |&a| a != last)
            })
            .collect();
        let shown_index: Vec<usize> = (0..all.len()).filter(|i| !earlier.contains(i)).collect();
        let mut shown: Vec<ModelAnalysis> = shown_index.iter().map(|&i| all[i].clone()).collect();
        analysis::label_apart(&mut shown);
        Ok(Self {
            all,
            series,
            shown,
            shown_index,
        })
    }

    /// The checkpoints' analyses of shown model `k`, in step order, when it is a training
    /// run's trained model (for the browser's history of each neuron); else none.
    fn history(&self, k: usize) -> Vec<(u64, &ModelAnalysis)> {
        let i = self.shown_index[k];
        self.series
            .iter()
            .find(|s| s.last() == i)
            .map(|s| {
                s.checkpoints
                    .iter()
                    .map(|c| (c.step, &self.all[c.analysis]))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Draws every figure into `dir` (SVG, the full-scale SVG where it differs, and PNG copies
/// when `png`) and gives each one's SVG for the page.
fn draw_figures(
    figures: &[figures::NamedFigure],
    dir: &Path,
    png: bool,
) -> Result<Vec<html::DrawnFigure>> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io("cannot create", dir, e))?;
    let mut drawn = Vec::with_capacity(figures.len());
    for f in figures {
        stop_point()?;
        let _span = tracing::info_span!("figure", id = %f.id).entered();
        let svg = census_charts::to_svg(&f.figure)?;
        write(&dir.join(format!("{}.svg", f.id)), &svg)?;
        if png {
            census_charts::write_png(&f.figure, &dir.join(format!("{}.png", f.id)))?;
        }
        let full_scale = match f.figure.at_full_scale() {
            Some(full) => {
                let svg = census_charts::to_svg(&full)?;
                write(&dir.join(format!("{}-full.svg", f.id)), &svg)?;
                Some(svg)
            }
            None => None,
        };
        drawn.push(html::DrawnFigure {
            fitted: svg,
            full_scale,
        });
    }
    Ok(drawn)
}

/// Writes the report's marker: what made it, from which analyses, with which figures.
fn write_marker(
    out: &Path,
    request: &ReportRequest,
    figures: &[figures::NamedFigure],
) -> Result<()> {
    let marker = serde_json::json!({
        "kind": "report",
        "producer": format!("neuron-census {}", env!("CARGO_PKG_VERSION")),
        "analyses": request.analyses,
        "claim_rules": request.claim_rules,
        "figures": figures.iter().map(|f| &f.id).collect::<Vec<_>>(),
    });
    write(
        &out.join(REPORT_FILE),
        serde_json::to_string_pretty(&marker).expect("the marker serializes"),
    )
}
