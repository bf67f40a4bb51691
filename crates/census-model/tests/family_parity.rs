//! Parity with Hugging Face `transformers` for the families beside OPT: the activation's inputs
//! (`c_fc`, `dense_h_to_4h` or `gate_proj` outputs), fired masks and logits of every fixture in
//! `tests/fixtures/families`, produced by `tests/fixtures/make_family_fixtures.py` with
//! generate()'s position ids for left padding. Tolerances are those of the OPT parity test.

mod common;

use burn::prelude::*;
use burn::tensor::DType;
use census_format::model::Family;
use census_model::host::{HostModel, HostScratch};
use census_model::{CheckpointPlan, CpuBackend, DecoderModel, TokenBatch, load_pretrained};
use census_testkit::golden::read_tensors;
use common::{family_dir, floats, host_logits, int_tensor};

type B = CpuBackend;

/// Largest scaled |Δ| allowed between our and HF's activation inputs and logits (f32 compute).
const TOL: f64 = 1e-4;

/// The largest scaled difference at real (unpadded) tokens of `[rows, width, n]` values.
fn max_diff(ours: &[f64], hf: &[f64], real: &[bool], n: usize) -> f64 {
    ours.iter()
        .zip(hf)
        .enumerate()
        .filter(|(i, _)| real[i / n])
        .map(|(_, (&x, &h))| (x - h).abs() / h.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// Runs every golden batch of fixture `name` through the dense model and the streamed layers;
/// returns the largest activation-input and logit differences against HF.
fn compare(name: &str, family: Family) -> (f64, f64) {
    let device = Default::default();
    let dir = family_dir(name);
    let model: DecoderModel<B> = load_pretrained(&dir, &device, DType::F32).expect("fixture loads");
    assert_eq!(model.config().model_type, family);
    let plan = CheckpointPlan::open(&dir, model.config()).unwrap();
    let embeddings: DecoderModel<B> = plan.load_embeddings(&device, DType::F32).unwrap();
    let golden = read_tensors(&dir);
    let (mut pre_diff, mut logit_diff, mut compared) = (0.0f64, 0.0f64, 0);
    for batch_name in ["plain", "padded", "full"] {
        let ids = &golden[&format!("{batch_name}.input_ids")];
        let mask = &golden[&format!("{batch_name}.attention_mask")];
        let positions = &golden[&format!("{batch_name}.position_ids")];
        let batch = TokenBatch::new(int_tensor(ids, &device), int_tensor(mask, &device)).unwrap();
        let real: Vec<bool> = mask.values.iter().map(|&m| m == 1.0).collect();
        // Our positions are generate()'s at every real token.
        let ours: Vec<f64> = floats(batch.positions().float());
        for (i, (&p, &h)) in ours.iter().zip(&positions.values).enumerate() {
            if real[i] {
                assert_eq!(p, h, "{name} {batch_name}: position of token {i}");
            }
        }
        let pre = model.forward_pre_activations(&batch, None).unwrap();
        let fired = model.forward_fired(&batch, None).unwrap();
        let mut hidden = embeddings.embed(&batch).unwrap();
        let context = embeddings.attention_context(&batch);
        for (layer, (ours, bits)) in pre.into_iter().zip(fired).enumerate() {
            let expected = &golden[&format!("{batch_name}.act_in.{layer}")];
            assert_eq!(
                ours.dims().to_vec(),
                expected.shape,
                "{name} {batch_name} {layer}"
            );
            let n = expected.shape[2];
            let streamed = plan.load_layer::<B>(layer, &device, DType::F32).unwrap();
            let out = streamed.forward(hidden, &context);
            hidden = out.hidden;
            let ours = floats(ours);
            assert_eq!(
                floats(out.fc1),
                ours,
                "{name}: streamed layer {layer} differs from dense"
            );
            let bits: Vec<bool> = bits.into_data().convert::<bool>().to_vec().unwrap();
            assert!(bits.iter().zip(&ours).all(|(&b, &x)| b == (x > 0.0)));
            pre_diff = pre_diff.max(max_diff(&ours, &expected.values, &real, n));
            compared += real.iter().filter(|&&r| r).count() * n;
        }
        if let Some(expected) = golden.get(&format!("{batch_name}.logits")) {
            let logits = model.forward_logits(&batch).unwrap();
            assert_eq!(logits.dims().to_vec(), expected.shape);
            let vocab = expected.shape[2];
            logit_diff = logit_diff.max(max_diff(&floats(logits), &expected.values, &real, vocab));
        }
    }
    eprintln!(
        "parity {name:<14} max scaled |Δ act_in| {pre_diff:.2e}, |Δ logit| {logit_diff:.2e}, {compared} values"
    );
    assert!(compared > 0);
    (pre_diff, logit_diff)
}

fn assert_parity(name: &str, family: Family) {
    let (pre, logits) = compare(name, family);
    assert!(
        pre <= TOL,
        "{name}: activation inputs differ by {pre:.3e} > {TOL:e}"
    );
    assert!(
        logits <= TOL,
        "{name}: logits differ by {logits:.3e} > {TOL:e}"
    );
}

#[test]
fn gpt2_matches_hf() {
    assert_parity("gpt2", Family::Gpt2);
}

#[test]
fn sharded_gpt2_matches_hf() {
    assert_parity("gpt2-sharded", Family::Gpt2);
}

#[test]
fn pythia_in_f16_matches_hf_in_f32_compute() {
    assert_parity("pythia", Family::GptNeox);
}

#[test]
fn pythia_with_a_serial_residual_matches_hf() {
    assert_parity("pythia-serial", Family::GptNeox);
}

#[test]
fn llama_with_llama3_rope_and_grouped_queries_in_bf16_matches_hf() {
    assert_parity("llama", Family::Llama);
}

#[test]
fn sharded_tied_llama_matches_hf() {
    assert_parity("llama-tied", Family::Llama);
}

#[test]
fn qwen2_with_qkv_biases_matches_hf() {
    assert_parity("qwen2", Family::Qwen2);
}

#[test]
fn mistral_with_a_sliding_window_matches_hf() {
    assert_parity("mistral", Family::Mistral);
}

/// The host engine on every family's fixtures: each token's fired neurons are HF's (the
/// activation's input > 0; a neuron may differ only where HF's input is within [`TOL`] of
/// zero), and logits computed from its last residual stream stay within [`TOL`], which checks
/// every layer's whole output.
#[test]
fn the_host_engine_matches_hf_for_every_family() {
    let device = Default::default();
    for name in [
        "gpt2",
        "gpt2-sharded",
        "pythia",
        "pythia-serial",
        "llama",
        "llama-tied",
        "qwen2",
        "mistral",
    ] {
        let dir = family_dir(name);
        let config = census_model::family::read_config(dir.join("config.json")).unwrap();
        let plan = CheckpointPlan::open(&dir, &config).unwrap();
        let host: HostModel<B> = HostModel::load(&plan, &device).unwrap();
        // The host engine leaves an untied LM head out; the logits take the whole one.
        let head: DecoderModel<B> = plan.load_embeddings(&device, DType::F32).unwrap();
        let golden = read_tensors(&dir);
        let mut scratch = HostScratch::default();
        let (mut logit_diff, mut flips, mut compared, mut fired_total) = (0f64, 0, 0, 0);
        for batch_name in ["plain", "padded", "full"] {
            let ids = &golden[&format!("{batch_name}.input_ids")];
            let mask = &golden[&format!("{batch_name}.attention_mask")];
            let batch =
                TokenBatch::new(int_tensor(ids, &device), int_tensor(mask, &device)).unwrap();
            let real: Vec<bool> = mask.values.iter().map(|&m| m == 1.0).collect();
            let last = config.num_hidden_layers - 1;
            let (fired, states) = host.forward(&batch, last, &mut scratch).unwrap();
            for (layer, fired) in fired.iter().enumerate() {
                let expected = &golden[&format!("{batch_name}.act_in.{layer}")];
                let width = expected.shape[2];
                for (token, _) in real.iter().enumerate().filter(|(_, r)| **r) {
                    let pre = &expected.values[token * width..(token + 1) * width];
                    let ours = fired.of(token);
                    fired_total += ours.len();
                    compared += width;
                    for (n, &x) in pre.iter().enumerate() {
                        if ours.contains(&(n as u16)) != (x > 0.0) {
                            flips += 1;
                            assert!(
                                x.abs() < TOL,
                                "{name} {batch_name} layer {layer} token {token} neuron {n}: \
                                 HF's input {x}"
                            );
                        }
                    }
                }
            }
            if let Some(expected) = golden.get(&format!("{batch_name}.logits")) {
                let vocab = expected.shape[2];
                let ours = host_logits(&head, states);
                logit_diff = logit_diff.max(max_diff(&ours, &expected.values, &real, vocab));
            }
        }
        eprintln!(
            "host {name:<14} max scaled |Δ logit| {logit_diff:.2e}, fired bits differing \
             {flips}/{compared}"
        );
        assert!(
            fired_total > 0 && fired_total < compared,
            "{name}: some neurons fire"
        );
        assert!(
            logit_diff <= TOL,
            "{name}: logits differ by {logit_diff:.3e}"
        );
    }
}

/// Extraction's inputs leave an untied LM head out, and refuse to compute logits without it.
#[test]
fn the_inputs_leave_an_untied_head_out_and_refuse_logits() {
    let device = Default::default();
    let dir = family_dir("pythia");
    let config = census_model::family::read_config(dir.join("config.json")).unwrap();
    assert!(!config.tie_word_embeddings);
    let inputs: DecoderModel<B> = CheckpointPlan::open(&dir, &config)
        .unwrap()
        .load_inputs(&device, DType::F32)
        .unwrap();
    let hidden = Tensor::<B, 3>::zeros([1, 2, config.hidden_size], &device);
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inputs.logits(hidden)));
    assert!(refused.is_err(), "logits without the head");
}
