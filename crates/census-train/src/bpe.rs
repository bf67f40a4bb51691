//! Training OPT's kind of tokenizer: byte-level BPE (GPT-2 style, no prefix space) with OPT's
//! special tokens at ids 0–3 and a post-processor that prepends `</s>`, saved as
//! `tokenizer.json`.

use census_format::model::Family;
use std::path::Path;

use census_model::{ModelTokenizer, SPECIAL_TOKENS};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, TokenizerBuilder};

use crate::error::{Result, SettingsError, TrainError};

/// Trains a byte-level BPE of `vocab_size` ids (the 4 special tokens and the 256 byte symbols
/// included) on `texts`, writes it to `path` and loads it back as the model will.
pub fn train_tokenizer<I, S>(texts: I, vocab_size: usize, path: &Path) -> Result<ModelTokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    check_vocab_size(vocab_size)?;
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let bos = census_model::BOS_TOKEN;
    let post = TemplateProcessing::builder()
        .try_single(format!("{bos} $A:0"))
        .and_then(|b| b.try_pair(format!("{bos} $A:0 $B:1")))
        .map_err(|e| library("building the post-processor", e.into()))?
        .special_tokens(vec![(bos, 2)])
        .build()
        .map_err(|e| library("building the post-processor", e.into()))?;
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(post))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(|e| library("building", e))?;
    tokenizer
        .train(&mut trainer, texts)
        .map_err(|e| library("training", e))?;
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        if tokenizer.token_to_id(token) != Some(id as u32) {
            return Err(TrainError::Tokenizer(format!(
                "special token {token} did not get id {id}"
            )));
        }
    }
    tokenizer
        .save(path, true)
        .map_err(|e| library(&format!("saving {}", path.display()), e))?;
    Ok(ModelTokenizer::from_tokenizer_json(path, Family::Opt)?)
}

/// A failure of the tokenizers library while `action`.
fn library(action: &str, source: tokenizers::Error) -> TrainError {
    TrainError::TokenizerLibrary {
        action: action.to_string(),
        source,
    }
}

/// Refuses a vocabulary with no room for merges beyond the special tokens and the 256 bytes.
pub fn check_vocab_size(vocab_size: usize) -> Result<()> {
    let minimum = SPECIAL_TOKENS.len() + ByteLevel::alphabet().len();
    if vocab_size <= minimum {
        return Err(SettingsError::VocabSize {
            vocab: vocab_size,
            minimum,
        }
        .into());
    }
    Ok(())
}

/// The `tokenizer_config.json` and `special_tokens_map.json` that let `transformers` load the
/// tokenizer the way it loads OPT's (a GPT-2 tokenizer that prepends `</s>`).
pub fn tokenizer_side_files() -> [(&'static str, serde_json::Value); 2] {
    let specials = serde_json::json!({
        "bos_token": "</s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"
    });
    let mut config = specials.clone();
    let fields = config.as_object_mut().expect("an object");
    fields.insert("tokenizer_class".into(), "GPT2Tokenizer".into());
    fields.insert("add_bos_token".into(), true.into());
    fields.insert("add_prefix_space".into(), false.into());
    fields.insert(
        "model_max_length".into(),
        1_000_000_000_000_000_000u64.into(),
    );
    [
        ("tokenizer_config.json", config),
        ("special_tokens_map.json", specials),
    ]
}
