//! Entering the root: pivot_root with the old root detached (or, with
//! `--no-pivot`, MS_MOVE + chroot), then `root.readonly` and
//! `linux.rootfsPropagation`; or a plain chroot without a mount namespace.

use oci_spec::runtime::Spec;
use std::os::fd::AsFd;
use std::path::Path;

use super::detached::fstatvfs_flags;
use super::options::propagation;
use super::{Ctx, Error, Result, Root};
use crate::sys;

/// Make `root` the process's `/`: pivot_root (old root detached), or with
/// `no_pivot` MS_MOVE + chroot. Then root.readonly and rootfsPropagation.
pub fn enter(spec: &Spec, root: &Root, no_pivot: bool) -> Result<()> {
    let sc = root.sys;
    if no_pivot {
        sc.fchdir(root.fd.as_fd())
            .map_err(|e| sys::io_err("chdir rootfs", e.source))?;
        sc.mount(Some("."), "/", None, libc::MS_MOVE, None)?;
        sc.chroot(".")
            .map_err(|e| sys::io_err("chroot", e.source))?;
    } else {
        let oldroot = sys::open(Path::new("/"), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        sc.fchdir(root.fd.as_fd())
            .map_err(|e| sys::io_err("chdir rootfs", e.source))?;
        sc.pivot_root(".", ".")?;
        sc.fchdir(oldroot.as_fd())
            .map_err(|e| sys::io_err("chdir old root", e.source))?;
        sc.mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)?;
        sc.umount2(".", libc::MNT_DETACH)
            .map_err(|e| sys::io_err("unmount old root", e.source))?;
    }
    sc.chdir("/")
        .map_err(|e| sys::io_err("chdir /", e.source))?;
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let slashfd = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)?;
        let keep = fstatvfs_flags(&slashfd) & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
        sc.mount(
            None,
            "/",
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | keep,
            None,
        )
        .map_err(|e| Error::Field {
            field: "root.readonly".into(),
            source: e,
        })?;
    }
    if let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation)
    {
        sc.mount(None, "/", None, p, None)
            .field(|| "linux.rootfsPropagation".into())?;
    }
    Ok(())
}

/// Enter `root` with chroot (no mount namespace: nothing to pivot, and
/// nothing may be mounted or unmounted in the host's namespace).
pub fn chroot(root: &Root) -> Result<()> {
    let sc = root.sys;
    sc.fchdir(root.fd.as_fd())
        .map_err(|e| sys::io_err("chdir rootfs", e.source))?;
    sc.chroot(".")
        .map_err(|e| sys::io_err("chroot rootfs", e.source))?;
    sc.chdir("/")
        .map_err(|e| sys::io_err("chdir /", e.source))?;
    Ok(())
}
