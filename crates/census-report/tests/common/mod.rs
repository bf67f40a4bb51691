//! Helpers shared by the report tests: a real analysis of the planted OPT fixture.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use census_extract::{ExtractOptions, extract};
use census_format::analysis::options::AnalysisOptions;
use census_format::corpus::CorpusSource;
use census_format::run::SequenceOptions;
use census_model::CpuBackend;
use census_stats::{AnalyzeRequest, analyze};

/// Extracts the planted fixture's corpus into `dir/run` and analyses it into `dir/analysis`
/// (n-grams in every layer, positions on any length); returns the analysis directory.
pub fn planted_analysis(dir: &Path) -> PathBuf {
    let (run, out) = (dir.join("run"), dir.join("analysis"));
    extract::<CpuBackend>(
        &ExtractOptions {
            sequences: SequenceOptions::with_max_seq_len(48),
            part_tokens: 1024,
            batch_tokens: 512,
            ..ExtractOptions::new(
                census_testkit::fixtures_dir().join("opt/planted"),
                vec![CorpusSource::new(
                    census_testkit::fixtures_dir().join("corpus/planted.jsonl"),
                )],
                &run,
            )
        },
        &Default::default(),
        "cpu",
    )
    .unwrap();
    let mut options = AnalysisOptions {
        ngram_layers: census_format::analysis::options::LayerScope::All,
        ..Default::default()
    };
    options.positional.any_length = true;
    analyze(&AnalyzeRequest {
        options,
        ..AnalyzeRequest::new(vec![run], out.clone())
    })
    .unwrap();
    out
}

/// The JSON embedded in a report page.
pub fn embedded_data(html: &str) -> serde_json::Value {
    let start = html
        .find("<script type=\"application/json\" id=\"census-data\">")
        .expect("embedded data");
    let body = &html[start..];
    let body = &body[body.find('>').unwrap() + 1..];
    let end = body.find("</script>").unwrap();
    serde_json::from_str(&body[..end].replace("<\\/", "</")).unwrap()
}
