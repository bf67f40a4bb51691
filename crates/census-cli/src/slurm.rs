//! A pipeline as Slurm jobs (`run --slurm`): one job per stage that is not up to date, each
//! running that stage alone (`run --stage KEY`) with `--dependency=afterok` on the jobs whose
//! outputs it reads; `--submit` hands them to `sbatch`. Resources come from the pipeline's
//! `[slurm]` table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The directory under `--out` the job scripts are written to.
pub const JOBS_DIR: &str = "slurm";

/// The first line after the shebang of every script written here: what may be replaced.
const MARKER: &str = "# neuron-census job script (run --slurm); rewritten by each run --slurm";

/// `[slurm]`: the resources every job asks for; extraction jobs also get `gpus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlurmTable {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// GPUs of each extraction job (`--gpus`); with more than one, the extraction spreads over
    /// them (`--devices cuda:all`).
    pub gpus: Option<u32>,
    /// `--cpus-per-task` of every job.
    pub cpus_per_task: Option<u32>,
    /// `--time` of every job (`HH:MM:SS`).
    pub time: Option<String>,
    /// `--mem` of every job (`64G`).
    pub mem: Option<String>,
}

impl SlurmTable {
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
    /// The stage's key.
    pub key: String,
    /// The script.
    pub script: PathBuf,
    /// The keys of the jobs it waits for.
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

/// The script of `job`.
pub fn script(job: &Job, table: &SlurmTable, call: &Invocation, logs: &Path) -> String {
    let name = job_name(&job.key);
    let mut lines = vec![
        "#!/usr/bin/env bash".to_string(),
        MARKER.to_string(),
        format!("#SBATCH --job-name={name}"),
        format!("#SBATCH --output={}/%x-%j.log", logs.display()),
        format!("#SBATCH --chdir={}", call.workdir.display()),
    ];
    let settings = [
        ("partition", table.partition.clone()),
        ("account", table.account.clone()),
        ("cpus-per-task", table.cpus_per_task.map(|c| c.to_string())),
        ("time", table.time.clone()),
        ("mem", table.mem.clone()),
        (
            "gpus",
            table.gpus.filter(|_| job.extracts).map(|g| g.to_string()),
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
    command.extend(["--stage".to_string(), quoted(&job.key)]);
    let spread = job.extracts
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
    for (i, job) in jobs.iter().enumerate() {
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
        let waits: Vec<&str> = job
            .after
            .iter()
            .filter_map(|key| ids.get(key).map(String::as_str))
            .collect();
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
        ids.insert(job.key.clone(), id.clone());
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
        let job = |key: &str, extracts| Job {
            key: key.into(),
            extracts,
            after: vec![],
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
}
