//! Paths inside the rootfs, always resolved from the root's fd
//! (`openat2` with `RESOLVE_IN_ROOT`): a symlink or `..` planted by the
//! container cannot lead outside it.

use nix::fcntl::AtFlags;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode};
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::sys::{self, cstr, fd_path};

/// Open `path` inside `root`, creating missing directories on the way
/// (and the last component as a file when `file` is set).
pub fn mkdir_all(root: &OwnedFd, path: &Path, file: bool) -> sys::Result<OwnedFd> {
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(sys::errno(
            format!("{}: '..' not allowed", path.display()),
            libc::EINVAL,
        ));
    }
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    // The last directory opened; `None`: the root itself (its own fd, not
    // reopened).
    let mut dirfd: Option<OwnedFd> = None;
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let last = i + 1 == comps.len();
        let flags = if last && file {
            libc::O_PATH
        } else {
            libc::O_PATH | libc::O_DIRECTORY
        };
        let fd = match sys::open_in_root(root.as_raw_fd(), &cur, flags) {
            Ok(fd) => fd,
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => {
                create_at(dirfd.as_ref().unwrap_or(root), c, last && file, &cur)?;
                sys::open_in_root(root.as_raw_fd(), &cur, flags)?
            }
            Err(e) => return Err(e),
        };
        dirfd = Some(fd);
    }
    match dirfd {
        Some(fd) => Ok(fd),
        None => sys::open_in_root(root.as_raw_fd(), &cur, libc::O_PATH | libc::O_DIRECTORY),
    }
}

/// Create `name` in `dir` (an O_PATH fd): an empty file, or a directory
/// (one that appeared meanwhile is fine). `cur` is for messages.
fn create_at(dir: &OwnedFd, name: &OsStr, file: bool, cur: &Path) -> sys::Result<()> {
    let name = cstr(name);
    if file {
        nix::fcntl::openat(
            dir,
            name.as_c_str(),
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop)
        .map_err(|e| sys::errno(format!("create {}", cur.display()), e as i32))
    } else {
        match nix::sys::stat::mkdirat(dir, name.as_c_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err(sys::errno(format!("mkdir {}", cur.display()), e as i32)),
        }
    }
}

/// What is at `path` in the root, without following a final symlink
/// (parents are resolved in the root); `None` if nothing is.
pub(super) fn lstat_in_root(rootfd: &OwnedFd, path: &Path) -> Option<FileStat> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name()?;
    // A name in the root itself is looked up from the root's own fd.
    let opened;
    let dir = if parent == Path::new("/") {
        rootfd
    } else {
        opened =
            sys::open_in_root(rootfd.as_raw_fd(), parent, libc::O_PATH | libc::O_DIRECTORY).ok()?;
        &opened
    };
    nix::sys::stat::fstatat(
        dir,
        cstr(name).as_c_str(),
        AtFlags::AT_SYMLINK_NOFOLLOW | AtFlags::AT_EMPTY_PATH,
    )
    .ok()
}

/// Is `st` of this file type (`libc::S_IFDIR`...)?
pub(super) fn is(st: &FileStat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

/// Reopen an O_PATH directory fd as a real one, for `*at()` calls that
/// need it (creating, listing, changing modes).
pub(super) fn reopen_dir(fd: &impl AsRawFd) -> sys::Result<OwnedFd> {
    sys::open(
        Path::new(&fd_path(fd)),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )
}
