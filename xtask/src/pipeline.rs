//! Pipelines: `pipelines/*.toml` files that name a whole experiment (models, corpora, sequence
//! settings, flags), turned into the flags of each stage.
//!
//! ```toml
//! name = "default"                     # output directory name under out/
//! models = ["data/model", "trained:nopos"]  # presets, hub ids, directories, trained models
//! [train.nopos]                        # a model this pipeline trains (`train` flags)
//! no-positions = true
//! [extract]                            # every key is an `extract` flag, without its dashes
//! data = ["data/corpus/census.jsonl"]  # arrays repeat the flag
//! max-seq-len = 256
//! full-length = true                   # true gives the bare flag; false leaves it out
//! [analyze]                            # `analyze` flags
//! [report]                             # `report` flags
//! ```
//!
//! Relative paths are taken from the repository root, so a pipeline runs the same from any
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
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
    /// `analyze` flags (`--run`, `--out` and, for local models, `--model` are set per model).
    #[serde(default)]
    pub analyze: BTreeMap<String, toml::Value>,
    /// `report` flags (`--analysis` and `--out` are set).
    #[serde(default)]
    pub report: BTreeMap<String, toml::Value>,
}

/// How `models` refers to a model the pipeline trains: `trained:<name>`.
pub const TRAINED_PREFIX: &str = "trained:";

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
        let pipeline: Self = toml::from_str(&text)
            .with_context(|| format!("the pipeline {} is not valid", path.display()))?;
        if pipeline.models.is_empty() {
            bail!("the pipeline {} names no model", path.display());
        }
        if pipeline.name.is_empty() || pipeline.name.contains(['/', '\\']) {
            bail!(
                "the pipeline {} needs a plain `name` (it names the output directory)",
                path.display()
            );
        }
        let stages = [
            ("extract", &pipeline.extract),
            ("analyze", &pipeline.analyze),
            ("report", &pipeline.report),
        ];
        let trains = pipeline.train.values().map(|t| ("train", t));
        for (stage, table) in stages.into_iter().chain(trains) {
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
        for model in &pipeline.models {
            if let Some(name) = model.strip_prefix(TRAINED_PREFIX)
                && !pipeline.train.contains_key(name)
            {
                bail!(
                    "{}: model `{model}` names no [train.{name}] table",
                    path.display()
                );
            }
        }
        Ok(pipeline)
    }

    /// A short, unique, file-system-safe name for each model: the last component of its path or
    /// hub id.
    pub fn model_slugs(&self) -> Vec<String> {
        let mut slugs: Vec<String> = Vec::new();
        for model in &self.models {
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

/// The command-line flags a stage table stands for, in key order.
pub fn table_flags(table: &BTreeMap<String, toml::Value>, root: &Path) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    for (key, value) in table {
        let flag = format!("--{key}");
        match value {
            toml::Value::Boolean(true) => flags.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    flags.push(flag.clone());
                    flags.push(scalar(key, item, root)?);
                }
            }
            other => {
                flags.push(flag);
                flags.push(scalar(key, other, root)?);
            }
        }
    }
    Ok(flags)
}

fn scalar(key: &str, value: &toml::Value, root: &Path) -> Result<String> {
    Ok(match value {
        toml::Value::String(s) if key == "eval-data" && s == "none" => s.clone(),
        toml::Value::String(s) if key == "data" || key == "eval-data" => rooted_source(s, root),
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => bail!("`{key}` = {other}: expected a string, number, boolean or an array of them"),
    })
}

/// A corpus source spec (`PATH[,option=...]`) with a relative PATH taken from `root`.
fn rooted_source(spec: &str, root: &Path) -> String {
    let (path, options) = spec
        .split_once(',')
        .map_or((spec, None), |(p, o)| (p, Some(o)));
    let path = rooted(path, root).display().to_string();
    match options {
        Some(options) => format!("{path},{options}"),
        None => path,
    }
}

/// A relative path taken from `root`; absolute paths are kept.
pub fn rooted(path: &str, root: &Path) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

/// A model spec with a relative directory taken from `root`; presets and hub ids are kept.
pub fn rooted_model(spec: &str, root: &Path) -> String {
    let candidate = rooted(spec, root);
    if candidate.is_dir() {
        candidate.display().to_string()
    } else {
        spec.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Pipeline {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn tables_become_flags() {
        let p = parse(
            r#"
            name = "x"
            models = ["data/model", "facebook/opt-125m"]
            [extract]
            data = ["data/a.jsonl,domain=wiki", "/abs/b.txt"]
            max-seq-len = 256
            full-length = true
            stream-layers = false
            [analyze]
            mi-threshold = 0.05
            "#,
        );
        let root = Path::new("/repo");
        assert_eq!(
            table_flags(&p.extract, root).unwrap(),
            [
                "--data",
                "/repo/data/a.jsonl,domain=wiki",
                "--data",
                "/abs/b.txt",
                "--full-length",
                "--max-seq-len",
                "256"
            ]
        );
        assert_eq!(
            table_flags(&p.analyze, root).unwrap(),
            ["--mi-threshold", "0.05"]
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
        assert_eq!(
            table_flags(&p.train["a"], dir.path()).unwrap(),
            ["--no-positions"]
        );
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
}
