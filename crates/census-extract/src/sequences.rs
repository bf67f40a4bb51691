//! From documents to model sequences: `</s>` + at most `max_seq_len - 1` tokens of one document,
//! numbered deterministically, then split across machines and into parts.

use std::collections::BTreeMap;

use census_model::ModelTokenizer;

use crate::error::{DocumentError, ExtractError, Result};
use census_format::corpus::{CorpusSource, Document, DocumentContent, ReadCounts, read_source};
use census_format::run::{CorpusCounts, SequenceOptions, Shard};

/// Documents tokenized together (in parallel) before they are cut into sequences.
const TOKENIZE_CHUNK: usize = 256;

use census_format::run::sequence_table::Sequence;

/// This shard's sequences, with the domain dictionary and counts.
#[derive(Debug, Clone, Default)]
pub struct SequencedCorpus {
    /// Sequences of this shard, by increasing id.
    pub sequences: Vec<Sequence>,
    /// Domain names; sequences refer to them by index.
    pub domains: Vec<String>,
    /// Counts.
    pub counts: CorpusCounts,
}

/// Reads `sources` in order and cuts every document into sequences, keeping this `shard`'s.
///
/// `tokenizer` is needed only for text sources; every id is checked against `vocab_size`.
/// Every sequence starts with `bos_id` when there is one (OPT's `</s>`, Llama's `<s>`), and
/// with the text otherwise. Pre-tokenized documents that already start with `bos_id` (as
/// Hugging Face's tokenizer writes them) are taken as they are, without a second one; one that
/// holds `pad_id` is refused, since padding is never recorded as a token.
pub fn build_sequences(
    sources: &[CorpusSource],
    tokenizer: Option<&ModelTokenizer>,
    bos_id: Option<u32>,
    pad_id: Option<u32>,
    vocab_size: usize,
    options: &SequenceOptions,
    shard: Shard,
) -> Result<SequencedCorpus> {
    options.check()?;
    let mut builder = Builder {
        bos_id,
        vocab_size,
        options,
        shard,
        out: SequencedCorpus::default(),
        domain_ids: BTreeMap::new(),
        next_seq: 0,
        next_doc: 0,
        global_left: options.max_tokens,
    };
    let mut read = ReadCounts::default();
    for source in sources {
        if builder.global_left == Some(0) {
            break;
        }
        let mut source_left = source.max_tokens;
        let mut pending: Vec<Document> = Vec::new();
        let flush = |pending: &mut Vec<Document>,
                     builder: &mut Builder,
                     left: &mut Option<u64>|
         -> Result<bool> {
            let docs = std::mem::take(pending);
            let ids = tokenize(&docs, tokenizer, source, bos_id, pad_id)?;
            for (doc, ids) in docs.into_iter().zip(ids) {
                if !builder.add_document(&doc.domain, ids, left, source)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        let mut stopped = false;
        read_source::<ExtractError>(source, options.skip_malformed, &mut read, &mut |doc| {
            pending.push(doc);
            if pending.len() == TOKENIZE_CHUNK {
                let go_on = flush(&mut pending, &mut builder, &mut source_left)?;
                stopped = !go_on;
                return Ok(go_on);
            }
            Ok(true)
        })?;
        if !stopped && !pending.is_empty() {
            flush(&mut pending, &mut builder, &mut source_left)?;
        }
    }
    let mut out = builder.out;
    out.counts.empty_documents += read.empty_documents;
    out.counts.malformed_lines = read.malformed_lines;
    if out.counts.tokens == 0 {
        let what = if options.full_length {
            format!(
                "no document is long enough for a full-length sequence of {} tokens",
                options.max_seq_len
            )
        } else {
            "no non-empty document was found".to_string()
        };
        return Err(ExtractError::EmptyCorpus(what));
    }
    Ok(out)
}

/// Token ids of each document, without a BOS: text is encoded without one, and pre-tokenized
/// ids lose the one they may start with. Pre-tokenized ids holding the pad id are refused.
fn tokenize(
    docs: &[Document],
    tokenizer: Option<&ModelTokenizer>,
    source: &CorpusSource,
    bos_id: Option<u32>,
    pad_id: Option<u32>,
) -> Result<Vec<Vec<u32>>> {
    let texts: Vec<&str> = docs
        .iter()
        .filter_map(|d| match &d.content {
            DocumentContent::Text(t) => Some(t.as_str()),
            DocumentContent::Ids(_) => None,
        })
        .collect();
    let mut encoded = if texts.is_empty() {
        Vec::new()
    } else {
        let tokenizer = tokenizer.ok_or_else(|| {
            ExtractError::from(census_format::FormatError::from(
                census_format::SourceError::NoTokenizer(source.path.clone()),
            ))
        })?;
        tokenizer.encode_batch_without_prefix(&texts)?
    }
    .into_iter();
    docs.iter()
        .map(|d| match &d.content {
            DocumentContent::Ids(ids) => {
                if let Some(pad) = pad_id
                    && let Some(at) = ids.iter().position(|&t| t == pad)
                {
                    return Err(DocumentError::PadToken {
                        path: source.path.clone(),
                        pad,
                        at,
                    }
                    .into());
                }
                Ok(match ids.split_first() {
                    Some((&first, rest)) if Some(first) == bos_id => rest.to_vec(),
                    _ => ids.clone(),
                })
            }
            DocumentContent::Text(_) => Ok(encoded.next().unwrap_or_default()),
        })
        .collect()
}

struct Builder<'a> {
    bos_id: Option<u32>,
    vocab_size: usize,
    options: &'a SequenceOptions,
    shard: Shard,
    out: SequencedCorpus,
    domain_ids: BTreeMap<String, u32>,
    next_seq: u64,
    next_doc: u64,
    global_left: Option<u64>,
}

impl Builder<'_> {
    /// Cuts one document into sequences; returns `false` once a budget is spent.
    fn add_document(
        &mut self,
        domain: &str,
        ids: Vec<u32>,
        source_left: &mut Option<u64>,
        source: &CorpusSource,
    ) -> Result<bool> {
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.vocab_size) {
            return Err(DocumentError::TokenOutOfVocabulary {
                doc: self.next_doc,
                path: source.path.clone(),
                id: bad,
                vocab: self.vocab_size,
            }
            .into());
        }
        if ids.is_empty() {
            self.out.counts.empty_documents += 1;
            return Ok(true);
        }
        let doc = self.next_doc;
        self.next_doc += 1;
        self.out.counts.documents += 1;
        let domain_id = match self.domain_ids.get(domain) {
            Some(&id) => id,
            None => {
                let id = self.out.domains.len() as u32;
                self.out.domains.push(domain.to_string());
                self.domain_ids.insert(domain.to_string(), id);
                id
            }
        };
        let prefix = usize::from(self.bos_id.is_some());
        let body = self.options.max_seq_len - prefix;
        for chunk in ids.chunks(body) {
            if self.options.full_length && chunk.len() < body {
                continue;
            }
            let mut take = chunk.len();
            let left = match (self.global_left, *source_left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(left) = left {
                // A sequence needs room for its BOS and at least one token.
                if left < 1 + prefix as u64 {
                    return Ok(false);
                }
                let room = (left - prefix as u64) as usize;
                if room < take {
                    if self.options.full_length {
                        return Ok(false);
                    }
                    take = room;
                }
            }
            let mut tokens = Vec::with_capacity(take + prefix);
            tokens.extend(self.bos_id);
            tokens.extend_from_slice(&chunk[..take]);
            let n = tokens.len() as u64;
            self.spend(n);
            *source_left = source_left.map(|s| s - n.min(s));
            let seq = self.next_seq;
            self.next_seq += 1;
            self.out.counts.sequences += 1;
            self.out.counts.tokens += n;
            if self.shard.owns(seq) {
                self.out.counts.shard_sequences += 1;
                self.out.counts.shard_tokens += n;
                self.out.sequences.push(Sequence {
                    seq,
                    doc,
                    domain: domain_id,
                    tokens,
                });
            }
            if take < chunk.len() || *source_left == Some(0) || self.global_left == Some(0) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn spend(&mut self, n: u64) {
        self.global_left = self.global_left.map(|g| g - n.min(g));
    }
}

/// Consecutive sequences of this shard written and committed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPlan {
    /// Part number within this run directory.
    pub index: u32,
    /// Range of indices into [`SequencedCorpus::sequences`].
    pub range: std::ops::Range<usize>,
    /// Tokens in the part.
    pub tokens: u64,
}

/// Groups sequences into parts of at least `part_tokens` tokens (the last may be smaller).
pub fn plan_parts(sequences: &[Sequence], part_tokens: u64) -> Vec<PartPlan> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut tokens = 0u64;
    for (i, s) in sequences.iter().enumerate() {
        tokens += s.tokens.len() as u64;
        if tokens >= part_tokens || i + 1 == sequences.len() {
            parts.push(PartPlan {
                index: parts.len() as u32,
                range: start..i + 1,
                tokens,
            });
            start = i + 1;
            tokens = 0;
        }
    }
    parts
}

/// Batches of a part: indices into the part's sequences, longest first, each batch padded to
/// its longest sequence and holding at most `batch_tokens` padded tokens (at least one sequence).
pub fn plan_batches(sequences: &[Sequence], batch_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].tokens.len()));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut width = 0;
    for i in order {
        let len = sequences[i].tokens.len();
        let new_width = width.max(len);
        if !current.is_empty() && new_width * (current.len() + 1) > batch_tokens {
            batches.push(std::mem::take(&mut current));
            width = 0;
        }
        width = width.max(len);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_format::corpus::SourceFormat;

    fn pretokenized(dir: &std::path::Path, docs: &[Vec<u32>]) -> CorpusSource {
        let path = dir.join("ids.jsonl");
        let lines: Vec<String> = docs
            .iter()
            .map(|d| serde_json::json!({ "input_ids": d, "domain": "test" }).to_string())
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        CorpusSource {
            path,
            format: SourceFormat::PreTokenized,
            domain: None,
            max_tokens: None,
        }
    }

    fn options(max_seq_len: usize) -> SequenceOptions {
        SequenceOptions {
            max_seq_len,
            full_length: false,
            max_tokens: None,
            skip_malformed: false,
        }
    }

    #[test]
    fn without_a_bos_sequences_are_text_only_and_keep_a_leading_id() {
        let dir = tempfile::tempdir().unwrap();
        let source = pretokenized(dir.path(), &[vec![2, 10, 11, 12, 13], vec![20, 21]]);
        let corpus = build_sequences(
            &[source],
            None,
            None,
            None,
            100,
            &options(3),
            Shard::default(),
        )
        .unwrap();
        let tokens: Vec<Vec<u32>> = corpus.sequences.iter().map(|s| s.tokens.clone()).collect();
        assert_eq!(tokens, vec![vec![2, 10, 11], vec![12, 13], vec![20, 21]]);
        assert_eq!(corpus.counts.tokens, 7);
    }

    #[test]
    fn documents_are_cut_with_a_prefix_and_never_joined() {
        let dir = tempfile::tempdir().unwrap();
        let source = pretokenized(dir.path(), &[vec![10, 11, 12, 13, 14], vec![20, 21]]);
        let corpus = build_sequences(
            &[source],
            None,
            Some(2),
            None,
            100,
            &options(3),
            Shard::default(),
        )
        .unwrap();
        let tokens: Vec<(u64, Vec<u32>)> = corpus
            .sequences
            .iter()
            .map(|s| (s.doc, s.tokens.clone()))
            .collect();
        assert_eq!(
            tokens,
            vec![
                (0, vec![2, 10, 11]),
                (0, vec![2, 12, 13]),
                (0, vec![2, 14]),
                (1, vec![2, 20, 21]),
            ]
        );
        assert_eq!(corpus.counts.tokens, 11);
        assert_eq!(corpus.domains, vec!["test".to_string()]);
    }

    #[test]
    fn full_length_keeps_only_complete_sequences() {
        let dir = tempfile::tempdir().unwrap();
        let source = pretokenized(dir.path(), &[vec![1; 7], vec![5; 2]]);
        let opts = SequenceOptions {
            full_length: true,
            ..options(4)
        };
        let corpus =
            build_sequences(&[source], None, Some(2), None, 100, &opts, Shard::default()).unwrap();
        assert!(corpus.sequences.iter().all(|s| s.tokens.len() == 4));
        assert_eq!(corpus.sequences.len(), 2);
    }

    #[test]
    fn pretokenized_ids_starting_with_bos_keep_one_and_pad_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // As Hugging Face's OPT tokenizer writes them (with `</s>`), and without it.
        let source = pretokenized(dir.path(), &[vec![2, 7, 8, 9], vec![7, 8, 9], vec![2]]);
        let corpus = build_sequences(
            std::slice::from_ref(&source),
            None,
            Some(2),
            Some(1),
            100,
            &options(8),
            Shard::default(),
        )
        .unwrap();
        let tokens: Vec<&Vec<u32>> = corpus.sequences.iter().map(|s| &s.tokens).collect();
        assert_eq!(tokens, [&vec![2, 7, 8, 9], &vec![2, 7, 8, 9]]);
        assert_eq!(corpus.counts.tokens, 8);
        assert_eq!(corpus.counts.empty_documents, 1);
        let padded = pretokenized(dir.path(), &[vec![7, 8], vec![7, 1, 1]]);
        let err = build_sequences(
            &[padded],
            None,
            Some(2),
            Some(1),
            100,
            &options(8),
            Shard::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("pad id 1 at token 1") && err.contains(".jsonl"),
            "{err}"
        );
    }

    #[test]
    fn budgets_cap_tokens_per_source_and_overall() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = pretokenized(dir.path(), &[vec![7; 10], vec![8; 10]]);
        a.max_tokens = Some(6);
        let b_dir = dir.path().join("b");
        std::fs::create_dir(&b_dir).unwrap();
        let b = pretokenized(&b_dir, &[vec![9; 10]]);
        let opts = SequenceOptions {
            max_tokens: Some(10),
            ..options(5)
        };
        let corpus =
            build_sequences(&[a, b], None, Some(2), None, 100, &opts, Shard::default()).unwrap();
        let lens: Vec<usize> = corpus.sequences.iter().map(|s| s.tokens.len()).collect();
        // Source a: one sequence of 5, then 1 token of budget left (too few for `</s>` and a
        // token). Source b: the 5 tokens left of the overall budget.
        assert_eq!(lens, vec![5, 5]);
        assert_eq!(corpus.sequences[1].tokens, vec![2, 9, 9, 9, 9]);
        assert_eq!(corpus.counts.tokens, 10);
    }

    #[test]
    fn shards_partition_the_sequences() {
        let dir = tempfile::tempdir().unwrap();
        let source = pretokenized(dir.path(), &[vec![3; 20], vec![4; 9]]);
        let all = build_sequences(
            std::slice::from_ref(&source),
            None,
            Some(2),
            None,
            100,
            &options(4),
            Shard::default(),
        )
        .unwrap();
        let mut seen = Vec::new();
        for index in 0..3 {
            let shard = Shard { index, count: 3 };
            let part = build_sequences(
                std::slice::from_ref(&source),
                None,
                Some(2),
                None,
                100,
                &options(4),
                shard,
            )
            .unwrap();
            assert_eq!(part.counts.sequences, all.counts.sequences);
            seen.extend(part.sequences);
        }
        seen.sort_by_key(|s| s.seq);
        assert_eq!(seen, all.sequences);
        assert!("3/3".parse::<Shard>().is_err());
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
    }

    #[test]
    fn out_of_vocabulary_ids_and_empty_corpora_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let source = pretokenized(dir.path(), &[vec![3, 500]]);
        let err = build_sequences(
            &[source],
            None,
            Some(2),
            None,
            100,
            &options(8),
            Shard::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("token id 500") && err.contains("ids.jsonl"),
            "{err}"
        );
        let empty = pretokenized(dir.path(), &[]);
        let err = build_sequences(
            &[empty],
            None,
            Some(2),
            None,
            100,
            &options(8),
            Shard::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::EmptyCorpus(_)), "{err}");
    }

    #[test]
    fn batches_respect_the_token_budget_and_cover_every_sequence() {
        let seqs: Vec<Sequence> = [5usize, 9, 2, 9, 4, 1]
            .iter()
            .enumerate()
            .map(|(i, &n)| Sequence {
                seq: i as u64,
                doc: 0,
                domain: 0,
                tokens: vec![2; n],
            })
            .collect();
        let batches = plan_batches(&seqs, 18);
        let mut covered: Vec<usize> = batches.iter().flatten().copied().collect();
        covered.sort();
        assert_eq!(covered, (0..6).collect::<Vec<_>>());
        for b in &batches {
            let width = b.iter().map(|&i| seqs[i].tokens.len()).max().unwrap();
            assert!(width * b.len() <= 18 || b.len() == 1);
        }
        let parts = plan_parts(&seqs, 10);
        assert_eq!(parts.iter().map(|p| p.tokens).sum::<u64>(), 30);
        assert!(parts.iter().all(|p| !p.range.is_empty()));
    }
}
