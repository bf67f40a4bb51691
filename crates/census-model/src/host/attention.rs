//! Causal multi-head attention on the host, reading q, k and v in place from the fused
//! projection buffer, with grouped key/value heads and an optional sliding window. Queries go
//! in blocks: a block attends only to the keys up to its last query (and from its first
//! query's window on), so about half of the score matrix is never computed. Left padding is a
//! prefix of each row: real queries attend from the first real key on, padding queries get a
//! zero context (they are never recorded and no real query sees them).

use rayon::prelude::*;

use super::activation::exp_affine_in_place;
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
    /// Query heads.
    pub(crate) count: usize,
    /// Key and value heads; query head `h` reads key/value head `h / (count / kv_count)`.
    pub(crate) kv_count: usize,
    /// Dimensions per head.
    pub(crate) dim: usize,
}

impl Heads {
    /// Width of a fused `q | k | v` row.
    pub(crate) fn qkv_width(self) -> usize {
        (self.count + 2 * self.kv_count) * self.dim
    }

    /// Width of the attention's output (the queries' width).
    pub(crate) fn context_width(self) -> usize {
        self.count * self.dim
    }
}

/// Attends every real query to itself and the real keys before it, within `window` positions
/// (the query included) where a window is given.
///
/// # Shapes
/// - `qkv`: `[batch * seq, (heads + 2 kv_heads) * head_dim]`, each row `q | k | v`, heads
///   contiguous within each
/// - `context`: `[batch * seq, heads * head_dim]`, overwritten
pub(crate) fn causal_attention(
    qkv: &[f32],
    context: &mut [f32],
    rows: &RowLayout,
    heads: Heads,
    window: Option<usize>,
) {
    let hidden = heads.context_width();
    let (seq, stride) = (rows.seq, heads.qkv_width());
    let (key_base, value_base) = (hidden, hidden + heads.kv_count * heads.dim);
    let group = heads.count / heads.kv_count.max(1);
    assert_eq!(
        group * heads.kv_count,
        heads.count,
        "query heads per key head"
    );
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
            // The first key any query of the block sees, and the first one query `t` sees.
            let first_seen = |t: usize| match window {
                Some(w) => pad.max((t + 1).saturating_sub(w)),
                None => pad,
            };
            let low = first_seen(start);
            let (queries, keys) = (end - start, end - low);
            let row_base = |t: usize| (b * seq + t) * stride;
            scores.resize(queries * keys, 0.0);
            for h in 0..heads.count {
                let col = h * heads.dim;
                let kv_col = (h / group) * heads.dim;
                let q = MatRef::new(&qkv[row_base(start) + col..], queries, heads.dim, stride, 1);
                let k_t = MatRef::new(
                    &qkv[row_base(low) + key_base + kv_col..],
                    heads.dim,
                    keys,
                    1,
                    stride,
                );
                let v = MatRef::new(
                    &qkv[row_base(low) + value_base + kv_col..],
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
                    // Query at position t = start + i sees keys first_seen(t)..=t.
                    let t = start + i;
                    softmax_range(row, first_seen(t) - low..t + 1 - low, scale);
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

/// Softmax of `row[visible] * scale`, zeros elsewhere.
fn softmax_range(row: &mut [f32], visible: std::ops::Range<usize>, scale: f32) {
    row[..visible.start].fill(0.0);
    row[visible.end..].fill(0.0);
    let seen = &mut row[visible];
    let max = seen.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) * scale;
    exp_affine_in_place(seen, scale, max);
    let inv = 1.0 / seen.iter().sum::<f32>();
    for s in seen.iter_mut() {
        *s *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward attention of one row and query head over explicit visible keys.
    fn reference(
        qkv: &[f32],
        rows: &RowLayout,
        heads: Heads,
        window: Option<usize>,
        (b, h, t): (usize, usize, usize),
    ) -> Vec<f32> {
        let hidden = heads.context_width();
        let kv = h / (heads.count / heads.kv_count);
        let at = |pos: usize, column: usize| qkv[(b * rows.seq + pos) * heads.qkv_width() + column];
        let query = |c: usize| at(t, h * heads.dim + c);
        let key = |j: usize, c: usize| at(j, hidden + kv * heads.dim + c);
        let value = |j: usize, c: usize| at(j, hidden + (heads.kv_count + kv) * heads.dim + c);
        let scale = (heads.dim as f32).powf(-0.5);
        let keys: Vec<usize> = (rows.padding[b]..=t)
            .filter(|&j| window.is_none_or(|w| t - j < w))
            .collect();
        let scores: Vec<f32> = keys
            .iter()
            .map(|&j| (0..heads.dim).map(|c| query(c) * key(j, c)).sum::<f32>() * scale)
            .collect();
        let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f32 = weights.iter().sum();
        (0..heads.dim)
            .map(|c| {
                keys.iter()
                    .zip(&weights)
                    .map(|(&j, w)| w / sum * value(j, c))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn blocked_causal_attention_matches_the_definition_with_padding_groups_and_windows() {
        // Rows longer than one query block, one of them padded past the first block.
        let rows = RowLayout {
            batch: 2,
            seq: 150,
            padding: vec![0, 70],
        };
        let cases = [
            (
                Heads {
                    count: 3,
                    kv_count: 3,
                    dim: 4,
                },
                None,
            ),
            (
                Heads {
                    count: 4,
                    kv_count: 2,
                    dim: 4,
                },
                None,
            ),
            (
                Heads {
                    count: 4,
                    kv_count: 1,
                    dim: 4,
                },
                Some(40),
            ),
        ];
        for (heads, window) in cases {
            let hidden = heads.context_width();
            let qkv: Vec<f32> = (0..rows.tokens() * heads.qkv_width())
                .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0)
                .collect();
            let mut context = vec![f32::NAN; rows.tokens() * hidden];
            causal_attention(&qkv, &mut context, &rows, heads, window);
            for b in 0..rows.batch {
                for t in 0..rows.seq {
                    for h in 0..heads.count {
                        let got =
                            &context[(b * rows.seq + t) * hidden + h * heads.dim..][..heads.dim];
                        if t < rows.padding[b] {
                            assert!(got.iter().all(|&v| v == 0.0), "padding query {b}/{t}");
                            continue;
                        }
                        let want = reference(&qkv, &rows, heads, window, (b, h, t));
                        for (g, w) in got.iter().zip(&want) {
                            assert!(
                                (g - w).abs() < 1e-5,
                                "{heads:?} {window:?}: row {b} pos {t} head {h}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }
}
