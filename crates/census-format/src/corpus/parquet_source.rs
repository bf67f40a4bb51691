//! Corpus documents from Parquet: a `text` column, or a pre-tokenized `input_ids` column.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, UInt32Type};

use crate::corpus::{CorpusSource, Document, DocumentContent, ReadCounts};
use crate::error::{FormatError, Result};

/// Reads the documents of one Parquet file in row order; errors name the file and row (1-based).
pub(super) fn read_parquet_file(
    file: &Path,
    source: &CorpusSource,
    fallback_domain: &str,
    counts: &mut ReadCounts,
    visit: &mut dyn FnMut(Document) -> Result<bool>,
) -> Result<bool> {
    let bad = |row: u64, reason: String| FormatError::Corpus {
        path: file.to_path_buf(),
        line: row,
        reason,
    };
    let builder = crate::parquet_file::open_file(file)?;
    let mut reader = crate::parquet_file::guarded(file, || {
        builder
            .build()
            .map_err(|e| FormatError::parquet(file, e.to_string()))
    })?;
    let mut row = 0u64;
    while let Some(batch) = crate::parquet_file::next_batch(file, &mut reader)? {
        let domains = string_column(&batch, "domain").map_err(|reason| bad(row + 1, reason))?;
        let content = content_column(&batch).map_err(|reason| bad(row + 1, reason))?;
        for i in 0..batch.num_rows() {
            row += 1;
            let content = match &content {
                Content::Text(texts) => match texts.get(i).cloned().flatten() {
                    Some(t) if !t.trim().is_empty() => DocumentContent::Text(t),
                    _ => {
                        counts.empty_documents += 1;
                        continue;
                    }
                },
                Content::Ids(lists) => match &lists[i] {
                    Some(ids) if !ids.is_empty() => DocumentContent::Ids(ids.clone()),
                    Some(_) | None => {
                        counts.empty_documents += 1;
                        continue;
                    }
                },
            };
            let domain = source
                .domain
                .clone()
                .or_else(|| domains.as_ref().and_then(|d| d[i].clone()))
                .unwrap_or_else(|| fallback_domain.to_string());
            counts.documents += 1;
            if !visit(Document { domain, content })? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

enum Content {
    Text(Vec<Option<String>>),
    Ids(Vec<Option<Vec<u32>>>),
}

/// The values of an optional string column (`Utf8` or `LargeUtf8`).
fn string_column(batch: &RecordBatch, name: &str) -> Result<Option<Vec<Option<String>>>, String> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let cast = arrow::compute::cast(column, &DataType::Utf8)
        .map_err(|e| format!("column '{name}' is not text: {e}"))?;
    let strings = cast.as_string::<i32>();
    Ok(Some(
        (0..strings.len())
            .map(|i| strings.is_valid(i).then(|| strings.value(i).to_string()))
            .collect(),
    ))
}

/// The `text` column, or else the `input_ids` column as token ids.
fn content_column(batch: &RecordBatch) -> Result<Content, String> {
    if let Some(texts) = string_column(batch, "text")? {
        return Ok(Content::Text(texts));
    }
    let Some(column) = batch.column_by_name("input_ids") else {
        return Err("no `text` or `input_ids` column".to_string());
    };
    let item = std::sync::Arc::new(arrow::datatypes::Field::new("item", DataType::UInt32, true));
    let lists = arrow::compute::cast(column, &DataType::List(item))
        .map_err(|e| format!("`input_ids` is not a list of token ids: {e}"))?;
    let lists = lists.as_list::<i32>();
    (0..lists.len())
        .map(|i| {
            if !lists.is_valid(i) {
                return Ok(None);
            }
            let values = lists.value(i);
            let ids = values.as_primitive::<UInt32Type>();
            if ids.null_count() > 0 {
                return Err(format!(
                    "row {}: `input_ids` holds a value that is not a token id",
                    i + 1
                ));
            }
            Ok(Some(ids.values().to_vec()))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Content::Ids)
}
