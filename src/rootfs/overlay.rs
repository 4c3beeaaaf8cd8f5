//! The root's own mount: a recursive bind of the bundle's rootfs, or the
//! opt-in overlay root (the bundle's rootfs as the read-only lower layer).

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use super::detached::clone_tree;
use super::{Ctx, Result, RootfsSetup};
use crate::spec::OVERLAY_ANNOTATION;
use crate::sys;
use crate::syscall::Syscall;

/// An overlay root: the bundle's rootfs is the read-only lower layer.
pub struct Overlay {
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

/// Mount the root (over itself, or the overlay at `merged`) and return
/// the fd of its mount, which is the root from here on.
pub(super) fn mount_root(p: &RootfsSetup) -> Result<OwnedFd> {
    let (path, mnt) = match p.overlay {
        Some(o) => {
            let field = || format!("annotations.{OVERLAY_ANNOTATION}");
            let mnt = overlay_mount(p.sys, o).field(field)?;
            (&o.merged, mnt)
        }
        None => {
            let mnt = clone_tree(p.sys, None, &p.rootfs.to_string_lossy(), true)
                .field(|| "root.path".into())?;
            (&p.rootfs, mnt)
        }
    };
    let target =
        sys::open(path, libc::O_PATH | libc::O_DIRECTORY, 0).field(|| "root.path".into())?;
    p.sys
        .move_mount(mnt.as_fd(), target.as_fd())
        .field(|| "root.path".into())?;
    Ok(mnt)
}

/// The overlay root as a detached mount. Each layer is its own fsconfig
/// parameter, so no path is ever split on a comma; the lower layer uses
/// `lowerdir+` (one literal path) where the kernel has it, else `lowerdir`
/// with ':' ',' and '\' escaped.
fn overlay_mount(sc: &dyn Syscall, o: &Overlay) -> sys::Result<OwnedFd> {
    let (lower, upper, work) = (
        o.lower.to_string_lossy(),
        o.upper.to_string_lossy(),
        o.work.to_string_lossy(),
    );
    let params = |lowerkey, lower| {
        [
            ("source", Some("overlay")),
            (lowerkey, Some(lower)),
            ("upperdir", Some(&*upper)),
            ("workdir", Some(&*work)),
        ]
    };
    match sc.fs_mount("overlay", &params("lowerdir+", &lower), 0) {
        Err(e) if e.source.raw_os_error() == Some(libc::EINVAL) => {
            let esc = sys::overlay_lower_escape(o.lower.as_os_str());
            sc.fs_mount(
                "overlay",
                &params("lowerdir", &String::from_utf8_lossy(&esc)),
                0,
            )
        }
        r => r,
    }
}
