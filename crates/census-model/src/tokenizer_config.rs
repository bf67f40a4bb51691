//! The pipeline `AutoTokenizer` (transformers 5) builds from a model directory's
//! `tokenizer.json`, given the model's family and its `tokenizer_config.json`, so that our ids
//! stay its ids.
//!
//! transformers picks a tokenizer class, and most classes rebuild the normaliser, the
//! pre-tokeniser and the BPE options from the vocabulary and merges alone:
//!
//! - Mistral models (with no `mistral_common` installed) and every class it does not know read
//!   `tokenizer.json` as saved ([`Pipeline::AsSaved`]);
//! - Qwen2 models always get `Qwen2Tokenizer` (NFC, its regex split, byte-level);
//! - otherwise the class `tokenizer_config.json` names, or without one the family's
//!   (`GPT2Tokenizer` for GPT-2, `GPTNeoXTokenizer` for GPT-NeoX, none for Llama);
//! - a `LlamaTokenizer` over a byte-level `tokenizer.json` (Llama 3 fine-tunes that name it) is
//!   read as saved; otherwise it gets no normaliser and a Metaspace pre-tokeniser whose leading
//!   `▁` follows `add_prefix_space` (default true) and `legacy` (default false). The legacy
//!   normaliser Llama 2's `tokenizer.json` holds reads text that starts with a space otherwise.
//!
//! `add_bos_token` and `add_eos_token` are dropped when a `tokenizer.json` exists: its
//! post-processor decides, except under `GPTNeoXTokenizer`, which resets it to add nothing.

use std::path::Path;

use census_format::model::Family;
use serde::Deserialize;
use serde_json::{Value, json};
use tokenizers::Tokenizer;

use crate::error::{ModelError, Result};

/// The file read beside `tokenizer.json`.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// `Qwen2Tokenizer`'s pre-tokenizer split (transformers' `PRETOKENIZE_REGEX`).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The settings of `tokenizer_config.json` that change ids.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    tokenizer_class: Option<String>,
    add_prefix_space: Option<bool>,
    legacy: Option<bool>,
    trim_offsets: Option<bool>,
}

/// The pipeline transformers builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipeline {
    /// `tokenizer.json` as saved.
    AsSaved,
    /// `LlamaTokenizer`: Metaspace with this prepend scheme.
    Llama(&'static str),
    /// `GPT2Tokenizer`: byte-level, with or without a prefix space.
    Gpt2 { add_prefix_space: bool },
    /// `GPTNeoXTokenizer`: NFC, byte-level, nothing added around the text.
    GptNeox { add_prefix_space: bool },
    /// `Qwen2Tokenizer`: NFC, its regex split, byte-level.
    Qwen2 { add_prefix_space: bool },
}

impl Pipeline {
    /// The pipeline of a model of `family` whose `tokenizer.json` is `json`.
    fn choose(family: Family, config: &TokenizerConfig, json: &str) -> Self {
        let named = config
            .tokenizer_class
            .as_deref()
            .map(|c| c.strip_suffix("Fast").unwrap_or(c));
        let class = match family {
            Family::Mistral | Family::Opt => return Self::AsSaved,
            Family::Qwen2 => "Qwen2Tokenizer",
            Family::Gpt2 => named.unwrap_or("GPT2Tokenizer"),
            Family::GptNeox => named.unwrap_or("GPTNeoXTokenizer"),
            Family::Llama => named.unwrap_or_default(),
        };
        let add_prefix_space = config.add_prefix_space;
        match class {
            "LlamaTokenizer" if json.contains("\"ByteLevel\"") => Self::AsSaved,
            "LlamaTokenizer" => {
                Self::Llama(match (add_prefix_space.unwrap_or(true), config.legacy) {
                    (false, _) => "never",
                    (true, Some(true)) => "always",
                    (true, _) => "first",
                })
            }
            "GPT2Tokenizer" => Self::Gpt2 {
                add_prefix_space: add_prefix_space.unwrap_or(false),
            },
            "GPTNeoXTokenizer" => Self::GptNeox {
                add_prefix_space: add_prefix_space.unwrap_or(false),
            },
            "Qwen2Tokenizer" => Self::Qwen2 {
                add_prefix_space: add_prefix_space.unwrap_or(false),
            },
            _ => Self::AsSaved,
        }
    }

    /// Rewrites `tokenizer` (a parsed `tokenizer.json`) as this pipeline builds it.
    fn apply(self, tokenizer: &mut Value, trim_offsets: bool) {
        let byte_level = |add_prefix_space: bool, use_regex: bool| {
            json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space,
                   "trim_offsets": trim_offsets, "use_regex": use_regex})
        };
        // The BPE options each class passes (`byte_fallback`: Llama's).
        let bpe = |tokenizer: &mut Value, llama: bool| {
            if let Some(model) = tokenizer.get_mut("model").and_then(Value::as_object_mut) {
                let affix = if llama { Value::Null } else { json!("") };
                model.insert("dropout".into(), Value::Null);
                model.insert("unk_token".into(), Value::Null);
                model.insert("continuing_subword_prefix".into(), affix.clone());
                model.insert("end_of_word_suffix".into(), affix);
                model.insert("fuse_unk".into(), json!(llama));
                model.insert("byte_fallback".into(), json!(llama));
                model.insert("ignore_merges".into(), json!(false));
            }
        };
        if tokenizer.pointer("/model/merges").is_none() {
            return; // not a BPE model: no class of these families rebuilds it
        }
        let (normalizer, pre_tokenizer) = match self {
            Self::AsSaved => return,
            Self::Llama(scheme) => {
                bpe(tokenizer, true);
                (
                    Value::Null,
                    json!({"type": "Metaspace", "replacement": "\u{2581}",
                           "prepend_scheme": scheme, "split": false}),
                )
            }
            Self::Gpt2 { add_prefix_space } => {
                bpe(tokenizer, false);
                (Value::Null, byte_level(add_prefix_space, true))
            }
            Self::GptNeox { add_prefix_space } => {
                bpe(tokenizer, false);
                tokenizer["post_processor"] = json!({
                    "type": "TemplateProcessing",
                    "single": [{"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                             {"Sequence": {"id": "B", "type_id": 1}}],
                    "special_tokens": {}
                });
                (json!({"type": "NFC"}), byte_level(add_prefix_space, true))
            }
            Self::Qwen2 { add_prefix_space } => {
                bpe(tokenizer, false);
                (
                    json!({"type": "NFC"}),
                    json!({"type": "Sequence", "pretokenizers": [
                        {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT},
                         "behavior": "Isolated", "invert": false},
                        byte_level(add_prefix_space, false)
                    ]}),
                )
            }
        };
        tokenizer["normalizer"] = normalizer;
        tokenizer["pre_tokenizer"] = pre_tokenizer;
    }
}

/// Reads `tokenizer.json` at `path` as `AutoTokenizer` builds it for a model of `family`, given
/// the `tokenizer_config.json` beside it (if any).
pub fn read_tokenizer_json(path: &Path, family: Family) -> Result<Tokenizer> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let config_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(TOKENIZER_CONFIG_FILE);
    let config: TokenizerConfig = match std::fs::read_to_string(&config_path) {
        Ok(config) => serde_json::from_str(&config).map_err(|e| ModelError::Tokenizer {
            path: config_path.clone(),
            reason: format!("malformed: {e}"),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenizerConfig::default(),
        Err(e) => return Err(ModelError::io(&config_path, e)),
    };
    let pipeline = Pipeline::choose(family, &config, &text);
    let malformed = |reason: String| ModelError::Tokenizer {
        path: path.to_path_buf(),
        reason: format!("malformed: {reason}"),
    };
    let text = if pipeline == Pipeline::AsSaved {
        text
    } else {
        let mut value: Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        pipeline.apply(&mut value, config.trim_offsets.unwrap_or(true));
        value.to_string()
    };
    text.parse::<Tokenizer>()
        .map_err(|source| ModelError::TokenizerFile {
            path: path.to_path_buf(),
            source,
        })
}
