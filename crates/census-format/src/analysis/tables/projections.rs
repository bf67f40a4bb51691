//! `projections.parquet`: the top promoted and suppressed tokens of every alive neuron.

use arrow::array::{ArrayRef, RecordBatch, UInt16Array};
use arrow::datatypes::{UInt16Type, UInt32Type};

use super::columns::{batch, col, f32_lists, string_lists, u32_lists};
use super::{AnalysisTable, TableReader};
use crate::error::{FormatError, Result};

/// A token of a neuron's vocabulary projection.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RankedToken {
    /// Token id.
    pub id: u32,
    /// The token's string in the vocabulary.
    pub name: String,
    /// Its score: the FFN update's logit for it.
    pub score: f32,
}

/// The `<prefix>_ids`, `<prefix>` and `<prefix>_scores` columns of ranked token lists, one
/// optional list per row.
pub(crate) fn ranked_columns(
    prefix: &str,
    rows: &[Option<&[RankedToken]>],
) -> [(String, ArrayRef); 3] {
    [
        (
            format!("{prefix}_ids"),
            u32_lists(
                rows.iter()
                    .map(|r| r.map(|t| t.iter().map(|t| t.id).collect())),
            ),
        ),
        (
            prefix.to_string(),
            string_lists(
                rows.iter()
                    .map(|r| r.map(|t| t.iter().map(|t| t.name.as_str()).collect())),
            ),
        ),
        (
            format!("{prefix}_scores"),
            f32_lists(
                rows.iter()
                    .map(|r| r.map(|t| t.iter().map(|t| t.score).collect())),
            ),
        ),
    ]
}

/// The ranked token lists of columns `<prefix>_ids`, `<prefix>` and `<prefix>_scores`, null
/// lists as `None`; the three lists of a row must have one length.
pub(crate) fn read_ranked(t: &TableReader, prefix: &str) -> Result<Vec<Option<Vec<RankedToken>>>> {
    let ids_column = format!("{prefix}_ids");
    let scores_column = format!("{prefix}_scores");
    let ids = t.integer_lists::<UInt32Type>(&ids_column)?;
    let names = t.string_lists(prefix)?;
    let scores = t.number_lists(&scores_column, f64::MIN, f64::MAX)?;
    (0..t.len())
        .map(|i| match (&ids[i], &names[i], &scores[i]) {
            (Some(ids), Some(names), Some(scores))
                if ids.len() == names.len() && ids.len() == scores.len() =>
            {
                Ok(Some(
                    ids.iter()
                        .zip(names)
                        .zip(scores)
                        .map(|((&id, name), &score)| RankedToken {
                            id,
                            name: name.clone(),
                            score: score as f32,
                        })
                        .collect(),
                ))
            }
            (None, None, None) => Ok(None),
            _ => Err(disagree(t, prefix, i)),
        })
        .collect()
}

fn disagree(t: &TableReader, prefix: &str, row: usize) -> FormatError {
    t.column_error(
        prefix,
        format!("row {row}: the ids, names and scores lists disagree in length or nulls"),
    )
}

/// One alive neuron's vocabulary projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionRow {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Tokens the update promotes most, highest first.
    pub promoted: Vec<RankedToken>,
    /// Tokens it suppresses most, lowest first.
    pub suppressed: Vec<RankedToken>,
}

impl AnalysisTable for ProjectionRow {
    const FILE: &'static str = "projections.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let promoted: Vec<_> = rows.iter().map(|r| Some(r.promoted.as_slice())).collect();
        let suppressed: Vec<_> = rows.iter().map(|r| Some(r.suppressed.as_slice())).collect();
        let mut columns = vec![
            (
                "layer".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
            ),
            (
                "neuron".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.neuron))),
            ),
        ];
        columns.extend(ranked_columns("promoted", &promoted));
        columns.extend(ranked_columns("suppressed", &suppressed));
        batch(Self::FILE, columns)
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let promoted = read_ranked(t, "promoted")?;
        let suppressed = read_ranked(t, "suppressed")?;
        (0..t.len())
            .map(|i| {
                Ok(ProjectionRow {
                    layer: layer[i],
                    neuron: neuron[i],
                    promoted: promoted[i]
                        .clone()
                        .ok_or_else(|| disagree(t, "promoted", i))?,
                    suppressed: suppressed[i]
                        .clone()
                        .ok_or_else(|| disagree(t, "suppressed", i))?,
                })
            })
            .collect()
    }
}
