//! End-to-end tests of the extraction stage on the Hugging Face parity fixtures.

mod common;

use census_format::analysis::options::LayerScope;
use census_format::model::Family;
use std::collections::BTreeMap;
use std::path::Path;

use census_extract::{ExtractError, ExtractOptions, extract};
use census_format::corpus::CorpusSource;
use census_format::corpus::SourceFormat;
use census_format::run::Engine;
use census_format::run::SequenceOptions;
use census_format::run::Shard;
use census_format::run::manifest::Manifest;
use census_format::run::tables::{activations_path, read_activations, read_tokens, tokens_path};
use census_model::{CpuBackend, ModelTokenizer};
use census_testkit::golden::Golden;
use census_testkit::opt_fixture;
use common::files;

fn read_golden(name: &str) -> Golden {
    census_testkit::golden::read_golden(&opt_fixture(name))
}

fn pretokenized_source(dir: &Path, sequences: &[Vec<u32>]) -> CorpusSource {
    census_testkit::golden::pretokenized_source(dir, sequences)
}

fn options(model: &str, sources: Vec<CorpusSource>, out: &Path) -> ExtractOptions {
    ExtractOptions {
        model_source: model.to_string(),
        sequences: SequenceOptions::with_max_seq_len(48),
        part_tokens: 40,
        batch_tokens: 96,
        ..ExtractOptions::new(opt_fixture(model), sources, out)
    }
}

fn run(options: &ExtractOptions) -> Result<census_extract::ExtractSummary, ExtractError> {
    extract::<CpuBackend>(options, &Default::default(), "cpu")
}

/// All activation rows of a run per layer, keyed by (seq, pos).
fn activations(out: &Path) -> BTreeMap<usize, BTreeMap<(u64, u16), Vec<u16>>> {
    let manifest = Manifest::load(out).unwrap().expect("a manifest");
    let [start, end] = manifest.config.layers;
    let mut all = BTreeMap::new();
    for layer in start..end {
        let mut rows = BTreeMap::new();
        for part in &manifest.parts {
            let r = read_activations(&activations_path(out, layer, part.index), None).unwrap();
            for i in 0..r.len() {
                assert!(
                    rows.insert((r.seq[i], r.pos[i]), r.neurons_of(i).to_vec())
                        .is_none()
                );
            }
        }
        all.insert(layer, rows);
    }
    all
}

/// HF's fired masks, read back through the Parquet shards, for pre-LN, post-LN and odd shapes.
/// A bit may differ only where HF's pre-activation is within 1e-4 of zero (see the model crate's
/// parity tests for the tolerance).
#[test]
fn shards_hold_hf_fired_masks() {
    for (model, sparse_ffn) in [
        ("pre-ln", true),
        ("post-ln-proj", true),
        ("odd", true),
        ("odd", false),
        ("pre-ln", false),
    ] {
        let golden = read_golden(model);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let source = pretokenized_source(tmp.path(), &golden.sequences);
        let summary = run(&ExtractOptions {
            engine: if sparse_ffn {
                Engine::Host
            } else {
                Engine::Dense
            },
            ..options(model, vec![source], &out)
        })
        .unwrap();
        assert!(summary.manifest.complete);
        assert!(summary.manifest.parts.len() > 1, "several parts");
        let rows = activations(&out);
        let (mut compared, mut flipped) = (0usize, 0usize);
        for (seq, per_layer) in golden.fc1.iter().enumerate() {
            for (layer, positions) in per_layer.iter().enumerate() {
                for (pos, pre) in positions.iter().enumerate() {
                    let fired = &rows[&layer][&(seq as u64, pos as u16)];
                    assert!(fired.windows(2).all(|w| w[0] < w[1]), "ascending");
                    for (n, &x) in pre.iter().enumerate() {
                        compared += 1;
                        if fired.binary_search(&(n as u16)).is_ok() != (x > 0.0) {
                            flipped += 1;
                            assert!(
                                x.abs() < 1e-4,
                                "{model} seq {seq} layer {layer} pos {pos} neuron {n}: {x}"
                            );
                        }
                    }
                }
            }
        }
        let total_rows: usize = rows.values().map(|r| r.len()).sum();
        let expected: usize = golden.fc1.iter().map(|l| l.len() * l[0].len()).sum();
        assert_eq!(
            total_rows, expected,
            "one row per real token and layer, no padding"
        );
        eprintln!(
            "{model} (sparse FFN: {sparse_ffn}): {flipped} of {compared} fired bits differ from HF"
        );
    }
}

#[test]
fn token_shards_match_the_tokenizer_and_domains() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("docs.jsonl");
    std::fs::write(
        &corpus,
        concat!(
            r#"{"text": "The quick brown fox.", "meta": {"pile_set_name": "Wikipedia (en)"}}"#,
            "\n",
            "\n",
            r#"{"text": "def f(x):\n    return x * 2", "domain": "code"}"#,
            "\n",
            r#"{"text": "   "}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let mut opts = options("pre-ln", vec![CorpusSource::new(&corpus)], &out);
    opts.sequences.max_seq_len = 6;
    let summary = run(&opts).unwrap();
    assert_eq!(summary.manifest.counts.documents, 2);
    assert_eq!(summary.manifest.counts.empty_documents, 2);
    let tokenizer = ModelTokenizer::from_dir(opt_fixture("pre-ln"), Family::Opt).unwrap();
    let mut seen: Vec<(u64, u16, u32, u64, String)> = Vec::new();
    for part in &summary.manifest.parts {
        let t = read_tokens(&tokens_path(&out, part.index), None).unwrap();
        for i in 0..t.seq.len() {
            seen.push((
                t.seq[i],
                t.pos[i],
                t.token[i],
                t.doc[i],
                t.domain[i].clone(),
            ));
        }
    }
    let mut expected = Vec::new();
    let mut seq = 0;
    for (doc, (text, domain)) in [
        ("The quick brown fox.", "Wikipedia (en)"),
        ("def f(x):\n    return x * 2", "code"),
    ]
    .iter()
    .enumerate()
    {
        let ids = tokenizer.encode(text).unwrap();
        for chunk in ids[1..].chunks(5) {
            expected.push((seq, 0, 2, doc as u64, domain.to_string()));
            for (p, &t) in chunk.iter().enumerate() {
                expected.push((seq, p as u16 + 1, t, doc as u64, domain.to_string()));
            }
            seq += 1;
        }
    }
    assert_eq!(seen, expected);
}

/// An interrupted run (a committed part lost from the manifest, half-written temporaries, a
/// stray renamed file) resumes to the same files as an uninterrupted one.
#[test]
fn resume_equals_an_uninterrupted_run() {
    // Parts of one sequence each, so that several parts are committed.
    let small_parts = |sources, out: &Path| ExtractOptions {
        part_tokens: 16,
        ..options("pre-ln", sources, out)
    };
    let golden = read_golden("pre-ln");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let whole = tmp.path().join("whole");
    let first = run(&small_parts(vec![source.clone()], &whole)).unwrap();
    assert!(first.manifest.parts.len() >= 3);

    let broken = tmp.path().join("broken");
    run(&small_parts(vec![source.clone()], &broken)).unwrap();
    let mut manifest = Manifest::load(&broken).unwrap().unwrap();
    let lost = manifest.parts.pop().unwrap();
    manifest.parts.remove(0);
    manifest.complete = false;
    manifest.store(&broken).unwrap();
    let stray = activations_path(&broken, 1, lost.index);
    std::fs::write(format!("{}.tmp", stray.display()), b"half a file").unwrap();
    std::fs::write(&stray, b"renamed but never committed").unwrap();
    // A manifest write cut short by a kill leaves its temporary beside the manifest.
    std::fs::write(broken.join(".manifest.json.Xy12ab.tmp"), b"{\"schema").unwrap();

    let resumed = run(&small_parts(vec![source], &broken)).unwrap();
    assert_eq!(resumed.parts_written, 2);
    assert_eq!(resumed.parts_kept, first.manifest.parts.len() - 2);
    assert_eq!(files(&broken), files(&whole));
    assert_eq!(resumed.manifest.parts, first.manifest.parts);
    assert!(resumed.manifest.complete);

    let again = run(&small_parts(
        vec![pretokenized_source(tmp.path(), &golden.sequences)],
        &whole,
    ))
    .unwrap();
    assert_eq!(again.parts_written, 0, "a complete run is left as it is");
}

/// A run tokenises its corpus once: a resume reads the sequence table instead, while the corpus
/// files are byte for byte those the table was cut from. A missing or damaged table is rebuilt
/// by tokenising again, to the same files; a table that does not hold the run's sequences is
/// caught by the run's digest.
#[test]
fn a_resume_reads_the_sequence_table_instead_of_tokenising_again() {
    use census_format::run::sequence_table::{SEQUENCES_FILE, read_sequences, write_sequences};
    let golden = read_golden("pre-ln");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let small_parts = |out: &Path| ExtractOptions {
        part_tokens: 16,
        ..options("pre-ln", vec![source.clone()], out)
    };
    let whole = tmp.path().join("whole");
    let first = run(&small_parts(&whole)).unwrap();
    let table = first
        .manifest
        .sequence_table
        .clone()
        .expect("a sequence table");
    assert_eq!(table.corpus_files.len(), 1);
    assert_eq!(table.corpus_files[0].path, source.path);
    let sequences = read_sequences(
        &whole.join(SEQUENCES_FILE),
        &table.digest,
        &first.manifest.domains,
    )
    .unwrap();
    assert_eq!(
        sequences.len() as u64,
        first.manifest.counts.shard_sequences
    );
    assert_eq!(sequences[0].tokens[0], 2, "</s> first");

    // Loses its last part, then resumes from the table, three ways.
    let interrupted = |name: &str| {
        let dir = tmp.path().join(name);
        run(&small_parts(&dir)).unwrap();
        let mut manifest = Manifest::load(&dir).unwrap().unwrap();
        manifest.parts.pop();
        manifest.complete = false;
        manifest.store(&dir).unwrap();
        dir
    };
    let from_table = interrupted("from-table");
    let resumed = run(&small_parts(&from_table)).unwrap();
    assert_eq!(resumed.parts_written, 1);
    assert_eq!(files(&from_table), files(&whole));

    let without_table = interrupted("without-table");
    std::fs::remove_file(without_table.join(SEQUENCES_FILE)).unwrap();
    run(&small_parts(&without_table)).unwrap();
    assert_eq!(files(&without_table), files(&whole), "tokenised again");

    let damaged = interrupted("damaged");
    let path = damaged.join(SEQUENCES_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&path, bytes).unwrap();
    run(&small_parts(&damaged)).unwrap();
    assert_eq!(files(&damaged), files(&whole), "a damaged table is rebuilt");

    // A table that reads back whole but holds other sequences: the resume read it (tokenising
    // again would have found the run's own sequences), and the digest refuses it.
    let other = interrupted("other-sequences");
    let mut manifest = Manifest::load(&other).unwrap().unwrap();
    let mut changed = sequences.clone();
    changed[0].tokens[1] += 1;
    let digest = write_sequences(
        &other.join(SEQUENCES_FILE),
        &changed,
        &manifest.domains,
        &[],
    )
    .unwrap();
    manifest.sequence_table.as_mut().unwrap().digest = digest;
    manifest.store(&other).unwrap();
    let e = run(&small_parts(&other)).unwrap_err().to_string();
    assert!(e.contains("different content"), "{e}");
}

#[test]
fn shards_together_equal_the_unsharded_run() {
    let golden = read_golden("odd");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let whole_dir = tmp.path().join("whole");
    run(&options("odd", vec![source.clone()], &whole_dir)).unwrap();
    let whole = activations(&whole_dir);
    let mut union: BTreeMap<usize, BTreeMap<(u64, u16), Vec<u16>>> = BTreeMap::new();
    for index in 0..2 {
        let dir = tmp.path().join(format!("shard{index}"));
        let mut opts = options("odd", vec![source.clone()], &dir);
        opts.shard = Shard { index, count: 2 };
        let summary = run(&opts).unwrap();
        assert_eq!(
            summary.manifest.counts.sequences,
            golden.sequences.len() as u64
        );
        for (layer, rows) in activations(&dir) {
            for (key, neurons) in rows {
                assert!(
                    union
                        .entry(layer)
                        .or_default()
                        .insert(key, neurons)
                        .is_none(),
                    "disjoint"
                );
            }
        }
    }
    assert_eq!(union, whole);
}

#[test]
fn a_layer_range_records_only_those_layers() {
    let golden = read_golden("odd");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let all_dir = tmp.path().join("all");
    run(&options("odd", vec![source.clone()], &all_dir)).unwrap();
    let some_dir = tmp.path().join("some");
    let mut opts = options("odd", vec![source], &some_dir);
    opts.layers = LayerScope::range(1..2);
    run(&opts).unwrap();
    let all = activations(&all_dir);
    let some = activations(&some_dir);
    assert_eq!(some.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(some[&1], all[&1]);
    assert!(!some_dir.join("activations/layer=00").exists());
    assert!(!some_dir.join("activations/layer=02").exists());
}

#[test]
fn a_different_configuration_is_refused_and_nothing_is_touched() {
    let golden = read_golden("pre-ln");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let out = tmp.path().join("run");
    run(&options("pre-ln", vec![source.clone()], &out)).unwrap();
    let before = files(&out);
    let manifest_before = std::fs::read(out.join("manifest.json")).unwrap();
    let mut changed = options("pre-ln", vec![source.clone()], &out);
    changed.sequences.max_seq_len = 32;
    let err = run(&changed).unwrap_err();
    assert!(
        matches!(err, ExtractError::ConfigurationChanged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("max_seq_len"), "{err}");
    // The corpus file edited under the same name.
    std::fs::write(&source.path, "{\"input_ids\": [5, 6, 7]}\n").unwrap();
    let err = run(&options("pre-ln", vec![source], &out)).unwrap_err();
    assert!(err.to_string().contains("different content"), "{err}");
    // A data path that does not exist is named as missing, not as another configuration.
    let missing = CorpusSource::new(tmp.path().join("typo.jsonl"));
    let err = run(&options("pre-ln", vec![missing], &out))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("typo.jsonl") && err.contains("No such file") && !err.contains("delete"),
        "{err}"
    );
    assert_eq!(files(&out), before);
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        manifest_before
    );
}

#[test]
fn bad_inputs_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"text\": \"fine\"}\n{\"text\": oops}\n{\"txt\": \"no text\"}\n",
    )
    .unwrap();
    let out = tmp.path().join("run");
    let err = run(&options("pre-ln", vec![CorpusSource::new(&bad)], &out))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.jsonl:2") && err.contains("malformed JSON"),
        "{err}"
    );
    let mut skipping = options("pre-ln", vec![CorpusSource::new(&bad)], &out);
    skipping.sequences.skip_malformed = true;
    let summary = run(&skipping).unwrap();
    assert_eq!(summary.manifest.counts.malformed_lines, 2);
    assert_eq!(summary.manifest.counts.documents, 1);

    let latin1 = tmp.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9\n").unwrap();
    let err = run(&options(
        "pre-ln",
        vec![CorpusSource::new(&latin1)],
        &tmp.path().join("r2"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("latin1.txt:1") && err.contains("UTF-8"),
        "{err}"
    );

    let missing = tmp.path().join("nowhere.jsonl");
    let err = run(&options(
        "pre-ln",
        vec![CorpusSource::new(&missing)],
        &tmp.path().join("r3"),
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("nowhere.jsonl"), "{err}");

    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    let err = run(&options(
        "pre-ln",
        vec![CorpusSource::new(&empty)],
        &tmp.path().join("r4"),
    ))
    .unwrap_err();
    assert!(matches!(err, ExtractError::EmptyCorpus(_)), "{err}");

    let mut too_long = options(
        "pre-ln",
        vec![CorpusSource::new(&bad)],
        &tmp.path().join("r5"),
    );
    too_long.sequences.max_seq_len = 49;
    let err = run(&too_long).unwrap_err().to_string();
    assert!(err.contains("exceeds the model's 48 positions"), "{err}");

    let mut half_on_host = options(
        "pre-ln",
        vec![CorpusSource::new(&bad)],
        &tmp.path().join("r6"),
    );
    half_on_host.dtype = census_format::model::FloatType::Bf16;
    let err = run(&half_on_host).unwrap_err().to_string();
    assert!(
        err.contains("--ffn sparse runs the layers on the host CPU in f32"),
        "{err}"
    );
    assert!(!tmp.path().join("r6").exists(), "nothing written");

    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let err = run(&options("pre-ln", vec![CorpusSource::new(&bad)], &foreign))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds no run of neuron-census; refusing"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// `--stream-layers` (one layer's weights at a time) writes exactly the files of a normal run,
/// with the sparse and the dense FFN, and with a layer range that starts above layer 0; so does
/// the dense path with its hidden states offloaded to the host between layers.
#[test]
fn streamed_layers_write_the_same_run() {
    let golden = read_golden("odd");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    for (engine, layers) in [
        (Engine::Host, None),
        (Engine::Dense, None),
        (Engine::Host, Some(1..3)),
        (Engine::Dense, Some(2..3)),
    ] {
        let label = format!("{}, layers {layers:?}", engine.name());
        let normal_dir = tmp
            .path()
            .join(format!("normal-{}-{layers:?}", engine.name()));
        let streamed_dir = tmp
            .path()
            .join(format!("streamed-{}-{layers:?}", engine.name()));
        let base = ExtractOptions {
            engine,
            layers: layers.clone().map_or(LayerScope::All, LayerScope::range),
            ..options("odd", vec![source.clone()], &normal_dir)
        };
        run(&base).unwrap();
        let streamed = ExtractOptions {
            engine: engine.streamed(),
            out: streamed_dir.clone(),
            ..base.clone()
        };
        let summary = run(&streamed).unwrap();
        assert!(summary.manifest.complete, "{label}");
        assert_eq!(summary.manifest.engine, Some(engine.streamed()));
        assert_eq!(files(&streamed_dir), files(&normal_dir), "{label}");
        if engine.on_host() {
            continue;
        }
        // Hidden states offloaded to the host between layers: the same files again.
        let offloaded_dir = tmp
            .path()
            .join(format!("offloaded-{}-{layers:?}", engine.name()));
        let offloaded = ExtractOptions {
            engine: Engine::DenseStreamedOffload,
            out: offloaded_dir.clone(),
            ..streamed.clone()
        };
        run(&offloaded).unwrap();
        assert_eq!(
            files(&offloaded_dir),
            files(&normal_dir),
            "{label}, offloaded"
        );
    }
}

/// Streamed and offloaded in f16, the hidden states come back from the host in f16: the files
/// equal a whole f16 run's.
#[test]
fn offloaded_half_precision_states_keep_their_dtype() {
    let golden = read_golden("odd");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let run_with = |engine: Engine, name: &str| {
        let out = tmp.path().join(name);
        run(&ExtractOptions {
            engine,
            dtype: census_format::model::FloatType::F16,
            ..options("odd", vec![source.clone()], &out)
        })
        .unwrap();
        files(&out)
    };
    assert_eq!(
        run_with(Engine::DenseStreamedOffload, "offloaded"),
        run_with(Engine::Dense, "whole")
    );
}

/// The data of a run (token rows, and every layer's fired neurons), without the footers,
/// whose run id hashes the configuration.
type RunData = (
    Vec<(u64, u16, u32, u64, String)>,
    BTreeMap<usize, BTreeMap<(u64, u16), Vec<u16>>>,
);

fn data(out: &Path) -> RunData {
    let manifest = Manifest::load(out).unwrap().unwrap();
    let mut tokens = Vec::new();
    for part in &manifest.parts {
        let t = read_tokens(&tokens_path(out, part.index), None).unwrap();
        for i in 0..t.seq.len() {
            tokens.push((
                t.seq[i],
                t.pos[i],
                t.token[i],
                t.doc[i],
                t.domain[i].clone(),
            ));
        }
    }
    (tokens, activations(out))
}

/// Writes `rows` (text or ids, with a domain) as a Parquet corpus file.
fn parquet_corpus(
    path: &Path,
    texts: Option<Vec<&str>>,
    ids: Option<&[Vec<u32>]>,
    domain: &str,
    compression: parquet::basic::Compression,
) {
    use arrow::array::{ArrayRef, ListArray, StringArray};
    use arrow::datatypes::UInt32Type;
    use std::sync::Arc;
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    let rows = if let Some(texts) = texts {
        let n = texts.len();
        columns.push(("text", Arc::new(StringArray::from(texts))));
        n
    } else {
        let ids = ids.unwrap();
        let lists = ListArray::from_iter_primitive::<UInt32Type, _, _>(
            ids.iter()
                .map(|s| Some(s[1..].iter().map(|&t| Some(t)).collect::<Vec<_>>())),
        );
        columns.push(("input_ids", Arc::new(lists)));
        ids.len()
    };
    columns.push(("domain", Arc::new(StringArray::from(vec![domain; rows]))));
    let batch = arrow::array::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_corpora_give_the_same_run_as_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    // Pre-tokenized: the golden sequences as a list column.
    let golden = read_golden("pre-ln");
    let jsonl = pretokenized_source(tmp.path(), &golden.sequences);
    let ids_path = tmp.path().join("golden.parquet");
    // Written with snappy, as DuckDB and pyarrow write by default.
    parquet_corpus(
        &ids_path,
        None,
        Some(&golden.sequences),
        "golden",
        parquet::basic::Compression::SNAPPY,
    );
    let from_jsonl = tmp.path().join("ids-jsonl");
    let from_parquet = tmp.path().join("ids-parquet");
    run(&options("pre-ln", vec![jsonl], &from_jsonl)).unwrap();
    run(&options(
        "pre-ln",
        vec![CorpusSource::new(&ids_path)],
        &from_parquet,
    ))
    .unwrap();
    assert!(
        data(&from_parquet) == data(&from_jsonl),
        "pre-tokenized Parquet and JSONL differ"
    );

    // Text, with an empty row skipped as in JSONL.
    let texts = vec!["The quick brown fox.", "  ", "def f(x):\n    return x * 2"];
    let text_path = tmp.path().join("docs.parquet");
    parquet_corpus(
        &text_path,
        Some(texts.clone()),
        None,
        "mixed",
        parquet::basic::Compression::GZIP(Default::default()),
    );
    let json_path = tmp.path().join("docs.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({ "text": t, "domain": "mixed" }).to_string())
        .collect();
    std::fs::write(&json_path, lines.join("\n")).unwrap();
    let text_jsonl = tmp.path().join("text-jsonl");
    let text_parquet = tmp.path().join("text-parquet");
    run(&options(
        "pre-ln",
        vec![CorpusSource::new(&json_path)],
        &text_jsonl,
    ))
    .unwrap();
    let summary = run(&options(
        "pre-ln",
        vec![CorpusSource::new(&text_path)],
        &text_parquet,
    ))
    .unwrap();
    assert_eq!(summary.manifest.counts.empty_documents, 1);
    assert!(
        data(&text_parquet) == data(&text_jsonl),
        "text Parquet and JSONL differ"
    );

    // Neither column: an error naming the file.
    let bad = tmp.path().join("bad.parquet");
    {
        use std::sync::Arc;
        let batch = arrow::array::RecordBatch::try_from_iter(vec![(
            "body",
            Arc::new(arrow::array::StringArray::from(vec!["x"])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&bad).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let err = run(&options(
        "pre-ln",
        vec![CorpusSource::new(&bad)],
        &tmp.path().join("bad-run"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bad.parquet") && err.contains("no `text` or `input_ids` column"),
        "{err}"
    );
}

#[test]
fn an_output_path_that_cannot_be_created_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let golden = read_golden("pre-ln");
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = blocker.join("run");
    let err = run(&options("pre-ln", vec![source], &out))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a-file/run"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "not a directory"
    );
}

/// A `.jsonl` file of `input_ids` is read as pre-tokenized without being told (as the Parquet
/// reader decides by its columns), so a model without tokenizer files extracts it; the run
/// equals one of the same file named `format=pretokenized`. A line without the assumed field
/// says which format was assumed and how to name another.
#[test]
fn json_lines_of_token_ids_are_detected_as_pre_tokenized() {
    let golden = read_golden("pre-ln");
    let tmp = tempfile::tempdir().unwrap();
    let named = pretokenized_source(tmp.path(), &golden.sequences);
    let detected = CorpusSource::new(&named.path);
    assert_eq!(detected.format, SourceFormat::PreTokenized);
    let model = tmp.path().join("no-tokenizer");
    std::fs::create_dir(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(opt_fixture("pre-ln").join(file), model.join(file)).unwrap();
    }
    let (a, b) = (tmp.path().join("detected"), tmp.path().join("named"));
    run(&ExtractOptions {
        model_dir: model.clone(),
        ..options("pre-ln", vec![detected], &a)
    })
    .unwrap();
    run(&options("pre-ln", vec![named.clone()], &b)).unwrap();
    assert_eq!(activations(&a), activations(&b));

    let text = tmp.path().join("text.jsonl");
    std::fs::write(&text, "{\"text\": \"one\"}\n{\"input_ids\": [5]}\n").unwrap();
    assert_eq!(CorpusSource::new(&text).format, SourceFormat::Jsonl);
    let e = run(&options(
        "pre-ln",
        vec![CorpusSource::new(&text)],
        &tmp.path().join("t"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("format=pretokenized") && e.contains("text.jsonl"),
        "{e}"
    );
}

/// A run whose model failed to load has written its manifest but no part: rerun once the model
/// is mended, with other settings even, it starts anew instead of being refused as "a different
/// configuration".
#[test]
fn a_run_that_committed_nothing_starts_anew() {
    let golden = read_golden("pre-ln");
    let tmp = tempfile::tempdir().unwrap();
    let source = pretokenized_source(tmp.path(), &golden.sequences);
    let model = tmp.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(opt_fixture("pre-ln").join(file), model.join(file)).unwrap();
    }
    let weights = std::fs::read(model.join("model.safetensors")).unwrap();
    // Weights whose headers pass but whose last value is NaN: refused when the model loads,
    // after the run directory was started.
    let mut broken = weights.clone();
    let end = broken.len();
    broken[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(model.join("model.safetensors"), &broken).unwrap();
    let out = tmp.path().join("run");
    let failing = ExtractOptions {
        model_dir: model.clone(),
        ..options("pre-ln", vec![source.clone()], &out)
    };
    assert!(run(&failing).is_err());
    assert!(Manifest::load(&out).unwrap().unwrap().parts.is_empty());

    std::fs::write(model.join("model.safetensors"), &weights).unwrap();
    let mended = ExtractOptions {
        sequences: SequenceOptions::with_max_seq_len(32),
        ..failing
    };
    run(&mended).unwrap();
    let manifest = Manifest::load(&out).unwrap().unwrap();
    assert!(manifest.complete);
    assert_eq!(manifest.config.sequences.max_seq_len, 32);
}

/// `--fire-threshold τ`: on the GELU fixture without BOS, the shards hold exactly the neurons
/// whose activation input HF computed above τ (outside the near-zero band around τ), the
/// manifest records τ, and the host engine refuses a threshold.
#[test]
fn a_fire_threshold_records_inputs_above_it() {
    let model = census_testkit::family_fixture("gpt2");
    let golden = census_testkit::golden::read_golden(&model);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let source = census_testkit::golden::pretokenized_as_is(tmp.path(), &golden.sequences);
    let threshold = 0.5f32;
    let options = ExtractOptions {
        sequences: SequenceOptions::with_max_seq_len(64),
        engine: Engine::Dense,
        fire_threshold: threshold,
        ..ExtractOptions::new(&model, vec![source], &out)
    };
    let summary = run(&options).unwrap();
    assert_eq!(summary.manifest.config.fire_threshold, threshold);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"fire_threshold\": 0.5"), "{manifest}");
    let rows = activations(&out);
    let (mut compared, mut above) = (0usize, 0usize);
    for (seq, per_layer) in golden.fc1.iter().enumerate() {
        for (layer, positions) in per_layer.iter().enumerate() {
            for (pos, pre) in positions.iter().enumerate() {
                let fired = &rows[&layer][&(seq as u64, pos as u16)];
                for (n, &x) in pre.iter().enumerate() {
                    compared += 1;
                    above += usize::from(x > threshold);
                    if fired.binary_search(&(n as u16)).is_ok() != (x > threshold) {
                        assert!(
                            (x - threshold).abs() < 1e-4,
                            "layer {layer} neuron {n}: {x}"
                        );
                    }
                }
            }
        }
    }
    assert!(
        above > 0 && above < compared / 2,
        "{above} of {compared} above τ"
    );
    let host = ExtractOptions {
        engine: Engine::Host,
        out: tmp.path().join("host"),
        ..ExtractOptions::new(
            opt_fixture("pre-ln"),
            options.sources.clone(),
            tmp.path().join("h"),
        )
    };
    let err = run(&ExtractOptions {
        fire_threshold: threshold,
        sequences: SequenceOptions::with_max_seq_len(48),
        ..host
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--fire-threshold") && err.contains("--ffn dense"),
        "{err}"
    );
}

/// Where padding borrows the end-of-text id (GPT-2, Pythia and Qwen2 have no pad token), that
/// id is text separating documents in pre-tokenized corpora, and is kept.
#[test]
fn pre_tokenized_end_of_text_ids_are_kept_where_padding_borrows_them() {
    let model = census_testkit::family_fixture("gpt2");
    let tmp = tempfile::tempdir().unwrap();
    let source = census_testkit::golden::pretokenized_as_is(
        tmp.path(),
        &[vec![10, 11, 500, 12, 13], vec![500, 20, 21]],
    );
    let out = tmp.path().join("run");
    let summary = run(&ExtractOptions {
        sequences: SequenceOptions::with_max_seq_len(64),
        engine: Engine::Dense,
        ..ExtractOptions::new(&model, vec![source], &out)
    })
    .unwrap();
    assert_eq!(summary.manifest.counts.tokens, 8);
    let tokens = read_tokens(&tokens_path(&out, 0), None).unwrap();
    assert_eq!(tokens.token, [10, 11, 500, 12, 13, 500, 20, 21]);
    assert_eq!(tokens.pos, [0, 1, 2, 3, 4, 0, 1, 2]);
}

/// The host engine, the CPU's default, on every family: the shards hold exactly HF's fired
/// masks (the activation's input > 0, outside the near-zero band), read back from Parquet.
#[test]
fn every_family_extracts_hf_fired_masks_on_the_host_engine() {
    for name in ["gpt2", "pythia", "llama", "qwen2", "mistral"] {
        let model = census_testkit::family_fixture(name);
        let golden = census_testkit::golden::read_golden(&model);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let source = census_testkit::golden::pretokenized_as_is(tmp.path(), &golden.sequences);
        let summary = run(&ExtractOptions {
            sequences: SequenceOptions::with_max_seq_len(64),
            engine: Engine::Host,
            ..ExtractOptions::new(&model, vec![source], &out)
        })
        .unwrap();
        assert!(summary.manifest.complete, "{name}");
        let rows = activations(&out);
        let (mut compared, mut fired_total) = (0usize, 0usize);
        for (seq, per_layer) in golden.fc1.iter().enumerate() {
            for (layer, positions) in per_layer.iter().enumerate() {
                for (pos, pre) in positions.iter().enumerate() {
                    let fired = &rows[&layer][&(seq as u64, pos as u16)];
                    fired_total += fired.len();
                    for (n, &x) in pre.iter().enumerate() {
                        compared += 1;
                        if fired.binary_search(&(n as u16)).is_ok() != (x > 0.0) {
                            assert!(
                                x.abs() < 1e-4,
                                "{name} seq {seq} layer {layer} pos {pos} neuron {n}: {x}"
                            );
                        }
                    }
                }
            }
        }
        assert!(
            fired_total > 0 && fired_total < compared,
            "{name}: {fired_total}/{compared}"
        );
    }
}
