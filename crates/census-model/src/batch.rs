//! `TokenBatch`: token ids and attention mask, with positions and the padding mask derived as
//! Hugging Face does.

use burn::prelude::*;

use crate::error::{BatchError, Result};

/// A batch of token sequences for the model.
#[derive(Debug, Clone)]
pub struct TokenBatch<B: Backend> {
    /// Token ids, `[batch, seq]`.
    pub input_ids: Tensor<B, 2, Int>,
    /// 1 for real tokens, 0 for padding, `[batch, seq]`.
    pub attention_mask: Tensor<B, 2, Int>,
}

impl<B: Backend> TokenBatch<B> {
    /// Wraps tensors built elsewhere.
    ///
    /// # Shapes
    /// - `input_ids`, `attention_mask`: `[batch, seq]`
    pub fn new(input_ids: Tensor<B, 2, Int>, attention_mask: Tensor<B, 2, Int>) -> Result<Self> {
        if input_ids.dims() != attention_mask.dims() {
            return Err(BatchError::Shape {
                ids: input_ids.dims(),
                mask: attention_mask.dims(),
            }
            .into());
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
            return Err(BatchError::Empty.into());
        }
        let mut ids = Vec::with_capacity(sequences.len() * seq_len);
        let mut mask = Vec::with_capacity(sequences.len() * seq_len);
        for (row, seq) in sequences.iter().enumerate() {
            if let Some(&bad) = seq.iter().find(|&&t| t as usize >= vocab_size) {
                return Err(BatchError::TokenOutOfVocabulary {
                    row,
                    id: bad,
                    vocab: vocab_size,
                }
                .into());
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

    /// Each token's position, counted from the row's first real token (0-based); padding reads 0.
    ///
    /// # Shapes
    /// - returns `[batch, seq]`
    pub fn positions(&self) -> Tensor<B, 2, Int> {
        self.position_rows(0)
    }

    /// Rows of a learned position table whose position 0 is row `offset`:
    /// `cumsum(mask) * mask - 1 + offset`, so the first real token of every row reads row
    /// `offset` whatever the padding, and padding reads row `offset - 1` (OPT's row 1), or row 0
    /// when `offset` is 0.
    ///
    /// # Shapes
    /// - returns `[batch, seq]`
    pub fn position_rows(&self, offset: usize) -> Tensor<B, 2, Int> {
        let mask = self.attention_mask.clone();
        ((mask.clone().cumsum(1) * mask) + (offset as i64 - 1)).clamp_min(0)
    }

    /// Key-padding mask for attention: `true` where a key is padding, or `None` when no row is
    /// padded. Causality is not part of it (the attention kernel applies it). A padding query
    /// sees only padding keys; the kernel gives such fully masked rows a zero output, and they
    /// are never recorded.
    ///
    /// # Shapes
    /// - returns `[batch, 1, seq, seq]`
    pub fn padding_mask(&self) -> Option<Tensor<B, 4, Bool>> {
        let [batch, seq] = self.dims();
        let padded = self.attention_mask.clone().equal_elem(0);
        if !padded.clone().any().into_scalar().to_bool() {
            return None;
        }
        Some(
            padded
                .reshape([batch, 1, 1, seq])
                .expand([batch, 1, seq, seq]),
        )
    }
}
