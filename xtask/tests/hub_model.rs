//! A model known by its hub id only: placed in a Hugging Face cache layout under `HF_HOME`, it
//! is extracted, analysed and reported by its id with `HF_HUB_OFFLINE=1`. Its embedding has
//! padding rows past the tokenizer's vocabulary, as OPT's 50,272 rows hold 50,265 tokens; the
//! padding rows are large, so any projection that ranged over them would rank them first. The
//! tokenizer must be found in the cache snapshot the weights come from: detectors, projections
//! and the report carry real token strings and never a padding row.

use census_testkit::planted;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::UInt32Type;
use planted::read_table;

const REPO: &str = "test-org/opt-planted";
const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";
/// Rows of the planted fixture's embedding, and of its tokenizer.
const REAL_VOCAB: usize = 512;
const PADDED_VOCAB: usize = 520;

/// Writes the planted fixture into `hf_home` as hub model `REPO`, its embedding padded to
/// `PADDED_VOCAB` rows of large values.
fn place_in_cache(hf_home: &Path) {
    let repo = hf_home.join("hub/models--test-org--opt-planted");
    let snapshot = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    let source = census_testkit::fixtures_dir().join("opt/planted");
    for name in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
        std::fs::copy(source.join(name), snapshot.join(name)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("config.json")).unwrap())
            .unwrap();
    config["vocab_size"] = PADDED_VOCAB.into();
    std::fs::write(snapshot.join("config.json"), config.to_string()).unwrap();

    let bytes = std::fs::read(source.join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, (Vec<usize>, Vec<u8>)> = HashMap::new();
    for (name, view) in file.tensors() {
        let mut shape = view.shape().to_vec();
        let mut data = view.data().to_vec();
        if name == "model.decoder.embed_tokens.weight" {
            assert_eq!(shape[0], REAL_VOCAB);
            let width = shape[1];
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..(PADDED_VOCAB - REAL_VOCAB) * width {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let value: f32 = if state >> 63 == 1 { 100.0 } else { -100.0 };
                data.extend_from_slice(&value.to_le_bytes());
            }
            shape[0] = PADDED_VOCAB;
        }
        tensors.insert(name, (shape, data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, (shape, data))| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &snapshot.join("model.safetensors")).unwrap();
}

/// Runs an xtask task offline against the cache in `hf_home`.
fn xtask(hf_home: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{args:?}: {log}");
    log
}

/// Every id of a list-of-u32 column.
fn list_ids(batch: &RecordBatch, name: &str) -> Vec<u32> {
    let lists = batch.column_by_name(name).unwrap().as_list::<i32>();
    (0..lists.len())
        .filter(|&i| lists.is_valid(i))
        .flat_map(|i| {
            lists
                .value(i)
                .as_primitive::<UInt32Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Every string of a list-of-strings column.
fn list_strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let lists = batch.column_by_name(name).unwrap().as_list::<i32>();
    (0..lists.len())
        .filter(|&i| lists.is_valid(i))
        .flat_map(|i| {
            let inner = lists.value(i);
            let strings = inner.as_string::<i32>();
            (0..strings.len())
                .map(|j| strings.value(j).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether `text` holds a token named by id (`#123`), the fallback used without a tokenizer.
fn has_id_name(text: &str) -> bool {
    text.char_indices().any(|(i, c)| {
        c == '#'
            && text[i + 1..]
                .chars()
                .next()
                .is_some_and(|d| d.is_ascii_digit())
            && text[i + 1..]
                .trim_start_matches(|d: char| d.is_ascii_digit())
                .starts_with([' ', '"'])
    })
}

#[test]
fn a_hub_model_keeps_its_token_names_and_never_projects_onto_padding_rows() {
    let dir = tempfile::tempdir().unwrap();
    let hf_home = dir.path().join("hf");
    place_in_cache(&hf_home);
    let (run, analysis, report) = (
        dir.path().join("run"),
        dir.path().join("analysis"),
        dir.path().join("report"),
    );
    let corpus = census_testkit::fixtures_dir().join("corpus/planted.jsonl");
    xtask(
        &hf_home,
        &[
            "extract",
            "--model",
            REPO,
            "--data",
            corpus.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--max-seq-len",
            "48",
            "--quiet",
        ],
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["config"]["model"]["source"], REPO);

    let log = xtask(
        &hf_home,
        &[
            "analyze",
            "--run",
            run.to_str().unwrap(),
            "--out",
            analysis.to_str().unwrap(),
            "--project-all",
            "on",
        ],
    );
    assert!(!log.contains("no tokenizer"), "{log}");
    let analysis_manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(analysis.join("manifest.json")).unwrap())
            .unwrap();
    let tokenizer_dir = analysis_manifest["tokenizer"].as_str().unwrap();
    assert!(
        tokenizer_dir.ends_with(&format!("snapshots/{COMMIT}")),
        "{tokenizer_dir}"
    );

    let detectors = read_table(&analysis.join("detectors.parquet"));
    assert!(detectors.num_rows() > 0, "the planted detectors are found");
    let projections = read_table(&analysis.join("projections.parquet"));
    assert!(projections.num_rows() > 0);
    for (table, batch) in [("detectors", &detectors), ("projections", &projections)] {
        for column in ["promoted_ids", "suppressed_ids"] {
            let ids = list_ids(batch, column);
            assert!(!ids.is_empty(), "{table}.{column}");
            assert!(
                ids.iter().all(|&id| (id as usize) < REAL_VOCAB),
                "{table}.{column} ranks a padding row: {ids:?}"
            );
        }
        for column in ["promoted", "suppressed"] {
            let names = list_strings(batch, column);
            assert!(
                names.iter().all(|n| !has_id_name(&format!("{n} "))),
                "{table}.{column} names tokens by id: {names:?}"
            );
        }
    }
    let triggers = list_strings(&detectors, "triggers");
    assert!(!triggers.is_empty());
    assert!(
        triggers.iter().all(|t| !has_id_name(&format!("{t} "))),
        "{triggers:?}"
    );

    xtask(
        &hf_home,
        &[
            "report",
            "--analysis",
            analysis.to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
            "--no-png",
        ],
    );
    let mut scripts = 0;
    let mut stack = vec![report.join("data")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!has_id_name(&text), "{} names tokens by id", path.display());
            scripts += 1;
        }
    }
    assert!(scripts > 0);
    let page = std::fs::read_to_string(report.join("index.html")).unwrap();
    let data_start = page
        .find("id=\"census-data\">")
        .expect("the page embeds its data");
    let data = &page[data_start..];
    let data = &data[..data.find("</script>").unwrap()];
    assert!(data.len() > 100);
    assert!(!has_id_name(data), "the page's data names tokens by id");
}

#[test]
fn has_id_name_finds_only_id_names() {
    assert!(has_id_name("\"#12\""));
    assert!(has_id_name("#7 #8 "));
    assert!(!has_id_name("color: #1f77b4"));
    assert!(!has_id_name("Ġthe"));
}
