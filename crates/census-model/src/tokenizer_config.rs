//! What `AutoTokenizer` (transformers 5) takes from `tokenizer_config.json` beside
//! `tokenizer.json`, so that our ids stay its ids:
//!
//! - `tokenizer_class: LlamaTokenizer` (the class Llama 2's and Mistral's repositories name)
//!   rebuilds the pipeline from the vocabulary and merges: no normaliser, and a `Metaspace`
//!   pre-tokeniser whose prefix space follows `add_prefix_space` (default true) and `legacy`
//!   (default false): `always` for a legacy tokenizer, `first` otherwise, `never` without a
//!   prefix space. The normaliser their `tokenizer.json` holds (Prepend `▁`, Replace spaces) is
//!   not used: it differs on text that starts with a space.
//! - `add_bos_token` or `add_eos_token`, when either is given, rewrite the post-processor as
//!   `[bos] $A [eos]` with the flags given (an absent one is false).
//!
//! The byte-level classes (`GPT2Tokenizer`, `GPTNeoXTokenizer`, `Qwen2Tokenizer`) rebuild the
//! same normaliser and pre-tokeniser their released repositories' `tokenizer.json` holds, so
//! they are read as they are; one that asks for a prefix space is refused rather than read
//! otherwise than transformers reads it.

use std::path::Path;

use serde::Deserialize;
use tokenizers::Tokenizer;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;

use crate::error::{ModelError, Result};

/// The file read beside `tokenizer.json`.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// The classes whose pipeline transformers rebuilds as Llama's.
const LLAMA_CLASSES: [&str; 2] = ["LlamaTokenizer", "LlamaTokenizerFast"];

/// The byte-level classes whose rebuilt pipeline equals their repositories' `tokenizer.json`.
const BYTE_LEVEL_CLASSES: [&str; 6] = [
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "GPTNeoXTokenizer",
    "GPTNeoXTokenizerFast",
    "Qwen2Tokenizer",
    "Qwen2TokenizerFast",
];

/// The settings of `tokenizer_config.json` that change ids.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    tokenizer_class: Option<String>,
    add_prefix_space: Option<bool>,
    legacy: Option<bool>,
    add_bos_token: Option<bool>,
    add_eos_token: Option<bool>,
    bos_token: Option<SpecialToken>,
    eos_token: Option<SpecialToken>,
}

/// A special token as `tokenizer_config.json` writes it: a string, or an `AddedToken` object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SpecialToken {
    Plain(String),
    Added { content: String },
}

impl SpecialToken {
    fn content(&self) -> &str {
        match self {
            Self::Plain(s) | Self::Added { content: s } => s,
        }
    }
}

/// Applies the `tokenizer_config.json` of `dir`, if there is one, to `tokenizer` (read from
/// that directory's `tokenizer.json`).
pub fn apply_tokenizer_config(tokenizer: &mut Tokenizer, dir: &Path) -> Result<()> {
    let path = dir.join(TOKENIZER_CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ModelError::io(&path, e)),
    };
    let config: TokenizerConfig =
        serde_json::from_str(&text).map_err(|e| ModelError::Tokenizer {
            path: path.clone(),
            reason: format!("malformed: {e}"),
        })?;
    let class = config.tokenizer_class.as_deref().unwrap_or_default();
    if LLAMA_CLASSES.contains(&class) {
        let scheme = match (config.add_prefix_space.unwrap_or(true), config.legacy) {
            (false, _) => PrependScheme::Never,
            (true, Some(true)) => PrependScheme::Always,
            (true, _) => PrependScheme::First,
        };
        tokenizer.with_normalizer(None::<NormalizerWrapper>);
        tokenizer.with_pre_tokenizer(Some(Metaspace::new('\u{2581}', scheme, false)));
    } else if BYTE_LEVEL_CLASSES.contains(&class) && config.add_prefix_space == Some(true) {
        return Err(ModelError::Tokenizer {
            path,
            reason: format!(
                "{class} with add_prefix_space = true is not supported (transformers rebuilds \
                 its pre-tokenizer to add a space)"
            ),
        });
    }
    if config.add_bos_token.is_some() || config.add_eos_token.is_some() {
        let special =
            |flag: Option<bool>, token: &Option<SpecialToken>| -> Result<Option<(String, u32)>> {
                let Some(token) = token.as_ref().filter(|_| flag == Some(true)) else {
                    return Ok(None);
                };
                let content = token.content().to_string();
                let id = tokenizer
                    .token_to_id(&content)
                    .ok_or_else(|| ModelError::Tokenizer {
                        path: path.clone(),
                        reason: format!("its special token '{content}' is not in the vocabulary"),
                    })?;
                Ok(Some((content, id)))
            };
        let bos = special(config.add_bos_token, &config.bos_token)?;
        let eos = special(config.add_eos_token, &config.eos_token)?;
        let piece = |t: &Option<(String, u32)>, seq: u8| {
            t.as_ref()
                .map(|(c, _)| format!("{c}:{seq} "))
                .unwrap_or_default()
        };
        let tail = |t: &Option<(String, u32)>, seq: u8| {
            t.as_ref()
                .map(|(c, _)| format!(" {c}:{seq}"))
                .unwrap_or_default()
        };
        let single = format!("{}$A:0{}", piece(&bos, 0), tail(&eos, 0));
        let pair = format!("{single} {}$B:1{}", piece(&bos, 1), tail(&eos, 1));
        let specials: Vec<(String, u32)> = bos.into_iter().chain(eos).collect();
        let template = TemplateProcessing::builder()
            .try_single(single.as_str())
            .and_then(|b| b.try_pair(pair.as_str()))
            .map_err(|e| ModelError::Tokenizer {
                path: path.clone(),
                reason: format!("its special tokens make no template: {e}"),
            })?
            .special_tokens(specials)
            .build()
            .map_err(|e| ModelError::Tokenizer {
                path: path.clone(),
                reason: format!("its special tokens make no template: {e}"),
            })?;
        tokenizer.with_post_processor(Some(template));
    }
    Ok(())
}
