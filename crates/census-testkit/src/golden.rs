//! The Hugging Face goldens of the parity fixtures (`golden.safetensors`: per batch the input
//! ids, attention mask and every layer's activation inputs, `fc1.{layer}` for OPT, written by
//! `tests/fixtures/make_fixtures.py`, `act_in.{layer}` for the other families, written by
//! `tests/fixtures/make_family_fixtures.py`), and the goldens' sequences as a corpus.

use std::path::Path;

use census_extract::{CorpusSource, SourceFormat};
use safetensors::SafeTensors;

/// HF goldens of a fixture: per batch, the unpadded sequences and per layer the fc1
/// pre-activations of their real positions (`[sequence][layer][pos][neuron]`).
pub struct Golden {
    /// The unpadded sequences, BOS first where the family has one.
    pub sequences: Vec<Vec<u32>>,
    /// Activation inputs (fc1 pre-activations for OPT), `[sequence][layer][pos][neuron]`.
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
    let key = if file.tensor("plain.act_in.0").is_ok() {
        "act_in"
    } else {
        "fc1"
    };
    for batch in ["plain", "padded", "full"] {
        let (shape, ids) = ints(&format!("{batch}.input_ids"));
        let (_, mask) = ints(&format!("{batch}.attention_mask"));
        let (rows, width) = (shape[0], shape[1]);
        let layers = (0..)
            .take_while(|l| file.tensor(&format!("{batch}.{key}.{l}")).is_ok())
            .count();
        let fc1: Vec<(Vec<usize>, Vec<f32>)> = (0..layers)
            .map(|l| floats(&format!("{batch}.{key}.{l}")))
            .collect();
        for r in 0..rows {
            let real: Vec<usize> = (0..width).filter(|&c| mask[r * width + c] == 1).collect();
            golden
                .sequences
                .push(real.iter().map(|&c| ids[r * width + c] as u32).collect());
            golden.fc1.push(
                fc1.iter()
                    .map(|(shape, values)| {
                        let f = shape[shape.len() - 1];
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
