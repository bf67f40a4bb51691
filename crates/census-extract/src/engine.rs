//! The engine of an extraction chosen from the flags (`--ffn`, `--stream-layers`,
//! `--offload-hidden`); the engine itself is census-format's, as the manifest records it.

use census_format::run::Engine;

use crate::error::{OptionsError, Result};

/// How the FFN layers run (`--ffn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FfnFlag {
    /// The host engine: the layers on the CPU in f32, fc2 summed over the fired neurons only
    /// where the activation is a ReLU (fastest on a CPU).
    Sparse,
    /// Every layer on the backend device, in the compute dtype.
    Dense,
}

/// The engine the flags name: `--ffn` (`None`: sparse on the CPU, dense on CUDA),
/// `--stream-layers` and `--offload-hidden`. Offloading applies to the dense path only.
pub fn engine_from_flags(
    ffn: Option<FfnFlag>,
    on_cuda: bool,
    stream_layers: bool,
    offload_hidden: bool,
) -> Result<Engine> {
    let ffn = ffn.unwrap_or(if on_cuda {
        FfnFlag::Dense
    } else {
        FfnFlag::Sparse
    });
    Ok(match (ffn, stream_layers, offload_hidden) {
        (_, false, true) => {
            return Err(OptionsError::OffloadNeedsStreaming.into());
        }
        (FfnFlag::Sparse, _, true) => {
            return Err(OptionsError::OffloadOnHost.into());
        }
        (FfnFlag::Sparse, false, false) => Engine::Host,
        (FfnFlag::Sparse, true, false) => Engine::HostStreamed,
        (FfnFlag::Dense, false, false) => Engine::Dense,
        (FfnFlag::Dense, true, false) => Engine::DenseStreamed,
        (FfnFlag::Dense, true, true) => Engine::DenseStreamedOffload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_one_engine_and_wrong_combinations_are_refused() {
        let engine = engine_from_flags;
        assert_eq!(engine(None, false, false, false).unwrap(), Engine::Host);
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
