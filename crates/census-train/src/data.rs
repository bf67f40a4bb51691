//! The training text: documents read from corpus sources, tokenized with `</s>` in front of
//! each, concatenated and cut into fixed-length blocks, served in a seeded order.

use census_format::corpus::CorpusSource;
use census_format::corpus::{DocumentContent, ReadCounts, read_source};
use census_model::ModelTokenizer;

use crate::error::{Result, SettingsError};

/// The documents of one corpus source, and the source's token budget.
#[derive(Debug, Clone)]
pub struct SourceTexts {
    /// The documents' text, in the source's order.
    pub texts: Vec<String>,
    /// Largest number of tokens of this source the model trains on (`max_tokens=`); the
    /// tokenizer learns from every document.
    pub max_tokens: Option<u64>,
}

/// Reads the text of every document of `sources`, in order. Pre-tokenized sources are refused:
/// the tokenizer is trained on text.
pub fn read_texts(sources: &[CorpusSource]) -> Result<Vec<SourceTexts>> {
    let mut all = Vec::new();
    for source in sources {
        let mut texts = Vec::new();
        let mut counts = ReadCounts::default();
        read_source(source, false, &mut counts, &mut |document| {
            match document.content {
                DocumentContent::Text(text) => texts.push(text),
                DocumentContent::Ids(_) => {
                    return Err(census_format::FormatError::from(
                        census_format::SourceError::PreTokenized {
                            path: source.path.clone(),
                            needs: "training needs text, to train the tokenizer on",
                        },
                    ));
                }
            }
            Ok(true)
        })?;
        all.push(SourceTexts {
            texts,
            max_tokens: source.max_tokens,
        });
    }
    if all.iter().all(|s| s.texts.is_empty()) {
        return Err(SettingsError::NoDocument {
            sources: sources.iter().map(|s| s.path.clone()).collect(),
        }
        .into());
    }
    Ok(all)
}

/// Tokenizes every text (`</s>` first, as OPT's inputs start), up to each source's token budget,
/// concatenates them and cuts the stream into blocks of `seq_len` tokens; the incomplete tail is
/// dropped.
pub fn pack_blocks(
    tokenizer: &ModelTokenizer,
    sources: &[SourceTexts],
    seq_len: usize,
) -> Result<Vec<Vec<u32>>> {
    let mut stream = Vec::new();
    for source in sources {
        let budget = source.max_tokens.unwrap_or(u64::MAX) as usize;
        let mut taken = 0usize;
        for text in &source.texts {
            if taken >= budget {
                break;
            }
            let ids = tokenizer.encode(text)?;
            let keep = ids.len().min(budget - taken);
            stream.extend_from_slice(&ids[..keep]);
            taken += keep;
        }
    }
    Ok(stream.chunks_exact(seq_len).map(<[u32]>::to_vec).collect())
}

/// SplitMix64: a small, seedable generator, so the block order depends on the seed alone.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Serves batches of block indices: every block once per epoch, in a new seeded order each epoch.
#[derive(Debug, Clone)]
pub struct BatchOrder {
    order: Vec<usize>,
    next: usize,
    epoch: usize,
    rng: SplitMix64,
}

impl BatchOrder {
    /// An order over `blocks` blocks.
    pub fn new(blocks: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut order: Vec<usize> = (0..blocks).collect();
        rng.shuffle(&mut order);
        Self {
            order,
            next: 0,
            epoch: 0,
            rng,
        }
    }

    /// The next `size` block indices (wrapping into a reshuffled next epoch).
    pub fn next_batch(&mut self, size: usize) -> Vec<usize> {
        (0..size)
            .map(|_| {
                if self.next == self.order.len() {
                    self.rng.shuffle(&mut self.order);
                    self.next = 0;
                    self.epoch += 1;
                }
                self.next += 1;
                self.order[self.next - 1]
            })
            .collect()
    }

    /// Completed passes over the blocks.
    pub fn epoch(&self) -> usize {
        self.epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_once_per_epoch_in_a_seeded_order() {
        let mut order = BatchOrder::new(10, 7);
        let mut first: Vec<usize> = order.next_batch(10);
        let second_epoch = order.next_batch(10);
        assert_eq!(order.epoch(), 1);
        assert_ne!(first, second_epoch, "each epoch is reshuffled");
        first.sort_unstable();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        let mut again = BatchOrder::new(10, 7);
        assert_eq!(again.next_batch(10), {
            let mut o = BatchOrder::new(10, 7);
            o.next_batch(10)
        });
        assert_ne!(BatchOrder::new(10, 8).next_batch(10), again.next_batch(10));
    }
}
