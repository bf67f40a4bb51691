//! What computes the activations of an extraction, as one choice.

use census_format::model::Family;
use census_format::run::FfnPath;
use serde::{Deserialize, Serialize};

use crate::error::{ExtractError, Result};

/// How the FFN layers run (`--ffn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FfnFlag {
    /// The host engine: the layers on the CPU in f32, fc2 summed over the fired neurons only
    /// (fastest on a CPU).
    Sparse,
    /// Every layer on the backend device, in the compute dtype.
    Dense,
}

/// The engine of an extraction: where the layers run and how much of the model is held at once.
/// Every engine records the same fired neurons for a given compute dtype; the streamed ones exist
/// for models larger than the memory that holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The host engine ([`census_model::host`]): every layer on the CPU in f32, fc2 summed over
    /// the fired neurons only. The fastest path on a CPU.
    Host,
    /// The host engine holding one layer's weights at a time.
    HostStreamed,
    /// The whole model on the backend device, in the compute dtype.
    Dense,
    /// On the device, one layer's weights at a time: per part, every batch is embedded, then
    /// each layer is loaded, run on every batch and dropped.
    DenseStreamed,
    /// As [`Engine::DenseStreamed`], with the batches' hidden states kept in host memory
    /// between layers, so the device holds one layer and one batch at a time.
    DenseStreamedOffload,
}

impl Engine {
    /// The engine the flags name for a model of `family`: `--ffn` (`None`: sparse on the CPU
    /// where the family has a host engine, dense otherwise), `--stream-layers` and
    /// `--offload-hidden`. Offloading applies to the dense path only.
    pub fn from_flags(
        ffn: Option<FfnFlag>,
        on_cuda: bool,
        stream_layers: bool,
        offload_hidden: bool,
        family: Family,
    ) -> Result<Self> {
        let host = Self::has_host_engine(family);
        let ffn = ffn.unwrap_or(if on_cuda || !host {
            FfnFlag::Dense
        } else {
            FfnFlag::Sparse
        });
        if ffn == FfnFlag::Sparse && !host {
            return Err(ExtractError::InvalidOption(format!(
                "the host engine (--ffn sparse) runs OPT models only; this {family} model runs \
                 on --ffn dense"
            )));
        }
        Ok(match (ffn, stream_layers, offload_hidden) {
            (_, false, true) => {
                return Err(ExtractError::InvalidOption(
                    "--offload-hidden needs --stream-layers".to_string(),
                ));
            }
            (FfnFlag::Sparse, _, true) => {
                return Err(ExtractError::InvalidOption(
                    "--offload-hidden keeps the dense path's hidden states in host memory; the \
                     host engine (--ffn sparse) holds them there already"
                        .to_string(),
                ));
            }
            (FfnFlag::Sparse, false, false) => Self::Host,
            (FfnFlag::Sparse, true, false) => Self::HostStreamed,
            (FfnFlag::Dense, false, false) => Self::Dense,
            (FfnFlag::Dense, true, false) => Self::DenseStreamed,
            (FfnFlag::Dense, true, true) => Self::DenseStreamedOffload,
        })
    }

    /// Whether the host engine runs models of `family` (OPT only; every family runs dense).
    pub fn has_host_engine(family: Family) -> bool {
        family == Family::Opt
    }

    /// `host`, `host-streamed`, `dense`, `dense-streamed` or `dense-streamed-offload`, as the
    /// manifest records it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::HostStreamed => "host-streamed",
            Self::Dense => "dense",
            Self::DenseStreamed => "dense-streamed",
            Self::DenseStreamedOffload => "dense-streamed-offload",
        }
    }

    /// Whether the layers run on the host engine (CPU, f32).
    pub fn on_host(self) -> bool {
        matches!(self, Self::Host | Self::HostStreamed)
    }

    /// Whether one layer's weights are held at a time.
    pub fn streams_layers(self) -> bool {
        !matches!(self, Self::Host | Self::Dense)
    }

    /// Whether hidden states wait in host memory between streamed layers.
    pub fn offloads_hidden(self) -> bool {
        self == Self::DenseStreamedOffload
    }

    /// The FFN path, as the run configuration (and so the run id) records it. Streaming does
    /// not change what is recorded, so it is not part of the run's identity, and a run may
    /// resume with or without it.
    pub fn ffn_path(self) -> FfnPath {
        if self.on_host() {
            FfnPath::Host
        } else {
            FfnPath::Dense
        }
    }

    /// The same engine holding one layer at a time (unchanged if it already does).
    pub fn streamed(self) -> Self {
        match self {
            Self::Host => Self::HostStreamed,
            Self::Dense => Self::DenseStreamed,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_one_engine_and_wrong_combinations_are_refused() {
        let engine = |ffn, cuda, stream, offload| {
            Engine::from_flags(ffn, cuda, stream, offload, Family::Opt)
        };
        assert_eq!(engine(None, false, false, false).unwrap(), Engine::Host);
        let llama = Engine::from_flags(None, false, false, false, Family::Llama).unwrap();
        assert_eq!(
            llama,
            Engine::Dense,
            "families without a host engine run dense"
        );
        let err = Engine::from_flags(Some(FfnFlag::Sparse), false, false, false, Family::Gpt2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gpt2") && err.contains("--ffn dense"), "{err}");
        assert_eq!(engine(None, true, false, false).unwrap(), Engine::Dense);
        assert_eq!(
            engine(Some(FfnFlag::Sparse), true, true, false).unwrap(),
            Engine::HostStreamed
        );
        assert_eq!(
            engine(Some(FfnFlag::Dense), false, true, true).unwrap(),
            Engine::DenseStreamedOffload
        );
        let e = engine(None, false, true, true).unwrap_err().to_string();
        assert!(
            e.contains("--offload-hidden") && e.contains("--ffn sparse"),
            "{e}"
        );
        let e = engine(None, true, false, true).unwrap_err().to_string();
        assert!(e.contains("needs --stream-layers"), "{e}");
        for e in [
            Engine::Host,
            Engine::HostStreamed,
            Engine::Dense,
            Engine::DenseStreamed,
            Engine::DenseStreamedOffload,
        ] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.name());
            assert_eq!(e.streamed().ffn_path(), e.ffn_path());
            assert!(e.streamed().streams_layers());
        }
    }
}
