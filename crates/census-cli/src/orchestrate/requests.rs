//! Each stage's typed request: its paths set here, its settings read from the pipeline's table
//! by the stage's own flag parser, and what its output is made from.

use super::*;

impl Plan {
    /// The training of `[train.<name>]`, into `<out>/trained/<name>`.
    pub(super) fn train_stage(&self, name: &str) -> Result<Stage<TrainArgs>> {
        let pipeline = &self.pipeline;
        let table = &pipeline.train[name];
        let section = format!("train.{name}");
        let model_dir = self.out.join("trained").join(name);
        let args = TrainArgs {
            data: pipeline.sources(table, "data")?.with_context(|| {
                format!("[{section}] names no `data`: give the text the model trains on")
            })?,
            eval_data: pipeline.eval_data(table)?,
            out: model_dir.clone(),
            force: true,
            settings: parse_settings::<TrainSettings>(&section, table, &TRAIN_PATH_KEYS)?,
        };
        let mut inputs = BTreeMap::new();
        for source in args.data.iter().chain(args.eval_data.source()) {
            describe_files(&source.path, &mut inputs)?;
        }
        Ok(Stage {
            after: Vec::new(),
            key: format!("train/{name}"),
            on: args.settings.device.name().to_string(),
            stamp: StageStamp::new(StageKind::Train, &args, inputs)?,
            complete: is_trained_model(&model_dir),
            args,
        })
    }

    /// The extraction of `model` into `run_dir`: the `[extract]` run (`run` None) or
    /// `[runs.<run>]`.
    pub(super) fn extract_stage(
        &self,
        run: Option<&str>,
        model: &str,
        key: String,
        run_dir: &Path,
    ) -> Result<Stage<ExtractArgs>> {
        let pipeline = &self.pipeline;
        let (section, table) = match run {
            Some(name) => (format!("runs.{name}"), pipeline.run_table(name)),
            None => ("extract".to_string(), pipeline.extract.clone()),
        };
        let own_data = run.is_some_and(|name| pipeline.runs[name].contains_key("data"));
        let data = if !self.data.is_empty() && !own_data {
            self.data.clone()
        } else {
            pipeline.sources(&table, "data")?.unwrap_or_default()
        };
        if data.is_empty() {
            bail!("[{section}] names no `data` and none was given with --data");
        }
        let mut args = ExtractArgs {
            model: model.to_string(),
            data,
            out: run_dir.to_path_buf(),
            settings: parse_settings::<ExtractSettings>(&section, &table, &EXTRACT_PATH_KEYS)?,
        };
        if self.devices.is_some() {
            args.settings.devices.clone_from(&self.devices);
        }
        let on = match &args.settings.devices {
            Some(devices) => devices.to_string(),
            None => args.settings.device.name().to_string(),
        };
        let mut inputs = BTreeMap::new();
        if Path::new(model).is_dir() {
            describe_files(Path::new(model), &mut inputs)?;
        }
        for source in &args.data {
            describe_files(&source.path, &mut inputs)?;
        }
        Ok(Stage {
            key,
            on,
            after: Vec::new(),
            stamp: StageStamp::new(StageKind::Extract, &args, inputs)?,
            complete: run_is_complete(run_dir),
            args,
        })
    }

    /// The analysis of a model's runs (`run_dir` and the `[runs.*]` runs `[analyze]` names
    /// beside it) into `analysis_dir`.
    pub(super) fn analyze_stage(
        &self,
        local_model: Option<&Path>,
        slug: &str,
        run_dir: &Path,
        analysis_dir: &Path,
    ) -> Result<Stage<AnalyzeArgs>> {
        let pipeline = &self.pipeline;
        let section_run = |key: &str| -> Vec<PathBuf> {
            pipeline
                .section_run(key)
                .map(|name| run_dir.with_file_name(format!("run-{name}")))
                .into_iter()
                .collect()
        };
        let [ngram_key, positional_key] = SECTION_RUN_KEYS;
        let args = AnalyzeArgs {
            runs: vec![run_dir.to_path_buf()],
            out: analysis_dir.to_path_buf(),
            model: local_model.map(Path::to_path_buf),
            ngram_runs: section_run(ngram_key),
            positional_runs: section_run(positional_key),
            settings: parse_settings::<AnalyzeSettings>(
                "analyze",
                &pipeline.analyze,
                &SECTION_RUN_KEYS,
            )?,
        };
        let mut inputs = BTreeMap::new();
        if let Some(model) = local_model {
            describe_files(model, &mut inputs)?;
        }
        let run_dirs = args
            .runs
            .iter()
            .chain(&args.ngram_runs)
            .chain(&args.positional_runs);
        for dir in run_dirs {
            let manifest = dir.join(census_format::run::manifest::MANIFEST_FILE);
            if manifest.is_file() {
                describe_content(&manifest, &mut inputs)?;
            }
        }
        Ok(Stage {
            after: Vec::new(),
            on: "host".to_string(),
            key: format!("analyze/{slug}"),
            stamp: StageStamp::new(StageKind::Analyze, &args, inputs)?,
            complete: analysis_is_complete(analysis_dir),
            args,
        })
    }

    /// The report of `analyses` into `report_dir`.
    pub(super) fn report_stage(
        &self,
        analyses: &[PathBuf],
        report_dir: &Path,
    ) -> Result<Stage<ReportArgs>> {
        use census_format::analysis::manifest::{MANIFEST_FILE, SUMMARY_FILE};
        let args = ReportArgs {
            analyses: analyses.to_vec(),
            out: report_dir.to_path_buf(),
            settings: parse_settings::<ReportSettings>("report", &self.pipeline.report, &[])?,
        };
        let mut inputs = BTreeMap::new();
        for analysis in analyses {
            for name in [MANIFEST_FILE, SUMMARY_FILE] {
                let path = analysis.join(name);
                if path.is_file() {
                    describe_content(&path, &mut inputs)?;
                }
            }
        }
        Ok(Stage {
            after: Vec::new(),
            on: "host".to_string(),
            key: "report".to_string(),
            stamp: StageStamp::new(StageKind::Report, &args, inputs)?,
            complete: census_report::is_complete(report_dir),
            args,
        })
    }
}

/// Each extraction of a model: the `[extract]` run (no name) in `<out>/<slug>/run`, then each
/// `[runs.<name>]` in `<out>/<slug>/run-<name>`.
pub(super) fn run_dirs(
    pipeline: &Pipeline,
    out: &Path,
    slug: &str,
) -> Vec<(Option<String>, PathBuf)> {
    std::iter::once((None, out.join(slug).join("run")))
        .chain(pipeline.runs.keys().map(|name| {
            (
                Some(name.clone()),
                out.join(slug).join(format!("run-{name}")),
            )
        }))
        .collect()
}

/// Whether a run directory's manifest says the run finished.
pub(super) fn run_is_complete(run_dir: &Path) -> bool {
    census_format::run::Manifest::load(run_dir)
        .ok()
        .flatten()
        .is_some_and(|manifest| manifest.complete)
}

/// Whether an analysis directory holds a whole analysis (written whole, its manifest with it).
pub(super) fn analysis_is_complete(dir: &Path) -> bool {
    dir.join(census_format::analysis::manifest::MANIFEST_FILE)
        .is_file()
}

/// Redoes a run for `--force`: the new run is extracted beside the old one and replaces it only
/// when complete, so a failure leaves the old run as it was.
pub(super) fn replace_run(mut args: ExtractArgs, run_dir: &Path) -> Result<()> {
    // Ours by the preflight's own test (`check_foreign_directory`): it holds a run manifest,
    // readable or not; a damaged one is replaced by the run done again.
    if !run_dir
        .join(census_format::run::manifest::MANIFEST_FILE)
        .is_file()
    {
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
