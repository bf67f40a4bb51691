//! Everything a pipeline needs, checked before any stage runs: every stage's flags, every input,
//! and every output place.

use super::*;

impl Plan {
    /// Checks everything the pipeline needs before any stage runs or anything is replaced:
    /// every stage's settings, every corpus source, every local model's configuration against
    /// the extraction settings, hub models in the cache when offline, and every output directory
    /// (it must be absent, empty, or one this project wrote for that stage).
    pub(super) fn preflight(&self, models: &[(String, String)]) -> Result<()> {
        let (pipeline, out) = (&self.pipeline, &self.out);
        check_tables(pipeline)?;
        for name in pipeline.train.keys() {
            let model_dir = out.join("trained").join(name);
            check_inside(out, &model_dir)?;
            let stage = self.train_stage(name)?;
            for source in stage.args.data.iter().chain(stage.args.eval_data.source()) {
                source.check_exists()?;
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
            for (name, extraction) in run_dirs(pipeline, out, slug) {
                check_inside(out, &extraction)?;
                if pipeline.split.shards().is_some() {
                    check_shards_parent(&extraction)?;
                }
                for (shard, dir) in self.run_units(&extraction) {
                    let stage = self.extract_stage(
                        name.as_deref(),
                        model,
                        String::new(),
                        &dir,
                        shard,
                        self.devices.as_ref(),
                    )?;
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
            self.analyze_stage(local_model, String::new(), &run_dir, &analysis_dir, None)?;
            census_stats::analyze::check_output_dir(&analysis_dir)?;
            if let Some(count) = pipeline.split.analysis_parts() {
                for index in 0..count {
                    let part = split::part_dir(&analysis_dir, index, count);
                    check_inside(out, &part)?;
                    census_stats::analyze::check_output_dir(&part)?;
                }
            }
            analyses.push(analysis_dir);
        }
        let report_dir = out.join("report");
        // A series the pipeline has still to train has no analysis yet.
        if !analyses.is_empty() {
            self.report_stage(&analyses, &report_dir)?;
        }
        census_report::check_output_dir(&report_dir)?;
        Ok(())
    }
}

/// Refuses to put shards into a run directory that holds a whole run (from before the pipeline's
/// `[split]`): the shards would sit inside another run.
fn check_shards_parent(run_dir: &Path) -> Result<()> {
    if run_dir
        .join(census_format::run::manifest::MANIFEST_FILE)
        .exists()
    {
        bail!(
            "{} holds a whole run, but the pipeline's [split] extracts shards into it; remove \
             that run (or move it away) to extract the shards, or drop [split] extract to keep it",
            run_dir.display()
        );
    }
    Ok(())
}

/// Refuses a stage output that does not lie strictly inside the pipeline's `--out`, once both
/// paths are normalised.
pub(super) fn check_inside(out: &Path, output: &Path) -> Result<()> {
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

/// Checks every key of every stage table against its stage's settings, naming the table and
/// the key: a key no setting has (or one the pipeline sets itself), and a switch given anything
/// but `true` or `false`.
pub(super) fn check_tables(pipeline: &Pipeline) -> Result<()> {
    pub(super) fn check<S: Args>(
        command: &str,
        section: &str,
        table: &BTreeMap<String, toml::Value>,
        paths: &[&str],
    ) -> Result<()> {
        let flags = S::augment_args(clap::Command::new("stage"));
        for (key, value) in table {
            if paths.contains(&key.as_str()) {
                continue;
            }
            let Some(flag) = flags.get_arguments().find(|a| a.get_long() == Some(key)) else {
                bail!(
                    "[{section}] has no key `{key}`: its keys are `{command}` flags without \
                     their dashes (see `neuron-census {command} --help`), except those the \
                     pipeline sets itself"
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
    check::<ExtractSettings>("extract", "extract", &pipeline.extract, &EXTRACT_PATH_KEYS)?;
    for (name, table) in &pipeline.runs {
        check::<ExtractSettings>(
            "extract",
            &format!("runs.{name}"),
            table,
            &EXTRACT_PATH_KEYS,
        )?;
    }
    check::<AnalyzeSettings>("analyze", "analyze", &pipeline.analyze, &SECTION_RUN_KEYS)?;
    check::<ReportSettings>("report", "report", &pipeline.report, &[])?;
    for (name, table) in &pipeline.train {
        check::<TrainSettings>("train", &format!("train.{name}"), table, &TRAIN_PATH_KEYS)?;
    }
    Ok(())
}
