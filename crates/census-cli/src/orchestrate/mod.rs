//! `cargo xtask run`: every stage of a pipeline (extract → analyze → report), each skipped when
//! its output is complete and its request and inputs are unchanged.
//!
//! Each stage is given its typed arguments directly: the paths it reads and writes are set
//! here, and its settings are read from the pipeline's table by the stage's own flag parser
//! ([`parse_settings`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use census_format::paths::absolute_normal as normalised;

use anyhow::{Context, Result, bail};
use census_extract::cli::{ExtractArgs, ExtractSettings, parse_source};
use census_format::analysis::options::LayerScope;
use census_format::corpus::CorpusSource;
use census_format::run::Shard;
use census_format::run::manifest::check_foreign_directory;
use census_format::{OutputLock, StagedDir};
use census_model::{DeviceSet, HubOptions, ModelSpec};
use census_report::cli::{ReportArgs, ReportSettings};
use census_stats::cli::{AnalyzeArgs, AnalyzeSettings, MergeArgs};
use clap::Args;
use serde::Serialize;

use census_train::cli::{TrainArgs, TrainSettings};
use census_train::model_dir::{check_model_output, is_trained_model};

use crate::pipeline::{
    EXTRACT_PATH_KEYS, ModelEntry, ModelSource, Pipeline, SECTION_RUN_KEYS, TRAIN_PATH_KEYS,
    hub_revision_series, parse_settings,
};
use crate::slurm::{self, ArrayTask, Written};
use crate::split::{self, SplitTable};
use crate::stages::{StageKind, StageLedger, StageStamp, describe_content, describe_files};

mod preflight;
mod requests;
mod runner;

use self::preflight::*;
use self::requests::*;
use self::runner::*;

/// `run` flags.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The experiment: a pipeline file, whose relative paths are taken from its own directory.
    /// The default is the embedded default model and corpus in data/ (run from a clone's root).
    #[arg(long, default_value = "pipelines/default.toml")]
    pub pipeline: PathBuf,
    /// Run these models instead of the pipeline's (preset, hub id or directory, relative to the
    /// current directory); repeat for several.
    #[arg(long)]
    pub model: Vec<String>,
    /// Extract this corpus instead of the pipeline's `[extract]` data (a `--data` source spec,
    /// relative to the current directory; `[runs.*]` extractions with data of their own keep
    /// theirs); repeat for several.
    #[arg(long, value_parser = parse_source)]
    pub data: Vec<CorpusSource>,
    /// Output directory [default: out/<pipeline name> in the current directory].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Spread every extraction over these devices, one worker each (`cuda:all`,
    /// `cuda:0,cuda:1`, `cpu,cpu`); analyses and the report run on the host's cores. Where a run
    /// was computed is not part of its request: up-to-date stages stay up to date.
    #[arg(long, value_parser = census_extract::cli::parse_devices)]
    pub devices: Option<DeviceSet>,
    /// With --devices, give each extraction this many of them: the extractions of different
    /// models (and checkpoints) then run side by side, one per group of devices, each model's
    /// analysis after its extractions (one analysis at a time) [default: all of them, one
    /// extraction at a time].
    #[arg(long, requires = "devices", value_parser = clap::value_parser!(u32).range(1..))]
    pub devices_per_extraction: Option<u32>,
    /// Run only this stage (its key in `<out>/stages.json`: `extract/opt-125m`,
    /// `analyze/opt-125m`, `report`; under `[split]`, `extract/opt-125m/shard-0-of-4`,
    /// `analyze/opt-125m/part-0-of-2`, `merge/opt-125m`), as the jobs `--slurm` writes do; the
    /// stages it reads must be complete.
    #[arg(long)]
    pub stage: Option<String>,
    /// Run nothing: write a Slurm job script for every stage that is not up to date (into
    /// `<out>/slurm`), each running that stage alone after the jobs whose outputs it reads (the
    /// shards and layer ranges of `[split]` as job arrays); resources come from the pipeline's
    /// `[slurm]` table and the `--slurm-*` flags.
    #[arg(long, conflicts_with = "stage")]
    pub slurm: bool,
    /// Submit the scripts `--slurm` writes with `sbatch`, each with `--dependency=afterok` on
    /// the jobs it reads.
    #[arg(long, requires = "slurm")]
    pub submit: bool,
    /// The jobs' resources, each replacing the pipeline's `[slurm]` value.
    #[command(flatten)]
    pub slurm_resources: slurm::SlurmTable,
    /// Redo every stage, even those whose output is up to date. Everything is checked first, and
    /// each output is rebuilt beside the old one, which it replaces only when complete.
    #[arg(long)]
    pub force: bool,
}

/// Where a finished pipeline left its outputs.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    /// The pipeline's output directory.
    pub out: PathBuf,
    /// The report's `index.html`.
    pub index: PathBuf,
    /// Stages run (the others were up to date).
    pub ran: usize,
    /// Stages skipped as up to date.
    pub skipped: usize,
    /// The models the pipeline trained (`[train.<name>]`), by name.
    pub trained: BTreeMap<String, PathBuf>,
    /// What each model (each checkpoint of a series apart) left, in the report's order.
    pub models: Vec<ModelOutputs>,
    /// With `--slurm`, the job scripts written (and submitted, with `--submit`), in order.
    pub jobs: Vec<Written>,
}

/// The outputs of one model of a pipeline.
#[derive(Debug, Serialize)]
pub struct ModelOutputs {
    /// Where its outputs lie under the pipeline's output directory (`opt-125m`,
    /// `model/step-350`).
    pub slug: String,
    /// The model as the stages were given it (a directory, preset or hub id).
    pub model: String,
    /// Its runs: the `[extract]` run, then each `[runs.<name>]`.
    pub runs: Vec<RunOutput>,
    /// Its analysis directory.
    pub analysis: PathBuf,
}

/// The runs of one extraction of a model (`[extract]`, or `[runs.<name>]`).
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    /// The `[runs.<name>]` name; None for the `[extract]` run.
    pub name: Option<String>,
    /// Its run directory, or, under `[split] extract`, the directory of each shard in order.
    pub dirs: Vec<PathBuf>,
}

/// One model's analysis, to be made from its extractions.
struct Analysis {
    local_model: Option<PathBuf>,
    slug: String,
    /// The model's `[extract]` run directory (its shards beneath it under `[split]`).
    run_dir: PathBuf,
    analysis_dir: PathBuf,
    /// The keys of the extractions it reads.
    after: Vec<String>,
}

impl Analysis {
    /// The key of the stage that writes the analysis directory: the analysis, or the merge of
    /// its parts.
    fn key(&self, split: &SplitTable) -> String {
        match split.analysis_parts() {
            None => format!("analyze/{}", self.slug),
            Some(_) => format!("merge/{}", self.slug),
        }
    }
}

/// A pipeline ready to run: the file, its output directory and the data given on the command
/// line.
struct Plan {
    pipeline: Pipeline,
    path: PathBuf,
    out: PathBuf,
    /// `--data`: the corpus of the `[extract]` run and of `[runs.*]` runs without data of their
    /// own.
    data: Vec<CorpusSource>,
    /// `--devices`: where every extraction runs, instead of its table's `device`.
    devices: Option<DeviceSet>,
    /// With `--devices-per-extraction`, the groups of devices extractions run on side by side
    /// (empty: one extraction at a time, on every device).
    groups: Vec<DeviceSet>,
    /// Run every stage, one, or none (`--slurm`).
    mode: Mode,
}

/// What `run` does with the pipeline's stages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Run each that is not up to date.
    All,
    /// Run this one only (`--stage`).
    Only(String),
    /// Run none: plan them as Slurm jobs (`--slurm`).
    Slurm,
}

impl RunArgs {
    /// Runs the pipeline's stages in order.
    pub fn run(&self) -> Result<RunSummary> {
        if !self.pipeline.exists() {
            bail!(
                "no pipeline file {}: a relative --pipeline is taken from the current directory \
                 (the shipped pipelines are in pipelines/ of a clone)",
                self.pipeline.display()
            );
        }
        let mut pipeline = Pipeline::load(&self.pipeline)?;
        if !self.model.is_empty() {
            // Given on the command line: relative to the current directory.
            pipeline.models = self.model.iter().map(|m| from_current_dir(m)).collect();
        }
        // Absolute, so what the stages record names their inputs from any directory.
        let out = normalised(
            &self
                .out
                .clone()
                .unwrap_or_else(|| Path::new("out").join(&pipeline.name)),
        );
        // The pipeline's data is made first (and kept when made before); a single stage of a
        // Slurm job, or data given with --data, does not need it.
        if let Some((recipe, dir)) = pipeline.data_recipe()?
            && self.stage.is_none()
            && self.data.is_empty()
        {
            let _span = tracing::info_span!("data", recipe = recipe.name).entered();
            crate::data::prepare(
                recipe,
                &dir,
                &census_model::HubOptions::from_env(true),
                true,
            )?;
        }
        let groups = match (&self.devices, self.devices_per_extraction) {
            (Some(devices), Some(size)) => devices
                .groups(size as usize)
                .context("--devices-per-extraction: dividing the devices into groups")?,
            _ => Vec::new(),
        };
        let plan = Plan {
            pipeline,
            path: self.pipeline.clone(),
            out,
            data: self.data.clone(),
            devices: self.devices.clone(),
            groups: if groups.len() > 1 { groups } else { Vec::new() },
            mode: match (&self.stage, self.slurm) {
                (Some(key), _) => Mode::Only(key.clone()),
                (None, true) => Mode::Slurm,
                (None, false) => Mode::All,
            },
        };
        let (mut summary, planned) = plan.run(self.force)?;
        if plan.mode == Mode::Slurm {
            let call = self.invocation(&plan)?;
            summary.jobs = slurm::write_scripts(
                &plan.out.join(slurm::JOBS_DIR),
                &planned,
                &self.slurm_resources.or(&plan.pipeline.slurm),
                &call,
            )?;
            tracing::info!(
                jobs = summary.jobs.len(),
                dir = %plan.out.join(slurm::JOBS_DIR).display(),
                "job scripts written, one per stage not up to date"
            );
            if self.submit {
                slurm::submit(&mut summary.jobs)?;
            }
        }
        Ok(summary)
    }

    /// How each Slurm job calls this command: the same binary, directory and plan-shaping
    /// flags.
    fn invocation(&self, plan: &Plan) -> Result<slurm::Invocation> {
        let mut flags = vec![
            "--pipeline".to_string(),
            normalised(&self.pipeline).display().to_string(),
            "--out".to_string(),
            plan.out.display().to_string(),
        ];
        for model in &self.model {
            flags.extend(["--model".to_string(), from_current_dir(model)]);
        }
        for source in &self.data {
            flags.extend(["--data".to_string(), source.to_string()]);
        }
        if let Some(devices) = &self.devices {
            flags.extend(["--devices".to_string(), devices.to_string()]);
        }
        Ok(slurm::Invocation {
            binary: std::env::current_exe().context("finding this program for the job scripts")?,
            workdir: std::env::current_dir().context("reading the current directory")?,
            flags,
        })
    }
}

/// A command line's model spec with a relative directory made absolute, so the pipeline's
/// directory does not change what it names; presets and hub ids as written.
fn from_current_dir(spec: &str) -> String {
    let Ok(entry) = ModelEntry::parse(spec) else {
        return spec.to_string();
    };
    match &entry.source {
        ModelSource::Given(given) if Path::new(given).exists() => {
            let absolute = std::path::absolute(given).unwrap_or_else(|_| PathBuf::from(given));
            let prefix = &spec[..spec.len() - given.len()];
            format!("{prefix}{}", absolute.display())
        }
        _ => spec.to_string(),
    }
}

impl Plan {
    /// Runs (or, for `--slurm`, plans) the stages; returns the summary and the jobs planned.
    fn run(&self, force: bool) -> Result<(RunSummary, Vec<slurm::Job>)> {
        let (pipeline, out) = (&self.pipeline, &self.out);
        tracing::info!(pipeline = %pipeline.name, out = %out.display(), "{}", pipeline.description);
        let parsed = pipeline.entries()?;
        let entries: Vec<(String, String, bool)> = parsed
            .iter()
            .zip(pipeline.model_slugs())
            .map(|(entry, slug)| (entry.location(out, &pipeline.base), slug, entry.series))
            .collect();
        self.check_entries(&entries, &parsed)?;
        // Series are checked as far as their checkpoints exist before training.
        let models = expand_series(&entries)?;
        self.preflight(&models).with_context(|| {
            format!(
                "checking pipeline {} before any stage ran: nothing was changed",
                self.path.display()
            )
        })?;
        // A single stage (a Slurm job) takes the pipeline's lock only to update the ledger, so
        // jobs of other stages run beside it; each stage locks its own output.
        let _lock = match self.mode {
            Mode::Only(_) => None,
            Mode::All | Mode::Slurm => Some(OutputLock::acquire(out, "run")?),
        };
        let stages = StageRunner {
            ledger: StageLedger::open(out)?,
            out: out.clone(),
            force,
            mode: self.mode.clone(),
            ran: 0,
            skipped: 0,
            seen: Vec::new(),
            due: BTreeSet::new(),
            jobs: Vec::new(),
        };
        let stages = Mutex::new(stages);
        let mut trained = BTreeMap::new();
        for name in pipeline.train.keys() {
            let stage = self.train_stage(name)?;
            trained.insert(name.clone(), stage.args.out.clone());
            step(&stages, stage, |args| {
                args.run().map(|_| ()).map_err(Into::into)
            })?;
        }
        let models = expand_series(&entries)?;
        let (analyses, analysis_keys, outputs) = self.run_models(&stages, &models, force)?;
        let report_dir = out.join("report");
        let mut stage = self.report_stage(&analyses, &report_dir)?;
        stage.after = analysis_keys;
        step(&stages, stage, |args| {
            args.run().map(|_| ()).map_err(Into::into)
        })?;
        let stages = stages.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Mode::Only(key) = &self.mode
            && !stages.seen.contains(key)
        {
            bail!(
                "--stage {key}: pipeline {} has no such stage (its stages: {})",
                self.path.display(),
                stages.seen.join(", ")
            );
        }
        let summary = RunSummary {
            index: report_dir.join(census_report::INDEX_FILE),
            out: out.clone(),
            ran: stages.ran,
            skipped: stages.skipped,
            trained,
            models: outputs,
            jobs: Vec::new(),
        };
        Ok((summary, stages.jobs))
    }

    /// Extracts and analyses each of `models`: its extractions in turn (each shard of each, under
    /// `[split]`), then its analysis on a thread of its own beside the next model's extractions
    /// (one analysis at a time); returns the analysis directories and the keys of the stages
    /// that write them, and what each model left.
    fn run_models(
        &self,
        stages: &Mutex<StageRunner>,
        models: &[(String, String)],
        force: bool,
    ) -> Result<(Vec<PathBuf>, Vec<String>, Vec<ModelOutputs>)> {
        if self.mode == Mode::All && !self.groups.is_empty() {
            return self.run_models_side_by_side(stages, models, force);
        }
        let out = &self.out;
        let mut analyses = Vec::new();
        let mut analysis_keys = Vec::new();
        let mut outputs = Vec::new();
        // Each model's analysis runs on the host's cores beside the next model's extraction;
        // one analysis at a time, so memory holds one analysis and one extraction.
        std::thread::scope(|scope| -> Result<()> {
            let mut analysing = None;
            for (model, slug) in models {
                let local_model = Path::new(&model).is_dir().then(|| PathBuf::from(&model));
                let run_dir = out.join(slug).join("run");
                let analysis_dir = out.join(slug).join("analysis");
                check_inside(out, &out.join(slug))?;
                let (extractions, runs) =
                    self.extract_model(stages, model, slug, force, self.devices.as_ref())?;

                if let Some(previous) = analysing.take() {
                    joined(previous)?;
                }
                let analysis = Analysis {
                    local_model,
                    slug: slug.clone(),
                    run_dir,
                    analysis_dir: analysis_dir.clone(),
                    after: extractions,
                };
                analysis_keys.push(analysis.key(&self.pipeline.split));
                if self.mode == Mode::All {
                    analysing = self.analyse_beside(scope, stages, analysis)?;
                } else {
                    self.analyse(stages, analysis)?;
                }
                analyses.push(analysis_dir.clone());
                outputs.push(ModelOutputs {
                    slug: slug.clone(),
                    model: model.clone(),
                    runs,
                    analysis: analysis_dir,
                });
            }
            if let Some(last) = analysing.take() {
                joined(last)?;
            }
            Ok(())
        })?;
        Ok((analyses, analysis_keys, outputs))
    }

    /// Extracts and analyses `models` side by side, one at a time on each group of devices
    /// (`--devices-per-extraction`): a group takes the next model, extracts it, analyses it
    /// (one analysis at a time on the host), then takes the next. A failure stops the groups
    /// from taking more models; the stages already done stay recorded.
    fn run_models_side_by_side(
        &self,
        stages: &Mutex<StageRunner>,
        models: &[(String, String)],
        force: bool,
    ) -> Result<(Vec<PathBuf>, Vec<String>, Vec<ModelOutputs>)> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let one_analysis = Mutex::new(());
        let done: Mutex<Vec<Option<(String, ModelOutputs)>>> =
            Mutex::new(models.iter().map(|_| None).collect());
        let one_model = |(model, slug): &(String, String), group: &DeviceSet| {
            let out = &self.out;
            check_inside(out, &out.join(slug))?;
            let (after, runs) = self.extract_model(stages, model, slug, force, Some(group))?;
            let analysis = Analysis {
                local_model: Path::new(&model).is_dir().then(|| PathBuf::from(&model)),
                slug: slug.clone(),
                run_dir: out.join(slug).join("run"),
                analysis_dir: out.join(slug).join("analysis"),
                after,
            };
            let (key, analysis_dir) = (
                analysis.key(&self.pipeline.split),
                analysis.analysis_dir.clone(),
            );
            {
                let _one = one_analysis.lock().unwrap_or_else(PoisonError::into_inner);
                self.analyse(stages, analysis)?;
            }
            let outputs = ModelOutputs {
                slug: slug.clone(),
                model: model.clone(),
                runs,
                analysis: analysis_dir,
            };
            anyhow::Ok((key, outputs))
        };
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (self.groups.iter())
                .map(|group| {
                    let (next, stop, done, one_model) = (&next, &stop, &done, &one_model);
                    scope.spawn(move || -> Result<()> {
                        while !stop.load(Ordering::SeqCst) {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(entry) = models.get(i) else {
                                break;
                            };
                            match one_model(entry, group) {
                                Ok(outputs) => {
                                    done.lock().unwrap_or_else(PoisonError::into_inner)[i] =
                                        Some(outputs);
                                }
                                Err(e) => {
                                    stop.store(true, Ordering::SeqCst);
                                    return Err(e);
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().map(joined).collect()
        });
        results.into_iter().collect::<Result<Vec<()>>>()?;
        let (keys, outputs): (Vec<String>, Vec<ModelOutputs>) = (done.into_inner())
            .unwrap_or_else(PoisonError::into_inner)
            .into_iter()
            .map(|o| o.expect("every model was done or an error returned"))
            .unzip();
        let analyses = outputs.iter().map(|o| o.analysis.clone()).collect();
        Ok((analyses, keys, outputs))
    }

    /// Runs every extraction of `model` (each of its shards under `[split]`) on `devices` (or
    /// where its table says); returns their stage keys and run directories.
    fn extract_model(
        &self,
        stages: &Mutex<StageRunner>,
        model: &str,
        slug: &str,
        force: bool,
        devices: Option<&DeviceSet>,
    ) -> Result<(Vec<String>, Vec<RunOutput>)> {
        let mut keys = Vec::new();
        let mut runs = Vec::new();
        for (name, run_dir) in run_dirs(&self.pipeline, &self.out, slug) {
            let base = match &name {
                Some(name) => format!("extract/{slug}/{name}"),
                None => format!("extract/{slug}"),
            };
            let units = self.run_units(&run_dir);
            for (shard, dir) in &units {
                let array = shard.map(|s| {
                    ArrayTask::new(
                        format!("{base}/shard-"),
                        s.index,
                        format!("-of-{}", s.count),
                    )
                });
                let key = array.as_ref().map_or_else(|| base.clone(), ArrayTask::key);
                keys.push(key.clone());
                let mut stage =
                    self.extract_stage(name.as_deref(), model, key, dir, *shard, devices)?;
                stage.array = array;
                step(stages, stage, |args| {
                    if force && dir.exists() {
                        replace_run(args, dir)
                    } else {
                        args.run().map(|_| ()).map_err(Into::into)
                    }
                })?;
            }
            runs.push(RunOutput {
                name,
                dirs: units.into_iter().map(|(_, dir)| dir).collect(),
            });
        }
        Ok((keys, runs))
    }

    /// Starts `analysis` on a thread of its own, beside what the caller does next; None when
    /// it is up to date. A whole analysis is decided, and logged, here, so the log keeps the
    /// pipeline's order.
    fn analyse_beside<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        stages: &'scope Mutex<StageRunner>,
        analysis: Analysis,
    ) -> Result<Option<std::thread::ScopedJoinHandle<'scope, Result<()>>>> {
        if self.pipeline.split.analysis_parts().is_some() {
            return Ok(Some(scope.spawn(move || self.analyse(stages, analysis))));
        }
        let stage = self.whole_analysis(&analysis)?;
        if !held(stages).begin(&stage)? {
            return Ok(None);
        }
        Ok(Some(scope.spawn(move || {
            run_begun(stages, stage, |args| {
                args.run().map(|_| ()).map_err(Into::into)
            })
        })))
    }

    /// Runs `analysis`: whole, or, under `[split] analyze`, its layer ranges, then their merge.
    fn analyse(&self, stages: &Mutex<StageRunner>, analysis: Analysis) -> Result<()> {
        let Some(count) = self.pipeline.split.analysis_parts() else {
            let stage = self.whole_analysis(&analysis)?;
            return step(stages, stage, |args| {
                args.run().map(|_| ()).map_err(Into::into)
            });
        };
        let slug = &analysis.slug;
        let mut parts = Vec::new();
        let mut part_keys = Vec::new();
        for index in 0..count {
            let task = ArrayTask::new(
                format!("analyze/{slug}/part-"),
                index,
                format!("-of-{count}"),
            );
            let dir = split::part_dir(&analysis.analysis_dir, index, count);
            let mut stage = self.analyze_stage(
                analysis.local_model.as_deref(),
                task.key(),
                &analysis.run_dir,
                &dir,
                Some((index, count)),
            )?;
            stage.after.clone_from(&analysis.after);
            stage.array = Some(task);
            part_keys.push(stage.key.clone());
            parts.push(dir);
            step(stages, stage, |args| {
                args.run().map(|_| ()).map_err(Into::into)
            })?;
        }
        // Made once the parts are written: their manifests are its inputs.
        let mut merge = self.merge_stage(
            analysis.key(&self.pipeline.split),
            parts,
            &analysis.analysis_dir,
        )?;
        merge.after = part_keys;
        step(stages, merge, |args| {
            args.run().map(|_| ()).map_err(Into::into)
        })
    }

    /// The stage of `analysis` as one whole analysis.
    fn whole_analysis(&self, analysis: &Analysis) -> Result<Stage<AnalyzeArgs>> {
        let mut stage = self.analyze_stage(
            analysis.local_model.as_deref(),
            analysis.key(&self.pipeline.split),
            &analysis.run_dir,
            &analysis.analysis_dir,
            None,
        )?;
        stage.after.clone_from(&analysis.after);
        Ok(stage)
    }

    /// Refuses a series that does not exist and an `--out` inside a model directory.
    fn check_entries(
        &self,
        entries: &[(String, String, bool)],
        parsed: &[ModelEntry],
    ) -> Result<()> {
        let out = &self.out;
        for ((model, _, series), entry) in entries.iter().zip(parsed) {
            let spec = &entry.spec;
            let trained = matches!(entry.source, ModelSource::Trained(_));
            if *series
                && !trained
                && !Path::new(model).is_dir()
                && hub_revision_series(model)?.is_none()
            {
                bail!(
                    "{}: model `{spec}`: the series directory {model} does not exist (a series \
                     is a directory of checkpoints, or hub revisions as org/name@REV,REV)",
                    self.path.display()
                );
            }
            if Path::new(model).is_dir()
                && normalised(out).starts_with(normalised(Path::new(model)))
            {
                bail!(
                    "--out {} lies inside the model directory {model}: the model's fingerprint \
                     would cover the pipeline's own outputs and every stage would run again each \
                     time; choose an --out outside it",
                    out.display()
                );
            }
        }
        Ok(())
    }
}

/// The models the pipeline extracts and analyses, with their slugs: each entry as it is, or, for
/// a series, each of its checkpoints (`<slug>/step-<step>`), then the trained model beside them
/// (`<slug>`, where a single model's outputs go); for hub revisions, each revision
/// (`<slug>/step-<step>`, the last one the trained model). A series whose directory does not
/// exist yet (a model the pipeline has still to train) has none.
fn expand_series(entries: &[(String, String, bool)]) -> Result<Vec<(String, String)>> {
    let mut models = Vec::new();
    for (model, slug, series) in entries {
        if !series {
            models.push((model.clone(), slug.clone()));
            continue;
        }
        let dir = Path::new(model);
        if !dir.is_dir() {
            for (revision, step) in hub_revision_series(model)?.unwrap_or_default() {
                models.push((revision, format!("{slug}/step-{step}")));
            }
            continue;
        }
        let checkpoints = census_model::checkpoint_series(dir)
            .with_context(|| format!("reading the checkpoints of series {}", dir.display()))?;
        if checkpoints.is_empty() {
            bail!(
                "series {}: no checkpoint-<step>/ or step-<step>/ model directory in it",
                dir.display()
            );
        }
        for checkpoint in checkpoints {
            models.push((
                checkpoint.dir.display().to_string(),
                format!("{slug}/step-{}", checkpoint.step),
            ));
        }
        if dir.join("config.json").is_file() {
            models.push((model.clone(), slug.clone()));
        }
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository this crate sits in (where `pipelines/` and `data/` are).
    fn repository() -> PathBuf {
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap()
    }

    fn plan(pipeline: &str, out: &Path) -> Plan {
        let path = repository().join("pipelines").join(pipeline);
        Plan {
            pipeline: Pipeline::load(&path).unwrap(),
            path,
            out: out.to_path_buf(),
            data: Vec::new(),
            devices: None,
            groups: Vec::new(),
            mode: Mode::All,
        }
    }

    /// Every pipeline shipped in `pipelines/` loads, and each of its stages' settings parse as
    /// the stage's command line would (for the paper's pipeline, whose data is not shipped, this
    /// is the check that its tables hold no typo).
    #[test]
    fn every_shipped_pipeline_gives_valid_stage_requests() {
        let out = Path::new("/nonexistent/out");
        let mut checked = 0;
        for entry in std::fs::read_dir(repository().join("pipelines")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let plan = plan(path.file_name().unwrap().to_str().unwrap(), out);
            let pipeline = &plan.pipeline;
            let label = path.display().to_string();
            check_tables(pipeline).expect(&label);
            for name in pipeline.train.keys() {
                let stage = plan.train_stage(name).expect(&label);
                for source in &stage.args.data {
                    source.check_exists().expect(&label);
                }
            }
            let slug = &pipeline.model_slugs()[0];
            for (name, dir) in run_dirs(pipeline, out, slug) {
                let stage = plan
                    .extract_stage(name.as_deref(), "opt-125m", String::new(), &dir, None, None)
                    .expect(&label);
                stage.args.to_options().expect(&label);
            }
            let analysis = out.join(slug).join("analysis");
            let stage = plan
                .analyze_stage(
                    None,
                    String::new(),
                    &out.join(slug).join("run"),
                    &analysis,
                    None,
                )
                .expect(&label);
            stage.args.request().expect(&label);
            plan.report_stage(&[analysis], &out.join("report"))
                .expect(&label);
            checked += 1;
        }
        assert!(checked >= 3);
    }

    /// The default pipeline's paths are taken from its own directory: its model and corpus
    /// exist from any working directory.
    #[test]
    fn the_default_pipeline_finds_its_model_and_corpus_from_its_own_directory() {
        let plan = plan("default.toml", Path::new("/nonexistent/out"));
        let entries = plan.pipeline.entries().unwrap();
        let model = entries[0].location(&plan.out, &plan.pipeline.base);
        assert!(Path::new(&model).join("config.json").is_file(), "{model}");
        let run = Path::new("/nonexistent/out/run");
        let extract = |plan: &Plan| {
            plan.extract_stage(None, &model, String::new(), run, None, None)
                .unwrap()
        };
        let stage = extract(&plan);
        assert!(stage.args.data[0].path.is_file());
        assert_eq!(stage.args.settings.max_seq_len, Some(256));
        // The request is what the stamp records and fingerprints.
        assert_eq!(
            stage.stamp.request["settings"]["max_seq_len"],
            serde_json::json!(256)
        );
        assert_eq!(
            stage.stamp.request["out"],
            serde_json::json!("/nonexistent/out/run")
        );
        // Only what the stage is asked changes its fingerprint: the same request twice gives
        // the same stamp, another setting another.
        let again = extract(&plan);
        assert_eq!(stage.stamp, again.stamp);
        let mut other = plan;
        other
            .pipeline
            .extract
            .insert("max-seq-len".into(), toml::Value::Integer(128));
        let changed = extract(&other);
        assert_ne!(stage.stamp.fingerprint, changed.stamp.fingerprint);
    }

    /// The model-family pipelines name what their comments say, and pass the checks `run` makes
    /// of its models before any stage: Pythia's 20 log-spaced checkpoints, one hub model of
    /// each family.
    #[test]
    fn the_family_and_training_pipelines_resolve_their_models() {
        let base = repository().join("pipelines");
        let out = Path::new("/nonexistent/out");
        let training = Pipeline::load(&base.join("pythia-training.toml")).unwrap();
        let entries = training.entries().unwrap();
        assert!(entries.len() == 1 && entries[0].series);
        let series = hub_revision_series(&entries[0].location(out, &base))
            .unwrap()
            .unwrap();
        assert_eq!(series.len(), 20);
        assert_eq!(series[19].0, "EleutherAI/pythia-160m@step143000");
        let families = Pipeline::load(&base.join("families.toml")).unwrap();
        let hub_ids: Vec<String> = families
            .entries()
            .unwrap()
            .iter()
            .map(
                |entry| match ModelSpec::parse(&entry.location(out, &base)).unwrap() {
                    ModelSpec::Hub(hub) => hub.to_string(),
                    ModelSpec::Dir(dir) => panic!("{} is a directory", dir.display()),
                },
            )
            .collect();
        assert_eq!(
            hub_ids,
            [
                "facebook/opt-1.3b",
                "openai-community/gpt2-large",
                "EleutherAI/pythia-1.4b",
                "TinyLlama/TinyLlama_v1.1",
                "mistralai/Mistral-7B-v0.1"
            ]
        );
    }

    /// The default model as a series: its five checkpoints in step order, then the model.
    #[test]
    fn stage_outputs_must_lie_inside_out() {
        let out = Path::new("/tmp/o/out");
        check_inside(out, &out.join("trained/x")).unwrap();
        check_inside(Path::new("rel/out"), Path::new("rel/./out/m/run")).unwrap();
        for outside in ["trained/x/../../../victim/model", "..", ".", "a/../../b"] {
            let err = check_inside(out, &out.join(outside))
                .unwrap_err()
                .to_string();
            assert!(err.contains("not inside --out"), "{outside}: {err}");
        }
    }

    #[test]
    fn a_series_expands_to_its_checkpoints_then_the_trained_model() {
        let model = repository().join("data/model").display().to_string();
        let models = expand_series(&[(model.clone(), "model".to_string(), true)]).unwrap();
        let slugs: Vec<&str> = models.iter().map(|(_, slug)| slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "model/step-22",
                "model/step-44",
                "model/step-88",
                "model/step-175",
                "model/step-350",
                "model"
            ]
        );
        assert!(models[0].0.ends_with("checkpoint-22"));
        assert_eq!(models[5].0, model);
        // Not a series: as it is; a series not trained yet: nothing yet.
        let plain = expand_series(&[(model.clone(), "m".to_string(), false)]).unwrap();
        assert_eq!(plain, [(model, "m".to_string())]);
        let untrained = "/nonexistent/trained/x".to_string();
        assert!(
            expand_series(&[(untrained, "x".to_string(), true)])
                .unwrap()
                .is_empty()
        );
        let empty = tempfile::tempdir().unwrap();
        let e = expand_series(&[(empty.path().display().to_string(), "e".into(), true)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no checkpoint"), "{e}");
    }

    #[test]
    fn the_paper_pipeline_gives_each_section_its_own_run() {
        let plan = plan("paper.toml", Path::new("/o"));
        let run = Path::new("/o/opt-125m/run");
        let stage = plan
            .analyze_stage(None, String::new(), run, Path::new("/o/a"), None)
            .unwrap();
        assert_eq!(stage.args.ngram_runs, [Path::new("/o/opt-125m/run-ngram")]);
        assert_eq!(
            stage.args.positional_runs,
            [Path::new("/o/opt-125m/run-positional")]
        );
        let ngram = plan
            .extract_stage(Some("ngram"), "opt-125m", String::new(), run, None, None)
            .unwrap();
        let options = ngram.args.to_options().unwrap();
        assert_eq!(
            options.layers,
            census_format::analysis::options::LayerScope::FirstHalf
        );
        // Reddit is optional, and left out where it is not in place.
        let reddit = repository().join("data/paper/reddit.jsonl");
        let domains: Vec<&str> = (options.sources.iter())
            .filter_map(|s| s.domain.as_deref())
            .collect();
        let mut expected = vec!["Wikipedia", "DM Mathematics", "HackerNews", "CodeParrot"];
        if reddit.exists() {
            expected.insert(3, "Reddit");
        }
        assert_eq!(domains, expected);
        assert!(options.sources[0].path.starts_with(repository()));
        let (recipe, dir) = plan.pipeline.data_recipe().unwrap().unwrap();
        assert_eq!(recipe.name, "paper");
        assert_eq!(dir, repository().join("pipelines/../data/paper"));
        let positional = plan.pipeline.run_table("positional");
        assert_eq!(positional["full-length"], toml::Value::Boolean(true));
        assert_eq!(positional["device"], toml::Value::String("cuda".into()));
    }

    #[test]
    fn command_line_models_are_taken_from_the_current_directory() {
        let here = std::env::current_dir().unwrap();
        let dir = tempfile::tempdir_in(&here).unwrap();
        let name = dir.path().file_name().unwrap().to_str().unwrap();
        let absolute = here.join(name).display().to_string();
        assert_eq!(from_current_dir(name), absolute);
        assert_eq!(
            from_current_dir(&format!("series:{name}")),
            format!("series:{absolute}")
        );
        assert_eq!(from_current_dir("opt-125m"), "opt-125m");
        assert_eq!(from_current_dir("trained:x"), "trained:x");
    }
}
