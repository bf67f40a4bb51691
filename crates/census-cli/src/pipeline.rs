//! Pipelines: `pipelines/*.toml` files that name a whole experiment (models, corpora, sequence
//! settings, flags), turned into the flags of each stage.
//!
//! ```toml
//! name = "default"                     # output directory name under out/
//! models = ["../data/model", "trained:nopos"]  # presets, hub ids, directories, trained models
//! [data]                               # data made first (`neuron-census data`), if not made
//! recipe = "paper"
//! out = "../data/paper"
//! [train.nopos]                        # a model this pipeline trains (`train` flags)
//! data = ["../data/corpus/train.jsonl"]  # its text (`eval-data`: held-out text, default none)
//! no-positions = true
//! [extract]                            # every key is an `extract` flag, without its dashes
//! data = ["../data/corpus/census.jsonl"]  # arrays repeat the flag; `,optional`: skipped, and
//!                                      #   said so, when the file is not there
//! max-seq-len = 256
//! full-length = true                   # true gives the bare flag; false leaves it out
//! [runs.positions]                     # another extraction of each model: its keys replace
//! full-length = true                   #   those of [extract]
//! [analyze]                            # `analyze` flags
//! positional-run = "positions"         # a section's data: a [runs.*] extraction
//! [report]                             # `report` flags
//! ```
//!
//! The `[extract]` run is the data of the frequencies and dead neurons (the paper's §3) and of
//! every section not given its own: `ngram-run` and `positional-run` in `[analyze]` name the
//! extra runs the n-gram (§4) and positional (§5) statistics rest on.
//!
//! Relative paths (models, `data`, `eval-data`) are taken from the directory that holds the
//! pipeline file, so a pipeline runs the same from any directory. The other keys are read by the
//! stage's own flag parser, once, into its settings (`ExtractSettings`, `AnalyzeSettings`,
//! `ReportSettings`, `TrainSettings`); the paths each stage reads and writes are set by `run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use census_format::corpus::CorpusSource;
use census_format::hub_ref::{HubRef, split_revision};
use census_format::series::revision_step;
use census_train::eval_data::EvalData;
use clap::{Args, FromArgMatches};
use serde::Deserialize;

/// One experiment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Name of the experiment: its outputs go to `out/<name>/`.
    pub name: String,
    /// What the experiment shows (printed at the start).
    #[serde(default)]
    pub description: String,
    /// The models, each run through every stage; the report compares them.
    pub models: Vec<String>,
    /// Models the pipeline trains itself, by name: each table holds `train` flags (`--out` is
    /// set: `<out>/trained/<name>`). A model listed as `trained:<name>` is that model.
    #[serde(default)]
    pub train: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// `extract` flags (`--model` and `--out` are set per model).
    #[serde(default)]
    pub extract: BTreeMap<String, toml::Value>,
    /// Further extractions of each model, by name: each table's keys replace those of
    /// `extract` (`<out>/<model>/run-<name>`).
    #[serde(default)]
    pub runs: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// `analyze` flags (`--run`, `--out` and, for local models, `--model` are set per model);
    /// `ngram-run` and `positional-run` name a table of `runs`.
    #[serde(default)]
    pub analyze: BTreeMap<String, toml::Value>,
    /// `report` flags (`--analysis` and `--out` are set).
    #[serde(default)]
    pub report: BTreeMap<String, toml::Value>,
    /// The resources of the Slurm jobs `run --slurm` writes.
    #[serde(default)]
    pub slurm: crate::slurm::SlurmTable,
    /// Extractions as shards and analyses as layer ranges (job arrays under `run --slurm`).
    #[serde(default)]
    pub split: crate::split::SplitTable,
    /// Data the pipeline makes before its stages (`neuron-census data`).
    #[serde(default)]
    pub data: Option<DataTable>,
    /// The directory relative paths are taken from: the one that holds the pipeline file.
    #[serde(skip)]
    pub base: PathBuf,
}

/// The `[data]` table: a recipe of `neuron-census data` and the directory it writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTable {
    /// The recipe (`paper`).
    pub recipe: String,
    /// The directory of its files, relative to the pipeline's directory.
    pub out: PathBuf,
}

/// The mark of a corpus source that may be absent: `PATH,…,optional`.
pub const OPTIONAL_SOURCE: &str = "optional";

/// How `models` refers to a model the pipeline trains: `trained:<name>`.
pub const TRAINED_PREFIX: &str = "trained:";
/// Prefix of a model that is a training run's series of checkpoints (`series:DIR`,
/// `series:trained:NAME`, or hub revisions `series:org/name@REV,REV,…`): each checkpoint, and
/// the trained model, is extracted and analysed on the same data, and the report shows the
/// statistics against training step.
pub const SERIES_PREFIX: &str = "series:";

/// A model a pipeline names, parsed once from its `models` entry: every prefix is read here and
/// nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The entry as the pipeline writes it.
    pub spec: String,
    /// A training series (`series:`): each checkpoint is extracted and analysed as a model.
    pub series: bool,
    /// Where the model (or the series) comes from.
    pub source: ModelSource,
}

/// Where a pipeline's model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A model the pipeline trains itself (`trained:NAME`), in `<out>/trained/NAME`.
    Trained(String),
    /// A preset, a hub id (at a revision, `@REV`; for a series, revisions `@REV,REV`) or a
    /// directory.
    Given(String),
}

impl ModelEntry {
    /// Parses a `models` entry.
    pub fn parse(spec: &str) -> Result<Self> {
        let (series, rest) = match spec.strip_prefix(SERIES_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        let source = match rest.strip_prefix(TRAINED_PREFIX) {
            Some(name) => ModelSource::Trained(name.to_string()),
            None => ModelSource::Given(rest.to_string()),
        };
        let named = match &source {
            ModelSource::Trained(name) | ModelSource::Given(name) => name,
        };
        if named.trim().is_empty() {
            bail!("model `{spec}` names no model");
        }
        Ok(Self {
            spec: spec.to_string(),
            series,
            source,
        })
    }

    /// What a stage is given for it: a trained model's directory under `out`, a directory
    /// relative to `base`, or the preset or hub id as written.
    pub fn location(&self, out: &Path, base: &Path) -> String {
        match &self.source {
            ModelSource::Trained(name) => out.join("trained").join(name).display().to_string(),
            ModelSource::Given(spec) => {
                let candidate = census_format::paths::lexically_normal(&base.join(spec));
                if candidate.is_dir() {
                    candidate.display().to_string()
                } else {
                    spec.clone()
                }
            }
        }
    }

    /// The text its slug is made from: a series of hub revisions goes by its repository.
    fn slug_base(&self) -> String {
        match (&self.source, self.series) {
            (ModelSource::Trained(name), _) => format!("{TRAINED_PREFIX}{name}"),
            (ModelSource::Given(spec), true) => split_revision(spec)
                .map_or(spec.as_str(), |(name, _)| name)
                .to_string(),
            (ModelSource::Given(spec), false) => spec.clone(),
        }
    }
}

/// The checkpoints a series of hub revisions names (`org/name@REV,REV,…` or
/// `PRESET@REV,REV,…`, each revision's name carrying its step, as `step-100`, `step1000` or
/// `stage1-step1000-tokens4B`; `PRESET@log` for a Pythia preset's log-spaced checkpoints):
/// `(org/name@REV, step)` in step order. None when `series` names no hub revisions (a
/// directory, or a model the pipeline trains).
pub fn hub_revision_series(series: &str) -> Result<Option<Vec<(String, u64)>>> {
    let expanded;
    let series = match split_revision(series) {
        Ok((name, Some(revisions))) if !name.contains('/') && !Path::new(name).exists() => {
            let Some(preset) = census_model::presets::find(name) else {
                return Ok(None);
            };
            let revisions = if revisions == "log" {
                census_model::presets::log_spaced_revisions(preset)
                    .with_context(|| {
                        format!("{name} publishes no training checkpoints, so `@log` names none")
                    })?
                    .join(",")
            } else {
                revisions.to_string()
            };
            expanded = format!("{}@{revisions}", preset.hub_id);
            expanded.as_str()
        }
        _ => series,
    };
    let Some(HubRef {
        repo: id,
        revision: Some(revisions),
    }) = HubRef::parse(series)
    else {
        return Ok(None);
    };
    let mut checkpoints = Vec::new();
    for revision in revisions.split(',') {
        let revision = revision.trim();
        let Some(step) = revision_step(revision) else {
            bail!(
                "revision `{revision}` of series {id} names no step; name each revision by its \
                 step (`step-100`, `step1000`)"
            );
        };
        if let Some((other, _)) = checkpoints.iter().find(|(_, s)| *s == step) {
            bail!("revisions `{other}` and `{id}@{revision}` of series {id} are both step {step}");
        }
        checkpoints.push((format!("{id}@{revision}"), step));
    }
    checkpoints.sort_by_key(|(_, step)| *step);
    Ok(Some(checkpoints))
}

/// What a pipeline's `--out` holds beside its models' directories: no model's slug takes these.
const RESERVED_NAMES: [&str; 3] = ["report", "trained", "stages.json"];

/// `[analyze]` keys that name a table of `runs` rather than give a flag's value.
pub const SECTION_RUN_KEYS: [&str; 2] = ["ngram-run", "positional-run"];
/// `[extract]` and `[runs.*]` keys that give paths, read by [`Pipeline::sources`].
pub const EXTRACT_PATH_KEYS: [&str; 1] = ["data"];
/// `[train.*]` keys that give paths, read by [`Pipeline::sources`] and
/// [`Pipeline::eval_data`].
pub const TRAIN_PATH_KEYS: [&str; 2] = ["data", "eval-data"];

/// Flags each stage sets itself; a pipeline may not name them.
const RESERVED: &[(&str, &[&str])] = &[
    ("train", &["out", "force"]),
    ("extract", &["model", "out"]),
    ("analyze", &["run", "out", "model"]),
    ("report", &["analysis", "out"]),
];

impl Pipeline {
    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the pipeline {}", path.display()))?;
        let mut pipeline: Self = toml::from_str(&text)
            .with_context(|| format!("the pipeline {} is not valid", path.display()))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        pipeline.base = std::fs::canonicalize(dir.unwrap_or(Path::new(".")))
            .with_context(|| format!("finding the directory of the pipeline {}", path.display()))?;
        if pipeline.models.is_empty() {
            bail!("the pipeline {} names no model", path.display());
        }
        let names = std::iter::once(("`name`".to_string(), &pipeline.name))
            .chain(pipeline.train.keys().map(|n| (format!("[train.{n}]"), n)))
            .chain(pipeline.runs.keys().map(|n| (format!("[runs.{n}]"), n)));
        for (what, name) in names {
            check_path_name(name).with_context(|| format!("{}: {what}", path.display()))?;
        }
        let stages = [
            ("extract", &pipeline.extract),
            ("analyze", &pipeline.analyze),
            ("report", &pipeline.report),
        ];
        let trains = pipeline.train.values().map(|t| ("train", t));
        let runs = pipeline.runs.values().map(|t| ("extract", t));
        for (stage, table) in stages.into_iter().chain(trains).chain(runs) {
            let reserved = RESERVED
                .iter()
                .find(|(s, _)| *s == stage)
                .expect("listed")
                .1;
            if let Some(key) = table.keys().find(|k| reserved.contains(&k.as_str())) {
                bail!(
                    "{}: [{stage}] sets `{key}`, which the pipeline sets itself per model",
                    path.display()
                );
            }
        }
        pipeline
            .split
            .check()
            .with_context(|| path.display().to_string())?;
        let split_keys = [
            (pipeline.split.extract.is_some(), "extract", "shard"),
            (pipeline.split.analyze.is_some(), "analyze", "layers"),
        ];
        for (split, key, flag) in split_keys {
            let tables: Vec<(String, &BTreeMap<String, toml::Value>)> = if key == "extract" {
                std::iter::once(("extract".to_string(), &pipeline.extract))
                    .chain(pipeline.runs.iter().map(|(n, t)| (format!("runs.{n}"), t)))
                    .collect()
            } else {
                vec![("analyze".to_string(), &pipeline.analyze)]
            };
            for (section, table) in tables {
                if split && table.contains_key(flag) {
                    bail!(
                        "{}: [{section}] sets `{flag}` and [split] sets `{key}`: the split gives \
                         each {key} stage its `{flag}`; keep one of them",
                        path.display()
                    );
                }
            }
        }
        for key in SECTION_RUN_KEYS {
            match pipeline.analyze.get(key) {
                None => {}
                Some(toml::Value::String(name)) if pipeline.runs.contains_key(name) => {}
                Some(other) => bail!(
                    "{}: [analyze] {key} = {other} names no [runs.*] table (there are: {})",
                    path.display(),
                    pipeline.runs.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }
        }
        for (i, model) in pipeline.models.iter().enumerate() {
            if pipeline.models[..i].contains(model) {
                bail!(
                    "{}: model `{model}` is listed twice; its analyses would be one model's \
                     twice over",
                    path.display()
                );
            }
            let entry = ModelEntry::parse(model).with_context(|| format!("{}", path.display()))?;
            match &entry.source {
                ModelSource::Given(spec) if entry.series => {
                    hub_revision_series(spec)
                        .with_context(|| format!("{}: model `{model}`", path.display()))?;
                }
                ModelSource::Trained(name) if !pipeline.train.contains_key(name) => {
                    bail!(
                        "{}: model `{TRAINED_PREFIX}{name}` names no [train.{name}] table",
                        path.display()
                    );
                }
                _ => {}
            }
        }
        Ok(pipeline)
    }

    /// The models, parsed.
    pub fn entries(&self) -> Result<Vec<ModelEntry>> {
        self.models.iter().map(|m| ModelEntry::parse(m)).collect()
    }

    /// A short, unique, file-system-safe name for each model: the last component of its path or
    /// hub id. Entries that do not parse (the pipeline refuses them when it loads) go by their
    /// text.
    pub fn model_slugs(&self) -> Vec<String> {
        let mut slugs: Vec<String> = Vec::new();
        for model in &self.models {
            let model = ModelEntry::parse(model).map_or_else(|_| model.clone(), |e| e.slug_base());
            let model = model.as_str();
            let base = model
                .trim_end_matches('/')
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(model)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>();
            // A path's last component may be `..`, `.` or hidden; a slug never starts with a dot.
            let base = if base.is_empty() {
                "model".to_string()
            } else if base.starts_with('.') {
                format!("_{base}")
            } else if RESERVED_NAMES.contains(&base.as_str()) {
                // The pipeline's own outputs beside the models' keep their names.
                format!("{base}-model")
            } else {
                base
            };
            let mut slug = base.clone();
            let mut n = 2;
            while slugs.contains(&slug) {
                slug = format!("{base}-{n}");
                n += 1;
            }
            slugs.push(slug);
        }
        slugs
    }
}

/// Checks a name that becomes a directory of the pipeline's output (the pipeline's `name`, a
/// `[train.*]` or `[runs.*]` table's): letters, digits, '-', '_' and '.', not starting with a
/// dot, so it names one directory inside `--out` and never climbs out of it.
pub fn check_path_name(name: &str) -> Result<()> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if name.is_empty() || !plain || name.starts_with('.') {
        bail!(
            "`{name}` cannot name a directory: use letters, digits, '-', '_' and '.', not \
             starting with a dot"
        );
    }
    Ok(())
}

impl Pipeline {
    /// The `extract` table of run `name`: `extract` with the run's keys replacing its own.
    pub fn run_table(&self, name: &str) -> BTreeMap<String, toml::Value> {
        let mut table = self.extract.clone();
        if let Some(run) = self.runs.get(name) {
            table.extend(run.clone());
        }
        table
    }

    /// The `[runs.*]` table `[analyze]` names for `key` (`ngram-run`, `positional-run`).
    pub fn section_run(&self, key: &str) -> Option<&str> {
        self.analyze.get(key).and_then(|v| v.as_str())
    }
}

impl Pipeline {
    /// The corpus sources `key` of `table` gives (a spec or an array of specs), relative paths
    /// taken from the pipeline's directory; None when the table has no such key.
    pub fn sources(
        &self,
        table: &BTreeMap<String, toml::Value>,
        key: &str,
    ) -> Result<Option<Vec<CorpusSource>>> {
        let Some(value) = table.get(key) else {
            return Ok(None);
        };
        let specs = match value {
            toml::Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut sources = Vec::new();
        for spec in specs {
            let toml::Value::String(spec) = spec else {
                bail!("`{key}` = {spec}: expected a corpus source spec (a string)");
            };
            let parts: Vec<&str> = spec.split(',').collect();
            let optional = parts.contains(&OPTIONAL_SOURCE);
            let kept: Vec<&str> = parts
                .into_iter()
                .filter(|p| *p != OPTIONAL_SOURCE)
                .collect();
            let source = CorpusSource::parse_in(&kept.join(","), &self.base)
                .with_context(|| format!("`{key}` = \"{spec}\""))?;
            if optional && !source.path.exists() {
                // Said once per source, however many stages read it.
                static SAID: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
                let mut said = SAID
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !said.contains(&source.path) {
                    said.push(source.path.clone());
                    tracing::warn!(
                        source = %source.path.display(),
                        "an optional corpus source is not there: the pipeline runs without it"
                    );
                }
                continue;
            }
            sources.push(source);
        }
        Ok(Some(sources))
    }

    /// The `[data]` table's recipe and directory (made absolute from the pipeline's).
    pub fn data_recipe(&self) -> Result<Option<(&'static crate::data::recipe::Recipe, PathBuf)>> {
        let Some(table) = &self.data else {
            return Ok(None);
        };
        let recipe = crate::data::recipe::find(&table.recipe)
            .with_context(|| format!("[data] recipe = \"{}\": no such recipe", table.recipe))?;
        Ok(Some((recipe, self.base.join(&table.out))))
    }

    /// The held-out text of a `[train.*]` table: its `eval-data`, none when it has none.
    pub fn eval_data(&self, table: &BTreeMap<String, toml::Value>) -> Result<EvalData> {
        match table.get("eval-data") {
            None => Ok(EvalData::None),
            Some(toml::Value::String(text)) => EvalData::parse_in(text, &self.base)
                .with_context(|| format!("`eval-data` = \"{text}\"")),
            Some(other) => bail!("`eval-data` = {other}: expected a corpus source spec or `none`"),
        }
    }
}

/// The settings a stage table gives, read by the stage's own flag parser: each key is a flag
/// without its dashes (`true` gives a switch, `false` leaves it out, an array repeats the
/// flag). Keys in `paths` are read elsewhere.
pub fn parse_settings<S: Args + FromArgMatches>(
    section: &str,
    table: &BTreeMap<String, toml::Value>,
    paths: &[&str],
) -> Result<S> {
    let mut argv = vec![section.to_string()];
    for (key, value) in table {
        if paths.contains(&key.as_str()) {
            continue;
        }
        let flag = format!("--{key}");
        match value {
            toml::Value::Boolean(true) => argv.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    argv.push(flag.clone());
                    argv.push(scalar(key, item)?);
                }
            }
            other => {
                argv.push(flag);
                argv.push(scalar(key, other)?);
            }
        }
    }
    let command = S::augment_args(clap::Command::new("stage"));
    command
        .try_get_matches_from(argv)
        .and_then(|matches| S::from_arg_matches(&matches))
        .map_err(|e| anyhow::anyhow!("the pipeline's [{section}] flags are not valid: {e}"))
}

fn scalar(key: &str, value: &toml::Value) -> Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => bail!("`{key}` = {other}: expected a string, number, boolean or an array of them"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Pipeline {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn tables_become_typed_settings_and_sources_relative_to_the_pipeline() {
        let mut p = parse(
            r#"
            name = "x"
            models = ["data/model", "facebook/opt-125m"]
            [extract]
            data = ["data/a.jsonl,domain=wiki", "/abs/b.txt"]
            max-seq-len = 256
            full-length = true
            stream-layers = false
            layers = "..2"
            [analyze]
            mi-threshold = 0.05
            "#,
        );
        p.base = PathBuf::from("/repo/pipelines");
        let sources = p.sources(&p.extract, "data").unwrap().unwrap();
        assert_eq!(sources[0].path, Path::new("/repo/pipelines/data/a.jsonl"));
        assert_eq!(sources[0].domain.as_deref(), Some("wiki"));
        assert_eq!(sources[1].path, Path::new("/abs/b.txt"));
        assert!(p.sources(&p.analyze, "data").unwrap().is_none());
        let extract: census_extract::cli::ExtractSettings =
            parse_settings("extract", &p.extract, &EXTRACT_PATH_KEYS).unwrap();
        assert_eq!(extract.max_seq_len, Some(256));
        assert!(extract.full_length && !extract.stream_layers);
        assert_eq!(
            extract.layers,
            census_format::analysis::options::LayerScope::Range { start: 0, end: 2 }
        );
        let analyze: census_stats::cli::AnalyzeSettings =
            parse_settings("analyze", &p.analyze, &SECTION_RUN_KEYS).unwrap();
        assert_eq!(analyze.mi_threshold, 0.05);
        // A value its flag refuses is refused with the table's name.
        let mut bad = p.extract.clone();
        bad.insert("layers".into(), toml::Value::String("sideways".into()));
        let e = parse_settings::<census_extract::cli::ExtractSettings>(
            "extract",
            &bad,
            &EXTRACT_PATH_KEYS,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[extract] flags are not valid") && e.contains("sideways"),
            "{e}"
        );
        assert_eq!(p.model_slugs(), ["model", "opt-125m"]);
    }

    #[test]
    fn trained_models_need_their_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "name = \"x\"\nmodels = [\"trained:a\"]\n").unwrap();
        let err = Pipeline::load(&path).unwrap_err().to_string();
        assert!(err.contains("no [train.a] table"), "{err}");
        std::fs::write(
            &path,
            "name = \"x\"\nmodels = [\"trained:a\"]\n[train.a]\nno-positions = true\n",
        )
        .unwrap();
        let p = Pipeline::load(&path).unwrap();
        assert_eq!(p.model_slugs(), ["trained_a"]);
        let settings: census_train::cli::TrainSettings =
            parse_settings("train.a", &p.train["a"], &TRAIN_PATH_KEYS).unwrap();
        assert!(settings.no_positions);
        assert_eq!(p.eval_data(&p.train["a"]).unwrap(), EvalData::None);
        std::fs::write(
            &path,
            "name = \"x\"\nmodels = [\"m\"]\n[train.a]\nout = \"y\"\n",
        )
        .unwrap();
        assert!(
            Pipeline::load(&path)
                .unwrap_err()
                .to_string()
                .contains("sets `out`")
        );
    }

    #[test]
    fn runs_are_plain_names_their_keys_replace_extracts_and_sections_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let base = "name = \"x\"\nmodels = [\"m\"]\n[extract]\ndata = [\"a\"]\nmax-seq-len = 8\n";
        std::fs::write(&path, format!("{base}[runs.\"a/b\"]\nfull-length = true\n")).unwrap();
        let err = Pipeline::load(&path).unwrap_err().to_string();
        assert!(err.contains("a/b"), "{err}");
        std::fs::write(&path, format!("{base}[runs.p]\nmodel = \"y\"\n")).unwrap();
        let err = Pipeline::load(&path).unwrap_err().to_string();
        assert!(err.contains("sets `model`"), "{err}");
        std::fs::write(
            &path,
            format!("{base}[runs.p]\nmax-seq-len = 16\n[analyze]\npositional-run = \"q\"\n"),
        )
        .unwrap();
        let err = Pipeline::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("positional-run") && err.contains("there are: p"),
            "{err}"
        );
        std::fs::write(
            &path,
            format!("{base}[runs.p]\nmax-seq-len = 16\n[analyze]\npositional-run = \"p\"\n"),
        )
        .unwrap();
        let p = Pipeline::load(&path).unwrap();
        let table = p.run_table("p");
        assert_eq!(table["max-seq-len"], toml::Value::Integer(16));
        assert_eq!(table["data"], p.extract["data"]);
        assert_eq!(p.section_run("positional-run"), Some("p"));
        assert_eq!(p.section_run("ngram-run"), None);
    }

    #[test]
    fn names_that_become_directories_cannot_leave_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        for (text, what) in [
            (
                "name = \"x\"\nmodels = [\"trained:x/../../../victim/model\"]\n[train.\"x/../../../victim/model\"]\n",
                "[train.x/../../../victim/model]",
            ),
            ("name = \"..\"\nmodels = [\"m\"]\n", "`name`"),
            ("name = \"\"\nmodels = [\"m\"]\n", "`name`"),
            (
                "name = \"x\"\nmodels = [\"m\"]\n[runs.\"..\"]\nfull-length = true\n",
                "[runs...]",
            ),
            (
                "name = \"x\"\nmodels = [\"m\"]\n[train.\".hidden\"]\n",
                "[train..hidden]",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
            assert!(
                err.contains(what) && err.contains("cannot name a directory"),
                "{text}: {err}"
            );
        }
        let p = parse(
            "name = \"x\"\nmodels = [\"a/..\", \".\", \"b/.hidden\", \"/\", \"x/report\", \"trained\"]",
        );
        assert_eq!(
            p.model_slugs(),
            [
                "_..",
                "_.",
                "_.hidden",
                "model",
                "report-model",
                "trained-model"
            ]
        );
        for slug in p.model_slugs() {
            check_path_name(&slug).unwrap();
        }
    }

    #[test]
    fn model_entries_are_parsed_once_into_their_kind() {
        let given = |spec: &str| ModelSource::Given(spec.to_string());
        let trained = |name: &str| ModelSource::Trained(name.to_string());
        for (spec, series, source) in [
            ("data/model", false, given("data/model")),
            (
                "facebook/opt-125m@main",
                false,
                given("facebook/opt-125m@main"),
            ),
            ("trained:nopos", false, trained("nopos")),
            ("series:data/model", true, given("data/model")),
            ("series:trained:a", true, trained("a")),
            (
                "series:org/m@step-1,step-2",
                true,
                given("org/m@step-1,step-2"),
            ),
        ] {
            let entry = ModelEntry::parse(spec).unwrap();
            assert_eq!((entry.series, &entry.source), (series, &source), "{spec}");
            assert_eq!(entry.spec, spec);
        }
        for empty in ["", "series:", "trained:", "series:trained: "] {
            let e = ModelEntry::parse(empty).unwrap_err().to_string();
            assert!(e.contains("names no model"), "{empty}: {e}");
        }
        let base = Path::new("/repo/pipelines");
        let out = Path::new("/o");
        let entry = ModelEntry::parse("series:trained:a").unwrap();
        assert_eq!(entry.location(out, base), "/o/trained/a");
        assert_eq!(
            ModelEntry::parse("opt-125m").unwrap().location(out, base),
            "opt-125m"
        );
        let p = parse("name = \"x\"\nmodels = [\"series:org/m@step-1\", \"series:trained:a\"]");
        assert_eq!(p.model_slugs(), ["m", "trained_a"]);
    }

    #[test]
    fn duplicate_slugs_are_numbered() {
        let p = parse("name = \"x\"\nmodels = [\"a/m\", \"b/m\"]");
        assert_eq!(p.model_slugs(), ["m", "m-2"]);
    }

    #[test]
    fn reserved_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "name = \"x\"\nmodels = [\"m\"]\n[extract]\nout = \"y\"\n",
        )
        .unwrap();
        let err = Pipeline::load(&path).unwrap_err().to_string();
        assert!(err.contains("sets `out`"), "{err}");
        std::fs::write(&path, "name = \"x\"\nmodel = [\"m\"]\n").unwrap();
        let err = format!("{:#}", Pipeline::load(&path).unwrap_err());
        assert!(err.contains("unknown field"), "{err}");
        std::fs::write(&path, "name = \"x\"\nmodels = []\n").unwrap();
        assert!(
            Pipeline::load(&path)
                .unwrap_err()
                .to_string()
                .contains("names no model")
        );
    }

    #[test]
    fn a_pythia_preset_series_names_its_log_spaced_hub_revisions() {
        let series = hub_revision_series("pythia-160m@log").unwrap().unwrap();
        assert_eq!(series.len(), 20);
        assert_eq!(series[0], ("EleutherAI/pythia-160m@step0".to_string(), 0));
        assert_eq!(
            series[19],
            ("EleutherAI/pythia-160m@step143000".to_string(), 143_000)
        );
        assert!(series.windows(2).all(|w| w[0].1 < w[1].1));
        let err = hub_revision_series("gpt2@log").unwrap_err().to_string();
        assert!(
            err.contains("gpt2") && err.contains("no training checkpoints"),
            "{err}"
        );
        let chosen = hub_revision_series("pythia-70m-deduped@step2000,step1000")
            .unwrap()
            .unwrap();
        assert_eq!(
            chosen,
            [
                ("EleutherAI/pythia-70m-deduped@step1000".to_string(), 1000),
                ("EleutherAI/pythia-70m-deduped@step2000".to_string(), 2000),
            ]
        );
    }

    #[test]
    fn olmo_revision_names_resolve_to_their_step() {
        let series = hub_revision_series(
            "allenai/OLMo-2-0425-1B@stage1-step2000-tokens5B,stage1-step1000-tokens3B",
        )
        .unwrap()
        .unwrap();
        let steps: Vec<u64> = series.iter().map(|(_, step)| *step).collect();
        assert_eq!(steps, [1000, 2000]);
    }
}
