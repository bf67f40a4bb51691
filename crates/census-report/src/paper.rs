//! The paper's headline numbers (`docs/METHODS.md`, "What the paper claims") and this
//! analysis's value of each, for the comparison table.

use crate::analysis::ModelAnalysis;

/// One claim of the paper with our value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Headline {
    /// What is measured.
    pub claim: &'static str,
    /// The paper's value and the model it is stated for.
    pub paper: &'static str,
    /// Where the paper states it.
    pub source: &'static str,
    /// Our value (one per model, in input order).
    pub ours: Vec<String>,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A figure of a model's token-detector summary, or "n/a" when it has none.
fn token_detectors(
    m: &ModelAnalysis,
    figure: impl Fn(&census_format::analysis::summary::DetectorSummary) -> Option<String>,
) -> String {
    or_na(m.summary.token_detectors.as_ref().and_then(figure))
}

/// A detector count with the occurrences its triggers need, the counts under the other
/// minimums where they were computed, and the count with the tokens shuffled (by chance) where
/// it was (`5351 (triggers ≥1 occurrence; ≥5: 4100, ≥20: 2900; tokens shuffled: 12)`).
fn detector_count(d: &census_format::analysis::summary::DetectorSummary) -> String {
    let others: Vec<String> = (d.sensitivity.iter())
        .filter(|(min, _)| *min != d.min_occurrences)
        .map(|(min, count)| format!("≥{min}: {count}"))
        .collect();
    let plural = if d.min_occurrences == 1 { "" } else { "s" };
    let mut text = format!(
        "{} (triggers ≥{} occurrence{plural}",
        d.detectors, d.min_occurrences
    );
    if !others.is_empty() {
        text.push_str("; ");
        text.push_str(&others.join(", "));
    }
    if let Some(shuffled) = d.shuffled {
        text.push_str(&format!("; tokens shuffled: {shuffled}"));
    }
    text.push(')');
    text
}

/// The per-layer share of detected tokens new to all lower layers: in how many layers most
/// are new, the median and the lowest.
fn new_per_layer(d: &census_format::analysis::summary::DetectorSummary) -> Option<String> {
    let by_layer = &d.new_share_by_layer;
    if by_layer.is_empty() {
        return d
            .new_overall_share
            .map(|s| format!("{} pooled", percent(s)));
    }
    let mostly = by_layer.iter().filter(|(_, s)| *s > 0.5).count();
    let mut shares: Vec<f64> = by_layer.iter().map(|(_, s)| *s).collect();
    shares.sort_by(f64::total_cmp);
    let n = shares.len();
    let median = if n % 2 == 1 {
        shares[n / 2]
    } else {
        (shares[n / 2 - 1] + shares[n / 2]) / 2.0
    };
    let (low_layer, low) = by_layer
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("not empty");
    Some(format!(
        "mostly new in {mostly} of {} layers (median {}, lowest {} in layer {low_layer})",
        by_layer.len(),
        percent(median),
        percent(*low)
    ))
}

/// A p-value as a reader expects it: two significant digits, or a bound below 1e-12.
fn p_value(p: f64) -> String {
    if p < 1e-12 {
        "< 1e-12".to_string()
    } else if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

fn or_na(v: Option<String>) -> String {
    v.unwrap_or_else(|| "not computed".to_string())
}

/// The claims with our values for `models`, in [`CLAIMS`] order.
pub fn headlines(models: &[ModelAnalysis]) -> Vec<Headline> {
    CLAIMS
        .iter()
        .map(|claim| Headline {
            claim: claim.claim,
            paper: claim.paper,
            source: claim.source,
            ours: models.iter().map(claim.ours).collect(),
        })
        .collect()
}

/// One claim of the paper, and how our value of it is read from an analysis.
struct Claim {
    /// What is measured.
    claim: &'static str,
    /// The paper's value and the model it is stated for.
    paper: &'static str,
    /// Where the paper states it.
    source: &'static str,
    /// Our value for one model.
    ours: fn(&ModelAnalysis) -> String,
}

/// The claims the comparison table shows, in its order.
const CLAIMS: [Claim; 11] = [
    Claim {
        claim: "Largest share of dead neurons in one layer",
        paper: "more than 70% in some layers (66b)",
        source: "Abstract, §3, Fig. 1a",
        ours: largest_dead_share,
    },
    Claim {
        claim: "Dead neurons in the second half of the network",
        paper: "none: \"the second half is fully alive\"",
        source: "§3, Fig. 1",
        ours: dead_in_second_half,
    },
    Claim {
        claim: "Dead neurons in the post-LN model",
        paper: "none (350m)",
        source: "§6, §4.1 fn. 7",
        ours: dead_in_post_ln_model,
    },
    Claim {
        claim: "Token detectors, summed over layers",
        paper: "5351 (66b)",
        source: "§4.2, Fig. 3a",
        ours: |m| token_detectors(m, |d| Some(detector_count(d))),
    },
    Claim {
        claim: "Most tokens detected in one layer",
        paper: "no more than 1.5k (66b)",
        source: "§4.3, Fig. 3b",
        ours: |m| token_detectors(m, |d| Some(d.max_detected_per_layer.to_string())),
    },
    Claim {
        claim: "Tokens detected over all layers",
        paper: "over 10k (66b)",
        source: "§4.3, Fig. 3b",
        ours: |m| token_detectors(m, |d| Some(d.detected_cumulative.to_string())),
    },
    Claim {
        claim: "Detected tokens new to all lower layers",
        paper: "mostly new in each layer",
        source: "§4.3, Fig. 4",
        ours: |m| token_detectors(m, new_per_layer),
    },
    Claim {
        claim: "Token detectors whose update suppresses their triggers",
        paper: "over 80%",
        source: "§4.4, Fig. 5",
        ours: suppressing_detectors,
    },
    Claim {
        claim: "Strong oscillatory neurons in the second layer (layer 1)",
        paper: "10 (125m), jointly tiling all positions",
        source: "§1, §5.3, Fig. 9",
        ours: |m| {
            or_na(
                m.summary
                    .positional
                    .as_ref()
                    .map(|p| p.strong_oscillatory_layer_1.to_string()),
            )
        },
    },
    Claim {
        claim: "Layers with oscillatory neurons",
        paper: "none in models of 6.7b and larger (our reading of \"larger models do not have \
                oscillatory neurons\")",
        source: "§5.3, Fig. 8",
        ours: layers_with_oscillatory,
    },
    Claim {
        claim: "Positional neurons (MI with position > 0.05)",
        paper: "in every model; the 350m and NoPos models too",
        source: "§5.1, §5.4, Figs. 8, 10, 16",
        ours: |m| or_na(m.summary.positional.as_ref().map(|p| p.total.to_string())),
    },
];

/// The largest dead share of a layer, and the other BOS reading's where it differs.
fn largest_dead_share(m: &ModelAnalysis) -> String {
    let dead = &m.summary.dead;
    let mut text = format!(
        "{} (layer {})",
        percent(dead.max_layer_share),
        dead.max_layer
    );
    if let Some(other) = dead
        .other_reading
        .as_ref()
        .filter(|o| o.total != dead.total)
    {
        text.push_str(&format!(
            "; {}: {} (layer {})",
            if dead.counts_bos {
                "outside </s>"
            } else {
                "</s> counted"
            },
            percent(other.max_layer_share),
            other.max_layer
        ));
    }
    text
}

/// Dead neurons in the layers of the second half of the model.
fn dead_in_second_half(m: &ModelAnalysis) -> String {
    let half = m.model_layers() / 2;
    let dead: f64 = m
        .layers
        .iter()
        .filter(|l| usize::from(l.layer) >= half)
        .map(|l| l.dead_share * f64::from(l.neurons))
        .sum();
    format!("{dead:.0}")
}

/// Dead neurons of a post-LN model (a pre-LN model is said to be one).
fn dead_in_post_ln_model(m: &ModelAnalysis) -> String {
    if m.manifest.model.config.do_layer_norm_before {
        "pre-LN model".to_string()
    } else {
        m.summary.dead.total.to_string()
    }
}

/// The share of token detectors that suppress their triggers, with the share by chance.
fn suppressing_detectors(m: &ModelAnalysis) -> String {
    or_na(m.summary.suppression.as_ref().map(|s| match s.share {
        Some(share) => {
            let mut text = format!("{} of {}", percent(share), s.detectors);
            if let (Some(null), Some(p)) = (s.null_share, s.p_value) {
                text.push_str(&format!(
                    " (by chance {}; p = {})",
                    percent(null),
                    p_value(p)
                ));
            }
            text
        }
        None => "no token detectors".to_string(),
    }))
}

/// The layers holding oscillatory neurons.
fn layers_with_oscillatory(m: &ModelAnalysis) -> String {
    or_na(m.summary.positional.as_ref().map(|p| {
        if p.layers_with_oscillatory.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", p.layers_with_oscillatory)
        }
    }))
}
