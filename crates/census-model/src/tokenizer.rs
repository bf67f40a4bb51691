//! The OPT tokenizer: GPT-2 byte-level BPE with OPT's ids, `</s>` prepended exactly once.

use std::path::Path;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{ModelError, Result};

/// Special tokens of OPT, at ids 0–3 in the released vocabularies.
pub const SPECIAL_TOKENS: [&str; 4] = ["<s>", "<pad>", "</s>", "<unk>"];

/// The token every OPT input starts with.
pub const BOS_TOKEN: &str = "</s>";

/// Tokenizes text exactly as Hugging Face's OPT tokenizer does.
#[derive(Debug, Clone)]
pub struct OptTokenizer {
    inner: Tokenizer,
    bos_id: u32,
}

impl OptTokenizer {
    /// Builds the tokenizer from a model directory: `tokenizer.json` if present, otherwise
    /// `vocab.json` + `merges.txt` (the layout of the released `facebook/opt-*` repositories).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(json);
        }
        Self::from_vocab_merges(dir.join("vocab.json"), dir.join("merges.txt"))
    }

    /// Builds the tokenizer from a `tokenizer.json`. Its post-processor is not used: `</s>` is
    /// prepended by [`OptTokenizer::encode`] itself, so it is never added twice.
    pub fn from_tokenizer_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(ModelError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let inner = Tokenizer::from_file(path).map_err(|source| ModelError::TokenizerFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::with_bos(inner, path)
    }

    /// Builds a byte-level BPE tokenizer from `vocab.json` (token → id) and `merges.txt`.
    pub fn from_vocab_merges(vocab: impl AsRef<Path>, merges: impl AsRef<Path>) -> Result<Self> {
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
        let specials: Vec<AddedToken> = SPECIAL_TOKENS
            .iter()
            .filter(|t| inner.token_to_id(t).is_some())
            .map(|t| AddedToken::from(*t, true))
            .collect();
        inner.add_special_tokens(&specials);
        Self::with_bos(inner, vocab)
    }

    fn with_bos(inner: Tokenizer, origin: &Path) -> Result<Self> {
        let bos_id = inner
            .token_to_id(BOS_TOKEN)
            .ok_or_else(|| ModelError::Tokenizer {
                path: origin.to_path_buf(),
                reason: format!("the vocabulary has no '{BOS_TOKEN}' token"),
            })?;
        Ok(Self { inner, bos_id })
    }

    /// The id of `</s>`, prepended to every input (2 for OPT).
    pub fn bos_id(&self) -> u32 {
        self.bos_id
    }

    /// Number of entries in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The token string of an id (`Ġ` marks a leading space), if the id exists.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
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

    /// `</s>` followed by the ids of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, false).map_err(ModelError::Encode)?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        ids.push(self.bos_id);
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// [`OptTokenizer::encode`] on many texts, in parallel.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), false)
            .map_err(ModelError::Encode)?;
        Ok(encodings
            .iter()
            .map(|e| {
                let mut ids = Vec::with_capacity(e.len() + 1);
                ids.push(self.bos_id);
                ids.extend_from_slice(e.get_ids());
                ids
            })
            .collect())
    }
}
