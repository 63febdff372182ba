//! Refusing symbolic links under a download's output folder.
//!
//! `mt get` writes only below the output folder it was given. A link already there (a
//! folder `copy/album` pointing at `/etc`, or a file `copy/notes.txt` pointing at someone's
//! data) would send the download's bytes elsewhere. So every existing component below the
//! output folder is looked at with `lstat` before anything is created (a refused download
//! leaves nothing behind), and then each file is created by walking down from the output
//! folder one component at a time with `openat(O_NOFOLLOW)` ([`Walker`]), so a link swapped
//! in after the check is refused too. The output folder itself may be a link: the user named
//! it. Later reopens of a file use `O_NOFOLLOW` on its last component.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};

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

/// Creates files below a root folder without following links: each folder is opened from
/// its parent with `O_NOFOLLOW` (made first when missing). Only the folders of the last
/// file stay open, so sorted paths reuse them and the open descriptors stay few.
pub(super) struct Walker {
    root: PathBuf,
    root_fd: OwnedFd,
    /// The open folders below the root leading to the last file, outermost first.
    chain: Vec<(OsString, OwnedFd)>,
}

impl Walker {
    /// Opens (creating when missing) the folder `root`, following links to it.
    pub(super) fn new(root: &Path) -> Result<Walker, Error> {
        std::fs::create_dir_all(root).map_err(|e| Error::io("cannot create folder", root, e))?;
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        let root_fd = rustix::fs::openat(CWD, root, flags, Mode::empty())
            .map_err(|e| Error::io("cannot open folder", root, e.into()))?;
        Ok(Walker { root: root.to_path_buf(), root_fd, chain: Vec::new() })
    }

    /// Opens `path` (below the root) read-write, creating it and its folders as needed.
    pub(super) fn create(&mut self, path: &Path) -> Result<File, Error> {
        let below = path.strip_prefix(&self.root).map_err(|_| Error::Data {
            path: path.to_path_buf(),
            reason: format!("is not below the output folder {}", self.root.display()),
        })?;
        let mut names: Vec<OsString> = Vec::new();
        for component in below.components() {
            match component {
                Component::Normal(name) => names.push(name.to_os_string()),
                _ => {
                    return Err(Error::Data {
                        path: path.to_path_buf(),
                        reason: "has a path component that is not a plain name".into(),
                    });
                }
            }
        }
        let Some(file_name) = names.pop() else {
            return Err(Error::Data { path: path.to_path_buf(), reason: "names no file".into() });
        };
        let shared = self.chain.iter().zip(&names).take_while(|((a, _), b)| a == *b).count();
        self.chain.truncate(shared);
        let mut at = self.root.clone();
        for name in &names[..shared] {
            at.push(name);
        }
        for name in &names[shared..] {
            at.push(name);
            let fd = self.open_folder(name, &at)?;
            self.chain.push((name.clone(), fd));
        }
        let parent = self.chain.last().map_or(&self.root_fd, |(_, fd)| fd);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o666);
        match rustix::fs::openat(parent, file_name.as_os_str(), flags, mode) {
            Ok(fd) => Ok(File::from(fd)),
            Err(rustix::io::Errno::LOOP) => Err(link_error(path)),
            Err(e) => Err(Error::io("cannot create", path, e.into())),
        }
    }

    /// Opens the folder `name` in the last open folder, making it when missing.
    fn open_folder(&self, name: &OsString, at: &Path) -> Result<OwnedFd, Error> {
        let parent = self.chain.last().map_or(&self.root_fd, |(_, fd)| fd);
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
        let open = || rustix::fs::openat(parent, name.as_os_str(), flags, Mode::empty());
        let opened = match open() {
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(parent, name.as_os_str(), Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => open(),
                    Err(e) => return Err(Error::io("cannot create folder", at, e.into())),
                }
            }
            other => other,
        };
        match opened {
            Ok(fd) => Ok(fd),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                let kind = rustix::fs::statat(parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|stat| FileType::from_raw_mode(stat.st_mode));
                if matches!(kind, Ok(FileType::Symlink)) {
                    Err(link_error(at))
                } else {
                    Err(Error::Data {
                        path: at.to_path_buf(),
                        reason: "is a file, but the torrent needs a folder there".into(),
                    })
                }
            }
            Err(e) => Err(Error::io("cannot open folder", at, e.into())),
        }
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

    #[test]
    fn the_walker_creates_nested_files_and_refuses_a_link_swapped_in_later() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("out");
        let mut walker = Walker::new(&root).expect("root");
        walker.create(&root.join("a/b/one")).expect("create");
        walker.create(&root.join("a/b/two")).expect("create beside");
        walker.create(&root.join("c")).expect("create at the top");
        assert!(root.join("a/b/one").is_file() && root.join("c").is_file());
        std::os::unix::fs::symlink(dir.path(), root.join("x")).expect("folder link");
        let err = walker.create(&root.join("x/evil")).expect_err("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!dir.path().join("evil").exists(), "nothing made through the link");
        std::os::unix::fs::symlink(root.join("c"), root.join("a/b/three")).expect("file link");
        let err = walker.create(&root.join("a/b/three")).expect_err("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}
