//! Mutated inputs, many at a time: valid runs, analyses and pipeline files with bytes flipped,
//! files truncated, JSON cut short or retyped, Parquet columns dropped or retyped, and parts
//! swapped. Whatever the mutation, no command panics, a failure names a file, and no output that
//! existed before a command changes unless the command succeeds. Seeded, so every failure can be
//! replayed (the case's seed and mutation are in the message).

mod common;
use census_testkit::planted;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use census_testkit::SeededRng;
use common::{changed, copy_dir, model, sample, snapshot, strings, world, xtask_in};

/// Cases per input kind (`NEURON_CENSUS_FUZZ_CASES` sets another number).
fn cases() -> u64 {
    std::env::var("NEURON_CENSUS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = snapshot(dir).into_keys().map(|p| dir.join(p)).collect();
    all.sort();
    all
}

/// Rewrites a Parquet file with one column dropped or given another type.
fn retype_column(path: &Path, rng: &mut SeededRng) -> String {
    let batch = planted::read_table(path);
    let schema = batch.schema();
    let target = rng.below(schema.fields().len());
    let drop = rng.below(2) == 0;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, (field, column)) in schema.fields().iter().zip(batch.columns()).enumerate() {
        if i != target {
            fields.push(Field::new(field.name(), column.data_type().clone(), true));
            columns.push(column.clone());
        } else if !drop {
            let other: ArrayRef = match column.data_type() {
                DataType::List(_) | DataType::Dictionary(_, _) => Arc::new(
                    Int64Array::from_iter_values((0..batch.num_rows() as i64).map(|x| x - 1)),
                ),
                _ => arrow::compute::cast(column, &DataType::Utf8).unwrap(),
            };
            fields.push(Field::new(field.name(), other.data_type().clone(), true));
            columns.push(other);
        }
    }
    let name = schema.field(target).name().clone();
    let batch = if columns.is_empty() {
        RecordBatch::new_empty(Arc::new(Schema::empty()))
    } else {
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    format!(
        "{} column '{name}'",
        if drop { "dropped" } else { "retyped" }
    )
}

/// Applies one random mutation to one of `candidates`; returns what it did.
fn mutate(candidates: &[PathBuf], rng: &mut SeededRng) -> String {
    let path = &candidates[rng.below(candidates.len())];
    let name = path.display().to_string();
    let bytes = std::fs::read(path).unwrap();
    let is_parquet = name.ends_with(".parquet");
    let is_json = name.ends_with(".json");
    match rng.below(5) {
        0 => {
            let mut bytes = bytes;
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            std::fs::write(path, bytes).unwrap();
            format!("{flips} bytes flipped in {name}")
        }
        1 => {
            let keep = rng.below(bytes.len());
            std::fs::write(path, &bytes[..keep]).unwrap();
            format!("{name} cut to {keep} bytes")
        }
        2 if is_parquet => format!("{name}: {}", retype_column(path, rng)),
        3 if is_json => {
            // A number becomes a string, or a string a number.
            let text = String::from_utf8(bytes).unwrap();
            let retyped = match text.find(": ") {
                Some(_) if rng.below(2) == 0 => text.replacen(": 1", ": \"1\"", 1),
                _ => text.replacen(": \"", ": 7, \"x\": \"", 1),
            };
            std::fs::write(path, retyped).unwrap();
            format!("a value of {name} retyped")
        }
        _ => {
            // Two files swapped.
            let other = &candidates[rng.below(candidates.len())];
            let other_bytes = std::fs::read(other).unwrap();
            std::fs::write(path, other_bytes).unwrap();
            std::fs::write(other, bytes).unwrap();
            format!("{name} swapped with {}", other.display())
        }
    }
}

/// Runs `args` in `dir` after `setup`; checks the three guarantees. `names` are the file and
/// directory names any failure message must mention one of.
fn check_case(
    label: &str,
    dir: &Path,
    args: &[String],
    names: &[&str],
    problems: &mut Vec<String>,
) {
    let before = snapshot(dir);
    let outcome = xtask_in(dir, args, &[]);
    let after = snapshot(dir);
    if outcome.panicked() {
        problems.push(format!("{label}: panicked\n{}", outcome.stderr));
    }
    if !outcome.ok() {
        let error = outcome
            .stderr
            .split("Error:")
            .last()
            .unwrap_or_default()
            .to_string();
        if !names.iter().any(|n| error.contains(n)) {
            problems.push(format!("{label}: the message names no file\n{error}"));
        }
        let lost = changed(&before, &after);
        if !lost.is_empty() {
            problems.push(format!("{label}: a failed command changed {lost:?}"));
        }
    }
}

#[test]
fn mutated_runs_analyses_and_pipelines_never_panic_and_never_lose_outputs() {
    let w = world();
    let mut problems = Vec::new();
    let mut failures = 0;
    for seed in 0..cases() {
        let mut rng = SeededRng::new(seed);

        // A run, analysed over an earlier analysis.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&w.run, &dir.path().join("fuzzrun"));
        copy_dir(&w.analysis, &dir.path().join("fuzzanalysis"));
        let what = mutate(&files(&dir.path().join("fuzzrun")), &mut rng);
        let mut args = strings(&["analyze", "--run", "fuzzrun", "--out", "fuzzanalysis"]);
        if rng.below(2) == 0 {
            args.push("--rewritten-parts".to_string());
        }
        let label = format!("seed {seed}, run: {what}, {args:?}");
        let names = ["fuzzrun", "fuzzanalysis", ".parquet", "manifest.json"];
        let count = problems.len();
        check_case(&label, dir.path(), &args, &names, &mut problems);
        failures += usize::from(problems.len() > count);

        // An analysis, reported over an earlier report.
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&w.analysis, &dir.path().join("fuzzanalysis"));
        copy_dir(&w.report, &dir.path().join("fuzzreport"));
        let what = mutate(&files(&dir.path().join("fuzzanalysis")), &mut rng);
        let args = strings(&[
            "report",
            "--analysis",
            "fuzzanalysis",
            "--out",
            "fuzzreport",
            "--no-png",
        ]);
        let label = format!("seed {seed}, analysis: {what}");
        let names = ["fuzzanalysis", "fuzzreport", ".parquet", ".json"];
        check_case(&label, dir.path(), &args, &names, &mut problems);

        // A pipeline file, run with --force over its finished outputs.
        if seed % 3 == 0 {
            let dir = tempfile::tempdir().unwrap();
            let pipeline = dir.path().join("fuzz.toml");
            std::fs::write(
                &pipeline,
                format!(
                    "name = \"t\"\nmodels = [\"{}\"]\n[extract]\ndata = [\"{}\"]\nmax-seq-len = 48\n[analyze]\nmin-occurrences = 1\n[report]\nno-png = true\n",
                    model(),
                    sample()
                ),
            )
            .unwrap();
            let args = strings(&[
                "run",
                "--pipeline",
                pipeline.to_str().unwrap(),
                "--out",
                dir.path().join("fuzzout").to_str().unwrap(),
                "--force",
            ]);
            let done = xtask_in(dir.path(), &args, &[]);
            assert!(done.ok(), "{}", done.stderr);
            let what = mutate(std::slice::from_ref(&pipeline), &mut rng);
            let label = format!("seed {seed}, pipeline: {what}");
            check_case(
                &label,
                dir.path(),
                &args,
                &["fuzz.toml", "fuzzout"],
                &mut problems,
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert_eq!(failures, 0);
}

/// The value of the first `key` anywhere in `value`.
fn find_key<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    let object = value.as_object()?;
    object
        .get(key)
        .or_else(|| object.values().find_map(|v| find_key(v, key)))
}

/// A random name for a pipeline table, from pieces that climb out of a directory, hide, or
/// are plain.
fn table_name(rng: &mut SeededRng) -> String {
    const PIECES: [&str; 10] = [
        "x", "..", ".", "/", "\\\\", "victim", "-", "_", "model", " ",
    ];
    let length = 1 + rng.below(6);
    (0..length)
        .map(|_| PIECES[rng.below(PIECES.len())])
        .collect()
}

/// Whether `name` is one a pipeline accepts as a directory name (the documented rule).
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[test]
fn pipeline_table_names_never_reach_outside_out_and_float_options_are_finite() {
    let w = world();
    let mut problems = Vec::new();
    for seed in 0..cases() {
        let mut rng = SeededRng::new(seed);

        // A [train.*] or [runs.*] table with a random name, beside files it must not touch.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("victim/model")).unwrap();
        std::fs::write(dir.path().join("victim/model/weights"), "mine").unwrap();
        let name = table_name(&mut rng);
        let quoted = name.replace('\\', "\\\\");
        // A plain name trains nothing: it names a fast extraction ([runs.*]).
        let tables = if is_plain(&name) || rng.below(2) == 0 {
            format!("[runs.\"{quoted}\"]\nmax-seq-len = 40\n")
        } else {
            format!("[train.\"{quoted}\"]\nsteps = 1\n")
        };
        let models = if tables.starts_with("[train") {
            format!("\"trained:{quoted}\"")
        } else {
            format!("\"{}\"", model())
        };
        std::fs::write(
            dir.path().join("p.toml"),
            format!(
                "name = \"t\"\nmodels = [{models}]\n[extract]\ndata = [\"{}\"]\nmax-seq-len = 48\n{tables}[report]\nno-png = true\n",
                sample()
            ),
        )
        .unwrap();
        let out = dir.path().join("out/inner");
        let args = strings(&[
            "run",
            "--pipeline",
            dir.path().join("p.toml").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let before = snapshot(dir.path());
        let outcome = xtask_in(dir.path(), &args, &[("HF_HUB_OFFLINE", "1")]);
        let after = snapshot(dir.path());
        let label = format!("seed {seed}, table name {name:?}");
        if outcome.panicked() {
            problems.push(format!("{label}: panicked\n{}", outcome.stderr));
        }
        let outside: Vec<&PathBuf> = after
            .keys()
            .filter(|p| !p.starts_with("out/inner") && !before.contains_key(*p))
            .collect();
        if !outside.is_empty() {
            problems.push(format!("{label}: wrote outside --out: {outside:?}"));
        }
        let lost = changed(&before, &after);
        if !lost.is_empty() {
            problems.push(format!("{label}: changed {lost:?}"));
        }
        match (is_plain(&name), outcome.ok()) {
            (true, false) => problems.push(format!("{label}: refused\n{}", outcome.stderr)),
            (false, true) => problems.push(format!("{label}: accepted")),
            (false, false) if !outcome.stderr.contains("cannot name a directory") => {
                problems.push(format!("{label}: the message\n{}", outcome.stderr));
            }
            _ => {}
        }

        // A float option of the analysis given a random spelling of a number.
        const FLAGS: [&str; 8] = [
            "--coverage-share",
            "--trigger-share",
            "--mi-threshold",
            "--weak-epsilon",
            "--extreme-run-share",
            "--oscillation-min-swing",
            "--smooth-residual-share",
            "--range-threshold",
        ];
        const VALUES: [&str; 12] = [
            "NaN", "nan", "inf", "-inf", "-1", "1e309", "0", "1.5", "0.5", "-0", "1e-320", "0.25",
        ];
        let flag = FLAGS[rng.below(FLAGS.len())];
        let value = VALUES[rng.below(VALUES.len())];
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&w.run, &dir.path().join("run"));
        let args = strings(&[
            "analyze",
            "--run",
            "run",
            "--out",
            "a",
            &format!("{flag}={value}"),
        ]);
        let outcome = xtask_in(dir.path(), &args, &[]);
        let label = format!("seed {seed}, {flag}={value}");
        if outcome.panicked() {
            problems.push(format!("{label}: panicked\n{}", outcome.stderr));
        }
        let parsed: f64 = value.parse().unwrap();
        if !parsed.is_finite() && outcome.ok() {
            problems.push(format!("{label}: accepted"));
        }
        if !outcome.ok() && !outcome.stderr.contains(flag) {
            problems.push(format!(
                "{label}: the message names no flag\n{}",
                outcome.stderr
            ));
        }
        if outcome.ok() {
            // What was accepted is recorded as a number every reader takes back.
            let manifest = std::fs::read_to_string(dir.path().join("a/manifest.json")).unwrap();
            let manifest_json: serde_json::Value = serde_json::from_str(&manifest).unwrap();
            let key = flag.trim_start_matches("--").replace('-', "_");
            let recorded = find_key(&manifest_json["options"], &key);
            if !recorded.is_some_and(|v| v.as_f64().is_some_and(f64::is_finite)) {
                problems.push(format!("{label}: {key} recorded as {recorded:?}"));
            }
            let report = xtask_in(
                dir.path(),
                &strings(&["report", "--analysis", "a", "--out", "r", "--no-png"]),
                &[],
            );
            if !report.ok() {
                problems.push(format!("{label}: the report refused it\n{}", report.stderr));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
