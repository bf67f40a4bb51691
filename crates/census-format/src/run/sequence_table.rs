//! `sequences.parquet`: a run's sequences (this shard's), written when the run starts, so that a
//! resume reads them instead of reading and tokenising the whole corpus again. The manifest
//! records the table's size and checksum and the SHA-256 of every corpus file it was cut from:
//! a resume reuses the table only while those files are byte for byte the same, and otherwise
//! tokenises again and compares the sequences' digest, as a run without the table does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Int32Type, UInt32Type, UInt64Type};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::FileDigest;
use crate::columns::{extend_integers, string_column};
use crate::corpus::CorpusSource;
use crate::error::{FormatError, Result};

/// The table's file name in the run directory.
pub const SEQUENCES_FILE: &str = "sequences.parquet";

/// One model input: `</s>` followed by consecutive tokens of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Global sequence id (the same on every shard).
    pub seq: u64,
    /// Global document id.
    pub doc: u64,
    /// Index into the run's domain names.
    pub domain: u32,
    /// Token ids; position 0 is `</s>`.
    pub tokens: Vec<u32>,
}

/// A corpus file and the SHA-256 of its whole content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusFile {
    /// The path, as the source names it (or found under its directory).
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

impl CorpusFile {
    /// Hashes `path` whole.
    pub fn of(path: &Path) -> Result<Self> {
        use std::io::Read;
        let mut file =
            std::fs::File::open(path).map_err(|e| FormatError::io("cannot read", path, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| FormatError::io("cannot read", path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            sha256: crate::run::manifest::hex(&hasher.finalize()),
        })
    }
}

/// Every file `sources` read, hashed, in reading order.
pub fn corpus_files(sources: &[CorpusSource]) -> Result<Vec<CorpusFile>> {
    let mut files = Vec::new();
    for source in sources {
        for path in crate::corpus::source_files(source)? {
            files.push(CorpusFile::of(&path)?);
        }
    }
    Ok(files)
}

/// What a run's manifest records of its sequence table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceTable {
    /// The table's size and CRC-32.
    pub digest: FileDigest,
    /// The corpus files the sequences were cut from.
    pub corpus_files: Vec<CorpusFile>,
}

/// Writes `sequences` (domain indices into `domains`) to `path` with footer `metadata`,
/// through a temporary file flushed and renamed into place; returns the file's digest.
pub fn write_sequences(
    path: &Path,
    sequences: &[Sequence],
    domains: &[String],
    metadata: &[(String, String)],
) -> Result<FileDigest> {
    let arrow = |source| FormatError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let mut offsets = Vec::with_capacity(sequences.len() + 1);
    offsets.push(0i64);
    let total: usize = sequences.iter().map(|s| s.tokens.len()).sum();
    let mut tokens = Vec::with_capacity(total);
    for s in sequences {
        tokens.extend_from_slice(&s.tokens);
        offsets.push(tokens.len() as i64);
    }
    let domain = DictionaryArray::<Int32Type>::try_new(
        sequences
            .iter()
            .map(|s| s.domain as i32)
            .collect::<Vec<_>>()
            .into(),
        Arc::new(StringArray::from_iter_values(domains.iter())),
    )
    .map_err(arrow)?;
    let token_lists = arrow::array::LargeListArray::try_new(
        Arc::new(Field::new("item", DataType::UInt32, false)),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(UInt32Array::from(tokens)),
        None,
    )
    .map_err(arrow)?;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "seq",
            Arc::new(UInt64Array::from_iter_values(
                sequences.iter().map(|s| s.seq),
            )),
        ),
        (
            "doc",
            Arc::new(UInt64Array::from_iter_values(
                sequences.iter().map(|s| s.doc),
            )),
        ),
        ("domain", Arc::new(domain)),
        ("tokens", Arc::new(token_lists)),
    ];
    let batch = RecordBatch::try_from_iter(columns).map_err(arrow)?;
    let (temp, digest) = crate::run::tables::write_temp_parquet(path, &batch, metadata)?;
    std::fs::rename(&temp, path).map_err(|e| FormatError::io("cannot write", path, e))?;
    Ok(digest)
}

/// Reads the sequences at `path` back, checked against `digest` (size and CRC-32), their domains
/// as indices into `domains`.
pub fn read_sequences(
    path: &Path,
    digest: &FileDigest,
    domains: &[String],
) -> Result<Vec<Sequence>> {
    let bad = |reason: String| FormatError::Parquet {
        path: path.to_path_buf(),
        reason,
    };
    let data = bytes::Bytes::from(
        std::fs::read(path).map_err(|e| FormatError::io("cannot read", path, e))?,
    );
    if let Some(reason) = digest.mismatch(&data) {
        return Err(bad(reason));
    }
    let builder = crate::parquet_file::open_bytes(path, data)?;
    let mut sequences = Vec::new();
    for batch in crate::parquet_file::read_all(path, builder)? {
        let (mut seq, mut doc) = (Vec::new(), Vec::new());
        extend_integers::<UInt64Type>(&mut seq, &batch, "seq", path)?;
        extend_integers::<UInt64Type>(&mut doc, &batch, "doc", path)?;
        let domain = string_column(&batch, "domain", path)?;
        let domain = domain.as_string::<i32>();
        let column = batch
            .column_by_name("tokens")
            .ok_or_else(|| bad("column 'tokens' is missing".to_string()))?;
        let wanted = DataType::LargeList(Arc::new(Field::new("item", DataType::UInt32, true)));
        let lists = arrow::compute::cast_with_options(
            column,
            &wanted,
            &arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            },
        )
        .map_err(|e| bad(format!("column 'tokens': {e}")))?;
        let lists = lists.as_list::<i64>();
        if lists.null_count() > 0 || lists.values().null_count() > 0 {
            return Err(bad("column 'tokens' holds nulls".to_string()));
        }
        let lists: Vec<ArrayRef> = (0..lists.len()).map(|i| lists.value(i)).collect();
        for (i, tokens) in lists.into_iter().enumerate() {
            let name = domain.value(i);
            let index = domains
                .iter()
                .position(|d| d == name)
                .ok_or_else(|| bad(format!("row {i}: domain '{name}' is not among the run's")))?;
            sequences.push(Sequence {
                seq: seq[i],
                doc: doc[i],
                domain: index as u32,
                tokens: tokens.as_primitive::<UInt32Type>().values().to_vec(),
            });
        }
    }
    Ok(sequences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_read_back_and_a_changed_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SEQUENCES_FILE);
        let domains = vec!["code".to_string(), "wiki".to_string()];
        let sequences = vec![
            Sequence {
                seq: 0,
                doc: 0,
                domain: 1,
                tokens: vec![2, 10, 11],
            },
            Sequence {
                seq: 3,
                doc: 2,
                domain: 0,
                tokens: vec![2, 50_000],
            },
        ];
        let digest = write_sequences(&path, &sequences, &domains, &[]).unwrap();
        assert_eq!(read_sequences(&path, &digest, &domains).unwrap(), sequences);
        let other = FileDigest {
            crc32: digest.crc32 ^ 1,
            ..digest
        };
        let e = read_sequences(&path, &other, &domains)
            .unwrap_err()
            .to_string();
        assert!(e.contains(SEQUENCES_FILE), "{e}");
        let e = read_sequences(&path, &digest, &domains[..1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("domain 'wiki'"), "{e}");
    }

    #[test]
    fn corpus_files_hash_the_whole_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"text\": \"a\"}\n").unwrap();
        let before = corpus_files(&[CorpusSource::new(&path)]).unwrap();
        assert_eq!(before[0].bytes, 14);
        std::fs::write(&path, "{\"text\": \"b\"}\n").unwrap();
        let after = corpus_files(&[CorpusSource::new(&path)]).unwrap();
        assert_ne!(before, after, "same size, other content");
    }
}
