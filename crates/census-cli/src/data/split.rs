//! A dataset file read as a stream (JSONL, or gzip-compressed JSONL by its `.gz` name), each
//! document's text written to the JSONL file of its domain, with the digest of what is written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use census_format::checksum::{DigestWriter, FileDigest};
use census_format::progress::Progress;

use super::recipe::{DatasetSource, DomainRule};

/// One domain file being written: a temporary beside its final name.
struct DomainFile {
    temp: PathBuf,
    writer: DigestWriter<BufWriter<File>>,
    documents: u64,
}

/// A finished domain file, not yet in place.
#[derive(Debug)]
pub struct Written {
    /// Its file stem (`wikipedia`).
    pub stem: &'static str,
    /// The temporary holding it.
    pub temp: PathBuf,
    /// Documents written.
    pub documents: u64,
    /// Its digest.
    pub digest: FileDigest,
}

/// The domain files of one dataset, written as temporaries in `dir`.
pub struct DomainWriters {
    files: BTreeMap<&'static str, DomainFile>,
    max_documents: Option<u64>,
}

impl DomainWriters {
    /// Opens a temporary for each domain of `source` in `dir`.
    pub fn create(dir: &Path, source: &DatasetSource) -> Result<Self> {
        let files = (source.stems().into_iter())
            .map(|stem| {
                let temp = dir.join(format!(".{stem}.jsonl.partial"));
                let file = File::create(&temp)
                    .with_context(|| format!("cannot create {}", temp.display()))?;
                let writer = DigestWriter::new(BufWriter::new(file));
                Ok((
                    stem,
                    DomainFile {
                        temp,
                        writer,
                        documents: 0,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            files,
            max_documents: source.max_documents,
        })
    }

    /// Whether every domain holds its most documents.
    fn full(&self) -> bool {
        self.max_documents
            .is_some_and(|max| self.files.values().all(|f| f.documents >= max))
    }

    /// Writes one document's text to the file of `stem` (none once it holds its most).
    fn write(&mut self, stem: &str, text: &str) -> Result<()> {
        let max = self.max_documents;
        let Some(file) = self.files.get_mut(stem) else {
            return Ok(());
        };
        if max.is_some_and(|max| file.documents >= max) {
            return Ok(());
        }
        let line = serde_json::json!({ "text": text }).to_string();
        writeln!(file.writer, "{line}")
            .with_context(|| format!("cannot write {}", file.temp.display()))?;
        file.documents += 1;
        Ok(())
    }

    /// Flushes every file and gives what each holds.
    pub fn finish(self) -> Result<Vec<Written>> {
        self.files
            .into_iter()
            .map(|(stem, file)| {
                let (mut inner, digest) = file.writer.finish();
                inner
                    .flush()
                    .with_context(|| format!("cannot write {}", file.temp.display()))?;
                Ok(Written {
                    stem,
                    temp: file.temp,
                    documents: file.documents,
                    digest,
                })
            })
            .collect()
    }

    /// Removes the temporaries (after a failure).
    pub fn discard(self) {
        for file in self.files.into_values() {
            drop(file.writer);
            let _ = std::fs::remove_file(&file.temp);
        }
    }
}

/// Counts the bytes read from a file on the progress bar.
struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// The value at `path` of a JSON object.
fn field<'a>(value: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// Reads dataset file `path` (named `name` in its repository) line by line and writes each
/// document to its domain's file in `writers`, as `source` says; stops early once every domain
/// is full. A line that is not a JSON object with the text field is an error naming the file
/// and line.
pub fn split_file(
    path: &Path,
    name: &str,
    source: &DatasetSource,
    writers: &mut DomainWriters,
    progress: &Progress,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let counted = Counted {
        inner: file,
        progress,
    };
    let reader: Box<dyn BufRead + '_> = if name.ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(counted),
        )))
    } else {
        Box::new(BufReader::new(counted))
    };
    let at = |line: usize| {
        format!(
            "{} ({name} of {}), line {line}",
            path.display(),
            source.repo
        )
    };
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("{}: cannot be read", at(number)))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}: not a JSON object", at(number)))?;
        let Some(text) = value.get(source.text_field).and_then(|t| t.as_str()) else {
            bail!(
                "{}: has no string field `{}` to take the text from",
                at(number),
                source.text_field
            );
        };
        let stem = match source.domains {
            DomainRule::All(stem) => Some(stem),
            DomainRule::ByField {
                field: path,
                domains,
            } => {
                let domain = field(&value, path).and_then(|d| d.as_str());
                domains.iter().find(|d| Some(d.0) == domain).map(|d| d.1)
            }
        };
        if let Some(stem) = stem {
            writers.write(stem, text)?;
            if writers.full() {
                break;
            }
        }
    }
    Ok(())
}
