//! The plan of an analysis: the options and runs checked, and the layers each data group
//! counts in.

use crate::error::RequestError;
use census_format::model::ModelConfig;
use census_format::run::SequenceStart;

use super::count::{group_layers, group_scope};
use super::{AnalyzeRequest, check_output_dir, validate};
use crate::error::Result;
use crate::ngram::MAX_NEURONS;
use crate::sections::{DataGroup, Sources};
use census_format::analysis::options::DataSelection;

/// What an analysis counts: the runs of each section and the layers each group counts in.
pub(super) struct AnalysisPlan {
    /// The data groups of the sections.
    pub(super) sources: Sources,
    /// The runs' model configuration.
    pub(super) config: ModelConfig,
    /// Every analysed layer.
    pub(super) layers: Vec<usize>,
    /// Whether every positional sequence has the full length.
    pub(super) full_length: bool,
    /// The layers each group counts in (by group index).
    pub(super) group_layers: Vec<Vec<usize>>,
    /// The layers whose positions are counted.
    pub(super) positional_layers: Vec<usize>,
    /// The positional data domain by domain (empty with fewer than two domains).
    pub(super) by_domain: Vec<(String, DataGroup)>,
    /// Token-layers to count, for the progress bar.
    pub(super) work: u64,
    /// Layers the runs recorded (more than `layers` in a part of a split analysis).
    pub(super) recorded_layers: usize,
    /// Whether the counting of the main data gathers the example contexts
    /// ([`contexts_while_counting`]).
    pub(super) contexts_while_counting: bool,
}

/// Whether the example contexts can be gathered while the layers are counted: the contexts are
/// read from every run of every section, part by part in the order each manifest lists them,
/// every row and every layer from the first analysed to the last; the counting gathers the same
/// places only where one data group serves every section, counting every row of the same parts
/// in the same order, and every layer of that range (its runs are distinct: [`RunSet::open`]
/// refuses a run given twice).
///
/// [`RunSet::open`]: crate::inputs::RunSet::open
fn contexts_while_counting(sources: &Sources, layers: &[usize], contexts: usize) -> bool {
    let set = sources.main();
    contexts > 0
        && sources.groups.len() == 1
        && set.selection.is_none()
        && set.shuffle.is_none()
        && layers.windows(2).all(|w| w[1] == w[0] + 1)
        && set
            .runs
            .iter()
            .all(|run| run.manifest.parts.is_sorted_by_key(|p| p.index))
}

/// Checks the options and the runs, and plans what each data group counts.
pub(super) fn plan_analysis(request: &AnalyzeRequest) -> Result<AnalysisPlan> {
    let options = &request.options;
    validate(options)?;
    let sources = Sources::open(request)?;
    check_output_dir(&request.out)?;
    let set = sources.main();
    let config = set.model_config().clone();
    if set.sequence_start() == SequenceStart::Text
        && (!options.count_bos || options.positional.skip_bos)
    {
        return Err(RequestError::NoBos(config.model_type).into());
    }
    if config.ffn_dim > MAX_NEURONS {
        return Err(RequestError::TooManyNeurons(config.ffn_dim).into());
    }
    let total = config.num_hidden_layers;
    let layers: Vec<usize> = set
        .layers()
        .filter(|&l| request.layers.contains(l, total))
        .collect();
    if layers.is_empty() {
        let recorded: Vec<usize> = set.layers().collect();
        return Err(RequestError::LayersNotRecorded {
            scope: request.layers,
            recorded: recorded[0]..recorded[recorded.len() - 1] + 1,
        }
        .into());
    }
    let recorded_layers = set.layers().count();
    let positional_group = &sources.groups[sources.positional];
    let full_length = positional_group.set.full_length();
    if !full_length && !options.positional.any_length {
        tracing::info!(
            "positional analysis skipped: the runs are not all of full-length sequences \
             (extract with --full-length, or pass --positional-any-length)"
        );
    }
    let group_layers: Vec<Vec<usize>> = sources
        .groups
        .iter()
        .map(|g| group_layers(g, options, &layers))
        .collect();
    let positional_layers: Vec<usize> = group_layers[sources.positional]
        .iter()
        .copied()
        .filter(|&l| {
            group_scope(positional_group, options, l)
                .positions
                .is_some()
        })
        .collect();
    let by_domain = if options.positional_by_domain && !positional_layers.is_empty() {
        let domains = positional_group.set.split_by_domain()?;
        if domains.len() < 2 {
            Vec::new()
        } else {
            domains
                .into_iter()
                .map(|(domain, set)| {
                    let group = DataGroup {
                        set,
                        selection: DataSelection {
                            domains: vec![domain.clone()],
                            token_budget: None,
                        },
                        frequency: false,
                        ngram: false,
                        positional: true,
                    };
                    (domain, group)
                })
                .collect()
        }
    } else {
        Vec::new()
    };
    let work: u64 = sources
        .groups
        .iter()
        .zip(&group_layers)
        .map(|(g, l)| g.set.tokens() * l.len() as u64)
        .chain(
            by_domain
                .iter()
                .map(|(_, g)| g.set.tokens() * positional_layers.len() as u64),
        )
        .sum();
    let contexts_while_counting = contexts_while_counting(&sources, &layers, options.contexts);
    Ok(AnalysisPlan {
        contexts_while_counting,
        sources,
        config,
        layers,
        full_length,
        group_layers,
        positional_layers,
        by_domain,
        work,
        recorded_layers,
    })
}
