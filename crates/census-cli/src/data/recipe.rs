//! Recipes: which hub datasets a pipeline's data comes from, and how each is split into the
//! per-domain JSONL files its sources read. `paper` is the data of the paper (docs/METHODS.md,
//! "Data"); the rest of the corpus the paper used has no hub source and is named as missing.

/// How a recipe picks a dataset's files from the repository's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChoice {
    /// These files.
    Named(&'static [&'static str]),
    /// The first `count` files, in name order, whose names end with `suffix`.
    FirstMatching {
        /// The end of the names.
        suffix: &'static str,
        /// How many.
        count: usize,
    },
}

impl FileChoice {
    /// The files chosen from a repository listing `listed`.
    pub fn choose(self, listed: &[String]) -> Vec<String> {
        match self {
            FileChoice::Named(names) => names.iter().map(|n| n.to_string()).collect(),
            FileChoice::FirstMatching { suffix, count } => {
                let mut matching: Vec<String> = (listed.iter())
                    .filter(|n| n.ends_with(suffix))
                    .cloned()
                    .collect();
                matching.sort();
                matching.truncate(count);
                matching
            }
        }
    }
}

/// Which domain file a document of a dataset goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainRule {
    /// By the value of a field (a path of object keys, `meta.pile_set_name`): each named value
    /// to its file stem; documents of other values are left out.
    ByField {
        /// The field's path.
        field: &'static [&'static str],
        /// Each kept value and its file stem.
        domains: &'static [(&'static str, &'static str)],
    },
    /// Every document to one file stem.
    All(&'static str),
}

/// One hub dataset of a recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSource {
    /// The dataset repository (`org/name`).
    pub repo: &'static str,
    /// Its files read.
    pub files: FileChoice,
    /// The field holding a document's text.
    pub text_field: &'static str,
    /// Where each document goes.
    pub domains: DomainRule,
    /// The most documents written to each of its domain files (none: all).
    pub max_documents: Option<u64>,
}

impl DatasetSource {
    /// The file stems it writes.
    pub fn stems(&self) -> Vec<&'static str> {
        match self.domains {
            DomainRule::ByField { domains, .. } => domains.iter().map(|d| d.1).collect(),
            DomainRule::All(stem) => vec![stem],
        }
    }
}

/// A domain file a recipe needs that no hub dataset gives: the user puts it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSource {
    /// Its file stem.
    pub stem: &'static str,
    /// Where to get it.
    pub how: &'static str,
}

/// A recipe: the datasets downloaded and split, and the files the user adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    /// Its name (`--recipe`).
    pub name: &'static str,
    /// The hub datasets.
    pub sources: &'static [DatasetSource],
    /// The files no hub dataset gives.
    pub missing: &'static [MissingSource],
}

/// The paper's data: the Pile's validation and test parts split by domain, CodeParrot, and
/// Reddit (no hub source).
pub const PAPER: Recipe = Recipe {
    name: "paper",
    sources: &[
        DatasetSource {
            repo: "EleutherAI/pile_val_test",
            files: FileChoice::Named(&["val.jsonl", "test.jsonl"]),
            text_field: "text",
            domains: DomainRule::ByField {
                field: &["meta", "pile_set_name"],
                domains: &[
                    ("Wikipedia (en)", "wikipedia"),
                    ("DM Mathematics", "dm_mathematics"),
                    ("HackerNews", "hackernews"),
                    ("EuroParl", "europarl"),
                    ("FreeLaw", "freelaw"),
                    ("PubMed Abstracts", "pubmed"),
                    ("StackExchange", "stackexchange"),
                ],
            },
            max_documents: None,
        },
        DatasetSource {
            repo: "codeparrot/codeparrot-clean",
            files: FileChoice::FirstMatching {
                suffix: ".json.gz",
                count: 1,
            },
            text_field: "content",
            domains: DomainRule::All("codeparrot"),
            // About 3M tokens of code are read; 50,000 files hold several times that.
            max_documents: Some(50_000),
        },
    ],
    missing: &[MissingSource {
        stem: "reddit",
        how: "a Pushshift.io Reddit comment dump (the paper does not say which), each comment's \
              `body` as the `text` of a JSONL line; see pipelines/paper.toml",
    }],
};

/// Every recipe.
pub const RECIPES: [Recipe; 1] = [PAPER];

/// The recipe named `name`.
pub fn find(name: &str) -> Option<&'static Recipe> {
    RECIPES.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_chosen_by_name_or_as_the_first_matching() {
        let listed: Vec<String> = ["b.json.gz", "a.json.gz", "README.md", "c.json.gz"]
            .map(String::from)
            .to_vec();
        let first = FileChoice::FirstMatching {
            suffix: ".json.gz",
            count: 2,
        };
        assert_eq!(first.choose(&listed), ["a.json.gz", "b.json.gz"]);
        assert_eq!(FileChoice::Named(&["x.jsonl"]).choose(&listed), ["x.jsonl"]);
    }

    #[test]
    fn the_paper_recipe_writes_every_file_paper_toml_reads() {
        let written: Vec<&str> = PAPER.sources.iter().flat_map(|s| s.stems()).collect();
        let missing: Vec<&str> = PAPER.missing.iter().map(|m| m.stem).collect();
        let toml = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/paper.toml"),
        )
        .unwrap();
        for line in toml
            .lines()
            .filter(|l| l.trim_start().starts_with("\"../data/paper/"))
        {
            let stem = line
                .split("data/paper/")
                .nth(1)
                .unwrap()
                .split(".jsonl")
                .next()
                .unwrap();
            assert!(
                written.contains(&stem) || missing.contains(&stem),
                "{stem} is read by paper.toml but neither written nor named as missing"
            );
        }
        assert_eq!(find("paper"), Some(&PAPER));
        assert_eq!(find("other"), None);
    }
}
