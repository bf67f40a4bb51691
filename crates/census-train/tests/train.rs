//! Trains tiny models end to end and checks what they save: the tokenizer, the Hugging Face
//! layout (reloaded through the loader real checkpoints take), learning, and the model without
//! positions.

mod common;
use common::tiny;

use census_format::corpus::CorpusSource;
use census_format::model::Family;

use burn::tensor::DType;
use census_model::{CpuBackend, ModelTokenizer, SPECIAL_TOKENS, load_pretrained};

#[test]
fn a_trained_model_learns_and_loads_as_a_hugging_face_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let summary = tiny(&out, &[]).run().unwrap();

    // The Hugging Face layout, complete, and nothing left in the staging directory.
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "training.json",
        "loss.csv",
        "loss.svg",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(!dir.path().join("model.partial").exists());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "opt");
    assert_eq!(config["ffn_dim"], 64);
    assert_eq!(config["neuron_census"]["positions"], true);
    let name = format!(
        "neuron-census-{}",
        out.file_name().unwrap().to_string_lossy()
    );
    assert_eq!(config["_name_or_path"], name.as_str());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("training.json")).unwrap()).unwrap();
    assert_eq!(
        record["training_blocks"], 1875,
        "max_tokens=60000 caps the training stream: 60000 / 32 blocks"
    );

    // OPT's special tokens at ids 0-3, and `</s>` prepended exactly once.
    let tokenizer = ModelTokenizer::from_dir(&out, Family::Opt).unwrap();
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        assert_eq!(tokenizer.token(id as u32).as_deref(), Some(*token));
    }
    let ids = tokenizer.encode("The whale swam.").unwrap();
    assert_eq!(ids[0], 2);
    assert!(ids[1..].iter().all(|&id| id > 3));
    assert_eq!(tokenizer.decode(&ids[1..]).unwrap(), "The whale swam.");

    // It learned: the held-out loss ends well below the uniform guess (ln 400 = 5.99) and below
    // where training started.
    let log = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    let rows: Vec<Vec<String>> = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 3, "a row every 20 of 60 steps");
    let first: f64 = rows[0][3].parse().unwrap();
    let last: f64 = rows[2][3].parse().unwrap();
    assert!(last < first - 0.3, "training loss {first} -> {last}");
    let held_out = summary.held_out_loss.unwrap();
    assert!(held_out < 5.99 - 0.5, "held-out loss {held_out}");

    // Saved in f32 and reloaded through the checkpoint loader, the model gives the loss it had
    // in memory: every tensor went out under the right name, in the right layout.
    let saved = summary.held_out_loss_saved.unwrap();
    assert!((saved - held_out).abs() < 1e-5, "{saved} vs {held_out}");
    let model = load_pretrained::<CpuBackend>(&out, &Default::default(), DType::F32).unwrap();
    assert_eq!(model.config().ffn_dim, 64);
}

#[test]
fn without_positions_the_table_is_zero_and_the_rest_trains() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nopos");
    let summary = tiny(&out, &["--no-positions", "--steps", "20"])
        .run()
        .unwrap();
    assert!(summary.held_out_loss.unwrap() < 5.99);
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let positions = file.tensor("model.decoder.embed_positions.weight").unwrap();
    assert_eq!(positions.shape(), [34, 32]);
    assert!(
        positions.data().iter().all(|&b| b == 0),
        "positions stay zero"
    );
    let tokens = file.tensor("model.decoder.embed_tokens.weight").unwrap();
    assert!(tokens.data().iter().any(|&b| b != 0));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["neuron_census"]["positions"], false);
}

#[test]
fn a_directory_the_trainer_did_not_write_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("thesis");
    std::fs::create_dir_all(out.join("src")).unwrap();
    std::fs::write(out.join("thesis.tex"), "mine").unwrap();
    std::fs::write(out.join("src/main.rs"), "fn main() {}").unwrap();
    std::fs::write(out.join("config.json"), "{\"model_type\": \"opt\"}").unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let err = tiny(&out, extra).run().unwrap_err().to_string();
        assert!(
            err.contains("thesis") && err.contains("no model trained by neuron-census"),
            "{err}"
        );
        assert!(!err.contains("pass --force"), "{err}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("thesis.tex")).unwrap(),
        "mine"
    );
    assert!(out.join("src/main.rs").is_file());
    assert!(!dir.path().join("thesis.partial").exists());
}

#[test]
fn a_trained_model_is_replaced_only_with_force_and_only_when_the_new_one_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    tiny(&out, &["--steps", "5", "--eval-every", "5"])
        .run()
        .unwrap();
    let before = std::fs::read(out.join("model.safetensors")).unwrap();
    let err = tiny(&out, &[]).run().unwrap_err().to_string();
    assert!(err.contains("--force"), "{err}");
    // A failing --force run (here, a corpus that does not exist) leaves the model as it was.
    let mut failing = tiny(&out, &["--force"]);
    failing.data = vec![CorpusSource::new(dir.path().join("typo.jsonl"))];
    let err = failing.run().unwrap_err().to_string();
    assert!(err.contains("typo.jsonl"), "{err}");
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );
    assert!(!dir.path().join("model.partial").exists());
    tiny(
        &out,
        &[
            "--force",
            "--steps",
            "5",
            "--eval-every",
            "5",
            "--seed",
            "7",
        ],
    )
    .run()
    .unwrap();
    assert_ne!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );
}

#[test]
fn an_empty_corpus_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let mut args = tiny(&dir.path().join("m"), &[]);
    args.data = vec![CorpusSource::new(&empty)];
    let err = args.run().unwrap_err().to_string();
    assert!(
        err.contains("empty.jsonl") && err.contains("no document"),
        "{err}"
    );
    assert!(!dir.path().join("m").exists());
}

#[test]
fn bad_training_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let mut args = tiny(&dir.path().join("m"), &[]);
    args.data = vec![CorpusSource::new(&missing)];
    let err = args.run().unwrap_err().to_string();
    assert!(err.contains("nope.jsonl"), "{err}");

    let mut args = tiny(&dir.path().join("m"), &["--vocab-size", "100"]);
    args.eval_data = census_train::eval_data::EvalData::None;
    let err = args.run().unwrap_err().to_string();
    assert!(err.contains("--vocab-size 100"), "{err}");

    let args = tiny(&dir.path().join("m"), &["--seq-len", "64"]);
    let err = args.run().unwrap_err().to_string();
    assert!(
        err.contains("--seq-len 64 exceeds --max-positions 32"),
        "{err}"
    );
    assert!(!dir.path().join("m").exists(), "nothing written on refusal");
}

#[test]
fn checkpoints_are_saved_along_the_run_each_a_loadable_model() {
    use census_format::series::TRAINER_STATE_FILE;
    use census_train::checkpoints::{Schedule, TrainerState};
    use census_train::data::{pack_blocks, read_texts};
    use census_train::training_run::saved_loss;

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let args = tiny(&out, &["--save-steps", "10,30"]);
    args.run().unwrap();
    let mut saved: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("checkpoint-"))
        .collect();
    saved.sort();
    assert_eq!(saved, ["checkpoint-10", "checkpoint-30"]);
    let final_tokenizer = ModelTokenizer::from_dir(&out, Family::Opt).unwrap();
    let eval = read_texts(&[args.eval_data.source().unwrap().clone()]).unwrap();
    for step in [10, 30] {
        let checkpoint = out.join(format!("checkpoint-{step}"));
        let state: TrainerState = serde_json::from_str(
            &std::fs::read_to_string(checkpoint.join(TRAINER_STATE_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(state.global_step, step);
        assert_eq!(state.max_steps, 60);
        assert_eq!(
            state.tokens,
            (step * 8 * 32) as u64,
            "steps × batch × sequence"
        );
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(checkpoint.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["neuron_census"]["step"], step);
        // A model directory of its own: the same tokenizer, and the weights whose held-out
        // loss the state records (reloaded as extraction loads them).
        let tokenizer = ModelTokenizer::from_dir(&checkpoint, Family::Opt).unwrap();
        assert_eq!(
            tokenizer.encode("The whale swam.").unwrap(),
            final_tokenizer.encode("The whale swam.").unwrap()
        );
        let blocks = pack_blocks(&tokenizer, &eval, 32).unwrap();
        let loss = saved_loss(&checkpoint, &blocks, &args.options()).unwrap();
        let recorded = state.held_out_loss.unwrap();
        assert!((loss - recorded).abs() < 1e-5, "{loss} vs {recorded}");
    }
    // The series reader finds them, with the tokens their states record.
    let series = census_model::checkpoint_series(&out).unwrap();
    let found: Vec<(u64, Option<u64>)> = series.iter().map(|c| (c.step, c.tokens)).collect();
    assert_eq!(found, [(10, Some(10 * 8 * 32)), (30, Some(30 * 8 * 32))]);
    // Without flags: five checkpoints, log-spaced below the last step.
    assert_eq!(tiny(&out, &[]).schedule(), Schedule::default());
    assert_eq!(Schedule::default().steps(60), [2, 4, 8, 15, 30]);
    assert!(
        tiny(&out, &["--no-checkpoints"])
            .schedule()
            .steps(60)
            .is_empty()
    );
    // A step outside the run is refused before anything is trained.
    let refused = tiny(&dir.path().join("other"), &["--save-steps", "60"])
        .run()
        .unwrap_err();
    assert!(refused.to_string().contains("--save-steps"), "{refused}");
}
