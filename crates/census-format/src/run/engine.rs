//! The engine of an extraction, as a run records it.

use serde::{Deserialize, Serialize};

use crate::run::FfnPath;

/// The engine of an extraction: where the layers run and how much of the model is held at once.
/// Every engine records the same fired neurons for a given compute dtype; the streamed ones exist
/// for models larger than the memory that holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The host engine (census-model's `host` module): every layer on the CPU in f32, fc2 summed over
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
