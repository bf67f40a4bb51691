//! One analysis directory loaded for the report: its manifest, summary and tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use census_format::analysis::AnalysisManifest;
use census_format::analysis::Summary;

use crate::error::{ReportError, Result};
use census_format::analysis::tables::{self, AnalysisTable};

/// Per-layer aggregates (a row of `layers.parquet`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerRow {
    /// Layer (0-based).
    pub layer: usize,
    /// Counted tokens.
    pub tokens: f64,
    /// Neurons.
    pub neurons: f64,
    /// Dead share.
    pub dead_share: f64,
    /// Dead share under the other reading of the `</s>` prefix.
    pub dead_share_other: Option<f64>,
    /// Mean frequency among alive neurons.
    pub mean_frequency_alive: Option<f64>,
    /// Token detectors.
    pub token_detectors: Option<f64>,
    /// Trigram detectors.
    pub trigram_detectors: Option<f64>,
    /// Tokens detected here, cumulative, new overall, new vs the previous layer.
    pub tokens_detected: [Option<f64>; 4],
    /// The same for trigrams.
    pub trigrams_detected: [Option<f64>; 4],
    /// Positional neurons by type (oscillatory, both extremes, one extreme, other) and strength
    /// (`[strong, weak]`).
    pub positional: Option<[[f64; 2]; 4]>,
}

/// A row of `coverage.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoverageRow {
    /// Layer.
    pub layer: usize,
    /// `unigram`, `bigram` or `trigram`.
    pub order: String,
    /// Bin index.
    pub bin: usize,
    /// Bin label.
    pub label: String,
    /// Alive neurons in the bin.
    pub neurons: f64,
}

/// A row of `detectors.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DetectorRow {
    /// Layer.
    pub layer: usize,
    /// Neuron.
    pub neuron: usize,
    /// `token` or `trigram`.
    pub kind: String,
    /// Trigger strings.
    pub triggers: Vec<String>,
    /// Token ids of each trigger.
    pub trigger_ids: Vec<Vec<u32>>,
    /// Fires on each trigger.
    pub trigger_fires: Vec<f64>,
    /// Share of activations on the triggers.
    pub coverage: f64,
    /// Top promoted tokens.
    pub promoted: Option<Vec<String>>,
    /// Their ids.
    pub promoted_ids: Option<Vec<u32>>,
    /// Top suppressed tokens.
    pub suppressed: Option<Vec<String>>,
    /// Their ids.
    pub suppressed_ids: Option<Vec<u32>>,
    /// Whether the update suppresses the triggers.
    pub suppresses_triggers: Option<bool>,
}

/// A row of `positional.parquet`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PositionalRow {
    /// Layer.
    pub layer: usize,
    /// Neuron.
    pub neuron: usize,
    /// MI with position.
    pub mi: f64,
    /// Type name.
    pub kind: String,
    /// Strong or weak.
    pub strong: bool,
    /// Position of the first curve value.
    pub first_position: usize,
    /// Frequency by position.
    pub curve: Vec<f64>,
    /// Ranges `[start, end)`.
    pub ranges: Vec<(f64, f64)>,
}

/// An analysis directory, read.
#[derive(Debug, Clone)]
pub struct ModelAnalysis {
    /// The directory.
    pub dir: PathBuf,
    /// The model's name for legends, as the analysis recorded it.
    pub name: String,
    /// The manifest.
    pub manifest: AnalysisManifest,
    /// The headline numbers.
    pub summary: Summary,
    /// Per-layer aggregates, by layer.
    pub layers: Vec<LayerRow>,
    /// Coverage bins.
    pub coverage: Vec<CoverageRow>,
    /// Detectors.
    pub detectors: Vec<DetectorRow>,
    /// Positional neurons.
    pub positional: Vec<PositionalRow>,
}

impl ModelAnalysis {
    /// Reads analysis directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ReportError::analysis(dir, "not a directory"));
        }
        let manifest = AnalysisManifest::load(dir)?;
        let summary = Summary::load(dir)?;
        let name = manifest.model_name.clone();
        let (layers, coverage, detectors, positional) = (
            tables::LayerRow::read(dir)?,
            tables::CoverageRow::read(dir)?,
            tables::DetectorRow::read(dir)?,
            tables::PositionalRow::read(dir)?,
        );
        let declared = manifest.layers;
        check_layers(
            dir,
            declared,
            tables::LayerRow::FILE,
            layers.iter().map(|r| r.layer),
        )?;
        check_layers(
            dir,
            declared,
            tables::CoverageRow::FILE,
            coverage.iter().map(|r| r.layer),
        )?;
        check_layers(
            dir,
            declared,
            tables::DetectorRow::FILE,
            detectors.iter().map(|r| r.layer),
        )?;
        let positional_layers = positional.iter().map(|r| r.layer);
        check_layers(
            dir,
            declared,
            tables::PositionalRow::FILE,
            positional_layers,
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            layers: layer_rows(layers, manifest.options.count_bos),
            coverage: coverage_rows(coverage),
            detectors: detector_rows(detectors),
            positional: positional_rows(positional),
            manifest,
            summary,
        })
    }

    /// Layers in the model (for the normalised depth axis).
    pub fn model_layers(&self) -> usize {
        self.manifest.model.config.num_hidden_layers
    }

    /// `layer / (L - 1)`: depth in 0..=1.
    pub fn depth(&self, layer: usize) -> f64 {
        layer as f64 / (self.model_layers().max(2) - 1) as f64
    }
}

/// Refuses a table of analysis `dir` (file `file`) holding a row of a layer outside the
/// analysis's declared layers (`[start, end)`): a table replaced or edited since.
pub fn check_layers(
    dir: &Path,
    declared: [usize; 2],
    file: &str,
    mut layers: impl Iterator<Item = u16>,
) -> Result<()> {
    match layers.find(|&l| usize::from(l) < declared[0] || usize::from(l) >= declared[1]) {
        Some(layer) => Err(ReportError::analysis(
            dir.join(file),
            format!(
                "holds rows of layer {layer}, but the analysis's manifest declares layers \
                 {}..{}; the tables were replaced or edited",
                declared[0], declared[1]
            ),
        )),
        None => Ok(()),
    }
}

/// Gives analyses whose names would name the same figures (one model analysed on two corpora,
/// a counts analysis beside a shards one, two models called `Foo` and `foo`) labels that tell
/// them apart: the name followed by the last components of their directories that differ, or,
/// where those do not (directories that differ only in case), by their order.
pub fn label_apart(models: &mut [ModelAnalysis]) {
    let slug = crate::figures::slug;
    let mut by_slug: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, m) in models.iter().enumerate() {
        by_slug.entry(slug(&m.name)).or_default().push(i);
    }
    for group in by_slug.into_values().filter(|g| g.len() > 1) {
        let components: Vec<Vec<String>> = group
            .iter()
            .map(|&i| {
                let dir = &models[i].dir;
                let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
                dir.components()
                    .rev()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .collect();
        let label = |path: &[String], n: usize| -> String {
            let mut taken: Vec<&str> = path.iter().take(n).map(String::as_str).collect();
            taken.reverse();
            taken.join("/").trim_start_matches('/').to_string()
        };
        let longest = components.iter().map(Vec::len).max().unwrap_or(0);
        let labelled = |n: usize| -> Vec<String> {
            group
                .iter()
                .zip(&components)
                .map(|(&i, path)| format!("{} ({})", models[i].name, label(path, n)))
                .collect()
        };
        let distinct = |names: &[String]| {
            names.iter().map(|n| slug(n)).collect::<BTreeSet<_>>().len() == names.len()
        };
        let names = (1..=longest)
            .map(labelled)
            .find(|names| distinct(names))
            .unwrap_or_else(|| {
                group
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| format!("{} ({})", models[i].name, k + 1))
                    .collect()
            });
        for (&i, name) in group.iter().zip(names) {
            models[i].name = name;
        }
    }
}

/// The report's view of `layers.parquet`, by layer; `counts_bos` picks the other reading of
/// the `</s>` prefix.
fn layer_rows(rows: Vec<tables::LayerRow>, counts_bos: bool) -> Vec<LayerRow> {
    let four = |c: Option<tables::DetectedCoverage>| {
        c.map_or([None; 4], |c| {
            [c.detected, c.cumulative, c.new_overall, c.new_vs_previous].map(|v| Some(v as f64))
        })
    };
    let mut rows: Vec<LayerRow> = rows
        .into_iter()
        .map(|r| {
            let other = if counts_bos {
                r.dead_without_bos
            } else {
                r.dead_with_bos
            };
            LayerRow {
                layer: usize::from(r.layer),
                tokens: r.tokens as f64,
                neurons: f64::from(r.neurons),
                dead_share: r.dead_share,
                dead_share_other: Some(f64::from(other) / f64::from(r.neurons.max(1))),
                mean_frequency_alive: r.mean_frequency_alive,
                token_detectors: r.token_detectors.map(f64::from),
                trigram_detectors: r.trigram_detectors.map(f64::from),
                tokens_detected: four(r.tokens_detected),
                trigrams_detected: four(r.trigrams_detected),
                positional: r.positional.map(|p| p.map(|counts| counts.map(f64::from))),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.layer);
    rows
}

/// The report's view of `coverage.parquet`.
fn coverage_rows(rows: Vec<tables::CoverageRow>) -> Vec<CoverageRow> {
    rows.into_iter()
        .map(|r| CoverageRow {
            layer: usize::from(r.layer),
            order: r.order.name().to_string(),
            bin: usize::from(r.bin),
            label: r.label,
            neurons: r.neurons as f64,
        })
        .collect()
}

/// The report's view of `detectors.parquet`.
fn detector_rows(rows: Vec<tables::DetectorRow>) -> Vec<DetectorRow> {
    let names = |t: &[tables::RankedToken]| t.iter().map(|t| t.name.clone()).collect();
    let ids = |t: &[tables::RankedToken]| t.iter().map(|t| t.id).collect();
    rows.into_iter()
        .map(|r| {
            let p = r.projection.as_ref();
            DetectorRow {
                layer: usize::from(r.layer),
                neuron: usize::from(r.neuron),
                kind: r.kind.name().to_string(),
                trigger_fires: r.trigger_fires.iter().map(|&f| f as f64).collect(),
                coverage: r.coverage,
                promoted: p.map(|p| names(&p.promoted)),
                promoted_ids: p.map(|p| ids(&p.promoted)),
                suppressed: p.map(|p| names(&p.suppressed)),
                suppressed_ids: p.map(|p| ids(&p.suppressed)),
                suppresses_triggers: p.and_then(|p| p.suppresses_triggers),
                triggers: r.triggers,
                trigger_ids: r.trigger_ids,
            }
        })
        .collect()
}

/// The report's view of `positional.parquet`.
fn positional_rows(rows: Vec<tables::PositionalRow>) -> Vec<PositionalRow> {
    rows.into_iter()
        .map(|r| PositionalRow {
            layer: usize::from(r.layer),
            neuron: usize::from(r.neuron),
            mi: r.mi,
            kind: r.class.kind.name().to_string(),
            strong: r.class.strong,
            first_position: usize::from(r.first_position),
            curve: r.frequency.iter().map(|&x| f64::from(x)).collect(),
            ranges: r
                .ranges
                .iter()
                .map(|&(a, b)| (f64::from(a), f64::from(b)))
                .collect(),
        })
        .collect()
}
