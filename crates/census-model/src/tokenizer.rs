//! A model's tokenizer, giving exactly Hugging Face's `AutoTokenizer` ids: a `tokenizer.json`
//! (normaliser, pre-tokeniser, model and post-processor), or the `vocab.json` + `merges.txt` of
//! the released OPT and GPT-2 repositories. Each input starts with the token the family's
//! tokenizer puts first: OPT's `</s>` (always, as `GPT2Tokenizer` with `add_bos_token` does), or
//! whatever the `tokenizer.json`'s post-processor adds (`<s>` or `<|begin_of_text|>` for
//! Llama, nothing for GPT-2, Pythia and Qwen2).

use std::path::Path;

use census_format::model::Family;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{ModelError, Result};
use crate::tokenizer_config::{TOKENIZER_CONFIG_FILE, read_tokenizer_json};

/// Special tokens of OPT, at ids 0–3 in the released vocabularies.
pub const SPECIAL_TOKENS: [&str; 4] = ["<s>", "<pad>", "</s>", "<unk>"];

/// The token every OPT input starts with.
pub const BOS_TOKEN: &str = "</s>";

/// GPT-2's one special token (end of text), in the released `vocab.json`.
const GPT2_SPECIAL: &str = "<|endoftext|>";

/// The files a model directory's tokenizer of `family` is read from, in the order they are
/// looked for: `tokenizer.json` or `vocab.json` + `merges.txt`, and for the families other than
/// OPT the `tokenizer_config.json` that changes how `AutoTokenizer` reads them.
pub fn tokenizer_files(family: Family) -> &'static [&'static str] {
    const FILES: [&str; 4] = [
        "tokenizer.json",
        "vocab.json",
        "merges.txt",
        TOKENIZER_CONFIG_FILE,
    ];
    if family == Family::Opt {
        &FILES[..3]
    } else {
        &FILES
    }
}

/// Tokenizes text exactly as Hugging Face's tokenizer of the model's family does.
#[derive(Debug, Clone)]
pub struct ModelTokenizer {
    inner: Tokenizer,
    prefix: Option<u32>,
    /// Whether tokens are sentencepiece pieces (`▁` for a space, `<0xHH>` for a byte) rather
    /// than GPT-2's byte-level spelling.
    pieces: bool,
    /// The ids of added tokens (kept as they are when pieces are respelled).
    added: std::collections::HashSet<u32>,
}

/// The space of a sentencepiece piece.
const PIECE_SPACE: char = '\u{2581}';

impl ModelTokenizer {
    /// Builds the tokenizer of a model of `family` from its directory: `tokenizer.json` if
    /// present, otherwise `vocab.json` + `merges.txt` (the layout of the released
    /// `facebook/opt-*` and `gpt2` repositories). A directory with only a sentencepiece
    /// `tokenizer.model` is refused, naming the `tokenizer.json` it lacks.
    pub fn from_dir(dir: impl AsRef<Path>, family: Family) -> Result<Self> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(json, family);
        }
        let byte_level = matches!(family, Family::Opt | Family::Gpt2);
        if dir.join("tokenizer.model").is_file()
            && !(byte_level && dir.join("vocab.json").is_file())
        {
            return Err(ModelError::Tokenizer {
                path: json,
                reason: "missing: only a sentencepiece tokenizer.model is here, which is not \
                         read; write tokenizer.json with transformers \
                         (AutoTokenizer.from_pretrained(dir).save_pretrained(dir))"
                    .to_string(),
            });
        }
        if !byte_level {
            return Err(ModelError::io(
                &json,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        Self::from_vocab_merges(dir.join("vocab.json"), dir.join("merges.txt"), family)
    }

    /// Builds the tokenizer from a `tokenizer.json`. For OPT its post-processor is not used:
    /// `</s>` is prepended by [`ModelTokenizer::encode`] itself, so it is never added twice. For
    /// other families, the pipeline is the one `AutoTokenizer` builds from it and the
    /// `tokenizer_config.json` beside it ([`read_tokenizer_json`]), and the token the
    /// post-processor puts before a text is the prefix; one that adds tokens after the text is
    /// refused.
    pub fn from_tokenizer_json(path: impl AsRef<Path>, family: Family) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(ModelError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        if family == Family::Opt {
            let inner = Tokenizer::from_file(path).map_err(|source| ModelError::TokenizerFile {
                path: path.to_path_buf(),
                source,
            })?;
            return Self::with_opt_bos(inner, path);
        }
        let inner = read_tokenizer_json(path, family)?;
        let prefix = post_processor_prefix(&inner, path)?;
        Ok(Self::with_prefix(inner, prefix))
    }

    /// Builds a byte-level BPE tokenizer from `vocab.json` (token → id) and `merges.txt`, with
    /// OPT's special tokens and `</s>` prefix, or GPT-2's `<|endoftext|>` and no prefix.
    pub fn from_vocab_merges(
        vocab: impl AsRef<Path>,
        merges: impl AsRef<Path>,
        family: Family,
    ) -> Result<Self> {
        let (vocab, merges) = (vocab.as_ref(), merges.as_ref());
        for path in [vocab, merges] {
            if !path.is_file() {
                return Err(ModelError::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                ));
            }
        }
        let vocab_str = vocab.to_string_lossy().into_owned();
        let merges_str = merges.to_string_lossy().into_owned();
        let bpe = BPE::from_file(&vocab_str, &merges_str)
            .build()
            .map_err(|source| ModelError::TokenizerFile {
                path: vocab.to_path_buf(),
                source,
            })?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        inner.with_decoder(Some(ByteLevel::default()));
        let names: &[&str] = if family == Family::Opt {
            &SPECIAL_TOKENS
        } else {
            &[GPT2_SPECIAL]
        };
        let specials: Vec<AddedToken> = names
            .iter()
            .filter(|t| inner.token_to_id(t).is_some())
            .map(|t| AddedToken::from(*t, true))
            .collect();
        inner.add_special_tokens(&specials);
        match family {
            Family::Opt => Self::with_opt_bos(inner, vocab),
            Family::Gpt2 | Family::GptNeox => Ok(Self::with_prefix(inner, None)),
            other => Err(ModelError::Tokenizer {
                path: vocab.to_path_buf(),
                reason: format!("a {other} model's tokenizer is read from tokenizer.json"),
            }),
        }
    }

    fn with_opt_bos(inner: Tokenizer, origin: &Path) -> Result<Self> {
        let bos_id = inner
            .token_to_id(BOS_TOKEN)
            .ok_or_else(|| ModelError::Tokenizer {
                path: origin.to_path_buf(),
                reason: format!("the vocabulary has no '{BOS_TOKEN}' token"),
            })?;
        Ok(Self::with_prefix(inner, Some(bos_id)))
    }

    /// The tokenizer with `prefix`, its spelling read from its vocabulary: sentencepiece pieces
    /// hold `▁` or the byte-fallback token `<0x0A>`, which byte-level vocabularies never do.
    fn with_prefix(inner: Tokenizer, prefix: Option<u32>) -> Self {
        let pieces = inner.token_to_id(&PIECE_SPACE.to_string()).is_some()
            || inner.token_to_id("<0x0A>").is_some();
        let added = inner.get_added_tokens_decoder().into_keys().collect();
        Self {
            inner,
            prefix,
            pieces,
            added,
        }
    }

    /// The token every input starts with (`</s>` = 2 for OPT), or `None` when the family's
    /// tokenizer adds none (GPT-2, Pythia, Qwen2).
    pub fn prefix(&self) -> Option<u32> {
        self.prefix
    }

    /// Number of entries in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The token string of an id in GPT-2's byte-level spelling (`Ġ` marks a leading space,
    /// one character per byte), if the id exists. Sentencepiece pieces are respelled (`▁the` as
    /// `Ġthe`, `<0x0A>` as `Ċ`) so every family's tokens read alike; special tokens are kept.
    pub fn token(&self, id: u32) -> Option<String> {
        let token = self.inner.id_to_token(id)?;
        if !self.pieces || self.added.contains(&id) {
            return Some(token);
        }
        let byte = token
            .strip_prefix("<0x")
            .and_then(|hex| hex.strip_suffix('>'))
            .filter(|hex| hex.len() == 2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        let bytes = match byte {
            Some(byte) => vec![byte],
            None => token.replace(PIECE_SPACE, " ").into_bytes(),
        };
        Some(census_format::analysis::vocabulary::byte_level_spelling(
            &bytes,
        ))
    }

    /// The ids of the special tokens (`</s>`, `<pad>`, …), which decoding leaves out.
    pub fn special_ids(&self) -> std::collections::BTreeSet<u32> {
        self.inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, _)| id)
            .collect()
    }

    /// Decodes ids back to text (special tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(ModelError::Encode)
    }

    /// The prefix (if any) followed by the ids of `text`: Hugging Face's `input_ids`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, false).map_err(ModelError::Encode)?;
        Ok(self
            .prefix
            .into_iter()
            .chain(encoding.get_ids().iter().copied())
            .collect())
    }

    /// [`ModelTokenizer::encode`] on many texts, in parallel.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let mut bodies = self.encode_batch_without_prefix(texts)?;
        if let Some(prefix) = self.prefix {
            for ids in &mut bodies {
                ids.insert(0, prefix);
            }
        }
        Ok(bodies)
    }

    /// The ids of many texts without the prefix (what a sequence cut from a document holds
    /// after its own prefix), in parallel.
    pub fn encode_batch_without_prefix(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), false)
            .map_err(ModelError::Encode)?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

/// The one token a `tokenizer.json`'s post-processor puts before a text, if any: the ids of a
/// probe text with special tokens must be those without, preceded by at most one token.
fn post_processor_prefix(inner: &Tokenizer, path: &Path) -> Result<Option<u32>> {
    let probe = "a";
    let with = inner.encode(probe, true).map_err(ModelError::Encode)?;
    let without = inner.encode(probe, false).map_err(ModelError::Encode)?;
    let (with, without) = (with.get_ids(), without.get_ids());
    match with.len().checked_sub(without.len()) {
        Some(0) if with == without => Ok(None),
        Some(1) if &with[1..] == without => Ok(Some(with[0])),
        _ => Err(ModelError::Tokenizer {
            path: path.to_path_buf(),
            reason: format!(
                "its post-processor turns {without:?} into {with:?}; only one token before the \
                 text is supported (tokens after it, or several, are not)"
            ),
        }),
    }
}
