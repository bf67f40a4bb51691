//! The projection phase: the model's weights and tokenizer found, detectors (and, when asked,
//! every alive neuron) projected onto the vocabulary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::AnalyzeRequest;
use super::count::Counted;
use super::plan::AnalysisPlan;
use crate::detectors::Detector;
use crate::error::Result;
use crate::model_files::{FoundTokenizer, locate_tokenizer};
use crate::projection::{
    NeuronProjection, Projection, locate_weights, project_detectors, project_neurons,
};
use census_format::analysis::options::{PROJECT_ALL_AUTO_FLOPS, ProjectAll};

/// The detectors, and what the model's weights and tokenizer add to them.
pub(super) struct Projected {
    /// Every detector, layer by layer.
    pub(super) detectors: Vec<Detector>,
    /// The checkpoint the projections read, when they were computed.
    pub(super) model_dir: Option<PathBuf>,
    /// The tokenizer that names tokens, when one was found.
    pub(super) tokenizer: Option<FoundTokenizer>,
    /// The detectors' projections, in detector order.
    pub(super) projections: Option<Vec<Projection>>,
    /// Every alive neuron's projection, when asked (or cheap enough).
    pub(super) all_projections: Option<Vec<NeuronProjection>>,
}

/// Finds the model's weights and tokenizer, and projects the detectors (and, when asked or
/// cheap enough, every alive neuron) onto the vocabulary.
pub(super) fn project(
    plan: &AnalysisPlan,
    request: &AnalyzeRequest,
    counted: &Counted,
) -> Result<Projected> {
    let options = &request.options;
    let set = plan.sources.main();
    let config = &plan.config;
    let detectors: Vec<Detector> = counted
        .results
        .iter()
        .flat_map(|r| r.detectors.iter().cloned())
        .collect();
    let model_dir = options
        .projection
        .enabled
        .then(|| {
            locate_weights(
                request.model.as_deref(),
                set.model_source(),
                set.weight_files(),
                config,
                &set.runs[0].dir,
            )
        })
        .transpose()?;
    let tokenizer = locate_tokenizer(
        request.model.as_deref(),
        &set.runs[0].manifest.config.model,
        &set.runs[0].dir,
    )?;
    let real_vocab = tokenizer
        .as_ref()
        .map_or(config.vocab_size, |t| t.tokenizer.vocab_size());
    let Some(dir) = &model_dir else {
        return Ok(Projected {
            detectors,
            model_dir,
            tokenizer,
            projections: None,
            all_projections: None,
        });
    };
    let projections = {
        let _span = tracing::info_span!("projections", detectors = detectors.len()).entered();
        project_detectors(dir, config, &detectors, real_vocab, &options.projection)?
    };
    let alive: BTreeMap<usize, Vec<u16>> = counted
        .results
        .iter()
        .map(|r| {
            let alive = r
                .neurons
                .iter()
                .filter(|n| !n.dead)
                .map(|n| n.neuron)
                .collect();
            (r.layer, alive)
        })
        .collect();
    // A part of a split analysis decides as the whole analysis would: on every recorded layer,
    // its own layers' alive neurons standing for the rest.
    let neurons = alive.values().map(Vec::len).sum::<usize>() as f64 * plan.recorded_layers as f64
        / plan.layers.len() as f64;
    let flops = 2.0 * neurons * config.embed_dim() as f64 * config.vocab_size as f64;
    let wanted = match options.projection.all {
        ProjectAll::On => true,
        ProjectAll::Off => false,
        ProjectAll::Auto => flops <= PROJECT_ALL_AUTO_FLOPS,
    };
    if !wanted && options.projection.all == ProjectAll::Auto {
        tracing::info!(
            flops,
            "not projecting every neuron (pass --project-all on to do it anyway)"
        );
    }
    let all_projections = wanted
        .then(|| project_neurons(dir, config, &alive, real_vocab, &options.projection))
        .transpose()?;
    Ok(Projected {
        detectors,
        model_dir,
        tokenizer,
        projections: Some(projections),
        all_projections,
    })
}
