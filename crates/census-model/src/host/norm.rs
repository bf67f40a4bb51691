//! The norms over the rows of a host matrix: PyTorch's `nn.LayerNorm` (biased variance) for
//! OPT, GPT-2 and GPT-NeoX, and the RMSNorm of Llama, Qwen2 and Mistral, in `f32`.

use rayon::prelude::*;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 16;

/// A norm's parameters: a LayerNorm when it has a shift (`beta`) or `rms` is false, an RMSNorm
/// otherwise.
#[derive(Debug, Clone)]
pub(crate) struct HostNorm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Option<Vec<f32>>,
    pub(crate) epsilon: f32,
    /// Scale by the root mean square only (no centring).
    pub(crate) rms: bool,
}

impl HostNorm {
    /// Normalises one row into `out`.
    fn row(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() as f32;
        let (mean, inv) = if self.rms {
            let square = x.iter().map(|v| v * v).sum::<f32>() / n;
            (0.0, 1.0 / (square + self.epsilon).sqrt())
        } else {
            let mean = x.iter().sum::<f32>() / n;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            (mean, 1.0 / (var + self.epsilon).sqrt())
        };
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(&self.gamma) {
            *o = (v - mean) * inv * g;
        }
        if let Some(beta) = &self.beta {
            for (o, &b) in out.iter_mut().zip(beta) {
                *o += b;
            }
        }
    }

    /// Normalises every row of `x` into `out`.
    ///
    /// # Shapes
    /// - `x`, `out`: `[rows, width]` row-major, `width` = `gamma.len()`
    pub(crate) fn forward(&self, x: &[f32], out: &mut [f32]) {
        let width = self.gamma.len();
        assert_eq!(x.len(), out.len(), "norm input and output differ in size");
        out.par_chunks_mut(width * ROWS_PER_TASK)
            .zip(x.par_chunks(width * ROWS_PER_TASK))
            .for_each(|(out, x)| {
                for (o, x) in out.chunks_exact_mut(width).zip(x.chunks_exact(width)) {
                    self.row(x, o);
                }
            });
    }

    /// Normalises every row of `x` in place.
    ///
    /// # Shapes
    /// - `x`: `[rows, width]` row-major
    pub(crate) fn forward_in_place(&self, x: &mut [f32]) {
        let width = self.gamma.len();
        x.par_chunks_mut(width * ROWS_PER_TASK).for_each(|x| {
            let mut row = vec![0.0; width];
            for x in x.chunks_exact_mut(width) {
                self.row(x, &mut row);
                x.copy_from_slice(&row);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_rows_have_zero_mean_and_unit_variance_before_the_affine_map() {
        let norm = HostNorm {
            gamma: vec![2.0; 4],
            beta: Some(vec![1.0; 4]),
            epsilon: 1e-5,
            rms: false,
        };
        let x = [1.0, 2.0, 3.0, 4.0, -1.0, -1.0, 5.0, 9.0];
        let mut out = [0.0; 8];
        norm.forward(&x, &mut out);
        let mut in_place = x;
        norm.forward_in_place(&mut in_place);
        assert_eq!(out, in_place);
        for row in out.chunks(4) {
            let y: Vec<f32> = row.iter().map(|v| (v - 1.0) / 2.0).collect();
            let mean = y.iter().sum::<f32>() / 4.0;
            let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-6);
            assert!((var - 1.0).abs() < 1e-4, "variance {var}");
        }
    }

    #[test]
    fn rms_norm_rows_have_unit_mean_square_before_the_scale() {
        let norm = HostNorm {
            gamma: vec![3.0; 4],
            beta: None,
            epsilon: 0.0,
            rms: true,
        };
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        norm.forward(&x, &mut out);
        let square = out.iter().map(|v| (v / 3.0).powi(2)).sum::<f32>() / 4.0;
        assert!((square - 1.0).abs() < 1e-6, "mean square {square}");
        // Not centred: the signs and ratios of the inputs stay.
        assert!((out[3] / out[0] - 4.0).abs() < 1e-5);
    }
}
