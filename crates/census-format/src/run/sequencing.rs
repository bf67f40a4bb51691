//! How a run cuts its corpus into sequences and shares them out: the settings a run's manifest
//! records. The cutting itself needs a tokenizer and lives with the extraction.

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Result};

/// This machine's share of a run split over `count` machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index of this machine.
    pub index: u32,
    /// Number of machines.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl std::str::FromStr for Shard {
    type Err = FormatError;

    /// Parses `i/n`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || FormatError::from(crate::SequencingError::Shard(s.to_string()));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    /// `i/n`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A shard recorded as its text, `i/n` (the analysis manifest's inputs): `#[serde(with)]`.
pub mod shard_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Shard;

    /// Writes `i/n`.
    pub fn serialize<S: Serializer>(shard: &Shard, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(shard)
    }

    /// Reads `i/n`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Shard, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Shard {
    /// Whether sequence `seq` belongs to this shard (sequences are dealt round-robin).
    pub fn owns(&self, seq: u64) -> bool {
        seq % u64::from(self.count) == u64::from(self.index)
    }

    /// The first sequence id both this shard and `other` hold, when they share any (shards of
    /// one cut of a corpus: `0/2` and `1/3` share 4, 10, 16, …); none when they are disjoint.
    pub fn first_shared(&self, other: &Shard) -> Option<u64> {
        let (n, m) = (u64::from(self.count), u64::from(other.count));
        // x = index + k·n for k < m covers every residue class modulo m that this shard meets.
        (0..m)
            .map(|k| u64::from(self.index) + k * n)
            .find(|&x| x % m == u64::from(other.index))
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    fn shard(index: u32, count: u32) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn shards_share_sequences_exactly_when_their_residues_meet() {
        assert_eq!(shard(0, 2).first_shared(&shard(1, 3)), Some(4));
        assert_eq!(shard(0, 2).first_shared(&shard(1, 2)), None);
        assert_eq!(shard(0, 1).first_shared(&shard(1, 2)), Some(1));
        assert_eq!(shard(1, 4).first_shared(&shard(0, 2)), None);
        assert_eq!(shard(3, 4).first_shared(&shard(1, 6)), Some(7));
        // Checked against membership for every small pair.
        for (n, m) in [(2, 3), (4, 6), (5, 5), (1, 7)] {
            for i in 0..n {
                for j in 0..m {
                    let (a, b) = (shard(i, n), shard(j, m));
                    let brute = (0..u64::from(n * m)).find(|&x| a.owns(x) && b.owns(x));
                    assert_eq!(a.first_shared(&b), brute, "{i}/{n} {j}/{m}");
                }
            }
        }
    }
}

/// Longest sequence by default, `</s>` included (OPT's positions).
pub const DEFAULT_MAX_SEQ_LEN: usize = 2048;

/// How documents become sequences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceOptions {
    /// Longest sequence, `</s>` included (at most the model's positions).
    pub max_seq_len: usize,
    /// Keep only sequences of exactly `max_seq_len` tokens (every position equally often).
    pub full_length: bool,
    /// Largest number of tokens over all sources (`</s>` prefixes included).
    pub max_tokens: Option<u64>,
    /// Skip and count malformed corpus lines instead of failing.
    pub skip_malformed: bool,
}

impl SequenceOptions {
    /// Sequences of at most `max_seq_len` tokens, nothing else asked.
    pub fn with_max_seq_len(max_seq_len: usize) -> Self {
        Self {
            max_seq_len,
            full_length: false,
            max_tokens: None,
            skip_malformed: false,
        }
    }

    /// Checks that a sequence has room for a token after the `</s>` prefix.
    pub fn check(&self) -> Result<()> {
        if self.max_seq_len < 2 {
            return Err(crate::SequencingError::MaxSeqLen(self.max_seq_len).into());
        }
        if let Some(tokens) = self.max_tokens.filter(|&t| t < 2) {
            return Err(crate::SequencingError::MaxTokens(tokens).into());
        }
        Ok(())
    }
}

impl Default for SequenceOptions {
    fn default() -> Self {
        Self::with_max_seq_len(DEFAULT_MAX_SEQ_LEN)
    }
}

/// What every sequence starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceStart {
    /// The token the model's tokenizer puts first (OPT's `</s>`, Llama's `<s>` or
    /// `<|begin_of_text|>`), at position 0 of every sequence; the text starts at position 1.
    #[default]
    Bos,
    /// The text itself (GPT-2, Pythia and Qwen2 add no such token); position 0 is text.
    Text,
}

impl SequenceStart {
    /// Whether sequences start with a BOS.
    pub fn is_bos(&self) -> bool {
        *self == Self::Bos
    }

    /// The position of the first text token: 1 after a BOS, 0 without.
    pub fn text_start(self) -> u16 {
        match self {
            Self::Bos => 1,
            Self::Text => 0,
        }
    }
}

/// Counts describing the whole corpus and this shard's share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusCounts {
    /// Documents used.
    pub documents: u64,
    /// Empty documents skipped.
    pub empty_documents: u64,
    /// Malformed lines skipped.
    pub malformed_lines: u64,
    /// Sequences over all shards.
    pub sequences: u64,
    /// Tokens over all shards (`</s>` included).
    pub tokens: u64,
    /// Sequences of this shard.
    pub shard_sequences: u64,
    /// Tokens of this shard.
    pub shard_tokens: u64,
}
