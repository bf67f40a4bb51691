//! The held-out text of `train --eval-data`: a corpus source, or none.

use std::fmt;
use std::str::FromStr;

/// The text whose loss is measured during training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalData {
    /// No held-out loss (`--eval-data none`).
    None,
    /// A corpus source spec, `PATH[,format=...][,max_tokens=N]`, as for extraction.
    Source(String),
}

impl EvalData {
    /// How `--eval-data` says there is none.
    pub const NONE: &str = "none";

    /// The corpus source spec, if there is one.
    pub fn source(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Source(spec) => Some(spec),
        }
    }
}

impl FromStr for EvalData {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" => Err("--eval-data: give a corpus source, or `none`".to_string()),
            Self::NONE => Ok(Self::None),
            _ => Ok(Self::Source(text.to_string())),
        }
    }
}

impl fmt::Display for EvalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source().unwrap_or(Self::NONE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_text_is_a_source_or_none() {
        assert_eq!("none".parse(), Ok(EvalData::None));
        let source: EvalData = "data/eval.jsonl,max_tokens=10".parse().unwrap();
        assert_eq!(source.source(), Some("data/eval.jsonl,max_tokens=10"));
        assert_eq!(source.to_string(), "data/eval.jsonl,max_tokens=10");
        assert_eq!(EvalData::None.to_string(), "none");
        assert!(" ".parse::<EvalData>().is_err());
    }
}
