//! The Hugging Face goldens of the parity fixtures (`golden.safetensors`: per batch the input
//! ids, attention mask and every layer's fc1 pre-activations, written by
//! `tests/fixtures/make_fixtures.py`), and the goldens' sequences as a corpus.

use std::path::Path;

use census_extract::{CorpusSource, SourceFormat};
use safetensors::SafeTensors;

/// HF goldens of a fixture: per batch, the unpadded sequences and per layer the fc1
/// pre-activations of their real positions (`[sequence][layer][pos][neuron]`).
pub struct Golden {
    /// The unpadded sequences, `</s>` first.
    pub sequences: Vec<Vec<u32>>,
    /// fc1 pre-activations, `[sequence][layer][pos][neuron]`.
    pub fc1: Vec<Vec<Vec<Vec<f32>>>>,
}

/// Reads `golden.safetensors` of fixture directory `dir` (panics on a damaged fixture).
pub fn read_golden(dir: &Path) -> Golden {
    let bytes = std::fs::read(dir.join("golden.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let ints = |key: &str| -> (Vec<usize>, Vec<i64>) {
        let v = file.tensor(key).unwrap();
        let data = v
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (v.shape().to_vec(), data)
    };
    let floats = |key: &str| -> (Vec<usize>, Vec<f32>) {
        let v = file.tensor(key).unwrap();
        let data = v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (v.shape().to_vec(), data)
    };
    let mut golden = Golden {
        sequences: Vec::new(),
        fc1: Vec::new(),
    };
    for batch in ["plain", "padded", "full"] {
        let (shape, ids) = ints(&format!("{batch}.input_ids"));
        let (_, mask) = ints(&format!("{batch}.attention_mask"));
        let (rows, width) = (shape[0], shape[1]);
        let layers = (0..)
            .take_while(|l| file.tensor(&format!("{batch}.fc1.{l}")).is_ok())
            .count();
        let fc1: Vec<(Vec<usize>, Vec<f32>)> = (0..layers)
            .map(|l| floats(&format!("{batch}.fc1.{l}")))
            .collect();
        for r in 0..rows {
            let real: Vec<usize> = (0..width).filter(|&c| mask[r * width + c] == 1).collect();
            golden
                .sequences
                .push(real.iter().map(|&c| ids[r * width + c] as u32).collect());
            golden.fc1.push(
                fc1.iter()
                    .map(|(shape, values)| {
                        let f = shape[1];
                        real.iter()
                            .map(|&c| values[(r * width + c) * f..(r * width + c + 1) * f].to_vec())
                            .collect()
                    })
                    .collect(),
            );
        }
    }
    golden
}

/// Writes the golden sequences (without their `</s>` prefix) as a pre-tokenized JSONL source.
pub fn pretokenized_source(dir: &Path, sequences: &[Vec<u32>]) -> CorpusSource {
    let path = dir.join("golden.jsonl");
    let lines: Vec<String> = sequences
        .iter()
        .map(|s| {
            assert_eq!(s[0], 2, "every golden sequence starts with </s>");
            serde_json::json!({ "input_ids": &s[1..], "domain": "golden" }).to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    CorpusSource {
        path,
        format: SourceFormat::PreTokenized,
        domain: None,
        max_tokens: None,
    }
}
