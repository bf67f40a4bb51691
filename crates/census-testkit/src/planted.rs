//! Run directories whose answers are known: synthetic runs written directly (which neurons
//! fire is a rule of the test), the planted fixture extracted for real, and small editors and
//! readers of Parquet files for the tests that damage or inspect them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
#[cfg(feature = "extract")]
use census_extract::{ExtractOptions, extract};
use census_format::corpus::{CorpusSource, SourceFormat};
use census_format::model::ModelConfig;
use census_format::run::manifest::{CommittedPart, Manifest, ModelDescription, RunConfig};
use census_format::run::sequencing::{CorpusCounts, SequenceOptions, Shard};
use census_format::run::tables::{
    ActivationRows, TokenRows, activations_batch, activations_path, part_footer, read_activations,
    read_tokens, tokens_batch, tokens_path, write_temp_parquet,
};
#[cfg(feature = "extract")]
use census_model::CpuBackend;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The small OPT config of the fixtures, with `layers` layers of `ffn` neurons.
pub fn config(layers: usize, ffn: usize, positions: usize) -> ModelConfig {
    let mut config =
        census_model::family::read_config(crate::opt_fixture("pre-ln").join("config.json"))
            .unwrap();
    config.num_hidden_layers = layers;
    config.ffn_dim = ffn;
    config.max_position_embeddings = positions;
    config
}

pub use crate::mix;

/// A synthetic run: sequences (each starting with `</s>` = 2) and a rule saying which neurons
/// fire on (layer, sequence, position).
pub struct SyntheticRun<'a> {
    /// Model configuration.
    pub config: ModelConfig,
    /// Token ids of each sequence, `</s>` first; sequence `i` has id `first_seq + i * stride`.
    pub sequences: Vec<Vec<u32>>,
    /// Sequence ids.
    pub seq_ids: Vec<u64>,
    /// Fired neurons (ascending) of (layer, sequence index, position).
    pub fired: &'a dyn Fn(usize, usize, usize) -> Vec<u16>,
    /// The domain of each sequence (by index).
    pub domain: &'a dyn Fn(usize) -> &'static str,
    /// Sequences per part.
    pub part_sequences: usize,
    /// Whether every sequence has the full length.
    pub full_length: bool,
    /// The shard recorded in the manifest.
    pub shard: Shard,
    /// Mark the run complete.
    pub complete: bool,
}

impl SyntheticRun<'_> {
    /// Writes the run directory `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let config = self.run_config();
        let run_id = config.run_id();
        let mut domains: Vec<String> = Vec::new();
        for s in 0..self.sequences.len() {
            let name = (self.domain)(s).to_string();
            if !domains.contains(&name) {
                domains.push(name);
            }
        }
        let mut parts = Vec::new();
        let chunks: Vec<Vec<usize>> = (0..self.sequences.len())
            .collect::<Vec<_>>()
            .chunks(self.part_sequences)
            .map(|c| c.to_vec())
            .collect();
        let layers = self.config.num_hidden_layers;
        for (part, chunk) in chunks.iter().enumerate() {
            let part = part as u32;
            let (mut seq, mut pos, mut token, mut doc) = (vec![], vec![], vec![], vec![]);
            let mut domain_ids = Vec::new();
            let mut acts = vec![ActivationRows::default(); layers];
            for &s in chunk {
                for (p, &t) in self.sequences[s].iter().enumerate() {
                    seq.push(self.seq_ids[s]);
                    pos.push(p as u16);
                    token.push(t);
                    doc.push(self.seq_ids[s]);
                    let name = (self.domain)(s);
                    domain_ids.push(domains.iter().position(|d| d == name).unwrap() as i32);
                    for (layer, rows) in acts.iter_mut().enumerate() {
                        rows.seq.push(self.seq_ids[s]);
                        rows.pos.push(p as u16);
                        rows.neurons.extend((self.fired)(layer, s, p));
                        rows.offsets.push(rows.neurons.len() as i32);
                    }
                }
            }
            let rows = seq.len() as u64;
            let batch = tokens_batch(seq, pos, token, doc, domain_ids, &domains).unwrap();
            let mut files = BTreeMap::new();
            let mut commit = |final_path: PathBuf, batch, layer: Option<usize>| {
                let footer = part_footer(&run_id, "synthetic", part, layer);
                let (temp, digest) = write_temp_parquet(&final_path, &batch, &footer).unwrap();
                std::fs::rename(temp, &final_path).unwrap();
                let relative = final_path.strip_prefix(dir).unwrap();
                files.insert(relative.display().to_string(), digest);
            };
            commit(tokens_path(dir, part), batch, None);
            for (layer, rows) in acts.into_iter().enumerate() {
                let batch = activations_batch(rows).unwrap();
                commit(activations_path(dir, layer, part), batch, Some(layer));
            }
            parts.push(CommittedPart {
                index: part,
                first_seq: self.seq_ids[chunk[0]],
                last_seq: self.seq_ids[*chunk.last().unwrap()],
                sequences: chunk.len() as u64,
                rows,
                bytes: files.values().map(|d| d.bytes).sum(),
                files,
                device: None,
            });
        }
        let tokens: u64 = self.sequences.iter().map(|s| s.len() as u64).sum();
        let manifest = Manifest {
            schema_version: census_format::run::manifest::SCHEMA_VERSION,
            producer: "synthetic".to_string(),
            run_id,
            config,
            device: "none".to_string(),
            engine: None,
            domains,
            counts: CorpusCounts {
                documents: self.sequences.len() as u64,
                sequences: self.sequences.len() as u64,
                tokens,
                shard_sequences: self.sequences.len() as u64,
                shard_tokens: tokens,
                ..Default::default()
            },
            corpus_digest: String::new(),
            sequence_table: None,
            parts,
            complete: self.complete,
        };
        manifest.store(dir).unwrap();
    }

    /// The configuration the run's manifest records.
    fn run_config(&self) -> RunConfig {
        let layers = self.config.num_hidden_layers;
        RunConfig {
            model: ModelDescription {
                source: "synthetic".to_string(),
                config: self.config.clone(),
                weight_files: vec![],
                tokenizer_files: vec![],
            },
            dtype: census_format::model::FloatType::F32,
            ffn: census_format::run::FfnPath::Dense,
            corpus: vec![CorpusSource {
                path: PathBuf::from("synthetic.jsonl"),
                format: SourceFormat::PreTokenized,
                domain: None,
                max_tokens: None,
            }],
            sequences: SequenceOptions {
                max_seq_len: self.sequences.iter().map(Vec::len).max().unwrap(),
                full_length: self.full_length,
                max_tokens: None,
                skip_malformed: false,
            },
            layers: [0, layers],
            shard: self.shard,
            part_tokens: 1,
            record: Default::default(),
            sequence_start: Default::default(),
            fire_threshold: 0.0,
        }
    }
}

/// Reads a whole Parquet table.
pub fn read_table(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// Extracts the planted fixture's corpus (`tests/fixtures/corpus/planted.jsonl`) into `out`.
#[cfg(feature = "extract")]
pub fn extract_planted(out: &Path) {
    let corpus = crate::opt_fixture("../corpus/planted.jsonl");
    extract::<CpuBackend>(
        &ExtractOptions {
            sequences: SequenceOptions::with_max_seq_len(48),
            part_tokens: 1024,
            batch_tokens: 512,
            ..ExtractOptions::new(
                crate::opt_fixture("planted"),
                vec![CorpusSource::new(corpus)],
                out,
            )
        },
        &Default::default(),
        "cpu",
    )
    .unwrap();
}

/// The neuron lists of an activation part, row by row, edited and written back in place.
pub fn edit_activations(path: &Path, edit: impl FnOnce(&mut Vec<Vec<u16>>)) {
    let rows = read_activations(path, None).unwrap();
    let mut lists: Vec<Vec<u16>> = rows
        .offsets
        .windows(2)
        .map(|w| rows.neurons[w[0] as usize..w[1] as usize].to_vec())
        .collect();
    edit(&mut lists);
    let mut edited = ActivationRows {
        seq: rows.seq,
        pos: rows.pos,
        ..Default::default()
    };
    for list in lists {
        edited.neurons.extend(list);
        edited.offsets.push(edited.neurons.len() as i32);
    }
    let (temp, _) = write_temp_parquet(path, &activations_batch(edited).unwrap(), &[]).unwrap();
    std::fs::rename(temp, path).unwrap();
}

/// A token part's rows edited and written back in place.
pub fn edit_tokens(path: &Path, edit: impl FnOnce(&mut TokenRows)) {
    let mut rows = read_tokens(path, None).unwrap();
    edit(&mut rows);
    let domains = vec!["synthetic".to_string()];
    let ids = vec![0; rows.seq.len()];
    let batch = tokens_batch(rows.seq, rows.pos, rows.token, rows.doc, ids, &domains).unwrap();
    let (temp, _) = write_temp_parquet(path, &batch, &[]).unwrap();
    std::fs::rename(temp, path).unwrap();
}

/// Rewrites column `name` of the table at `path` with `values`: in the column's own integer
/// type where every value is a whole number that fits it, else as float64 (as a tool that
/// rewrote the table with other values would).
pub fn rewrite_column(path: &Path, name: &str, values: impl Fn(usize) -> f64) {
    use std::sync::Arc;
    let batch = read_table(path);
    let schema = batch.schema();
    let columns: Vec<arrow::array::ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if field.name() == name {
                let floats: arrow::array::ArrayRef =
                    Arc::new(arrow::array::Float64Array::from_iter_values(
                        (0..batch.num_rows()).map(&values),
                    ));
                let whole = (0..batch.num_rows()).all(|i| values(i).fract() == 0.0);
                let strict = arrow::compute::CastOptions {
                    safe: false,
                    ..Default::default()
                };
                match arrow::compute::cast_with_options(&floats, field.data_type(), &strict) {
                    Ok(cast) if whole && field.data_type().is_integer() => cast,
                    _ => floats,
                }
            } else {
                column.clone()
            }
        })
        .collect();
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| arrow::datatypes::Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    let batch = arrow::array::RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None)
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}
