//! Where a run's FFN layers ran, as its manifest records it.

use serde::{Deserialize, Serialize};

/// Where the FFN layers of a run ran. Both give the same fired sets up to rounding near zero;
/// streaming (one layer held at a time) does not change what is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FfnPath {
    /// The host engine: the layers on the CPU in f32, fc2 over the fired neurons only
    /// (`--ffn sparse`).
    Host,
    /// Every layer on the backend device, in the compute dtype (`--ffn dense`).
    Dense,
}

impl FfnPath {
    /// `host` or `dense`, as the manifest spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Dense => "dense",
        }
    }
}

impl std::fmt::Display for FfnPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_spells_each_path_by_its_name() {
        for path in [FfnPath::Host, FfnPath::Dense] {
            let json = serde_json::to_string(&path).unwrap();
            assert_eq!(json, format!("\"{}\"", path.name()));
            assert_eq!(serde_json::from_str::<FfnPath>(&json).unwrap(), path);
        }
        assert!(serde_json::from_str::<FfnPath>("\"sparse\"").is_err());
    }
}
