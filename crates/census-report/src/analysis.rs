//! One analysis directory loaded for the report: its manifest, summary and tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use census_format::analysis::AnalysisManifest;
use census_format::analysis::Summary;

use census_format::analysis::tables::{
    AnalysisTable, CoverageRow, DeadSaturationRow, DetectorRow, LayerRow, PositionalRow,
};

use crate::error::{ReportError, Result};

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
    /// Each layer's dead neurons after each doubling of the tokens read (empty in analyses
    /// written before it).
    pub dead_saturation: Vec<DeadSaturationRow>,
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
        let (mut layers, coverage, detectors, positional) = (
            LayerRow::read(dir)?,
            CoverageRow::read(dir)?,
            DetectorRow::read(dir)?,
            PositionalRow::read(dir)?,
        );
        layers.sort_by_key(|r| r.layer);
        let declared = manifest.layers;
        check_layers(
            dir,
            declared,
            LayerRow::FILE,
            layers.iter().map(|r| r.layer),
        )?;
        check_layers(
            dir,
            declared,
            CoverageRow::FILE,
            coverage.iter().map(|r| r.layer),
        )?;
        check_layers(
            dir,
            declared,
            DetectorRow::FILE,
            detectors.iter().map(|r| r.layer),
        )?;
        let positional_layers = positional.iter().map(|r| r.layer);
        check_layers(dir, declared, PositionalRow::FILE, positional_layers)?;
        let dead_saturation = if manifest.tables.iter().any(|t| t == DeadSaturationRow::FILE) {
            DeadSaturationRow::read(dir)?
        } else {
            Vec::new()
        };
        check_layers(
            dir,
            declared,
            DeadSaturationRow::FILE,
            dead_saturation.iter().map(|r| r.layer),
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            layers,
            coverage,
            detectors,
            positional,
            dead_saturation,
            manifest,
            summary,
        })
    }

    /// Layers in the model (for the normalised depth axis).
    pub fn model_layers(&self) -> usize {
        self.manifest.model.config.num_hidden_layers
    }

    /// `layer / (L - 1)`: depth in 0..=1.
    pub fn depth(&self, layer: u16) -> f64 {
        f64::from(layer) / (self.model_layers().max(2) - 1) as f64
    }

    /// The dead share of `layer` under the other reading of the `</s>` prefix than the
    /// analysis's own (never fires outside it, or never fires at all).
    pub fn dead_share_other(&self, layer: &LayerRow) -> f64 {
        let other = if self.manifest.options.count_bos {
            layer.dead_without_bos
        } else {
            layer.dead_with_bos
        };
        f64::from(other) / f64::from(layer.neurons.max(1))
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
