//! FFN updates read through the output embedding: which tokens a neuron's update promotes and
//! which it suppresses (the paper's §4.4, after Geva et al.).

use burn::prelude::*;

use crate::DecoderModel;

impl<B: Backend> DecoderModel<B> {
    /// Projects residual-stream update vectors onto the vocabulary: `U · v`, where `U` is the
    /// LM head (the token embedding when tied, the separate head otherwise), through
    /// `project_out` for models that have it (OPT-350m). The final norm's normalisation is not
    /// applied (an update has no statistics of its own); with `final_norm_scale`, each update is
    /// first multiplied elementwise by the final norm's scale γ (a logit-lens variant; models
    /// without a final norm ignore it).
    ///
    /// # Shapes
    /// - `updates`: `[n, hidden]` (one update vector per row, e.g. fc2 columns)
    /// - returns `[n, vocab_size]`
    pub fn vocabulary_scores(&self, updates: Tensor<B, 2>, final_norm_scale: bool) -> Tensor<B, 2> {
        let mut updates = updates;
        if final_norm_scale && let Some(norm) = &self.final_layer_norm {
            updates = updates * norm.scale().unsqueeze_dim(0);
        }
        if let Some(project_out) = &self.project_out {
            updates = project_out.forward(updates);
        }
        match &self.lm_head {
            Some(head) => updates.matmul(head.weight.val()),
            None => updates.matmul(self.embed_tokens.weight.val().transpose()),
        }
    }
}
