//! `neuron-census data`: a recipe's data made from nothing. Its hub datasets are downloaded
//! into the Hugging Face cache and split by domain, read as streams, into one JSONL file per
//! domain (`{"text": …}` a line) in `--out`, beside `data.json`, which records the datasets'
//! commits and files and each written file's size and checksum. A second call with every file
//! as recorded does nothing; a file deleted or changed since is made again from the cache. Only
//! the files the recipe writes are touched: a file of the same name that `data` did not write is
//! refused, never replaced, and the files the recipe names as missing (Reddit) are the user's.

pub mod recipe;
pub mod split;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use census_format::checksum::FileDigest;
use census_format::progress::Progress;
use census_model::HubOptions;
use serde::{Deserialize, Serialize};

use recipe::{DatasetSource, Recipe};
use split::{DomainWriters, split_file};

/// The manifest `data` writes beside the files.
pub const DATA_MANIFEST: &str = "data.json";
/// The manifest's `kind`.
const DATA_KIND: &str = "neuron-census data";
/// The revision of the splitting: a change to what a recipe writes makes its files again.
const DATA_REVISION: u32 = 1;

/// `neuron-census data`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// The recipe: `paper` (the Pile's validation and test parts by domain, and CodeParrot).
    #[arg(long, default_value = "paper")]
    pub recipe: String,
    /// The directory of the domain files.
    #[arg(long)]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl DataArgs {
    /// Makes the recipe's data in `--out`.
    pub fn run(&self) -> Result<DataSummary> {
        let recipe = recipe::find(&self.recipe).with_context(|| {
            let names: Vec<&str> = recipe::RECIPES.iter().map(|r| r.name).collect();
            format!(
                "--recipe {}: no such recipe; there is {}",
                self.recipe,
                names.join(", ")
            )
        })?;
        prepare(
            recipe,
            &self.out,
            &HubOptions::from_env(!self.quiet),
            !self.quiet,
        )
    }
}

/// What `data` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSummary {
    /// The files written now (their stems); empty when every file was up to date.
    pub written: Vec<String>,
    /// The files the recipe needs that are not there (their stems): no hub source gives them.
    pub missing: Vec<String>,
}

/// One dataset as `data.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DatasetRecord {
    repo: String,
    /// The commit its files were downloaded at (none: taken from the cache offline).
    commit: Option<String>,
    files: Vec<String>,
}

/// One written file as `data.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OutputRecord {
    file: String,
    documents: u64,
    digest: FileDigest,
}

/// `data.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DataManifest {
    kind: String,
    recipe: String,
    revision: u32,
    datasets: Vec<DatasetRecord>,
    outputs: Vec<OutputRecord>,
}

impl DataManifest {
    fn load(out: &Path) -> Result<Option<Self>> {
        let path = out.join(DATA_MANIFEST);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let manifest: Self = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a data manifest of neuron-census", path.display()))?;
        if manifest.kind != DATA_KIND {
            bail!("{}: not a data manifest of neuron-census", path.display());
        }
        Ok(Some(manifest))
    }

    fn output(&self, file: &str) -> Option<&OutputRecord> {
        self.outputs.iter().find(|o| o.file == file)
    }

    /// Whether `file` in `out` is as this manifest recorded it.
    fn holds(&self, out: &Path, file: &str) -> bool {
        self.output(file).is_some_and(|o| {
            FileDigest::of_file(&out.join(file)).is_ok_and(|digest| digest == o.digest)
        })
    }
}

fn file_name(stem: &str) -> String {
    format!("{stem}.jsonl")
}

/// Makes `recipe`'s data in `out`: each dataset whose files are not all as `data.json` records
/// them is downloaded (or taken from the cache) and split again.
pub fn prepare(
    recipe: &Recipe,
    out: &Path,
    hub: &HubOptions,
    progress: bool,
) -> Result<DataSummary> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let previous =
        DataManifest::load(out)?.filter(|m| m.recipe == recipe.name && m.revision == DATA_REVISION);
    // Validate first: a file at a name the recipe writes that `data` did not write is refused
    // before anything is downloaded or written.
    for stem in recipe.sources.iter().flat_map(DatasetSource::stems) {
        let name = file_name(stem);
        let ours = previous.as_ref().is_some_and(|m| m.output(&name).is_some());
        if out.join(&name).exists() && !ours {
            bail!(
                "{}: exists, and `neuron-census data` did not write it ({} does not list it); \
                 move it away, or point --out elsewhere: it is never replaced",
                out.join(&name).display(),
                DATA_MANIFEST
            );
        }
    }
    let mut manifest = previous.clone().unwrap_or_else(|| DataManifest {
        kind: DATA_KIND.to_string(),
        recipe: recipe.name.to_string(),
        revision: DATA_REVISION,
        datasets: Vec::new(),
        outputs: Vec::new(),
    });
    let mut written = Vec::new();
    for source in recipe.sources {
        let names: Vec<String> = source.stems().into_iter().map(file_name).collect();
        let recorded = manifest.datasets.iter().any(|d| d.repo == source.repo);
        if recorded && names.iter().all(|n| manifest.holds(out, n)) {
            tracing::info!(dataset = source.repo, "up to date");
            continue;
        }
        let known: Vec<String> = (manifest.datasets.iter())
            .filter(|d| d.repo == source.repo)
            .flat_map(|d| d.files.clone())
            .collect();
        let files = census_model::hub_dataset::dataset_files(
            source.repo,
            &|listed| source.files.choose(listed),
            &known,
            hub,
        )?;
        let outputs = split_dataset(source, &files.files, out, progress)?;
        // Recorded as soon as they are in place, so a later failure leaves them ours.
        manifest.datasets.retain(|d| d.repo != source.repo);
        manifest.outputs.retain(|o| !names.contains(&o.file));
        manifest.datasets.push(DatasetRecord {
            repo: source.repo.to_string(),
            commit: files.commit,
            files: files.files.iter().map(|(n, _)| n.clone()).collect(),
        });
        for (record, stem) in outputs {
            tracing::info!(
                file = %out.join(&record.file).display(),
                documents = record.documents,
                "domain file written"
            );
            written.push(stem.to_string());
            manifest.outputs.push(record);
        }
        let path = out.join(DATA_MANIFEST);
        census_format::atomic::write_atomic(&path, serde_json::to_string_pretty(&manifest)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let missing: Vec<String> = (recipe.missing.iter())
        .filter(|m| !out.join(file_name(m.stem)).exists())
        .map(|m| {
            tracing::warn!(
                file = %out.join(file_name(m.stem)).display(),
                "not found: no hub dataset gives it, so the pipeline runs without it; it is {}",
                m.how
            );
            m.stem.to_string()
        })
        .collect();
    Ok(DataSummary { written, missing })
}

/// Splits a dataset's `files` into its domain files in `out`, each put in place only when all
/// are written; on failure the temporaries are removed and earlier files kept.
fn split_dataset(
    source: &DatasetSource,
    files: &[(String, PathBuf)],
    out: &Path,
    progress: bool,
) -> Result<Vec<(OutputRecord, &'static str)>> {
    let bytes: u64 = (files.iter())
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let bar = if progress {
        let span = tracing::info_span!(
            "split",
            dataset = source.repo,
            indicatif.pb_show = tracing::field::Empty
        );
        Progress::new(span, "splitting", "bytes", bytes)
    } else {
        Progress::hidden()
    };
    let _shown = bar.span().enter();
    let mut writers = DomainWriters::create(out, source)?;
    for (name, path) in files {
        if let Err(e) = split_file(path, name, source, &mut writers, &bar) {
            writers.discard();
            return Err(e);
        }
    }
    let finished = writers.finish()?;
    finished
        .into_iter()
        .map(|w| {
            let name = file_name(w.stem);
            std::fs::rename(&w.temp, out.join(&name))
                .with_context(|| format!("cannot put {} in place", out.join(&name).display()))?;
            Ok((
                OutputRecord {
                    file: name,
                    documents: w.documents,
                    digest: w.digest,
                },
                w.stem,
            ))
        })
        .collect()
}
