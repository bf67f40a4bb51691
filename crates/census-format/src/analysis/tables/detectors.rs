//! `detectors.parquet`: one row per detector, with its vocabulary projection where computed.

use arrow::array::{
    BooleanArray, Float64Array, RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt64Type};

use super::columns::{
    batch, col, f32_lists, names, nested_u32_lists, string_lists, u32_lists, u64_lists,
};
use super::projections::{RankedToken, ranked_columns, read_ranked};
use super::{AnalysisTable, DetectorKind, TableReader};
use crate::error::Result;

/// How a detector's FFN update acts on the vocabulary (the paper's §4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorProjection {
    /// Tokens the update promotes most, highest first.
    pub promoted: Vec<RankedToken>,
    /// Tokens it suppresses most, lowest first.
    pub suppressed: Vec<RankedToken>,
    /// The update's score of each trigger's last token.
    pub trigger_scores: Vec<f32>,
    /// Each trigger's rank from the bottom of the vocabulary (0 = most suppressed).
    pub trigger_bottom_ranks: Vec<u32>,
    /// Whether the update suppresses the triggers (none where the test could not be made).
    pub suppresses_triggers: Option<bool>,
    /// Share of the vocabulary with a negative score.
    pub negative_share: f64,
    /// Probability of the triggers' ranks under the null of random tokens (none where not
    /// computed).
    pub null_probability: Option<f64>,
    /// Mean share of the vocabulary ranked below the triggers.
    pub trigger_rank_share: f64,
}

/// One detector.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorRow {
    /// Layer.
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// Token or trigram detector.
    pub kind: DetectorKind,
    /// The token ids of each trigger, oldest first.
    pub trigger_ids: Vec<Vec<u32>>,
    /// Each trigger's tokens as vocabulary strings, joined by spaces.
    pub triggers: Vec<String>,
    /// Fires on each trigger.
    pub trigger_fires: Vec<u64>,
    /// Occurrences of each trigger.
    pub trigger_occurrences: Vec<u64>,
    /// The neuron's activations (fires) in the counted layers' tokens.
    pub activations: u64,
    /// Share of its activations on the triggers.
    pub coverage: f64,
    /// Triggers needed to reach the coverage threshold.
    pub coverage_count: u32,
    /// The vocabulary projection, where computed.
    pub projection: Option<DetectorProjection>,
}

impl AnalysisTable for DetectorRow {
    const FILE: &'static str = "detectors.parquet";

    fn to_batch(rows: &[Self]) -> Result<RecordBatch> {
        let projection = |f: &dyn Fn(&DetectorProjection) -> &[RankedToken]| {
            rows.iter()
                .map(|r| r.projection.as_ref().map(f))
                .collect::<Vec<_>>()
        };
        let (promoted, suppressed) = (projection(&|p| &p.promoted), projection(&|p| &p.suppressed));
        let mut columns = vec![
            (
                "layer".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.layer))),
            ),
            (
                "neuron".into(),
                col(UInt16Array::from_iter_values(rows.iter().map(|r| r.neuron))),
            ),
            (
                "kind".into(),
                col(StringArray::from_iter_values(
                    rows.iter().map(|r| r.kind.name()),
                )),
            ),
            (
                "trigger_ids".into(),
                nested_u32_lists(rows.iter().map(|r| r.trigger_ids.as_slice())),
            ),
            (
                "triggers".into(),
                string_lists(
                    rows.iter()
                        .map(|r| Some(r.triggers.iter().map(String::as_str).collect())),
                ),
            ),
            (
                "trigger_fires".into(),
                u64_lists(rows.iter().map(|r| Some(r.trigger_fires.clone()))),
            ),
            (
                "trigger_occurrences".into(),
                u64_lists(rows.iter().map(|r| Some(r.trigger_occurrences.clone()))),
            ),
            (
                "activations".into(),
                col(UInt64Array::from_iter_values(
                    rows.iter().map(|r| r.activations),
                )),
            ),
            (
                "coverage".into(),
                col(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.coverage),
                )),
            ),
            (
                "coverage_count".into(),
                col(UInt32Array::from_iter_values(
                    rows.iter().map(|r| r.coverage_count),
                )),
            ),
        ];
        columns.extend(ranked_columns("promoted", &promoted));
        columns.extend(ranked_columns("suppressed", &suppressed));
        fn p(r: &DetectorRow) -> Option<&DetectorProjection> {
            r.projection.as_ref()
        }
        columns.extend([
            (
                "trigger_scores".into(),
                f32_lists(rows.iter().map(|r| p(r).map(|p| p.trigger_scores.clone()))),
            ),
            (
                "trigger_bottom_ranks".into(),
                u32_lists(
                    rows.iter()
                        .map(|r| p(r).map(|p| p.trigger_bottom_ranks.clone())),
                ),
            ),
            (
                "suppresses_triggers".into(),
                col(BooleanArray::from_iter(
                    rows.iter()
                        .map(|r| p(r).and_then(|p| p.suppresses_triggers)),
                )),
            ),
            (
                "negative_share".into(),
                col(Float64Array::from_iter(
                    rows.iter().map(|r| p(r).map(|p| p.negative_share)),
                )),
            ),
            (
                "null_probability".into(),
                col(Float64Array::from_iter(
                    rows.iter().map(|r| p(r).and_then(|p| p.null_probability)),
                )),
            ),
            (
                "trigger_rank_share".into(),
                col(Float64Array::from_iter(
                    rows.iter().map(|r| p(r).map(|p| p.trigger_rank_share)),
                )),
            ),
        ]);
        batch(Self::FILE, columns)
    }

    fn from_table(t: &TableReader) -> Result<Vec<Self>> {
        let layer = t.integers::<UInt16Type>("layer")?;
        let neuron = t.integers::<UInt16Type>("neuron")?;
        let kind = names(t, "kind", DetectorKind::from_name)?;
        let trigger_ids = t.nested_integer_lists::<UInt32Type>("trigger_ids")?;
        let triggers = t.string_lists("triggers")?;
        let fires = t.integer_lists::<UInt64Type>("trigger_fires")?;
        let occurrences = t.integer_lists::<UInt64Type>("trigger_occurrences")?;
        let activations = t.integers::<UInt64Type>("activations")?;
        let coverage = t.numbers("coverage", 0.0, 1.0)?;
        let coverage_count = t.integers::<UInt32Type>("coverage_count")?;
        let promoted = read_ranked(t, "promoted")?;
        let suppressed = read_ranked(t, "suppressed")?;
        let trigger_scores = t.number_lists("trigger_scores", f64::MIN, f64::MAX)?;
        let bottom_ranks = t.integer_lists::<UInt32Type>("trigger_bottom_ranks")?;
        let suppresses = t.optional_bools("suppresses_triggers")?;
        let negative_share = t.optional_numbers("negative_share", 0.0, 1.0)?;
        let null_probability = t.optional_numbers("null_probability", 0.0, 1.0)?;
        let rank_share = t.optional_numbers("trigger_rank_share", 0.0, 1.0)?;
        let list =
            |name: &str, row: usize| t.column_error(name, format!("row {row}: unexpected null"));
        (0..t.len())
            .map(|i| {
                let projection = match (&promoted[i], &suppressed[i]) {
                    (Some(promoted), Some(suppressed)) => Some(DetectorProjection {
                        promoted: promoted.clone(),
                        suppressed: suppressed.clone(),
                        trigger_scores: trigger_scores[i]
                            .as_ref()
                            .ok_or_else(|| list("trigger_scores", i))?
                            .iter()
                            .map(|&s| s as f32)
                            .collect(),
                        trigger_bottom_ranks: bottom_ranks[i]
                            .clone()
                            .ok_or_else(|| list("trigger_bottom_ranks", i))?,
                        suppresses_triggers: suppresses[i],
                        negative_share: negative_share[i]
                            .ok_or_else(|| list("negative_share", i))?,
                        null_probability: null_probability[i],
                        trigger_rank_share: rank_share[i]
                            .ok_or_else(|| list("trigger_rank_share", i))?,
                    }),
                    _ => None,
                };
                Ok(DetectorRow {
                    layer: layer[i],
                    neuron: neuron[i],
                    kind: kind[i],
                    trigger_ids: trigger_ids[i]
                        .clone()
                        .ok_or_else(|| list("trigger_ids", i))?,
                    triggers: triggers[i].clone().ok_or_else(|| list("triggers", i))?,
                    trigger_fires: fires[i].clone().ok_or_else(|| list("trigger_fires", i))?,
                    trigger_occurrences: occurrences[i]
                        .clone()
                        .ok_or_else(|| list("trigger_occurrences", i))?,
                    activations: activations[i],
                    coverage: coverage[i],
                    coverage_count: coverage_count[i],
                    projection,
                })
            })
            .collect()
    }
}
