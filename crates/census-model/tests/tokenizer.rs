//! Tokenizer parity: ids equal to Hugging Face's OPT tokenizer (`GPT2Tokenizer` with
//! `add_bos_token`, loaded from the released-repo layout) on a few hundred varied lines: prose,
//! code with indentation, unicode of many scripts, emoji, whitespace runs and empty lines. The
//! fixture vocabulary is renumbered so ids differ from merge ranks.

mod common;

use census_format::model::Family;
use census_model::{ModelError, ModelTokenizer};

fn lines_and_golden() -> (Vec<String>, Vec<Vec<u32>>) {
    let dir = census_testkit::fixtures_dir().join("tokenizer");
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

fn assert_matches_hf(tokenizer: &ModelTokenizer) {
    let (lines, golden) = lines_and_golden();
    assert_eq!(tokenizer.prefix(), Some(2));
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
    let dir = census_testkit::fixtures_dir().join("tokenizer");
    let tokenizer = ModelTokenizer::from_vocab_merges(
        dir.join("vocab.json"),
        dir.join("merges.txt"),
        Family::Opt,
    )
    .unwrap();
    assert_matches_hf(&tokenizer);
}

#[test]
fn tokenizer_json_matches_hf_and_adds_bos_once() {
    let dir = census_testkit::fixtures_dir().join("tokenizer");
    let tokenizer =
        ModelTokenizer::from_tokenizer_json(dir.join("tokenizer.json"), Family::Opt).unwrap();
    assert_matches_hf(&tokenizer);
}

#[test]
fn model_directory_tokenizer_round_trips_text() {
    let tokenizer = ModelTokenizer::from_dir(common::model_dir("pre-ln"), Family::Opt).unwrap();
    let text = "Neurons in large language models fire.";
    let ids = tokenizer.encode(text).unwrap();
    assert_eq!(ids[0], 2);
    assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    assert_eq!(tokenizer.vocab_size(), 512);
}

#[test]
fn empty_text_is_just_bos() {
    let tokenizer = ModelTokenizer::from_dir(
        census_testkit::fixtures_dir().join("tokenizer"),
        Family::Opt,
    )
    .unwrap();
    assert_eq!(tokenizer.encode("").unwrap(), vec![2]);
}

#[test]
fn missing_tokenizer_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = ModelTokenizer::from_dir(dir.path(), Family::Opt).unwrap_err();
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
    let err = ModelTokenizer::from_dir(dir.path(), Family::Opt).unwrap_err();
    assert!(matches!(err, ModelError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("</s>"), "{err}");
}

#[test]
fn malformed_tokenizer_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), "{ not json").unwrap();
    let err = ModelTokenizer::from_dir(dir.path(), Family::Opt).unwrap_err();
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
    let tokenizer =
        ModelTokenizer::from_dir(common::model_dir(common::DEFAULT_MODEL), Family::Opt).unwrap();
    for case in &cases {
        assert_eq!(
            tokenizer.encode(&case.text).unwrap(),
            case.ids,
            "{:?}",
            case.text
        );
    }
}

/// The lines and `AutoTokenizer`'s ids (with and without special tokens) of a family tokenizer
/// fixture (`tests/fixtures/families/tokenizers/<name>`).
fn family_lines_and_golden(name: &str) -> (Vec<String>, Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let dir = common::family_dir("tokenizers").join(name);
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    let lines: Vec<String> = read("lines.txt")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let golden: Vec<Vec<u32>> = serde_json::from_str(&read("golden_ids.json")).unwrap();
    let plain: Vec<Vec<u32>> = serde_json::from_str(&read("golden_ids_plain.json")).unwrap();
    assert_eq!((lines.len(), plain.len()), (golden.len(), golden.len()));
    assert!(lines.len() >= 200, "only {} lines", lines.len());
    (lines, golden, plain)
}

/// `tokenizer.json` of `family` gives `AutoTokenizer`'s ids on every line, one by one and in a
/// batch, and its body without the prefix.
fn assert_family_matches_hf(name: &str, family: Family, prefix: Option<u32>) {
    let dir = common::family_dir("tokenizers").join(name);
    let tokenizer = ModelTokenizer::from_dir(&dir, family).unwrap();
    assert_eq!(tokenizer.prefix(), prefix);
    let (lines, golden, plain) = family_lines_and_golden(name);
    for (line, expected) in lines.iter().zip(&golden) {
        assert_eq!(&tokenizer.encode(line).unwrap(), expected, "line {line:?}");
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(tokenizer.encode_batch(&refs).unwrap(), golden);
    assert_eq!(tokenizer.encode_batch_without_prefix(&refs).unwrap(), plain);
}

#[test]
fn a_byte_level_tokenizer_json_without_bos_matches_hf() {
    assert_family_matches_hf("bytelevel", Family::Gpt2, None);
    assert_family_matches_hf("bytelevel", Family::GptNeox, None);
}

#[test]
fn a_tokenizer_json_with_a_bos_template_matches_hf() {
    assert_family_matches_hf("bos-template", Family::Llama, Some(500));
}

/// Tokenizers read through a tokenizer class, as `AutoTokenizer` picks it from the model's
/// `config.json` and `tokenizer_config.json` (`tests/fixtures/families/tokenizers/{sentencepiece,
/// class}-*`, each with the class it picked in `expected.json`): Llama 2's sentencepiece
/// conversion rebuilt as a Metaspace pre-tokenizer (legacy false, no prefix space), the same
/// file read as saved under a Mistral model, a byte-level file naming LlamaTokenizerFast,
/// GPT2Tokenizer with a prefix space, GPTNeoXTokenizer resetting the post-processor, and a Qwen2
/// model's forced Qwen2Tokenizer. Our ids are `AutoTokenizer`'s on every line, also where the
/// file's own pipeline gives other ids.
#[test]
fn tokenizers_read_through_their_class_match_hf() {
    let root = common::family_dir("tokenizers");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(expected) = std::fs::read_to_string(dir.join("expected.json")) else {
            continue;
        };
        let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        let family = Family::from_model_type(config["model_type"].as_str().unwrap()).unwrap();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let prefix = expected["prefix"].as_u64().map(|p| p as u32);
        assert_family_matches_hf(&name, family, prefix);
        // Where the class rebuilds the pipeline, the file read as saved gives other ids.
        let raw = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        let (lines, golden, _) = family_lines_and_golden(&name);
        let differ = lines
            .iter()
            .zip(&golden)
            .filter(|(line, ids)| raw.encode(line.as_str(), true).unwrap().get_ids() != &ids[..])
            .count() as u64;
        assert_eq!(
            differ,
            expected["differ_from_saved"].as_u64().unwrap(),
            "{name}"
        );
        checked.push((
            name,
            expected["class"].as_str().unwrap().to_string(),
            differ,
        ));
    }
    checked.sort();
    let classes: Vec<&str> = checked.iter().map(|(_, c, _)| c.as_str()).collect();
    for class in [
        "LlamaTokenizer",
        "TokenizersBackend",
        "GPT2Tokenizer",
        "GPTNeoXTokenizer",
        "Qwen2Tokenizer",
    ] {
        assert!(
            classes.contains(&class),
            "no fixture of {class}: {checked:?}"
        );
    }
    assert!(
        checked.iter().filter(|(_, _, d)| *d > 0).count() >= 4,
        "{checked:?}"
    );
}

/// A malformed `tokenizer_config.json` is refused, naming it.
#[test]
fn a_malformed_tokenizer_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::family_dir("tokenizers").join("sentencepiece-llama2");
    std::fs::copy(
        source.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("tokenizer_config.json"), "{ not json").unwrap();
    let e = ModelTokenizer::from_dir(dir.path(), Family::Llama)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tokenizer_config.json") && e.contains("malformed"),
        "{e}"
    );
}

#[test]
fn model_directories_of_every_family_give_their_tokenizer_prefix() {
    for (name, family, prefix) in [
        ("gpt2", Family::Gpt2, None),
        ("pythia", Family::GptNeox, None),
        ("llama", Family::Llama, Some(500)),
        ("mistral", Family::Mistral, Some(500)),
    ] {
        let tokenizer = ModelTokenizer::from_dir(common::family_dir(name), family).unwrap();
        assert_eq!(tokenizer.prefix(), prefix, "{name}");
    }
}

#[test]
fn a_sentencepiece_only_repository_is_refused_naming_tokenizer_json() {
    let dir = common::family_dir("tokenizers").join("sentencepiece-only");
    let err = ModelTokenizer::from_dir(&dir, Family::Llama).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("tokenizer.json") && message.contains("tokenizer.model"),
        "{message}"
    );
}

/// A sentencepiece-style `tokenizer.json` (Llama 2, Mistral: `▁` for a space, `<0x0A>` byte
/// fallback, built here with `tokenizers`): its pieces are spelled in GPT-2's byte-level
/// alphabet, as every family's tokens are stored, and its special tokens kept.
#[test]
fn sentencepiece_pieces_are_spelled_byte_level() {
    use tokenizers::models::bpe::BPE;
    use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
    use tokenizers::{AddedToken, Tokenizer};
    let pieces = [
        "<unk>",
        "<s>",
        "</s>",
        "<0x0A>",
        "\u{2581}",
        "t",
        "h",
        "e",
        "\u{2581}t",
        "he",
        "\u{2581}the",
        "é",
    ];
    let vocab: [(String, u32); 12] = std::array::from_fn(|id| (pieces[id].to_string(), id as u32));
    let merges = vec![
        ("\u{2581}".to_string(), "t".to_string()),
        ("h".to_string(), "e".to_string()),
        ("\u{2581}t".to_string(), "he".to_string()),
    ];
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .unk_token("<unk>".to_string())
        .build()
        .unwrap();
    let mut inner = Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(Metaspace::new('\u{2581}', PrependScheme::First, true)));
    inner.add_special_tokens(&[
        AddedToken::from("<s>", true),
        AddedToken::from("</s>", true),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    inner.save(&path, false).unwrap();
    let tokenizer = ModelTokenizer::from_tokenizer_json(&path, Family::Llama).unwrap();
    assert_eq!(tokenizer.token(10).as_deref(), Some("\u{120}the"));
    assert_eq!(tokenizer.token(3).as_deref(), Some("\u{10a}"));
    assert_eq!(tokenizer.token(11).as_deref(), Some("Ã©"));
    assert_eq!(tokenizer.token(1).as_deref(), Some("<s>"));
    assert_eq!(tokenizer.encode("the").unwrap(), [10]);
    // A byte-level vocabulary is left as it is.
    let gpt2 = ModelTokenizer::from_dir(common::family_dir("gpt2"), Family::Gpt2).unwrap();
    let the = gpt2.encode(" the").unwrap();
    assert!(gpt2.token(the[0]).unwrap().starts_with('\u{120}'));
}
