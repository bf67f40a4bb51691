//! OPT's initialisation for a model about to be trained: weights of linear and embedding layers
//! from N(0, 0.02), biases zero, LayerNorms at scale 1 and shift 0.

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Re-initialises every parameter outside LayerNorms (see the module docs).
#[derive(Debug, Clone)]
pub struct OptInitializer {
    std: f64,
    path: Vec<String>,
}

impl OptInitializer {
    /// Weights drawn with standard deviation `std` (OPT uses 0.02).
    pub fn new(std: f64) -> Self {
        Self {
            std,
            path: Vec::new(),
        }
    }
}

impl<B: Backend> ModuleMapper<B> for OptInitializer {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    /// New values are marked as requiring gradients: [`Param::map`] takes that flag from the
    /// value it is given, and a freshly drawn tensor has it off.
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.path.iter().any(|p| p.ends_with("layer_norm")) {
            return param;
        }
        let std = self.std;
        match self.path.last().map(String::as_str) {
            Some("weight") => param.map(|t| {
                let (shape, device) = (t.shape(), t.device());
                Tensor::random(shape, Distribution::Normal(0.0, std), &device).require_grad()
            }),
            Some("bias") => param.map(|t| t.zeros_like().require_grad()),
            _ => param,
        }
    }
}
