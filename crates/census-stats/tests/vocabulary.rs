//! The vocabulary the analysis writes decodes token ids exactly as the tokenizer itself does
//! (Hugging Face `tokenizers`' byte-level decoder, special tokens skipped), so the report needs
//! no tokenizer to show example contexts.

use census_format::model::Family;
use std::path::Path;

use census_model::ModelTokenizer;
use census_stats::model_files::vocabulary;
use census_testkit::{SeededRng, fixtures_dir};

fn assert_decodes_as_the_tokenizer(tokenizer: &ModelTokenizer, what: &str) {
    let vocabulary = vocabulary(tokenizer);
    let size = tokenizer.vocab_size();
    let mut rng = SeededRng::new(7);
    for case in 0..2000 {
        let length = 1 + rng.below(12);
        // Mostly ordinary ids, with the special ones (the lowest ids in OPT) mixed in.
        let ids: Vec<u32> = (0..length)
            .map(|_| {
                let id = if rng.below(8) == 0 {
                    rng.below(4)
                } else {
                    rng.below(size)
                };
                id as u32
            })
            .collect();
        assert_eq!(
            vocabulary.decode(&ids),
            tokenizer.decode(&ids).unwrap(),
            "{what}, case {case}: ids {ids:?}"
        );
    }
}

#[test]
fn the_vocabulary_decodes_as_the_opt_tokenizer() {
    let dir = fixtures_dir().join("tokenizer");
    assert_decodes_as_the_tokenizer(
        &ModelTokenizer::from_dir(&dir, Family::Opt).unwrap(),
        "tokenizer.json",
    );
    let from_files = ModelTokenizer::from_vocab_merges(
        dir.join("vocab.json"),
        dir.join("merges.txt"),
        Family::Opt,
    )
    .unwrap();
    assert_decodes_as_the_tokenizer(&from_files, "vocab.json + merges.txt");
}

#[test]
fn the_vocabulary_decodes_as_the_default_models_tokenizer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/model");
    assert_decodes_as_the_tokenizer(
        &ModelTokenizer::from_dir(&dir, Family::Opt).unwrap(),
        "data/model",
    );
}
