//! Which data each part of the analysis rests on. The paper computes its sections on different
//! data: dead neurons and frequency (§3) on over 20M tokens of nine domains, the n-gram
//! statistics (§4) on over 5M tokens of five, and positional neurons (§5) on full-length
//! sequences of three. An analysis reads the frequency runs (`--run`) and, for the n-gram and
//! positional statistics, other runs of the same model or other parts of the same runs. Sections
//! that rest on the same data are counted in one pass.

use std::path::PathBuf;

use census_format::analysis::sections::{BasisRun, DataBasis};

use crate::analyze::AnalyzeRequest;
use crate::error::{Result, StatsError};
use crate::inputs::RunSet;
use census_format::analysis::options::DataSelection;

/// The runs and the part of them one section rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SectionData {
    runs: Vec<PathBuf>,
    selection: DataSelection,
}

/// Runs counted in one pass, and the sections whose statistics come from them.
#[derive(Debug)]
pub struct DataGroup {
    /// The runs, restricted to the selected data.
    pub set: RunSet,
    /// The selection that restricted them.
    pub selection: DataSelection,
    /// Dead neurons and activation frequency (always the first group).
    pub frequency: bool,
    /// N-gram coverage, detectors, detected tokens and projections.
    pub ngram: bool,
    /// Mutual information with position and positional types.
    pub positional: bool,
}

/// The groups of an analysis and which group serves each section.
#[derive(Debug)]
pub struct Sources {
    /// The groups; the first serves the frequencies.
    pub groups: Vec<DataGroup>,
    /// The group of the n-gram statistics.
    pub ngram: usize,
    /// The group of the positional statistics.
    pub positional: usize,
}

impl Sources {
    /// Opens (and restricts) the runs `request` names for each section, one set per distinct
    /// source, and checks that every run is of the frequency runs' model.
    pub fn open(request: &AnalyzeRequest) -> Result<Self> {
        let options = &request.options;
        let frequency = SectionData {
            runs: request.runs.clone(),
            selection: options.frequency_data(),
        };
        let other = |runs: &[PathBuf], selection: &Option<DataSelection>| {
            if runs.is_empty() && selection.is_none() {
                return frequency.clone();
            }
            SectionData {
                runs: if runs.is_empty() {
                    request.runs.clone()
                } else {
                    runs.to_vec()
                },
                selection: selection.clone().unwrap_or_default(),
            }
        };
        let sections = [
            (frequency.clone(), "--domains and --token-budget"),
            (
                other(&request.ngram_runs, &options.ngram_data),
                "--ngram-domains and --ngram-token-budget",
            ),
            (
                other(&request.positional_runs, &options.positional_data),
                "--positional-domains and --positional-token-budget",
            ),
        ];
        let mut sources: Vec<SectionData> = Vec::new();
        let mut groups: Vec<DataGroup> = Vec::new();
        let mut index = [0; 3];
        for (section, (data, flags)) in sections.iter().enumerate() {
            let found = sources.iter().position(|s| s == data);
            let g = match found {
                Some(g) => g,
                None => {
                    let mut set = RunSet::open(&data.runs, request.allow_incomplete)?;
                    set.verify_parts = !request.rewritten_parts;
                    set.restrict(&data.selection, flags)?;
                    if let Some(first) = groups.first() {
                        check_same_model(&first.set, &set)?;
                    }
                    sources.push(data.clone());
                    groups.push(DataGroup {
                        set,
                        selection: data.selection.clone(),
                        frequency: false,
                        ngram: false,
                        positional: false,
                    });
                    groups.len() - 1
                }
            };
            index[section] = g;
            let group = &mut groups[g];
            match section {
                0 => group.frequency = true,
                1 => group.ngram = true,
                _ => group.positional = true,
            }
        }
        Ok(Self {
            groups,
            ngram: index[1],
            positional: index[2],
        })
    }

    /// The frequency runs.
    pub fn main(&self) -> &RunSet {
        &self.groups[0].set
    }
}

/// Refuses runs of another model (configuration, weights or compute dtype) than the frequency
/// runs'.
fn check_same_model(main: &RunSet, other: &RunSet) -> Result<()> {
    let (a, b) = (
        &main.runs[0].manifest.config,
        &other.runs[0].manifest.config,
    );
    let what = if a.model.config != b.model.config {
        "model configuration"
    } else if a.model.weight_files != b.model.weight_files {
        "model weights"
    } else if a.dtype != b.dtype {
        "compute dtype"
    } else {
        return Ok(());
    };
    Err(StatsError::run(
        &other.runs[0].dir,
        format!(
            "it differs from {} in its {what}: every section of an analysis must be of one \
             model",
            main.runs[0].dir.display()
        ),
    ))
}

/// The basis of `set` (restricted by `selection`), with its tallied `tokens` and
/// `sequences`.
pub fn basis_of(set: &RunSet, selection: &DataSelection, tokens: u64, sequences: u64) -> DataBasis {
    DataBasis {
        runs: set
            .runs
            .iter()
            .map(|r| BasisRun {
                dir: r.dir.clone(),
                run_id: r.manifest.run_id.clone(),
                shard: r.manifest.config.shard,
            })
            .collect(),
        selection: selection.clone(),
        domains: if selection.domains.is_empty() {
            set.domains()
        } else {
            selection.domains.clone()
        },
        tokens,
        sequences,
    }
}
