//! Positional neurons (§3.9–3.11): mutual information between firing and position, the four
//! types of frequency-by-position curves with their strength, and the position ranges a neuron
//! indicates. The numeric rules are ours (the paper gives none); they are flags in
//! [`PositionalOptions`] and documented in `docs/ANALYSIS.md`.

use census_format::analysis::options::{LogBase, PositionalOptions};

/// Mutual information between "fires" and "position" from fires per position and rows per
/// position; positions are weighted by how often they occur (uniformly on full-length runs,
/// where this is the paper's formula). 0 for a neuron that never or always fires.
pub fn mutual_information(fires: &[u64], rows: &[u64], base: LogBase) -> f64 {
    PositionMi::new(rows, base).of(fires)
}

/// The mutual information with position of neurons counted over the same rows per position.
///
/// With `p = c / n` a neuron's frequency at a position of `n` rows where it fired `c` times,
/// `F` its fires on all `R` rows and `f = F / R`,
/// `I = Σ (n / R) [p ln(p / f) + (1 - p) ln((1 - p) / (1 - f))]
///    = (1 / R) Σ [c ln c + (n - c) ln(n - c) - n ln n] - [f ln f + (1 - f) ln(1 - f)]`,
/// so each position takes two values of `k ln k` at whole `k`, read from a table, and no
/// logarithm (equal to the first form to 1e-12 of its value, and 1e-14 below 0.01: tested).
pub struct PositionMi<'a> {
    rows: &'a [u64],
    total_rows: u64,
    /// `k ln k` for whole `k` up to the most rows at a position (or [`Self::TABLE_LIMIT`]).
    x_ln_x: Vec<f64>,
    /// `n ln n` at each position.
    rows_term: Vec<f64>,
    base: LogBase,
}

impl<'a> PositionMi<'a> {
    /// Counts above this are not tabled (their `k ln k` is computed).
    const TABLE_LIMIT: u64 = 1 << 20;

    /// For neurons counted over `rows[i]` rows at position `i`.
    pub fn new(rows: &'a [u64], base: LogBase) -> Self {
        let most = rows
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .min(Self::TABLE_LIMIT);
        let x_ln_x: Vec<f64> = (0..=most).map(|k| x_ln_x(k as f64)).collect();
        let mut mi = Self {
            rows,
            total_rows: rows.iter().sum(),
            x_ln_x,
            rows_term: Vec::new(),
            base,
        };
        mi.rows_term = rows.iter().map(|&n| mi.x_ln_x(n)).collect();
        mi
    }

    #[inline]
    fn x_ln_x(&self, k: u64) -> f64 {
        match self.x_ln_x.get(k as usize) {
            Some(&v) => v,
            None => x_ln_x(k as f64),
        }
    }

    /// The mutual information of a neuron that fired `fires[i]` times at position `i`.
    pub fn of(&self, fires: &[u64]) -> f64 {
        let total_fires: u64 = fires.iter().sum();
        let total_rows = self.total_rows;
        if total_rows == 0 || total_fires == 0 || total_fires == total_rows {
            return 0.0;
        }
        // Each position's term is small beside its `n ln n`: summed as they are, they lose less.
        let within: f64 = fires
            .iter()
            .zip(self.rows)
            .zip(&self.rows_term)
            .map(|((&c, &n), &n_ln_n)| {
                debug_assert!(c <= n, "{c} fires on {n} rows");
                self.x_ln_x(c) + self.x_ln_x(n.saturating_sub(c)) - n_ln_n
            })
            .sum();
        let f = total_fires as f64 / total_rows as f64;
        let nats = within / total_rows as f64 - x_ln_x(f) - x_ln_x(1.0 - f);
        let mi = match self.base {
            LogBase::E => nats,
            LogBase::Two => nats / std::f64::consts::LN_2,
        };
        mi.max(0.0)
    }
}

/// `x ln x`, 0 at 0.
#[inline]
fn x_ln_x(x: f64) -> f64 {
    if x > 0.0 { x * x.ln() } else { 0.0 }
}

use census_format::analysis::tables::{Classification, PositionalType};

/// Whether `curve` holds `predicate` on at least `run` consecutive positions.
fn has_run(curve: &[f64], run: usize, predicate: impl Fn(f64) -> bool) -> bool {
    let mut length = 0;
    for &x in curve {
        length = if predicate(x) { length + 1 } else { 0 };
        if length >= run {
            return true;
        }
    }
    false
}

/// Centred moving average with `window` positions (shrinking at the ends).
fn moving_average(curve: &[f64], window: usize) -> Vec<f64> {
    let half = window / 2;
    let mut prefix = vec![0.0; curve.len() + 1];
    for (i, &x) in curve.iter().enumerate() {
        prefix[i + 1] = prefix[i] + x;
    }
    (0..curve.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(curve.len()));
            (prefix[b] - prefix[a]) / (b - a) as f64
        })
        .collect()
}

/// Transitions between the low and high regimes of `curve` after light smoothing: a position is
/// low below a quarter of the smoothed curve's range (read where the average has its whole
/// window) and high above three quarters, and positions between
/// keep the previous regime (hysteresis), so noise does not count. A curve whose smoothed range
/// is below `min_swing` has none.
pub fn regime_transitions(curve: &[f64], smoothing: usize, min_swing: f64) -> u32 {
    let window = smoothing.max(1);
    let smooth = moving_average(curve, window);
    // The range is read where the average has its whole window: at the ends it shrinks, and a
    // range cut by the end would look taller than the others.
    let half = window / 2;
    let whole = if smooth.len() > 2 * half {
        &smooth[half..smooth.len() - half]
    } else {
        &smooth[..]
    };
    let (min, max) = whole
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if max - min < min_swing || max.is_nan() {
        return 0;
    }
    let (low, high) = (min + 0.25 * (max - min), min + 0.75 * (max - min));
    let mut regime: Option<bool> = None;
    let mut transitions = 0;
    for &x in &smooth {
        let now = if x <= low {
            Some(false)
        } else if x >= high {
            Some(true)
        } else {
            None
        };
        if let Some(now) = now {
            if regime.is_some_and(|r| r != now) {
                transitions += 1;
            }
            regime = Some(now);
        }
    }
    transitions
}

/// Classifies an activation-frequency-by-position curve (values in 0..=1).
pub fn classify(curve: &[f64], options: &PositionalOptions) -> Classification {
    let run = options.extreme_run(curve.len());
    let eps = options.weak_epsilon;
    let low_weak = has_run(curve, run, |x| x <= eps);
    let high_weak = has_run(curve, run, |x| x >= 1.0 - eps);
    let low_strong = has_run(curve, run, |x| x == 0.0);
    let high_strong = has_run(curve, run, |x| x == 1.0);
    let smoothing = run / 4;
    if regime_transitions(curve, smoothing, options.oscillation_min_swing)
        >= options.oscillation_transitions
    {
        // An indicator of position ranges is strong when it is exactly 0 and exactly 1 on runs
        // as short as the smoothing that finds its oscillation (at least 3 positions): its
        // ranges may be narrower than a run, as those of Fig. 9 are.
        let indicator_run = smoothing.max(3);
        return Classification {
            kind: PositionalType::Oscillatory,
            strong: has_run(curve, indicator_run, |x| x == 0.0)
                && has_run(curve, indicator_run, |x| x == 1.0),
        };
    }
    if low_weak && high_weak {
        return Classification {
            kind: PositionalType::BothExtremes,
            strong: low_strong && high_strong,
        };
    }
    if low_weak || high_weak {
        return Classification {
            kind: PositionalType::OneExtreme,
            strong: (low_weak && low_strong) || (high_weak && high_strong),
        };
    }
    let mean = curve.iter().sum::<f64>() / curve.len().max(1) as f64;
    let spread =
        (curve.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / curve.len().max(1) as f64).sqrt();
    let smooth = moving_average(curve, run);
    let residual = (curve
        .iter()
        .zip(&smooth)
        .map(|(x, s)| (x - s).powi(2))
        .sum::<f64>()
        / curve.len().max(1) as f64)
        .sqrt();
    Classification {
        kind: PositionalType::Other,
        strong: residual <= options.smooth_residual_share * spread,
    }
}

/// Maximal ranges `[start, end)` of curve indices where the curve is at least `threshold`.
pub fn ranges_above(curve: &[f64], threshold: f64) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = None;
    for (i, &x) in curve.iter().enumerate() {
        match (x >= threshold, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                ranges.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        ranges.push((s, curve.len()));
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PositionalOptions {
        PositionalOptions::default()
    }

    #[test]
    fn mutual_information_matches_the_closed_form() {
        // Fires on exactly the first half of 4 equally frequent positions: I = ln 2.
        let mi = mutual_information(&[10, 10, 0, 0], &[10; 4], LogBase::E);
        assert!((mi - std::f64::consts::LN_2).abs() < 1e-12);
        let bits = mutual_information(&[10, 10, 0, 0], &[10; 4], LogBase::Two);
        assert!((bits - 1.0).abs() < 1e-12);
        // Independent of position: 0.
        assert!(mutual_information(&[5, 5, 5, 5], &[10; 4], LogBase::E).abs() < 1e-12);
        assert_eq!(mutual_information(&[0; 4], &[10; 4], LogBase::E), 0.0);
    }

    /// The mutual information by its definition, term by term.
    fn direct_mi(fires: &[u64], rows: &[u64]) -> f64 {
        let total_rows: u64 = rows.iter().sum();
        let fr = fires.iter().sum::<u64>() as f64 / total_rows as f64;
        let term = |p: f64, q: f64| if p > 0.0 { p * (p / q).ln() } else { 0.0 };
        fires
            .iter()
            .zip(rows)
            .filter(|&(_, &n)| n > 0)
            .map(|(&c, &n)| {
                let p = c as f64 / n as f64;
                n as f64 / total_rows as f64 * (term(p, fr) + term(1.0 - p, 1.0 - fr))
            })
            .sum()
    }

    #[test]
    fn tabled_mutual_information_equals_the_definition() {
        let mut rng = census_testkit::SeededRng::new(3);
        for (positions, most_rows) in [(512, 64), (100, 5000), (40, 3_000_000)] {
            // Rows thinning with position (shorter sequences stop earlier), some positions empty.
            let rows: Vec<u64> = (0..positions)
                .map(|p| {
                    if p % 37 == 36 {
                        0
                    } else {
                        most_rows - (p as u64 * most_rows) / (2 * positions as u64)
                    }
                })
                .collect();
            let tabled = PositionMi::new(&rows, LogBase::E);
            for neuron in 0..200 {
                // From position-independent (chance MI only) to strongly positional.
                let fires: Vec<u64> = rows
                    .iter()
                    .enumerate()
                    .map(|(p, &n)| {
                        let rate = if neuron % 2 == 0 {
                            0.05
                        } else if p < positions / 3 {
                            0.5
                        } else {
                            0.01
                        };
                        // Up to 2,000 rows drawn, the count scaled to the position's rows.
                        let drawn = n.min(2000);
                        let hits = (0..drawn)
                            .filter(|_| rng.below(1_000_000) < (rate * 1e6) as usize)
                            .count() as u64;
                        hits * n.checked_div(drawn).unwrap_or(0)
                    })
                    .collect();
                let (ours, reference) = (tabled.of(&fires), direct_mi(&fires, &rows));
                assert!(
                    (ours - reference).abs() <= 1e-12 * reference.abs().max(1e-2),
                    "{positions} positions, neuron {neuron}: {ours} against {reference}"
                );
            }
        }
    }

    #[test]
    fn curves_get_their_types() {
        let n = 256;
        // Fires only before position 100: both extremes, exact.
        let step: Vec<f64> = (0..n).map(|p| if p < 100 { 1.0 } else { 0.0 }).collect();
        assert_eq!(
            classify(&step, &options()),
            Classification {
                kind: PositionalType::BothExtremes,
                strong: true
            }
        );
        // Indicator of alternating 32-position ranges: oscillatory, strong.
        let square: Vec<f64> = (0..n).map(|p| ((p / 32) % 2) as f64).collect();
        assert_eq!(
            classify(&square, &options()).kind,
            PositionalType::Oscillatory
        );
        assert!(classify(&square, &options()).strong);
        // The same, but never quite 0 or 1: weak.
        let soft: Vec<f64> = square.iter().map(|x| 0.1 + 0.8 * x).collect();
        assert_eq!(
            classify(&soft, &options()),
            Classification {
                kind: PositionalType::Oscillatory,
                strong: false
            }
        );
        // Zero for the first 50 positions, then a slow rise to 0.6: one extreme.
        let ramp: Vec<f64> = (0..n)
            .map(|p| {
                if p < 50 {
                    0.0
                } else {
                    0.6 * (p - 50) as f64 / (n - 50) as f64 + 0.1
                }
            })
            .collect();
        assert_eq!(
            classify(&ramp, &options()),
            Classification {
                kind: PositionalType::OneExtreme,
                strong: true
            }
        );
        // A smooth decline between 0.7 and 0.3: other, strong (thin).
        let decline: Vec<f64> = (0..n).map(|p| 0.7 - 0.4 * p as f64 / n as f64).collect();
        assert_eq!(
            classify(&decline, &options()),
            Classification {
                kind: PositionalType::Other,
                strong: true
            }
        );
        // The same decline with position-to-position noise: other, weak (thick).
        let noisy: Vec<f64> = decline
            .iter()
            .enumerate()
            .map(|(p, x)| x + if p % 2 == 0 { 0.15 } else { -0.15 })
            .collect();
        assert_eq!(
            classify(&noisy, &options()),
            Classification {
                kind: PositionalType::Other,
                strong: false
            }
        );
    }

    /// One curve of each kind the paper draws (Fig. 7), with what the rule in docs/ANALYSIS.md
    /// calls it.
    /// Ten neurons tiling the positions, as Fig. 9's do: neuron `k` fires on `width` positions
    /// in every `10 * width`, shifted by `k * width`.
    fn tiling_indicator(n: usize, width: usize, k: usize) -> Vec<f64> {
        (0..n)
            .map(|p| {
                f64::from(u8::from(
                    (p + 10 * width - k * width) % (10 * width) < width,
                ))
            })
            .collect()
    }

    #[test]
    fn narrow_indicators_are_strong_oscillatory_at_the_papers_length() {
        // The calibration docs/ANALYSIS.md states: at T = 2048 a run is 16 positions and the
        // oscillation is found after smoothing over 4, so indicators of ranges 4 positions wide
        // or wider are strong, 3 wide are found but weak, 2 wide are not oscillatory.
        let n = 2048;
        let class = |curve: &[f64]| classify(curve, &options());
        for width in [4, 5, 6, 8, 12, 16, 24, 32, 64, 100] {
            for k in [0, 3, 9] {
                let exact = tiling_indicator(n, width, k);
                let expected = Classification {
                    kind: PositionalType::Oscillatory,
                    strong: true,
                };
                assert_eq!(class(&exact), expected, "width {width}, neuron {k}");
                // Edges at half the tokens keep it strong where a run of 4 is left at 1 (neuron 0's
                // first range is cut by the start, so it keeps one edge fewer).
                let whole_width = if k == 0 { width - 1 } else { width - 2 };
                let soft_edges: Vec<f64> = (0..n)
                    .map(|p| {
                        let at = |q: usize| exact.get(q).copied().unwrap_or(exact[p]);
                        let edge = at(p + 1) != exact[p] || at(p.saturating_sub(1)) != exact[p];
                        if edge { 0.5 } else { exact[p] }
                    })
                    .collect();
                assert_eq!(
                    class(&soft_edges),
                    Classification {
                        kind: PositionalType::Oscillatory,
                        strong: whole_width >= 4,
                    },
                    "soft edges, width {width}, neuron {k}"
                );
                // Near, not at, 0 and 1: weak.
                let near: Vec<f64> = exact.iter().map(|x| 0.02 + 0.96 * x).collect();
                assert_eq!(
                    class(&near),
                    Classification {
                        kind: PositionalType::Oscillatory,
                        strong: false,
                    },
                    "near the extremes, width {width}"
                );
            }
        }
        let three = class(&tiling_indicator(n, 3, 0));
        assert_eq!(
            (three.kind, three.strong),
            (PositionalType::Oscillatory, false)
        );
        assert_ne!(
            class(&tiling_indicator(n, 2, 0)).kind,
            PositionalType::Oscillatory
        );
        // The ten neurons of each width tile the positions between them.
        for width in [4, 8, 100] {
            let covered = (0..n)
                .filter(|&p| (0..10).any(|k| tiling_indicator(n, width, k)[p] == 1.0))
                .count();
            assert_eq!(covered, n);
        }
    }

    #[test]
    fn every_type_the_paper_shows_is_recognised() {
        let n = 256;
        let curve = |f: &dyn Fn(usize) -> f64| (0..n).map(f).collect::<Vec<f64>>();
        let class = |kind, strong| Classification { kind, strong };
        let cases: Vec<(&str, Vec<f64>, Classification)> = vec![
            (
                "indicator of several ranges",
                curve(&|p| ((p / 32) % 2) as f64),
                class(PositionalType::Oscillatory, true),
            ),
            (
                "oscillating near, not at, 0 and 1",
                curve(&|p| 0.03 + 0.94 * ((p / 32) % 2) as f64),
                class(PositionalType::Oscillatory, false),
            ),
            (
                "oscillating between silence and half the tokens",
                curve(&|p| 0.6 * ((p / 32) % 2) as f64),
                class(PositionalType::Oscillatory, false),
            ),
            (
                "fires before a position (less than)",
                curve(&|p| f64::from(u8::from(p < 100))),
                class(PositionalType::BothExtremes, true),
            ),
            (
                "fires after a position (greater than)",
                curve(&|p| f64::from(u8::from(p >= 100))),
                class(PositionalType::BothExtremes, true),
            ),
            (
                "fires inside one range",
                curve(&|p| f64::from(u8::from((80..160).contains(&p)))),
                class(PositionalType::BothExtremes, true),
            ),
            (
                "fires outside one range",
                curve(&|p| f64::from(u8::from(!(80..160).contains(&p)))),
                class(PositionalType::BothExtremes, true),
            ),
            (
                "near both extremes, never at them",
                curve(&|p| if p < 100 { 0.97 } else { 0.02 }),
                class(PositionalType::BothExtremes, false),
            ),
            (
                "silent, then rising",
                curve(&|p| {
                    if p < 50 {
                        0.0
                    } else {
                        0.1 + 0.6 * (p - 50) as f64 / 206.0
                    }
                }),
                class(PositionalType::OneExtreme, true),
            ),
            (
                "falling, then silent",
                curve(&|p| {
                    if p >= 200 {
                        0.0
                    } else {
                        0.7 - 0.6 * p as f64 / 200.0
                    }
                }),
                class(PositionalType::OneExtreme, true),
            ),
            (
                "saturated, then falling",
                curve(&|p| {
                    if p < 60 {
                        1.0
                    } else {
                        0.8 - 0.5 * (p - 60) as f64 / 196.0
                    }
                }),
                class(PositionalType::OneExtreme, true),
            ),
            (
                "nearly silent, then rising",
                curve(&|p| {
                    if p < 50 {
                        0.01
                    } else {
                        0.1 + 0.6 * (p - 50) as f64 / 206.0
                    }
                }),
                class(PositionalType::OneExtreme, false),
            ),
            (
                "a smooth decline away from the extremes",
                curve(&|p| 0.7 - 0.4 * p as f64 / n as f64),
                class(PositionalType::Other, true),
            ),
            (
                "the same decline, noisy",
                curve(&|p| 0.7 - 0.4 * p as f64 / n as f64 + if p % 2 == 0 { 0.15 } else { -0.15 }),
                class(PositionalType::Other, false),
            ),
            (
                "wavy but never silent nor saturated",
                curve(&|p| 0.5 + 0.2 * (2.0 * std::f64::consts::PI * p as f64 / 40.0).sin()),
                class(PositionalType::Other, true),
            ),
        ];
        let mut wrong = Vec::new();
        for (name, curve, expected) in cases {
            let got = classify(&curve, &options());
            if got != expected {
                wrong.push(format!("{name}: {got:?}, expected {expected:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn ranges_are_maximal_runs() {
        let curve = [0.0, 0.9, 1.0, 0.2, 0.6, 0.7];
        assert_eq!(ranges_above(&curve, 0.5), vec![(1, 3), (4, 6)]);
    }
}
