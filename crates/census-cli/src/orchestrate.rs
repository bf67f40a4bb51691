//! `cargo xtask run`: every stage of a pipeline (extract → analyze → report), each skipped when
//! its output is complete and its flags and inputs are unchanged.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use census_extract::cli::{ExtractArgs, parse_source};
use census_format::run::manifest::check_foreign_directory;
use census_format::{OutputLock, StagedDir};
use census_model::{HubOptions, ModelSpec};
use census_report::cli::ReportArgs;
use census_stats::cli::AnalyzeArgs;
use clap::{Args, Parser};

use census_train::cli::{TrainArgs, check_model_output};

use crate::pipeline::{ModelSource, Pipeline, SECTION_RUN_KEYS, hub_revision_series, table_flags};
use crate::stages::{StageLedger, StageStamp, describe_content, describe_files};

/// `run` flags.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The experiment: a pipeline file (a relative path is looked for in the current directory,
    /// then in the repository root). The default is the embedded default model and corpus in
    /// data/.
    #[arg(long, default_value = "pipelines/default.toml")]
    pub pipeline: String,
    /// Run these models instead of the pipeline's (preset, hub id or directory); repeat for
    /// several.
    #[arg(long)]
    pub model: Vec<String>,
    /// Extract this corpus instead of the pipeline's `[extract]` data (a `--data` source spec;
    /// `[runs.*]` extractions with data of their own keep theirs); repeat for several.
    #[arg(long)]
    pub data: Vec<String>,
    /// Output directory [default: out/<pipeline name> under the repository root].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Redo every stage, even those whose output is up to date. Everything is checked first, and
    /// each output is rebuilt beside the old one, which it replaces only when complete.
    #[arg(long)]
    pub force: bool,
}

/// Where a finished pipeline left its outputs.
#[derive(Debug)]
pub struct RunSummary {
    /// The pipeline's output directory.
    pub out: PathBuf,
    /// The report's `index.html`.
    pub index: PathBuf,
    /// Stages run (the others were up to date).
    pub ran: usize,
    /// Stages skipped as up to date.
    pub skipped: usize,
}

/// One stage of one model (or the report), ready to run or skip.
struct Stage<A> {
    key: String,
    /// The stage's flags, parsed by its command's own parser.
    args: A,
    stamp: StageStamp,
    complete: bool,
}

/// The repository root (where `pipelines/` and `data/` are) this command was built from.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the command's crate sits in crates/ of the repository")
        .to_path_buf()
}

/// The pipeline file `spec` names: as given when it is absolute or found from the current
/// directory, else under the repository `root` (where the shipped pipelines are).
fn pipeline_file(spec: &str, root: &Path) -> PathBuf {
    let path = Path::new(spec);
    if path.is_absolute() || path.is_file() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

impl RunArgs {
    /// Runs the pipeline's stages in order.
    pub fn run(&self) -> Result<RunSummary> {
        let root = repository_root();
        let pipeline_path = pipeline_file(&self.pipeline, &root);
        let mut pipeline = Pipeline::load(&pipeline_path)?;
        if !self.model.is_empty() {
            pipeline.models = self.model.clone();
        }
        if !self.data.is_empty() {
            let data = self.data.iter().map(|d| toml::Value::String(d.clone()));
            pipeline
                .extract
                .insert("data".to_string(), toml::Value::Array(data.collect()));
        }
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| root.join("out").join(&pipeline.name));
        tracing::info!(pipeline = %pipeline.name, out = %out.display(), "{}", pipeline.description);
        let parsed = pipeline.entries()?;
        let entries: Vec<(String, String, bool)> = parsed
            .iter()
            .zip(pipeline.model_slugs())
            .map(|(entry, slug)| (entry.location(&out, &root), slug, entry.series))
            .collect();
        for ((model, _, series), entry) in entries.iter().zip(&parsed) {
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
                    pipeline_path.display()
                );
            }
            if Path::new(model).is_dir()
                && normalised(&out).starts_with(normalised(Path::new(model)))
            {
                bail!(
                    "--out {} lies inside the model directory {model}: the model's fingerprint \
                     would cover the pipeline's own outputs and every stage would run again each \
                     time; choose an --out outside it",
                    out.display()
                );
            }
        }
        // Series are checked as far as their checkpoints exist before training.
        let models = expand_series(&entries)?;
        preflight(&pipeline, &root, &out, &models).with_context(|| {
            format!(
                "checking pipeline {} before any stage ran: nothing was changed",
                pipeline_path.display()
            )
        })?;
        let _lock = OutputLock::acquire(&out, "run")?;
        let mut stages = StageRunner {
            ledger: StageLedger::open(&out)?,
            force: self.force,
            ran: 0,
            skipped: 0,
        };
        for (name, table) in &pipeline.train {
            let stage = train_stage(name, table, &root, &out.join("trained").join(name))?;
            stages.step(stage, |args| args.run().map(|_| ()).map_err(Into::into))?;
        }
        let models = expand_series(&entries)?;
        let mut analyses = Vec::new();
        for (model, slug) in &models {
            let local_model = Path::new(&model).is_dir().then(|| PathBuf::from(&model));
            let run_dir = out.join(slug).join("run");
            let analysis_dir = out.join(slug).join("analysis");
            check_inside(&out, &out.join(slug))?;

            for (name, run_dir) in run_dirs(&pipeline, &out, slug) {
                let table = match &name {
                    Some(name) => pipeline.run_table(name),
                    None => pipeline.extract.clone(),
                };
                let key = match &name {
                    Some(name) => format!("extract/{slug}/{name}"),
                    None => format!("extract/{slug}"),
                };
                let stage = extract_stage(&table, &root, model, key, &run_dir)?;
                stages.step(stage, |args| {
                    if self.force && run_dir.exists() {
                        replace_run(args, &run_dir)
                    } else {
                        args.run().map(|_| ()).map_err(Into::into)
                    }
                })?;
            }

            let stage = analyze_stage(
                &pipeline,
                &root,
                local_model.as_deref(),
                slug,
                &run_dir,
                &analysis_dir,
            )?;
            stages.step(stage, |args| args.run().map(|_| ()).map_err(Into::into))?;
            analyses.push(analysis_dir);
        }
        let report_dir = out.join("report");
        let stage = report_stage(&pipeline, &root, &analyses, &report_dir)?;
        stages.step(stage, |args| args.run().map(|_| ()).map_err(Into::into))?;
        Ok(RunSummary {
            index: report_dir.join("index.html"),
            out,
            ran: stages.ran,
            skipped: stages.skipped,
        })
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

/// Runs stages or skips them, keeping the ledger and the counts.
struct StageRunner {
    ledger: StageLedger,
    force: bool,
    ran: usize,
    skipped: usize,
}

impl StageRunner {
    /// Runs `stage` unless it is up to date.
    fn step<A>(&mut self, stage: Stage<A>, run: impl FnOnce(A) -> Result<()>) -> Result<()> {
        if !self.force && stage.complete && self.ledger.is_current(&stage.key, &stage.stamp) {
            tracing::info!(
                stage = %stage.key,
                "up to date (same flags and inputs, output complete): skipped; --force redoes it"
            );
            self.skipped += 1;
            return Ok(());
        }
        let reason = if self.force {
            "--force"
        } else if !stage.complete {
            "no complete output yet"
        } else {
            "flags or inputs changed"
        };
        tracing::info!(stage = %stage.key, reason, "running");
        self.ledger.forget(&stage.key)?;
        run(stage.args).with_context(|| format!("stage {}", stage.key))?;
        self.ledger.record(&stage.key, stage.stamp)?;
        self.ran += 1;
        Ok(())
    }
}

fn train_stage(
    name: &str,
    table: &BTreeMap<String, toml::Value>,
    root: &Path,
    model_dir: &Path,
) -> Result<Stage<TrainArgs>> {
    let mut flags = vec![
        "--out".to_string(),
        model_dir.display().to_string(),
        "--force".to_string(),
    ];
    // The flags' defaults are relative to the working directory; a pipeline's are not.
    for (key, default) in [
        ("data", "data/corpus/train.jsonl"),
        ("eval-data", "data/corpus/census.jsonl"),
    ] {
        if !table.contains_key(key) {
            flags.extend([format!("--{key}"), root.join(default).display().to_string()]);
        }
    }
    flags.extend(table_flags(table, root)?);
    let args = parse_flags::<TrainArgs>("train", &flags)?;
    let mut inputs = BTreeMap::new();
    for spec in args
        .data
        .iter()
        .map(String::as_str)
        .chain(args.eval_data.source())
    {
        describe_files(&parse_source(spec)?.path, &mut inputs)?;
    }
    Ok(Stage {
        key: format!("train/{name}"),
        stamp: StageStamp::new("train", &flags, inputs),
        complete: model_dir.join("training.json").is_file(),
        args,
    })
}

/// Each extraction of a model: the `[extract]` run (no name) in `<out>/<slug>/run`, then each
/// `[runs.<name>]` in `<out>/<slug>/run-<name>`.
fn run_dirs(pipeline: &Pipeline, out: &Path, slug: &str) -> Vec<(Option<String>, PathBuf)> {
    std::iter::once((None, out.join(slug).join("run")))
        .chain(pipeline.runs.keys().map(|name| {
            (
                Some(name.clone()),
                out.join(slug).join(format!("run-{name}")),
            )
        }))
        .collect()
}

fn extract_stage(
    table: &BTreeMap<String, toml::Value>,
    root: &Path,
    model: &str,
    key: String,
    run_dir: &Path,
) -> Result<Stage<ExtractArgs>> {
    let mut flags = vec![
        "--model".to_string(),
        model.to_string(),
        "--out".to_string(),
        run_dir.display().to_string(),
    ];
    flags.extend(table_flags(table, root)?);
    let args = parse_flags::<ExtractArgs>("extract", &flags)?;
    let mut inputs = BTreeMap::new();
    if Path::new(model).is_dir() {
        describe_files(Path::new(model), &mut inputs)?;
    }
    for spec in &args.data {
        describe_files(&parse_source(spec)?.path, &mut inputs)?;
    }
    Ok(Stage {
        key,
        stamp: StageStamp::new("extract", &flags, inputs),
        complete: run_is_complete(run_dir),
        args,
    })
}

fn analyze_stage(
    pipeline: &Pipeline,
    root: &Path,
    local_model: Option<&Path>,
    slug: &str,
    run_dir: &Path,
    analysis_dir: &Path,
) -> Result<Stage<AnalyzeArgs>> {
    let mut flags = vec![
        "--run".to_string(),
        run_dir.display().to_string(),
        "--out".to_string(),
        analysis_dir.display().to_string(),
    ];
    let mut inputs = BTreeMap::new();
    if let Some(model) = local_model {
        flags.extend(["--model".to_string(), model.display().to_string()]);
        describe_files(model, &mut inputs)?;
    }
    let mut run_dirs = vec![run_dir.to_path_buf()];
    for key in SECTION_RUN_KEYS {
        if let Some(name) = pipeline.section_run(key) {
            let dir = run_dir.with_file_name(format!("run-{name}"));
            flags.extend([format!("--{key}"), dir.display().to_string()]);
            run_dirs.push(dir);
        }
    }
    let mut table = pipeline.analyze.clone();
    table.retain(|k, _| !SECTION_RUN_KEYS.contains(&k.as_str()));
    flags.extend(table_flags(&table, root)?);
    let args = parse_flags::<AnalyzeArgs>("analyze", &flags)?;
    for dir in run_dirs {
        let manifest = dir.join("manifest.json");
        if manifest.is_file() {
            describe_content(&manifest, &mut inputs)?;
        }
    }
    Ok(Stage {
        key: format!("analyze/{slug}"),
        stamp: StageStamp::new("analyze", &flags, inputs),
        complete: analysis_dir.join("manifest.json").is_file(),
        args,
    })
}

fn report_stage(
    pipeline: &Pipeline,
    root: &Path,
    analyses: &[PathBuf],
    report_dir: &Path,
) -> Result<Stage<ReportArgs>> {
    let mut flags = vec!["--out".to_string(), report_dir.display().to_string()];
    let mut inputs = BTreeMap::new();
    for analysis in analyses {
        flags.extend(["--analysis".to_string(), analysis.display().to_string()]);
        for name in ["manifest.json", "summary.json"] {
            let path = analysis.join(name);
            if path.is_file() {
                describe_content(&path, &mut inputs)?;
            }
        }
    }
    flags.extend(table_flags(&pipeline.report, root)?);
    let args = parse_flags::<ReportArgs>("report", &flags)?;
    Ok(Stage {
        key: "report".to_string(),
        stamp: StageStamp::new("report", &flags, inputs),
        complete: report_dir.join("index.html").is_file(),
        args,
    })
}

/// Whether a run directory's manifest says the run finished.
fn run_is_complete(run_dir: &Path) -> bool {
    std::fs::read_to_string(run_dir.join("manifest.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|manifest| manifest.get("complete").and_then(|c| c.as_bool()))
        .unwrap_or(false)
}

/// Redoes a run for `--force`: the new run is extracted beside the old one and replaces it only
/// when complete, so a failure leaves the old run as it was.
fn replace_run(mut args: ExtractArgs, run_dir: &Path) -> Result<()> {
    if !run_dir.join("manifest.json").is_file() {
        bail!(
            "--force would replace {}, which holds no run manifest: remove it yourself if it is yours",
            run_dir.display()
        );
    }
    let staged = StagedDir::begin(run_dir, census_format::run::RUN_OWNED)?;
    args.out = staged.path().to_path_buf();
    args.run()?;
    staged.commit()?;
    Ok(())
}

/// Checks everything the pipeline needs before any stage runs or anything is replaced: every
/// stage's flags, every corpus source, every local model's configuration against the
/// extraction flags, hub models in the cache when offline, and every output directory (it must
/// be absent, empty, or one this project wrote for that stage).
fn preflight(
    pipeline: &Pipeline,
    root: &Path,
    out: &Path,
    models: &[(String, String)],
) -> Result<()> {
    check_tables(pipeline)?;
    for (name, table) in &pipeline.train {
        let model_dir = out.join("trained").join(name);
        check_inside(out, &model_dir)?;
        let stage = train_stage(name, table, root, &model_dir)?;
        for spec in stage
            .args
            .data
            .iter()
            .map(String::as_str)
            .chain(stage.args.eval_data.source())
        {
            parse_source(spec)?.check_exists()?;
        }
        check_model_output(&model_dir)?;
    }
    let trained = out.join("trained");
    let local_models: Vec<PathBuf> = models
        .iter()
        .map(|(model, _)| PathBuf::from(model))
        .filter(|m| m.is_dir())
        .collect();
    let mut analyses = Vec::new();
    for (model, slug) in models {
        let outputs = normalised(&out.join(slug));
        if let Some(inside) = local_models
            .iter()
            .find(|m| outputs.starts_with(normalised(m)))
        {
            bail!(
                "the outputs of model `{model}` would be written into {}, inside the model \
                 directory {}; choose an --out outside it",
                out.join(slug).display(),
                inside.display()
            );
        }
        let run_dir = out.join(slug).join("run");
        let analysis_dir = out.join(slug).join("analysis");
        let path = Path::new(model);
        check_inside(out, &out.join(slug))?;
        for (name, dir) in run_dirs(pipeline, out, slug) {
            check_inside(out, &dir)?;
            let table = match &name {
                Some(name) => pipeline.run_table(name),
                None => pipeline.extract.clone(),
            };
            let stage = extract_stage(&table, root, model, String::new(), &dir)?;
            let options = stage.args.to_options()?;
            if path.is_dir() {
                let config = census_model::family::read_config(path.join("config.json"))?;
                options.validate(&config)?;
            } else {
                for source in &options.sources {
                    source.check_exists()?;
                }
            }
            check_foreign_directory(&dir)?;
        }
        if !path.is_dir() {
            if !path.starts_with(&trained) && HubOptions::from_env(false).offline {
                // Offline, a hub model must already be in the cache.
                census_model::hub::resolve(model, &HubOptions::from_env(false))?;
            } else if !path.starts_with(&trained) {
                ModelSpec::parse(model)?;
            }
        }
        let local_model = path.is_dir().then_some(path);
        analyze_stage(pipeline, root, local_model, slug, &run_dir, &analysis_dir)?;
        census_stats::analyze::check_output_dir(&analysis_dir)?;
        analyses.push(analysis_dir);
    }
    let report_dir = out.join("report");
    // A series the pipeline has still to train has no analysis yet.
    if !analyses.is_empty() {
        report_stage(pipeline, root, &analyses, &report_dir)?;
    }
    census_report::check_output_dir(&report_dir)?;
    Ok(())
}

/// `path` made absolute, with `.` and `..` resolved by its text alone (nothing need exist).
fn normalised(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// Refuses a stage output that does not lie strictly inside the pipeline's `--out`, once both
/// paths are normalised.
fn check_inside(out: &Path, output: &Path) -> Result<()> {
    let (out_n, output_n) = (normalised(out), normalised(output));
    if output_n == out_n || !output_n.starts_with(&out_n) {
        bail!(
            "a stage would write {} ({}), which is not inside --out {}; refusing",
            output.display(),
            output_n.display(),
            out.display()
        );
    }
    Ok(())
}

/// Checks every key of every stage table against its command's flags, naming the table and the
/// key: a key no flag has, and a switch given anything but `true` or `false`.
fn check_tables(pipeline: &Pipeline) -> Result<()> {
    fn check<A: Args>(
        command: &str,
        section: &str,
        table: &BTreeMap<String, toml::Value>,
        skip: &[&str],
    ) -> Result<()> {
        let flags = A::augment_args(clap::Command::new("stage"));
        for (key, value) in table {
            if skip.contains(&key.as_str()) {
                continue;
            }
            let Some(flag) = flags.get_arguments().find(|a| a.get_long() == Some(key)) else {
                bail!(
                    "[{section}] has no key `{key}`: its keys are `{command}` flags without \
                     their dashes (see `neuron-census {command} --help`)"
                );
            };
            let switch = !flag.get_action().takes_values();
            match value {
                toml::Value::Boolean(_) if !switch => {
                    bail!("[{section}] {key} = {value}: `--{key}` takes a value, not true or false")
                }
                toml::Value::Boolean(_) => {}
                _ if switch => bail!(
                    "[{section}] {key} = {value}: `--{key}` is a switch; write {key} = true or \
                     leave it out"
                ),
                _ => {}
            }
        }
        Ok(())
    }
    check::<ExtractArgs>("extract", "extract", &pipeline.extract, &[])?;
    for (name, table) in &pipeline.runs {
        check::<ExtractArgs>("extract", &format!("runs.{name}"), table, &[])?;
    }
    check::<AnalyzeArgs>("analyze", "analyze", &pipeline.analyze, &SECTION_RUN_KEYS)?;
    check::<ReportArgs>("report", "report", &pipeline.report, &[])?;
    for (name, table) in &pipeline.train {
        check::<TrainArgs>("train", &format!("train.{name}"), table, &[])?;
    }
    Ok(())
}

/// Parses a stage's flags exactly as its command line would be.
fn parse_flags<A: Args>(stage: &str, flags: &[String]) -> Result<A> {
    #[derive(Parser)]
    struct Command<A: Args> {
        #[command(flatten)]
        args: A,
    }
    let argv = std::iter::once(stage.to_string()).chain(flags.iter().cloned());
    Command::<A>::try_parse_from(argv)
        .map(|c| c.args)
        .map_err(|e| anyhow::anyhow!("the pipeline's [{stage}] flags are not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pipeline shipped in `pipelines/` loads, and each of its stages' flags parse as the
    /// stage's command line would (for the paper's pipeline, whose data is not shipped, this
    /// is the check that its tables hold no typo).
    #[test]
    fn every_shipped_pipeline_gives_valid_stage_flags() {
        let root = repository_root();
        let out = Path::new("/nonexistent/out");
        let mut checked = 0;
        for entry in std::fs::read_dir(root.join("pipelines")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let pipeline = Pipeline::load(&path).unwrap();
            let label = path.display().to_string();
            for (name, table) in &pipeline.train {
                train_stage(name, table, &root, &out.join(name)).expect(&label);
            }
            let slug = &pipeline.model_slugs()[0];
            for (name, dir) in run_dirs(&pipeline, out, slug) {
                let table = name
                    .as_ref()
                    .map_or(pipeline.extract.clone(), |n| pipeline.run_table(n));
                let stage =
                    extract_stage(&table, &root, "opt-125m", String::new(), &dir).expect(&label);
                stage.args.to_options().expect(&label);
            }
            let analysis = out.join(slug).join("analysis");
            let stage = analyze_stage(
                &pipeline,
                &root,
                None,
                slug,
                &out.join(slug).join("run"),
                &analysis,
            )
            .expect(&label);
            stage.args.request().expect(&label);
            report_stage(&pipeline, &root, &[analysis], &out.join("report")).expect(&label);
            checked += 1;
        }
        assert!(checked >= 3);
    }

    /// The model-family pipelines name what their comments say, and pass the checks `run` makes
    /// of its models before any stage: Pythia's 20 log-spaced checkpoints, one hub model of
    /// each family.
    #[test]
    fn the_family_and_training_pipelines_resolve_their_models() {
        let root = repository_root();
        let out = Path::new("/nonexistent/out");
        let training = Pipeline::load(&root.join("pipelines/pythia-training.toml")).unwrap();
        let entries = training.entries().unwrap();
        assert!(entries.len() == 1 && entries[0].series);
        let series = hub_revision_series(&entries[0].location(out, &root))
            .unwrap()
            .unwrap();
        assert_eq!(series.len(), 20);
        assert_eq!(series[19].0, "EleutherAI/pythia-160m@step143000");
        let families = Pipeline::load(&root.join("pipelines/families.toml")).unwrap();
        let hub_ids: Vec<String> = families
            .entries()
            .unwrap()
            .iter()
            .map(
                |entry| match ModelSpec::parse(&entry.location(out, &root)).unwrap() {
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
        let model = repository_root().join("data/model").display().to_string();
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
        let root = repository_root();
        let pipeline = Pipeline::load(&root.join("pipelines/paper.toml")).unwrap();
        let run = Path::new("/o/opt-125m/run");
        let stage =
            analyze_stage(&pipeline, &root, None, "opt-125m", run, Path::new("/o/a")).unwrap();
        assert_eq!(stage.args.ngram_runs, [Path::new("/o/opt-125m/run-ngram")]);
        assert_eq!(
            stage.args.positional_runs,
            [Path::new("/o/opt-125m/run-positional")]
        );
        let ngram = extract_stage(
            &pipeline.run_table("ngram"),
            &root,
            "opt-125m",
            String::new(),
            run,
        )
        .unwrap();
        let options = ngram.args.to_options().unwrap();
        assert_eq!(
            options.layers,
            census_format::analysis::options::LayerScope::FirstHalf
        );
        assert_eq!(options.sources.len(), 5);
        let positional = pipeline.run_table("positional");
        assert_eq!(positional["full-length"], toml::Value::Boolean(true));
        assert_eq!(positional["device"], toml::Value::String("cuda".into()));
    }
}
