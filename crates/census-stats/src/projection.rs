//! Detector updates projected onto the vocabulary (§3.8): the top promoted and bottom suppressed
//! tokens of each detector's fc2 column, and whether it points away from its triggers.

use crate::error::ModelFilesError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use census_format::model::ModelConfig;
use census_format::run::manifest::FileFingerprint;
use census_model::checkpoint::CheckpointFiles;
use census_model::{CheckpointPlan, CpuBackend};

use crate::detectors::Detector;
use crate::error::{Result, StatsError};
use crate::model_files::{model_spec, resolve_model};
use crate::ngram::unpack;
use crate::suppression::null_probability;
use census_format::analysis::options::{ProjectionOptions, SuppressionRule};
use census_format::analysis::tables::Order;

/// The vocabulary projection of one detector.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// The `top_k` most promoted token ids, highest score first.
    pub promoted: Vec<(u32, f32)>,
    /// The `top_k` most suppressed token ids, lowest score first.
    pub suppressed: Vec<(u32, f32)>,
    /// Score of each trigger token (token detectors; the last token of each trigram for trigram
    /// detectors).
    pub trigger_scores: Vec<f32>,
    /// Rank of each trigger token from the bottom (0 = the most suppressed token).
    pub trigger_bottom_ranks: Vec<u32>,
    /// Whether the update points away from the triggers (token detectors only).
    pub suppresses_triggers: Option<bool>,
    /// Share of the real vocabulary whose score is below zero.
    pub negative_share: f64,
    /// Mean bottom rank of the trigger tokens as a share of the real vocabulary (0: the most
    /// suppressed token; about 0.5 for tokens the update ignores).
    pub trigger_rank_share: f64,
    /// The chance that the suppression rule would hold for as many tokens drawn at random from
    /// the real vocabulary (token detectors only; see [`crate::suppression`]).
    pub null_probability: Option<f64>,
}

/// Finds the checkpoint the runs were made with: `explicit` if given, else the recorded source
/// (a directory, or a hub id resolved through the Hugging Face cache). The weight files must be
/// the ones the runs fingerprinted, and its `config.json` the configuration they recorded.
pub fn locate_weights(
    explicit: Option<&Path>,
    source: &str,
    expected: &[FileFingerprint],
    config: &ModelConfig,
    run_dir: &Path,
) -> Result<PathBuf> {
    let dir = resolve_model(&model_spec(explicit, source))?;
    if !dir.is_dir() {
        return Err(ModelFilesError::NotADirectory(dir).into());
    }
    let files = CheckpointFiles::discover(&dir)?;
    let found = files
        .paths()
        .iter()
        .map(|p| FileFingerprint::of(p).map_err(StatsError::from))
        .collect::<Result<Vec<_>>>()?;
    let manifest = run_dir.join(census_format::run::manifest::MANIFEST_FILE);
    if found != expected {
        return Err(ModelFilesError::WeightsDiffer { dir, manifest }.into());
    }
    let on_disk = census_model::family::read_config(dir.join("config.json"))?;
    if &on_disk != config {
        return Err(ModelFilesError::ConfigDiffers { dir, manifest }.into());
    }
    Ok(dir)
}

/// Projects every detector's update onto the first `real_vocab` token ids. Loads the embeddings
/// once and each layer with detectors in turn, on the CPU in f32.
pub fn project_detectors(
    dir: &Path,
    config: &ModelConfig,
    detectors: &[Detector],
    real_vocab: usize,
    options: &ProjectionOptions,
) -> Result<Vec<Projection>> {
    let device = Default::default();
    let plan = CheckpointPlan::open(dir, config)?;
    let model = plan.load_embeddings::<CpuBackend>(&device, DType::F32)?;
    let real_vocab = real_vocab.min(config.vocab_size);
    let mut by_layer: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, d) in detectors.iter().enumerate() {
        by_layer.entry(d.layer).or_default().push(i);
    }
    let mut projections: Vec<Option<Projection>> = vec![None; detectors.len()];
    for (layer, indices) in by_layer {
        let _span = tracing::info_span!("project", layer, detectors = indices.len()).entered();
        let weights = plan.load_layer::<CpuBackend>(layer, &device, DType::F32)?;
        let neurons: Vec<i64> = indices
            .iter()
            .map(|&i| i64::from(detectors[i].neuron))
            .collect();
        let count = neurons.len();
        let columns =
            Tensor::<CpuBackend, 1, Int>::from_data(TensorData::new(neurons, [count]), &device);
        let updates = weights
            .ffn()
            .update_vectors()
            .select(1, columns)
            .transpose();
        let scores = model
            .vocabulary_scores(updates, options.final_norm_scale)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| ModelFilesError::Scores(format!("{e:?}")))?;
        let vocab = config.vocab_size;
        for (row, &i) in indices.iter().enumerate() {
            let row_scores = &scores[row * vocab..row * vocab + real_vocab];
            projections[i] = Some(project_one(row_scores, &detectors[i], options));
        }
    }
    Ok(projections
        .into_iter()
        .map(|p| p.expect("every detector's layer is projected"))
        .collect())
}

/// Token ids with their scores.
pub type Scored = Vec<(u32, f32)>;

/// The `k` highest-scoring tokens (highest first) and the `k` lowest (lowest first); ties go
/// to the lower id.
pub fn extremes(scores: &[f32], k: usize) -> (Scored, Scored) {
    let by_score = |a: &u32, b: &u32| {
        scores[*a as usize]
            .total_cmp(&scores[*b as usize])
            .then(a.cmp(b))
    };
    let k = k.min(scores.len());
    if k == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut ids: Vec<u32> = (0..scores.len() as u32).collect();
    ids.select_nth_unstable_by(k - 1, by_score);
    let mut low: Vec<u32> = ids[..k].to_vec();
    low.sort_by(by_score);
    let mut ids: Vec<u32> = (0..scores.len() as u32).collect();
    ids.select_nth_unstable_by(scores.len() - k, by_score);
    let mut high: Vec<u32> = ids[scores.len() - k..].to_vec();
    high.sort_by(|a, b| by_score(b, a));
    let with = |v: Vec<u32>| v.into_iter().map(|t| (t, scores[t as usize])).collect();
    (with(high), with(low))
}

/// Rank of token `t` from the bottom of `scores` (0 = the lowest; ties go to the lower id).
fn bottom_rank(scores: &[f32], t: u32) -> u32 {
    let Some(&own) = scores.get(t as usize) else {
        return u32::MAX;
    };
    scores
        .iter()
        .enumerate()
        .filter(|&(u, s)| s.total_cmp(&own).then((u as u32).cmp(&t)).is_lt())
        .count() as u32
}

/// The projection of one detector given its scores over the vocabulary.
pub fn project_one(scores: &[f32], detector: &Detector, options: &ProjectionOptions) -> Projection {
    let (promoted, suppressed) = extremes(scores, options.top_k);
    let trigger_tokens: Vec<u32> = detector
        .triggers
        .iter()
        .map(|t| *unpack(t.ngram, detector.order.n()).last().expect("n >= 1"))
        .collect();
    let score_of = |t: u32| scores.get(t as usize).copied().unwrap_or(f32::NAN);
    let trigger_scores: Vec<f32> = trigger_tokens.iter().map(|&t| score_of(t)).collect();
    let trigger_bottom_ranks: Vec<u32> = trigger_tokens
        .iter()
        .map(|&t| bottom_rank(scores, t))
        .collect();
    let suppresses_triggers = (detector.order == Order::Unigram).then(|| match options.rule {
        SuppressionRule::Mean => {
            trigger_scores.iter().map(|&s| f64::from(s)).sum::<f64>()
                / (trigger_scores.len() as f64)
                < 0.0
        }
        SuppressionRule::All => trigger_scores.iter().all(|&s| s < 0.0),
    });
    let negative_share =
        scores.iter().filter(|&&s| s < 0.0).count() as f64 / scores.len().max(1) as f64;
    let ranks: &Vec<u32> = &trigger_bottom_ranks;
    let trigger_rank_share = ranks.iter().map(|&r| f64::from(r)).sum::<f64>()
        / ranks.len().max(1) as f64
        / (scores.len().max(2) - 1) as f64;
    let null_probability = (detector.order == Order::Unigram).then(|| {
        let seed = (detector.layer as u64) << 16 | u64::from(detector.neuron);
        null_probability(scores, trigger_tokens.len(), options.rule, seed)
    });
    Projection {
        promoted,
        suppressed,
        trigger_scores,
        trigger_bottom_ranks,
        suppresses_triggers,
        negative_share,
        trigger_rank_share,
        null_probability,
    }
}

/// The top and bottom tokens of one neuron's update (any neuron, detector or not).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronProjection {
    /// Layer.
    pub layer: usize,
    /// Neuron.
    pub neuron: u16,
    /// Most promoted tokens, highest score first.
    pub promoted: Vec<(u32, f32)>,
    /// Most suppressed tokens, lowest score first.
    pub suppressed: Vec<(u32, f32)>,
}

/// Neurons projected per matmul (bounds the score matrix to `CHUNK × vocab` floats).
const CHUNK: usize = 512;

/// Projects the update of every neuron in `neurons` (per layer) onto the first `real_vocab`
/// tokens, in chunks, on the CPU in f32.
pub fn project_neurons(
    dir: &Path,
    config: &ModelConfig,
    neurons: &BTreeMap<usize, Vec<u16>>,
    real_vocab: usize,
    options: &ProjectionOptions,
) -> Result<Vec<NeuronProjection>> {
    let device = Default::default();
    let plan = CheckpointPlan::open(dir, config)?;
    let model = plan.load_embeddings::<CpuBackend>(&device, DType::F32)?;
    let real_vocab = real_vocab.min(config.vocab_size);
    let vocab = config.vocab_size;
    let mut out = Vec::new();
    for (&layer, list) in neurons {
        let _span = tracing::info_span!("project_all", layer, neurons = list.len()).entered();
        let weights = plan.load_layer::<CpuBackend>(layer, &device, DType::F32)?;
        let updates = weights.ffn().update_vectors();
        for chunk in list.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|&n| i64::from(n)).collect();
            let columns = Tensor::<CpuBackend, 1, Int>::from_data(
                TensorData::new(ids, [chunk.len()]),
                &device,
            );
            let selected = updates.clone().select(1, columns).transpose();
            let scores = model
                .vocabulary_scores(selected, options.final_norm_scale)
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| ModelFilesError::Scores(format!("{e:?}")))?;
            for (row, &neuron) in chunk.iter().enumerate() {
                let (promoted, suppressed) = extremes(
                    &scores[row * vocab..row * vocab + real_vocab],
                    options.top_k,
                );
                out.push(NeuronProjection {
                    layer,
                    neuron,
                    promoted,
                    suppressed,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_ranks_follow_a_full_sort() {
        let scores: Vec<f32> = (0..50)
            .map(|i| ((i * 37 % 50) as f32 - 25.0) / 7.0)
            .collect();
        let mut order: Vec<u32> = (0..50).collect();
        order.sort_by(|&a, &b| {
            scores[a as usize]
                .total_cmp(&scores[b as usize])
                .then(a.cmp(&b))
        });
        let (high, low) = extremes(&scores, 5);
        assert_eq!(low.iter().map(|p| p.0).collect::<Vec<_>>(), order[..5]);
        let top: Vec<u32> = order.iter().rev().take(5).copied().collect();
        assert_eq!(high.iter().map(|p| p.0).collect::<Vec<_>>(), top);
        for (r, &t) in order.iter().enumerate() {
            assert_eq!(bottom_rank(&scores, t), r as u32);
        }
    }

    #[test]
    fn a_detector_gets_its_null_chance_and_trigger_rank() {
        // Ten tokens, four negative; the triggers are the two most negative.
        let scores = [-4.0f32, -3.0, -1.0, -0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let detector = Detector {
            layer: 1,
            neuron: 3,
            order: Order::Unigram,
            triggers: [0u32, 1]
                .iter()
                .map(|&t| crate::detectors::Trigger {
                    ngram: crate::ngram::pack(&[t]),
                    fires: 5,
                    occurrences: 5,
                })
                .collect(),
            activations: 10,
            covered: 10,
            coverage_count: 2,
        };
        let options = ProjectionOptions {
            rule: SuppressionRule::All,
            ..Default::default()
        };
        let p = project_one(&scores, &detector, &options);
        assert_eq!(p.suppresses_triggers, Some(true));
        assert!((p.negative_share - 0.4).abs() < 1e-12);
        // Two of ten drawn, both negative: 4/10 · 3/9.
        assert!((p.null_probability.unwrap() - 4.0 / 30.0).abs() < 1e-12);
        // Ranks 0 and 1 of 0..=9: mean 0.5 over 9.
        assert!((p.trigger_rank_share - 0.5 / 9.0).abs() < 1e-12);
    }
}
