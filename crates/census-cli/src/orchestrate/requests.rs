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
            array: None,
            key: format!("train/{name}"),
            on: args.settings.device.name().to_string(),
            stamp: StageStamp::new(StageKind::Train, &args, inputs)?,
            complete: is_trained_model(&model_dir),
            args,
        })
    }

    /// The extraction of `model` into `run_dir` (one `shard` of it, under `[split]`), on
    /// `devices` when given: the `[extract]` run (`run` None) or `[runs.<run>]`.
    pub(super) fn extract_stage(
        &self,
        run: Option<&str>,
        model: &str,
        key: String,
        run_dir: &Path,
        shard: Option<Shard>,
        devices: Option<&DeviceSet>,
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
        if let Some(devices) = devices {
            args.settings.devices = Some(devices.clone());
        }
        if let Some(shard) = shard {
            args.settings.shard = shard;
        }
        let on = match &args.settings.devices {
            Some(devices) => devices.names(),
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
            array: None,
            stamp: StageStamp::new(StageKind::Extract, &args, inputs)?,
            complete: run_is_complete(run_dir),
            args,
        })
    }

    /// The analysis of a model's runs (`run_dir` and the `[runs.*]` runs `[analyze]` names
    /// beside it, each as its shards when `[split]` shards them) into `analysis_dir`: of every
    /// layer, or, for part `index` of `count` (`[split] analyze`), of its range of the run's
    /// recorded layers.
    pub(super) fn analyze_stage(
        &self,
        local_model: Option<&Path>,
        key: String,
        run_dir: &Path,
        analysis_dir: &Path,
        part: Option<(u32, u32)>,
    ) -> Result<Stage<AnalyzeArgs>> {
        let pipeline = &self.pipeline;
        let section_run = |key: &str| -> Vec<PathBuf> {
            pipeline
                .section_run(key)
                .map(|name| self.run_units(&run_dir.with_file_name(format!("run-{name}"))))
                .into_iter()
                .flatten()
                .map(|(_, dir)| dir)
                .collect()
        };
        let [ngram_key, positional_key] = SECTION_RUN_KEYS;
        let runs: Vec<PathBuf> = (self.run_units(run_dir).into_iter())
            .map(|(_, dir)| dir)
            .collect();
        let mut settings =
            parse_settings::<AnalyzeSettings>("analyze", &pipeline.analyze, &SECTION_RUN_KEYS)?;
        if let Some((index, count)) = part {
            // The recorded layers are known once the run is extracted; until then the part is
            // due anyway, as its run is.
            let recorded = census_format::run::Manifest::load(&runs[0]).ok().flatten();
            if let Some(manifest) = recorded {
                let [start, end] = split::part_layers(manifest.config.layers, index, count)
                    .with_context(|| format!("stage {key}"))?;
                settings.layers = LayerScope::Range { start, end };
            }
        }
        let args = AnalyzeArgs {
            runs,
            out: analysis_dir.to_path_buf(),
            model: local_model.map(Path::to_path_buf),
            ngram_runs: section_run(ngram_key),
            positional_runs: section_run(positional_key),
            settings,
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
            array: None,
            on: "host".to_string(),
            key,
            stamp: StageStamp::new(StageKind::Analyze, &args, inputs)?,
            complete: analysis_is_complete(analysis_dir),
            args,
        })
    }

    /// The merge of an analysis's layer-range `parts` into `analysis_dir`.
    pub(super) fn merge_stage(
        &self,
        key: String,
        parts: Vec<PathBuf>,
        analysis_dir: &Path,
    ) -> Result<Stage<MergeArgs>> {
        let mut inputs = BTreeMap::new();
        for part in &parts {
            let manifest = part.join(census_format::analysis::manifest::MANIFEST_FILE);
            if manifest.is_file() {
                describe_content(&manifest, &mut inputs)?;
            }
        }
        let args = MergeArgs {
            out: analysis_dir.to_path_buf(),
            parts,
        };
        Ok(Stage {
            after: Vec::new(),
            array: None,
            on: "host".to_string(),
            key,
            stamp: StageStamp::new(StageKind::Merge, &args, inputs)?,
            complete: analysis_is_complete(analysis_dir),
            args,
        })
    }

    /// The run directories of the run in `run_dir`: itself, or its shards under `[split]`, each
    /// with its shard.
    pub(super) fn run_units(&self, run_dir: &Path) -> Vec<(Option<Shard>, PathBuf)> {
        match self.pipeline.split.shards() {
            None => vec![(None, run_dir.to_path_buf())],
            Some(shards) => shards
                .into_iter()
                .map(|shard| (Some(shard), split::shard_dir(run_dir, shard)))
                .collect(),
        }
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
            array: None,
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
