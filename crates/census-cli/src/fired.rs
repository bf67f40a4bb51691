//! `fired`: the neurons that fire on each token of a text, printed.

use std::path::PathBuf;

use anyhow::{Context, Result};
use census_format::model::FloatType;
use census_model::{CpuBackend, ModelTokenizer, TokenBatch, load_pretrained};

/// Prints, per layer and token, the FFN neurons of `model_dir` that fire on `text`.
#[allow(clippy::print_stdout)]
pub fn fired(model_dir: PathBuf, dtype: FloatType, show: usize, text: &str) -> Result<()> {
    let device = Default::default();
    let dtype = census_model::burn_dtype(dtype);
    let model = load_pretrained::<CpuBackend>(&model_dir, &device, dtype)
        .with_context(|| format!("loading the model in {}", model_dir.display()))?;
    let tokenizer = ModelTokenizer::from_dir(&model_dir, model.config().model_type)
        .with_context(|| format!("loading the tokenizer of {}", model_dir.display()))?;
    let ids = tokenizer.encode(text)?;
    let config = model.config();
    let batch = TokenBatch::left_padded(
        std::slice::from_ref(&ids),
        config.pad_token_id,
        config.vocab_size,
        &device,
    )?;
    let masks = model.forward_fired(&batch, None)?;
    println!(
        "{} tokens, {} layers x {} neurons",
        ids.len(),
        config.num_hidden_layers,
        config.ffn_dim
    );
    for (layer, mask) in masks.into_iter().enumerate() {
        let bits = mask.into_data().convert::<bool>();
        let bits = bits
            .as_slice::<bool>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let width = config.ffn_dim;
        let total = bits.iter().filter(|b| **b).count();
        println!(
            "layer {layer}: {total} firings ({:.1}% of token x neuron)",
            100.0 * total as f64 / bits.len() as f64
        );
        for (pos, row) in bits.chunks(width).enumerate() {
            let on: Vec<usize> = (0..width).filter(|&n| row[n]).collect();
            let token = tokenizer.token(ids[pos]).unwrap_or_default();
            let shown: Vec<String> = on.iter().take(show).map(usize::to_string).collect();
            let more = if on.len() > show { " …" } else { "" };
            println!(
                "  {pos:>4} {token:<16} {:>4} [{}{more}]",
                on.len(),
                shown.join(" ")
            );
        }
    }
    Ok(())
}
