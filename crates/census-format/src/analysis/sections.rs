//! The data each section of an analysis rests on (§3 frequencies, §4 n-grams, §5 positions), as
//! the analysis manifest records it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::analysis::options::DataSelection;
use crate::run::Shard;

/// One run a section rests on, as the summary and manifest record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasisRun {
    /// Its directory.
    pub dir: PathBuf,
    /// Its run id.
    pub run_id: String,
    /// Its shard, recorded as `index/count`.
    #[serde(with = "crate::run::sequencing::shard_text")]
    pub shard: Shard,
}

/// The data one section's statistics rest on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataBasis {
    /// The runs.
    pub runs: Vec<BasisRun>,
    /// The part of them analysed.
    pub selection: DataSelection,
    /// The domains of the data (the selected ones, or every domain the runs hold).
    pub domains: Vec<String>,
    /// Tokens (`</s>` prefixes included).
    pub tokens: u64,
    /// Sequences.
    pub sequences: u64,
}

/// The data each section rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionBases {
    /// Dead neurons and activation frequency (§3).
    pub frequency: DataBasis,
    /// N-gram statistics (§4), when any layer counted n-grams.
    pub ngram: Option<DataBasis>,
    /// Positional statistics (§5), when the MI was computed.
    pub positional: Option<DataBasis>,
}
