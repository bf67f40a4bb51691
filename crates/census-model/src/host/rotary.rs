//! Rotary position embedding on the host: the first rotated dimensions of every query and key
//! head of the fused projection buffer turned in place by their token's angles (Hugging Face's
//! `rotate_half` form, in `f32`).

use census_format::model::Rotary;
use rayon::prelude::*;

use super::attention::{Heads, RowLayout};

/// A layer's rotary embedding: the inverse frequencies of its rotated pairs.
#[derive(Debug, Clone)]
pub(crate) struct HostRotary {
    /// `dims / 2` inverse frequencies, as Hugging Face's `inv_freq` (in `f32`).
    inverse_frequencies: Vec<f32>,
}

impl HostRotary {
    /// The embedding `rotary` describes.
    pub(crate) fn new(rotary: &Rotary) -> Self {
        Self {
            inverse_frequencies: rotary
                .inverse_frequencies()
                .into_iter()
                .map(|f| f as f32)
                .collect(),
        }
    }

    /// Rotates the queries and keys of every real token by its position (0 at the row's first
    /// real token); padding tokens are left as they are.
    ///
    /// # Shapes
    /// - `qkv`: `[batch * seq, (heads + 2 kv_heads) * head_dim]`, each row `q | k | v`
    pub(crate) fn apply(&self, qkv: &mut [f32], rows: &RowLayout, heads: Heads) {
        let stride = heads.qkv_width();
        let half = self.inverse_frequencies.len();
        assert!(2 * half <= heads.dim, "rotary dimensions beyond the head");
        assert_eq!(qkv.len(), rows.tokens() * stride, "qkv buffer size");
        // The angles of each position, as Hugging Face computes them: f32 products, then cos/sin.
        let longest = rows.seq - rows.padding.iter().copied().min().unwrap_or(0);
        let (mut cos, mut sin) = (vec![0.0f32; longest * half], vec![0.0f32; longest * half]);
        for p in 0..longest {
            for (i, &f) in self.inverse_frequencies.iter().enumerate() {
                let angle = p as f32 * f;
                cos[p * half + i] = angle.cos();
                sin[p * half + i] = angle.sin();
            }
        }
        let rotated_heads = heads.count + heads.kv_count;
        qkv.par_chunks_mut(stride)
            .enumerate()
            .for_each(|(token, row)| {
                let (b, t) = (token / rows.seq, token % rows.seq);
                let pad = rows.padding[b];
                if t < pad {
                    return;
                }
                let p = t - pad;
                let (cos, sin) = (&cos[p * half..][..half], &sin[p * half..][..half]);
                for head in row[..rotated_heads * heads.dim].chunks_exact_mut(heads.dim) {
                    let (first, second) = head[..2 * half].split_at_mut(half);
                    for i in 0..half {
                        let (a, b) = (first[i], second[i]);
                        first[i] = a * cos[i] - b * sin[i];
                        second[i] = b * cos[i] + a * sin[i];
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pair_turns_by_its_position_times_its_frequency_and_values_stay() {
        let heads = Heads {
            count: 2,
            kv_count: 1,
            dim: 6,
        };
        let rotary = HostRotary {
            inverse_frequencies: vec![1.0, 0.25],
        };
        let rows = RowLayout {
            batch: 1,
            seq: 4,
            padding: vec![1],
        };
        let stride = heads.qkv_width();
        let original: Vec<f32> = (0..rows.tokens() * stride)
            .map(|i| (i % 7) as f32 - 3.0)
            .collect();
        let mut qkv = original.clone();
        rotary.apply(&mut qkv, &rows, heads);
        for t in 0..rows.seq {
            let (before, after) = (
                &original[t * stride..][..stride],
                &qkv[t * stride..][..stride],
            );
            if t == 0 {
                assert_eq!(before, after, "padding is left alone");
                continue;
            }
            let p = (t - 1) as f32;
            for head in 0..3 {
                let (x, y) = (&before[head * 6..][..6], &after[head * 6..][..6]);
                for (i, f) in [1.0f32, 0.25].into_iter().enumerate() {
                    let (c, s) = ((p * f).cos(), (p * f).sin());
                    assert!((y[i] - (x[i] * c - x[i + 2] * s)).abs() < 1e-6);
                    assert!((y[i + 2] - (x[i + 2] * c + x[i] * s)).abs() < 1e-6);
                }
                assert_eq!(&y[4..], &x[4..], "dimensions past the rotated ones pass");
            }
            assert_eq!(&after[18..], &before[18..], "values are not rotated");
        }
    }
}
