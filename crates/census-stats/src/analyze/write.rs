//! The write phase: tables, summary and manifest written into a staging directory that
//! replaces the analysis directory only when complete.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use census_format::analysis::manifest::{
    ANALYSIS_KIND, ANALYSIS_SCHEMA_VERSION, AnalysisManifest, InputRun, MANIFEST_FILE,
    RunProvenance, SUMMARY_FILE,
};
use census_format::analysis::tables::{ContextRow, LayerRow};
use census_format::analysis::vocabulary::VOCABULARY_FILE;
use census_format::run::Manifest;
use census_format::{StagedDir, write_atomic};
use serde::Serialize;

use super::AnalyzeRequest;
use super::count::Counted;
use super::plan::AnalysisPlan;
use super::project::Projected;
use crate::analysis_tables::AnalysisTables;
use crate::contexts::Place;
use crate::error::Result;
use crate::layer_analysis::LayerResult;
use crate::tables;
use census_format::analysis::summary::Summary;
use census_format::analysis::tables::Order;

/// Writes the tables, the summary and the manifest into a staging directory that replaces
/// `--out` only when complete; returns the headline numbers.
pub(super) fn write(
    plan: &AnalysisPlan,
    request: &AnalyzeRequest,
    counted: Counted,
    projected: Projected,
    started: Instant,
) -> Result<Summary> {
    let options = &request.options;
    let set = plan.sources.main();
    let Counted {
        mut results,
        tally,
        bases,
        by_domain,
        stability,
        null,
    } = counted;
    let Projected {
        detectors,
        model_dir,
        tokenizer,
        projections,
        all_projections,
    } = projected;
    let token_name = |id: u32| -> String {
        tokenizer
            .as_ref()
            .and_then(|t| t.tokenizer.token(id))
            .unwrap_or_else(|| format!("#{id}"))
    };
    let mut summaries = layer_summaries(&results);
    let staged = StagedDir::begin(&request.out, census_format::analysis::ANALYSIS_OWNED)?;
    let out = staged.path();
    let metadata = table_metadata(set.model_source());
    // The example contexts' places, where the counting gathered them for every layer.
    let gathered: Option<BTreeMap<usize, _>> = plan
        .contexts_while_counting
        .then(|| {
            results
                .iter_mut()
                .map(|r| Some((r.layer, r.places.take()?)))
                .collect()
        })
        .flatten();
    let positional: Vec<_> = results.iter().flat_map(|r| &r.positional).collect();
    let detector_rows = tables::detector_rows(&detectors, projections.as_deref(), &token_name);
    crate::summary::fill_detected_coverage(&mut summaries, &detector_rows);
    // The contexts read the runs again, layers side by side; the neurons of each token are
    // merged beside them.
    let (contexts, token_neurons) = rayon::join(
        || {
            (options.contexts > 0)
                .then(|| example_contexts(plan, &results, options.contexts, gathered))
                .transpose()
        },
        || tables::token_neuron_rows(&results, options.token_neurons, &token_name),
    );
    let written_tables = AnalysisTables {
        neurons: tables::neuron_rows(&results),
        layers: summaries,
        coverage: tables::coverage_rows(&results, &options.coverage_bins),
        detectors: detector_rows,
        positional: tables::positional_rows(&positional),
        positional_domains: by_domain
            .as_ref()
            .map(|(rows, _)| tables::positional_domain_rows(rows)),
        projections: all_projections
            .as_ref()
            .map(|rows| tables::projection_rows(rows, &token_name)),
        position_curves: (options.positional.curve_bins > 0
            && results.iter().any(|r| r.positions_analysed))
        .then(|| results.iter().flat_map(|r| r.curves.clone()).collect()),
        token_neurons,
        contexts: contexts?,
        detector_sensitivity: tables::detector_sensitivity_rows(&results),
        dead_saturation: Some(tables::dead_saturation_rows(&results)),
        detector_stability: stability,
        detector_null: null,
    };
    let mut written = written_tables.write(out, &metadata)?;
    if let Some(found) = &tokenizer {
        let path = out.join(VOCABULARY_FILE);
        let batch = crate::model_files::vocabulary(&found.tokenizer)
            .to_batch()
            .map_err(|source| census_format::FormatError::Arrow {
                path: path.clone(),
                source,
            })?;
        census_format::analysis::tables::write_table(&path, &batch, &metadata)?;
        written.push(VOCABULARY_FILE);
    }
    let mut summary = crate::summary::summarise(
        &written_tables,
        crate::summary::SummaryContext {
            model: set.model_source().to_string(),
            sequences: tally.sequences,
            counts_bos: options.count_bos,
            projected: projections.is_some(),
            min_occurrences: options.detectors.min_occurrences,
        },
    );
    summary.positional_domains = by_domain.map(|(_, stability)| stability);
    write_json(&out.join(SUMMARY_FILE), &summary)?;
    let parts = set.parts();
    let layers = &plan.layers;
    let manifest = AnalysisManifest {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        kind: ANALYSIS_KIND.to_string(),
        producer: format!("neuron-census {}", env!("CARGO_PKG_VERSION")),
        inputs: set
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| InputRun {
                dir: r.dir.clone(),
                run_id: r.manifest.run_id.clone(),
                shard: r.manifest.config.shard,
                complete: r.manifest.complete,
                parts: parts.iter().filter(|p| p.run == i).count(),
                tokens: parts.iter().filter(|p| p.run == i).map(|p| p.rows).sum(),
                provenance: run_provenance(&r.manifest),
            })
            .collect(),
        model: set.runs[0].manifest.config.model.clone(),
        model_name: census_format::model::model_name(set.model_source()),
        training: census_format::model::training_point(set.model_source())
            .map_err(crate::error::RequestError::TrainingPoint)?,
        fire_threshold: set.runs[0].manifest.config.fire_threshold,
        layers: [layers[0], layers[layers.len() - 1] + 1],
        full_length: plan.full_length,
        options: options.clone(),
        projection_weights: model_dir,
        tokenizer: tokenizer.as_ref().map(|t| t.dir.clone()),
        sections: Some(bases),
        seconds: started.elapsed().as_secs_f64(),
        tables: written.iter().map(|n| n.to_string()).collect(),
    };
    write_json(&out.join(MANIFEST_FILE), &manifest)?;
    staged.commit()?;
    tracing::info!(
        out = %request.out.display(),
        seconds = manifest.seconds,
        dead = summary.dead.total,
        detectors = detectors.len(),
        positional = positional.len(),
        "analysis written"
    );
    Ok(summary)
}

/// Per-layer aggregates from the layer results; the detected-n-gram coverage is filled in from
/// the detectors' rows ([`crate::summary::fill_detected_coverage`]).
fn layer_summaries(results: &[LayerResult]) -> Vec<LayerRow> {
    results
        .iter()
        .map(|r| {
            let neurons = r.neurons.len() as u32;
            let dead = r.neurons.iter().filter(|n| n.dead).count() as u32;
            let alive: Vec<f64> = r
                .neurons
                .iter()
                .filter(|n| !n.dead)
                .map(|n| n.frequency)
                .collect();
            let count = |order: Order| {
                r.coverage_bins[order as usize]
                    .as_ref()
                    .map(|_| r.detectors.iter().filter(|d| d.order == order).count() as u32)
            };
            LayerRow {
                layer: r.layer as u16,
                tokens: r.counted_tokens,
                neurons,
                dead,
                dead_share: f64::from(dead) / f64::from(neurons.max(1)),
                dead_with_bos: r
                    .neurons
                    .iter()
                    .filter(|n| n.fires_outside_bos == 0 && n.fires_bos == 0)
                    .count() as u32,
                dead_without_bos: r
                    .neurons
                    .iter()
                    .filter(|n| n.fires_outside_bos == 0)
                    .count() as u32,
                mean_frequency_alive: (!alive.is_empty())
                    .then(|| alive.iter().sum::<f64>() / alive.len() as f64),
                token_detectors: count(Order::Unigram),
                trigram_detectors: count(Order::Trigram),
                tokens_detected: None,
                trigrams_detected: None,
                positional: r.positions_analysed.then(|| {
                    let mut by_type = [[0u32; 2]; 4];
                    for p in &r.positional {
                        by_type[p.class.kind as usize][usize::from(p.class.strong)] += 1;
                    }
                    by_type
                }),
            }
        })
        .collect()
}

/// Up to `per_neuron` example contexts of every neuron of the analysed layers, from every run of
/// every section's data (each once) that records fired neurons.
fn example_contexts(
    plan: &AnalysisPlan,
    results: &[LayerResult],
    per_neuron: usize,
    gathered: Option<BTreeMap<usize, Vec<Vec<Place>>>>,
) -> Result<Vec<ContextRow>> {
    let _span = tracing::info_span!("contexts", per_neuron).entered();
    let mut runs: Vec<&crate::inputs::RunInput> = Vec::new();
    let verify_parts = plan.sources.groups.iter().all(|g| g.set.verify_parts);
    for group in &plan.sources.groups {
        for run in &group.set.runs {
            if !runs
                .iter()
                .any(|r| r.dir == run.dir && r.manifest.run_id == run.manifest.run_id)
            {
                runs.push(run);
            }
        }
    }
    let alive: BTreeMap<usize, usize> = results
        .iter()
        .map(|r| (r.layer, r.neurons.iter().filter(|n| !n.dead).count()))
        .collect();
    let config = plan.sources.main().model_config();
    let layers = &plan.layers;
    crate::contexts::collect(
        &runs,
        verify_parts,
        layers[0]..layers[layers.len() - 1] + 1,
        config.ffn_dim,
        config.vocab_size,
        per_neuron,
        &alive,
        gathered,
    )
}

/// What run `manifest` was made from, as the analysis records it for the report.
fn run_provenance(manifest: &Manifest) -> RunProvenance {
    let config = &manifest.config;
    RunProvenance {
        sources: config.corpus.clone(),
        domains: manifest.domains.clone(),
        documents: manifest.counts.documents,
        max_seq_len: config.sequences.max_seq_len,
        full_length: config.sequences.full_length,
        dtype: config.dtype,
        device: manifest.device.clone(),
        ffn: config.ffn,
    }
}

/// The footer metadata of every table of an analysis of the model `source`.
pub(crate) fn table_metadata(source: &str) -> Vec<(String, String)> {
    vec![
        ("neuron_census.kind".to_string(), ANALYSIS_KIND.to_string()),
        (
            "neuron_census.schema_version".to_string(),
            ANALYSIS_SCHEMA_VERSION.to_string(),
        ),
        ("neuron_census.model".to_string(), source.to_string()),
    ]
}

/// Writes JSON atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value).expect("analysis records serialize");
    Ok(write_atomic(path, json)?)
}
