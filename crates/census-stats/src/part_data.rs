//! One part of a run read for counting: its tokens with their n-gram context, and one layer's
//! fired neurons checked to line up with them row by row.

use std::collections::BTreeSet;
use std::path::Path;

use census_format::run::checked::PartLimits;
use census_format::run::checked::{TokenIds, check_activation_rows, read_token_ids};
use census_format::run::tables::{ActivationRows, PartCheck, read_activations};

use crate::error::{Result, StatsError};
use crate::ngram::{MAX_VOCAB, TOKEN_BITS, pack};

/// Marks a row without an n-gram of some order (it would reach into the BOS or off the start).
pub const NO_NGRAM: u64 = u64::MAX;

/// The tokens of a part, with each row's bigram and trigram (or [`NO_NGRAM`]). N-grams never
/// include the BOS (OPT's `</s>`, where sequences start with one) and never cross a sequence
/// start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartTokens {
    /// Sequence id.
    pub seq: Vec<u64>,
    /// Position (0 = the BOS, where sequences start with one).
    pub pos: Vec<u16>,
    /// Token id.
    pub token: Vec<u32>,
    /// Packed (previous, current) or [`NO_NGRAM`].
    pub bigram: Vec<u64>,
    /// Packed (two back, previous, current) or [`NO_NGRAM`].
    pub trigram: Vec<u64>,
    /// The position of the first text token: 1 after a BOS, 0 where sequences start with text.
    pub text_start: u16,
}

impl PartTokens {
    /// Builds the n-gram columns from rows ordered by `(seq, pos)` of sequences whose text
    /// starts at position `text_start`.
    pub fn new(seq: Vec<u64>, pos: Vec<u16>, token: Vec<u32>, text_start: u16) -> Self {
        let rows = seq.len();
        let mut bigram = vec![NO_NGRAM; rows];
        let mut trigram = vec![NO_NGRAM; rows];
        // Row i continues row i-1 when it is the next position of the same sequence.
        let follows = |i: usize| i > 0 && seq[i - 1] == seq[i] && pos[i - 1] + 1 == pos[i];
        for i in 0..rows {
            if pos[i] > text_start && follows(i) {
                bigram[i] = pack(&token[i - 1..=i]);
                if pos[i] > text_start + 1 && follows(i - 1) {
                    trigram[i] = pack(&token[i - 2..=i]);
                }
            }
        }
        Self {
            seq,
            pos,
            token,
            bigram,
            trigram,
            text_start,
        }
    }

    /// The rows of the sequences in `keep` only (whole sequences, so n-grams are unchanged).
    pub fn select(self, keep: &BTreeSet<u64>) -> Self {
        let rows: Vec<usize> = (0..self.len())
            .filter(|&i| keep.contains(&self.seq[i]))
            .collect();
        Self::new(
            rows.iter().map(|&i| self.seq[i]).collect(),
            rows.iter().map(|&i| self.pos[i]).collect(),
            rows.iter().map(|&i| self.token[i]).collect(),
            self.text_start,
        )
    }

    /// The rows with each sequence's text tokens (those from `text_start`; the `</s>` prefix
    /// stays) shuffled within the sequence under `seed` ([`crate::seeded::shuffle_sequence`]),
    /// and the n-grams built again from them: the shuffled-token null.
    pub fn shuffled(self, seed: u64) -> Self {
        let Self {
            seq,
            pos,
            mut token,
            text_start,
            ..
        } = self;
        let mut start = 0;
        while start < seq.len() {
            let end = (start..seq.len())
                .find(|&i| seq[i] != seq[start])
                .unwrap_or(seq.len());
            let text: Vec<usize> = (start..end).filter(|&i| pos[i] >= text_start).collect();
            let mut tokens: Vec<u32> = text.iter().map(|&i| token[i]).collect();
            crate::seeded::shuffle_sequence(seq[start], seed, &mut tokens);
            for (&i, t) in text.iter().zip(tokens) {
                token[i] = t;
            }
            start = end;
        }
        Self::new(seq, pos, token, text_start)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// Reads the `seq`, `pos` and `token` columns of a token part, checked against `check` (its
    /// manifest entry and footer) when given, and its values against `limits`
    /// ([`read_token_ids`]); token ids must also fit the n-gram keys' [`TOKEN_BITS`] bits. The
    /// text of its sequences starts at position `text_start`.
    pub fn read(
        path: &Path,
        check: Option<&PartCheck<'_>>,
        limits: &PartLimits,
        text_start: u16,
    ) -> Result<Self> {
        let TokenIds { seq, pos, token } = read_token_ids(path, check, limits)?;
        if let Some(&bad) = token.iter().find(|&&t| t as usize >= MAX_VOCAB) {
            return Err(StatsError::Parquet {
                path: path.to_path_buf(),
                reason: format!(
                    "token id {bad} does not fit {TOKEN_BITS} bits; vocabularies above \
                     {MAX_VOCAB} entries are not supported"
                ),
            });
        }
        Ok(Self::new(seq, pos, token, text_start))
    }
}

/// Reads one layer's activation part, checked against `check` when given, and checks that its
/// rows are those of `tokens` and that every row's neurons are strictly ascending and below
/// `limits.neurons`.
pub fn read_layer_part(
    path: &Path,
    tokens: &PartTokens,
    check: Option<&PartCheck<'_>>,
    limits: &PartLimits,
    keep: Option<&BTreeSet<u64>>,
) -> Result<ActivationRows> {
    let mut rows = read_activations(path, check)?;
    if let Some(keep) = keep {
        rows = select_rows(rows, keep);
    }
    check_activation_rows(path, &rows, &tokens.seq, &tokens.pos, limits)?;
    Ok(rows)
}

/// The activation rows of the sequences in `keep` only.
fn select_rows(rows: ActivationRows, keep: &BTreeSet<u64>) -> ActivationRows {
    let mut out = ActivationRows::default();
    for (i, window) in rows.offsets.windows(2).enumerate() {
        if keep.contains(&rows.seq[i]) {
            out.seq.push(rows.seq[i]);
            out.pos.push(rows.pos[i]);
            out.neurons
                .extend_from_slice(&rows.neurons[window[0] as usize..window[1] as usize]);
            out.offsets.push(out.neurons.len() as i32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_bos_ngrams_start_at_the_first_token() {
        // One sequence of text from position 0: 10 11 12.
        let tokens = PartTokens::new(vec![0, 0, 0], vec![0, 1, 2], vec![10, 11, 12], 0);
        assert_eq!(
            tokens.bigram,
            vec![NO_NGRAM, pack(&[10, 11]), pack(&[11, 12])]
        );
        assert_eq!(
            tokens.trigram,
            vec![NO_NGRAM, NO_NGRAM, pack(&[10, 11, 12])]
        );
    }

    #[test]
    fn a_shuffle_moves_text_tokens_within_their_sequence_and_keeps_the_prefix() {
        // Two sequences: </s> 10..=29 and </s> 40..=59.
        let mut seq = vec![0u64; 21];
        seq.extend([1u64; 21]);
        let pos: Vec<u16> = (0..21).chain(0..21).collect();
        let token: Vec<u32> = [2]
            .into_iter()
            .chain(10..30)
            .chain([2])
            .chain(40..60)
            .collect();
        let tokens = PartTokens::new(seq.clone(), pos.clone(), token.clone(), 1);
        let shuffled = tokens.clone().shuffled(3);
        assert_eq!((&shuffled.seq, &shuffled.pos), (&seq, &pos));
        assert_eq!((shuffled.token[0], shuffled.token[21]), (2, 2));
        for range in [1..21, 22..42] {
            let mut moved = shuffled.token[range.clone()].to_vec();
            assert_ne!(moved, token[range.clone()]);
            moved.sort_unstable();
            assert_eq!(moved, token[range]);
        }
        // The n-grams are those of the shuffled tokens.
        assert_eq!(
            shuffled,
            PartTokens::new(seq, pos, shuffled.token.clone(), 1)
        );
        assert_eq!(tokens.shuffled(3), shuffled);
    }

    #[test]
    fn ngrams_skip_the_prefix_and_sequence_starts() {
        // Two sequences: </s> 10 11 12 and </s> 20 21.
        let tokens = PartTokens::new(
            vec![0, 0, 0, 0, 1, 1, 1],
            vec![0, 1, 2, 3, 0, 1, 2],
            vec![2, 10, 11, 12, 2, 20, 21],
            1,
        );
        assert_eq!(
            tokens.bigram,
            vec![
                NO_NGRAM,
                NO_NGRAM,
                pack(&[10, 11]),
                pack(&[11, 12]),
                NO_NGRAM,
                NO_NGRAM,
                pack(&[20, 21])
            ]
        );
        assert_eq!(
            tokens.trigram,
            vec![
                NO_NGRAM,
                NO_NGRAM,
                NO_NGRAM,
                pack(&[10, 11, 12]),
                NO_NGRAM,
                NO_NGRAM,
                NO_NGRAM
            ]
        );
    }
}
