//! The paper's claims across models and within its figures, each tested on a report's models by
//! a rule of its own (docs/ANALYSIS.md, "The paper's claims, tested"): it holds, does not hold,
//! or cannot be computed from these analyses.
//!
//! A model's size is read from its FFN neurons (layers × FFN width), so the paper's OPT sizes
//! ("13b and larger") are thresholds on that count; the rules across scale take the pre-LN
//! models, as the paper sets the post-LN 350m apart.

use census_format::analysis::tables::{Order, PositionalType};

use crate::analysis::ModelAnalysis;
use crate::tiling::Tiling;

/// FFN neurons of the OPT sizes the claims name: 12 × 3072.
pub const OPT_125M_NEURONS: u64 = 12 * 3072;
/// FFN neurons of OPT-6.7b: 32 × 16384.
pub const OPT_6_7B_NEURONS: u64 = 32 * 16384;
/// FFN neurons of OPT-13b: 40 × 20480.
pub const OPT_13B_NEURONS: u64 = 40 * 20480;
/// FFN neurons of OPT-30b: 48 × 28672.
pub const OPT_30B_NEURONS: u64 = 48 * 28672;

/// The thresholds of the rules, where the paper gives none (`report --claim-*`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClaimRules {
    /// The least |Spearman ρ| between size and a value for a trend across scale to hold.
    pub trend_rho: f64,
    /// A stage of the per-layer detector counts ends where the count turns back by more than
    /// this share of its largest value.
    pub stage_tolerance: f64,
    /// The depths (share of the layers below the split) between which the positional split is
    /// "roughly the first third".
    pub first_third: (f64, f64),
}

impl Default for ClaimRules {
    fn default() -> Self {
        Self {
            trend_rho: 0.8,
            stage_tolerance: 0.1,
            first_third: (0.2, 0.5),
        }
    }
}

impl ClaimRules {
    /// Refuses thresholds outside their ranges, naming the flag.
    pub fn check(&self) -> Result<(), String> {
        let Self {
            trend_rho,
            stage_tolerance,
            first_third: (low, high),
        } = *self;
        if !(trend_rho > 0.0 && trend_rho <= 1.0) {
            return Err(format!("--claim-trend-rho {trend_rho}: must be in (0, 1]"));
        }
        if !(0.0..1.0).contains(&stage_tolerance) {
            return Err(format!(
                "--claim-stage-tolerance {stage_tolerance}: must be in [0, 1)"
            ));
        }
        if !(0.0 <= low && low < high && high <= 1.0) {
            return Err(format!(
                "--claim-split-min {low} and --claim-split-max {high}: need 0 <= min < max <= 1"
            ));
        }
        Ok(())
    }
}

/// What a claim's rule found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The rule holds on these models.
    Holds,
    /// The rule fails on these models.
    DoesNotHold,
    /// These analyses lack what the rule needs.
    NotComputable,
}

impl Verdict {
    /// As the report writes it.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotComputable => "not computable",
        }
    }
}

/// One claim tested.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClaimVerdict {
    /// What the paper claims, in short.
    pub claim: &'static str,
    /// The paper's words.
    pub paper: &'static str,
    /// Where the paper states it.
    pub source: &'static str,
    /// The rule that tests it, with its thresholds.
    pub rule: String,
    /// What the rule found.
    pub verdict: Verdict,
    /// The values it rests on, or what is missing.
    pub value: String,
}

/// What the claims read of one model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelFacts {
    /// Its name.
    pub name: String,
    /// FFN neurons (layers × FFN width): its size.
    pub neurons: u64,
    /// Whether its layer norms come after the sublayers (the 350m).
    pub post_ln: bool,
    /// Dead share over the layers analysed.
    pub dead_share: f64,
    /// Mean activation frequency of the alive neurons.
    pub mean_frequency_alive: Option<f64>,
    /// Token detectors summed over layers.
    pub token_detectors: Option<u64>,
    /// The first unigram-coverage bin's label and its share of the alive neurons counted.
    pub few_token_share: Option<(String, f64)>,
    /// Trigrams with a detecting neuron, over all layers.
    pub covered_trigrams: Option<u64>,
    /// Token detectors of each analysed layer, in order (empty without them).
    pub detectors_by_layer: Vec<u64>,
    /// Positional neurons of every layer of the model by type and strength, or `None` where
    /// some layer has no positional counts.
    pub positional_by_layer: Option<Vec<[[u32; 2]; 4]>>,
    /// Positional neurons by type (strong and weak), in [`PositionalType::ALL`] order.
    pub positional_types: Option<[u64; 4]>,
    /// Layer 1's strong oscillatory neurons, where positional neurons were found.
    pub layer_1_oscillatory: Option<NeuronRanges>,
}

/// Some neurons' position ranges, as Fig. 9 draws them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NeuronRanges {
    /// Each neuron's ranges `[start, end)`.
    pub neurons: Vec<Vec<(u16, u16)>>,
    /// The positions of their curves, `[start, end)`.
    pub span: (u16, u16),
}

impl ModelFacts {
    /// Reads them from an analysis.
    pub fn of(m: &ModelAnalysis) -> Self {
        let config = &m.manifest.model.config;
        let unigram_bins: Vec<_> = (m.coverage.iter())
            .filter(|c| c.order == Order::Unigram)
            .collect();
        let counted: u64 = unigram_bins.iter().map(|c| c.neurons).sum();
        let few_token_share = (counted > 0).then(|| {
            let first = unigram_bins.iter().map(|c| c.bin).min().unwrap_or(0);
            let in_first = unigram_bins.iter().filter(|c| c.bin == first);
            let label = in_first.clone().next().map(|c| c.label.clone());
            let neurons: u64 = in_first.map(|c| c.neurons).sum();
            (label.unwrap_or_default(), neurons as f64 / counted as f64)
        });
        let positional_by_layer = (m.layers.len() == m.model_layers())
            .then(|| {
                m.layers
                    .iter()
                    .map(|l| l.positional)
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        let positional_types = m
            .summary
            .positional
            .as_ref()
            .map(|p| PositionalType::ALL.map(|t| p.by_type.get(&t).map_or(0, |c| c[0] + c[1])));
        let layer_1_oscillatory = m.summary.positional.as_ref().map(|_| {
            let rows: Vec<_> = (m.positional.iter())
                .filter(|p| {
                    p.layer == 1 && p.class.kind == PositionalType::Oscillatory && p.class.strong
                })
                .collect();
            let span = rows.first().map_or((0, 0), |p| {
                let end = usize::from(p.first_position) + p.frequency.len();
                (p.first_position, u16::try_from(end).unwrap_or(u16::MAX))
            });
            NeuronRanges {
                neurons: rows.iter().map(|p| p.ranges.clone()).collect(),
                span,
            }
        });
        ModelFacts {
            name: m.name.clone(),
            neurons: config.total_neurons() as u64,
            post_ln: !config.do_layer_norm_before,
            dead_share: m.summary.dead.share,
            mean_frequency_alive: m.summary.mean_frequency_alive,
            token_detectors: m.summary.token_detectors.as_ref().map(|d| d.detectors),
            few_token_share,
            covered_trigrams: (m.summary.trigram_detectors.as_ref()).map(|d| d.detected_cumulative),
            detectors_by_layer: m
                .layers
                .iter()
                .map_while(|l| l.token_detectors.map(u64::from))
                .collect(),
            positional_by_layer,
            positional_types,
            layer_1_oscillatory,
        }
    }
}

/// Every claim tested on `models` under `rules`, in the order of [`CLAIMS`].
pub fn verdicts(models: &[ModelFacts], rules: &ClaimRules) -> Vec<ClaimVerdict> {
    CLAIMS
        .iter()
        .map(|c| {
            let (verdict, value) = (c.test)(models, rules);
            ClaimVerdict {
                claim: c.claim,
                paper: c.paper,
                source: c.source,
                rule: (c.rule)(rules),
                verdict,
                value,
            }
        })
        .collect()
}

/// The claims a report shows for `models`: every claim where the report holds several models
/// or some claim can be computed for its one model, else none.
pub fn shown(models: &[ModelFacts], rules: &ClaimRules) -> Vec<ClaimVerdict> {
    let all = verdicts(models, rules);
    if models.len() > 1 || all.iter().any(|v| v.verdict != Verdict::NotComputable) {
        all
    } else {
        Vec::new()
    }
}

/// One claim and its test.
struct Claim {
    claim: &'static str,
    paper: &'static str,
    source: &'static str,
    rule: fn(&ClaimRules) -> String,
    test: fn(&[ModelFacts], &ClaimRules) -> (Verdict, String),
}

/// The claims, in the report's order.
const CLAIMS: [Claim; 11] = [
    Claim {
        claim: "More dead neurons with scale",
        paper: "larger models have more dead neurons",
        source: "§3, Fig. 1a",
        rule: |r| {
            format!(
                "Spearman ρ between FFN neurons and dead share ≥ {} (pre-LN models of 3 sizes or \
                 more)",
                r.trend_rho
            )
        },
        test: |m, r| trend(m, r, |f| Some(f.dead_share), Direction::Rising, percent),
    },
    Claim {
        claim: "Lower activation frequency with scale",
        paper: "alive neurons of larger models fire more rarely",
        source: "§3, Fig. 1b",
        rule: |r| {
            format!(
                "Spearman ρ between FFN neurons and mean frequency of alive neurons ≤ −{} \
                 (pre-LN models of 3 sizes or more)",
                r.trend_rho
            )
        },
        test: |m, r| {
            let frequency = |f: &ModelFacts| f.mean_frequency_alive;
            trend(m, r, frequency, Direction::Falling, |x| format!("{x:.4}"))
        },
    },
    Claim {
        claim: "More token detectors with scale",
        paper: "larger models have more token-detecting neurons",
        source: "§4.2, Fig. 3a",
        rule: |r| {
            format!(
                "Spearman ρ between FFN neurons and token detectors ≥ {} (pre-LN models of 3 \
                 sizes or more)",
                r.trend_rho
            )
        },
        test: |m, r| {
            let count = |f: &ModelFacts| f.token_detectors.map(|d| d as f64);
            trend(m, r, count, Direction::Rising, |x| format!("{x:.0}"))
        },
    },
    Claim {
        claim: "Fewer n-grams covering a neuron with scale",
        paper: "larger models' neurons are covered by fewer n-grams; the largest have a \
                substantial share covered by 1 to 5 tokens",
        source: "§4.1, Fig. 2",
        rule: |r| {
            format!(
                "Spearman ρ between FFN neurons and the share of alive neurons in the first \
                 unigram-coverage bin (1-5 tokens) ≥ {} (pre-LN models of 3 sizes or more)",
                r.trend_rho
            )
        },
        test: |m, r| {
            let share = |f: &ModelFacts| f.few_token_share.as_ref().map(|s| s.1);
            trend(m, r, share, Direction::Rising, percent)
        },
    },
    Claim {
        claim: "A jump in covered trigrams at 30b",
        paper: "a \"drastic jump\" in the number of covered trigrams at 30b",
        source: "§4.5, Fig. 14b",
        rule: |_| {
            "of the steps between neighbouring sizes (pre-LN), the step to the first model of \
             30b's FFN neurons or more multiplies the covered trigrams most ((b+1)/(a+1))"
                .to_string()
        },
        test: |m, _| jump_at_30b(m),
    },
    Claim {
        claim: "No n-gram sparsity in the post-LN model",
        paper: "350m's activations are not sparse with respect to the n-grams triggering them",
        source: "§6, §4.1 fn. 7",
        rule: |_| {
            "each post-LN model's share of alive neurons in the first unigram-coverage bin is \
             below every pre-LN model's"
                .to_string()
        },
        test: |m, _| post_ln_not_sparse(m),
    },
    Claim {
        claim: "Token detectors by layer: rise then fall, three stages from 13b",
        paper: "smaller models' counts rise, then fall; models of 13b and larger go through \
                three monotonic stages",
        source: "§4.2, Fig. 3a",
        rule: |r| {
            format!(
                "stages of each pre-LN model's per-layer token-detector counts, a stage ending \
                 where the count turns back by more than {}% of its largest; below 13b's FFN \
                 neurons: rise then fall; from them: three stages (models without token \
                 detectors left out)",
                100.0 * r.stage_tolerance
            )
        },
        test: detector_stages,
    },
    Claim {
        claim: "Oscillatory is the most frequent positional type below 6.7b",
        paper: "oscillatory neurons are the most frequent type for models smaller than 6.7b",
        source: "§5.3, Fig. 8",
        rule: |_| {
            "in each pre-LN model with fewer FFN neurons than 6.7b, oscillatory neurons (strong \
             and weak) outnumber each other type"
                .to_string()
        },
        test: |m, _| oscillatory_most_frequent(m),
    },
    Claim {
        claim: "From 13b to 66b, one-sided neurons replace two-sided ones",
        paper: "from 13b to 66b, the model loses two-sided (red) neurons and uses one-sided \
                (green) ones more",
        source: "§5.3, Fig. 8",
        rule: |_| {
            "from the smallest to the largest pre-LN model of 13b's FFN neurons or more, the \
             share of both-extremes neurons among positional ones falls and that of one-extreme \
             neurons rises"
                .to_string()
        },
        test: |m, _| one_sided_replace_two_sided(m),
    },
    Claim {
        claim: "Two stages of positional neurons: the first third and the rest",
        paper: "positional information is handled in two stages: roughly the first third of \
                the network and the rest",
        source: "§5.3, Fig. 8",
        rule: |r| {
            format!(
                "in each pre-LN model with positional counts in every layer, the split into \
                 lower and upper layers whose counts by type and strength differ most (largest \
                 χ² of the 2×8 table) leaves between {} and {} of the layers below it",
                r.first_third.0, r.first_third.1
            )
        },
        test: two_positional_stages,
    },
    Claim {
        claim: "Layer 1's strong oscillatory neurons of 125m tile all positions",
        paper: "the ten neurons together cover all positions, and none is redundant",
        source: "§1, §5.3, Fig. 9",
        rule: |_| {
            "in each model of 125m's FFN neurons, the ranges where layer 1's strong oscillatory \
             neurons fire on at least half the tokens cover every position of their curves, and \
             no neuron's ranges lie within the others'"
                .to_string()
        },
        test: |m, _| oscillatory_tiling(m),
    },
];

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The direction a trend across scale claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Rising,
    Falling,
}

/// The pre-LN models, smallest first (the report's order among equals).
fn pre_ln_by_size(models: &[ModelFacts]) -> Vec<&ModelFacts> {
    let mut pre: Vec<&ModelFacts> = models.iter().filter(|m| !m.post_ln).collect();
    pre.sort_by_key(|m| m.neurons);
    pre
}

/// A value rising (or falling) with size, by Spearman's ρ over the pre-LN models that have it.
fn trend(
    models: &[ModelFacts],
    rules: &ClaimRules,
    value: impl Fn(&ModelFacts) -> Option<f64>,
    direction: Direction,
    show: impl Fn(f64) -> String,
) -> (Verdict, String) {
    let points: Vec<(&ModelFacts, f64)> = (pre_ln_by_size(models).into_iter())
        .filter_map(|m| value(m).map(|v| (m, v)))
        .collect();
    let mut sizes: Vec<u64> = points.iter().map(|(m, _)| m.neurons).collect();
    sizes.dedup();
    if sizes.len() < 3 {
        return (
            Verdict::NotComputable,
            format!(
                "needs pre-LN models of 3 sizes or more with the value; {} here",
                sizes.len()
            ),
        );
    }
    let xs: Vec<f64> = points.iter().map(|(m, _)| m.neurons as f64).collect();
    let ys: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    let rho = spearman(&xs, &ys);
    let holds = match direction {
        Direction::Rising => rho >= rules.trend_rho,
        Direction::Falling => rho <= -rules.trend_rho,
    };
    let listed: Vec<String> = (points.iter())
        .map(|(m, v)| format!("{} {}", m.name, show(*v)))
        .collect();
    (
        verdict(holds),
        format!("ρ = {rho:.2}; {}", listed.join(", ")),
    )
}

fn verdict(holds: bool) -> Verdict {
    if holds {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    }
}

/// Spearman's rank correlation, ties ranked by their mean; 0 where either side is constant.
fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    let (rx, ry) = (ranks(xs), ranks(ys));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 {
        0.0
    } else {
        cov / (vx * vy).sqrt()
    }
}

/// Ranks from 1, ties given the mean of the ranks they span.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        order[start..end].iter().for_each(|&i| ranks[i] = rank);
        start = end;
    }
    ranks
}

/// Joins each model's entry, marking those that break the rule with ✗.
fn per_model(entries: &[(String, bool)]) -> (Verdict, String) {
    if entries.is_empty() {
        return (Verdict::NotComputable, String::new());
    }
    let listed: Vec<String> = (entries.iter())
        .map(|(text, ok)| {
            if *ok {
                text.clone()
            } else {
                format!("{text} ✗")
            }
        })
        .collect();
    (verdict(entries.iter().all(|e| e.1)), listed.join("; "))
}

/// Not computable, saying what is missing, where `entries` is empty.
fn per_model_or(entries: &[(String, bool)], missing: &str) -> (Verdict, String) {
    match per_model(entries) {
        (Verdict::NotComputable, _) => (Verdict::NotComputable, missing.to_string()),
        found => found,
    }
}

fn jump_at_30b(models: &[ModelFacts]) -> (Verdict, String) {
    let mut sizes: Vec<(&ModelFacts, u64)> = Vec::new();
    for m in pre_ln_by_size(models) {
        let Some(trigrams) = m.covered_trigrams else {
            continue;
        };
        if sizes
            .last()
            .is_none_or(|(last, _)| last.neurons != m.neurons)
        {
            sizes.push((m, trigrams));
        }
    }
    let Some(at) = sizes.iter().position(|(m, _)| m.neurons >= OPT_30B_NEURONS) else {
        return (
            Verdict::NotComputable,
            "needs a pre-LN model of 30b's FFN neurons or more with trigram detectors".into(),
        );
    };
    if at == 0 || sizes.len() < 3 {
        return (
            Verdict::NotComputable,
            "needs a smaller pre-LN model below 30b's size and three sizes in all, each with \
             trigram detectors"
                .into(),
        );
    }
    let step = |i: usize| (sizes[i].1 as f64 + 1.0) / (sizes[i - 1].1 as f64 + 1.0);
    let largest = (1..sizes.len())
        .max_by(|&a, &b| step(a).total_cmp(&step(b)))
        .expect("two sizes or more");
    let listed: Vec<String> = (1..sizes.len())
        .map(|i| {
            format!(
                "{} → {}: ×{:.2}",
                sizes[i - 1].0.name,
                sizes[i].0.name,
                step(i)
            )
        })
        .collect();
    let covered: Vec<String> = (sizes.iter())
        .map(|(m, t)| format!("{} {t}", m.name))
        .collect();
    (
        verdict(step(at) >= step(largest)),
        format!("{}; covered: {}", listed.join(", "), covered.join(", ")),
    )
}

fn post_ln_not_sparse(models: &[ModelFacts]) -> (Verdict, String) {
    let share = |m: &&ModelFacts| m.few_token_share.as_ref().map(|s| s.1);
    let pre: Vec<(&ModelFacts, f64)> = (models.iter().filter(|m| !m.post_ln))
        .filter_map(|m| share(&m).map(|s| (m, s)))
        .collect();
    let Some(&(lowest, lowest_share)) = pre.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return (
            Verdict::NotComputable,
            "needs a pre-LN model with n-gram coverage".into(),
        );
    };
    let entries: Vec<(String, bool)> = (models.iter().filter(|m| m.post_ln))
        .filter_map(|m| share(&m).map(|s| (m, s)))
        .map(|(m, s)| {
            (
                format!(
                    "{} {} (lowest pre-LN: {} {})",
                    m.name,
                    percent(s),
                    lowest.name,
                    percent(lowest_share)
                ),
                s < lowest_share,
            )
        })
        .collect();
    per_model_or(&entries, "needs a post-LN model with n-gram coverage")
}

/// The directions of the monotonic stages of `values`: a stage ends where the values turn back
/// from its extreme by more than `tolerance`. Rising is `true`.
pub fn stages(values: &[f64], tolerance: f64) -> Vec<bool> {
    let Some((&first, rest)) = values.split_first() else {
        return Vec::new();
    };
    let mut directions: Vec<bool> = Vec::new();
    let mut extreme = first;
    for &x in rest {
        match directions.last() {
            None if (x - first).abs() > tolerance => {
                directions.push(x > first);
                extreme = x;
            }
            None => {}
            Some(&rising) => {
                if (rising && x > extreme) || (!rising && x < extreme) {
                    extreme = x;
                } else if (x - extreme).abs() > tolerance {
                    directions.push(!rising);
                    extreme = x;
                }
            }
        }
    }
    directions
}

fn arrows(stages: &[bool]) -> String {
    if stages.is_empty() {
        return "flat".to_string();
    }
    stages.iter().map(|&r| if r { '↑' } else { '↓' }).collect()
}

fn detector_stages(models: &[ModelFacts], rules: &ClaimRules) -> (Verdict, String) {
    let entries: Vec<(String, bool)> = (pre_ln_by_size(models).into_iter())
        .filter(|m| m.detectors_by_layer.len() >= 3 && m.detectors_by_layer.iter().any(|&c| c > 0))
        .map(|m| {
            let counts: Vec<f64> = m.detectors_by_layer.iter().map(|&c| c as f64).collect();
            let largest = counts.iter().copied().fold(0.0, f64::max);
            let found = stages(&counts, rules.stage_tolerance * largest);
            let ok = if m.neurons >= OPT_13B_NEURONS {
                found.len() == 3
            } else {
                found == [true, false]
            };
            (format!("{} {}", m.name, arrows(&found)), ok)
        })
        .collect();
    per_model_or(
        &entries,
        "needs a pre-LN model with token detectors, counted in 3 layers or more",
    )
}

fn oscillatory_most_frequent(models: &[ModelFacts]) -> (Verdict, String) {
    let entries: Vec<(String, bool)> = (pre_ln_by_size(models).into_iter())
        .filter(|m| m.neurons < OPT_6_7B_NEURONS)
        .filter_map(|m| m.positional_types.map(|t| (m, t)))
        .filter(|(_, t)| t.iter().sum::<u64>() > 0)
        .map(|(m, types)| {
            let oscillatory = types[0];
            let (next, next_count) = (PositionalType::ALL.iter().zip(types).skip(1))
                .max_by_key(|(_, c)| *c)
                .map(|(t, c)| (t.name(), c))
                .expect("three other types");
            (
                format!(
                    "{} oscillatory {oscillatory} of {} (next: {next} {next_count})",
                    m.name,
                    types.iter().sum::<u64>()
                ),
                oscillatory > next_count,
            )
        })
        .collect();
    per_model_or(
        &entries,
        "needs a pre-LN model below 6.7b's size with positional neurons",
    )
}

fn one_sided_replace_two_sided(models: &[ModelFacts]) -> (Verdict, String) {
    let large: Vec<(&ModelFacts, [u64; 4])> = (pre_ln_by_size(models).into_iter())
        .filter(|m| m.neurons >= OPT_13B_NEURONS)
        .filter_map(|m| m.positional_types.map(|t| (m, t)))
        .filter(|(_, t)| t.iter().sum::<u64>() > 0)
        .collect();
    let (Some(&(small, s)), Some(&(big, b))) = (large.first(), large.last()) else {
        return (
            Verdict::NotComputable,
            "needs pre-LN models of two sizes from 13b's up, with positional neurons".into(),
        );
    };
    if small.neurons == big.neurons {
        return (
            Verdict::NotComputable,
            "needs pre-LN models of two sizes from 13b's up, with positional neurons".into(),
        );
    }
    let shares = |t: [u64; 4]| {
        let total = t.iter().sum::<u64>() as f64;
        (t[1] as f64 / total, t[2] as f64 / total)
    };
    let ((s_two, s_one), (b_two, b_one)) = (shares(s), shares(b));
    (
        verdict(b_two < s_two && b_one > s_one),
        format!(
            "{}: both extremes {}, one extreme {} → {}: both extremes {}, one extreme {}",
            small.name,
            percent(s_two),
            percent(s_one),
            big.name,
            percent(b_two),
            percent(b_one)
        ),
    )
}

/// The split of the layers into a lower and an upper part whose positional counts by type and
/// strength differ most: the first upper layer and the χ² of the 2×8 table, or `None` where no
/// split tells them apart.
pub fn positional_split(layers: &[[[u32; 2]; 4]]) -> Option<(usize, f64)> {
    let flat = |l: &[[u32; 2]; 4]| -> [f64; 8] {
        let mut out = [0.0; 8];
        for (o, v) in out.iter_mut().zip(l.iter().flatten()) {
            *o = f64::from(*v);
        }
        out
    };
    let sum = |part: &[[[u32; 2]; 4]]| {
        part.iter().map(flat).fold([0.0; 8], |mut acc, l| {
            acc.iter_mut().zip(l).for_each(|(a, x)| *a += x);
            acc
        })
    };
    let chi_square = |lower: [f64; 8], upper: [f64; 8]| {
        let (nl, nu) = (lower.iter().sum::<f64>(), upper.iter().sum::<f64>());
        let n = nl + nu;
        if nl == 0.0 || nu == 0.0 {
            return 0.0;
        }
        (0..8)
            .filter(|&j| lower[j] + upper[j] > 0.0)
            .map(|j| {
                let column = lower[j] + upper[j];
                let (el, eu) = (nl * column / n, nu * column / n);
                (lower[j] - el).powi(2) / el + (upper[j] - eu).powi(2) / eu
            })
            .sum()
    };
    (1..layers.len())
        .map(|k| (k, chi_square(sum(&layers[..k]), sum(&layers[k..]))))
        .filter(|(_, chi)| *chi > 1e-9)
        .fold(None, |best: Option<(usize, f64)>, (k, chi)| match best {
            Some((_, b)) if b >= chi => best,
            _ => Some((k, chi)),
        })
}

fn two_positional_stages(models: &[ModelFacts], rules: &ClaimRules) -> (Verdict, String) {
    let entries: Vec<(String, bool)> = (pre_ln_by_size(models).into_iter())
        .filter_map(|m| m.positional_by_layer.as_ref().map(|l| (m, l)))
        .filter(|(_, l)| l.len() >= 3 && l.iter().flatten().flatten().any(|&c| c > 0))
        .map(|(m, layers)| match positional_split(layers) {
            Some((k, chi)) => {
                let depth = k as f64 / layers.len() as f64;
                (
                    format!(
                        "{} layers 0-{} | {}-{} ({depth:.2} below; χ² {chi:.1})",
                        m.name,
                        k - 1,
                        k,
                        layers.len() - 1
                    ),
                    (rules.first_third.0..=rules.first_third.1).contains(&depth),
                )
            }
            None => (format!("{} no split differs", m.name), false),
        })
        .collect();
    per_model_or(
        &entries,
        "needs a pre-LN model with positional counts in every layer (3 or more)",
    )
}

fn oscillatory_tiling(models: &[ModelFacts]) -> (Verdict, String) {
    let entries: Vec<(String, bool)> = (models.iter())
        .filter(|m| !m.post_ln && m.neurons == OPT_125M_NEURONS)
        .filter_map(|m| m.layer_1_oscillatory.as_ref().map(|o| (m, o)))
        .map(
            |(
                m,
                NeuronRanges {
                    neurons: ranges,
                    span,
                },
            )| {
                if ranges.is_empty() {
                    return (
                        format!("{} no strong oscillatory neurons in layer 1", m.name),
                        false,
                    );
                }
                let tiling = Tiling::of(ranges, *span);
                (
                    format!("{} {} neurons {}", m.name, ranges.len(), tiling.describe()),
                    tiling.tiles(),
                )
            },
        )
        .collect();
    per_model_or(
        &entries,
        "needs a pre-LN model of 125m's size with positional neurons",
    )
}

#[cfg(test)]
mod tests;
