//! The Parquet files of a run: `tokens/part-NNNNN.parquet` and
//! `activations/layer=LL/part-NNNNN.parquet` (see `docs/SCHEMA.md`; the count parts of
//! `--record counts` runs are in [`crate::run::counts`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, ListArray, RecordBatch, StringArray, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Field, Int32Type, Schema, SchemaRef, UInt16Type, UInt32Type, UInt64Type,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::columns::{extend_integers, integer_list_column, string_column};
use crate::{DigestWriter, FileDigest};

use crate::error::{FormatError, Result};
use crate::run::manifest::{CommittedPart, Manifest};

/// Directory of the token parts.
pub const TOKENS_DIR: &str = "tokens";
/// Directory of the activation parts (Hive-partitioned by layer below it).
pub const ACTIVATIONS_DIR: &str = "activations";
/// Suffix of a part being written; renamed away when the part is complete.
pub const TEMP_SUFFIX: &str = ".tmp";

/// `part-NNNNN.parquet`.
pub fn part_file_name(part: u32) -> String {
    format!("part-{part:05}.parquet")
}

/// `layer=LL` (Hive partition directory of one layer).
pub fn layer_dir_name(layer: usize) -> String {
    format!("layer={layer:02}")
}

/// Path of a token part in run directory `run`.
pub fn tokens_path(run: &Path, part: u32) -> PathBuf {
    run.join(TOKENS_DIR).join(part_file_name(part))
}

/// Path of an activation part of `layer` in run directory `run`.
pub fn activations_path(run: &Path, layer: usize, part: u32) -> PathBuf {
    run.join(ACTIVATIONS_DIR)
        .join(layer_dir_name(layer))
        .join(part_file_name(part))
}

/// Schema of the token parts.
pub fn tokens_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("pos", DataType::UInt16, false),
        Field::new("token", DataType::UInt32, false),
        Field::new("doc", DataType::UInt64, false),
        Field::new(
            "domain",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
    ]))
}

/// Field of one list element of `neurons`.
fn neuron_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::UInt16, false))
}

/// Schema of the activation parts.
pub fn activations_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("pos", DataType::UInt16, false),
        Field::new("neurons", DataType::List(neuron_item()), false),
    ]))
}

/// Rows of a token part, column by column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRows {
    /// Sequence id.
    pub seq: Vec<u64>,
    /// Position (0 = the `</s>` prefix).
    pub pos: Vec<u16>,
    /// Token id.
    pub token: Vec<u32>,
    /// Document id.
    pub doc: Vec<u64>,
    /// Domain name of each row.
    pub domain: Vec<String>,
}

/// Rows of an activation part: the fired neurons of each token, ascending, as a flat list with
/// offsets (row `i` holds `neurons[offsets[i]..offsets[i + 1]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRows {
    /// Sequence id.
    pub seq: Vec<u64>,
    /// Position.
    pub pos: Vec<u16>,
    /// Row offsets into `neurons` (one more than rows).
    pub offsets: Vec<i32>,
    /// Fired fc1 indices.
    pub neurons: Vec<u16>,
}

impl Default for ActivationRows {
    fn default() -> Self {
        Self {
            seq: Vec::new(),
            pos: Vec::new(),
            offsets: vec![0],
            neurons: Vec::new(),
        }
    }
}

impl ActivationRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// The fired neurons of row `i`.
    pub fn neurons_of(&self, i: usize) -> &[u16] {
        &self.neurons[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Builds the token record batch; `domains` is the run's dictionary, `domain_ids` index it.
pub fn tokens_batch(
    seq: Vec<u64>,
    pos: Vec<u16>,
    token: Vec<u32>,
    doc: Vec<u64>,
    domain_ids: Vec<i32>,
    domains: &[String],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let dictionary = DictionaryArray::<Int32Type>::try_new(
        domain_ids.into(),
        Arc::new(StringArray::from_iter_values(domains.iter())),
    )?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(seq)),
        Arc::new(UInt16Array::from(pos)),
        Arc::new(UInt32Array::from(token)),
        Arc::new(UInt64Array::from(doc)),
        Arc::new(dictionary),
    ];
    RecordBatch::try_new(tokens_schema(), columns)
}

/// Builds the activation record batch.
pub fn activations_batch(rows: ActivationRows) -> Result<RecordBatch, arrow::error::ArrowError> {
    let list = ListArray::try_new(
        neuron_item(),
        OffsetBuffer::new(ScalarBuffer::from(rows.offsets)),
        Arc::new(UInt16Array::from(rows.neurons)),
        None,
    )?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(rows.seq)),
        Arc::new(UInt16Array::from(rows.pos)),
        Arc::new(list),
    ];
    RecordBatch::try_new(activations_schema(), columns)
}

/// The footer metadata of a part file: the run it belongs to, the model, the part and (for
/// activation files) the layer. The analysis checks them against the run's manifest.
pub fn part_footer(
    run_id: &str,
    model: &str,
    part: u32,
    layer: Option<usize>,
) -> Vec<(String, String)> {
    let mut footer = vec![
        (FOOTER_RUN_ID.to_string(), run_id.to_string()),
        (
            "neuron_census.schema_version".to_string(),
            crate::run::manifest::SCHEMA_VERSION.to_string(),
        ),
        ("neuron_census.model".to_string(), model.to_string()),
        (FOOTER_PART.to_string(), part.to_string()),
    ];
    if let Some(layer) = layer {
        footer.push((FOOTER_LAYER.to_string(), layer.to_string()));
    }
    footer
}

/// Footer key of the run id.
pub const FOOTER_RUN_ID: &str = "neuron_census.run_id";
/// Footer key of the part number.
pub const FOOTER_PART: &str = "neuron_census.part";
/// Footer key of the layer (activation files).
pub const FOOTER_LAYER: &str = "neuron_census.layer";

/// Writes `batch` with zstd and footer `metadata` to `final_path` + [`TEMP_SUFFIX`], creating the
/// directory; returns the temporary path and the digest of what was written. The caller renames
/// it once the whole part is written.
pub fn write_temp_parquet(
    final_path: &Path,
    batch: &RecordBatch,
    metadata: &[(String, String)],
) -> Result<(PathBuf, FileDigest)> {
    let dir = final_path.parent().expect("part paths have a directory");
    std::fs::create_dir_all(dir).map_err(|e| FormatError::io("cannot create", dir, e))?;
    let temp = PathBuf::from(format!("{}{TEMP_SUFFIX}", final_path.display()));
    let file = File::create(&temp).map_err(|e| FormatError::io("cannot create", &temp, e))?;
    let parquet_err = |source: parquet::errors::ParquetError| FormatError::ParquetWrite {
        path: temp.clone(),
        source,
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(parquet_err)?,
        ))
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ))
        .build();
    let mut writer =
        ArrowWriter::try_new(DigestWriter::new(file), batch.schema(), Some(properties))
            .map_err(parquet_err)?;
    writer.write(batch).map_err(parquet_err)?;
    let (file, digest) = writer.into_inner().map_err(parquet_err)?.finish();
    file.sync_all()
        .map_err(|e| FormatError::io("cannot write", &temp, e))?;
    Ok((temp, digest))
}

/// What a part file must be, from its run's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCheck<'a> {
    /// The run id its footer must record.
    pub run_id: &'a str,
    /// The part number its footer must record.
    pub part: u32,
    /// The layer its footer must record (activation files).
    pub layer: Option<usize>,
    /// Its size and checksum at commit (runs written before checksums were recorded have none).
    pub digest: Option<FileDigest>,
}

/// One file of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFile {
    /// `tokens/part-NNNNN.parquet`.
    Tokens,
    /// `activations/layer=LL/part-NNNNN.parquet`.
    Activations(usize),
    /// `counts/layer=LL/part-NNNNN.parquet`.
    Counts(usize),
}

impl PartFile {
    /// Its path in run directory `run`, for part `part`.
    pub fn path(self, run: &Path, part: u32) -> PathBuf {
        match self {
            Self::Tokens => tokens_path(run, part),
            Self::Activations(layer) => activations_path(run, layer, part),
            Self::Counts(layer) => crate::run::counts::counts_path(run, layer, part),
        }
    }

    /// The layer its footer records, if a layer file.
    pub fn layer(self) -> Option<usize> {
        match self {
            Self::Tokens => None,
            Self::Activations(layer) | Self::Counts(layer) => Some(layer),
        }
    }
}

impl<'a> PartCheck<'a> {
    /// What the file of committed `part` of the run `manifest` describes must be: its token file
    /// (`layer` none) or its activation file of `layer`.
    pub fn of(manifest: &'a Manifest, part: &CommittedPart, layer: Option<usize>) -> Self {
        Self::of_file(
            manifest,
            part,
            layer.map_or(PartFile::Tokens, PartFile::Activations),
        )
    }

    /// What `file` of committed `part` of the run `manifest` describes must be.
    pub fn of_file(manifest: &'a Manifest, part: &CommittedPart, file: PartFile) -> Self {
        Self {
            run_id: &manifest.run_id,
            part: part.index,
            layer: file.layer(),
            digest: part.digest(&file.path(Path::new(""), part.index)),
        }
    }

    /// Why footer `metadata` is not this part's, if it is not.
    fn footer_mismatch(&self, metadata: Option<&Vec<KeyValue>>) -> Option<String> {
        let value = |key: &str| {
            metadata
                .and_then(|m| m.iter().find(|kv| kv.key == key))
                .and_then(|kv| kv.value.clone())
        };
        let Some(run_id) = value(FOOTER_RUN_ID) else {
            return Some(
                "its footer names no run (was it rewritten by another tool? then analyse with \
                 --rewritten-parts)"
                    .to_string(),
            );
        };
        if run_id != self.run_id {
            return Some(format!(
                "belongs to run {run_id}, not to this run ({})",
                self.run_id
            ));
        }
        if value(FOOTER_PART) != Some(self.part.to_string()) {
            return Some(format!(
                "its footer records part {}, not part {}",
                value(FOOTER_PART).unwrap_or_default(),
                self.part
            ));
        }
        if value(FOOTER_LAYER) != self.layer.map(|l| l.to_string()) {
            return Some(format!(
                "its footer records layer {}, not layer {}",
                value(FOOTER_LAYER).unwrap_or_else(|| "none".to_string()),
                self.layer.map_or("none".to_string(), |l| l.to_string())
            ));
        }
        None
    }
}

/// Reads a part file whole and checks it against `check` (when given): its size and checksum
/// against the manifest's, then its footer's run, part and layer. Returns the reader builder,
/// ready for a projection.
pub fn open_part(
    path: &Path,
    check: Option<&PartCheck<'_>>,
) -> Result<ParquetRecordBatchReaderBuilder<bytes::Bytes>> {
    let data = bytes::Bytes::from(
        std::fs::read(path).map_err(|e| FormatError::io("cannot read", path, e))?,
    );
    let refuse = |reason: String| FormatError::Parquet {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(reason) = check.and_then(|c| c.digest).and_then(|d| d.mismatch(&data)) {
        return Err(refuse(format!(
            "{reason}; if another tool (DuckDB, polars, pyarrow) rewrote the run's parts on \
             purpose, pass --rewritten-parts to analyse them by their values alone"
        )));
    }
    let builder = crate::parquet_file::open_bytes(path, data)?;
    if let Some(reason) = check
        .and_then(|c| c.footer_mismatch(builder.metadata().file_metadata().key_value_metadata()))
    {
        return Err(refuse(reason));
    }
    Ok(builder)
}

/// Reads a part file whole, checks it against `check` (when given) and decodes it.
fn read_batches(path: &Path, check: Option<&PartCheck<'_>>) -> Result<Vec<RecordBatch>> {
    crate::parquet_file::read_all(path, open_part(path, check)?)
}

/// Reads an activation part back, checked against `check` when given. Integer columns of
/// other widths (as DuckDB or polars may rewrite them) are read when their values fit.
pub fn read_activations(path: &Path, check: Option<&PartCheck<'_>>) -> Result<ActivationRows> {
    let mut rows = ActivationRows::default();
    for batch in read_batches(path, check)? {
        extend_integers::<UInt64Type>(&mut rows.seq, &batch, "seq", path)?;
        extend_integers::<UInt16Type>(&mut rows.pos, &batch, "pos", path)?;
        let lists = integer_list_column(&batch, "neurons", &DataType::UInt16, path)?;
        let lists = lists.as_list::<i32>();
        // The lists' values in one piece, each row's end moved by what the rows before held.
        let offsets = lists.value_offsets();
        let (first, last) = (offsets[0] as usize, offsets[lists.len()] as usize);
        let base = rows.neurons.len() as i32 - offsets[0];
        rows.neurons
            .extend_from_slice(&lists.values().as_primitive::<UInt16Type>().values()[first..last]);
        rows.offsets
            .extend(offsets[1..].iter().map(|&end| base + end));
    }
    Ok(rows)
}

/// Reads a token part back, checked against `check` when given.
pub fn read_tokens(path: &Path, check: Option<&PartCheck<'_>>) -> Result<TokenRows> {
    let mut rows = TokenRows::default();
    for batch in read_batches(path, check)? {
        extend_integers::<UInt64Type>(&mut rows.seq, &batch, "seq", path)?;
        extend_integers::<UInt16Type>(&mut rows.pos, &batch, "pos", path)?;
        extend_integers::<UInt32Type>(&mut rows.token, &batch, "token", path)?;
        extend_integers::<UInt64Type>(&mut rows.doc, &batch, "doc", path)?;
        let domain = string_column(&batch, "domain", path)?;
        rows.domain.extend(
            domain
                .as_string::<i32>()
                .iter()
                .map(|d| d.unwrap_or_default().to_string()),
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, ListBuilder, UInt8Builder};

    /// Writes `columns` as a Parquet file at `path`, as another tool might have rewritten a part.
    fn write_foreign(path: &Path, columns: Vec<(&str, ArrayRef)>) {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let file = File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn parts_with_other_integer_widths_are_read_when_values_fit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.parquet");
        let mut lists = ListBuilder::new(UInt8Builder::new());
        lists.values().append_slice(&[3, 7]);
        lists.append(true);
        lists.append(true);
        write_foreign(
            &path,
            vec![
                ("seq", Arc::new(Int64Array::from(vec![5, 5])) as ArrayRef),
                ("pos", Arc::new(Int32Array::from(vec![0, 1])) as ArrayRef),
                ("neurons", Arc::new(lists.finish()) as ArrayRef),
            ],
        );
        let rows = read_activations(&path, None).unwrap();
        assert_eq!(rows.seq, vec![5, 5]);
        assert_eq!(rows.pos, vec![0, 1]);
        assert_eq!(rows.neurons_of(0), &[3, 7]);
        assert!(rows.neurons_of(1).is_empty());
    }

    #[test]
    fn a_missing_column_is_an_error_naming_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.parquet");
        write_foreign(
            &path,
            vec![
                ("seq", Arc::new(UInt64Array::from(vec![1])) as ArrayRef),
                ("pos", Arc::new(UInt16Array::from(vec![0])) as ArrayRef),
            ],
        );
        let message = read_activations(&path, None).unwrap_err().to_string();
        assert!(message.contains("part.parquet"), "{message}");
        assert!(message.contains("neurons"), "{message}");
        let message = read_tokens(&path, None).unwrap_err().to_string();
        assert!(message.contains("token"), "{message}");
    }
}
