//! The held-out text of `train --eval-data`: a corpus source, or none.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use census_format::FormatError;
use census_format::corpus::CorpusSource;
use serde::Serialize;

/// The text whose loss is measured during training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvalData {
    /// No held-out loss (`--eval-data none`).
    None,
    /// A corpus source, `PATH[,format=...][,max_tokens=N]`, as for extraction.
    Source(CorpusSource),
}

impl EvalData {
    /// How `--eval-data` says there is none.
    pub const NONE: &str = "none";

    /// The corpus source, if there is one.
    pub fn source(&self) -> Option<&CorpusSource> {
        match self {
            Self::None => None,
            Self::Source(source) => Some(source),
        }
    }

    /// Parses `--eval-data` text, a relative path taken from `base` (see
    /// [`CorpusSource::parse_in`]).
    pub fn parse_in(text: &str, base: &Path) -> Result<Self, FormatError> {
        match text.trim() {
            "" => Err(census_format::SourceError::NoEvalData.into()),
            Self::NONE => Ok(Self::None),
            _ => Ok(Self::Source(CorpusSource::parse_in(text, base)?)),
        }
    }
}

impl FromStr for EvalData {
    type Err = FormatError;

    fn from_str(text: &str) -> Result<Self, FormatError> {
        Self::parse_in(text, Path::new(""))
    }
}

impl fmt::Display for EvalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str(Self::NONE),
            Self::Source(source) => source.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_text_is_a_source_or_none() {
        assert_eq!("none".parse::<EvalData>().unwrap(), EvalData::None);
        let source: EvalData = "data/eval.jsonl,max_tokens=10".parse().unwrap();
        assert_eq!(source.source().unwrap().max_tokens, Some(10));
        assert_eq!(
            source.to_string(),
            "data/eval.jsonl,format=jsonl,max_tokens=10"
        );
        assert_eq!(EvalData::None.to_string(), "none");
        assert!(" ".parse::<EvalData>().is_err());
    }
}
