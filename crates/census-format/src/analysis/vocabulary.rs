//! `vocabulary.parquet`: the tokenizer's vocabulary as the analysis named its tokens, so the
//! report can spell token ids (and decode example contexts) without loading a tokenizer.
//!
//! Token strings are stored as the tokenizer stores them: GPT-2 byte-level BPE, where every
//! byte is one printable character (`Ġ` is a space, `Ċ` a newline). [`Vocabulary::decode`]
//! turns ids back into text the way Hugging Face's byte-level decoder does with
//! `skip_special_tokens`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, UInt32Type};

use crate::columns::{integer_column, string_column};
use crate::error::{FormatError, Result};
use crate::parquet_file::{open_file, read_all};

/// File name of the vocabulary table in an analysis directory.
pub const VOCABULARY_FILE: &str = "vocabulary.parquet";

/// Token ids a vocabulary table may hold: more than any tokenizer has, few enough that a table
/// read by id stays small. A larger id is damage.
pub const MAX_TOKEN_ID: u32 = 1 << 24;

/// A tokenizer's vocabulary: each id's token string, and whether it is a special token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    /// Token string by id (`None`: the id has no token).
    tokens: Vec<Option<String>>,
    /// Whether each id is a special token (`</s>`, `<pad>`, …), left out when decoding.
    special: Vec<bool>,
}

impl Vocabulary {
    /// A vocabulary of `(id, token, special)` entries; ids absent from them have no token.
    pub fn new(entries: impl IntoIterator<Item = (u32, String, bool)>) -> Self {
        let mut vocabulary = Self::default();
        for (id, token, special) in entries {
            let id = id as usize;
            if vocabulary.tokens.len() <= id {
                vocabulary.tokens.resize(id + 1, None);
                vocabulary.special.resize(id + 1, false);
            }
            vocabulary.tokens[id] = Some(token);
            vocabulary.special[id] = special;
        }
        vocabulary
    }

    /// The token string of `id` as the tokenizer stores it, if the id has one.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).and_then(|t| t.as_deref())
    }

    /// The text of `ids`: special tokens left out, the byte-level spelling turned back into
    /// bytes and the bytes read as UTF-8 (invalid sequences become `�`). Ids without a token
    /// are written `#id`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            match self.token(id) {
                Some(_) if self.special[id as usize] => {}
                Some(token) => bytes.extend(byte_level_bytes(token)),
                None => bytes.extend(format!("#{id}").bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The table: `id` (uint32), `token` (string), `special` (bool), one row per id with a
    /// token.
    pub fn to_batch(&self) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
        let rows: Vec<(u32, &str, bool)> = (0..self.tokens.len())
            .filter_map(|i| {
                self.tokens[i]
                    .as_deref()
                    .map(|t| (i as u32, t, self.special[i]))
            })
            .collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "id",
                Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
            ),
            (
                "token",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ),
            (
                "special",
                Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.2)))),
            ),
        ];
        RecordBatch::try_from_iter(columns)
    }

    /// Reads a vocabulary table written by [`Vocabulary::to_batch`].
    pub fn read(path: &Path) -> Result<Self> {
        let mut entries = Vec::new();
        for batch in read_all(path, open_file(path)?)? {
            let ids = integer_column(&batch, "id", &DataType::UInt32, path)?;
            let tokens = string_column(&batch, "token", path)?;
            let special = batch
                .column_by_name("special")
                .and_then(|c| c.as_boolean_opt().cloned())
                .ok_or_else(|| FormatError::Column {
                    path: path.to_path_buf(),
                    column: "special".to_string(),
                    reason: "missing, or not boolean".to_string(),
                })?;
            let ids = ids.as_primitive::<UInt32Type>();
            let tokens = tokens.as_string::<i32>();
            for i in 0..batch.num_rows() {
                let id = ids.value(i);
                if id >= MAX_TOKEN_ID {
                    return Err(FormatError::Column {
                        path: path.to_path_buf(),
                        column: "id".to_string(),
                        reason: format!(
                            "row {i}: id {id} is beyond any tokenizer's (at most {MAX_TOKEN_ID})"
                        ),
                    });
                }
                entries.push((id, tokens.value(i).to_string(), special.value(i)));
            }
        }
        Ok(Self::new(entries))
    }
}

/// A token as people read it: its byte-level spelling turned back into text, with a space shown
/// as `␣`, a newline as `↵`, a tab as `⇥`, other control characters and bytes that form no
/// UTF-8 character as `⟨XX⟩` (their hex value). Strings outside the byte-level alphabet
/// (special tokens, `#id` names) are shown as they are.
pub fn display_token(raw: &str) -> String {
    let bytes = byte_level_bytes(raw);
    let mut shown = String::with_capacity(bytes.len());
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                push_visible(&mut shown, text);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                push_visible(
                    &mut shown,
                    std::str::from_utf8(valid).expect("checked valid"),
                );
                let bad = e.error_len().unwrap_or(after.len());
                for byte in &after[..bad] {
                    shown.push_str(&format!("⟨{byte:02X}⟩"));
                }
                rest = &after[bad..];
            }
        }
    }
    shown
}

/// An n-gram as the analysis tables name it (token strings joined by spaces), each token shown
/// by [`display_token`] and joined by spaces again.
pub fn display_ngram(raw: &str) -> String {
    raw.split(' ')
        .map(display_token)
        .collect::<Vec<_>>()
        .join(" ")
}

fn push_visible(shown: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            ' ' => shown.push('␣'),
            '\n' => shown.push('↵'),
            '\t' => shown.push('⇥'),
            c if c.is_control() => shown.push_str(&format!("⟨{:02X}⟩", c as u32)),
            c => shown.push(c),
        }
    }
}

/// GPT-2's byte-level alphabet: the character that stands for each byte. Printable bytes stand
/// for themselves; the others (controls, space, `\x7f`–`\xa0`, soft hyphen) take the characters
/// from U+0100 on, in byte order.
fn byte_alphabet() -> &'static [char; 256] {
    static ALPHABET: OnceLock<[char; 256]> = OnceLock::new();
    ALPHABET.get_or_init(|| {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
        let mut alphabet = ['\0'; 256];
        let mut next = 256u32;
        for byte in 0..=255u8 {
            alphabet[byte as usize] = if printable(byte) {
                char::from(byte)
            } else {
                let c = char::from_u32(next).expect("U+0100.. are characters");
                next += 1;
                c
            };
        }
        alphabet
    })
}

/// The byte each character of the byte-level alphabet stands for, indexed by code point (the
/// alphabet's characters all lie below U+0144).
fn byte_of_char() -> &'static [Option<u8>] {
    static INVERSE: OnceLock<Vec<Option<u8>>> = OnceLock::new();
    INVERSE.get_or_init(|| {
        let alphabet = byte_alphabet();
        let size = alphabet.iter().map(|&c| c as usize).max().unwrap_or(0) + 1;
        let mut inverse = vec![None; size];
        for (byte, &c) in alphabet.iter().enumerate() {
            inverse[c as usize] = Some(byte as u8);
        }
        inverse
    })
}

/// The byte-level spelling of `bytes` (GPT-2's alphabet: one character per byte), the form the
/// analysis stores every token in, whatever the tokenizer.
pub fn byte_level_spelling(bytes: &[u8]) -> String {
    let alphabet = byte_alphabet();
    bytes.iter().map(|&b| alphabet[usize::from(b)]).collect()
}

/// The bytes a byte-level token string spells; characters outside the alphabet (added tokens
/// stored as plain text) keep their own UTF-8 bytes.
fn byte_level_bytes(token: &str) -> Vec<u8> {
    let inverse = byte_of_char();
    let mut bytes = Vec::with_capacity(token.len());
    for c in token.chars() {
        match inverse.get(c as usize).copied().flatten() {
            Some(byte) => bytes.push(byte),
            None => bytes.extend(c.to_string().bytes()),
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_spelling_round_trips_every_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        let spelled = byte_level_spelling(&bytes);
        assert_eq!(byte_level_bytes(&spelled), bytes);
        assert_eq!(byte_level_spelling(b" the\n"), "\u{120}the\u{10a}");
    }

    #[test]
    fn the_alphabet_is_gpt2s() {
        let alphabet = byte_alphabet();
        assert_eq!(alphabet[b' ' as usize], 'Ġ');
        assert_eq!(alphabet[b'\n' as usize], 'Ċ');
        assert_eq!(alphabet[b'a' as usize], 'a');
        let mut distinct: Vec<char> = alphabet.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 256, "one character per byte");
    }

    #[test]
    fn decoding_spells_bytes_and_skips_special_tokens() {
        let vocabulary = Vocabulary::new([
            (0, "</s>".to_string(), true),
            (1, "Hello".to_string(), false),
            (2, "ĠwÃ¶rld".to_string(), false),
            (3, "Ċ".to_string(), false),
        ]);
        assert_eq!(vocabulary.decode(&[0, 1, 2, 3]), "Hello wörld\n");
        assert_eq!(vocabulary.decode(&[1, 9]), "Hello#9");
    }

    #[test]
    fn tokens_are_shown_as_readable_text() {
        assert_eq!(display_token("Ġthe"), "␣the");
        assert_eq!(display_token("ĊĊ"), "↵↵");
        assert_eq!(display_token("ĠwÃ¶rld"), "␣wörld");
        assert_eq!(display_token("</s>"), "</s>");
        assert_eq!(display_token("#17"), "#17");
        // Half of a two-byte character, and a control byte (byte 0 is spelled U+0100).
        assert_eq!(display_token("Ã"), "⟨C3⟩");
        assert_eq!(display_token("\u{100}"), "⟨00⟩");
        assert_eq!(display_ngram("Ġof Ġthe Ċ"), "␣of ␣the ↵");
    }

    /// Writes `batch` as a Parquet file at `path`.
    fn write(path: &Path, batch: &RecordBatch) {
        let file = std::fs::File::create(path).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn the_table_reads_back() {
        let vocabulary =
            Vocabulary::new([(0, "</s>".to_string(), true), (2, "Ġa".to_string(), false)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VOCABULARY_FILE);
        write(&path, &vocabulary.to_batch().unwrap());
        assert_eq!(Vocabulary::read(&path).unwrap(), vocabulary);
    }

    #[test]
    fn a_damaged_id_is_refused_not_allocated() {
        use arrow::array::{ArrayRef, BooleanArray, StringArray, UInt32Array};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VOCABULARY_FILE);
        let column = |a: ArrayRef| a;
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                column(std::sync::Arc::new(UInt32Array::from(vec![
                    0,
                    3_925_932_522,
                ]))),
            ),
            (
                "token",
                std::sync::Arc::new(StringArray::from(vec!["</s>", "Ġa"])),
            ),
            (
                "special",
                std::sync::Arc::new(BooleanArray::from(vec![true, false])),
            ),
        ])
        .unwrap();
        write(&path, &batch);
        let e = Vocabulary::read(&path).unwrap_err().to_string();
        assert!(
            e.contains(VOCABULARY_FILE) && e.contains("3925932522"),
            "{e}"
        );
    }
}
