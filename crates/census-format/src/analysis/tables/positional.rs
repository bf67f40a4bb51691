//! `positional.parquet` (one row per positional neuron, with its curve) and
//! `positional_domains.parquet` (its statistics domain by domain).

use arrow::array::{BooleanArray, Float64Array, RecordBatch, StringArray, UInt16Array};
use arrow::datatypes::UInt16Type;

use super::columns::{batch, col, f32_lists, names, optional_names, u16_lists};
use super::{AnalysisTable, Classification, PositionalType, TableReader};
use crate::error::Result;

/// One positional neuron.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionalRow {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Mutual information with position, in nats.
    pub mi: f64,
    /// Type and strength.
    pub class: Classification,
    /// Position of the first curve value.
    pub first_position: u16,
    /// Activation frequency by position.
    pub frequency: Vec<f32>,
    /// Position ranges `[start, end)` where the neuron fires.
    pub ranges: Vec<(u16, u16)>,
}

impl AnalysisTable for PositionalRow {
    const FILE: &'static str = "positional.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        batch(
            Self::FILE,
            vec![
                (
                    "layer".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
                ),
                (
                    "neuron".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.neuron))),
                ),
                (
                    "mi".into(),
                    col(Float64Array::from_iter_values(rows.iter().map(|r| r.mi))),
                ),
                (
                    "type".into(),
                    col(StringArray::from_iter_values(
                        rows.iter().map(|r| r.class.kind.name()),
                    )),
                ),
                (
                    "strong".into(),
                    col(BooleanArray::from_iter(
                        rows.iter().map(|r| Some(r.class.strong)),
                    )),
                ),
                (
                    "first_position".into(),
                    col(UInt16Array::from_iter_values(
                        rows.iter().map(|r| r.first_position),
                    )),
                ),
                (
                    "frequency".into(),
                    f32_lists(rows.iter().map(|r| Some(r.frequency.clone()))),
                ),
                (
                    "range_starts".into(),
                    u16_lists(rows.iter().map(|r| r.ranges.iter().map(|r| r.0).collect())),
                ),
                (
                    "range_ends".into(),
                    u16_lists(rows.iter().map(|r| r.ranges.iter().map(|r| r.1).collect())),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let mi = t.numbers("mi", 0.0, f64::MAX)?;
        let kind = names(t, "type", PositionalType::from_name)?;
        let strong = t.bools("strong")?;
        let first = t.integers::<UInt16Type>("first_position")?;
        let mut frequency = t.f32_lists("frequency", 0.0, 1.0)?;
        let starts = t.integer_lists::<UInt16Type>("range_starts")?;
        let ends = t.integer_lists::<UInt16Type>("range_ends")?;
        let null =
            |name: &str, row: usize| t.column_error(name, format!("row {row}: unexpected null"));
        (0..t.len())
            .map(|i| {
                let starts = starts[i].as_ref().ok_or_else(|| null("range_starts", i))?;
                let ends = ends[i].as_ref().ok_or_else(|| null("range_ends", i))?;
                if starts.len() != ends.len() {
                    return Err(t.column_error(
                        "range_ends",
                        format!("row {i}: {} ends for {} starts", ends.len(), starts.len()),
                    ));
                }
                Ok(PositionalRow {
                    layer: layer[i],
                    neuron: neuron[i],
                    mi: mi[i],
                    class: Classification {
                        kind: kind[i],
                        strong: strong[i],
                    },
                    first_position: first[i],
                    frequency: frequency[i].take().ok_or_else(|| null("frequency", i))?,
                    ranges: starts.iter().copied().zip(ends.iter().copied()).collect(),
                })
            })
            .collect()
    }
}

/// One neuron's positional statistics on one domain, for every neuron positional in the pooled
/// analysis or in some domain.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionalDomainRow {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// The domain.
    pub domain: String,
    /// Mutual information with position on this domain, in nats.
    pub mi: f64,
    /// Type and strength on this domain, if positional there.
    pub class: Option<Classification>,
    /// Its type in the pooled analysis, if positional there.
    pub pooled_type: Option<PositionalType>,
    /// Positional in both with the same type, or in neither.
    pub same_type: bool,
}

impl AnalysisTable for PositionalDomainRow {
    const FILE: &'static str = "positional_domains.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        batch(
            Self::FILE,
            vec![
                (
                    "layer".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
                ),
                (
                    "neuron".into(),
                    col(UInt16Array::from_iter_values(rows.iter().map(|r| r.neuron))),
                ),
                (
                    "domain".into(),
                    col(StringArray::from_iter_values(
                        rows.iter().map(|r| r.domain.as_str()),
                    )),
                ),
                (
                    "mi".into(),
                    col(Float64Array::from_iter_values(rows.iter().map(|r| r.mi))),
                ),
                (
                    "type".into(),
                    col(StringArray::from_iter(
                        rows.iter().map(|r| r.class.map(|c| c.kind.name())),
                    )),
                ),
                (
                    "strong".into(),
                    col(BooleanArray::from_iter(
                        rows.iter().map(|r| r.class.map(|c| c.strong)),
                    )),
                ),
                (
                    "pooled_type".into(),
                    col(StringArray::from_iter(
                        rows.iter().map(|r| r.pooled_type.map(|k| k.name())),
                    )),
                ),
                (
                    "same_type".into(),
                    col(BooleanArray::from_iter(
                        rows.iter().map(|r| Some(r.same_type)),
                    )),
                ),
            ],
        )
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let domain = t.strings("domain")?;
        let mi = t.numbers("mi", 0.0, f64::MAX)?;
        let kind = optional_names(t, "type", PositionalType::from_name)?;
        let strong = t.optional_bools("strong")?;
        let pooled = optional_names(t, "pooled_type", PositionalType::from_name)?;
        let same = t.bools("same_type")?;
        Ok((0..t.len())
            .map(|i| PositionalDomainRow {
                layer: layer[i],
                neuron: neuron[i],
                domain: domain[i].clone(),
                mi: mi[i],
                class: kind[i].map(|kind| Classification {
                    kind,
                    strong: strong[i].unwrap_or(false),
                }),
                pooled_type: pooled[i],
                same_type: same[i],
            })
            .collect())
    }
}
