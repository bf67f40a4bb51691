//! Tokenizer parity: ids equal to Hugging Face's OPT tokenizer (`GPT2Tokenizer` with
//! `add_bos_token`, loaded from the released-repo layout) on a few hundred varied lines: prose,
//! code with indentation, unicode of many scripts, emoji, whitespace runs and empty lines. The
//! fixture vocabulary is renumbered so ids differ from merge ranks.

mod common;

use census_model::{ModelError, OptTokenizer};

fn lines_and_golden() -> (Vec<String>, Vec<Vec<u32>>) {
    let dir = common::fixtures().join("tokenizer");
    let lines: Vec<String> = std::fs::read_to_string(dir.join("lines.txt"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let golden: Vec<Vec<u32>> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden_ids.json")).unwrap())
            .unwrap();
    assert_eq!(lines.len(), golden.len());
    assert!(lines.len() >= 200, "only {} lines", lines.len());
    (lines, golden)
}

fn assert_matches_hf(tokenizer: &OptTokenizer) {
    let (lines, golden) = lines_and_golden();
    assert_eq!(tokenizer.bos_id(), 2);
    for (line, expected) in lines.iter().zip(&golden) {
        let ids = tokenizer.encode(line).unwrap();
        assert_eq!(&ids, expected, "line {line:?}");
        assert_eq!(
            ids.iter().filter(|&&t| t == 2).count(),
            1,
            "</s> once: {line:?}"
        );
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(tokenizer.encode_batch(&refs).unwrap(), golden);
}

#[test]
fn vocab_and_merges_match_hf() {
    let dir = common::fixtures().join("tokenizer");
    let tokenizer =
        OptTokenizer::from_vocab_merges(dir.join("vocab.json"), dir.join("merges.txt")).unwrap();
    assert_matches_hf(&tokenizer);
}

#[test]
fn tokenizer_json_matches_hf_and_adds_bos_once() {
    let dir = common::fixtures().join("tokenizer");
    let tokenizer = OptTokenizer::from_tokenizer_json(dir.join("tokenizer.json")).unwrap();
    assert_matches_hf(&tokenizer);
}

#[test]
fn model_directory_tokenizer_round_trips_text() {
    let tokenizer = OptTokenizer::from_dir(common::model_dir("pre-ln")).unwrap();
    let text = "Neurons in large language models fire.";
    let ids = tokenizer.encode(text).unwrap();
    assert_eq!(ids[0], 2);
    assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    assert_eq!(tokenizer.vocab_size(), 512);
}

#[test]
fn empty_text_is_just_bos() {
    let tokenizer = OptTokenizer::from_dir(common::fixtures().join("tokenizer")).unwrap();
    assert_eq!(tokenizer.encode("").unwrap(), vec![2]);
}

#[test]
fn missing_tokenizer_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = OptTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(err.to_string().contains("vocab.json"), "{err}");
}

#[test]
fn vocabulary_without_bos_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vocab.json"),
        r#"{"a": 0, "b": 1, "ab": 2}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("merges.txt"), "#version: 0.2\na b\n").unwrap();
    let err = OptTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("</s>"), "{err}");
}

#[test]
fn malformed_tokenizer_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), "{ not json").unwrap();
    let err = OptTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

/// The tokenizer `cargo xtask train` made for the shipped default model gives transformers'
/// ids on the first document of every domain of the bundled corpus.
#[test]
fn trained_default_tokenizer_matches_hf() {
    #[derive(serde::Deserialize)]
    struct Case {
        text: String,
        ids: Vec<u32>,
    }
    let golden = common::golden_dir(common::DEFAULT_MODEL).join("tokens.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(golden).unwrap()).unwrap();
    assert_eq!(cases.len(), 8, "one document per domain");
    let tokenizer = OptTokenizer::from_dir(common::model_dir(common::DEFAULT_MODEL)).unwrap();
    for case in &cases {
        assert_eq!(
            tokenizer.encode(&case.text).unwrap(),
            case.ids,
            "{:?}",
            case.text
        );
    }
}
