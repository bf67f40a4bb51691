//! [`Norm`]: a LayerNorm (OPT, GPT-2, GPT-NeoX) or an RMSNorm (Llama, Qwen2, Mistral), with the
//! parameter names `gamma` and `beta` either way.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::{DType, TensorPrimitive};

/// A norm over the last dimension with a learned scale (`gamma`) and, for LayerNorms, a shift
/// (`beta`).
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    gamma: Param<Tensor<B, 1>>,
    beta: Option<Param<Tensor<B, 1>>>,
    epsilon: f64,
    rms: bool,
}

impl<B: Backend> Norm<B> {
    /// A LayerNorm of width `width` (scale 1, shift 0).
    pub fn layer_norm(width: usize, epsilon: f64, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([width], device)),
            beta: Some(Param::from_tensor(Tensor::zeros([width], device))),
            epsilon,
            rms: false,
        }
    }

    /// An RMSNorm of width `width` (scale 1, no shift).
    pub fn rms_norm(width: usize, epsilon: f64, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([width], device)),
            beta: None,
            epsilon,
            rms: true,
        }
    }

    /// The norm a layer of `config`'s family uses.
    pub fn of(config: &census_format::model::ModelConfig, device: &B::Device) -> Self {
        if config.model_type.rms_norm() {
            Self::rms_norm(config.hidden_size, config.norm_eps, device)
        } else {
            Self::layer_norm(config.hidden_size, config.norm_eps, device)
        }
    }

    /// The learned scale γ.
    ///
    /// # Shapes
    /// - returns `[width]`
    pub fn scale(&self) -> Tensor<B, 1> {
        self.gamma.val()
    }

    /// Normalises the last dimension. A LayerNorm runs the backend's fused kernel (as burn's
    /// `LayerNorm` does); an RMSNorm computes in `f32`, as Hugging Face's does.
    ///
    /// # Shapes
    /// - `x`: `[..., width]`; returns the same shape
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        if self.rms {
            let dtype = x.dtype();
            let x32 = x.cast(DType::F32);
            let rms = (x32.clone().square().mean_dim(D - 1) + self.epsilon).sqrt();
            let normalised = (x32 / rms).cast(dtype);
            return normalised * self.gamma.val().unsqueeze();
        }
        let gamma = self.gamma.val().into_primitive().tensor();
        let beta = self
            .beta
            .as_ref()
            .map(|b| b.val().into_primitive().tensor());
        Tensor::from_primitive(TensorPrimitive::Float(B::layer_norm(
            x.into_primitive().tensor(),
            gamma,
            beta,
            self.epsilon,
        )))
    }
}
