//! The report opened in headless Chromium: the page's script sets up without a console error,
//! the neuron browser loads a layer's data from disk, and a screenshot is not blank.
//!
//! Needs Chromium (see `census_testkit::chromium`).

mod common;

use std::path::{Path, PathBuf};

use census_report::{ReportRequest, render};
use census_testkit::chromium::{body_tag, chromium, run_url};
use common::planted_analysis;

fn run(chromium: &str, profile: &Path, extra: &[&str], page: &Path) -> String {
    run_url(
        chromium,
        profile,
        extra,
        &format!("file://{}", page.display()),
    )
}

/// The text of a DOM dump a reader sees: scripts, styles and tags (with their attributes,
/// quoted values included) removed.
fn visible_text(dom: &str) -> String {
    let mut text = String::new();
    let mut rest = dom;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let tag = &rest[start..];
        // The end of the tag: the first `>` outside a quoted attribute value.
        let mut quote = None;
        let end = tag
            .char_indices()
            .find(|&(_, c)| match quote {
                Some(q) if c == q => {
                    quote = None;
                    false
                }
                Some(_) => false,
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    false
                }
                None => c == '>',
            })
            .map_or(tag.len(), |(i, _)| i + 1);
        rest = &tag[end..];
        for name in ["script", "style"] {
            if tag[1..].starts_with(name) {
                let close = format!("</{name}>");
                rest = rest.find(&close).map_or("", |i| &rest[i + close.len()..]);
            }
        }
    }
    text.push_str(rest);
    text
}

/// A report rendered from the planted analysis, and what the checks open it with.
struct Rendered {
    chromium: String,
    dir: PathBuf,
    analysis: PathBuf,
    page: PathBuf,
}

#[test]
fn the_report_renders_in_a_browser() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let analysis = planted_analysis(dir.path());
    let out = dir.path().join("report");
    let summary = render(&ReportRequest {
        analyses: vec![analysis.clone()],
        out,
        png: false,
        contexts: 3,
        claim_rules: Default::default(),
    })
    .unwrap();
    let rendered = Rendered {
        chromium,
        dir: dir.path().to_path_buf(),
        analysis,
        page: summary.index.canonicalize().unwrap(),
    };
    let first_view = the_first_view_loads_and_shows_tokens_as_text(&rendered);
    the_full_scale_is_one_click_away(&rendered, &first_view);
    use census_format::analysis::tables::{AnalysisTable, DetectorRow};
    let detectors = DetectorRow::read(&rendered.analysis).unwrap();
    let last = detectors.last().expect("planted detectors");
    let linked = a_neuron_opens_by_its_address(&rendered, last);
    let searched = a_trigger_token_finds_its_detector_and_neurons(&rendered, last);
    let filtered = the_neuron_table_sorts_and_filters(&rendered, &detectors, last, &linked);
    for dump in [&linked, &searched, &filtered] {
        let tag = body_tag(dump);
        assert!(
            !tag.contains("data-error"),
            "the page reported errors: {tag}"
        );
    }
    the_screenshot_is_drawn(&rendered);
}

/// The page sets up without an error, the browser opens the first detector, and tokens read as
/// text; returns the page.
fn the_first_view_loads_and_shows_tokens_as_text(r: &Rendered) -> String {
    let dom = run(
        &r.chromium,
        &r.dir.join("profile-1"),
        &["--dump-dom"],
        &r.page,
    );
    let body_start = dom.find("<body").expect("a body");
    let body = &dom[body_start..body_start + dom[body_start..].find('>').unwrap()];
    assert!(
        !body.contains("data-error"),
        "the page reported errors: {body}"
    );
    assert!(
        body.contains("data-ready=\"1\""),
        "the script did not finish: {body}"
    );
    // The browser opened the first detector, loading its layer's script from disk.
    assert!(
        body.contains("data-browser=\"planted/"),
        "the browser loaded nothing: {body}"
    );
    assert!(
        dom.contains("<div id=\"neuron-view\"><h3>"),
        "the neuron view is empty"
    );
    // Tokens read as text: no byte-level spelling (`Ġ` for a space, `Ċ` for a newline) in
    // what a reader sees, the spaces shown as `␣` instead (the raw strings stay in titles).
    let visible = visible_text(&dom);
    for spelling in ['Ġ', 'Ċ'] {
        assert!(
            !visible.contains(spelling),
            "'{spelling}' in the visible text: {}",
            &visible[visible.find(spelling).unwrap().saturating_sub(200)..][..300]
        );
    }
    assert!(visible.contains('␣'), "no token with a leading space shown");
    assert!(
        dom.contains(" · id "),
        "tokens carry their raw string and id on hover"
    );
    dom
}

/// Shares are drawn fitted to the data, the paper's full scale one click away (or by URL).
fn the_full_scale_is_one_click_away(r: &Rendered, dom: &str) {
    assert!(
        dom.contains("<div class=\"scale full\" hidden=\"\">"),
        "the full scale starts hidden"
    );
    let full = run_url(
        &r.chromium,
        &r.dir.join("profile-3"),
        &["--dump-dom"],
        &format!("file://{}#scale=full", r.page.display()),
    );
    assert!(
        full.contains("<div class=\"scale fitted\" hidden=\"\">")
            && full.contains("<div class=\"scale full\">")
            && full.contains("fit to the data"),
        "#scale=full shows the paper's scale"
    );
    let full_body = &full[full.find("<body").unwrap()..];
    let full_body = &full_body[..full_body.find('>').unwrap()];
    assert!(
        !full_body.contains("data-error"),
        "errors with the full scale: {full_body}"
    );
}

/// A neuron opens by its address, its view drawing its frequency by position; returns the page
/// opened there.
fn a_neuron_opens_by_its_address(
    r: &Rendered,
    last: &census_format::analysis::tables::DetectorRow,
) -> String {
    let address = format!("planted/{}/{}", last.layer, last.neuron);
    let linked = run_url(
        &r.chromium,
        &r.dir.join("profile-4"),
        &["--dump-dom"],
        &format!(
            "file://{}#m=planted&l={}&n={}",
            r.page.display(),
            last.layer,
            last.neuron
        ),
    );
    assert!(
        linked.contains(&format!("data-browser=\"{address}\"")),
        "the address opened another neuron"
    );
    // Every neuron's view draws its frequency by position, positional or not.
    assert!(
        linked.contains("activation frequency by position"),
        "no position curve for {address}"
    );
    linked
}

/// A trigger token finds its detector, and lists the neurons that fire on it; returns the page
/// of the search.
fn a_trigger_token_finds_its_detector_and_neurons(
    r: &Rendered,
    last: &census_format::analysis::tables::DetectorRow,
) -> String {
    let address = format!("planted/{}/{}", last.layer, last.neuron);
    let token = census_format::analysis::vocabulary::display_token(
        last.triggers[0].split(' ').next_back().unwrap(),
    )
    .replace('␣', "");
    let query: String = token
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let searched = run_url(
        &r.chromium,
        &r.dir.join("profile-5"),
        &["--dump-dom"],
        &format!("file://{}#q={query}", r.page.display()),
    );
    let found = &searched[searched.find("<ul id=\"search-results\"").unwrap()..];
    let found = &found[..found.find("</ul>").unwrap()];
    assert!(
        found.contains(&format!("data-neuron=\"{address}\"")),
        "searching '{token}' did not find {address}: {found}"
    );
    // The search also lists the neurons that fire on the token: those of token_neurons.parquet,
    // each linked to the browser.
    use census_format::analysis::tables::{AnalysisTable, TokenNeuronRow};
    let id = *last.trigger_ids[0].last().unwrap();
    let listed: Vec<TokenNeuronRow> = TokenNeuronRow::read(&r.analysis)
        .unwrap()
        .into_iter()
        .filter(|r| r.token_id == id)
        .collect();
    assert!(!listed.is_empty(), "no neuron fires on token {id}");
    let block = &found[found
        .find(&format!("data-token-id=\"{id}\""))
        .unwrap_or_else(|| panic!("no neurons listed for token {id}: {found}"))..];
    let block = &block[..block.find("</li>").unwrap()];
    assert!(block.contains(&format!("data-rows=\"{}\"", listed.len())));
    for r in &listed {
        let link = format!("data-neuron=\"planted/{}/{}\"", r.layer, r.neuron);
        assert!(block.contains(&link), "{link} missing for token {id}");
    }
    searched
}

/// Every neuron of the layer in a table: by default the most frequent first; filtered to the
/// token detectors and sorted by neuron, exactly the layer's token detectors, lowest first.
/// Returns the filtered page.
fn the_neuron_table_sorts_and_filters(
    r: &Rendered,
    detectors: &[census_format::analysis::tables::DetectorRow],
    last: &census_format::analysis::tables::DetectorRow,
    linked: &str,
) -> String {
    use census_format::analysis::tables::{AnalysisTable, NeuronRow};
    let neurons: Vec<NeuronRow> = NeuronRow::read(&r.analysis)
        .unwrap()
        .into_iter()
        .filter(|n| n.layer == last.layer)
        .collect();
    let attribute = |dump: &str, name: &str| -> String {
        let tag = &dump[dump
            .find("<div id=\"neuron-table\"")
            .expect("a neuron table")..];
        let tag = &tag[..tag.find('>').unwrap()];
        let start = tag
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name}: {tag}"));
        tag[start + name.len() + 2..]
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let most_frequent = neurons
        .iter()
        .max_by(|a, b| {
            a.frequency
                .total_cmp(&b.frequency)
                .then(b.neuron.cmp(&a.neuron))
        })
        .unwrap();
    assert_eq!(attribute(linked, "data-rows"), neurons.len().to_string());
    assert_eq!(
        attribute(linked, "data-first"),
        most_frequent.neuron.to_string()
    );
    let filtered = run_url(
        &r.chromium,
        &r.dir.join("profile-6"),
        &["--dump-dom"],
        &format!(
            "file://{}#m=planted&l={}&n={}&filter=token&sort=neuron",
            r.page.display(),
            last.layer,
            last.neuron
        ),
    );
    let token_detectors: Vec<u16> = detectors
        .iter()
        .filter(|d| d.layer == last.layer && d.kind.name() == "token")
        .map(|d| d.neuron)
        .collect();
    assert!(!token_detectors.is_empty());
    assert_eq!(
        attribute(&filtered, "data-rows"),
        token_detectors.len().to_string()
    );
    assert_eq!(
        attribute(&filtered, "data-first"),
        token_detectors.iter().min().unwrap().to_string()
    );
    filtered
}

/// A screenshot of the page is drawn, not blank.
fn the_screenshot_is_drawn(r: &Rendered) {
    let shot = r.dir.join("shot.png");
    run(
        &r.chromium,
        &r.dir.join("profile-2"),
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        &r.page,
    );
    let image = image::open(&shot).unwrap().to_rgb8();
    let background = image.get_pixel(0, 0).0;
    let inked = image.pixels().filter(|p| p.0 != background).count();
    let colors: std::collections::BTreeSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    assert!(
        inked * 20 > image.pixels().len() && colors.len() > 50,
        "the screenshot is nearly blank ({inked} inked pixels, {} colours)",
        colors.len()
    );
}
