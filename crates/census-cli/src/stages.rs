//! Stage caching: a stage is skipped when its output is complete and its request and inputs
//! are what they were when that output was made.
//!
//! Each stage's fingerprint is a SHA-256 over its typed request (the stage's arguments, as
//! JSON) and its inputs: the size and modification time of every file of a local model or
//! corpus, the bytes of the manifests of the stage before, and the revision of what the stage
//! writes ([`StageKind::revision`]). Fingerprints are kept in `<out>/stages.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The fingerprints of a pipeline's finished stages, by stage key (`extract/<model>`, …).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StageLedger {
    /// Stage key → what that stage's output was made from.
    pub stages: BTreeMap<String, StageStamp>,
    #[serde(skip)]
    path: PathBuf,
}

/// What one stage's output was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStamp {
    /// SHA-256 of the request and input descriptions below.
    pub fingerprint: String,
    /// The stage's request: its arguments, as JSON (null in a ledger of an earlier version,
    /// which recorded flags: its stages are not current, and run again).
    #[serde(default)]
    pub request: serde_json::Value,
    /// Each input and how it was identified (`size:mtime` of a file, digest of a manifest).
    pub inputs: BTreeMap<String, String>,
}

/// The kinds of stage a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Trains a model (`train`).
    Train,
    /// Extracts a run (`extract`).
    Extract,
    /// Analyses a model's runs (`analyze`).
    Analyze,
    /// Merges an analysis's layer ranges (`merge-analyses`).
    Merge,
    /// Renders the report (`report`).
    Report,
}

impl StageKind {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Extract => "extract",
            Self::Analyze => "analyze",
            Self::Merge => "merge-analyses",
            Self::Report => "report",
        }
    }

    /// The revision of what the stage writes, as the format's owner versions it: raising it
    /// redoes the stage in pipelines run by an earlier version.
    pub fn revision(self) -> u32 {
        match self {
            Self::Train => census_train::model_dir::TRAINED_MODEL_REVISION,
            Self::Extract => census_format::run::manifest::SCHEMA_VERSION,
            Self::Analyze | Self::Merge => {
                census_format::analysis::manifest::ANALYSIS_SCHEMA_VERSION
            }
            Self::Report => census_report::REPORT_REVISION,
        }
    }
}

impl StageStamp {
    /// A stamp over `request` and `inputs` of a stage of `kind`, its output revision included.
    pub fn new(
        kind: StageKind,
        request: &impl Serialize,
        mut inputs: BTreeMap<String, String>,
    ) -> Result<Self> {
        let request = serde_json::to_value(request).context("recording a stage's request")?;
        inputs.insert(
            "output revision".to_string(),
            format!("{} {}", kind.name(), kind.revision()),
        );
        let mut hasher = Sha256::new();
        hasher.update(request.to_string().as_bytes());
        hasher.update([0]);
        for (name, id) in &inputs {
            hasher.update(name.as_bytes());
            hasher.update([1]);
            hasher.update(id.as_bytes());
            hasher.update([0]);
        }
        Ok(Self {
            fingerprint: hex(&hasher.finalize()),
            request,
            inputs,
        })
    }
}

impl StageLedger {
    /// Reads `<dir>/stages.json`, or starts an empty ledger there.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("stages.json");
        let mut ledger = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is not a stage ledger", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        ledger.path = path;
        Ok(ledger)
    }

    /// Whether `key` was last made from exactly `stamp`.
    pub fn is_current(&self, key: &str, stamp: &StageStamp) -> bool {
        self.stages.get(key).map(|s| &s.fingerprint) == Some(&stamp.fingerprint)
    }

    /// Forgets `key` (before its output is redone, so an interrupted stage is never taken as
    /// done).
    pub fn forget(&mut self, key: &str) -> Result<()> {
        if self.stages.remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// Records that `key` was made from `stamp`.
    pub fn record(&mut self, key: &str, stamp: StageStamp) -> Result<()> {
        self.stages.insert(key.to_string(), stamp);
        self.save()
    }

    fn save(&self) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        census_format::write_atomic(&self.path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing the stage ledger {}", self.path.display()))
    }
}

/// Identifies a file or every file under a directory by size and modification time (cheap even
/// for a 130 GB checkpoint), keyed by path. A path that does not exist is recorded as missing.
pub fn describe_files(path: &Path, into: &mut BTreeMap<String, String>) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            into.insert(path.display().to_string(), "missing".to_string());
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("listing {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("listing {}", path.display()))?;
        entries.sort();
        for entry in entries {
            describe_files(&entry, into)?;
        }
        return Ok(());
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    into.insert(
        path.display().to_string(),
        format!("{}:{modified}", meta.len()),
    );
    Ok(())
}

/// Identifies a file by the SHA-256 of its bytes (for the small manifests stages leave).
pub fn describe_content(path: &Path, into: &mut BTreeMap<String, String>) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    into.insert(path.display().to_string(), hex(&Sha256::digest(&bytes)));
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_change_with_the_request_inputs_and_the_output_revision_only() {
        let inputs = BTreeMap::from([("a".to_string(), "1:2".to_string())]);
        let request = serde_json::json!({"x": 1, "layers": "all"});
        let stamp = |kind, request: &serde_json::Value, inputs: &BTreeMap<String, String>| {
            StageStamp::new(kind, request, inputs.clone()).unwrap()
        };
        let first = stamp(StageKind::Analyze, &request, &inputs);
        assert_eq!(first, stamp(StageKind::Analyze, &request, &inputs));
        let other_request = serde_json::json!({"x": 2, "layers": "all"});
        assert_ne!(
            first.fingerprint,
            stamp(StageKind::Analyze, &other_request, &inputs).fingerprint
        );
        let other_inputs = BTreeMap::from([("a".to_string(), "1:3".to_string())]);
        assert_ne!(
            first.fingerprint,
            stamp(StageKind::Analyze, &request, &other_inputs).fingerprint
        );
        // Another kind of stage writes another revision.
        assert_ne!(
            first.fingerprint,
            stamp(StageKind::Train, &request, &inputs).fingerprint
        );
        assert!(first.inputs["output revision"].starts_with("analyze "));
        assert_eq!(first.request, request);
    }

    #[test]
    fn the_ledger_round_trips_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = StageStamp::new(StageKind::Extract, &["--a"], BTreeMap::new()).unwrap();
        let mut ledger = StageLedger::open(dir.path()).unwrap();
        assert!(!ledger.is_current("extract/m", &stamp));
        ledger.record("extract/m", stamp.clone()).unwrap();
        let mut reopened = StageLedger::open(dir.path()).unwrap();
        assert!(reopened.is_current("extract/m", &stamp));
        reopened.forget("extract/m").unwrap();
        assert!(
            !StageLedger::open(dir.path())
                .unwrap()
                .is_current("extract/m", &stamp)
        );
    }

    #[test]
    fn a_ledger_of_an_earlier_version_opens_with_no_stage_current() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("stages.json"),
            r#"{"stages": {"report": {"fingerprint": "ab", "flags": ["--out", "r"], "inputs": {}}}}"#,
        )
        .unwrap();
        let ledger = StageLedger::open(dir.path()).unwrap();
        let stamp = StageStamp::new(StageKind::Report, &["--out", "r"], BTreeMap::new()).unwrap();
        assert!(!ledger.is_current("report", &stamp));
        assert!(ledger.stages["report"].request.is_null());
    }

    #[test]
    fn file_descriptions_follow_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "one").unwrap();
        let mut first = BTreeMap::new();
        describe_files(dir.path(), &mut first).unwrap();
        std::fs::write(&file, "three").unwrap();
        let mut second = BTreeMap::new();
        describe_files(dir.path(), &mut second).unwrap();
        assert_ne!(first, second);
        let mut missing = BTreeMap::new();
        describe_files(&dir.path().join("nope"), &mut missing).unwrap();
        assert_eq!(missing.values().next().unwrap(), "missing");
    }
}
