//! The Hugging Face goldens of the parity fixtures (`golden.safetensors`: per batch the input
//! ids, attention mask and every layer's activation inputs, `fc1.{layer}` for OPT, written by
//! `tests/fixtures/make_fixtures.py`, `act_in.{layer}` for the other families, written by
//! `tests/fixtures/make_family_fixtures.py`), and the goldens' sequences as a corpus.

use std::collections::HashMap;
use std::path::Path;

use census_format::corpus::CorpusSource;
use census_format::corpus::SourceFormat;
use safetensors::{Dtype, SafeTensors};

/// One tensor of a golden file: its shape and values (integers widened to `f64`, exactly).
#[derive(Debug, Clone)]
pub struct GoldenTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f64>,
}

/// Reads every tensor of the `golden.safetensors` in `dir` (f32 and i64 tensors; panics on a
/// damaged fixture).
pub fn read_tensors(dir: &Path) -> HashMap<String, GoldenTensor> {
    let bytes = std::fs::read(dir.join("golden.safetensors")).expect("golden file");
    let file = SafeTensors::deserialize(&bytes).expect("valid golden file");
    file.tensors()
        .into_iter()
        .map(|(key, view)| {
            let data = view.data();
            let values: Vec<f64> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("unexpected golden dtype {other:?} for {key}"),
            };
            let shape = view.shape().to_vec();
            (key, GoldenTensor { shape, values })
        })
        .collect()
}

/// HF goldens of a fixture: per batch, the unpadded sequences and per layer the fc1
/// pre-activations of their real positions (`[sequence][layer][pos][neuron]`).
pub struct Golden {
    /// The unpadded sequences, BOS first where the family has one.
    pub sequences: Vec<Vec<u32>>,
    /// Activation inputs (fc1 pre-activations for OPT), `[sequence][layer][pos][neuron]`.
    pub fc1: Vec<Vec<Vec<Vec<f32>>>>,
}

/// Reads `golden.safetensors` of fixture directory `dir` as sequences and activation inputs
/// (panics on a damaged fixture).
pub fn read_golden(dir: &Path) -> Golden {
    let tensors = read_tensors(dir);
    let tensor = |key: &str| tensors.get(key);
    let mut golden = Golden {
        sequences: Vec::new(),
        fc1: Vec::new(),
    };
    let key = if tensor("plain.act_in.0").is_some() {
        "act_in"
    } else {
        "fc1"
    };
    for batch in ["plain", "padded", "full"] {
        let ids = tensor(&format!("{batch}.input_ids")).expect("input ids");
        let mask = &tensor(&format!("{batch}.attention_mask"))
            .expect("mask")
            .values;
        let (rows, width) = (ids.shape[0], ids.shape[1]);
        let fc1: Vec<&GoldenTensor> = (0..)
            .map_while(|l| tensor(&format!("{batch}.{key}.{l}")))
            .collect();
        for r in 0..rows {
            let real: Vec<usize> = (0..width).filter(|&c| mask[r * width + c] == 1.0).collect();
            golden.sequences.push(
                real.iter()
                    .map(|&c| ids.values[r * width + c] as u32)
                    .collect(),
            );
            golden.fc1.push(
                fc1.iter()
                    .map(|t| {
                        let f = t.shape[t.shape.len() - 1];
                        real.iter()
                            .map(|&c| {
                                let row = &t.values[(r * width + c) * f..(r * width + c + 1) * f];
                                row.iter().map(|&v| v as f32).collect()
                            })
                            .collect()
                    })
                    .collect(),
            );
        }
    }
    golden
}

/// Writes the golden sequences of an OPT fixture (without their `</s>` prefix) as a
/// pre-tokenized JSONL source.
pub fn pretokenized_source(dir: &Path, sequences: &[Vec<u32>]) -> CorpusSource {
    for s in sequences {
        assert_eq!(s[0], 2, "every golden sequence starts with </s>");
    }
    let bodies: Vec<Vec<u32>> = sequences.iter().map(|s| s[1..].to_vec()).collect();
    pretokenized_as_is(dir, &bodies)
}

/// Writes sequences as a pre-tokenized JSONL source, as they are (a family's BOS, where the
/// sequences hold one, is kept once by the extraction).
pub fn pretokenized_as_is(dir: &Path, sequences: &[Vec<u32>]) -> CorpusSource {
    let path = dir.join("golden.jsonl");
    let lines: Vec<String> = sequences
        .iter()
        .map(|s| serde_json::json!({ "input_ids": s, "domain": "golden" }).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    CorpusSource {
        path,
        format: SourceFormat::PreTokenized,
        domain: None,
        max_tokens: None,
    }
}
