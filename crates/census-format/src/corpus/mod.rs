//! Reading corpora: JSONL, plain text (a file per document or a line per document) and
//! pre-tokenized JSONL, each source with an optional domain and token budget.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Result, SourceError};

mod parquet_source;

/// How a corpus source is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// One JSON object per line with a `text` field; the domain comes from `domain`, then
    /// `meta.pile_set_name` (the Pile), then `source`.
    Jsonl,
    /// One JSON object per line with `input_ids` (token ids without the `</s>` prefix): the
    /// tokenizer is skipped.
    PreTokenized,
    /// A `.txt` file, or a directory of them (sorted by path), one document per file.
    TextFiles,
    /// A `.txt` file, or a directory of them, one document per non-empty line.
    TextLines,
    /// A Parquet file, or a directory of them: a `text` string column, or a pre-tokenized
    /// `input_ids` list-of-integers column (without the `</s>` prefix); an optional `domain`
    /// string column.
    Parquet,
}

impl SourceFormat {
    /// Every format with its name in a source spec (`format=NAME`).
    const NAMES: [(&str, Self); 5] = [
        ("jsonl", Self::Jsonl),
        ("pretokenized", Self::PreTokenized),
        ("text-files", Self::TextFiles),
        ("text-lines", Self::TextLines),
        ("parquet", Self::Parquet),
    ];

    /// Its name in a source spec.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, format)| *format == self)
            .map(|(name, _)| *name)
            .expect("every format is named")
    }

    /// The format a spec names (`pre-tokenized` is read as `pretokenized`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = if name == "pre-tokenized" {
            "pretokenized"
        } else {
            name
        };
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, format)| *format)
    }

    /// The format a path's extension suggests (`.jsonl`/`.json` → JSONL, otherwise text files).
    pub fn guess(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "json" | "ndjson") => Self::Jsonl,
            Some("parquet") => Self::Parquet,
            _ => Self::TextFiles,
        }
    }

    /// The format of `path`: its extension's, and for JSON lines, pre-tokenized when the first
    /// record holds `input_ids` and no `text` (as the Parquet reader decides by its columns). A
    /// directory is judged by its first JSON-lines file; a path that cannot be read yet keeps
    /// the extension's guess.
    pub fn detect(path: &Path) -> Self {
        let guess = Self::guess(path);
        if guess != Self::Jsonl {
            return guess;
        }
        match first_record(path) {
            Some(record) if record.get("input_ids").is_some() && record.get("text").is_none() => {
                Self::PreTokenized
            }
            _ => guess,
        }
    }
}

/// The first JSON record of a JSON-lines file (or of the first such file, by path, in a
/// directory), if there is one to read.
fn first_record(path: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    use std::io::BufRead;
    let file = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["jsonl", "json", "ndjson"].contains(&e))
            })
            .collect();
        files.sort();
        files.into_iter().next()?
    } else {
        path.to_path_buf()
    };
    let reader = std::io::BufReader::new(std::fs::File::open(file).ok()?);
    let line = reader
        .lines()
        .take(64)
        .map_while(|l| l.ok())
        .find(|l| !l.trim().is_empty())?;
    let line = line.trim_start_matches('\u{feff}');
    match serde_json::from_str(line).ok()? {
        serde_json::Value::Object(record) => Some(record),
        _ => None,
    }
}

/// The UTF-8 byte-order mark, skipped at the start of a file.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// One corpus source of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusSource {
    /// A file or a directory.
    pub path: PathBuf,
    /// Its layout.
    pub format: SourceFormat,
    /// Domain of every document, overriding what the records say.
    pub domain: Option<String>,
    /// Largest number of tokens (`</s>` prefixes included) taken from this source.
    pub max_tokens: Option<u64>,
}

impl CorpusSource {
    /// A source whose format is detected from its extension and first record
    /// ([`SourceFormat::detect`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            format: SourceFormat::detect(&path),
            path,
            domain: None,
            max_tokens: None,
        }
    }

    /// Parses a source spec, `PATH[,format=jsonl|pretokenized|text-files|text-lines|parquet]
    /// [,domain=NAME][,max_tokens=N]`, as `--data` takes it; the format is detected when not
    /// named.
    pub fn parse(spec: &str) -> Result<Self> {
        Self::parse_in(spec, Path::new(""))
    }

    /// Parses a source spec whose relative PATH is taken from `base` (a pipeline's directory;
    /// the joined path's `..` resolved by its text), before the format is detected from the
    /// file. An empty `base` keeps the path as written.
    pub fn parse_in(spec: &str, base: &Path) -> Result<Self> {
        let mut fields = spec.split(',');
        let path = fields.next().unwrap_or_default();
        if path.is_empty() {
            return Err(SourceError::NoPath(spec.to_string()).into());
        }
        let mut source = if base.as_os_str().is_empty() {
            Self::new(path)
        } else {
            Self::new(crate::paths::lexically_normal(&base.join(path)))
        };
        for field in fields {
            let (key, value) = field.split_once('=').ok_or_else(|| {
                FormatError::from(SourceError::NotKeyValue {
                    spec: spec.to_string(),
                    field: field.to_string(),
                })
            })?;
            match key {
                "format" => {
                    source.format = SourceFormat::from_name(value).ok_or_else(|| {
                        FormatError::from(SourceError::UnknownFormat {
                            spec: spec.to_string(),
                            format: value.to_string(),
                        })
                    })?
                }
                "domain" => source.domain = Some(value.to_string()),
                "max_tokens" => {
                    source.max_tokens = Some(value.parse().map_err(|_| {
                        FormatError::from(SourceError::MaxTokens {
                            spec: spec.to_string(),
                            value: value.to_string(),
                        })
                    })?)
                }
                other => {
                    return Err(SourceError::UnknownKey {
                        spec: spec.to_string(),
                        key: other.to_string(),
                    }
                    .into());
                }
            }
        }
        Ok(source)
    }

    /// Checks that the source's file or directory is there and readable, naming it if not.
    pub fn check_exists(&self) -> Result<()> {
        std::fs::metadata(&self.path)
            .map(|_| ())
            .map_err(|e| FormatError::io("corpus source: cannot read", &self.path, e))
    }

    /// The domain used when the records name none: the file stem.
    fn default_domain(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "corpus".to_string())
    }
}

/// The source as a spec `parse` reads back: `PATH,format=NAME[,domain=NAME][,max_tokens=N]`.
impl std::fmt::Display for CorpusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},format={}", self.path.display(), self.format.name())?;
        if let Some(domain) = &self.domain {
            write!(f, ",domain={domain}")?;
        }
        if let Some(max_tokens) = self.max_tokens {
            write!(f, ",max_tokens={max_tokens}")?;
        }
        Ok(())
    }
}

/// What a document holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentContent {
    /// Text to tokenize.
    Text(String),
    /// Token ids, without the `</s>` prefix.
    Ids(Vec<u32>),
}

/// One document of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its domain (dictionary-encoded in the token shards).
    pub domain: String,
    /// Its content.
    pub content: DocumentContent,
}

/// Counts of what reading a corpus skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCounts {
    /// Documents read.
    pub documents: u64,
    /// Empty documents skipped.
    pub empty_documents: u64,
    /// Malformed lines skipped (only with `skip_malformed`).
    pub malformed_lines: u64,
}

/// Reads every document of `source`, in a deterministic order, calling `visit` on each. `visit`
/// returns `false` to stop early (a budget is spent), or an error of its own, which ends the
/// reading and is returned as it is.
///
/// Malformed JSONL lines and invalid UTF-8 are errors naming the file and line, unless
/// `skip_malformed`, which counts and skips them.
pub fn read_source<E: From<FormatError>>(
    source: &CorpusSource,
    skip_malformed: bool,
    counts: &mut ReadCounts,
    visit: &mut dyn FnMut(Document) -> Result<bool, E>,
) -> Result<(), E> {
    let mut failure = None;
    let mut stop_on_failure = |document| match visit(document) {
        Ok(keep_going) => Ok(keep_going),
        Err(e) => {
            failure = Some(e);
            Ok(false)
        }
    };
    let read = read_files(source, skip_malformed, counts, &mut stop_on_failure);
    match failure {
        Some(e) => Err(e),
        None => read.map_err(E::from),
    }
}

/// [`read_source`] with a visitor that cannot fail.
fn read_files(
    source: &CorpusSource,
    skip_malformed: bool,
    counts: &mut ReadCounts,
    visit: &mut dyn FnMut(Document) -> Result<bool>,
) -> Result<()> {
    let files = source_files(source)?;
    let fallback = source
        .domain
        .clone()
        .unwrap_or_else(|| source.default_domain());
    for file in files {
        let keep_going = match source.format {
            SourceFormat::TextFiles => read_text_file(&file, &fallback, counts, visit)?,
            SourceFormat::Parquet => {
                parquet_source::read_parquet_file(&file, source, &fallback, counts, visit)?
            }
            _ => read_lines(&file, source, &fallback, skip_malformed, counts, visit)?,
        };
        if !keep_going {
            break;
        }
    }
    Ok(())
}

/// The files of a source: the path itself, or the `.txt`/`.jsonl` files under a directory,
/// sorted by path.
pub fn source_files(source: &CorpusSource) -> Result<Vec<PathBuf>> {
    let path = &source.path;
    let meta = std::fs::metadata(path).map_err(|e| FormatError::io("cannot read", path, e))?;
    if meta.is_file() {
        return Ok(vec![path.clone()]);
    }
    if !meta.is_dir() {
        return Err(SourceError::NotAFile(path.clone()).into());
    }
    let wanted: &[&str] = match source.format {
        SourceFormat::TextFiles | SourceFormat::TextLines => &["txt"],
        SourceFormat::Jsonl | SourceFormat::PreTokenized => &["jsonl", "json", "ndjson"],
        SourceFormat::Parquet => &["parquet"],
    };
    let mut files = Vec::new();
    let mut stack = vec![path.clone()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| FormatError::io("cannot list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FormatError::io("cannot list", &dir, e))?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| wanted.contains(&e))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(FormatError::EmptyCorpus(format!(
            "{} holds no {} files",
            path.display(),
            wanted.join("/")
        )));
    }
    Ok(files)
}

fn read_text_file(
    file: &Path,
    domain: &str,
    counts: &mut ReadCounts,
    visit: &mut dyn FnMut(Document) -> Result<bool>,
) -> Result<bool> {
    let bytes = std::fs::read(file).map_err(|e| FormatError::io("cannot read", file, e))?;
    let text = String::from_utf8(bytes).map_err(|e| FormatError::Corpus {
        path: file.to_path_buf(),
        line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64,
        reason: "invalid UTF-8".to_string(),
    })?;
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if text.trim().is_empty() {
        counts.empty_documents += 1;
        return Ok(true);
    }
    counts.documents += 1;
    visit(Document {
        domain: domain.to_string(),
        content: DocumentContent::Text(text),
    })
}

#[derive(Deserialize)]
struct JsonRecord {
    text: Option<serde_json::Value>,
    input_ids: Option<Vec<serde_json::Value>>,
    domain: Option<String>,
    source: Option<String>,
    meta: Option<serde_json::Value>,
}

fn read_lines(
    file: &Path,
    source: &CorpusSource,
    fallback_domain: &str,
    skip_malformed: bool,
    counts: &mut ReadCounts,
    visit: &mut dyn FnMut(Document) -> Result<bool>,
) -> Result<bool> {
    let handle = File::open(file).map_err(|e| FormatError::io("cannot read", file, e))?;
    let mut reader = BufReader::new(handle);
    let mut raw = Vec::new();
    let mut line_no = 0u64;
    loop {
        raw.clear();
        let n = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| FormatError::io("cannot read", file, e))?;
        if n == 0 {
            return Ok(true);
        }
        line_no += 1;
        // A UTF-8 byte-order mark some editors put at the start of a file is not content.
        if line_no == 1 && raw.starts_with(UTF8_BOM) {
            raw.drain(..UTF8_BOM.len());
        }
        let parsed = std::str::from_utf8(&raw)
            .map_err(|_| "invalid UTF-8".to_string())
            .and_then(|line| {
                parse_line(line.trim_end_matches(['\n', '\r']), source, fallback_domain)
            });
        let document = match parsed {
            Ok(Some(doc)) => doc,
            Ok(None) => {
                counts.empty_documents += 1;
                continue;
            }
            Err(reason) if skip_malformed => {
                tracing::warn!(file = %file.display(), line = line_no, %reason, "skipping malformed line");
                counts.malformed_lines += 1;
                continue;
            }
            Err(reason) => {
                return Err(FormatError::Corpus {
                    path: file.to_path_buf(),
                    line: line_no,
                    reason,
                });
            }
        };
        counts.documents += 1;
        if !visit(document)? {
            return Ok(false);
        }
    }
}

/// Parses one line; `Ok(None)` is an empty document.
fn parse_line(
    line: &str,
    source: &CorpusSource,
    fallback_domain: &str,
) -> std::result::Result<Option<Document>, String> {
    if source.format == SourceFormat::TextLines {
        if line.trim().is_empty() {
            return Ok(None);
        }
        return Ok(Some(Document {
            domain: fallback_domain.to_string(),
            content: DocumentContent::Text(line.to_string()),
        }));
    }
    if line.trim().is_empty() {
        return Ok(None);
    }
    let record: JsonRecord =
        serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let pile_domain = record
        .meta
        .as_ref()
        .and_then(|m| m.get("pile_set_name"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let domain = source
        .domain
        .clone()
        .or(record.domain)
        .or(pile_domain)
        .or(record.source)
        .unwrap_or_else(|| fallback_domain.to_string());
    let content = match source.format {
        SourceFormat::PreTokenized => {
            let ids = record.input_ids.ok_or_else(|| {
                "no `input_ids` field (the source is read as pre-tokenized JSON lines; name \
                 another format with `PATH,format=jsonl`)"
                    .to_string()
            })?;
            let ids = ids
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|x| u32::try_from(x).ok())
                        .ok_or_else(|| format!("`input_ids` holds {v}, not a token id"))
                })
                .collect::<std::result::Result<Vec<u32>, String>>()?;
            if ids.is_empty() {
                return Ok(None);
            }
            DocumentContent::Ids(ids)
        }
        _ => {
            let text = match record.text {
                Some(serde_json::Value::String(s)) => s,
                Some(other) => return Err(format!("`text` is {other}, not a string")),
                None => {
                    return Err(
                        "no `text` field (the source is read as JSON lines of text; for token \
                         ids name it `PATH,format=pretokenized`)"
                            .to_string(),
                    );
                }
            };
            if text.trim().is_empty() {
                return Ok(None);
            }
            DocumentContent::Text(text)
        }
    };
    Ok(Some(Document { domain, content }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_specs_parse() {
        let s = CorpusSource::parse("data/wiki.jsonl,domain=wiki,max_tokens=1000").unwrap();
        assert_eq!(s.format, SourceFormat::Jsonl);
        assert_eq!(s.domain.as_deref(), Some("wiki"));
        assert_eq!(s.max_tokens, Some(1000));
        assert_eq!(
            CorpusSource::parse("d/,format=text-lines").unwrap().format,
            SourceFormat::TextLines
        );
        assert!(CorpusSource::parse("x.jsonl,format=csv").is_err());
        assert!(CorpusSource::parse("x.jsonl,max_tokens=lots").is_err());
    }
}
