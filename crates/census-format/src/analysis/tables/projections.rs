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
    let scores = t.f32_lists(&scores_column, f64::MIN, f64::MAX)?;
    (ids.into_iter().zip(names).zip(scores))
        .enumerate()
        .map(|(i, ((ids, names), scores))| match (ids, names, scores) {
            (Some(ids), Some(names), Some(scores))
                if ids.len() == names.len() && ids.len() == scores.len() =>
            {
                Ok(Some(
                    ids.into_iter()
                        .zip(names)
                        .zip(scores)
                        .map(|((id, name), score)| RankedToken { id, name, score })
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
        (promoted.into_iter().zip(suppressed))
            .enumerate()
            .map(|(i, (promoted, suppressed))| {
                Ok(ProjectionRow {
                    layer: layer[i],
                    neuron: neuron[i],
                    promoted: promoted.ok_or_else(|| disagree(t, "promoted", i))?,
                    suppressed: suppressed.ok_or_else(|| disagree(t, "suppressed", i))?,
                })
            })
            .collect()
    }
}

/// One alive neuron's vocabulary projection as token ids ([`ProjectionRow::read_ids`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionIds {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Tokens the update promotes most, highest first.
    pub promoted: Vec<u32>,
    /// Tokens it suppresses most, lowest first.
    pub suppressed: Vec<u32>,
}

impl ProjectionRow {
    /// The projections of analysis `dir`, a model's of `vocab` tokens, as token ids, with the
    /// name of each token they hold once, by id: for a reader of every neuron's projection, which
    /// needs no string per neuron and token. The scores are not read; an id outside the
    /// vocabulary is an error naming the row.
    pub fn read_ids(
        dir: &std::path::Path,
        vocab: usize,
    ) -> Result<(Vec<ProjectionIds>, Vec<Option<String>>)> {
        let t = TableReader::read(&dir.join(Self::FILE))?;
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let mut names: Vec<Option<String>> = Vec::new();
        let mut sides = Vec::new();
        for prefix in ["promoted", "suppressed"] {
            let ids = t.integer_lists::<UInt32Type>(&format!("{prefix}_ids"))?;
            let ids: Vec<Vec<u32>> = (ids.into_iter().enumerate())
                .map(|(i, ids)| ids.ok_or_else(|| disagree(&t, prefix, i)))
                .collect::<Result<_>>()?;
            let mut named = vec![0usize; ids.len()];
            t.visit_list_strings(prefix, |row, place, name| {
                let id = *ids[row]
                    .get(place)
                    .ok_or_else(|| disagree(&t, prefix, row))?;
                named[row] += 1;
                let slot = id as usize;
                if slot >= vocab {
                    return Err(t.column_error(
                        &format!("{prefix}_ids"),
                        format!("row {row}: token id {id} is not below the vocabulary of {vocab}"),
                    ));
                }
                if slot >= names.len() {
                    names.resize(slot + 1, None);
                }
                names[slot].get_or_insert_with(|| name.to_string());
                Ok(())
            })?;
            if let Some(row) = (0..ids.len()).find(|&r| named[r] != ids[r].len()) {
                return Err(disagree(&t, prefix, row));
            }
            sides.push(ids);
        }
        let suppressed = sides.pop().expect("two sides");
        let promoted = sides.pop().expect("two sides");
        let rows = (promoted.into_iter().zip(suppressed).enumerate())
            .map(|(i, (promoted, suppressed))| ProjectionIds {
                layer: layer[i],
                neuron: neuron[i],
                promoted,
                suppressed,
            })
            .collect();
        Ok((rows, names))
    }
}
