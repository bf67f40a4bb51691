//! Each rule on models built to hold it and to break it.

use super::*;

fn model(name: &str, neurons: u64) -> ModelFacts {
    ModelFacts {
        name: name.to_string(),
        neurons,
        ..ModelFacts::default()
    }
}

/// Three pre-LN sizes with `values` set by `set`.
fn sized(values: [f64; 3], set: impl Fn(&mut ModelFacts, f64)) -> Vec<ModelFacts> {
    [("small", 100), ("medium", 200), ("large", 300)]
        .into_iter()
        .zip(values)
        .map(|((name, neurons), v)| {
            let mut m = model(name, neurons);
            set(&mut m, v);
            m
        })
        .collect()
}

fn verdict_of(claim: &str, models: &[ModelFacts]) -> (Verdict, String) {
    let v = verdicts(models, &ClaimRules::default())
        .into_iter()
        .find(|v| v.claim == claim)
        .unwrap_or_else(|| panic!("no claim {claim}"));
    (v.verdict, v.value)
}

#[test]
fn the_opt_sizes_are_the_presets_ffn_neurons() {
    let neurons = |name: &str| {
        let preset = census_model::presets::PRESETS
            .iter()
            .find(|p| p.name == name)
            .expect("preset");
        preset.config().total_neurons() as u64
    };
    assert_eq!(OPT_125M_NEURONS, neurons("opt-125m"));
    assert_eq!(OPT_6_7B_NEURONS, neurons("opt-6.7b"));
    assert_eq!(OPT_13B_NEURONS, neurons("opt-13b"));
    assert_eq!(OPT_30B_NEURONS, neurons("opt-30b"));
}

#[test]
fn spearman_ranks_ties_by_their_mean() {
    assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    assert!((spearman(&[1.0, 2.0, 3.0], &[0.1, 0.5, 0.9]) - 1.0).abs() < 1e-12);
    assert!((spearman(&[1.0, 2.0, 3.0], &[0.9, 0.5, 0.1]) + 1.0).abs() < 1e-12);
    assert!((spearman(&[1.0, 2.0, 3.0], &[0.2, 0.1, 0.3]) - 0.5).abs() < 1e-12);
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[0.2, 0.2, 0.2]), 0.0);
}

#[test]
fn trends_across_scale_hold_only_in_their_direction() {
    let dead = "More dead neurons with scale";
    let set = |m: &mut ModelFacts, v| m.dead_share = v;
    let (v, value) = verdict_of(dead, &sized([0.01, 0.05, 0.2], set));
    assert_eq!(v, Verdict::Holds);
    assert!(value.starts_with("ρ = 1.00; small 1.0%"), "{value}");
    assert_eq!(
        verdict_of(dead, &sized([0.05, 0.01, 0.2], set)).0,
        Verdict::DoesNotHold
    );
    // A post-LN model is left out, however it reads.
    let mut with_post_ln = sized([0.01, 0.05, 0.2], set);
    with_post_ln.push(ModelFacts {
        post_ln: true,
        dead_share: 0.0,
        ..model("post", 400)
    });
    assert_eq!(verdict_of(dead, &with_post_ln).0, Verdict::Holds);
    // Two sizes are not a trend, nor are two analyses of one size.
    let mut two_sizes = sized([0.01, 0.05, 0.2], set);
    two_sizes[2].neurons = 200;
    assert_eq!(verdict_of(dead, &two_sizes).0, Verdict::NotComputable);

    let frequency = "Lower activation frequency with scale";
    let set = |m: &mut ModelFacts, v| m.mean_frequency_alive = Some(v);
    assert_eq!(
        verdict_of(frequency, &sized([0.2, 0.1, 0.05], set)).0,
        Verdict::Holds
    );
    assert_eq!(
        verdict_of(frequency, &sized([0.05, 0.1, 0.2], set)).0,
        Verdict::DoesNotHold
    );
    // A model without the value does not count as a size.
    let mut missing = sized([0.2, 0.1, 0.05], set);
    missing[0].mean_frequency_alive = None;
    assert_eq!(verdict_of(frequency, &missing).0, Verdict::NotComputable);

    let detectors = "More token detectors with scale";
    let set = |m: &mut ModelFacts, v: f64| m.token_detectors = Some(v as u64);
    assert_eq!(
        verdict_of(detectors, &sized([1.0, 10.0, 100.0], set)).0,
        Verdict::Holds
    );
    assert_eq!(
        verdict_of(detectors, &sized([5.0, 5.0, 5.0], set)).0,
        Verdict::DoesNotHold
    );

    let coverage = "Fewer n-grams covering a neuron with scale";
    let set = |m: &mut ModelFacts, v| m.few_token_share = Some(("1-5".to_string(), v));
    assert_eq!(
        verdict_of(coverage, &sized([0.01, 0.1, 0.3], set)).0,
        Verdict::Holds
    );
    assert_eq!(
        verdict_of(coverage, &sized([0.3, 0.1, 0.01], set)).0,
        Verdict::DoesNotHold
    );
}

#[test]
fn the_trigram_jump_must_be_the_step_into_30b() {
    let claim = "A jump in covered trigrams at 30b";
    let models = |trigrams: [u64; 3]| -> Vec<ModelFacts> {
        [
            ("6.7b", OPT_6_7B_NEURONS),
            ("13b", OPT_13B_NEURONS),
            ("30b", OPT_30B_NEURONS),
        ]
        .into_iter()
        .zip(trigrams)
        .map(|((name, n), t)| ModelFacts {
            covered_trigrams: Some(t),
            ..model(name, n)
        })
        .collect()
    };
    let (v, value) = verdict_of(claim, &models([10, 20, 400]));
    assert_eq!(v, Verdict::Holds);
    assert!(value.contains("13b → 30b: ×19.10"), "{value}");
    assert_eq!(
        verdict_of(claim, &models([10, 200, 400])).0,
        Verdict::DoesNotHold
    );
    // Without a model of 30b's size, or one below it, there is no step to test.
    let mut below = models([10, 20, 400]);
    below[2].neurons = OPT_13B_NEURONS + 1;
    assert_eq!(verdict_of(claim, &below).0, Verdict::NotComputable);
    let only_large: Vec<ModelFacts> = models([10, 20, 400])
        .into_iter()
        .map(|m| ModelFacts {
            neurons: m.neurons + OPT_30B_NEURONS,
            ..m
        })
        .collect();
    assert_eq!(verdict_of(claim, &only_large).0, Verdict::NotComputable);
}

#[test]
fn the_post_ln_model_must_be_less_sparse_than_every_pre_ln_one() {
    let claim = "No n-gram sparsity in the post-LN model";
    let with_share = |name: &str, post_ln: bool, share: f64| ModelFacts {
        post_ln,
        few_token_share: Some(("1-5".to_string(), share)),
        ..model(name, 100)
    };
    let pre = [with_share("a", false, 0.3), with_share("b", false, 0.1)];
    let holds = [pre.to_vec(), vec![with_share("post", true, 0.02)]].concat();
    let (v, value) = verdict_of(claim, &holds);
    assert_eq!(v, Verdict::Holds);
    assert_eq!(value, "post 2.0% (lowest pre-LN: b 10.0%)");
    let breaks = [pre.to_vec(), vec![with_share("post", true, 0.2)]].concat();
    assert_eq!(verdict_of(claim, &breaks).0, Verdict::DoesNotHold);
    assert_eq!(verdict_of(claim, &pre).0, Verdict::NotComputable);
}

#[test]
fn stages_end_where_the_values_turn_back_beyond_the_tolerance() {
    assert_eq!(stages(&[1.0, 5.0, 9.0, 4.0, 2.0], 0.9), vec![true, false]);
    assert_eq!(
        stages(&[9.0, 5.0, 3.0, 6.0, 8.0, 4.0], 0.9),
        vec![false, true, false]
    );
    // A dip within the tolerance does not end the rise.
    assert_eq!(stages(&[1.0, 5.0, 4.5, 9.0, 2.0], 0.9), vec![true, false]);
    assert_eq!(stages(&[3.0, 3.5, 3.2], 0.9), Vec::<bool>::new());
    assert_eq!(stages(&[], 0.9), Vec::<bool>::new());
}

#[test]
fn detector_stages_rise_then_fall_below_13b_and_number_three_above() {
    let claim = "Token detectors by layer: rise then fall, three stages from 13b";
    let with_layers = |name: &str, neurons: u64, counts: &[u64]| ModelFacts {
        detectors_by_layer: counts.to_vec(),
        ..model(name, neurons)
    };
    let small = with_layers("small", 100, &[2, 10, 30, 20, 5, 1]);
    let large = with_layers("large", OPT_13B_NEURONS, &[60, 30, 20, 50, 70, 10]);
    let (v, value) = verdict_of(claim, &[small.clone(), large.clone()]);
    assert_eq!(v, Verdict::Holds);
    assert_eq!(value, "small ↑↓; large ↓↑↓");
    // A large model that only rises and falls, or a small one with three stages, breaks it.
    let large_two = with_layers("large", OPT_13B_NEURONS, &[2, 10, 30, 20, 5, 1]);
    let (v, value) = verdict_of(claim, &[small, large_two]);
    assert_eq!(v, Verdict::DoesNotHold);
    assert_eq!(value, "small ↑↓; large ↑↓ ✗");
    let small_three = with_layers("small", 100, &[60, 30, 20, 50, 70, 10]);
    assert_eq!(verdict_of(claim, &[small_three]).0, Verdict::DoesNotHold);
    let too_few = with_layers("small", 100, &[2, 10]);
    assert_eq!(verdict_of(claim, &[too_few]).0, Verdict::NotComputable);
    let none = with_layers("small", 100, &[0, 0, 0, 0]);
    assert_eq!(verdict_of(claim, &[none]).0, Verdict::NotComputable);
}

#[test]
fn oscillatory_must_outnumber_each_other_type_below_6_7b() {
    let claim = "Oscillatory is the most frequent positional type below 6.7b";
    let typed = |name: &str, neurons: u64, types: [u64; 4]| ModelFacts {
        positional_types: Some(types),
        ..model(name, neurons)
    };
    let (v, value) = verdict_of(claim, &[typed("small", 100, [9, 4, 6, 1])]);
    assert_eq!(v, Verdict::Holds);
    assert_eq!(value, "small oscillatory 9 of 20 (next: one-extreme 6)");
    assert_eq!(
        verdict_of(claim, &[typed("small", 100, [6, 4, 6, 1])]).0,
        Verdict::DoesNotHold
    );
    // Models of 6.7b and larger are not held to it.
    let large = typed("large", OPT_6_7B_NEURONS, [0, 4, 6, 1]);
    assert_eq!(verdict_of(claim, &[large]).0, Verdict::NotComputable);
}

#[test]
fn one_sided_neurons_must_replace_two_sided_ones_from_13b_up() {
    let claim = "From 13b to 66b, one-sided neurons replace two-sided ones";
    let typed = |name: &str, neurons: u64, types: [u64; 4]| ModelFacts {
        positional_types: Some(types),
        ..model(name, neurons)
    };
    let (a, b) = (OPT_13B_NEURONS, OPT_30B_NEURONS * 2);
    let holds = [
        typed("13b", a, [0, 40, 20, 40]),
        typed("66b", b, [0, 10, 50, 40]),
    ];
    let (v, value) = verdict_of(claim, &holds);
    assert_eq!(v, Verdict::Holds);
    assert!(value.starts_with("13b: both extremes 40.0%"), "{value}");
    let breaks = [
        typed("13b", a, [0, 10, 50, 40]),
        typed("66b", b, [0, 40, 20, 40]),
    ];
    assert_eq!(verdict_of(claim, &breaks).0, Verdict::DoesNotHold);
    assert_eq!(verdict_of(claim, &holds[..1]).0, Verdict::NotComputable);
}

/// Twelve layers: oscillatory neurons in the layers below `split`, other ones above.
fn two_stage_layers(split: usize) -> Vec<[[u32; 2]; 4]> {
    (0..12)
        .map(|l| {
            if l < split {
                [[1, 5], [0, 1], [0, 0], [0, 0]]
            } else {
                [[0, 1], [0, 0], [1, 0], [4, 1]]
            }
        })
        .collect()
}

#[test]
fn the_positional_split_falls_in_the_first_third() {
    assert_eq!(positional_split(&two_stage_layers(4)).map(|s| s.0), Some(4));
    assert_eq!(
        positional_split(&[[[1, 1], [0, 0], [0, 0], [0, 0]]; 5]),
        None
    );
    let claim = "Two stages of positional neurons: the first third and the rest";
    let with = |split: usize| ModelFacts {
        positional_by_layer: Some(two_stage_layers(split)),
        ..model("m", 100)
    };
    let (v, value) = verdict_of(claim, &[with(4)]);
    assert_eq!(v, Verdict::Holds);
    assert!(
        value.starts_with("m layers 0-3 | 4-11 (0.33 below"),
        "{value}"
    );
    assert_eq!(verdict_of(claim, &[with(9)]).0, Verdict::DoesNotHold);
    assert_eq!(verdict_of(claim, &[with(1)]).0, Verdict::DoesNotHold);
    assert_eq!(
        verdict_of(claim, &[model("m", 100)]).0,
        Verdict::NotComputable
    );
}

#[test]
fn the_oscillatory_ranges_of_125m_must_tile_every_position() {
    let claim = "Layer 1's strong oscillatory neurons of 125m tile all positions";
    let with = |ranges: Vec<Vec<(u16, u16)>>| ModelFacts {
        layer_1_oscillatory: Some(NeuronRanges {
            neurons: ranges,
            span: (1, 13),
        }),
        ..model("125m", OPT_125M_NEURONS)
    };
    let tiled = vec![vec![(1, 4), (7, 10)], vec![(4, 7), (10, 13)]];
    let (v, value) = verdict_of(claim, &[with(tiled)]);
    assert_eq!(v, Verdict::Holds);
    assert_eq!(
        value,
        "125m 2 neurons covers 12 of 12 positions, none redundant"
    );
    let gap = vec![vec![(1, 4), (7, 10)], vec![(4, 6), (10, 13)]];
    assert_eq!(verdict_of(claim, &[with(gap)]).0, Verdict::DoesNotHold);
    assert_eq!(
        verdict_of(claim, &[with(Vec::new())]).0,
        Verdict::DoesNotHold
    );
    let other_size = ModelFacts {
        neurons: OPT_125M_NEURONS * 2,
        ..with(vec![vec![(1, 13)]])
    };
    assert_eq!(verdict_of(claim, &[other_size]).0, Verdict::NotComputable);
}

#[test]
fn the_thresholds_are_the_rules_own_and_checked() {
    // ρ = 0.5: a trend under a threshold of 0.4, not under the default 0.8.
    let set = |m: &mut ModelFacts, v| m.dead_share = v;
    let models = sized([0.2, 0.1, 0.3], set);
    let loose = ClaimRules {
        trend_rho: 0.4,
        ..ClaimRules::default()
    };
    assert_eq!(verdicts(&models, &loose)[0].verdict, Verdict::Holds);
    assert_eq!(
        verdicts(&models, &ClaimRules::default())[0].verdict,
        Verdict::DoesNotHold
    );
    assert!(verdicts(&models, &loose)[0].rule.contains("≥ 0.4"));
    // A tolerance of 70% of the largest count merges the dip of a three-stage curve.
    let large = ModelFacts {
        detectors_by_layer: vec![60, 30, 20, 50, 70, 10],
        ..model("large", OPT_13B_NEURONS)
    };
    let coarse = ClaimRules {
        stage_tolerance: 0.7,
        ..ClaimRules::default()
    };
    let stages = |rules: &ClaimRules| verdicts(std::slice::from_ref(&large), rules)[6].clone();
    assert_eq!(stages(&ClaimRules::default()).verdict, Verdict::Holds);
    assert_eq!(stages(&coarse).verdict, Verdict::DoesNotHold);
    assert!(stages(&coarse).rule.contains("70%"));
    // A split at 0.75 of the layers falls in a window widened to it.
    let late = ModelFacts {
        positional_by_layer: Some(two_stage_layers(9)),
        ..model("m", 100)
    };
    let wide = ClaimRules {
        first_third: (0.2, 0.8),
        ..ClaimRules::default()
    };
    assert_eq!(
        verdicts(std::slice::from_ref(&late), &wide)[9].verdict,
        Verdict::Holds
    );
    // Out of range: refused, naming the flag.
    assert!(ClaimRules::default().check().is_ok());
    let bad = |rules: ClaimRules, flag: &str| {
        let e = rules.check().unwrap_err();
        assert!(e.contains(flag), "{e}");
    };
    bad(
        ClaimRules {
            trend_rho: 0.0,
            ..ClaimRules::default()
        },
        "--claim-trend-rho",
    );
    bad(
        ClaimRules {
            trend_rho: f64::NAN,
            ..ClaimRules::default()
        },
        "--claim-trend-rho",
    );
    bad(
        ClaimRules {
            stage_tolerance: 1.0,
            ..ClaimRules::default()
        },
        "--claim-stage-tolerance",
    );
    bad(
        ClaimRules {
            first_third: (0.5, 0.2),
            ..ClaimRules::default()
        },
        "--claim-split-min",
    );
}
