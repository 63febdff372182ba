//! Refusing symbolic links under a download's output folder.
//!
//! `mt get` writes only below the output folder it was given. A link already there (a
//! folder `copy/album` pointing at `/etc`, or a file `copy/notes.txt` pointing at someone's
//! data) would send the download's bytes elsewhere, so every existing component below the
//! output folder is looked at with `lstat` before any folder is created, and the files are
//! opened with `O_NOFOLLOW`. The output folder itself may be a link: the user named it.
//! A link swapped in between the check and the open of a folder is not caught; the last
//! component always is.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The error for a link at `path`.
pub(super) fn link_error(path: &Path) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        reason: "is a symbolic link; a download does not follow links under its output folder"
            .into(),
    }
}

/// Refuses `path` when it, or any folder between `root` (excluded) and it, is a symbolic
/// link. For a single-file output `path` is `root` and only it is looked at. `checked`
/// remembers folders already found to be no link, so shared folders are looked at once.
pub(super) fn refuse_links(
    root: &Path,
    path: &Path,
    checked: &mut HashSet<PathBuf>,
) -> Result<(), Error> {
    let below = path.strip_prefix(root).ok().filter(|rest| !rest.as_os_str().is_empty());
    let Some(below) = below else { return refuse_link_at(path).map(|_| ()) };
    let mut at = root.to_path_buf();
    for component in below.components() {
        at.push(component);
        if checked.contains(&at) {
            continue;
        }
        if !refuse_link_at(&at)? {
            // Nothing below a missing folder exists yet either.
            return Ok(());
        }
        if at != path {
            checked.insert(at.clone());
        }
    }
    Ok(())
}

/// Refuses a link at `path`; true when something (no link) is there.
fn refuse_link_at(path: &Path) -> Result<bool, Error> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(link_error(path)),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("cannot stat", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_below_the_root_are_refused_and_the_root_may_be_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("a")).expect("folders");
        let root = dir.path().join("root");
        std::os::unix::fs::symlink(&real, &root).expect("root link");
        let mut checked = HashSet::new();
        refuse_links(&root, &root.join("a/b/file"), &mut checked).expect("no link below root");
        std::os::unix::fs::symlink(dir.path(), real.join("a/b")).expect("inner link");
        let err = refuse_links(&root, &root.join("a/b/file"), &mut checked).expect_err("link");
        assert!(err.to_string().contains("a/b"), "{err}");
        let file = dir.path().join("single");
        std::os::unix::fs::symlink(&real, &file).expect("file link");
        refuse_links(&file, &file, &mut HashSet::new()).expect_err("a single file link");
    }
}
