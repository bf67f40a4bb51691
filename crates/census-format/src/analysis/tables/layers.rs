//! `layers.parquet`: one row per layer.

use arrow::array::{ArrayRef, Float64Array, RecordBatch, UInt16Array, UInt32Array, UInt64Array};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};

use super::columns::{batch, col};
use super::{AnalysisTable, PositionalType, TableReader};
use crate::error::Result;

/// Detected n-grams of one layer against the layers below it (the paper's §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectedCoverage {
    /// N-grams with a detector in this layer.
    pub detected: u64,
    /// N-grams with a detector in this layer or one below.
    pub cumulative: u64,
    /// Detected here and in no lower layer.
    pub new_overall: u64,
    /// Detected here but not in the previous layer.
    pub new_vs_previous: u64,
}

/// The column suffixes of [`DetectedCoverage`]'s fields, in order.
const DETECTED_SUFFIXES: [&str; 4] = [
    "detected",
    "detected_cumulative",
    "new_overall",
    "new_vs_previous",
];

impl DetectedCoverage {
    /// Detected, cumulative, new overall and new vs the previous layer, in that order.
    pub fn fields(self) -> [u64; 4] {
        [
            self.detected,
            self.cumulative,
            self.new_overall,
            self.new_vs_previous,
        ]
    }
}

/// One layer's aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    /// Layer (0-based).
    pub layer: u16,
    /// Tokens the frequencies are over.
    pub tokens: u64,
    /// Neurons in the layer.
    pub neurons: u32,
    /// Dead neurons.
    pub dead: u32,
    /// `dead / neurons`.
    pub dead_share: f64,
    /// Neurons that never fired, the `</s>` prefix included.
    pub dead_with_bos: u32,
    /// Neurons that never fired outside the `</s>` prefix.
    pub dead_without_bos: u32,
    /// Mean activation frequency of the alive neurons (none if all are dead).
    pub mean_frequency_alive: Option<f64>,
    /// Token detectors (none if unigrams were not counted in this layer).
    pub token_detectors: Option<u32>,
    /// Trigram detectors (none if trigrams were not counted).
    pub trigram_detectors: Option<u32>,
    /// Detected-token coverage (where unigrams were counted in every layer up to this one).
    pub tokens_detected: Option<DetectedCoverage>,
    /// Detected-trigram coverage.
    pub trigrams_detected: Option<DetectedCoverage>,
    /// Positional neurons by type and strength, `[type][strong as usize]` (none if the MI was
    /// not computed).
    pub positional: Option<[[u32; 2]; 4]>,
}

/// `oscillatory_strong`, `oscillatory_weak`, … in the order of `[type][strong as usize]`'s
/// strong-first listing.
fn positional_columns() -> impl Iterator<Item = (PositionalType, bool, String)> {
    PositionalType::ALL.into_iter().flat_map(|kind| {
        [(true, "strong"), (false, "weak")]
            .map(|(strong, name)| (kind, strong, format!("{}_{name}", kind.column_stem())))
    })
}

impl AnalysisTable for LayerRow {
    const FILE: &'static str = "layers.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let u32s =
            |f: &dyn Fn(&Self) -> u32| col(UInt32Array::from_iter_values(rows.iter().map(f)));
        let mut columns: Vec<(String, ArrayRef)> = vec![
            (
                "layer".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|l| l.layer))),
            ),
            (
                "tokens".into(),
                col(UInt64Array::from_iter_values(rows.iter().map(|l| l.tokens))),
            ),
            ("neurons".into(), u32s(&|l| l.neurons)),
            ("dead".into(), u32s(&|l| l.dead)),
            (
                "dead_share".into(),
                col(Float64Array::from_iter_values(
                    rows.iter().map(|l| l.dead_share),
                )),
            ),
            ("dead_with_bos".into(), u32s(&|l| l.dead_with_bos)),
            ("dead_without_bos".into(), u32s(&|l| l.dead_without_bos)),
            (
                "mean_frequency_alive".into(),
                col(Float64Array::from_iter(
                    rows.iter().map(|l| l.mean_frequency_alive),
                )),
            ),
            (
                "token_detectors".into(),
                col(UInt32Array::from_iter(
                    rows.iter().map(|l| l.token_detectors),
                )),
            ),
            (
                "trigram_detectors".into(),
                col(UInt32Array::from_iter(
                    rows.iter().map(|l| l.trigram_detectors),
                )),
            ),
        ];
        for (prefix, pick) in [
            (
                "tokens",
                (|l: &Self| l.tokens_detected) as fn(&Self) -> Option<DetectedCoverage>,
            ),
            ("trigrams", |l: &Self| l.trigrams_detected),
        ] {
            for (field, suffix) in DETECTED_SUFFIXES.into_iter().enumerate() {
                columns.push((
                    format!("{prefix}_{suffix}"),
                    col(UInt64Array::from_iter(
                        rows.iter().map(|l| pick(l).map(|c| c.fields()[field])),
                    )),
                ));
            }
        }
        columns.push((
            "positional".into(),
            col(UInt32Array::from_iter(
                rows.iter()
                    .map(|l| l.positional.map(|p| p.iter().flatten().sum())),
            )),
        ));
        for (kind, strong, name) in positional_columns() {
            columns.push((
                name,
                col(UInt32Array::from_iter(rows.iter().map(|l| {
                    l.positional.map(|p| p[kind as usize][usize::from(strong)])
                }))),
            ));
        }
        batch(Self::FILE, columns)
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let tokens = t.integers::<UInt64Type>("tokens")?;
        let neurons = t.integers::<UInt32Type>("neurons")?;
        let dead = t.integers::<UInt32Type>("dead")?;
        let dead_share = t.numbers("dead_share", 0.0, 1.0)?;
        let dead_with_bos = t.integers::<UInt32Type>("dead_with_bos")?;
        let dead_without_bos = t.integers::<UInt32Type>("dead_without_bos")?;
        let mean = t.optional_numbers("mean_frequency_alive", 0.0, 1.0)?;
        let token_detectors = t.optional_integers::<UInt32Type>("token_detectors")?;
        let trigram_detectors = t.optional_integers::<UInt32Type>("trigram_detectors")?;
        let detected = |prefix: &str| -> Result<Vec<Option<DetectedCoverage>>> {
            let mut fields = Vec::new();
            for suffix in DETECTED_SUFFIXES {
                fields.push(t.optional_integers::<UInt64Type>(&format!("{prefix}_{suffix}"))?);
            }
            Ok((0..t.len())
                .map(|i| {
                    Some(DetectedCoverage {
                        detected: fields[0][i]?,
                        cumulative: fields[1][i]?,
                        new_overall: fields[2][i]?,
                        new_vs_previous: fields[3][i]?,
                    })
                })
                .collect())
        };
        let (tokens_detected, trigrams_detected) = (detected("tokens")?, detected("trigrams")?);
        let mut by_type = Vec::new();
        for (kind, strong, name) in positional_columns() {
            by_type.push((kind, strong, t.optional_integers::<UInt32Type>(&name)?));
        }
        Ok((0..t.len())
            .map(|i| LayerRow {
                layer: layer[i],
                tokens: tokens[i],
                neurons: neurons[i],
                dead: dead[i],
                dead_share: dead_share[i],
                dead_with_bos: dead_with_bos[i],
                dead_without_bos: dead_without_bos[i],
                mean_frequency_alive: mean[i],
                token_detectors: token_detectors[i],
                trigram_detectors: trigram_detectors[i],
                tokens_detected: tokens_detected[i],
                trigrams_detected: trigrams_detected[i],
                positional: by_type[0].2[i].map(|_| {
                    let mut p = [[0; 2]; 4];
                    for (kind, strong, counts) in &by_type {
                        p[*kind as usize][usize::from(*strong)] = counts[i].unwrap_or(0);
                    }
                    p
                }),
            })
            .collect())
    }
}
