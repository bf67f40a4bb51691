//! Parquet files read so that damage is an error naming the file, never a panic.
//!
//! The footer is checked first (column chunk ranges that are negative or lie outside the file
//! are refused). Damage deeper in the data can still make the `parquet` crate panic while it
//! decodes (a page claiming a dictionary that is not there, say); every decode step here runs
//! under [`guarded`], which turns such a panic into an error and keeps it off stderr.

use std::cell::Cell;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;

use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::ChunkReader;

use crate::error::{FormatError, Result};

/// Opens the Parquet file at `path` for reading.
pub fn open_file(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| FormatError::io("cannot read", path, e))?;
    open(path, file)
}

/// Opens Parquet bytes already read from `path`.
pub fn open_bytes(path: &Path, data: Bytes) -> Result<ParquetRecordBatchReaderBuilder<Bytes>> {
    open(path, data)
}

/// Decodes every batch of `builder`'s file at `path`.
pub fn read_all<T: ChunkReader + 'static>(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<T>,
) -> Result<Vec<RecordBatch>> {
    let mut reader = guarded(path, || {
        builder
            .build()
            .map_err(|e| FormatError::parquet(path, e.to_string()))
    })?;
    let mut batches = Vec::new();
    while let Some(batch) = next_batch(path, &mut reader)? {
        batches.push(batch);
    }
    Ok(batches)
}

/// The next batch of `reader`, which reads the file at `path`.
pub fn next_batch(
    path: &Path,
    reader: &mut impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>>,
) -> Result<Option<RecordBatch>> {
    guarded(path, || {
        reader
            .next()
            .transpose()
            .map_err(|e| FormatError::parquet(path, e.to_string()))
    })
}

thread_local! {
    /// Whether this thread is inside [`guarded`], whose panics are reported as errors.
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode`, a step that reads the Parquet file at `path`; a panic inside it becomes an
/// error naming the file. The panic's own message is not printed (the process's panic hook is
/// wrapped once to stay silent inside this function and to behave as before everywhere else).
pub fn guarded<T>(path: &Path, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = DECODING.with(|d| d.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(decode));
    DECODING.with(|d| d.set(outer));
    outcome.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(FormatError::parquet(
            path,
            format!("damaged Parquet data ({detail})"),
        ))
    })
}

fn open<T: ChunkReader + 'static>(
    path: &Path,
    input: T,
) -> Result<ParquetRecordBatchReaderBuilder<T>> {
    let metadata = guarded(path, || {
        ArrowReaderMetadata::load(&input, Default::default())
            .map_err(|e| FormatError::parquet(path, e.to_string()))
    })?;
    if let Some(reason) = range_problem(metadata.metadata(), input.len()) {
        return Err(FormatError::parquet(path, reason));
    }
    Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
        input, metadata,
    ))
}

/// The first column chunk or row group whose recorded extent cannot lie in a file of `len`
/// bytes, described.
fn range_problem(metadata: &ParquetMetaData, len: u64) -> Option<String> {
    let within = |start: i64, length: i64| {
        u64::try_from(start)
            .ok()
            .zip(u64::try_from(length).ok())
            .and_then(|(s, l)| s.checked_add(l))
            .is_some_and(|end| end <= len)
    };
    for (g, group) in metadata.row_groups().iter().enumerate() {
        if group.num_rows() < 0 {
            return Some(format!(
                "damaged footer: row group {g} records {} rows",
                group.num_rows()
            ));
        }
        for (c, chunk) in group.columns().iter().enumerate() {
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or(chunk.data_page_offset());
            let extents = [
                (start, chunk.compressed_size()),
                (chunk.data_page_offset(), 0),
                (
                    chunk.column_index_offset().unwrap_or(0),
                    chunk.column_index_length().map_or(0, i64::from),
                ),
                (
                    chunk.offset_index_offset().unwrap_or(0),
                    chunk.offset_index_length().map_or(0, i64::from),
                ),
                (
                    chunk.bloom_filter_offset().unwrap_or(0),
                    chunk.bloom_filter_length().map_or(0, i64::from),
                ),
            ];
            if chunk.num_values() < 0 || !extents.iter().all(|&(s, l)| within(s, l)) {
                return Some(format!(
                    "damaged footer: column chunk {c} of row group {g} ('{}') does not lie \
                     within the file's {len} bytes",
                    chunk.column_path()
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int32Array;
    use parquet::arrow::ArrowWriter;

    use super::*;

    fn table() -> Vec<u8> {
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int32Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    }

    #[test]
    fn a_sound_file_reads_back() {
        let path = Path::new("t.parquet");
        let builder = open_bytes(path, Bytes::from(table())).unwrap();
        let rows: usize = read_all(path, builder)
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 3);
    }

    #[test]
    fn every_byte_flip_is_an_error_or_a_read_never_a_panic() {
        let sound = table();
        let mut refused = 0;
        for at in 0..sound.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut data = sound.clone();
                data[at] ^= flip;
                let path = Path::new("t.parquet");
                let outcome = std::panic::catch_unwind(|| {
                    open_bytes(path, Bytes::from(data)).and_then(|b| read_all(path, b))
                });
                let outcome = outcome.unwrap_or_else(|_| panic!("byte {at} ^ {flip:#x}: panicked"));
                if let Err(e) = outcome {
                    assert!(e.to_string().contains("t.parquet"), "{e}");
                    refused += 1;
                }
            }
        }
        assert!(refused > 0);
    }

    #[test]
    fn a_panic_outside_a_decode_still_panics() {
        let _ = guarded(Path::new("t.parquet"), || Ok(()));
        assert!(std::panic::catch_unwind(|| panic!("ours")).is_err());
        let caught = guarded(Path::new("t.parquet"), || -> Result<()> {
            panic!("inside")
        });
        assert!(caught.unwrap_err().to_string().contains("t.parquet"));
    }

    #[test]
    fn a_negative_column_chunk_offset_is_refused_by_name() {
        let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&Bytes::from(table()))
            .unwrap();
        assert!(range_problem(&metadata, 10).is_some());
        assert!(range_problem(&metadata, table().len() as u64).is_none());
    }
}
