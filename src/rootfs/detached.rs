//! Detached mounts (`open_tree`, `fsmount`): copied, set up on their fd
//! (flags, recursive attributes, propagation) and only then attached, so
//! no flag change re-resolves a path.

use nix::sys::statvfs::FsFlags;
use std::os::fd::{AsFd, OwnedFd};

use super::options::remount_attrs;
use crate::sys::{
    self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MountAttr,
};
use crate::syscall::{Syscall, cwd};

/// Apply per-mount flags to a (detached) mount, remount-style. A flag the
/// kernel has locked (a mount from a less privileged mount namespace may
/// not drop nosuid/nodev/noexec/ro) is kept rather than failing.
pub(super) fn set_flags(sc: &dyn Syscall, mnt: &OwnedFd, flags: libc::c_ulong) -> sys::Result<()> {
    let (set, clr) = remount_attrs(flags);
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        ..Default::default()
    };
    match sc.mount_setattr(mnt.as_fd(), false, &attr) {
        Err(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
            let locked = remount_attrs(fstatvfs_flags(mnt)).0
                & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
            let attr = MountAttr {
                attr_set: set | locked,
                attr_clr: clr & !locked,
                ..Default::default()
            };
            sc.mount_setattr(mnt.as_fd(), false, &attr)
        }
        r => r,
    }
}

/// mount_setattr(AT_RECURSIVE): apply attributes to a whole mount tree
/// (the recursive `r*` options).
pub(super) fn set_recursive_attrs(
    sc: &dyn Syscall,
    fd: &OwnedFd,
    set: u64,
    clr: u64,
) -> sys::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        ..Default::default()
    };
    sc.mount_setattr(fd.as_fd(), true, &attr)
}

/// Apply the propagation options to a mount through its fd.
pub(super) fn set_propagation(
    sc: &dyn Syscall,
    fd: &OwnedFd,
    props: &[libc::c_ulong],
) -> sys::Result<()> {
    for p in props {
        let attr = MountAttr {
            propagation: p & !libc::MS_REC,
            ..Default::default()
        };
        sc.mount_setattr(fd.as_fd(), p & libc::MS_REC != 0, &attr)?;
    }
    Ok(())
}

/// A detached copy of the mount (tree) at `fd` (or at host path `path`).
pub(super) fn clone_tree(
    sc: &dyn Syscall,
    fd: Option<&OwnedFd>,
    path: &str,
    recursive: bool,
) -> sys::Result<OwnedFd> {
    let flags = sys::OPEN_TREE_CLONE
        | if recursive {
            sys::AT_RECURSIVE as u32
        } else {
            0
        };
    match fd {
        Some(fd) => sc.open_tree(fd.as_fd(), "", flags),
        None => sc.open_tree(cwd(), path, flags),
    }
}

/// Bind `src` (the tree at that fd) onto `target` with `flags` applied to
/// the detached copy before it is attached.
pub(super) fn bind_fd(
    sc: &dyn Syscall,
    src: &OwnedFd,
    target: &OwnedFd,
    recursive: bool,
    flags: libc::c_ulong,
) -> sys::Result<OwnedFd> {
    let m = clone_tree(sc, Some(src), "", recursive)?;
    set_flags(sc, &m, flags)?;
    sc.move_mount(m.as_fd(), target.as_fd())?;
    Ok(m)
}

/// The per-mount MS_* flags of the mount an fd is on (0 if unknown).
pub(super) fn fstatvfs_flags(fd: &impl AsFd) -> libc::c_ulong {
    let Ok(s) = nix::sys::statvfs::fstatvfs(fd) else {
        return 0;
    };
    let mut f = 0;
    for (st, ms) in [
        (FsFlags::ST_NOSUID, libc::MS_NOSUID),
        (FsFlags::ST_NODEV, libc::MS_NODEV),
        (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
        (FsFlags::ST_RDONLY, libc::MS_RDONLY),
        (FsFlags::ST_NOATIME, libc::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, libc::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if s.flags().contains(st) {
            f |= ms;
        }
    }
    f
}
