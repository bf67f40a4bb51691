//! The FFN's second half on the host, over the neurons that fired only: each token adds the fc2
//! rows of its active neurons. With a few percent of neurons firing this skips most of fc2's
//! work, and it yields the fired indices that extraction records.

use rayon::prelude::*;

use crate::fired::FiredNeurons;

/// Tokens per parallel task.
const TOKENS_PER_TASK: usize = 32;

/// `out += fc2(relu(pre))`, summing only the fc2 rows of the neurons that fired; returns them.
///
/// `rows` holds fc2's weight as `[ffn, hidden]` (row `n` is neuron `n`'s update vector) and
/// `bias` fc2's bias, added to every token.
///
/// # Shapes
/// - `pre`: `[tokens, ffn]` fc1 pre-activations
/// - `out`: `[tokens, hidden]`, updated in place
pub(crate) fn add_fired_updates(
    pre: &[f32],
    ffn: usize,
    rows: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> FiredNeurons {
    let tokens = pre.len() / ffn;
    let hidden = out.len() / tokens.max(1);
    assert_eq!(tokens * hidden, out.len(), "fc2 output size");
    assert_eq!(rows.len(), ffn * hidden, "fc2 weight size");
    let chunks: Vec<(Vec<u16>, Vec<usize>)> = pre
        .par_chunks(ffn * TOKENS_PER_TASK)
        .zip(out.par_chunks_mut(hidden * TOKENS_PER_TASK))
        .map(|(pre, out)| {
            let mut neurons = Vec::new();
            let mut counts = Vec::with_capacity(TOKENS_PER_TASK);
            for (token, acc) in pre.chunks_exact(ffn).zip(out.chunks_exact_mut(hidden)) {
                if let Some(b) = bias {
                    for (o, &b) in acc.iter_mut().zip(b) {
                        *o += b;
                    }
                }
                let before = neurons.len();
                for (neuron, &a) in token.iter().enumerate() {
                    if a > 0.0 {
                        neurons.push(neuron as u16);
                        let row = &rows[neuron * hidden..(neuron + 1) * hidden];
                        for (o, &w) in acc.iter_mut().zip(row) {
                            *o += a * w;
                        }
                    }
                }
                counts.push(neurons.len() - before);
            }
            (neurons, counts)
        })
        .collect();
    FiredNeurons::from_chunks(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fired_updates_equal_the_dense_product() {
        let (tokens, ffn, hidden) = (70, 9, 5);
        let pre: Vec<f32> = (0..tokens * ffn)
            .map(|i| ((i * 37 % 17) as f32 - 11.0) / 7.0)
            .collect();
        let rows: Vec<f32> = (0..ffn * hidden)
            .map(|i| ((i * 13 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let bias: Vec<f32> = (0..hidden).map(|i| i as f32 * 0.5).collect();
        let mut out = vec![0.0; tokens * hidden];
        let fired = add_fired_updates(&pre, ffn, &rows, Some(&bias), &mut out);
        assert_eq!(fired.tokens(), tokens);
        for t in 0..tokens {
            let expected_fired: Vec<u16> = (0..ffn)
                .filter(|&n| pre[t * ffn + n] > 0.0)
                .map(|n| n as u16)
                .collect();
            assert_eq!(fired.of(t), expected_fired.as_slice());
            for h in 0..hidden {
                let dense: f32 = bias[h]
                    + (0..ffn)
                        .map(|n| pre[t * ffn + n].max(0.0) * rows[n * hidden + h])
                        .sum::<f32>();
                assert!(
                    (out[t * hidden + h] - dense).abs() < 1e-5,
                    "token {t} dim {h}"
                );
            }
        }
    }
}
