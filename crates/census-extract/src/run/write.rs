//! A computed part's files written under temporary names, renamed, and described for the
//! manifest.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use super::compute::{ComputedPart, merge_rows};
use super::options::ExtractOptions;
use crate::error::{ExtractError, Result};
use crate::sequences::{PartPlan, SequencedCorpus};
use census_format::FormatError;
use census_format::run::RecordMode;
use census_format::run::counts::counts_batch;
use census_format::run::manifest::CommittedPart;
use census_format::run::sequence_table::Sequence;
use census_format::run::tables::PartFile;
use census_format::run::tables::{
    activations_batch, part_footer, tokens_batch, tokens_path, write_temp_parquet,
};
use rayon::prelude::*;

/// What the files of a run's parts carry beside their rows.
#[derive(Debug, Clone)]
pub(super) struct PartContext {
    /// The run id, for the footers.
    pub(super) run_id: String,
    /// The model source, for the footers.
    pub(super) model: String,
}

/// One layer file of a part: its layer, its record batch (or why it could not be built) and
/// its path.
type LayerBatch = (
    usize,
    std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError>,
    PathBuf,
);

/// Writes a computed part's files under temporary names (the layers in parallel), renames them,
/// and returns the entry to commit.
pub(super) fn write_computed(
    computed: ComputedPart,
    corpus: &SequencedCorpus,
    part: &PartPlan,
    layers: &Range<usize>,
    options: &ExtractOptions,
    context: &PartContext,
) -> Result<CommittedPart> {
    let sequences = &corpus.sequences[part.range.clone()];
    let metadata =
        |layer: Option<usize>| part_footer(&context.run_id, &context.model, part.index, layer);
    let out = &options.out;
    let tokens_final = tokens_path(out, part.index);
    let batch = token_rows(sequences, &corpus.domains).map_err(|source| FormatError::Arrow {
        path: tokens_final.clone(),
        source,
    })?;
    let mut temporaries = vec![(
        write_temp_parquet(&tokens_final, &batch, &metadata(None))?,
        tokens_final,
    )];
    let layer_batches: Vec<LayerBatch> = match computed {
        ComputedPart::Rows(rows) => rows
            .into_par_iter()
            .enumerate()
            .map(|(offset, per_sequence)| {
                let layer = layers.start + offset;
                let path = PartFile::Activations(layer).path(out, part.index);
                let merged = merge_rows(per_sequence).map_err(|reason| ExtractError::Parquet {
                    path: path.clone(),
                    reason,
                })?;
                Ok((layer, activations_batch(merged), path))
            })
            .collect::<Result<_>>()?,
        ComputedPart::Counts(counts) => counts
            .par_iter()
            .enumerate()
            .map(|(offset, counts)| {
                let layer = layers.start + offset;
                let path = PartFile::Counts(layer).path(out, part.index);
                (layer, counts_batch(counts), path)
            })
            .collect(),
    };
    let layer_files = layer_batches
        .into_par_iter()
        .map(|(layer, batch, path)| {
            let batch = batch.map_err(|source| FormatError::Arrow {
                path: path.clone(),
                source,
            })?;
            Ok((
                write_temp_parquet(&path, &batch, &metadata(Some(layer)))?,
                path,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    temporaries.extend(layer_files);
    let mut bytes = 0;
    let mut files = BTreeMap::new();
    for ((temp, digest), path) in temporaries {
        bytes += digest.bytes;
        let relative = path
            .strip_prefix(out)
            .expect("parts lie in the run directory");
        files.insert(relative.to_string_lossy().replace('\\', "/"), digest);
        std::fs::rename(&temp, &path).map_err(|e| ExtractError::io("cannot rename", &temp, e))?;
    }
    Ok(CommittedPart {
        index: part.index,
        first_seq: sequences.first().map_or(0, |s| s.seq),
        last_seq: sequences.last().map_or(0, |s| s.seq),
        sequences: sequences.len() as u64,
        rows: part.tokens,
        bytes,
        files,
        device: None,
    })
}

/// The file a part records for `layer` in `mode`.
pub(super) fn layer_file(mode: RecordMode, layer: usize) -> PartFile {
    match mode {
        RecordMode::Shards => PartFile::Activations(layer),
        RecordMode::Counts => PartFile::Counts(layer),
    }
}

fn token_rows(
    sequences: &[Sequence],
    domains: &[String],
) -> std::result::Result<arrow::array::RecordBatch, arrow::error::ArrowError> {
    let n: usize = sequences.iter().map(|s| s.tokens.len()).sum();
    let (mut seq, mut pos, mut token, mut doc, mut domain) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for s in sequences {
        for (p, &t) in s.tokens.iter().enumerate() {
            seq.push(s.seq);
            pos.push(p as u16);
            token.push(t);
            doc.push(s.doc);
            domain.push(s.domain as i32);
        }
    }
    tokens_batch(seq, pos, token, doc, domain, domains)
}
