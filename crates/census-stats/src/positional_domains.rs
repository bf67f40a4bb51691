//! Positional neurons domain by domain: the paper says a positional neuron's "activation
//! pattern does not change across data domains" (§5). Each domain of the positional data is
//! analysed on its own (MI with position and type), and compared with the pooled analysis.

use std::collections::BTreeMap;

use census_format::analysis::summary::{DomainCount, DomainStability};

use crate::layer_analysis::LayerResult;
use census_format::analysis::options::LogBase;
use census_format::analysis::tables::Classification;

/// One domain's layer results, and the data they rest on.
#[derive(Debug)]
pub struct DomainResults<'a> {
    /// The domain.
    pub domain: String,
    /// Its tokens (`</s>` prefixes included).
    pub tokens: u64,
    /// Its sequences.
    pub sequences: u64,
    /// Its results by layer (positional statistics only).
    pub results: &'a BTreeMap<usize, LayerResult>,
    /// The MI a neuron independent of position reaches by chance on this much data.
    pub chance_mi: f64,
}

/// A neuron's positional statistics in one domain (a row of `positional_domains.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRow {
    /// Layer (0-based).
    pub layer: u16,
    /// Neuron.
    pub neuron: u16,
    /// The domain.
    pub domain: String,
    /// MI with position in this domain.
    pub mi: f64,
    /// Type in this domain, when the MI passes the threshold there.
    pub class: Option<Classification>,
    /// Type in the pooled analysis, when positional there.
    pub pooled: Option<Classification>,
}

impl DomainRow {
    /// Positional in this domain with the pooled type (strength aside).
    pub fn same_type(&self) -> bool {
        matches!((self.class, self.pooled), (Some(a), Some(b)) if a.kind == b.kind)
    }
}

/// The MI with position a neuron independent of position reaches on average by chance (the
/// first-order bias of the plug-in estimate, Miller–Madow) over `tokens` tokens spread over
/// `positions` positions, in `base`.
pub fn chance_mi(positions: usize, tokens: u64, base: LogBase) -> f64 {
    let nats = positions.saturating_sub(1) as f64 / (2.0 * tokens.max(1) as f64);
    match base {
        LogBase::E => nats,
        LogBase::Two => nats / std::f64::consts::LN_2,
    }
}

/// Rows of every neuron positional in the pooled analysis or in some domain, and the counts.
pub fn compare(
    pooled: &[LayerResult],
    domains: &[DomainResults<'_>],
) -> (Vec<DomainRow>, DomainStability) {
    let mut rows = Vec::new();
    let mut counts: Vec<DomainCount> = domains
        .iter()
        .map(|d| DomainCount {
            domain: d.domain.clone(),
            tokens: d.tokens,
            sequences: d.sequences,
            positional: 0,
            same_type: 0,
            chance_mi: d.chance_mi,
        })
        .collect();
    let (mut total, mut everywhere, mut same_everywhere) = (0, 0, 0);
    for whole in pooled {
        let per_domain: Vec<&LayerResult> = domains
            .iter()
            .filter_map(|d| d.results.get(&whole.layer))
            .collect();
        if per_domain.len() < domains.len() || !whole.positions_analysed {
            continue;
        }
        for (n, stats) in whole.neurons.iter().enumerate() {
            let classes: Vec<Option<Classification>> =
                per_domain.iter().map(|r| r.neurons[n].positional).collect();
            if stats.positional.is_none() && classes.iter().all(Option::is_none) {
                continue;
            }
            let mut same = 0;
            for ((d, result), count) in domains.iter().zip(&per_domain).zip(&mut counts) {
                let row = DomainRow {
                    layer: stats.layer,
                    neuron: stats.neuron,
                    domain: d.domain.clone(),
                    mi: result.neurons[n].position_mi.unwrap_or(0.0),
                    class: result.neurons[n].positional,
                    pooled: stats.positional,
                };
                count.positional += u64::from(row.class.is_some());
                count.same_type += u64::from(row.same_type());
                same += usize::from(row.same_type());
                rows.push(row);
            }
            if stats.positional.is_some() {
                total += 1;
                everywhere += u64::from(classes.iter().all(Option::is_some));
                same_everywhere += u64::from(same == domains.len());
            }
        }
    }
    let stability = DomainStability {
        domains: counts,
        pooled: total,
        positional_in_every_domain: everywhere,
        same_type_in_every_domain: same_everywhere,
    };
    (rows, stability)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::positional::mutual_information;

    /// The chance MI is the mean plug-in MI of simulated neurons that fire at random,
    /// independently of position.
    #[test]
    fn chance_mi_is_the_mean_mi_of_neurons_independent_of_position() {
        let (positions, per_position) = (64usize, 40u64);
        let rows = vec![per_position; positions];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let trials = 400;
        let mean: f64 = (0..trials)
            .map(|_| {
                let fires: Vec<u64> = (0..positions)
                    .map(|_| (0..per_position).filter(|_| next() % 10 < 3).count() as u64)
                    .collect();
                mutual_information(&fires, &rows, LogBase::E)
            })
            .sum::<f64>()
            / trials as f64;
        let expected = chance_mi(positions, positions as u64 * per_position, LogBase::E);
        assert!(
            (mean - expected).abs() < 0.1 * expected,
            "simulated {mean}, predicted {expected}"
        );
        let bits = chance_mi(positions, positions as u64 * per_position, LogBase::Two);
        assert!((bits * std::f64::consts::LN_2 - expected).abs() < 1e-12);
    }
}
