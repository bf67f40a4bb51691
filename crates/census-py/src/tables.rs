//! Runs and analyses read for Python: each table by its census-format reader (checked as the
//! command checks it), then as one Arrow record batch.

use std::path::Path;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use census_format::analysis::tables::{
    ContextRow, CoverageRow, DeadSaturationRow, DetectorNullRow, DetectorRow,
    DetectorSensitivityRow, DetectorStabilityRow, LayerRow, NeuronRow, PositionCurveRow,
    PositionalDomainRow, PositionalRow, ProjectionRow, TokenNeuronRow,
};
use census_format::analysis::vocabulary::VOCABULARY_FILE;
use census_format::analysis::{AnalysisManifest, AnalysisTable, Summary, Vocabulary};
use census_format::run::Manifest;
use census_format::run::counts::{counts_batch, counts_path, read_counts};
use census_format::run::manifest::CommittedPart;
use census_format::run::tables::{
    PartCheck, activations_batch, activations_path, read_activations, read_tokens, tokens_batch,
    tokens_path,
};

/// One table an analysis may hold: its name (the file's stem) and its reader.
pub struct Table {
    /// The name Python asks for (`neurons` for `neurons.parquet`).
    pub name: &'static str,
    /// The file in the analysis directory.
    pub file: &'static str,
    /// Reads and checks the table, as one batch.
    read: fn(&Path) -> Result<RecordBatch>,
    /// Reads and checks one neuron's rows (`layer`, `neuron`), for a table of neurons.
    read_neuron: Option<NeuronReader>,
}

/// Reads one neuron's rows (`layer`, `neuron`) of a table of analysis `dir`.
type NeuronReader = fn(dir: &Path, layer: usize, neuron: usize) -> Result<RecordBatch>;

/// A table read by its [`AnalysisTable`] rows.
fn rows<T: AnalysisTable>(dir: &Path) -> Result<RecordBatch> {
    Ok(T::to_batch(&T::read(dir)?)?)
}

/// One neuron's rows of a table read by its [`AnalysisTable`] rows.
fn neuron_rows<T: AnalysisTable>(dir: &Path, layer: usize, neuron: usize) -> Result<RecordBatch> {
    Ok(T::to_batch(&T::read_neuron(dir, layer, neuron)?)?)
}

/// The vocabulary table.
fn vocabulary(dir: &Path) -> Result<RecordBatch> {
    Ok(Vocabulary::read(&dir.join(VOCABULARY_FILE))?.to_batch()?)
}

/// Every table of `docs/SCHEMA.md` an analysis may hold.
pub const TABLES: [Table; 15] = [
    of_neurons::<NeuronRow>("neurons"),
    table::<LayerRow>("layers"),
    table::<CoverageRow>("coverage"),
    of_neurons::<DetectorRow>("detectors"),
    of_neurons::<PositionalRow>("positional"),
    of_neurons::<PositionalDomainRow>("positional_domains"),
    of_neurons::<PositionCurveRow>("position_curves"),
    of_neurons::<ProjectionRow>("projections"),
    of_neurons::<TokenNeuronRow>("token_neurons"),
    of_neurons::<ContextRow>("contexts"),
    table::<DetectorSensitivityRow>("detector_sensitivity"),
    table::<DeadSaturationRow>("dead_saturation"),
    table::<DetectorStabilityRow>("detector_stability"),
    table::<DetectorNullRow>("detector_null"),
    Table {
        name: "vocabulary",
        file: VOCABULARY_FILE,
        read: vocabulary,
        read_neuron: None,
    },
];

/// A table of `T` rows.
const fn table<T: AnalysisTable>(name: &'static str) -> Table {
    Table {
        name,
        file: T::FILE,
        read: rows::<T>,
        read_neuron: None,
    }
}

/// A table of `T` rows with a `layer` and a `neuron` column, read whole or one neuron at a time.
const fn of_neurons<T: AnalysisTable>(name: &'static str) -> Table {
    Table {
        read_neuron: Some(neuron_rows::<T>),
        ..table::<T>(name)
    }
}

/// `summary.json` of analysis `dir`, read as the report reads it, as JSON text.
pub fn summary_json(dir: &Path) -> Result<String> {
    Ok(serde_json::to_string(&Summary::load(dir)?)?)
}

/// The names of the tables the manifest of analysis `dir` lists.
pub fn listed_tables(dir: &Path) -> Result<Vec<String>> {
    let manifest = AnalysisManifest::load(dir)?;
    Ok(TABLES
        .iter()
        .filter(|t| manifest.tables.iter().any(|f| f == t.file))
        .map(|t| t.name.to_string())
        .collect())
}

/// Table `name` of analysis `dir`: one it lists, read and checked.
pub fn analysis_table(dir: &Path, name: &str) -> Result<RecordBatch> {
    (listed_table(dir, name)?.read)(dir)
}

/// The rows of neuron `neuron` of layer `layer` in table `name` of analysis `dir` (a table of
/// neurons it lists), read without the rest of the table and checked.
pub fn analysis_neuron_rows(
    dir: &Path,
    name: &str,
    layer: usize,
    neuron: usize,
) -> Result<RecordBatch> {
    let table = listed_table(dir, name)?;
    let Some(read) = table.read_neuron else {
        bail!("table `{name}` has no rows per neuron; read it whole");
    };
    read(dir, layer, neuron)
}

/// The entry of table `name`, which analysis `dir` lists.
fn listed_table(dir: &Path, name: &str) -> Result<&'static Table> {
    let Some(table) = TABLES.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        bail!(
            "no table `{name}`: an analysis's tables are {}",
            names.join(", ")
        );
    };
    let listed = listed_tables(dir)?;
    if !listed.iter().any(|l| l == name) {
        bail!(
            "{}: this analysis has no {} (it has {}; see docs/ANALYSIS.md for the options that \
             write it)",
            dir.display(),
            table.file,
            listed.join(", ")
        );
    }
    Ok(table)
}

/// `manifest.json` of run `dir`, checked, as JSON text.
pub fn run_manifest_json(dir: &Path) -> Result<String> {
    Ok(serde_json::to_string(&run_manifest(dir)?)?)
}

fn run_manifest(dir: &Path) -> Result<Manifest> {
    Manifest::load(dir)?.with_context(|| {
        format!(
            "{}: no manifest.json, so not a run directory of neuron-census",
            dir.display()
        )
    })
}

/// Committed part `part` of `manifest`.
fn committed(manifest: &Manifest, dir: &Path, part: u32) -> Result<CommittedPart> {
    manifest
        .parts
        .iter()
        .find(|p| p.index == part)
        .cloned()
        .with_context(|| format!("{}: part {part} is not committed", dir.display()))
}

/// The token rows of committed part `part` of run `dir`, checked against its manifest.
pub fn tokens_part(dir: &Path, part: u32) -> Result<RecordBatch> {
    let manifest = run_manifest(dir)?;
    let committed = committed(&manifest, dir, part)?;
    let check = PartCheck::of(&manifest, &committed, None);
    let rows = read_tokens(&tokens_path(dir, part), Some(&check))?;
    let domain_ids = rows
        .domain
        .iter()
        .map(|d| {
            manifest
                .domains
                .iter()
                .position(|known| known == d)
                .map(|i| i as i32)
                .with_context(|| format!("{}: domain '{d}' is not in the manifest", dir.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(tokens_batch(
        rows.seq,
        rows.pos,
        rows.token,
        rows.doc,
        domain_ids,
        &manifest.domains,
    )?)
}

/// The fired neurons of `layer` in committed part `part` of shards run `dir`, checked.
pub fn activations_part(dir: &Path, layer: usize, part: u32) -> Result<RecordBatch> {
    let manifest = run_manifest(dir)?;
    if !manifest.config.record.is_shards() {
        bail!(
            "{}: a counts run records no fired neurons per token; read its counts",
            dir.display()
        );
    }
    let committed = committed(&manifest, dir, part)?;
    let check = PartCheck::of(&manifest, &committed, Some(layer));
    let rows = read_activations(&activations_path(dir, layer, part), Some(&check))?;
    Ok(activations_batch(rows)?)
}

/// The fire counts of `layer` in committed part `part` of counts run `dir`, checked.
pub fn counts_part(dir: &Path, layer: usize, part: u32) -> Result<RecordBatch> {
    let manifest = run_manifest(dir)?;
    if manifest.config.record.is_shards() {
        bail!(
            "{}: a shards run records fired neurons per token; read its activations",
            dir.display()
        );
    }
    let committed = committed(&manifest, dir, part)?;
    let check = PartCheck::of_file(
        &manifest,
        &committed,
        census_format::run::tables::PartFile::Counts(layer),
    );
    let ffn = manifest.config.model.config.ffn_dim;
    let positions = manifest
        .config
        .sequences
        .full_length
        .then_some(manifest.config.sequences.max_seq_len);
    let counts = read_counts(&counts_path(dir, layer, part), Some(&check), ffn, positions)?;
    Ok(counts_batch(&counts)?)
}
