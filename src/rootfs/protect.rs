//! `linux.maskedPaths` and `linux.readonlyPaths`, resolved inside the root
//! before pivot_root.

use nix::sys::stat::fstat;
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::detached::bind_fd;
use super::devices::dev_null;
use super::path::is;
use super::{Ctx, Error, Result, Root};
use crate::sys::{self, fd_path};

/// maskedPaths then readonlyPaths, resolved inside `root` (before pivot).
/// A path that does not exist in the root is skipped.
pub fn mask_and_protect(spec: &Spec, root: &Root) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let null = dev_null()?;
    for (i, path) in linux.masked_paths().iter().flatten().enumerate() {
        let field = || format!("linux.maskedPaths[{i}] ({path})");
        let Some(t) = open_in(root, path, field)? else {
            continue;
        };
        // A directory is hidden under an empty read-only tmpfs, anything
        // else under the host's /dev/null.
        if fstat(&t).is_ok_and(|st| is(&st, libc::S_IFDIR)) {
            root.sys.mount(
                Some("tmpfs"),
                &fd_path(&t),
                Some("tmpfs"),
                libc::MS_RDONLY,
                Some("size=0"),
            )
        } else {
            root.sys.mount(
                Some(&fd_path(&null)),
                &fd_path(&t),
                None,
                libc::MS_BIND,
                None,
            )
        }
        .field(field)?;
    }
    for (i, path) in linux.readonly_paths().iter().flatten().enumerate() {
        let field = || format!("linux.readonlyPaths[{i}] ({path})");
        let Some(t) = open_in(root, path, field)? else {
            continue;
        };
        // A read-only copy of the tree, made read-only before it is
        // attached over itself.
        bind_fd(
            root.sys,
            &t,
            &t,
            true,
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        )
        .field(field)?;
    }
    Ok(())
}

/// `path` opened (O_PATH) inside the root; `None` if it does not exist.
fn open_in(root: &Root, path: &str, field: impl FnOnce() -> String) -> Result<Option<OwnedFd>> {
    match sys::open_in_root(root.fd.as_raw_fd(), Path::new(path), libc::O_PATH) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(Error::Field {
            field: field(),
            source: e,
        }),
    }
}
