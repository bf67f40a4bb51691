//! The Parquet tables of an analysis directory held together: written in one order by
//! `analyze` and by the merge of a split analysis, and read back by the merge.

use std::path::Path;

use rayon::prelude::*;

use census_format::analysis::tables::{
    AnalysisTable, ContextRow, CoverageRow, DeadSaturationRow, DetectorNullRow, DetectorRow,
    DetectorSensitivityRow, DetectorStabilityRow, LayerRow, NeuronRow, PositionCurveRow,
    PositionalDomainRow, PositionalRow, ProjectionRow, TokenNeuronRow,
};

use crate::error::Result;

/// Every row of an analysis's tables (the vocabulary aside).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnalysisTables {
    /// `neurons.parquet`.
    pub neurons: Vec<NeuronRow>,
    /// `layers.parquet`.
    pub layers: Vec<LayerRow>,
    /// `coverage.parquet`.
    pub coverage: Vec<CoverageRow>,
    /// `detectors.parquet`.
    pub detectors: Vec<DetectorRow>,
    /// `positional.parquet`.
    pub positional: Vec<PositionalRow>,
    /// `positional_domains.parquet`, when the positional data held two or more domains.
    pub positional_domains: Option<Vec<PositionalDomainRow>>,
    /// `projections.parquet`, when every alive neuron was projected.
    pub projections: Option<Vec<ProjectionRow>>,
    /// `position_curves.parquet`, when positions were analysed and curves asked for.
    pub position_curves: Option<Vec<PositionCurveRow>>,
    /// `token_neurons.parquet`, when unigram tables were counted and neurons per token asked
    /// for.
    pub token_neurons: Option<Vec<TokenNeuronRow>>,
    /// `contexts.parquet`, when example contexts were asked for.
    pub contexts: Option<Vec<ContextRow>>,
    /// `detector_sensitivity.parquet`, when unigram or trigram tables were counted.
    pub detector_sensitivity: Option<Vec<DetectorSensitivityRow>>,
    /// `dead_saturation.parquet` (absent in analyses written before it).
    pub dead_saturation: Option<Vec<DeadSaturationRow>>,
    /// `detector_stability.parquet`, with `--detector-stability`.
    pub detector_stability: Option<Vec<DetectorStabilityRow>>,
    /// `detector_null.parquet`, with `--shuffled-null`.
    pub detector_null: Option<Vec<DetectorNullRow>>,
}

impl AnalysisTables {
    /// Writes every table into analysis directory `dir` (footer `metadata`); returns the file
    /// names written, in order.
    pub fn write(&self, dir: &Path, metadata: &[(String, String)]) -> Result<Vec<&'static str>> {
        /// A table to write: its file, and the write.
        type Job<'a> = (
            &'static str,
            Box<dyn Fn() -> census_format::Result<()> + Send + Sync + 'a>,
        );
        fn job<'a, T: AnalysisTable + Sync>(
            dir: &'a Path,
            rows: &'a [T],
            metadata: &'a [(String, String)],
        ) -> Job<'a> {
            (T::FILE, Box::new(move || T::write(dir, rows, metadata)))
        }
        let mut jobs: Vec<Job<'_>> = vec![
            job(dir, &self.neurons, metadata),
            job(dir, &self.layers, metadata),
            job(dir, &self.coverage, metadata),
            job(dir, &self.detectors, metadata),
            job(dir, &self.positional, metadata),
        ];
        if let Some(rows) = &self.positional_domains {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.projections {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.position_curves {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.token_neurons {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.contexts {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.detector_sensitivity {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.dead_saturation {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.detector_stability {
            jobs.push(job(dir, rows, metadata));
        }
        if let Some(rows) = &self.detector_null {
            jobs.push(job(dir, rows, metadata));
        }
        // Each table is its own file: they are written side by side.
        jobs.par_iter().try_for_each(|(_, write)| write())?;
        Ok(jobs.iter().map(|(file, _)| *file).collect())
    }

    /// Reads the tables of analysis directory `dir`; the optional ones where `listed` (the
    /// manifest's `tables`) names them.
    pub fn read(dir: &Path, listed: &[String]) -> Result<Self> {
        let has = |file: &str| listed.iter().any(|t| t == file);
        Ok(Self {
            neurons: NeuronRow::read(dir)?,
            layers: LayerRow::read(dir)?,
            coverage: CoverageRow::read(dir)?,
            detectors: DetectorRow::read(dir)?,
            positional: PositionalRow::read(dir)?,
            positional_domains: has(PositionalDomainRow::FILE)
                .then(|| PositionalDomainRow::read(dir))
                .transpose()?,
            projections: has(ProjectionRow::FILE)
                .then(|| ProjectionRow::read(dir))
                .transpose()?,
            position_curves: has(PositionCurveRow::FILE)
                .then(|| PositionCurveRow::read(dir))
                .transpose()?,
            token_neurons: has(TokenNeuronRow::FILE)
                .then(|| TokenNeuronRow::read(dir))
                .transpose()?,
            contexts: has(ContextRow::FILE)
                .then(|| ContextRow::read(dir))
                .transpose()?,
            detector_sensitivity: has(DetectorSensitivityRow::FILE)
                .then(|| DetectorSensitivityRow::read(dir))
                .transpose()?,
            dead_saturation: has(DeadSaturationRow::FILE)
                .then(|| DeadSaturationRow::read(dir))
                .transpose()?,
            detector_stability: has(DetectorStabilityRow::FILE)
                .then(|| DetectorStabilityRow::read(dir))
                .transpose()?,
            detector_null: has(DetectorNullRow::FILE)
                .then(|| DetectorNullRow::read(dir))
                .transpose()?,
        })
    }

    /// The first table holding a row of a layer outside `layers` (`[start, end)`, as the
    /// analysis's manifest declares them), with that layer.
    pub fn layer_outside(&self, layers: [usize; 2]) -> Option<(&'static str, u16)> {
        fn first<T>(rows: Option<&[T]>, layer: fn(&T) -> u16, range: [usize; 2]) -> Option<u16> {
            rows?
                .iter()
                .map(layer)
                .find(|&l| usize::from(l) < range[0] || usize::from(l) >= range[1])
        }
        let found = [
            (
                NeuronRow::FILE,
                first(Some(&self.neurons), |r| r.layer, layers),
            ),
            (
                LayerRow::FILE,
                first(Some(&self.layers), |r| r.layer, layers),
            ),
            (
                CoverageRow::FILE,
                first(Some(&self.coverage), |r| r.layer, layers),
            ),
            (
                DetectorRow::FILE,
                first(Some(&self.detectors), |r| r.layer, layers),
            ),
            (
                PositionalRow::FILE,
                first(Some(&self.positional), |r| r.layer, layers),
            ),
            (
                PositionalDomainRow::FILE,
                first(self.positional_domains.as_deref(), |r| r.layer, layers),
            ),
            (
                ProjectionRow::FILE,
                first(self.projections.as_deref(), |r| r.layer, layers),
            ),
            (
                PositionCurveRow::FILE,
                first(self.position_curves.as_deref(), |r| r.layer, layers),
            ),
            (
                TokenNeuronRow::FILE,
                first(self.token_neurons.as_deref(), |r| r.layer, layers),
            ),
            (
                ContextRow::FILE,
                first(self.contexts.as_deref(), |r| r.layer, layers),
            ),
            (
                DetectorSensitivityRow::FILE,
                first(self.detector_sensitivity.as_deref(), |r| r.layer, layers),
            ),
            (
                DeadSaturationRow::FILE,
                first(self.dead_saturation.as_deref(), |r| r.layer, layers),
            ),
            (
                DetectorStabilityRow::FILE,
                first(self.detector_stability.as_deref(), |r| r.layer, layers),
            ),
            (
                DetectorNullRow::FILE,
                first(self.detector_null.as_deref(), |r| r.layer, layers),
            ),
        ];
        found
            .into_iter()
            .find_map(|(file, layer)| layer.map(|l| (file, l)))
    }

    /// Appends the rows of `other`, an analysis of later layers (token neurons are selected
    /// again by the merge).
    pub fn append(&mut self, other: Self) {
        fn extend<T>(into: &mut Option<Vec<T>>, from: Option<Vec<T>>) {
            if let Some(rows) = from {
                into.get_or_insert_with(Vec::new).extend(rows);
            }
        }
        self.neurons.extend(other.neurons);
        self.layers.extend(other.layers);
        self.coverage.extend(other.coverage);
        self.detectors.extend(other.detectors);
        self.positional.extend(other.positional);
        extend(&mut self.positional_domains, other.positional_domains);
        extend(&mut self.projections, other.projections);
        extend(&mut self.position_curves, other.position_curves);
        extend(&mut self.token_neurons, other.token_neurons);
        extend(&mut self.contexts, other.contexts);
        extend(&mut self.detector_sensitivity, other.detector_sensitivity);
        extend(&mut self.dead_saturation, other.dead_saturation);
        extend(&mut self.detector_stability, other.detector_stability);
        extend(&mut self.detector_null, other.detector_null);
    }
}
