//! The extraction runs an analysis reads: their manifests, checked for being complete and for
//! belonging together (one model, the same layers), and the parts they hold.

use crate::error::RequestError;
use crate::part_data::PartTokens;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use census_format::model::ModelConfig;
use census_format::run::Manifest;
use census_format::run::manifest::{FileFingerprint, SCHEMA_VERSION};
use census_format::run::tables::{PartCheck, PartFile};
use census_format::run::{RecordMode, SequenceStart};

use crate::error::{Result, StatsError};
use census_format::analysis::options::DataSelection;
use census_format::run::checked::PartLimits;

/// One extraction run directory.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// The directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// One committed part of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRef {
    /// Index of the run in [`RunSet::runs`].
    pub run: usize,
    /// Part number.
    pub part: u32,
    /// Rows (tokens) in the part.
    pub rows: u64,
}

/// Runs analysed together: shards of one run, or runs of one model over different corpora.
#[derive(Debug, Clone)]
pub struct RunSet {
    /// The runs, in the order given.
    pub runs: Vec<RunInput>,
    /// Check every part file against its run's manifest (size, checksum, footer) before it is
    /// counted; off only for runs whose parts another tool rewrote.
    pub verify_parts: bool,
    /// The sequences each part contributes, by (run index, part number), when the analysis is
    /// restricted to some domains or a token budget ([`RunSet::restrict`]); none: every one.
    pub selection: Option<BTreeMap<(usize, u32), Selected>>,
    /// With a seed, each sequence's text tokens are read shuffled within the sequence
    /// ([`PartTokens::shuffled`]), their fires kept in place: the shuffled-token null.
    pub shuffle: Option<u64>,
}

/// What one part contributes to a restricted analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected {
    /// Sequence ids kept.
    pub sequences: BTreeSet<u64>,
    /// Their rows (tokens).
    pub rows: u64,
}

/// The empty selection.
static NOTHING: BTreeSet<u64> = BTreeSet::new();

impl RunSet {
    /// Opens run directories and checks that they can be analysed together: every run is
    /// complete (unless `allow_incomplete`, which analyses the committed parts), all come from
    /// the same model weights and record the same layers, and no shard appears twice.
    pub fn open(dirs: &[PathBuf], allow_incomplete: bool) -> Result<Self> {
        if dirs.is_empty() {
            return Err(RequestError::NoRuns.into());
        }
        let mut runs: Vec<RunInput> = Vec::new();
        for dir in dirs {
            let manifest = Manifest::load(dir)?.ok_or_else(|| {
                StatsError::run(
                    dir,
                    format!(
                        "no manifest.json: not an extraction run (schema version {SCHEMA_VERSION})"
                    ),
                )
            })?;
            let manifest_path = dir.join(census_format::run::manifest::MANIFEST_FILE);
            census_model::family::check_config(
                &manifest.config.model.config,
                &manifest_path.display().to_string(),
            )?;
            if !manifest.complete && !allow_incomplete {
                return Err(StatsError::run(
                    dir,
                    format!(
                        "incomplete ({} of its parts committed): finish it by rerunning the \
                         extraction, or pass --allow-incomplete to analyse the committed parts",
                        manifest.parts.len()
                    ),
                ));
            }
            if manifest.parts.is_empty() {
                return Err(StatsError::run(dir, "holds no committed part"));
            }
            if let Some(first) = runs.first() {
                check_compatible(first, dir, &manifest)?;
            }
            if let Some(twin) = runs.iter().find(|r| {
                r.manifest.run_id == manifest.run_id
                    && r.manifest.config.shard == manifest.config.shard
            }) {
                return Err(StatsError::run(
                    dir,
                    format!(
                        "is the same run and shard as {} (its tokens would count twice)",
                        twin.dir.display()
                    ),
                ));
            }
            crate::shared_sequences::check_disjoint(&runs, dir, &manifest)?;
            runs.push(RunInput {
                dir: dir.clone(),
                manifest,
            });
        }
        if runs
            .iter()
            .any(|r| r.manifest.parts.iter().any(|p| p.files.is_empty()))
        {
            tracing::warn!(
                "some runs were written before part checksums were recorded: their parts are \
                 checked by footer only"
            );
        }
        let set = Self {
            runs,
            verify_parts: true,
            selection: None,
            shuffle: None,
        };
        set.warn_missing_shards();
        Ok(set)
    }

    /// The model configuration of the runs.
    pub fn model_config(&self) -> &ModelConfig {
        &self.runs[0].manifest.config.model.config
    }

    /// Where the model came from (hub id or path, as the first run recorded it).
    pub fn model_source(&self) -> &str {
        &self.runs[0].manifest.config.model.source
    }

    /// The weight files the runs were made with.
    pub fn weight_files(&self) -> &[FileFingerprint] {
        &self.runs[0].manifest.config.model.weight_files
    }

    /// What the runs' sequences start with (one for all: mixed runs are refused).
    pub fn sequence_start(&self) -> SequenceStart {
        self.runs[0].manifest.config.sequence_start
    }

    /// The position of the runs' first text token: 1 after a BOS, 0 without.
    pub fn text_start(&self) -> u16 {
        self.sequence_start().text_start()
    }

    /// The recorded layers.
    pub fn layers(&self) -> Range<usize> {
        let [start, end] = self.runs[0].manifest.config.layers;
        start..end
    }

    /// The longest sequence any run allows (`</s>` included).
    pub fn max_seq_len(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.manifest.config.sequences.max_seq_len)
            .max()
            .unwrap_or(0)
    }

    /// Whether every run holds only sequences of one full length (every position equally often).
    pub fn full_length(&self) -> bool {
        let lengths: BTreeSet<usize> = self
            .runs
            .iter()
            .map(|r| r.manifest.config.sequences.max_seq_len)
            .collect();
        lengths.len() == 1
            && self
                .runs
                .iter()
                .all(|r| r.manifest.config.sequences.full_length)
    }

    /// Every committed part, run by run, by part number (with a selection, only the parts
    /// that contribute a sequence, and their selected rows).
    pub fn parts(&self) -> Vec<PartRef> {
        let mut parts = Vec::new();
        for (run, input) in self.runs.iter().enumerate() {
            let mut committed = input.manifest.parts.clone();
            committed.sort_by_key(|p| p.index);
            parts.extend(committed.iter().filter_map(|p| {
                let rows = match &self.selection {
                    None => p.rows,
                    Some(selection) => selection.get(&(run, p.index))?.rows,
                };
                Some(PartRef {
                    run,
                    part: p.index,
                    rows,
                })
            }));
        }
        parts
    }

    /// The sequences `part` contributes, when the analysis is restricted.
    pub fn kept(&self, part: PartRef) -> Option<&BTreeSet<u64>> {
        self.selection.as_ref().map(|s| {
            s.get(&(part.run, part.part))
                .map_or(&NOTHING, |selected| &selected.sequences)
        })
    }

    /// Restricts the analysis to the sequences of `selection`'s domains (all when empty) and,
    /// in run and part order, to whole sequences while their tokens (`</s>` included) stay
    /// within its token budget. Reads every token part once; a domain no run holds is an error
    /// naming the domains there are. `flags` names the options in messages (`--domains`, …).
    pub fn restrict(&mut self, selection: &DataSelection, flags: &str) -> Result<()> {
        if selection.is_everything() {
            return Ok(());
        }
        let domains = &selection.domains;
        let known = self.domains();
        if let Some(unknown) = domains.iter().find(|d| !known.contains(d)) {
            return Err(RequestError::UnknownDomain {
                flags: flags.to_string(),
                domain: unknown.clone(),
                known,
            }
            .into());
        }
        let mut budget = selection.token_budget.unwrap_or(u64::MAX);
        let mut selected: BTreeMap<(usize, u32), Selected> = BTreeMap::new();
        'parts: for part in self.parts() {
            for (seq, domain, len) in self.sequences_of(part)? {
                if !domains.is_empty() && !domains.contains(&domain) {
                    continue;
                }
                if len > budget {
                    break 'parts;
                }
                budget -= len;
                let entry = selected.entry((part.run, part.part)).or_default();
                entry.sequences.insert(seq);
                entry.rows += len;
            }
        }
        if selected.is_empty() {
            return Err(RequestError::EmptySelection {
                flags: flags.to_string(),
            }
            .into());
        }
        self.selection = Some(selected);
        Ok(())
    }

    /// The domains the runs' manifests record, sorted.
    pub fn domains(&self) -> Vec<String> {
        let known: BTreeSet<&String> = self
            .runs
            .iter()
            .flat_map(|r| r.manifest.domains.iter())
            .collect();
        known.into_iter().cloned().collect()
    }

    /// The set cut into one set per domain of its (selected) sequences, by domain name; each
    /// holds exactly the sequences of its domain. Reads every token part once.
    pub fn split_by_domain(&self) -> Result<Vec<(String, RunSet)>> {
        let mut by_domain: BTreeMap<String, BTreeMap<(usize, u32), Selected>> = BTreeMap::new();
        for part in self.parts() {
            for (seq, domain, len) in self.sequences_of(part)? {
                let entry = by_domain
                    .entry(domain)
                    .or_default()
                    .entry((part.run, part.part))
                    .or_default();
                entry.sequences.insert(seq);
                entry.rows += len;
            }
        }
        Ok(by_domain
            .into_iter()
            .map(|(domain, selection)| {
                let set = RunSet {
                    runs: self.runs.clone(),
                    verify_parts: self.verify_parts,
                    selection: Some(selection),
                    shuffle: self.shuffle,
                };
                (domain, set)
            })
            .collect())
    }

    /// The set cut in two halves of its (selected) sequences, each sequence in the half
    /// [`crate::seeded::half_of`] gives it under `seed`. Reads every token part once.
    pub fn split_in_halves(&self, seed: u64) -> Result<[RunSet; 2]> {
        let mut halves: [BTreeMap<(usize, u32), Selected>; 2] = Default::default();
        for part in self.parts() {
            for (seq, _, len) in self.sequences_of(part)? {
                let half = crate::seeded::half_of(seq, seed);
                let entry = halves[half].entry((part.run, part.part)).or_default();
                entry.sequences.insert(seq);
                entry.rows += len;
            }
        }
        Ok(halves.map(|selection| RunSet {
            runs: self.runs.clone(),
            verify_parts: self.verify_parts,
            selection: Some(selection),
            shuffle: self.shuffle,
        }))
    }

    /// The sequences `part` contributes (all of them, or those the selection keeps), each as
    /// (sequence id, domain, tokens), in file order.
    fn sequences_of(&self, part: PartRef) -> Result<Vec<(u64, String, u64)>> {
        let path = self.tokens_path(part);
        let rows =
            census_format::run::tables::read_tokens(&path, self.part_check(part, None).as_ref())?;
        let kept = self.kept(part);
        let mut sequences = Vec::new();
        let mut i = 0;
        while i < rows.seq.len() {
            let seq = rows.seq[i];
            let end = (i..rows.seq.len())
                .find(|&j| rows.seq[j] != seq)
                .unwrap_or(rows.seq.len());
            if kept.is_none_or(|k| k.contains(&seq)) {
                sequences.push((seq, rows.domain[i].clone(), (end - i) as u64));
            }
            i = end;
        }
        Ok(sequences)
    }

    /// Tokens in all committed parts (`</s>` prefixes included).
    pub fn tokens(&self) -> u64 {
        self.parts().iter().map(|p| p.rows).sum()
    }

    /// What `part`'s run records.
    pub fn record(&self, part: PartRef) -> RecordMode {
        self.runs[part.run].manifest.config.record
    }

    /// The directories of the runs that record counts (`--record counts`).
    pub fn counts_runs(&self) -> Vec<&Path> {
        self.runs
            .iter()
            .filter(|r| r.manifest.config.record == RecordMode::Counts)
            .map(|r| r.dir.as_path())
            .collect()
    }

    /// The domains whose sequences `part` contributes whole, when the analysis is restricted
    /// (none: every domain). A counts run holds counts per part and domain, so a selection that
    /// keeps some of a domain's sequences in a part and drops others (a token budget) cannot be
    /// applied to it, and is refused.
    pub fn kept_domains(&self, part: PartRef) -> Result<Option<BTreeSet<String>>> {
        let Some(kept) = self.kept(part) else {
            return Ok(None);
        };
        let path = self.tokens_path(part);
        let rows =
            census_format::run::tables::read_tokens(&path, self.part_check(part, None).as_ref())?;
        let mut by_domain: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for (seq, domain) in rows.seq.iter().zip(&rows.domain) {
            let entry = by_domain.entry(domain).or_insert((false, false));
            if kept.contains(seq) {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
        if let Some((domain, _)) = by_domain
            .iter()
            .find(|(_, (some, others))| *some && *others)
        {
            return Err(StatsError::run(
                &self.runs[part.run].dir,
                format!(
                    "records counts (--record counts), per part and domain: the selection keeps \
                     only some sequences of domain '{domain}' in part {} (a token budget), which \
                     its counts cannot give; drop the token budget or use a shards run",
                    part.part
                ),
            ));
        }
        Ok(Some(
            by_domain
                .into_iter()
                .filter(|(_, (some, _))| *some)
                .map(|(d, _)| d.to_string())
                .collect(),
        ))
    }

    /// The count file of a part in `layer` (counts runs).
    pub fn counts_path(&self, part: PartRef, layer: usize) -> PathBuf {
        PartFile::Counts(layer).path(&self.runs[part.run].dir, part.part)
    }

    /// What `file` of `part` must be, or none when parts are not verified.
    pub fn part_file_check(&self, part: PartRef, file: PartFile) -> Option<PartCheck<'_>> {
        if !self.verify_parts {
            return None;
        }
        let manifest = &self.runs[part.run].manifest;
        let committed = manifest.parts.iter().find(|p| p.index == part.part)?;
        Some(PartCheck::of_file(manifest, committed, file))
    }

    /// The set with its text tokens read shuffled within each sequence under `seed`.
    pub fn shuffled(&self, seed: u64) -> RunSet {
        RunSet {
            shuffle: Some(seed),
            ..self.clone()
        }
    }

    /// The tokens of `part` as counting reads them: checked against its manifest, limited to
    /// the sequences the set keeps, and shuffled where the set shuffles.
    pub fn read_tokens(&self, part: PartRef) -> Result<PartTokens> {
        let mut tokens = PartTokens::read(
            &self.tokens_path(part),
            self.part_check(part, None).as_ref(),
            &self.part_limits(part),
            self.text_start(),
        )?;
        if let Some(keep) = self.kept(part) {
            tokens = tokens.select(keep);
        }
        if let Some(seed) = self.shuffle {
            tokens = tokens.shuffled(seed);
        }
        Ok(tokens)
    }

    /// The token file of a part.
    pub fn tokens_path(&self, part: PartRef) -> PathBuf {
        census_format::run::tables::tokens_path(&self.runs[part.run].dir, part.part)
    }

    /// The activation file of a part in `layer`.
    pub fn activations_path(&self, part: PartRef, layer: usize) -> PathBuf {
        census_format::run::tables::activations_path(&self.runs[part.run].dir, layer, part.part)
    }

    /// What the part file of `part` (`layer`: an activation file; none: the token file) must
    /// be, or none when parts are not verified.
    pub fn part_check(&self, part: PartRef, layer: Option<usize>) -> Option<PartCheck<'_>> {
        if !self.verify_parts {
            return None;
        }
        let manifest = &self.runs[part.run].manifest;
        let committed = manifest.parts.iter().find(|p| p.index == part.part)?;
        Some(PartCheck::of(manifest, committed, layer))
    }

    /// What the values of `part`'s files must stay below.
    pub fn part_limits(&self, part: PartRef) -> PartLimits {
        let config = self.model_config();
        PartLimits {
            vocab: config.vocab_size,
            positions: self.runs[part.run].manifest.config.sequences.max_seq_len,
            neurons: config.ffn_dim,
        }
    }

    /// Logs shards of a sharded run that are not among the inputs.
    fn warn_missing_shards(&self) {
        let mut by_run: std::collections::BTreeMap<String, (u32, BTreeSet<u32>)> =
            Default::default();
        for run in &self.runs {
            let shard = run.manifest.config.shard;
            let entry = by_run
                .entry(run.manifest.config.sharded_run_id())
                .or_insert((shard.count, BTreeSet::new()));
            entry.1.insert(shard.index);
        }
        for (run_id, (count, present)) in by_run {
            if present.len() < count as usize {
                let missing: Vec<u32> = (0..count).filter(|i| !present.contains(i)).collect();
                tracing::warn!(
                    run_id = %run_id,
                    ?missing,
                    "some shards of a sharded run are not among the inputs; the analysis covers \
                     the shards given"
                );
            }
        }
    }
}

/// Checks that run `dir` can be pooled with `first`.
fn check_compatible(first: &RunInput, dir: &Path, manifest: &Manifest) -> Result<()> {
    let (a, b) = (&first.manifest.config, &manifest.config);
    let differs = |what: &str| {
        Err(StatsError::run(
            dir,
            format!(
                "differs from {} in {what}; only runs of one model with the same recorded \
                 layers are analysed together",
                first.dir.display()
            ),
        ))
    };
    if a.model.config != b.model.config {
        return differs("the model configuration");
    }
    if a.model.weight_files != b.model.weight_files {
        return differs("the model weights");
    }
    if a.layers != b.layers {
        return differs("the recorded layer range");
    }
    if a.dtype != b.dtype {
        return differs("the compute dtype");
    }
    if a.fire_threshold != b.fire_threshold {
        return differs("the fire threshold");
    }
    if a.sequence_start != b.sequence_start {
        return differs("what its sequences start with (a BOS or text)");
    }
    Ok(())
}
