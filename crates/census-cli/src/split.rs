//! `[split]`: a pipeline's extractions as shards and its analyses as layer ranges merged into one,
//! the units a cluster runs side by side (`run --slurm` makes each a job array). `run` without
//! Slurm runs the same units one after another, so both give the same outputs.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use census_format::run::Shard;
use serde::{Deserialize, Serialize};

/// `[split]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitTable {
    /// Each extraction as this many shards (`extract --shard i/N`), each its own run directory
    /// (`run/shard-i-of-N`); the analysis reads them all.
    pub extract: Option<u32>,
    /// Each analysis as this many layer ranges (`analyze --layers`), merged into the model's
    /// analysis (`merge-analyses`).
    pub analyze: Option<u32>,
}

impl SplitTable {
    /// Refuses a count of zero, naming the key.
    pub fn check(&self) -> Result<()> {
        for (key, value) in [("extract", self.extract), ("analyze", self.analyze)] {
            if value == Some(0) {
                bail!("[split] {key} = 0: at least 1, or leave it out");
            }
        }
        Ok(())
    }

    /// The shards of each extraction: `None` for one whole run.
    pub fn shards(&self) -> Option<Vec<Shard>> {
        let count = self.extract.filter(|&n| n > 1)?;
        Some((0..count).map(|index| Shard { index, count }).collect())
    }

    /// The number of layer ranges of each analysis: `None` for one whole analysis.
    pub fn analysis_parts(&self) -> Option<u32> {
        self.analyze.filter(|&n| n > 1)
    }
}

/// The directory of `shard` of the run in `run_dir`.
pub fn shard_dir(run_dir: &Path, shard: Shard) -> PathBuf {
    run_dir.join(format!("shard-{}-of-{}", shard.index, shard.count))
}

/// The directory of part `index` of `count` of the analysis in `analysis_dir`.
pub fn part_dir(analysis_dir: &Path, index: u32, count: u32) -> PathBuf {
    let parts = analysis_dir.with_file_name(format!(
        "{}-parts",
        analysis_dir
            .file_name()
            .map_or_else(|| "analysis".into(), |n| n.to_string_lossy())
    ));
    parts.join(format!("part-{index}-of-{count}"))
}

/// The layers part `index` of `count` analyses, of the recorded layers `start..end`: consecutive
/// ranges as even as whole layers allow, together covering every layer once.
pub fn part_layers(layers: [usize; 2], index: u32, count: u32) -> Result<[usize; 2]> {
    let [start, end] = layers;
    let total = end - start;
    let count = count as usize;
    if count > total {
        bail!(
            "[split] analyze = {count}, but the run records {total} layers: at most one part per \
             layer"
        );
    }
    let at = |i: usize| start + i * total / count;
    Ok([at(index as usize), at(index as usize + 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_cover_every_layer_once_in_order() {
        for total in 1..=13 {
            for count in 1..=total as u32 {
                let mut next = 2;
                for index in 0..count {
                    let [a, b] = part_layers([2, 2 + total], index, count).unwrap();
                    assert_eq!(a, next);
                    assert!(b > a, "{total} layers, part {index} of {count} is empty");
                    next = b;
                }
                assert_eq!(next, 2 + total);
            }
        }
        let e = part_layers([0, 6], 0, 8).unwrap_err().to_string();
        assert!(e.contains("records 6 layers"), "{e}");
    }

    #[test]
    fn a_split_of_one_is_no_split_and_zero_is_refused() {
        let one = SplitTable {
            extract: Some(1),
            analyze: Some(1),
        };
        assert!(one.shards().is_none() && one.analysis_parts().is_none());
        let shards = SplitTable {
            extract: Some(3),
            analyze: None,
        }
        .shards()
        .unwrap();
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[2], Shard { index: 2, count: 3 });
        assert_eq!(
            shard_dir(Path::new("/o/m/run"), shards[2]),
            Path::new("/o/m/run/shard-2-of-3")
        );
        assert_eq!(
            part_dir(Path::new("/o/m/analysis"), 1, 4),
            Path::new("/o/m/analysis-parts/part-1-of-4")
        );
        let zero = SplitTable {
            extract: Some(0),
            analyze: None,
        };
        assert!(
            zero.check()
                .unwrap_err()
                .to_string()
                .contains("extract = 0")
        );
    }
}
