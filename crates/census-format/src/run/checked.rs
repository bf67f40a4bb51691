//! A run's parts read with their values checked against what the run allows: token ids below
//! the model's vocabulary, positions below the run's sequence length, rows in `(seq, pos)`
//! order, and activation rows that are the token part's rows with strictly ascending neuron ids
//! below the FFN width. A part that breaks one is an error naming the file, column and row.

use std::path::Path;

use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};
use parquet::arrow::ProjectionMask;

use crate::columns::extend_integers;
use crate::error::{FormatError, Result};
use crate::parquet_file::read_all;
use crate::run::tables::{ActivationRows, PartCheck, open_part};

/// What the values of a run's parts must stay below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLimits {
    /// Token ids: the model's vocabulary.
    pub vocab: usize,
    /// Positions: the run's longest sequence.
    pub positions: usize,
    /// Neuron ids: the FFN width.
    pub neurons: usize,
}

/// The `seq`, `pos` and `token` columns of a token part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenIds {
    /// Sequence id.
    pub seq: Vec<u64>,
    /// Position (0 = the `</s>` prefix).
    pub pos: Vec<u16>,
    /// Token id.
    pub token: Vec<u32>,
}

impl TokenIds {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }
}

/// Reads the `seq`, `pos` and `token` columns of a token part, checked against `check` (its
/// manifest entry and footer) when given, and its values against `limits`. Other integer widths
/// (as DuckDB or polars may rewrite the run) are read when the values fit.
pub fn read_token_ids(
    path: &Path,
    check: Option<&PartCheck<'_>>,
    limits: &PartLimits,
) -> Result<TokenIds> {
    let refuse = |reason: String| FormatError::parquet(path, reason);
    let builder = open_part(path, check)?;
    let wanted = ["seq", "pos", "token"];
    let schema = builder.parquet_schema();
    let indices: Vec<usize> = wanted
        .iter()
        .map(|name| {
            (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == *name)
                .ok_or_else(|| refuse(format!("no column '{name}'")))
        })
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::leaves(schema, indices);
    let mut ids = TokenIds::default();
    for batch in read_all(path, builder.with_projection(mask))? {
        extend_integers::<UInt64Type>(&mut ids.seq, &batch, "seq", path)?;
        extend_integers::<UInt16Type>(&mut ids.pos, &batch, "pos", path)?;
        extend_integers::<UInt32Type>(&mut ids.token, &batch, "token", path)?;
    }
    let TokenIds { seq, pos, token } = &ids;
    if let Some(row) = token.iter().position(|&t| t as usize >= limits.vocab) {
        return Err(refuse(format!(
            "column 'token', row {row}: id {} is not below the model's vocabulary of {}",
            token[row], limits.vocab
        )));
    }
    if let Some(row) = pos.iter().position(|&p| usize::from(p) >= limits.positions) {
        return Err(refuse(format!(
            "column 'pos', row {row}: position {} is not below the run's sequence length {}",
            pos[row], limits.positions
        )));
    }
    if let Some(row) = (1..seq.len()).find(|&i| (seq[i - 1], pos[i - 1]) >= (seq[i], pos[i])) {
        return Err(refuse(format!(
            "row {row}: (seq, pos) = ({}, {}) does not follow ({}, {}); rows must be in \
             (seq, pos) order without repeats",
            seq[row],
            pos[row],
            seq[row - 1],
            pos[row - 1]
        )));
    }
    Ok(ids)
}

/// Checks that the activation `rows` read from `path` are the token part's rows (`seq`, `pos`)
/// and that every row's neurons are strictly ascending and below `limits.neurons`.
pub fn check_activation_rows(
    path: &Path,
    rows: &ActivationRows,
    seq: &[u64],
    pos: &[u16],
    limits: &PartLimits,
) -> Result<()> {
    if rows.seq != seq || rows.pos != pos {
        return Err(FormatError::parquet(
            path,
            format!(
                "its {} rows do not match the {} (seq, pos) rows of the token part",
                rows.len(),
                seq.len()
            ),
        ));
    }
    for (row, window) in rows.offsets.windows(2).enumerate() {
        let neurons = &rows.neurons[window[0] as usize..window[1] as usize];
        let ascending = neurons.windows(2).all(|w| w[0] < w[1]);
        let in_range = neurons
            .last()
            .is_none_or(|&n| usize::from(n) < limits.neurons);
        if !ascending || !in_range {
            return Err(FormatError::parquet(
                path,
                format!(
                    "column 'neurons', row {row}: {neurons:?} is not a strictly ascending list \
                     of neuron ids below the FFN width {}",
                    limits.neurons
                ),
            ));
        }
    }
    Ok(())
}
