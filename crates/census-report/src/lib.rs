//! The report, the third pipeline stage: one or more analysis directories (one per model) into a
//! self-contained HTML report that redraws the paper's figures, sets the paper's headline numbers
//! beside ours, and lets a reader browse neurons; plus each figure as SVG and PNG and a Markdown
//! summary.
//!
//! - [`analysis`]: an analysis directory read back.
//! - [`figures`]: the figures as backend-independent descriptions; [`charts`] draws them.
//! - [`html`], [`browser`], [`markdown`]: the outputs.

pub mod analysis;
pub mod browser;
pub mod charts;
pub mod cli;
pub mod contexts;
mod error;
pub mod figures;
pub mod html;
pub mod markdown;
pub mod paper;
mod table;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use error::{ReportError, Result};

use crate::analysis::ModelAnalysis;
use crate::html::PageModel;

/// The report's own marker file.
pub const REPORT_FILE: &str = "report.json";
/// The page.
pub const INDEX_FILE: &str = "index.html";
/// The Markdown summary.
pub const MARKDOWN_FILE: &str = "summary.md";

/// What to report and where.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Analysis directories, one per model.
    pub analyses: Vec<PathBuf>,
    /// The report directory.
    pub out: PathBuf,
    /// Also write every figure as PNG.
    pub png: bool,
    /// Example contexts per neuron in the browser (0: none; needs the runs on disk).
    pub contexts: usize,
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

/// Refuses to write into a directory that holds something other than a report.
fn check_output_dir(out: &Path) -> Result<()> {
    if !out.exists() || out.join(REPORT_FILE).exists() {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| ReportError::io("cannot read", out, e))?;
    if entries.next().is_some() {
        return Err(ReportError::InvalidOption(format!(
            "{} is not empty and holds no report; refusing to write into it",
            out.display()
        )));
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
            let base: String = m
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
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

/// Writes the report directory.
pub fn render(request: &ReportRequest) -> Result<ReportSummary> {
    if request.analyses.is_empty() {
        return Err(ReportError::InvalidOption(
            "no analysis directory given (--analysis DIR)".to_string(),
        ));
    }
    let models = request
        .analyses
        .iter()
        .map(|dir| ModelAnalysis::load(dir))
        .collect::<Result<Vec<_>>>()?;
    check_output_dir(&request.out)?;
    let out = &request.out;
    let figures_dir = out.join("figures");
    std::fs::create_dir_all(&figures_dir)
        .map_err(|e| ReportError::io("cannot create", &figures_dir, e))?;
    let figures = figures::build(&models);
    let mut svgs = Vec::with_capacity(figures.len());
    for f in &figures {
        let _span = tracing::info_span!("figure", id = %f.id).entered();
        let svg = charts::to_svg(&f.figure)?;
        write(&figures_dir.join(format!("{}.svg", f.id)), &svg)?;
        if request.png {
            charts::write_png(&f.figure, &figures_dir.join(format!("{}.png", f.id)))?;
        }
        svgs.push(svg);
    }
    let slugs = slugs(&models);
    let mut layer_scripts = 0;
    for (m, slug) in models.iter().zip(&slugs) {
        layer_scripts += browser::write_layers(m, slug, out, request.contexts)?;
    }
    let headlines = paper::headlines(&models);
    let page_models: Vec<PageModel<'_>> = models
        .iter()
        .zip(&slugs)
        .map(|(analysis, slug)| PageModel {
            analysis,
            slug: slug.clone(),
        })
        .collect();
    let index = out.join(INDEX_FILE);
    write(
        &index,
        html::page(&page_models, &figures, &svgs, &headlines),
    )?;
    write(
        &out.join(MARKDOWN_FILE),
        markdown::summary(&models, &headlines),
    )?;
    let marker = serde_json::json!({
        "kind": "report",
        "producer": format!("neuron-census {}", env!("CARGO_PKG_VERSION")),
        "analyses": request.analyses,
        "figures": figures.iter().map(|f| &f.id).collect::<Vec<_>>(),
    });
    write(
        &out.join(REPORT_FILE),
        serde_json::to_string_pretty(&marker).expect("the marker serializes"),
    )?;
    tracing::info!(index = %index.display(), figures = figures.len(), "report written");
    Ok(ReportSummary {
        index,
        figures: figures.len(),
        layer_scripts,
    })
}
