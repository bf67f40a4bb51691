//! A pipeline as Slurm jobs (`run --slurm`): one job per stage that is not up to date, each
//! running that stage alone (`run --stage KEY`) with `--dependency=afterok` on the jobs whose
//! outputs it reads; the shards of an extraction and the layer ranges of an analysis
//! (`[split]`) are the tasks of one job array. `--submit` hands them to `sbatch`. Resources come
//! from the pipeline's `[slurm]` table, or from `--slurm-*` flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The directory under `--out` the job scripts are written to.
pub const JOBS_DIR: &str = "slurm";

/// The first line after the shebang of every script written here: what may be replaced.
const MARKER: &str = "# neuron-census job script (run --slurm); rewritten by each run --slurm";

/// `[slurm]` (or the `--slurm-*` flags of `run`): the resources every job asks for;
/// extraction jobs also get `gpus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlurmTable {
    /// Slurm jobs: their `--partition` [default: the pipeline's `[slurm]` partition].
    #[arg(long = "slurm-partition", value_name = "NAME", requires = "slurm")]
    pub partition: Option<String>,
    /// Slurm jobs: their `--account`.
    #[arg(long = "slurm-account", value_name = "NAME", requires = "slurm")]
    pub account: Option<String>,
    /// Slurm jobs: the GPUs of each extraction job (`--gpus`); with more than one, the
    /// extraction spreads over them (`--devices cuda:all`).
    #[arg(long = "slurm-gpus", value_name = "N", requires = "slurm")]
    pub gpus: Option<u32>,
    /// Slurm jobs: `--cpus-per-task` of every job.
    #[arg(long = "slurm-cpus-per-task", value_name = "N", requires = "slurm")]
    pub cpus_per_task: Option<u32>,
    /// Slurm jobs: `--time` of every job (`HH:MM:SS`).
    #[arg(long = "slurm-time", value_name = "TIME", requires = "slurm")]
    pub time: Option<String>,
    /// Slurm jobs: `--mem` of every job (`64G`).
    #[arg(long = "slurm-mem", value_name = "SIZE", requires = "slurm")]
    pub mem: Option<String>,
}

impl SlurmTable {
    /// These resources, each one not given taken from `table`.
    pub fn or(&self, table: &Self) -> Self {
        Self {
            partition: self.partition.clone().or_else(|| table.partition.clone()),
            account: self.account.clone().or_else(|| table.account.clone()),
            gpus: self.gpus.or(table.gpus),
            cpus_per_task: self.cpus_per_task.or(table.cpus_per_task),
            time: self.time.clone().or_else(|| table.time.clone()),
            mem: self.mem.clone().or_else(|| table.mem.clone()),
        }
    }

    /// Refuses a value that cannot stand on an `#SBATCH` line (empty, or holding whitespace or
    /// control characters) and a count of zero, naming the key.
    pub fn check(&self) -> Result<()> {
        let texts = [
            ("partition", &self.partition),
            ("account", &self.account),
            ("time", &self.time),
            ("mem", &self.mem),
        ];
        for (key, value) in texts {
            if let Some(value) = value
                && (value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                bail!("[slurm] {key} = {value:?}: one word, as sbatch takes it");
            }
        }
        for (key, value) in [("gpus", self.gpus), ("cpus-per-task", self.cpus_per_task)] {
            if value == Some(0) {
                bail!("[slurm] {key} = 0: at least 1, or leave it out");
            }
        }
        Ok(())
    }
}

/// One stage as a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The stage's key in the ledger (`extract/opt-125m`).
    pub key: String,
    /// Whether it computes on the GPUs (an extraction) or on the host.
    pub extracts: bool,
    /// The keys of the jobs whose outputs it reads.
    pub after: Vec<String>,
    /// Under `[split]`, the task of a job array it is.
    pub array: Option<ArrayTask>,
}

/// A stage that is one task of a job array: its key is `{prefix}{index}{suffix}`
/// (`extract/opt-13b/shard-3-of-8`), and the array's tasks differ only in `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayTask {
    /// The key before the task's index (`extract/opt-13b/shard-`).
    pub prefix: String,
    /// The task's index in the array.
    pub index: u32,
    /// The key after it (`-of-8`).
    pub suffix: String,
}

impl ArrayTask {
    /// Task `index` of the array of keys `{prefix}N{suffix}`.
    pub fn new(prefix: String, index: u32, suffix: String) -> Self {
        Self {
            prefix,
            index,
            suffix,
        }
    }

    /// The stage key of the task.
    pub fn key(&self) -> String {
        format!("{}{}{}", self.prefix, self.index, self.suffix)
    }

    /// The array's name, as a key (`extract/opt-13b/shards-of-8`).
    fn array_key(&self) -> String {
        format!("{}s{}", self.prefix.trim_end_matches('-'), self.suffix)
    }

    /// Whether `other` is a task of the same array.
    fn same_array(&self, other: &Self) -> bool {
        self.prefix == other.prefix && self.suffix == other.suffix
    }
}

/// What one script submits: a stage, or the tasks of a job array (consecutive jobs of one
/// array).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batch {
    /// The stage's key, or the array's (`extract/opt-13b/shards-of-8`).
    key: String,
    /// The stage keys it runs.
    keys: Vec<String>,
    extracts: bool,
    /// The keys it waits for, outside itself.
    after: Vec<String>,
    /// For an array: the key around the task index, and the indices due.
    array: Option<(String, String, Vec<u32>)>,
}

impl Batch {
    /// For an array, its task indices as `--array` takes them (`0,1,3`).
    fn indices(&self) -> Option<String> {
        let (_, _, indices) = self.array.as_ref()?;
        let texts: Vec<String> = indices.iter().map(u32::to_string).collect();
        Some(texts.join(","))
    }
}

/// `jobs` as scripts: each on its own, but the tasks of one array together.
fn batches(jobs: &[Job]) -> Vec<Batch> {
    let mut batches: Vec<(Batch, Option<ArrayTask>)> = Vec::new();
    for job in jobs {
        if let (Some(task), Some((batch, Some(first)))) = (&job.array, batches.last_mut())
            && task.same_array(first)
        {
            batch.keys.push(job.key.clone());
            if let Some((_, _, indices)) = &mut batch.array {
                indices.push(task.index);
            }
            for key in &job.after {
                if !batch.after.contains(key) {
                    batch.after.push(key.clone());
                }
            }
            continue;
        }
        let batch = Batch {
            key: job
                .array
                .as_ref()
                .map_or_else(|| job.key.clone(), ArrayTask::array_key),
            keys: vec![job.key.clone()],
            extracts: job.extracts,
            after: job.after.clone(),
            array: job
                .array
                .as_ref()
                .map(|t| (t.prefix.clone(), t.suffix.clone(), vec![t.index])),
        };
        batches.push((batch, job.array.clone()));
    }
    batches.into_iter().map(|(batch, _)| batch).collect()
}

/// How every job calls the command: the binary and the `run` flags that shape the plan.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The `neuron-census` (or `xtask`) binary.
    pub binary: PathBuf,
    /// The directory the jobs start in (where `run --slurm` was called).
    pub workdir: PathBuf,
    /// `run` flags every job repeats (`--pipeline`, `--out`, `--model`, `--data`, `--devices`).
    pub flags: Vec<String>,
}

/// A job script written, and the job `sbatch` gave it.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The stage's key, or, for a job array, the array's (`extract/opt-13b/shards-of-8`).
    pub key: String,
    /// The stage keys it runs: its stage, or each task of its array.
    pub keys: Vec<String>,
    /// For a job array, the task indices it runs (`0,1,3`: those not up to date).
    pub array: Option<String>,
    /// The script.
    pub script: PathBuf,
    /// The keys of the stages it waits for.
    pub after: Vec<String>,
    /// The Slurm job id, once submitted.
    pub job_id: Option<String>,
}

/// The job name of stage `key` (`census-extract-opt-125m`).
fn job_name(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("census-{name}")
}

/// `text` quoted for a POSIX shell.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The script of `batch`.
fn script(batch: &Batch, table: &SlurmTable, call: &Invocation, logs: &Path) -> String {
    let name = job_name(&batch.key);
    let log = if batch.array.is_some() {
        "%x-%A_%a.log"
    } else {
        "%x-%j.log"
    };
    let mut lines = vec![
        "#!/usr/bin/env bash".to_string(),
        MARKER.to_string(),
        format!("#SBATCH --job-name={name}"),
        format!("#SBATCH --output={}/{log}", logs.display()),
        format!("#SBATCH --chdir={}", call.workdir.display()),
    ];
    let indices = batch.indices();
    let settings = [
        ("array", indices),
        ("partition", table.partition.clone()),
        ("account", table.account.clone()),
        ("cpus-per-task", table.cpus_per_task.map(|c| c.to_string())),
        ("time", table.time.clone()),
        ("mem", table.mem.clone()),
        (
            "gpus",
            table.gpus.filter(|_| batch.extracts).map(|g| g.to_string()),
        ),
    ];
    for (flag, value) in settings {
        if let Some(value) = value {
            lines.push(format!("#SBATCH --{flag}={value}"));
        }
    }
    lines.push("set -euo pipefail".to_string());
    let mut command = vec![
        quoted(&call.binary.display().to_string()),
        "run".to_string(),
    ];
    command.extend(call.flags.iter().map(|f| quoted(f)));
    let stage = match &batch.array {
        Some((prefix, suffix, _)) => format!(
            "{}\"${{SLURM_ARRAY_TASK_ID:?run as a task of a job array}}\"{}",
            quoted(prefix),
            quoted(suffix)
        ),
        None => quoted(&batch.key),
    };
    command.extend(["--stage".to_string(), stage]);
    let spread = batch.extracts
        && table.gpus.is_some_and(|g| g > 1)
        && !call.flags.iter().any(|f| f == "--devices");
    if spread {
        command.extend(["--devices".to_string(), "cuda:all".to_string()]);
    }
    lines.push(format!("exec {}", command.join(" ")));
    lines.join("\n") + "\n"
}

/// Writes the scripts of `jobs` into `dir` (created), numbered in the order they run, after
/// removing the scripts an earlier `run --slurm` wrote there (nothing else is touched).
pub fn write_scripts(
    dir: &Path,
    jobs: &[Job],
    table: &SlurmTable,
    call: &Invocation,
) -> Result<Vec<Written>> {
    table.check()?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let ours = path.extension().is_some_and(|e| e == "sh")
            && std::fs::read_to_string(&path).is_ok_and(|text| text.lines().nth(1) == Some(MARKER));
        if ours {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let mut written = Vec::new();
    for (i, job) in batches(jobs).iter().enumerate() {
        let path = dir.join(format!("{:03}-{}.sh", i + 1, job_name(&job.key)));
        if path.exists() {
            bail!(
                "{} is in the place of a job script and was not written by neuron-census; move \
                 it away",
                path.display()
            );
        }
        census_format::write_atomic(&path, script(job, table, call, &logs).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(Written {
            key: job.key.clone(),
            keys: job.keys.clone(),
            array: job.indices(),
            script: path,
            after: job.after.clone(),
            job_id: None,
        });
    }
    Ok(written)
}

/// Submits the scripts in order with `sbatch` (from `PATH`), each after the jobs it reads;
/// fills in their job ids.
pub fn submit(written: &mut [Written]) -> Result<()> {
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for job in written.iter_mut() {
        let mut waits: Vec<&str> = Vec::new();
        for id in job.after.iter().filter_map(|key| ids.get(key)) {
            if !waits.contains(&id.as_str()) {
                waits.push(id);
            }
        }
        let mut sbatch = Command::new("sbatch");
        sbatch.arg("--parsable");
        if !waits.is_empty() {
            sbatch.arg(format!("--dependency=afterok:{}", waits.join(":")));
        }
        sbatch.arg(&job.script);
        let output = sbatch.output().with_context(|| {
            format!(
                "running sbatch for {} (is Slurm installed here? the scripts are written; \
                 submit them by hand in their order)",
                job.script.display()
            )
        })?;
        if !output.status.success() {
            bail!(
                "sbatch refused {}: {}",
                job.script.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        // `--parsable` prints `id` or `id;cluster`.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let id = stdout
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        if id.is_empty() {
            bail!("sbatch gave no job id for {}", job.script.display());
        }
        tracing::info!(stage = %job.key, job = %id, after = ?waits, "submitted");
        for key in &job.keys {
            ids.insert(key.clone(), id.clone());
        }
        job.job_id = Some(id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_cannot_stand_on_an_sbatch_line_are_named() {
        let bad = [
            (
                SlurmTable {
                    partition: Some("gpu\n#SBATCH --x".into()),
                    ..Default::default()
                },
                "partition",
            ),
            (
                SlurmTable {
                    time: Some(String::new()),
                    ..Default::default()
                },
                "time",
            ),
            (
                SlurmTable {
                    gpus: Some(0),
                    ..Default::default()
                },
                "gpus = 0",
            ),
            (
                SlurmTable {
                    cpus_per_task: Some(0),
                    ..Default::default()
                },
                "cpus-per-task = 0",
            ),
        ];
        for (table, named) in bad {
            let e = table.check().unwrap_err().to_string();
            assert!(e.contains(named), "{e}");
        }
        SlurmTable {
            partition: Some("gpu".into()),
            gpus: Some(8),
            ..Default::default()
        }
        .check()
        .unwrap();
    }

    #[test]
    fn a_script_asks_for_the_tables_resources_and_runs_its_stage_alone() {
        let table = SlurmTable {
            partition: Some("gpu".into()),
            gpus: Some(8),
            time: Some("12:00:00".into()),
            ..Default::default()
        };
        let call = Invocation {
            binary: "/opt/bin/neuron-census".into(),
            workdir: "/home/me/exp".into(),
            flags: vec!["--pipeline".into(), "it's.toml".into()],
        };
        let job = |key: &str, extracts| {
            batches(&[Job {
                key: key.into(),
                extracts,
                after: vec![],
                array: None,
            }])
            .remove(0)
        };
        let extract = script(
            &job("extract/opt-13b", true),
            &table,
            &call,
            Path::new("/l"),
        );
        assert!(extract.contains("#SBATCH --job-name=census-extract-opt-13b\n"));
        assert!(extract.contains("#SBATCH --partition=gpu\n#SBATCH --time=12:00:00\n"));
        assert!(extract.contains("#SBATCH --gpus=8\n"));
        assert!(extract.ends_with(
            "exec '/opt/bin/neuron-census' run '--pipeline' 'it'\\''s.toml' --stage \
             'extract/opt-13b' --devices cuda:all\n"
        ));
        let report = script(&job("report", false), &table, &call, Path::new("/l"));
        assert!(!report.contains("--gpus") && !report.contains("--devices"));
    }

    #[test]
    fn the_tasks_of_an_array_are_one_script_that_runs_the_task_slurm_names() {
        let shard = |index: u32, after: &[&str]| Job {
            key: format!("extract/m/shard-{index}-of-4"),
            extracts: true,
            after: after.iter().map(|k| k.to_string()).collect(),
            array: Some(ArrayTask::new(
                "extract/m/shard-".into(),
                index,
                "-of-4".into(),
            )),
        };
        let merge = Job {
            key: "merge/m".into(),
            extracts: false,
            after: vec![
                "extract/m/shard-1-of-4".into(),
                "extract/m/shard-3-of-4".into(),
            ],
            array: None,
        };
        let planned = batches(&[shard(1, &["train/x"]), shard(3, &["train/x"]), merge]);
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0].key, "extract/m/shards-of-4");
        assert_eq!(
            planned[0].keys,
            ["extract/m/shard-1-of-4", "extract/m/shard-3-of-4"]
        );
        assert_eq!(planned[0].after, ["train/x"]);
        assert_eq!(planned[0].indices().as_deref(), Some("1,3"));
        let call = Invocation {
            binary: "/b".into(),
            workdir: "/w".into(),
            flags: vec![],
        };
        let text = script(&planned[0], &SlurmTable::default(), &call, Path::new("/l"));
        assert!(text.contains("#SBATCH --array=1,3\n"), "{text}");
        assert!(
            text.contains("#SBATCH --output=/l/%x-%A_%a.log\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "--stage 'extract/m/shard-'\"${SLURM_ARRAY_TASK_ID:?run as a task of a job \
             array}\"'-of-4'\n"
            ),
            "{text}"
        );
        // The shell gives the task its own stage key.
        let output = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "echo {}",
                    text.lines()
                        .last()
                        .unwrap()
                        .split("--stage ")
                        .nth(1)
                        .unwrap()
                ),
            ])
            .env("SLURM_ARRAY_TASK_ID", "3")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "extract/m/shard-3-of-4\n"
        );
        assert!(planned[1].array.is_none() && planned[1].indices().is_none());
    }

    #[test]
    fn flags_replace_the_tables_resources_one_by_one() {
        let table = SlurmTable {
            partition: Some("gpu".into()),
            time: Some("1:00:00".into()),
            ..Default::default()
        };
        let flags = SlurmTable {
            time: Some("4:00:00".into()),
            gpus: Some(2),
            ..Default::default()
        };
        let both = flags.or(&table);
        assert_eq!(both.partition.as_deref(), Some("gpu"));
        assert_eq!(both.time.as_deref(), Some("4:00:00"));
        assert_eq!(both.gpus, Some(2));
    }
}
