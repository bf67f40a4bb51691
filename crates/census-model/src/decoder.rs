//! `DecoderModel`: a decoder of any supported family, with the FFN neurons of every layer as an
//! explicit output.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use census_format::model::ModelConfig;

use crate::attention::AttentionContext;
use crate::batch::TokenBatch;
use crate::error::{ModelError, Result};
use crate::fired::FiredNeurons;
use crate::layer::DecoderLayer;
use crate::norm::Norm;
use crate::rotary::RotaryTables;

/// A decoder (Hugging Face's `OPTDecoder`, `GPT2Model`, `GPTNeoXModel`, `LlamaModel`, …) with
/// an LM head computed only on request. Parameter names follow OPT's; each family's table maps
/// its Hugging Face names onto them.
#[derive(Module, Debug)]
pub struct DecoderModel<B: Backend> {
    pub(crate) embed_tokens: Embedding<B>,
    embed_positions: Option<Embedding<B>>,
    project_in: Option<Linear<B>>,
    pub(crate) project_out: Option<Linear<B>>,
    pub(crate) final_layer_norm: Option<Norm<B>>,
    pub(crate) lm_head: Option<Linear<B>>,
    layers: Vec<DecoderLayer<B>>,
    config: ModelConfig,
}

/// What the forward pass records for each layer it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Record {
    /// Nothing (hidden states and logits only).
    Nothing,
    /// The fc1 pre-activations, as floats.
    PreActivations,
    /// The fired mask: the activation's input (fc1 or gate output) `> 0`.
    #[default]
    Fired,
    /// The fired neurons of every token as ascending index lists, on the host.
    FiredIndices,
}

/// Options of [`DecoderModel::forward`].
#[derive(Debug, Clone, Default)]
pub struct ForwardOptions {
    /// What to record per layer.
    pub record: Record,
    /// Stop after this layer (0-based, inclusive); `None` runs every layer.
    pub last_layer: Option<usize>,
    /// Compute the tied LM head (needs every layer). Extraction never needs it.
    pub logits: bool,
}

/// One layer's recorded FFN activity.
#[derive(Debug, Clone)]
pub enum LayerActivity<B: Backend> {
    /// fc1 pre-activations, `[batch, seq, ffn_dim]`.
    PreActivations(Tensor<B, 3>),
    /// The activation's input `> 0`, `[batch, seq, ffn_dim]`.
    Fired(Tensor<B, 3, Bool>),
    /// Fired neurons of the `batch * seq` tokens, row-major.
    FiredIndices(FiredNeurons),
}

/// Result of [`DecoderModel::forward`].
#[derive(Debug, Clone)]
pub struct DecoderOutput<B: Backend> {
    /// One entry per layer run, in order (empty when recording nothing).
    pub layers: Vec<LayerActivity<B>>,
    /// Residual stream after the last layer run, `[batch, seq, hidden]` (before the final LayerNorm).
    pub hidden: Tensor<B, 3>,
    /// LM-head logits, `[batch, seq, vocab_size]`, when asked for.
    pub logits: Option<Tensor<B, 3>>,
}

impl<B: Backend> DecoderModel<B> {
    /// Allocates a model shaped by `config` with lazily initialised (random) parameters; load
    /// real weights with [`crate::load_checkpoint`].
    pub fn new(config: &ModelConfig, device: &B::Device) -> Self {
        let (d, e) = (config.hidden_size, config.embed_dim());
        let projections = config.has_projections();
        let positions = config.model_type.learned_position_offset();
        Self {
            embed_tokens: EmbeddingConfig::new(config.vocab_size, e).init(device),
            embed_positions: positions.map(|offset| {
                EmbeddingConfig::new(config.max_position_embeddings + offset, d).init(device)
            }),
            project_in: projections.then(|| LinearConfig::new(e, d).with_bias(false).init(device)),
            project_out: projections.then(|| LinearConfig::new(d, e).with_bias(false).init(device)),
            final_layer_norm: config
                .has_final_layer_norm()
                .then(|| Norm::of(config, device)),
            lm_head: (!config.tie_word_embeddings).then(|| {
                LinearConfig::new(e, config.vocab_size)
                    .with_bias(false)
                    .init(device)
            }),
            layers: (0..config.num_hidden_layers)
                .map(|_| DecoderLayer::new(config, device))
                .collect(),
            config: config.clone(),
        }
    }

    /// The model without decoder layers (for layer streaming: embeddings, projections and the
    /// final LayerNorm only). [`DecoderModel::forward`] refuses to run it.
    pub(crate) fn without_layers(config: &ModelConfig, device: &B::Device) -> Self {
        let no_layers = ModelConfig {
            num_hidden_layers: 0,
            ..config.clone()
        };
        Self {
            config: config.clone(),
            ..Self::new(&no_layers, device)
        }
    }

    /// The model without decoder layers or a separate LM head (for extraction, which runs the
    /// layers elsewhere and never computes logits). [`DecoderModel::logits`] refuses to run it
    /// where the head is not tied.
    pub(crate) fn without_layers_or_head(config: &ModelConfig, device: &B::Device) -> Self {
        Self {
            lm_head: None,
            ..Self::without_layers(config, device)
        }
    }

    /// Replaces the learned position table by zeros that take no gradient, so the model sees no
    /// positional information (for training a model without positional encoding). Saved, the
    /// zero table loads like any other checkpoint.
    pub fn without_positions(mut self) -> Self {
        if let Some(table) = &mut self.embed_positions {
            let weight = table.weight.val();
            let zeros = Tensor::zeros(weight.shape(), &weight.device());
            table.weight = burn::module::Param::from_tensor(zeros).set_require_grad(false);
        }
        self
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The decoder layers, for running them one at a time.
    pub fn layers(&self) -> &[DecoderLayer<B>] {
        &self.layers
    }

    /// The float dtype the parameters are held in (the compute dtype).
    pub fn dtype(&self) -> burn::tensor::DType {
        self.embed_tokens.weight.val().dtype()
    }

    /// Checks that a batch fits the position table.
    fn check_batch(&self, batch: &TokenBatch<B>) -> Result<()> {
        let [_, seq] = batch.dims();
        let max = self.config.max_position_embeddings;
        if seq > max {
            return Err(crate::error::BatchError::TooLong { len: seq, max }.into());
        }
        Ok(())
    }

    /// The residual stream entering layer 0: token embedding (through `project_in` when present)
    /// plus, for families with learned positions, the position embedding.
    ///
    /// # Shapes
    /// - returns `[batch, seq, hidden]`
    pub fn embed(&self, batch: &TokenBatch<B>) -> Result<Tensor<B, 3>> {
        self.check_batch(batch)?;
        let mut tokens = self.embed_tokens.forward(batch.input_ids.clone());
        if let Some(project_in) = &self.project_in {
            tokens = project_in.forward(tokens);
        }
        Ok(
            match (
                &self.embed_positions,
                self.config.model_type.learned_position_offset(),
            ) {
                (Some(table), Some(offset)) => tokens + table.forward(batch.position_rows(offset)),
                _ => tokens,
            },
        )
    }

    /// What every layer's attention needs for `batch`: the mask of padding keys and of keys
    /// outside the sliding window, and the rotary tables of its positions.
    pub fn attention_context(&self, batch: &TokenBatch<B>) -> AttentionContext<B> {
        let mut mask = batch.padding_mask();
        if let Some(window) = self.config.sliding_window {
            let [rows, seq] = batch.dims();
            if seq > window {
                let device = batch.input_ids.device();
                let far: Vec<bool> = (0..seq * seq)
                    .map(|i| (i / seq) >= (i % seq) + window)
                    .collect();
                let far =
                    Tensor::<B, 1, Bool>::from_data(TensorData::new(far, [seq * seq]), &device)
                        .reshape([1, 1, seq, seq])
                        .expand([rows, 1, seq, seq]);
                mask = Some(match mask {
                    Some(padding) => padding.bool_or(far),
                    None => far,
                });
            }
        }
        let rotary = self
            .config
            .rotary
            .as_ref()
            .map(|rotary| RotaryTables::new(rotary, batch.positions(), self.dtype()));
        AttentionContext { mask, rotary }
    }

    /// The LM head on the residual stream after the last layer: the final norm, `project_out`
    /// where present, then the tied embedding or the separate head.
    ///
    /// # Panics
    /// When the model was loaded without its separate head ([`CheckpointPlan::load_inputs`]).
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, vocab_size]`
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let mut hidden = match &self.final_layer_norm {
            Some(norm) => norm.forward(hidden),
            None => hidden,
        };
        if let Some(project_out) = &self.project_out {
            hidden = project_out.forward(hidden);
        }
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None if !self.config.tie_word_embeddings => {
                panic!("this model was loaded without its LM head, which is not tied")
            }
            None => {
                let embeddings = self.embed_tokens.weight.val().transpose().unsqueeze_dim(0);
                hidden.matmul(embeddings)
            }
        }
    }

    /// The LM-head logits of every token.
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` ids and mask
    /// - returns `[batch, seq, vocab_size]`
    pub fn forward_logits(&self, batch: &TokenBatch<B>) -> Result<Tensor<B, 3>> {
        let options = ForwardOptions {
            record: Record::Nothing,
            logits: true,
            ..Default::default()
        };
        let output = self.forward(batch, &options)?;
        Ok(output
            .logits
            .expect("forward computes the logits it is asked for"))
    }

    /// The fired mask (activation input `> 0`) of every layer up to `last_layer` (all when `None`).
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` ids and mask
    /// - returns one `[batch, seq, ffn_dim]` mask per layer
    pub fn forward_fired(
        &self,
        batch: &TokenBatch<B>,
        last_layer: Option<usize>,
    ) -> Result<Vec<Tensor<B, 3, Bool>>> {
        self.recorded(batch, Record::Fired, last_layer, |a| match a {
            LayerActivity::Fired(mask) => Some(mask),
            _ => None,
        })
    }

    /// The fired neurons of every token, as ascending index lists on the host, for every layer
    /// up to `last_layer` (all when `None`).
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` ids and mask
    /// - returns one list set of `batch * seq` tokens (row-major) per layer
    pub fn forward_fired_indices(
        &self,
        batch: &TokenBatch<B>,
        last_layer: Option<usize>,
    ) -> Result<Vec<FiredNeurons>> {
        self.recorded(batch, Record::FiredIndices, last_layer, |a| match a {
            LayerActivity::FiredIndices(fired) => Some(fired),
            _ => None,
        })
    }

    /// The fc1 pre-activations of every layer up to `last_layer` (all when `None`).
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` ids and mask
    /// - returns one `[batch, seq, ffn_dim]` tensor per layer
    pub fn forward_pre_activations(
        &self,
        batch: &TokenBatch<B>,
        last_layer: Option<usize>,
    ) -> Result<Vec<Tensor<B, 3>>> {
        self.recorded(batch, Record::PreActivations, last_layer, |a| match a {
            LayerActivity::PreActivations(values) => Some(values),
            _ => None,
        })
    }

    /// Runs the decoder recording `record` and unwraps each layer's record with `pick`.
    fn recorded<T>(
        &self,
        batch: &TokenBatch<B>,
        record: Record,
        last_layer: Option<usize>,
        pick: fn(LayerActivity<B>) -> Option<T>,
    ) -> Result<Vec<T>> {
        let options = ForwardOptions {
            record,
            last_layer,
            logits: false,
        };
        let output = self.forward(batch, &options)?;
        Ok(output
            .layers
            .into_iter()
            .map(|a| pick(a).expect("forward records what it is asked to"))
            .collect())
    }

    /// Runs the decoder, recording each layer's FFN activity as `options` asks.
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` ids and mask
    /// - layer records `[batch, seq, ffn_dim]`, hidden `[batch, seq, hidden]`, logits `[batch, seq, vocab_size]`
    pub fn forward(
        &self,
        batch: &TokenBatch<B>,
        options: &ForwardOptions,
    ) -> Result<DecoderOutput<B>> {
        let layer_count = self.layers.len();
        let last = options.last_layer.unwrap_or(layer_count.saturating_sub(1));
        if options.logits && layer_count > 0 && last + 1 != layer_count {
            return Err(ModelError::LogitsNeedEveryLayer { last });
        }
        let mut layers = Vec::new();
        let hidden = self.forward_visiting(
            batch,
            options.last_layer,
            &mut |_, fc1| match options.record {
                Record::Nothing => {}
                Record::PreActivations => layers.push(LayerActivity::PreActivations(fc1)),
                Record::Fired => layers.push(LayerActivity::Fired(fc1.greater_elem(0.0))),
                Record::FiredIndices => layers.push(LayerActivity::FiredIndices(
                    FiredNeurons::from_pre_activations(fc1),
                )),
            },
        )?;
        let logits = options.logits.then(|| self.logits(hidden.clone()));
        Ok(DecoderOutput {
            layers,
            hidden,
            logits,
        })
    }

    /// Runs the decoder up to `last_layer` (every layer when `None`), handing each layer's fc1
    /// pre-activations to `visit(layer, fc1)` as they come, so no more than one layer's are
    /// held; returns the residual stream after the last layer run.
    ///
    /// # Shapes
    /// - `batch`: `[batch, seq]` ids and mask
    /// - `fc1`: `[batch, seq, ffn_dim]`
    /// - returns `[batch, seq, hidden]` (before the final LayerNorm)
    pub fn forward_visiting(
        &self,
        batch: &TokenBatch<B>,
        last_layer: Option<usize>,
        visit: &mut dyn FnMut(usize, Tensor<B, 3>),
    ) -> Result<Tensor<B, 3>> {
        let layer_count = self.layers.len();
        if layer_count == 0 {
            return Err(ModelError::LayersStreamed);
        }
        let last = last_layer.unwrap_or(layer_count - 1);
        if last >= layer_count {
            return Err(ModelError::LayerOutOfRange {
                layer: last,
                layers: layer_count,
            });
        }
        let mut hidden = self.embed(batch)?;
        let context = self.attention_context(batch);
        for (index, layer) in self.layers[..=last].iter().enumerate() {
            let out = layer.forward(hidden, &context);
            hidden = out.hidden;
            visit(index, out.fc1);
        }
        Ok(hidden)
    }
}
