//! A null baseline for the paper's suppression claim (§4.4: "for over 80% of token-detecting
//! neurons their updates point in the negative direction from the triggering tokens"). The paper
//! gives no baseline; here, for each token detector, the chance that its rule would hold for as
//! many tokens drawn at random from the real vocabulary, and over all detectors an exact one-sided
//! test of the observed count against those chances (a sign test with unequal probabilities).

use census_format::analysis::options::SuppressionRule;

/// Random draws per detector when the chance has no closed form (the mean rule with several
/// triggers).
pub const NULL_DRAWS: usize = 4096;

/// The chance that `rule` holds for `triggers` distinct tokens drawn uniformly from the tokens
/// scored in `scores` (the real vocabulary). Exact for one trigger and for the all-negative
/// rule; estimated from [`NULL_DRAWS`] seeded draws (`seed`) for the mean rule with several.
pub fn null_probability(scores: &[f32], triggers: usize, rule: SuppressionRule, seed: u64) -> f64 {
    let vocab = scores.len();
    if vocab == 0 || triggers == 0 {
        return 0.0;
    }
    let negative = scores.iter().filter(|&&s| s < 0.0).count();
    let k = triggers.min(vocab);
    if k == 1 {
        return negative as f64 / vocab as f64;
    }
    match rule {
        SuppressionRule::All => (0..k)
            .map(|j| negative.saturating_sub(j) as f64 / (vocab - j) as f64)
            .product(),
        SuppressionRule::Mean => {
            let mut state = seed;
            let mut next = || {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            };
            let mut held = 0usize;
            let mut drawn: Vec<usize> = Vec::with_capacity(k);
            for _ in 0..NULL_DRAWS {
                drawn.clear();
                while drawn.len() < k {
                    let t = (next() % vocab as u64) as usize;
                    if !drawn.contains(&t) {
                        drawn.push(t);
                    }
                }
                let mean = drawn.iter().map(|&t| f64::from(scores[t])).sum::<f64>() / k as f64;
                held += usize::from(mean < 0.0);
            }
            held as f64 / NULL_DRAWS as f64
        }
    }
}

/// `P(X >= observed)` for `X` the number of successes of independent trials with success
/// chances `chances` (Poisson binomial), computed exactly.
pub fn at_least(chances: &[f64], observed: usize) -> f64 {
    if observed == 0 {
        return 1.0;
    }
    // dist[j] = P(j successes among the trials so far).
    let mut dist = vec![0.0f64; chances.len() + 1];
    dist[0] = 1.0;
    for (i, &p) in chances.iter().enumerate() {
        for j in (0..=i + 1).rev() {
            let stay = dist[j] * (1.0 - p);
            let step = if j > 0 { dist[j - 1] * p } else { 0.0 };
            dist[j] = stay + step;
        }
    }
    dist[observed.min(chances.len() + 1)..]
        .iter()
        .sum::<f64>()
        .clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trigger_has_the_negative_share_as_its_chance() {
        let scores = [-1.0, 2.0, -0.5, 3.0];
        assert_eq!(null_probability(&scores, 1, SuppressionRule::Mean, 0), 0.5);
        assert_eq!(null_probability(&scores, 1, SuppressionRule::All, 0), 0.5);
    }

    #[test]
    fn all_negative_draws_without_replacement() {
        let scores = [-1.0, -2.0, 3.0, 4.0];
        // 2/4 · 1/3.
        let p = null_probability(&scores, 2, SuppressionRule::All, 0);
        assert!((p - 1.0 / 6.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn the_mean_rule_estimate_matches_enumeration() {
        let scores = [-3.0f32, -1.0, 0.5, 2.0, 4.0];
        // Pairs with a negative mean, enumerated: (-3,-1) (-3,0.5) (-3,2) (-1,0.5): 4 of 10.
        let p = null_probability(&scores, 2, SuppressionRule::Mean, 7);
        assert!((p - 0.4).abs() < 0.03, "{p}");
    }

    #[test]
    fn the_poisson_binomial_tail_matches_a_binomial_and_enumeration() {
        // Fair coins: P(X >= 8 of 10) = (45 + 10 + 1) / 1024.
        let p = at_least(&[0.5; 10], 8);
        assert!((p - 56.0 / 1024.0).abs() < 1e-12, "{p}");
        // Unequal: chances 0.1 and 0.9; P(X >= 2) = 0.09, P(X >= 1) = 1 - 0.09.
        assert!((at_least(&[0.1, 0.9], 2) - 0.09).abs() < 1e-12);
        assert!((at_least(&[0.1, 0.9], 1) - 0.91).abs() < 1e-12);
        assert_eq!(at_least(&[0.3, 0.3], 0), 1.0);
        assert_eq!(at_least(&[], 1), 0.0);
    }
}
