//! Command-line options of an extraction run, shared by the `census-extract` binary and
//! `cargo xtask extract`.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use census_format::model::FloatType;
use census_model::{Device, DeviceSet, ParallelJob, Worker};

use clap::Args;
use serde::Serialize;

use crate::engine::{FfnFlag, engine_from_flags};
use crate::error::Result;
use crate::run::options::{DEFAULT_BATCH_TOKENS, DEFAULT_PART_TOKENS, ExtractOptions};
use census_format::analysis::options::LayerScope;
use census_format::corpus::CorpusSource;
use census_format::run::DEFAULT_MAX_SEQ_LEN;
use census_format::run::Engine;
use census_format::run::RecordMode;
use census_format::run::SequenceOptions;
use census_format::run::Shard;

/// `extract` flags: what to run and where (set per model by a pipeline), and the
/// [`ExtractSettings`] a pipeline's `[extract]` table gives.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ExtractArgs {
    /// The model: a directory in the Hugging Face layout (config.json, weights, tokenizer
    /// files), a preset (`opt-125m` … `opt-66b`, i.e. `facebook/opt-*`) or any hub id, downloaded
    /// into the Hugging Face cache (`HF_HOME`, `HF_ENDPOINT`, `HF_HUB_OFFLINE` apply).
    #[arg(long)]
    pub model: String,
    /// A corpus source: `PATH[,format=jsonl|pretokenized|text-files|text-lines|parquet][,domain=NAME][,max_tokens=N]`.
    /// Repeat for several sources; they are read in the order given.
    #[arg(long = "data", required = true, value_parser = parse_source)]
    pub data: Vec<CorpusSource>,
    /// Run directory to create or resume.
    #[arg(long)]
    pub out: PathBuf,
    /// How the run reads, computes and records.
    #[command(flatten)]
    pub settings: ExtractSettings,
}

/// The `extract` flags that say how a run reads, computes and records (a pipeline's
/// `[extract]` and `[runs.*]` keys, `data` aside).
#[derive(Debug, Clone, Args, Serialize)]
pub struct ExtractSettings {
    /// Longest sequence, `</s>` prefix included [default: the model's positions,
    /// `max_position_embeddings`: 2048 for every OPT].
    #[arg(long)]
    pub max_seq_len: Option<usize>,
    /// Keep only sequences of exactly --max-seq-len tokens.
    #[arg(long)]
    pub full_length: bool,
    /// Largest number of tokens over all sources.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Skip and count malformed corpus lines instead of stopping.
    #[arg(long)]
    pub skip_malformed: bool,
    /// Layers to record: `all`, `a..b` (end exclusive), `a..=b`, `..b` or `first-half` (layers
    /// below half the model's depth); the pass stops after the last one.
    #[arg(long, default_value = "all")]
    pub layers: LayerScope,
    /// This machine's share of the corpus, `i/n`.
    #[arg(long, default_value = "0/1")]
    pub shard: Shard,
    /// Tokens per part (the unit of commit and resume).
    #[arg(long, default_value_t = DEFAULT_PART_TOKENS)]
    pub part_tokens: u64,
    /// Largest padded batch, in tokens.
    #[arg(long, default_value_t = DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
    /// Compute dtype: f32, f16 or bf16 [default: f32 on the host engine; on the dense path the
    /// checkpoint's own dtype (config.json `torch_dtype` or `dtype`: float16 for the released
    /// OPT models), else f32].
    #[arg(long, value_enum)]
    pub dtype: Option<FloatType>,
    /// Where the layers run: `sparse` (the host engine: CPU, f32, fc2 summed over the fired
    /// neurons only; fastest on CPU) or `dense` (every layer on the backend device, in --dtype)
    /// [default: sparse with --device cpu, dense with --device cuda].
    #[arg(long, value_enum)]
    pub ffn: Option<FfnFlag>,
    /// Hold one layer's weights at a time (models larger than the device); the output equals
    /// a normal run's.
    #[arg(long)]
    pub stream_layers: bool,
    /// With --stream-layers: keep the hidden states between layers in host memory, so the
    /// device holds one layer and one batch at a time (for parts whose activations do not fit).
    #[arg(long, requires = "stream_layers")]
    pub offload_hidden: bool,
    /// What to record: `shards` (every token's fired neurons: every statistic) or `counts`
    /// (per-neuron fire counts by domain, and by position with --full-length: dead neurons,
    /// frequencies and positional statistics, in megabytes).
    #[arg(long, value_enum, default_value = "shards")]
    pub record: RecordMode,
    /// A neuron fires when its activation input (fc1 or gate output) exceeds this, for a
    /// magnitude reading of GELU and SiLU models (default 0: the paper's rule; on the dense
    /// path, which it makes the default; recorded in the manifest).
    #[arg(long, default_value_t = 0.0, value_parser = census_format::bounded::non_negative)]
    pub fire_threshold: f64,
    /// Device: `cpu`, or `cuda` (GPU 0; needs a build with `--features cuda`).
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
    /// Spread the parts over several devices, one worker each: `cuda:0,cuda:1`, `cuda:all`, or
    /// `cpu,cpu` (two workers sharing the CPU). The parts are committed in order, so the run
    /// equals a one-device run but for the device the manifest names for each part.
    // Where the parts are computed does not change them: not part of the stage's request.
    #[arg(long, conflicts_with = "device", value_parser = parse_devices)]
    #[serde(skip)]
    pub devices: Option<DeviceSet>,
    /// Hide the progress bar.
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
}

/// Parses a `--data` spec (see [`CorpusSource::parse`]).
pub fn parse_source(spec: &str) -> Result<CorpusSource> {
    Ok(CorpusSource::parse(spec)?)
}

/// Parses a `--devices` list (see [`DeviceSet`]).
pub fn parse_devices(list: &str) -> std::result::Result<DeviceSet, census_model::DeviceListError> {
    list.parse()
}

/// An extraction, run on the devices a [`DeviceSet`] names.
struct ExtractJob<'a>(&'a ExtractOptions);

impl ParallelJob for ExtractJob<'_> {
    type Output = Result<crate::run::ExtractSummary>;

    fn run<B: Backend>(self, workers: Vec<Worker<B>>, label: String) -> Self::Output {
        crate::run::extract_on::<B>(self.0, &workers, &label)
    }
}

impl ExtractArgs {
    /// Runs the extraction these flags describe on the device they name.
    pub fn run(&self) -> Result<crate::run::ExtractSummary> {
        let mut options = self.to_options()?;
        options.model_dir = census_model::hub::resolve(
            &self.model,
            &census_model::HubOptions::from_env(!self.settings.quiet),
        )?;
        options.engine = self.settings.engine()?;
        options.dtype = self
            .settings
            .compute_dtype(options.engine, &options.model_dir)?;
        options.sequences.max_seq_len = self.settings.max_seq_len_for(&options.model_dir);
        let devices =
            (self.settings.devices.clone()).unwrap_or_else(|| DeviceSet::one(self.settings.device));
        devices.run(ExtractJob(&options))?
    }

    /// The run options these flags describe.
    pub fn to_options(&self) -> Result<ExtractOptions> {
        let settings = &self.settings;
        let model_dir = Path::new(&self.model);
        let engine = settings.engine()?;
        Ok(ExtractOptions {
            model_dir: PathBuf::from(&self.model),
            model_source: self.model.clone(),
            sources: self.data.clone(),
            sequences: SequenceOptions {
                max_seq_len: settings.max_seq_len_for(model_dir),
                full_length: settings.full_length,
                max_tokens: settings.max_tokens,
                skip_malformed: settings.skip_malformed,
            },
            layers: settings.layers,
            shard: settings.shard,
            part_tokens: settings.part_tokens,
            batch_tokens: settings.batch_tokens,
            dtype: settings.compute_dtype(engine, model_dir)?,
            engine,
            record: settings.record,
            fire_threshold: settings.fire_threshold as f32,
            out: self.out.clone(),
            progress: !settings.quiet,
        })
    }
}

impl ExtractSettings {
    /// The compute dtype: `--dtype` if given; else f32 on the host engine and on the dense path
    /// a fire threshold picks on the CPU, and on any other dense path the dtype the checkpoint
    /// in `model_dir` declares (f32 when it declares none or cannot be read yet, as a hub model
    /// before its download).
    pub fn compute_dtype(&self, engine: Engine, model_dir: &Path) -> Result<FloatType> {
        if let Some(float) = self.dtype {
            return Ok(float);
        }
        if engine.on_host() || (self.device == Device::Cpu && self.ffn.is_none()) {
            return Ok(FloatType::F32);
        }
        Ok(
            census_model::family::read_config(model_dir.join("config.json"))
                .ok()
                .and_then(|c| c.dtype)
                .and_then(|d| FloatType::from_declared(&d))
                .unwrap_or(FloatType::F32),
        )
    }

    /// The longest sequence: `--max-seq-len` if given, else the positions of the model in
    /// `model_dir` (its `max_position_embeddings`), at most [`DEFAULT_MAX_SEQ_LEN`] (every
    /// OPT's, and the paper's; long-context models would otherwise take their 32k or 128k
    /// positions), which is also the default when the configuration cannot be read yet, as a
    /// hub model's before its download.
    pub fn max_seq_len_for(&self, model_dir: &Path) -> usize {
        self.max_seq_len.unwrap_or_else(|| {
            census_model::family::read_config(model_dir.join("config.json"))
                .map_or(DEFAULT_MAX_SEQ_LEN, |c| {
                    c.max_position_embeddings.min(DEFAULT_MAX_SEQ_LEN)
                })
        })
    }

    /// The engine the flags name (see [`engine_from_flags`]); a fire threshold, which the host
    /// engine does not take, makes the dense path the default.
    pub fn engine(&self) -> Result<Engine> {
        let threshold_path = (self.fire_threshold != 0.0).then_some(FfnFlag::Dense);
        engine_from_flags(
            self.ffn.or(threshold_path),
            self.device == Device::Cuda,
            self.stream_layers,
            self.offload_hidden,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_follows_the_device_unless_named() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            args: ExtractArgs,
        }
        let options = |extra: &[&str]| {
            let base = ["extract", "--model", "m", "--data", "d.jsonl", "--out", "o"];
            let args = base.iter().chain(extra).copied();
            <Command as clap::Parser>::try_parse_from(args)
                .unwrap()
                .args
                .to_options()
        };
        let engine = |extra: &[&str]| options(extra).unwrap().engine;
        assert_eq!(engine(&[]), Engine::Host);
        assert_eq!(engine(&["--device", "cuda"]), Engine::Dense);
        assert_eq!(
            engine(&["--device", "cuda", "--ffn", "sparse"]),
            Engine::Host
        );
        assert_eq!(engine(&["--ffn", "dense"]), Engine::Dense);
        // A fire threshold runs dense unless the host engine is asked for (and then refused).
        assert_eq!(engine(&["--fire-threshold", "0.5"]), Engine::Dense);
        assert_eq!(
            engine(&["--fire-threshold", "0.5", "--ffn", "sparse"]),
            Engine::Host
        );
        assert_eq!(engine(&["--stream-layers"]), Engine::HostStreamed);
        assert_eq!(
            engine(&["--ffn", "dense", "--stream-layers", "--offload-hidden"]),
            Engine::DenseStreamedOffload
        );
        let e = options(&["--stream-layers", "--offload-hidden"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--offload-hidden"), "{e}");
        for bad in [["--ffn", "fast"], ["--dtype", "fp8"], ["--device", "tpu"]] {
            let args = ["extract", "--model", "m", "--data", "d", "--out", "o"];
            let e = <Command as clap::Parser>::try_parse_from(args.iter().chain(&bad))
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(bad[1]) && e.contains("possible values"), "{e}");
        }
    }

    #[test]
    fn the_dense_path_computes_in_the_checkpoint_dtype_unless_told_otherwise() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            args: ExtractArgs,
        }
        let fixtures =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/opt");
        let options_of = |model: &str, extra: &[&str]| {
            let model = fixtures.join(model).display().to_string();
            let base = [
                "extract", "--model", &model, "--data", "d.jsonl", "--out", "o",
            ];
            let args = base.iter().copied().chain(extra.iter().copied());
            <Command as clap::Parser>::try_parse_from(args)
                .unwrap()
                .args
                .to_options()
                .unwrap()
        };
        let dtype = |model: &str, extra: &[&str]| options_of(model, extra).dtype;
        let max_seq_len = |extra: &[&str]| options_of("pre-ln", extra).sequences.max_seq_len;
        // The model's own positions unless told otherwise (the fixtures have 48).
        assert_eq!(max_seq_len(&[]), 48);
        assert_eq!(max_seq_len(&["--max-seq-len", "16"]), 16);
        // The released OPT checkpoints are float16: so is the dense path by default.
        assert_eq!(dtype("f16", &["--ffn", "dense"]), FloatType::F16);
        assert_eq!(dtype("bf16", &["--ffn", "dense"]), FloatType::Bf16);
        assert_eq!(dtype("pre-ln", &["--ffn", "dense"]), FloatType::F32);
        // The host engine computes in f32; --dtype wins everywhere.
        assert_eq!(dtype("f16", &[]), FloatType::F32);
        assert_eq!(
            dtype("f16", &["--ffn", "dense", "--dtype", "f32"]),
            FloatType::F32
        );
    }
}
