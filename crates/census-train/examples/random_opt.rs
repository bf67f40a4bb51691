//! Writes a random OPT model of a preset's shape in the Hugging Face layout, for measurements at
//! real shapes where no released weights can be downloaded: OPT's initialisation (N(0, 0.02),
//! zero biases), then fc1 biases set so that a few percent of the neurons fire, as in trained
//! OPT models.
//!
//! With `--num-layers N`, the model keeps the preset's widths but only its first N layers: a
//! slice of a model too large to write whole, whose per-layer costs are the full model's.
//!
//! `random_opt OUT [--preset opt-125m] [--fc1-bias -0.9] [--save-dtype f16] [--num-layers N]`

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use census_model::{CpuBackend, DecoderModel, save_pretrained};
use census_train::init::OptInitializer;

/// Sets every fc1 bias to one value.
struct Fc1Bias {
    value: f64,
    path: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for Fc1Bias {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let is_fc1_bias = self.path.iter().any(|p| p == "fc1")
            && self.path.last().map(String::as_str) == Some("bias");
        if !is_fc1_bias {
            return param;
        }
        let value = self.value;
        param.map(|t| t.zeros_like().add_scalar(value))
    }
}

fn flag<'a>(args: &'a [String], name: &str, default: &'a str) -> &'a str {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, String::as_str)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        bail!(
            "usage: random_opt OUT [--preset opt-125m] [--fc1-bias -0.9] [--save-dtype f16] \
             [--num-layers N]"
        );
    };
    let mut config = census_model::presets::preset(flag(&args, "--preset", "opt-125m"))?;
    if let Some(layers) = args.iter().position(|a| a == "--num-layers") {
        config.num_hidden_layers = args
            .get(layers + 1)
            .and_then(|n| n.parse().ok())
            .filter(|&n: &usize| n >= 1 && n <= config.num_hidden_layers)
            .context("--num-layers takes a number of layers the preset has")?;
    }
    let bias: f64 = flag(&args, "--fc1-bias", "-0.9")
        .parse()
        .context("--fc1-bias takes a number")?;
    let dtype = census_format::model::FloatType::from_flag(flag(&args, "--save-dtype", "f16"))
        .map(census_model::burn_dtype)
        .context("--save-dtype: f32, f16 or bf16")?;
    let device = Default::default();
    let model = DecoderModel::<CpuBackend>::new(&config, &device)
        .map(&mut OptInitializer::new(0.02))
        .map(&mut Fc1Bias {
            value: bias,
            path: Vec::new(),
        });
    save_pretrained(&model, out, dtype, &serde_json::Map::new())?;
    Ok(())
}
