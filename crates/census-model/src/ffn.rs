//! The FFN block whose neurons the census counts: `fc2(act(fc1(x)))`, or, gated,
//! `fc2(act(fc1(x)) · up(x))`. Neuron `i` is output `i` of `fc1` (the gate of a gated MLP): it
//! fires when that entry, the activation's input, is above the threshold (0 by default).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu, silu};
use census_format::model::{Activation, ModelConfig};

/// Position-wise feed-forward block.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    fc1: Linear<B>,
    up: Option<Linear<B>>,
    fc2: Linear<B>,
    activation: Activation,
}

impl<B: Backend> FeedForward<B> {
    /// Allocates (lazily) the FFN of a layer of `config`.
    pub fn new(config: &ModelConfig, device: &B::Device) -> Self {
        let (d, f, bias) = (config.hidden_size, config.ffn_dim, config.biases().mlp);
        let linear = |inputs: usize, outputs: usize| {
            LinearConfig::new(inputs, outputs)
                .with_bias(bias)
                .init(device)
        };
        Self {
            fc1: linear(d, f),
            up: config.model_type.gated_mlp().then(|| linear(d, f)),
            fc2: linear(f, d),
            activation: config.activation_function,
        }
    }

    /// Runs the block and also returns the activation's inputs (the fc1 or gate outputs).
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]` (already normalised where the model normalises)
    /// - returns `([batch, seq, hidden], [batch, seq, ffn_dim])`
    pub fn forward(&self, x: Tensor<B, 3>) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let pre = self.fc1.forward(x.clone());
        let mut hidden = match self.activation {
            Activation::Relu => relu(pre.clone()),
            Activation::Gelu => gelu(pre.clone()),
            Activation::GeluTanh => gelu_tanh(pre.clone()),
            Activation::Silu => silu(pre.clone()),
        };
        if let Some(up) = &self.up {
            hidden = hidden * up.forward(x);
        }
        (self.fc2.forward(hidden), pre)
    }

    /// The fc2 weight in PyTorch layout: column `i` is neuron `i`'s update to the residual stream.
    ///
    /// # Shapes
    /// - returns `[hidden, ffn_dim]`
    pub fn update_vectors(&self) -> Tensor<B, 2> {
        self.fc2.weight.val().transpose()
    }
}

/// GELU's tanh approximation: `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
///
/// # Shapes
/// - any; returns the same shape
fn gelu_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let inner =
        (x.clone() + x.clone().powi_scalar(3) * 0.044715) * (2.0 / std::f64::consts::PI).sqrt();
    x * 0.5 * (inner.tanh() + 1.0)
}
