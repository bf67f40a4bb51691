//! `manifest.json`: what a run is (its configuration), what it has committed, and whether it is
//! complete. Rewritten atomically (temporary file, then rename) after every committed part.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::FileDigest;
use crate::model::{FloatType, ModelConfig};
use crate::run::counts::RecordMode;
use crate::run::sequence_table::SequenceTable;
use crate::run::{Engine, FfnPath};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corpus::CorpusSource;
use crate::error::{FormatError, Result};
use crate::run::sequencing::{CorpusCounts, SequenceOptions, SequenceStart, Shard};

/// Version of the run-directory layout described in `docs/SCHEMA.md`.
pub const SCHEMA_VERSION: u32 = 1;
/// File name of the manifest in a run directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Bytes hashed at each end of a weight file for its fingerprint.
const FINGERPRINT_SPAN: u64 = 1 << 20;

/// Identity of one weight or tokenizer file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFingerprint {
    /// File name within the model directory.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the size, the first MiB and the last MiB (hex). Weight files run to hundreds
    /// of gigabytes, so they are fingerprinted rather than hashed whole.
    pub sha256_head_tail: String,
}

impl FileFingerprint {
    /// Fingerprints `path`.
    pub fn of(path: &Path) -> Result<Self> {
        use std::io::{Seek, SeekFrom};
        let mut file =
            std::fs::File::open(path).map_err(|e| FormatError::io("cannot read", path, e))?;
        let bytes = file
            .metadata()
            .map_err(|e| FormatError::io("cannot read", path, e))?
            .len();
        let mut hasher = Sha256::new();
        hasher.update(bytes.to_le_bytes());
        let mut buf = vec![0u8; FINGERPRINT_SPAN.min(bytes) as usize];
        file.read_exact(&mut buf)
            .map_err(|e| FormatError::io("cannot read", path, e))?;
        hasher.update(&buf);
        if bytes > FINGERPRINT_SPAN {
            let tail = FINGERPRINT_SPAN.min(bytes - FINGERPRINT_SPAN);
            file.seek(SeekFrom::End(-(tail as i64)))
                .map_err(|e| FormatError::io("cannot read", path, e))?;
            let mut buf = vec![0u8; tail as usize];
            file.read_exact(&mut buf)
                .map_err(|e| FormatError::io("cannot read", path, e))?;
            hasher.update(&buf);
        }
        Ok(Self {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes,
            sha256_head_tail: hex(&hasher.finalize()),
        })
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The model a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescription {
    /// Hub id or local path, as given.
    pub source: String,
    /// Its configuration.
    pub config: ModelConfig,
    /// Its weight files.
    pub weight_files: Vec<FileFingerprint>,
    /// Its tokenizer files (empty when every source is pre-tokenized and none was found).
    pub tokenizer_files: Vec<FileFingerprint>,
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

/// Everything that determines a run's output. Resuming requires an identical configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The model.
    pub model: ModelDescription,
    /// Compute dtype (`F32`, `F16`, `BF16` in the file).
    pub dtype: FloatType,
    /// Where the layers ran: `dense` (on the backend device) or `host` (the host engine, f32,
    /// fc2 over the fired neurons only). Both give the same fired sets up to rounding near zero.
    pub ffn: FfnPath,
    /// Corpus sources in reading order.
    pub corpus: Vec<CorpusSource>,
    /// How documents became sequences.
    pub sequences: SequenceOptions,
    /// Recorded layers, `start..end` (0-based, end exclusive).
    pub layers: [usize; 2],
    /// This machine's share of the corpus.
    pub shard: Shard,
    /// Tokens per part (the unit of commit and resume).
    pub part_tokens: u64,
    /// What is recorded (`--record`); absent in the manifest for `shards`, so the run ids of
    /// shards runs are those of runs written before the mode existed.
    #[serde(default, skip_serializing_if = "RecordMode::is_shards")]
    pub record: RecordMode,
    /// What every sequence starts with; absent in the manifest for a BOS, so the run ids of
    /// runs with a BOS are those of runs written before other families existed.
    #[serde(default, skip_serializing_if = "SequenceStart::is_bos")]
    pub sequence_start: SequenceStart,
    /// A neuron fires when its activation input exceeds this (`--fire-threshold`); absent in
    /// the manifest for 0, the paper's rule.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fire_threshold: f32,
}

/// One committed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedPart {
    /// Part number (`part-NNNNN.parquet`).
    pub index: u32,
    /// First sequence id in the part.
    pub first_seq: u64,
    /// Last sequence id in the part.
    pub last_seq: u64,
    /// Sequences in the part.
    pub sequences: u64,
    /// Rows (tokens) in each of the part's files.
    pub rows: u64,
    /// Bytes of all the part's files together.
    pub bytes: u64,
    /// Size and CRC-32 of each of the part's files, by path within the run directory; the
    /// analysis refuses a file that no longer matches (empty in runs written before checksums
    /// were recorded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileDigest>,
    /// The device that computed the part (`cpu:1`, `cuda:3`), in a run spread over several
    /// (`--devices`); absent otherwise, the run's `device` computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl CommittedPart {
    /// The recorded digest of the part's file at `path` (relative to the run directory).
    pub fn digest(&self, relative: &Path) -> Option<FileDigest> {
        self.files
            .get(&relative.to_string_lossy().replace('\\', "/"))
            .copied()
    }
}

/// The manifest of a run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The program that wrote the run.
    pub producer: String,
    /// Hash of the configuration; also written into every Parquet footer.
    pub run_id: String,
    /// The configuration.
    pub config: RunConfig,
    /// Device the activations were computed on.
    pub device: String,
    /// The engine the run started with (`host`, `host-streamed`, `dense`, `dense-streamed`,
    /// `dense-streamed-offload`); every engine records the same fires, so a run may resume on
    /// another. Absent in runs written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// Domain names, in dictionary order.
    pub domains: Vec<String>,
    /// Corpus and shard counts.
    pub counts: CorpusCounts,
    /// SHA-256 over this shard's sequences (ids, documents, tokens): a changed corpus file
    /// under the same name is detected on resume.
    pub corpus_digest: String,
    /// The sequence table a resume reads instead of tokenising again (absent in runs written
    /// before it existed, which tokenise on every resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_table: Option<SequenceTable>,
    /// Parts committed so far, by index.
    pub parts: Vec<CommittedPart>,
    /// `true` only once every part is committed.
    pub complete: bool,
}

impl RunConfig {
    /// Short stable id of this configuration.
    pub fn run_id(&self) -> String {
        let json = serde_json::to_vec(self).expect("configurations serialize");
        hex(&Sha256::digest(&json))[..16].to_string()
    }

    /// The id every shard of one sharded run shares: that of the configuration with the shard
    /// index left aside.
    pub fn sharded_run_id(&self) -> String {
        let mut config = self.clone();
        config.shard.index = 0;
        config.run_id()
    }
}

impl Manifest {
    /// Reads the manifest of run directory `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let value: serde_json::Value = crate::json_file::read_json(&path)?;
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(SCHEMA_VERSION)) {
            return Err(FormatError::Manifest {
                path,
                reason: format!("schema version {version:?}, this program writes {SCHEMA_VERSION}"),
            });
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|source| FormatError::Json { path, source })
    }

    /// Writes the manifest atomically into `dir`.
    pub fn store(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("manifests serialize");
        crate::write_atomic(&dir.join(MANIFEST_FILE), json)
    }

    /// Tokens already committed.
    pub fn committed_tokens(&self) -> u64 {
        self.parts.iter().map(|p| p.rows).sum()
    }
}

/// The first setting in which `old` and `new` differ, as a dotted path with both values.
pub fn first_difference(old: &RunConfig, new: &RunConfig) -> Option<String> {
    let a = serde_json::to_value(old).expect("configurations serialize");
    let b = serde_json::to_value(new).expect("configurations serialize");
    diff_values("", &a, &b)
}

fn diff_values(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &child,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| diff_values(&format!("{path}[{i}]"), p, q)),
        _ if a == b => None,
        _ => Some(format!("{path}: was {a}, now {b}")),
    }
}

/// Paths of a run directory that must not be silently replaced: an existing directory without a
/// manifest but with files in it is refused.
pub fn check_foreign_directory(dir: &Path) -> Result<()> {
    const KIND: crate::OutputKind = crate::OutputKind {
        directory: "a run directory",
        ours: "run of neuron-census",
    };
    crate::check_replaceable(dir, KIND, |d| {
        if d.join(MANIFEST_FILE).exists() {
            crate::Ownership::Ours
        } else {
            crate::Ownership::NotOurs
        }
    })
    .map_err(|reason| FormatError::Refused {
        path: dir.to_path_buf(),
        reason,
    })
}
