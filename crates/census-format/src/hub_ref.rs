//! A Hugging Face hub repository at an optional revision, written `org/name@revision`: the one
//! place that reads that grammar.

use std::fmt;

/// A hub repository (`org/name`), at a revision (a branch, tag or commit, such as a training
/// run's checkpoint) when one is given, else at `main`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HubRef {
    /// The repository id, `org/name`.
    pub repo: String,
    /// The revision, when one is given.
    pub revision: Option<String>,
}

/// Splits `spec` at its revision: `(name, Some(revision))` for `name@revision`, `(spec, None)`
/// without one. An empty revision, or a second `@`, is an error saying so.
pub fn split_revision(spec: &str) -> Result<(&str, Option<&str>), String> {
    match spec.split_once('@') {
        None => Ok((spec, None)),
        Some((name, revision)) if !revision.is_empty() && !revision.contains('@') => {
            Ok((name, Some(revision)))
        }
        Some(_) => Err(format!(
            "'{spec}': a revision follows one '@' (org/name@revision)"
        )),
    }
}

/// Whether `id` has the shape of a hub repository id: two non-empty names joined by `/`.
pub fn is_repo_id(id: &str) -> bool {
    let mut parts = id.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(org), Some(name), None) if !org.is_empty() && !name.is_empty()
    )
}

impl HubRef {
    /// The repository `repo` at `revision`.
    pub fn new(repo: impl Into<String>, revision: Option<&str>) -> Self {
        Self {
            repo: repo.into(),
            revision: revision.map(str::to_string),
        }
    }

    /// Reads `org/name[@revision]`; `None` where `spec` has another shape (a preset name, a
    /// path of more components, an empty revision).
    pub fn parse(spec: &str) -> Option<Self> {
        let (repo, revision) = split_revision(spec).ok()?;
        is_repo_id(repo).then(|| Self::new(repo, revision))
    }
}

impl fmt::Display for HubRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.revision {
            Some(revision) => write!(f, "{}@{revision}", self.repo),
            None => f.write_str(&self.repo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_references_are_a_repository_and_an_optional_revision() {
        let at = HubRef::parse("EleutherAI/pythia-160m@step1000").unwrap();
        assert_eq!(at, HubRef::new("EleutherAI/pythia-160m", Some("step1000")));
        assert_eq!(at.to_string(), "EleutherAI/pythia-160m@step1000");
        let main = HubRef::parse("facebook/opt-125m").unwrap();
        assert_eq!(
            (main.repo.as_str(), main.revision),
            ("facebook/opt-125m", None)
        );
        for other in [
            "opt-125m",
            "a/b/c",
            "/opt",
            "org/",
            "org/name@",
            "org/name@a@b",
        ] {
            assert_eq!(HubRef::parse(other), None, "{other}");
        }
        assert_eq!(
            split_revision("opt-125m@log"),
            Ok(("opt-125m", Some("log")))
        );
        assert!(split_revision("x@").unwrap_err().contains("one '@'"));
    }
}
