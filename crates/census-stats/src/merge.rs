//! A split analysis made whole: `analyze --layers a..b` analyses one layer range (one job of a
//! Slurm array, say), and [`merge_analyses`] combines the parts into the directory one analysis
//! of every layer writes. Per-layer rows are concatenated; what spans layers (the detected
//! n-gram coverage, the summary) is computed again from the merged tables, and the positional
//! domain counts are added.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use census_format::analysis::vocabulary::VOCABULARY_FILE;
use census_format::{OutputLock, StagedDir};

use crate::analysis_tables::AnalysisTables;
use census_format::analysis::manifest::{AnalysisManifest, MANIFEST_FILE, SUMMARY_FILE};

use crate::analyze::check_output_dir;
use crate::analyze::write::{table_metadata, write_json};
use crate::error::{Result, StatsError};
use crate::summary::{SummaryContext, fill_detected_coverage, summarise};
use crate::token_neurons::TokenNeurons;
use census_format::analysis::sections::SectionBases;
use census_format::analysis::summary::{DomainStability, Summary};

/// One part of a split analysis, as read from its directory.
struct Part {
    dir: PathBuf,
    manifest: AnalysisManifest,
    summary: Summary,
}

impl Part {
    fn open(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest: AnalysisManifest::load(dir)?,
            summary: Summary::load(dir)?,
        })
    }

    fn refuse(&self, reason: impl Into<String>) -> StatsError {
        StatsError::MergePart {
            path: self.dir.clone(),
            reason: reason.into(),
        }
    }
}

/// Checks that `part` analysed what `first` did (the same runs, model and options), differing
/// only in its layers.
fn check_same_analysis(first: &Part, part: &Part) -> Result<()> {
    let (a, b) = (&first.manifest, &part.manifest);
    let inputs = |m: &AnalysisManifest| {
        m.inputs
            .iter()
            .map(|r| (r.run_id.clone(), r.shard, r.complete, r.parts, r.tokens))
            .collect::<Vec<_>>()
    };
    let differs = |what: &str| {
        part.refuse(format!(
            "it differs from {} in its {what} (analyse every part of the same runs with the \
             same options, changing only --layers)",
            first.dir.display()
        ))
    };
    if inputs(a) != inputs(b) {
        return Err(differs("input runs"));
    }
    if a.model != b.model {
        return Err(differs("model"));
    }
    if a.options != b.options {
        return Err(differs("options"));
    }
    if a.full_length != b.full_length {
        return Err(differs("sequence length"));
    }
    if first.summary.sequences != part.summary.sequences {
        return Err(differs("number of sequences"));
    }
    if a.projection_weights.is_some() != b.projection_weights.is_some() {
        return Err(differs("projection of the detectors"));
    }
    let all_projected = |m: &AnalysisManifest| m.tables.iter().any(|t| t == "projections.parquet");
    if all_projected(a) != all_projected(b) {
        return Err(part.refuse(format!(
            "it {} every alive neuron and {} did not; analyse every part with --project-all on \
             or --project-all off",
            if all_projected(b) {
                "projected"
            } else {
                "did not project"
            },
            first.dir.display()
        )));
    }
    if a.tokenizer.is_some() != b.tokenizer.is_some() {
        return Err(differs("tokenizer"));
    }
    Ok(())
}

/// The data bases of the sections: the same frequency data in every part, and the n-gram and
/// positional data of the parts whose layers counted them.
fn merge_sections(parts: &[Part]) -> Result<Option<SectionBases>> {
    let mut merged: Option<SectionBases> = None;
    for part in parts {
        let Some(bases) = &part.manifest.sections else {
            continue;
        };
        let Some(into) = &mut merged else {
            merged = Some(bases.clone());
            continue;
        };
        let differs = || part.refuse("the data its sections rest on differs from the other parts'");
        if into.frequency != bases.frequency {
            return Err(differs());
        }
        for (into, from) in [
            (&mut into.ngram, &bases.ngram),
            (&mut into.positional, &bases.positional),
        ] {
            match (into.as_ref(), from) {
                (Some(a), Some(b)) if a != b => return Err(differs()),
                (None, Some(b)) => *into = Some(b.clone()),
                _ => {}
            }
        }
    }
    Ok(merged)
}

/// Positional neurons across domains: the parts' counts added (each counts its own layers).
fn merge_domain_stability(parts: &[Part]) -> Result<Option<DomainStability>> {
    let mut merged: Option<DomainStability> = None;
    for part in parts {
        let Some(stability) = &part.summary.positional_domains else {
            continue;
        };
        let Some(into) = &mut merged else {
            merged = Some(stability.clone());
            continue;
        };
        let same_domains = into.domains.len() == stability.domains.len()
            && into
                .domains
                .iter()
                .zip(&stability.domains)
                .all(|(a, b)| a.domain == b.domain && a.tokens == b.tokens);
        if !same_domains {
            return Err(part.refuse("its positional domains differ from the other parts'"));
        }
        for (a, b) in into.domains.iter_mut().zip(&stability.domains) {
            a.positional += b.positional;
            a.same_type += b.same_type;
        }
        into.pooled += stability.pooled;
        into.positional_in_every_domain += stability.positional_in_every_domain;
        into.same_type_in_every_domain += stability.same_type_in_every_domain;
    }
    Ok(merged)
}

/// Orders the parts by layer and checks that their layer ranges follow each other without a
/// gap or an overlap.
fn order_layers(parts: &mut [Part]) -> Result<()> {
    parts.sort_by_key(|p| p.manifest.layers);
    for pair in parts.windows(2) {
        let ([_, end], [start, _]) = (pair[0].manifest.layers, pair[1].manifest.layers);
        if start != end {
            return Err(pair[1].refuse(format!(
                "its layers start at {start}, but {} ends at layer {end} ({}); the parts' \
                 --layers must follow each other",
                pair[0].dir.display(),
                if start < end { "an overlap" } else { "a gap" }
            )));
        }
    }
    Ok(())
}

/// Reads the vocabulary table every part wrote (they must be identical).
fn merged_vocabulary(parts: &[Part]) -> Result<Option<Vec<u8>>> {
    let mut vocabulary: Option<Vec<u8>> = None;
    for part in parts {
        if !part.manifest.tables.iter().any(|t| t == VOCABULARY_FILE) {
            continue;
        }
        let path = part.dir.join(VOCABULARY_FILE);
        let bytes = std::fs::read(&path).map_err(|e| StatsError::io("cannot read", &path, e))?;
        match &vocabulary {
            Some(first) if *first != bytes => {
                return Err(part.refuse("its vocabulary differs from the other parts'"));
            }
            Some(_) => {}
            None => vocabulary = Some(bytes),
        }
    }
    Ok(vocabulary)
}

/// Combines the analyses in `parts` (each of a layer range of the same runs, with the same
/// options) into the analysis directory `out`, equal to the analysis of all their layers at
/// once; returns its headline numbers. `out` is replaced only when complete, and only if it
/// holds an analysis.
pub fn merge_analyses(parts: &[PathBuf], out: &Path) -> Result<Summary> {
    let started = Instant::now();
    if parts.is_empty() {
        return Err(crate::error::RequestError::NothingToMerge.into());
    }
    let _lock = OutputLock::acquire(out, "merge-analyses")?;
    let mut parts: Vec<Part> = parts.iter().map(|p| Part::open(p)).collect::<Result<_>>()?;
    for part in &parts {
        if part.dir.canonicalize().ok() == out.canonicalize().ok() && out.exists() {
            return Err(part.refuse("it is also the output directory; merge into a new one"));
        }
    }
    for part in &parts[1..] {
        check_same_analysis(&parts[0], part)?;
    }
    order_layers(&mut parts)?;
    let sections = merge_sections(&parts)?;
    let positional_domains = merge_domain_stability(&parts)?;
    let vocabulary = merged_vocabulary(&parts)?;
    check_output_dir(out)?;

    let mut tables = AnalysisTables::default();
    for part in &parts {
        let read = AnalysisTables::read(&part.dir, &part.manifest.tables)?;
        if let Some((file, layer)) = read.layer_outside(part.manifest.layers) {
            let [start, end] = part.manifest.layers;
            return Err(part.refuse(format!(
                "{file} holds rows of layer {layer}, but its manifest declares layers \
                 {start}..{end}; the part's tables were replaced or edited"
            )));
        }
        tables.append(read);
    }
    let first = &parts[0].manifest;
    if let Some(rows) = tables.token_neurons.take() {
        // Each part selected over its layers; selecting again from their union selects over all.
        let names: HashMap<u32, &str> = rows
            .iter()
            .map(|r| (r.token_id, r.token.as_str()))
            .collect();
        let selected = TokenNeurons::from_rows(first.options.token_neurons, &rows);
        tables.token_neurons = Some(selected.rows(&|id| names[&id].to_string()));
    }
    fill_detected_coverage(&mut tables.layers, &tables.detectors);
    let mut summary = summarise(
        &tables,
        SummaryContext {
            model: first.model.source.clone(),
            sequences: parts[0].summary.sequences,
            counts_bos: first.options.count_bos,
            projected: first.projection_weights.is_some(),
            min_occurrences: first.options.detectors.min_occurrences,
        },
    );
    summary.positional_domains = positional_domains;

    let staged = StagedDir::begin(out, census_format::analysis::ANALYSIS_OWNED)?;
    let dir = staged.path();
    let mut written = tables.write(dir, &table_metadata(&first.model.source))?;
    if let Some(bytes) = &vocabulary {
        census_format::write_atomic(&dir.join(VOCABULARY_FILE), bytes)?;
        written.push(VOCABULARY_FILE);
    }
    write_json(&dir.join(SUMMARY_FILE), &summary)?;
    let last = &parts[parts.len() - 1].manifest;
    let manifest = AnalysisManifest {
        layers: [first.layers[0], last.layers[1]],
        sections,
        seconds: parts.iter().map(|p| p.manifest.seconds).sum::<f64>()
            + started.elapsed().as_secs_f64(),
        tables: written.iter().map(|t| t.to_string()).collect(),
        ..first.clone()
    };
    write_json(&dir.join(MANIFEST_FILE), &manifest)?;
    staged.commit()?;
    tracing::info!(
        out = %out.display(),
        parts = parts.len(),
        layers = ?manifest.layers,
        "merged analysis written"
    );
    Ok(summary)
}
