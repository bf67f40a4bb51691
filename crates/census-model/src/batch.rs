//! `OptBatch`: token ids and attention mask, with positions and attention bias derived as Hugging Face does.

use burn::prelude::*;

use crate::error::{ModelError, Result};

/// Value added to attention scores a query must not see. Finite, so that a fully masked row
/// (a left-padding query) yields a uniform softmax instead of NaN, and small enough in magnitude
/// to stay finite in f16 and bf16.
pub const MASKED_SCORE: f32 = -30_000.0;

/// Row offset of position 0 in OPT's learned position table.
pub const POSITION_OFFSET: usize = 2;

/// A batch of token sequences for the model.
#[derive(Debug, Clone)]
pub struct OptBatch<B: Backend> {
    /// Token ids, `[batch, seq]`.
    pub input_ids: Tensor<B, 2, Int>,
    /// 1 for real tokens, 0 for padding, `[batch, seq]`.
    pub attention_mask: Tensor<B, 2, Int>,
}

impl<B: Backend> OptBatch<B> {
    /// Wraps tensors built elsewhere.
    ///
    /// # Shapes
    /// - `input_ids`, `attention_mask`: `[batch, seq]`
    pub fn new(input_ids: Tensor<B, 2, Int>, attention_mask: Tensor<B, 2, Int>) -> Result<Self> {
        if input_ids.dims() != attention_mask.dims() {
            return Err(ModelError::InvalidInput(format!(
                "input_ids have shape {:?} but attention_mask has shape {:?}",
                input_ids.dims(),
                attention_mask.dims()
            )));
        }
        Ok(Self {
            input_ids,
            attention_mask,
        })
    }

    /// Builds a batch from sequences of different lengths, padding on the left with `pad_id`
    /// (as Hugging Face does for decoder-only models), and checks every id against `vocab_size`.
    pub fn left_padded(
        sequences: &[Vec<u32>],
        pad_id: u32,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<Self> {
        let seq_len = sequences.iter().map(Vec::len).max().unwrap_or(0);
        if sequences.is_empty() || seq_len == 0 {
            return Err(ModelError::InvalidInput(
                "a batch needs at least one non-empty sequence".to_string(),
            ));
        }
        let mut ids = Vec::with_capacity(sequences.len() * seq_len);
        let mut mask = Vec::with_capacity(sequences.len() * seq_len);
        for (row, seq) in sequences.iter().enumerate() {
            if let Some(&bad) = seq.iter().find(|&&t| t as usize >= vocab_size) {
                return Err(ModelError::InvalidInput(format!(
                    "sequence {row} holds token id {bad}, outside the model's vocabulary of {vocab_size}"
                )));
            }
            let pad = seq_len - seq.len();
            ids.extend(std::iter::repeat_n(pad_id as i64, pad));
            ids.extend(seq.iter().map(|&t| t as i64));
            mask.extend(std::iter::repeat_n(0i64, pad));
            mask.extend(std::iter::repeat_n(1i64, seq.len()));
        }
        let shape = [sequences.len(), seq_len];
        Self::new(
            Tensor::from_data(TensorData::new(ids, shape), device),
            Tensor::from_data(TensorData::new(mask, shape), device),
        )
    }

    /// `[batch, seq]`.
    pub fn dims(&self) -> [usize; 2] {
        self.input_ids.dims()
    }

    /// Rows of the position table each token reads: `cumsum(mask) * mask - 1 + 2`, so padding reads
    /// row 1 and the first real token of every row reads row 2, whatever the padding.
    ///
    /// # Shapes
    /// - returns `[batch, seq]`
    pub fn position_rows(&self) -> Tensor<B, 2, Int> {
        let mask = self.attention_mask.clone();
        (mask.clone().cumsum(1) * mask) + (POSITION_OFFSET as i64 - 1)
    }

    /// Additive attention bias: 0 where query `i` may see key `j` (`j <= i` and `j` is not
    /// padding), [`MASKED_SCORE`] elsewhere, in the float dtype `dtype`.
    ///
    /// # Shapes
    /// - returns `[batch, 1, seq, seq]`
    pub fn attention_bias(&self, dtype: burn::tensor::DType) -> Tensor<B, 4> {
        let [batch, seq] = self.dims();
        let device = self.input_ids.device();
        let future = Tensor::<B, 2, Bool>::tril_mask([seq, seq], 0, &device)
            .float()
            .reshape([1, 1, seq, seq]);
        let padding = (self.attention_mask.clone().float().neg() + 1.0).reshape([batch, 1, 1, seq]);
        let blocked = (future + padding).clamp_max(1.0);
        (blocked * MASKED_SCORE).cast(dtype)
    }
}
