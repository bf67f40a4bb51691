//! Each section of an analysis on its own data: the frequencies of the `--run` data, the n-gram
//! statistics of the n-gram runs (or part of the data), the positional statistics of the
//! positional runs, each equal to the analysis of that data alone; and positional neurons
//! domain by domain, against analyses restricted to each domain.

mod common;

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt16Type};
use census_format::analysis::manifest::AnalysisManifest;
use census_format::analysis::options::AnalysisOptions;
use census_format::analysis::options::DataSelection;
use census_format::run::Shard;
use census_stats::{AnalyzeRequest, analyze};
use common::{SyntheticRun, config, mix, read_table};

const LEN: usize = 32;
const LAYERS: usize = 2;
const FFN: usize = 12;

/// Sequences of `count` tokens drawn by `salt`.
fn sequences(count: usize, salt: u64) -> Vec<Vec<u32>> {
    (0..count)
        .map(|s| {
            let mut t = vec![2u32];
            t.extend(
                (1..LEN).map(|p| 10 + (mix(salt * 1_000_003 + (s * 100 + p) as u64) % 40) as u32),
            );
            t
        })
        .collect()
}

/// A run of `seqs` where `fired` says which neurons fire and `domain` names each sequence's
/// domain.
fn write_run(
    dir: &Path,
    seqs: &[Vec<u32>],
    fired: &dyn Fn(usize, usize, usize) -> Vec<u16>,
    domain: &dyn Fn(usize) -> &'static str,
) {
    SyntheticRun {
        config: config(LAYERS, FFN, LEN),
        sequences: seqs.to_vec(),
        seq_ids: (0..seqs.len() as u64).collect(),
        fired,
        domain,
        part_sequences: 6,
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(dir)
}

/// Neurons firing on some tokens (detectors), at some positions (positional) and at random.
fn rule<'a>(
    seqs: &'a [Vec<u32>],
    detects: u32,
    early: u16,
    late_from: usize,
) -> impl Fn(usize, usize, usize) -> Vec<u16> + 'a {
    move |layer, s, p| {
        let t = seqs[s][p];
        let mut on: Vec<u16> = (4..FFN as u16)
            .filter(|&n| {
                mix(u64::from(t) * 31 + u64::from(n) + layer as u64 * 7 + s as u64)
                    .is_multiple_of(3)
            })
            .collect();
        if p > 0 && t == detects {
            on.push(0);
        }
        if p < 8 {
            on.push(early);
        }
        if p >= late_from {
            on.push(3);
        }
        on.sort_unstable();
        on.dedup();
        on
    }
}

fn options() -> AnalysisOptions {
    let mut options = AnalysisOptions::default();
    options.projection.enabled = false;
    options
}

fn request(runs: &[&Path], out: &Path, options: AnalysisOptions) -> AnalyzeRequest {
    AnalyzeRequest {
        options,
        ..AnalyzeRequest::new(runs.iter().map(|r| r.to_path_buf()).collect(), out)
    }
}

fn columns(table: &RecordBatch, names: &[&str]) -> Vec<(String, arrow::array::ArrayRef)> {
    names
        .iter()
        .map(|n| {
            let column = table
                .column_by_name(n)
                .unwrap_or_else(|| panic!("no column {n}"));
            (n.to_string(), column.clone())
        })
        .collect()
}

fn assert_columns(a: &Path, b: &Path, table: &str, names: &[&str]) {
    let (x, y) = (read_table(&a.join(table)), read_table(&b.join(table)));
    assert_eq!(columns(&x, names), columns(&y, names), "{table} {names:?}");
}

/// The columns differ between the analyses (so that comparing with one of them means something).
fn assert_columns_differ(a: &Path, b: &Path, table: &str, names: &[&str]) {
    let (x, y) = (read_table(&a.join(table)), read_table(&b.join(table)));
    assert_ne!(columns(&x, names), columns(&y, names), "{table} {names:?}");
}

fn assert_same_table(a: &Path, b: &Path, table: &str) {
    assert_eq!(
        read_table(&a.join(table)),
        read_table(&b.join(table)),
        "{table}"
    );
}

const FREQUENCY: [&str; 6] = ["layer", "neuron", "fires", "fires_bos", "frequency", "dead"];
const NGRAM: [&str; 5] = [
    "unigram_coverage",
    "bigram_coverage",
    "trigram_coverage",
    "token_detector",
    "trigram_detector",
];
const POSITIONAL: [&str; 4] = [
    "position_mi",
    "positional",
    "positional_type",
    "positional_strong",
];

#[test]
fn each_section_equals_the_analysis_of_its_own_runs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (a_seqs, b_seqs, p_seqs) = (sequences(30, 1), sequences(24, 2), sequences(18, 3));
    // Three corpora that disagree on everything: detectors, early and late neurons.
    write_run(&path("a"), &a_seqs, &rule(&a_seqs, 11, 1, 20), &|_| "wiki");
    write_run(&path("b"), &b_seqs, &rule(&b_seqs, 17, 2, 28), &|_| "code");
    write_run(&path("p"), &p_seqs, &rule(&p_seqs, 23, 1, 12), &|_| "math");

    let mut combined = request(&[&path("a")], &path("combined"), options());
    combined.ngram_runs = vec![path("b")];
    combined.positional_runs = vec![path("p")];
    let summary = analyze(&combined).unwrap();
    for run in ["a", "b", "p"] {
        analyze(&request(
            &[&path(run)],
            &path(&format!("{run}-alone")),
            options(),
        ))
        .unwrap();
    }
    let (c, a, b, p) = (
        path("combined"),
        path("a-alone"),
        path("b-alone"),
        path("p-alone"),
    );
    for (x, y) in [(&a, &b), (&a, &p), (&b, &p)] {
        for names in [&FREQUENCY[..], &NGRAM, &POSITIONAL] {
            assert_columns_differ(x, y, "neurons.parquet", names);
        }
    }
    assert_columns(&c, &a, "neurons.parquet", &FREQUENCY);
    assert_columns(&c, &b, "neurons.parquet", &NGRAM);
    assert_columns(&c, &p, "neurons.parquet", &POSITIONAL);
    assert_same_table(&c, &b, "coverage.parquet");
    assert_same_table(&c, &b, "detectors.parquet");
    assert_same_table(&c, &p, "positional.parquet");
    assert_columns(
        &c,
        &a,
        "layers.parquet",
        &["tokens", "dead", "dead_share", "mean_frequency_alive"],
    );
    assert_columns(
        &c,
        &b,
        "layers.parquet",
        &["token_detectors", "trigram_detectors", "tokens_detected"],
    );
    assert_columns(
        &c,
        &p,
        "layers.parquet",
        &["positional", "oscillatory_strong", "oscillatory_weak"],
    );
    assert_eq!(summary.tokens, (30 * LEN) as u64);

    let manifest = AnalysisManifest::load(&c).unwrap();
    let sections = manifest.sections.unwrap();
    let basis = |b: &census_format::analysis::sections::DataBasis| {
        (b.runs[0].dir.clone(), b.tokens, b.domains.clone())
    };
    assert_eq!(
        basis(&sections.frequency),
        (path("a"), (30 * LEN) as u64, vec!["wiki".to_string()])
    );
    assert_eq!(
        basis(sections.ngram.as_ref().unwrap()),
        (path("b"), (24 * LEN) as u64, vec!["code".to_string()])
    );
    assert_eq!(
        basis(sections.positional.as_ref().unwrap()),
        (path("p"), (18 * LEN) as u64, vec!["math".to_string()])
    );

    // One run for both the n-gram and the positional sections.
    let mut shared = request(&[&path("a")], &path("shared"), options());
    shared.ngram_runs = vec![path("b")];
    shared.positional_runs = vec![path("b")];
    analyze(&shared).unwrap();
    let s = path("shared");
    assert_columns(&s, &a, "neurons.parquet", &FREQUENCY);
    assert_columns(&s, &b, "neurons.parquet", &NGRAM);
    assert_columns(&s, &b, "neurons.parquet", &POSITIONAL);
    assert_same_table(&s, &b, "detectors.parquet");
    assert_same_table(&s, &b, "positional.parquet");

    // A run of another model is refused, by name.
    let other: Vec<Vec<u32>> = sequences(6, 4);
    let other_rule = |_: usize, _: usize, _: usize| vec![0u16];
    SyntheticRun {
        config: config(LAYERS, FFN + 4, LEN),
        sequences: other.clone(),
        seq_ids: (0..6).collect(),
        fired: &other_rule,
        domain: &|_| "wiki",
        part_sequences: 6,
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(&path("other"));
    let mut wrong = request(&[&path("a")], &path("wrong"), options());
    wrong.ngram_runs = vec![path("other")];
    let e = analyze(&wrong).unwrap_err().to_string();
    assert!(
        e.contains("other") && e.contains("model configuration"),
        "{e}"
    );
    assert!(!path("wrong").exists());
}

#[test]
fn ngram_statistics_on_some_domains_of_the_run_and_frequencies_on_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let seqs = sequences(36, 5);
    let domain = |s: usize| if s.is_multiple_of(3) { "code" } else { "wiki" };
    write_run(&path("run"), &seqs, &rule(&seqs, 13, 1, 20), &domain);

    let cut = AnalysisOptions {
        ngram_data: Some(DataSelection {
            domains: vec!["code".to_string()],
            token_budget: None,
        }),
        ..options()
    };
    analyze(&request(&[&path("run")], &path("cut"), cut)).unwrap();
    analyze(&request(&[&path("run")], &path("whole"), options())).unwrap();
    let code_only = AnalysisOptions {
        domains: vec!["code".to_string()],
        ..options()
    };
    analyze(&request(&[&path("run")], &path("code"), code_only)).unwrap();
    let (cut, whole, code) = (path("cut"), path("whole"), path("code"));
    assert_columns_differ(&whole, &code, "neurons.parquet", &NGRAM);
    assert_columns_differ(&whole, &code, "neurons.parquet", &FREQUENCY);
    assert_columns(&cut, &whole, "neurons.parquet", &FREQUENCY);
    assert_columns(&cut, &whole, "neurons.parquet", &POSITIONAL);
    assert_columns(&cut, &code, "neurons.parquet", &NGRAM);
    assert_same_table(&cut, &code, "detectors.parquet");
    assert_same_table(&cut, &code, "coverage.parquet");
    let sections = AnalysisManifest::load(&cut).unwrap().sections.unwrap();
    assert_eq!(sections.ngram.unwrap().tokens, (12 * LEN) as u64);
    assert_eq!(sections.frequency.tokens, (36 * LEN) as u64);

    let unknown = AnalysisOptions {
        ngram_data: Some(DataSelection {
            domains: vec!["poetry".to_string()],
            token_budget: None,
        }),
        ..options()
    };
    let e = analyze(&request(&[&path("run")], &path("bad"), unknown))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--ngram-domains") && e.contains("poetry"), "{e}");
}

/// (layer, neuron) → (MI, type) of one neuron.
type NeuronPosition = ((u16, u16), (f64, Option<String>));

/// Every neuron's MI and type in an analysis's neurons table.
fn neuron_positions(analysis: &Path) -> Vec<NeuronPosition> {
    let t = read_table(&analysis.join("neurons.parquet"));
    let layer = t
        .column_by_name("layer")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let neuron = t
        .column_by_name("neuron")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let mi = t
        .column_by_name("position_mi")
        .unwrap()
        .as_primitive::<Float64Type>();
    let kind = t.column_by_name("positional_type").unwrap();
    let kind = arrow::compute::cast(kind, &arrow::datatypes::DataType::Utf8).unwrap();
    let kind = kind.as_string::<i32>();
    (0..t.num_rows())
        .map(|i| {
            let k = kind.is_valid(i).then(|| kind.value(i).to_string());
            ((layer.value(i), neuron.value(i)), (mi.value(i), k))
        })
        .collect()
}

#[test]
fn positional_neurons_domain_by_domain_match_analyses_of_each_domain() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let seqs = sequences(24, 6);
    let domain = |s: usize| if s.is_multiple_of(2) { "code" } else { "wiki" };
    // Neuron 1 fires early everywhere; neuron 3 fires late only in code; neuron 2 fires early in
    // wiki and late in code.
    let fired = |layer: usize, s: usize, p: usize| {
        let mut on = rule(&seqs, 13, 1, usize::MAX)(layer, s, p);
        let code = s.is_multiple_of(2);
        if (code && p >= 20) || (!code && p < 10) {
            on.push(2);
        }
        if code && p >= 16 {
            on.push(3);
        }
        on.sort_unstable();
        on.dedup();
        on
    };
    write_run(&path("run"), &seqs, &fired, &domain);
    let summary = analyze(&request(&[&path("run")], &path("pooled"), options())).unwrap();
    let mut per_domain = Vec::new();
    for d in ["code", "wiki"] {
        let only = AnalysisOptions {
            domains: vec![d.to_string()],
            ..options()
        };
        analyze(&request(&[&path("run")], &path(d), only)).unwrap();
        per_domain.push((d, neuron_positions(&path(d))));
    }

    // Every row of the domain table carries that domain's own analysis's MI and type.
    let t = read_table(&path("pooled").join("positional_domains.parquet"));
    assert!(t.num_rows() > 0);
    let layer = t
        .column_by_name("layer")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let neuron = t
        .column_by_name("neuron")
        .unwrap()
        .as_primitive::<UInt16Type>();
    let mi = t
        .column_by_name("mi")
        .unwrap()
        .as_primitive::<Float64Type>();
    let names = arrow::compute::cast(
        t.column_by_name("domain").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let kinds = arrow::compute::cast(
        t.column_by_name("type").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let (names, kinds) = (names.as_string::<i32>(), kinds.as_string::<i32>());
    for i in 0..t.num_rows() {
        let (_, alone) = per_domain
            .iter()
            .find(|(d, _)| *d == names.value(i))
            .unwrap();
        let (_, (want_mi, want_kind)) = alone
            .iter()
            .find(|(k, _)| *k == (layer.value(i), neuron.value(i)))
            .unwrap();
        assert!((mi.value(i) - want_mi).abs() < 1e-12, "row {i}");
        let kind = kinds.is_valid(i).then(|| kinds.value(i).to_string());
        assert_eq!(&kind, want_kind, "row {i}");
    }

    // The summary's counts, recomputed from the pooled and per-domain analyses.
    let pooled: Vec<_> = neuron_positions(&path("pooled"))
        .into_iter()
        .filter(|(_, (_, k))| k.is_some())
        .collect();
    let same_everywhere = pooled
        .iter()
        .filter(|(key, (_, kind))| {
            per_domain
                .iter()
                .all(|(_, alone)| alone.iter().any(|(k, (_, t))| k == key && t == kind))
        })
        .count() as u64;
    let everywhere = pooled
        .iter()
        .filter(|(key, _)| {
            per_domain
                .iter()
                .all(|(_, alone)| alone.iter().any(|(k, (_, t))| k == key && t.is_some()))
        })
        .count() as u64;
    let stability = summary.positional_domains.unwrap();
    assert_eq!(stability.pooled, pooled.len() as u64);
    assert_eq!(stability.positional_in_every_domain, everywhere);
    assert_eq!(stability.same_type_in_every_domain, same_everywhere);
    // The planted neurons: 1 keeps its type, 2 changes it, 3 is positional only in code.
    assert!(stability.pooled > stability.same_type_in_every_domain);
    assert_eq!(
        stability
            .domains
            .iter()
            .map(|d| d.domain.as_str())
            .collect::<Vec<_>>(),
        ["code", "wiki"]
    );

    // Off by flag, and absent for one domain.
    let off = AnalysisOptions {
        positional_by_domain: false,
        ..options()
    };
    let s = analyze(&request(&[&path("run")], &path("off"), off)).unwrap();
    assert!(s.positional_domains.is_none());
    assert!(!path("off").join("positional_domains.parquet").exists());
}
