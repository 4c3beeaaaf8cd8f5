//! proc and sysfs mounts: they must land on a real directory (a symlink
//! there is the CVE-2019-16884 class), and sysfs, which cannot be mounted
//! without owning the network namespace, falls back to a read-only bind of
//! the host's /sys.

use nix::sys::stat::FileStat;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::detached::{clone_tree, set_flags};
use super::path::is;
use super::{Error, Result};
use crate::sys;
use crate::syscall::Syscall;

/// Is `typ` proc or sysfs (the types checked here)?
pub(super) fn is_kernfs(typ: &str) -> bool {
    typ == "proc" || typ == "sysfs"
}

/// Refuse a proc or sysfs destination that is a symlink in the rootfs.
/// `before` is what was at the destination before anything was created.
pub(super) fn check_before(
    typ: &str,
    dest: &Path,
    before: Option<&FileStat>,
    field: &str,
) -> Result<()> {
    if is_kernfs(typ) && before.is_some_and(|st| is(st, libc::S_IFLNK)) {
        return Err(Error::Invalid {
            field: field.into(),
            msg: format!(
                "{} is a symlink in the rootfs; {typ} must be mounted on an ordinary directory",
                dest.display()
            ),
        });
    }
    Ok(())
}

/// Refuse a proc or sysfs destination (as opened) that is not a directory.
pub(super) fn check_target(typ: &str, target: &OwnedFd, field: &str) -> Result<()> {
    if is_kernfs(typ) && !nix::sys::stat::fstat(target).is_ok_and(|st| is(&st, libc::S_IFDIR)) {
        return Err(Error::Invalid {
            field: field.into(),
            msg: "destination is not a directory".into(),
        });
    }
    Ok(())
}

/// What to do when making a `typ` mount failed with `e`: sysfs without
/// owning the network namespace (EPERM) becomes a read-only recursive
/// bind of the host's /sys with `flags`; anything else stays an error.
pub(super) fn fallback(
    sc: &dyn Syscall,
    typ: &str,
    e: sys::Error,
    flags: libc::c_ulong,
) -> sys::Result<OwnedFd> {
    if typ == "sysfs" && e.source.raw_os_error() == Some(libc::EPERM) {
        let m = clone_tree(sc, None, "/sys", true)?;
        set_flags(sc, &m, flags | libc::MS_RDONLY)?;
        return Ok(m);
    }
    Err(e)
}
