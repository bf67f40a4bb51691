//! An independent check of the analysis: `duckdb_check.py` recomputes fire counts, dead neurons,
//! n-gram coverage counts, token and trigram detectors and the MI with position in DuckDB SQL
//! straight from the run's shards, and must agree with the analysis tables.
//!
//! Needs a Python with `duckdb` (`NEURON_CENSUS_PYTHON`, default `python3`). Without it the test
//! says so and passes, unless `NEURON_CENSUS_REQUIRE_DUCKDB=1` (CI sets it) makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use census_format::analysis::options::AnalysisOptions;
use census_format::analysis::options::LayerScope;
use census_format::analysis::options::NgramDenominator;
use census_stats::{AnalyzeRequest, analyze};
use census_testkit::opt_fixture;
use common::extract_planted;

fn python() -> Option<String> {
    census_testkit::python_with_duckdb()
}

fn check(python: &str, run: &Path, analysis: &Path) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb_check.py");
    let output = Command::new(python)
        .arg(script)
        .arg(run)
        .arg(analysis)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "DuckDB disagrees with the analysis"
    );
    for checked in [
        "fire counts",
        "dead neurons",
        "dead under both readings of </s>",
        "trigram coverage",
        "token detectors",
        "neurons of each token",
        "binned frequency-by-position curves",
    ] {
        assert!(
            stdout.contains(&format!("ok  {checked}")),
            "{checked} not checked"
        );
    }
}

/// The planted fixture extracted into `dir/run` and analysed into `dir/analysis` with n-grams in
/// every layer, positions at any length, curves in 7 bins (several positions each) and 3 neurons
/// per token (so the selections leave neurons out).
fn analysed_planted(dir: &Path) -> (PathBuf, PathBuf) {
    analysed_planted_with(dir, NgramDenominator::All)
}

/// [`analysed_planted`] with n-gram coverage a share of `denominator`'s activations.
fn analysed_planted_with(dir: &Path, denominator: NgramDenominator) -> (PathBuf, PathBuf) {
    let (run, out) = (dir.join("run"), dir.join("analysis"));
    extract_planted(&run);
    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        ..Default::default()
    };
    options.positional.any_length = true;
    options.positional.curve_bins = 7;
    options.token_neurons = 3;
    options.detectors.ngram_denominator = denominator;
    analyze(&AnalyzeRequest {
        model: Some(opt_fixture("planted")),
        options,
        ..AnalyzeRequest::new(vec![run.clone()], out.clone())
    })
    .unwrap();
    (run, out)
}

#[test]
fn duckdb_recomputes_the_analysis() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = analysed_planted(dir.path());
    check(&python, &run, &out);
}

/// The same with bigram and trigram coverage a share of the activations where an n-gram exists
/// only (`--ngram-denominator windowed`), which DuckDB reads from the manifest.
#[test]
fn duckdb_recomputes_the_analysis_with_the_windowed_denominator() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = analysed_planted_with(dir.path(), NgramDenominator::Windowed);
    check(&python, &run, &out);
    // The planted neuron that fires on the first half of the positions fires where no trigram
    // exists yet, so its trigram coverage differs between the two rules.
    use census_format::analysis::tables::{AnalysisTable, NeuronRow};
    let all = tempfile::tempdir().unwrap();
    let (_, all_out) = analysed_planted_with(all.path(), NgramDenominator::All);
    let (windowed, all) = (
        NeuronRow::read(&out).unwrap(),
        NeuronRow::read(&all_out).unwrap(),
    );
    let differ = windowed
        .iter()
        .zip(&all)
        .filter(|(w, a)| w.coverage[2] != a.coverage[2])
        .count();
    assert!(differ > 0, "the two rules agree on every trigram coverage");
}

/// Rewrites every Parquet file of `run` with DuckDB's defaults (snappy) and the integer types a
/// user's SQL would give: `seq` and `token` as BIGINT, `pos` as INTEGER, `neurons` as INTEGER[],
/// `domain` as plain VARCHAR.
fn rewrite_with_duckdb(python: &str, run: &Path) {
    let script = r#"
import duckdb, glob, os, sys
run = sys.argv[1]
files = sorted(glob.glob(os.path.join(run, "**", "*.parquet"), recursive=True))
assert files, "no parquet files"
for f in files:
    casts = []
    cols = [c[0] for c in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{f}')").fetchall()]
    for c in cols:
        casts.append({"seq": "seq::BIGINT AS seq", "pos": "pos::INTEGER AS pos",
                      "token": "token::BIGINT AS token", "doc": "doc::BIGINT AS doc",
                      "domain": "domain::VARCHAR AS domain",
                      "neurons": "neurons::INTEGER[] AS neurons"}.get(c, c))
    tmp = f + ".duck"
    duckdb.sql(f"COPY (SELECT {', '.join(casts)} FROM read_parquet('{f}')) TO '{tmp}' (FORMAT parquet)")
    os.replace(tmp, f)
codec = duckdb.sql(f"SELECT DISTINCT compression FROM parquet_metadata('{files[-1]}')").fetchall()
types = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{files[-1]}')").fetchall()
print("rewrote", len(files), "files;", codec, types)
"#;
    let output = Command::new(python)
        .args(["-c", script])
        .arg(run)
        .output()
        .unwrap();
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "DuckDB could not rewrite the run");
    assert!(String::from_utf8_lossy(&output.stdout).contains("SNAPPY"));
}

#[test]
fn a_run_rewritten_by_duckdb_analyses_to_the_same_result() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    extract_planted(&run);
    let analysis = |out: &Path, rewritten_parts: bool| {
        analyze(&AnalyzeRequest {
            model: Some(opt_fixture("planted")),
            rewritten_parts,
            ..AnalyzeRequest::new(vec![run.clone()], out.to_path_buf())
        })
    };
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    let summary_before = analysis(&before, false).unwrap();
    rewrite_with_duckdb(&python, &run);
    // The rewritten parts no longer match the manifest's checksums: refused unless declared.
    let e = analysis(&after, false).unwrap_err().to_string();
    assert!(
        e.contains("part-00000.parquet") && e.contains("manifest"),
        "{e}"
    );
    let summary_after = analysis(&after, true).unwrap();
    assert_eq!(summary_before, summary_after);
    for table in [
        "neurons.parquet",
        "layers.parquet",
        "coverage.parquet",
        "detectors.parquet",
        "positional.parquet",
    ] {
        assert_eq!(
            common::read_table(&before.join(table)),
            common::read_table(&after.join(table)),
            "{table}"
        );
    }
}

/// Rewrites the analysis tables of `analysis` through DuckDB with every unsigned integer column
/// (and list) widened to BIGINT and every FLOAT list to DOUBLE, as a user's SQL would leave them.
fn widen_with_duckdb(python: &str, analysis: &Path, tables: &[&str]) {
    let script = r#"
import duckdb, os, re, sys
analysis, tables = sys.argv[1], sys.argv[2:]
for name in tables:
    f = os.path.join(analysis, name)
    columns = []
    for column, kind, *_ in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{f}')").fetchall():
        wide = re.sub(r"U(TINYINT|SMALLINT|INTEGER|BIGINT)", "BIGINT", kind).replace("FLOAT", "DOUBLE")
        columns.append(f'"{column}"::{wide} AS "{column}"' if wide != kind else f'"{column}"')
    tmp = f + ".duck"
    duckdb.sql(f"COPY (SELECT {', '.join(columns)} FROM read_parquet('{f}')) TO '{tmp}' (FORMAT parquet)")
    os.replace(tmp, f)
print(duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{os.path.join(analysis, tables[0])}')").fetchall())
"#;
    let output = Command::new(python)
        .args(["-c", script])
        .arg(analysis)
        .args(tables)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "DuckDB could not rewrite the analysis"
    );
    assert!(stdout.contains("BIGINT") && !stdout.contains("USMALLINT"));
}

#[test]
fn an_analysis_rewritten_by_duckdb_reads_back_as_the_same_rows() {
    use census_format::analysis::tables::{
        AnalysisTable, CoverageRow, DetectorRow, LayerRow, NeuronRow, PositionCurveRow,
        PositionalRow, ProjectionRow, TokenNeuronRow,
    };
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The planted model is small enough that every neuron is projected by default.
    let (_, out) = analysed_planted(dir.path());
    let neurons = NeuronRow::read(&out).unwrap();
    let layers = LayerRow::read(&out).unwrap();
    let coverage = CoverageRow::read(&out).unwrap();
    let detectors = DetectorRow::read(&out).unwrap();
    let positional = PositionalRow::read(&out).unwrap();
    let projections = ProjectionRow::read(&out).unwrap();
    let curves = PositionCurveRow::read(&out).unwrap();
    let token_neurons = TokenNeuronRow::read(&out).unwrap();
    assert!(curves.iter().all(|c| c.bin_width > 1) && !token_neurons.is_empty());
    assert!(!detectors.is_empty() && detectors.iter().any(|d| d.projection.is_some()));
    assert!(!positional.is_empty() && !projections.is_empty());
    widen_with_duckdb(
        &python,
        &out,
        &[
            NeuronRow::FILE,
            LayerRow::FILE,
            CoverageRow::FILE,
            DetectorRow::FILE,
            PositionalRow::FILE,
            ProjectionRow::FILE,
            PositionCurveRow::FILE,
            TokenNeuronRow::FILE,
        ],
    );
    assert_eq!(NeuronRow::read(&out).unwrap(), neurons);
    assert_eq!(LayerRow::read(&out).unwrap(), layers);
    assert_eq!(CoverageRow::read(&out).unwrap(), coverage);
    assert_eq!(DetectorRow::read(&out).unwrap(), detectors);
    assert_eq!(PositionalRow::read(&out).unwrap(), positional);
    assert_eq!(ProjectionRow::read(&out).unwrap(), projections);
    assert_eq!(PositionCurveRow::read(&out).unwrap(), curves);
    assert_eq!(TokenNeuronRow::read(&out).unwrap(), token_neurons);
}

/// A random fixture of another family extracted on the dense path from the bundled text corpus
/// into `dir/run` and analysed into `dir/analysis`, projections included, as the DuckDB check
/// reads it.
fn analysed_family(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use census_extract::{ExtractOptions, extract};
    use census_format::corpus::CorpusSource;
    use census_format::run::Engine;
    use census_format::run::SequenceOptions;
    let model = census_testkit::family_fixture(name);
    let (run, out) = (dir.join("run"), dir.join("analysis"));
    let corpus = census_testkit::fixtures_dir().join("corpus/sample.jsonl");
    extract::<census_model::CpuBackend>(
        &ExtractOptions {
            sequences: SequenceOptions::with_max_seq_len(64),
            engine: Engine::Dense,
            part_tokens: 2048,
            ..ExtractOptions::new(&model, vec![CorpusSource::new(corpus)], &run)
        },
        &Default::default(),
        "cpu",
    )
    .unwrap();
    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        ..Default::default()
    };
    options.positional.any_length = true;
    options.positional.curve_bins = 7;
    options.token_neurons = 3;
    analyze(&AnalyzeRequest {
        model: Some(model),
        options,
        ..AnalyzeRequest::new(vec![run.clone()], out.clone())
    })
    .unwrap();
    (run, out)
}

/// A GELU family whose sequences start with text (GPT-2: no BOS, so position 0 is a token with
/// no n-gram before it), checked by DuckDB.
#[test]
fn duckdb_recomputes_the_analysis_of_a_gelu_family_without_bos() {
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = analysed_family(dir.path(), "gpt2");
    let manifest = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"sequence_start\": \"text\""),
        "{manifest}"
    );
    assert!(manifest.contains("\"model_type\": \"gpt2\""));
    let Some(python) = python() else { return };
    check(&python, &run, &out);
}

/// A gated family whose sequences start with a BOS (Llama's `<|begin_of_text|>`), its neurons
/// the gate's outputs, checked by DuckDB.
#[test]
fn duckdb_recomputes_the_analysis_of_a_gated_family_with_bos() {
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = analysed_family(dir.path(), "llama");
    let manifest = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(!manifest.contains("sequence_start"), "{manifest}");
    assert!(manifest.contains("\"model_type\": \"llama\""));
    let Some(python) = python() else { return };
    check(&python, &run, &out);
}

/// A corpus of more than 65,536 distinct tokens of a Qwen2-sized vocabulary (151,936 ids), whose
/// table codes take 17 bits: a table then keys 8,192 neurons beside a trigram, so the 9,000
/// neurons of each layer are counted in two ranges. Planted detectors of tokens above 2^16 on
/// both sides of the boundary are found, and DuckDB recomputes everything else.
#[test]
fn duckdb_recomputes_the_analysis_of_a_vocabulary_beyond_16_bits() {
    use census_format::analysis::tables::{AnalysisTable, DetectorKind, DetectorRow};
    use census_format::run::Shard;
    use census_stats::counts::CorpusTally;
    use common::{SyntheticRun, config, mix};

    const VOCAB: usize = 151_936;
    const FFN: usize = 9000;
    const LEN: usize = 64;
    const SEQUENCES: usize = 1400;
    const TOKEN: u32 = 150_000;
    const TRIGRAM: [u32; 3] = [140_001, 140_002, 140_003];
    // Neurons that fire on the planted n-grams only, on both sides of the range boundary.
    let planted: [(usize, u16); 4] = [(0, 8700), (0, 8999), (1, 8191), (1, 8192)];

    // Filler tokens run through 65,536..139,536 in a scrambled order (7919 and 74,000 are
    // coprime), so the corpus holds about 70,000 distinct tokens.
    let mut filler = (0u32..).map(|i| 65_536 + (i * 7919) % 74_000);
    let corpus: Vec<Vec<u32>> = (0..SEQUENCES)
        .map(|_| {
            let mut tokens = vec![2u32];
            while tokens.len() < LEN {
                let p = tokens.len();
                if p % 31 == 10 && p + 3 <= LEN {
                    tokens.extend(TRIGRAM);
                } else if p % 9 == 4 {
                    tokens.push(TOKEN);
                } else {
                    tokens.push(filler.next().unwrap());
                }
            }
            tokens
        })
        .collect();
    let rule = |layer: usize, s: usize, p: usize| -> Vec<u16> {
        let t = &corpus[s];
        let mut fired = Vec::new();
        for salt in 0..3 {
            let n = (mix((layer * 1_000_000 + s * LEN + p) as u64 * 3 + salt) % FFN as u64) as u16;
            if !planted.contains(&(layer, n)) {
                fired.push(n);
            }
        }
        if p > 0 && t[p] == TOKEN {
            fired.extend(if layer == 0 {
                &[8700][..]
            } else {
                &[8191, 8192]
            });
        }
        if layer == 0 && p >= 3 && t[p - 2..=p] == TRIGRAM {
            fired.push(8999);
        }
        fired.sort_unstable();
        fired.dedup();
        fired
    };
    let mut model = config(2, FFN, LEN);
    model.vocab_size = VOCAB;
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("run"), dir.path().join("analysis"));
    SyntheticRun {
        config: model,
        sequences: corpus.clone(),
        seq_ids: (0..SEQUENCES as u64).collect(),
        fired: &rule,
        domain: &|_| "synthetic",
        part_sequences: 128,
        full_length: true,
        shard: Shard::default(),
        complete: true,
    }
    .write(&run);

    // The codes this corpus needs.
    let mut tally = CorpusTally::new(LEN, VOCAB, false);
    for sequence in &corpus {
        for &t in &sequence[1..] {
            tally.tokens[t as usize] += 1;
        }
    }
    let distinct = tally.tokens.iter().filter(|&&n| n > 0).count();
    assert!(distinct > 65_536, "{distinct} distinct tokens");
    let codes = tally.table_codes();
    assert_eq!(
        (
            codes.bits(),
            codes.table_neurons(census_format::analysis::tables::Order::Trigram)
        ),
        (17, 8192)
    );

    let mut options = AnalysisOptions {
        ngram_layers: LayerScope::All,
        ..Default::default()
    };
    options.projection.enabled = false;
    options.positional.any_length = true;
    options.positional.curve_bins = 7;
    options.token_neurons = 3;
    analyze(&AnalyzeRequest {
        options,
        ..AnalyzeRequest::new(vec![run.clone()], out.clone())
    })
    .unwrap();
    let detectors = DetectorRow::read(&out).unwrap();
    for (layer, neuron) in planted {
        // The trigram's last token occurs only in it: its neuron detects both.
        let (kind, triggers) = if neuron == 8999 {
            (DetectorKind::Trigram, TRIGRAM.to_vec())
        } else {
            (DetectorKind::Token, vec![TOKEN])
        };
        let found = detectors
            .iter()
            .find(|d| (usize::from(d.layer), d.neuron, d.kind) == (layer, neuron, kind))
            .unwrap_or_else(|| panic!("no {kind:?} detector at layer {layer}, neuron {neuron}"));
        assert_eq!(found.trigger_ids, vec![triggers]);
    }
    let Some(python) = python() else { return };
    check(&python, &run, &out);
}
