//! Rotary position embedding: the cosine and sine tables of a batch's positions, and their
//! application to the first rotated dimensions of every head (Hugging Face's `rotate_half` form).

use burn::prelude::*;
use census_format::model::Rotary;

/// The rotation angles of a batch, for every rotated dimension.
#[derive(Debug, Clone)]
pub struct RotaryTables<B: Backend> {
    /// `cos(position · frequency)`, `[batch, 1, seq, dims]`.
    cos: Tensor<B, 4>,
    /// `sin(position · frequency)`, `[batch, 1, seq, dims]`.
    sin: Tensor<B, 4>,
    dims: usize,
}

impl<B: Backend> RotaryTables<B> {
    /// The tables of `positions` (0-based, per token) for `rotary`, in the dtype of `like`.
    ///
    /// # Shapes
    /// - `positions`: `[batch, seq]`
    pub fn new(rotary: &Rotary, positions: Tensor<B, 2, Int>, dtype: burn::tensor::DType) -> Self {
        let [batch, seq] = positions.dims();
        let device = positions.device();
        let frequencies: Vec<f32> = rotary
            .inverse_frequencies()
            .into_iter()
            .map(|f| f as f32)
            .collect();
        let half = frequencies.len();
        let frequencies =
            Tensor::<B, 1>::from_floats(frequencies.as_slice(), &device).reshape([1, 1, half]);
        let angles = positions.float().reshape([batch, seq, 1]) * frequencies;
        let angles =
            Tensor::cat(vec![angles.clone(), angles], 2).reshape([batch, 1, seq, 2 * half]);
        Self {
            cos: angles.clone().cos().cast(dtype),
            sin: angles.sin().cast(dtype),
            dims: rotary.dims,
        }
    }

    /// Rotates the first `dims` of every head of `x`; the rest pass through.
    ///
    /// # Shapes
    /// - `x`: `[batch, heads, seq, head_dim]`; returns the same shape
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, heads, seq, head_dim] = x.dims();
        let rotated = x.clone().slice([0..batch, 0..heads, 0..seq, 0..self.dims]);
        let half = self.dims / 2;
        let first = rotated.clone().slice([0..batch, 0..heads, 0..seq, 0..half]);
        let second = rotated
            .clone()
            .slice([0..batch, 0..heads, 0..seq, half..self.dims]);
        let turned = Tensor::cat(vec![second.neg(), first], 3);
        let out = rotated * self.cos.clone() + turned * self.sin.clone();
        if self.dims == head_dim {
            return out;
        }
        let rest = x.slice([0..batch, 0..heads, 0..seq, self.dims..head_dim]);
        Tensor::cat(vec![out, rest], 3)
    }
}
