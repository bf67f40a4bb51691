//! The extraction run: corpus → sequences → parts → model → Parquet, committed part by part.
//! The phases, a module each: [`options`] checked against the model, [`resume`] (the run
//! directory opened or resumed), [`parts`] (the engine loaded and the parts run in order),
//! [`compute`] (one part through the model, by the one layer loop of [`layers`]) and [`write`]
//! (a part's files, committed); [`workers`] spreads the parts over several devices.

mod compute;
mod layers;
pub(crate) mod options;
mod parts;
mod resume;
mod workers;
mod write;

use std::time::Instant;

use burn::prelude::*;
use census_model::{CheckpointPlan, Worker};

use self::options::{ASSUMED_DENSITY, ExtractOptions, check_options};
use self::parts::{load_engine, run_parts};
use self::resume::{Opened, check_disk, open_or_resume};
use crate::error::Result;
use crate::sequences::{PartPlan, plan_parts};
use census_format::OutputLock;
use census_format::run::manifest::Manifest;

/// What a finished call did.
#[derive(Debug, Clone)]
pub struct ExtractSummary {
    /// The final manifest.
    pub manifest: Manifest,
    /// Parts written by this call.
    pub parts_written: usize,
    /// Parts found committed and kept.
    pub parts_kept: usize,
    /// Tokens run through the model by this call.
    pub tokens_processed: u64,
    /// Seconds spent in the model and writing parts.
    pub seconds: f64,
}

/// Runs (or resumes) an extraction into `options.out` on `device`, named `device_name` in the
/// manifest. See [`extract_on`].
pub fn extract<B: Backend>(
    options: &ExtractOptions,
    device: &B::Device,
    device_name: &str,
) -> Result<ExtractSummary> {
    let worker = Worker::<B> {
        device: device.clone(),
        name: device_name.to_string(),
    };
    extract_on(options, &[worker], device_name)
}

/// Runs (or resumes) an extraction into `options.out` on `workers` (one device, or several that
/// share the parts: see [`workers`]), named `device_name` in the manifest. Four phases:
/// [`check_options`] against the model, [`open_or_resume`] the run directory, [`load_engine`],
/// and [`run_parts`] for the parts not yet committed.
pub fn extract_on<B: Backend>(
    options: &ExtractOptions,
    workers: &[Worker<B>],
    device_name: &str,
) -> Result<ExtractSummary> {
    let _span = tracing::info_span!("extract", out = %options.out.display()).entered();
    let _lock = OutputLock::acquire(&options.out, "extract")?;
    let checked = check_options(options)?;
    let mut opened = open_or_resume(options, &checked, device_name)?;
    let parts = plan_parts(&opened.corpus.sequences, options.part_tokens);
    let todo: Vec<&PartPlan> = parts
        .iter()
        .filter(|p| !opened.manifest.parts.iter().any(|c| c.index == p.index))
        .collect();
    let parts_kept = parts.len() - todo.len();
    tracing::info!(
        sequences = opened.corpus.sequences.len(),
        tokens = opened.corpus.counts.shard_tokens,
        parts = parts.len(),
        kept = parts_kept,
        "corpus ready"
    );
    let remaining: u64 = todo.iter().map(|p| p.tokens).sum();
    let layers = &checked.layers;
    let estimate =
        (layers.len() as f64 * checked.config.ffn_dim as f64 * ASSUMED_DENSITY + 24.0) as u64;
    check_disk(&options.out, remaining, estimate)?;
    let started = Instant::now();
    let processed = if todo.is_empty() {
        0
    } else {
        match workers {
            [one] => {
                let plan = CheckpointPlan::open(&options.model_dir, &checked.config)?;
                let compute = load_engine::<B>(&plan, options, &one.device)?;
                run_parts(
                    &compute,
                    &todo,
                    &checked.layers,
                    options,
                    &mut opened,
                    &one.device,
                )?
            }
            _ => workers::run_parts_on(
                &checked.config,
                &todo,
                &checked.layers,
                options,
                &mut opened,
                workers,
            )?,
        }
    };
    let Opened { mut manifest, .. } = opened;
    manifest.complete = manifest.parts.len() == parts.len();
    manifest.store(&options.out)?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        written = parts.len() - parts_kept,
        kept = parts_kept,
        tokens_per_second = processed as f64 / seconds.max(1e-9),
        "extraction complete"
    );
    Ok(ExtractSummary {
        manifest,
        parts_written: parts.len() - parts_kept,
        parts_kept,
        tokens_processed: processed,
        seconds,
    })
}
