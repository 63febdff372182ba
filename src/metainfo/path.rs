//! The path rules that make a torrent's file names safe to join under an output folder.
//!
//! Every component of `name` and of each `path` list is checked on its own: it may not be
//! empty, `.` or `..`, contain a path separator or NUL, or be a Windows drive prefix. A
//! torrent may not list the same path twice, nor a file whose path is a folder of another.

use std::fmt;

/// Why a path component is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// An empty component.
    Empty,
    /// `.` or `..`.
    Dots(String),
    /// A `/`, `\` or NUL inside the component, or a drive prefix like `C:`.
    Separator(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("empty path component"),
            PathError::Dots(c) => write!(f, "path component {c:?} is not allowed"),
            PathError::Separator(c) => {
                write!(f, "path component {c:?} contains a separator, drive or NUL")
            }
        }
    }
}

/// Checks one path component.
pub fn check_component(component: &str) -> Result<(), PathError> {
    if component.is_empty() {
        return Err(PathError::Empty);
    }
    if component == "." || component == ".." {
        return Err(PathError::Dots(component.to_string()));
    }
    let drive = component.len() >= 2 && component.as_bytes()[1] == b':';
    if drive || component.contains(['/', '\\', '\0']) {
        return Err(PathError::Separator(component.to_string()));
    }
    Ok(())
}

/// Checks that no path repeats and no file path is also a folder of another file.
///
/// Sorted component-wise, a path is directly followed by every path it is a folder of, so
/// comparing neighbours finds both faults in O(n log n) comparisons, whatever the depth.
pub fn check_unique(paths: &[Vec<String>]) -> Result<(), String> {
    let mut sorted: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        let (first, next) = (pair[0], pair[1]);
        if first == next {
            return Err(format!("duplicate file path {:?}", first.join("/")));
        }
        if next.starts_with(first) {
            return Err(format!(
                "file path {:?} is also a folder of {:?}",
                first.join("/"),
                next.join("/")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_traversal_and_separators() {
        assert_eq!(check_component(""), Err(PathError::Empty));
        assert!(matches!(check_component(".."), Err(PathError::Dots(_))));
        assert!(matches!(check_component("."), Err(PathError::Dots(_))));
        for bad in ["a/b", "a\\b", "a\0b", "C:", "c:evil", "/etc"] {
            assert!(matches!(check_component(bad), Err(PathError::Separator(_))), "{bad}");
        }
        assert_eq!(check_component("...hidden"), Ok(()));
        assert_eq!(check_component("ok name.txt"), Ok(()));
    }

    #[test]
    fn refuses_duplicates_and_file_folder_clashes() {
        let p = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_unique(&[p(&["a"]), p(&["b"])]).is_ok());
        assert!(check_unique(&[p(&["a"]), p(&["a"])]).is_err());
        assert!(check_unique(&[p(&["a"]), p(&["a", "b"])]).is_err());
    }
}
