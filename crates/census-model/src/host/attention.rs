//! Causal multi-head attention on the host, reading q, k and v in place from the fused
//! projection buffer. Queries go in blocks: a block attends only to the keys up to its last
//! query, so about half of the score matrix is never computed. Left padding is a prefix of
//! each row: real queries attend from the first real key on, padding queries get a zero
//! context (they are never recorded and no real query sees them).

use rayon::prelude::*;

use super::matmul::{MatMut, MatRef, Threads, matmul};

/// Queries per block (and per parallel task).
const QUERY_BLOCK: usize = 64;

/// The shape of a batch of left-padded rows on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLayout {
    /// Rows (sequences).
    pub batch: usize,
    /// Positions per row, padding included.
    pub seq: usize,
    /// Leading padding positions of each row.
    pub padding: Vec<usize>,
}

impl RowLayout {
    /// Tokens in the batch, padding included.
    pub fn tokens(&self) -> usize {
        self.batch * self.seq
    }
}

/// Attention heads of a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) count: usize,
    pub(crate) dim: usize,
}

/// Attends every real query to itself and the real keys before it.
///
/// # Shapes
/// - `qkv`: `[batch * seq, 3 * hidden]`, each row `q | k | v`, heads contiguous within each
/// - `context`: `[batch * seq, hidden]`, overwritten
pub(crate) fn causal_attention(qkv: &[f32], context: &mut [f32], rows: &RowLayout, heads: Heads) {
    let hidden = heads.count * heads.dim;
    let (seq, stride) = (rows.seq, 3 * hidden);
    assert_eq!(qkv.len(), rows.tokens() * stride, "qkv buffer size");
    assert_eq!(context.len(), rows.tokens() * hidden, "context buffer size");
    let tasks: Vec<(usize, usize, &mut [f32])> = context
        .chunks_mut(seq * hidden)
        .enumerate()
        .flat_map(|(b, row)| {
            row.chunks_mut(QUERY_BLOCK * hidden)
                .enumerate()
                .map(move |(block, out)| (b, block * QUERY_BLOCK, out))
        })
        .collect();
    let scale = (heads.dim as f32).powf(-0.5);
    tasks
        .into_par_iter()
        .for_each_init(Vec::new, |scores, (b, first, out)| {
            let end = first + out.len() / hidden;
            let pad = rows.padding[b];
            let start = first.max(pad).min(end);
            out[..(start - first) * hidden].fill(0.0);
            if start >= end {
                return;
            }
            let (queries, keys) = (end - start, end - pad);
            let row_base = |t: usize| (b * seq + t) * stride;
            scores.resize(queries * keys, 0.0);
            for h in 0..heads.count {
                let col = h * heads.dim;
                let q = MatRef::new(&qkv[row_base(start) + col..], queries, heads.dim, stride, 1);
                let k_t = MatRef::new(
                    &qkv[row_base(pad) + hidden + col..],
                    heads.dim,
                    keys,
                    1,
                    stride,
                );
                let v = MatRef::new(
                    &qkv[row_base(pad) + 2 * hidden + col..],
                    keys,
                    heads.dim,
                    stride,
                    1,
                );
                matmul(
                    MatMut::new(scores, queries, keys, keys),
                    q,
                    k_t,
                    false,
                    Threads::One,
                );
                for (i, row) in scores.chunks_exact_mut(keys).enumerate() {
                    // Query at position start + i sees keys pad..=start + i.
                    let visible = start + i - pad + 1;
                    softmax_prefix(row, visible, scale);
                }
                let offset = (start - first) * hidden + col;
                matmul(
                    MatMut::new(&mut out[offset..], queries, heads.dim, hidden),
                    MatRef::row_major(scores, queries, keys),
                    v,
                    false,
                    Threads::One,
                );
            }
        });
}

/// Softmax of `row[..visible] * scale`, zeros after.
fn softmax_prefix(row: &mut [f32], visible: usize, scale: f32) {
    let (seen, hidden) = row.split_at_mut(visible);
    hidden.fill(0.0);
    let max = seen.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) * scale;
    let mut sum = 0.0;
    for s in seen.iter_mut() {
        *s = (*s * scale - max).exp();
        sum += *s;
    }
    let inv = 1.0 / sum;
    for s in seen.iter_mut() {
        *s *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward attention of one row and head over explicit visible keys.
    fn reference(
        qkv: &[f32],
        rows: &RowLayout,
        heads: Heads,
        b: usize,
        h: usize,
        t: usize,
    ) -> Vec<f32> {
        let hidden = heads.count * heads.dim;
        let at = |pos: usize, part: usize, c: usize| {
            qkv[(b * rows.seq + pos) * 3 * hidden + part * hidden + h * heads.dim + c]
        };
        let scale = (heads.dim as f32).powf(-0.5);
        let keys: Vec<usize> = (rows.padding[b]..=t).collect();
        let scores: Vec<f32> = keys
            .iter()
            .map(|&j| {
                (0..heads.dim)
                    .map(|c| at(t, 0, c) * at(j, 1, c))
                    .sum::<f32>()
                    * scale
            })
            .collect();
        let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f32 = weights.iter().sum();
        (0..heads.dim)
            .map(|c| {
                keys.iter()
                    .zip(&weights)
                    .map(|(&j, w)| w / sum * at(j, 2, c))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn blocked_causal_attention_matches_the_definition_with_padding() {
        let heads = Heads { count: 3, dim: 4 };
        let hidden = heads.count * heads.dim;
        // Rows longer than one query block, one of them padded past the first block.
        let rows = RowLayout {
            batch: 2,
            seq: 150,
            padding: vec![0, 70],
        };
        let qkv: Vec<f32> = (0..rows.tokens() * 3 * hidden)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0)
            .collect();
        let mut context = vec![f32::NAN; rows.tokens() * hidden];
        causal_attention(&qkv, &mut context, &rows, heads);
        for b in 0..rows.batch {
            for t in 0..rows.seq {
                for h in 0..heads.count {
                    let got = &context[(b * rows.seq + t) * hidden + h * heads.dim..][..heads.dim];
                    if t < rows.padding[b] {
                        assert!(got.iter().all(|&v| v == 0.0), "padding query {b}/{t}");
                        continue;
                    }
                    let want = reference(&qkv, &rows, heads, b, h, t);
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() < 1e-5, "row {b} pos {t} head {h}: {g} vs {w}");
                    }
                }
            }
        }
    }
}
