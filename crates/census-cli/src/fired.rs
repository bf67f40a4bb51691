//! `fired`: the neurons that fire on each token of a text, computed ([`fired_neurons`]) and
//! printed ([`print_fired`]).

use std::path::Path;

use anyhow::{Context, Result};
use census_format::model::FloatType;
use census_model::{CpuBackend, ModelTokenizer, TokenBatch, load_pretrained};

/// The FFN neurons that fire on each token of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredText {
    /// The text's token ids, as the model's tokenizer encodes it (its BOS first where it adds
    /// one).
    pub ids: Vec<u32>,
    /// Each token as the tokenizer spells it.
    pub tokens: Vec<String>,
    /// Neurons per layer.
    pub ffn_dim: usize,
    /// `neurons[layer][position]`: the neurons that fire there, ascending.
    pub neurons: Vec<Vec<Vec<u16>>>,
}

/// Runs `text` through the model in `model_dir` (on the CPU, in `dtype`) and gives the neurons
/// that fire on each token in each layer.
pub fn fired_neurons(model_dir: &Path, dtype: FloatType, text: &str) -> Result<FiredText> {
    let device = Default::default();
    let model = load_pretrained::<CpuBackend>(model_dir, &device, census_model::burn_dtype(dtype))
        .with_context(|| format!("loading the model in {}", model_dir.display()))?;
    let tokenizer = ModelTokenizer::from_dir(model_dir, model.config().model_type)
        .with_context(|| format!("loading the tokenizer of {}", model_dir.display()))?;
    let ids = tokenizer.encode(text)?;
    let config = model.config();
    let batch = TokenBatch::left_padded(
        std::slice::from_ref(&ids),
        config.pad_token_id,
        config.vocab_size,
        &device,
    )?;
    let width = config.ffn_dim;
    let mut neurons = Vec::new();
    for mask in model.forward_fired(&batch, None)? {
        let bits = mask.into_data().convert::<bool>();
        let bits = bits
            .as_slice::<bool>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        neurons.push(
            bits.chunks(width)
                .map(|row| (0..width).filter(|&n| row[n]).map(|n| n as u16).collect())
                .collect(),
        );
    }
    Ok(FiredText {
        tokens: ids
            .iter()
            .map(|&id| tokenizer.token(id).unwrap_or_default())
            .collect(),
        ids,
        ffn_dim: width,
        neurons,
    })
}

/// Prints, per layer and token, the neurons of `fired`, at most `show` ids per token.
#[allow(clippy::print_stdout)]
pub fn print_fired(fired: &FiredText, show: usize) {
    println!(
        "{} tokens, {} layers x {} neurons",
        fired.ids.len(),
        fired.neurons.len(),
        fired.ffn_dim
    );
    for (layer, rows) in fired.neurons.iter().enumerate() {
        let total: usize = rows.iter().map(Vec::len).sum();
        println!(
            "layer {layer}: {total} firings ({:.1}% of token x neuron)",
            100.0 * total as f64 / (rows.len() * fired.ffn_dim) as f64
        );
        for (pos, on) in rows.iter().enumerate() {
            let token = &fired.tokens[pos];
            let shown: Vec<String> = on.iter().take(show).map(u16::to_string).collect();
            let more = if on.len() > show { " …" } else { "" };
            println!(
                "  {pos:>4} {token:<16} {:>4} [{}{more}]",
                on.len(),
                shown.join(" ")
            );
        }
    }
}
