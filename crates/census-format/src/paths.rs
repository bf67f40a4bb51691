//! Paths compared by their text: `.` and `..` resolved without touching the file system.

use std::path::{Component, Path, PathBuf};

/// `path` with `.` dropped and each `..` removing the component before it, by its text alone
/// (nothing need exist). A `..` at the start of a relative path is kept.
pub fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match normal.components().next_back() {
                Some(Component::Normal(_)) => {
                    normal.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => normal.push(".."),
            },
            other => normal.push(other),
        }
    }
    normal
}

/// `path` made absolute against the current directory, then [`lexically_normal`].
pub fn absolute_normal(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    lexically_normal(&absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_resolve_by_text() {
        let normal = |p: &str| lexically_normal(Path::new(p));
        assert_eq!(
            normal("/repo/pipelines/../data/x"),
            Path::new("/repo/data/x")
        );
        assert_eq!(normal("a/./b/../c"), Path::new("a/c"));
        assert_eq!(normal("../a"), Path::new("../a"));
        assert_eq!(normal("a/../../b"), Path::new("../b"));
        assert_eq!(normal("/.."), Path::new("/"));
        assert!(absolute_normal(Path::new("x/..")).is_absolute());
    }
}
