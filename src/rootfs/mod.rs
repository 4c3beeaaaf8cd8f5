//! The container's root filesystem: mount propagation, the (optional)
//! overlay root, `mounts` in config order, devices and `/dev` symlinks,
//! masked and read-only paths, then pivot_root (or MS_MOVE + chroot).
//!
//! Every destination inside the rootfs is resolved with `openat2`
//! (`RESOLVE_IN_ROOT`) and mounted onto that fd (through `/proc/self/fd/N`,
//! or with `move_mount`), so a symlink planted by the container cannot
//! redirect a mount to the host. A mount that needs anything done after it
//! is made (bind flags, recursive attributes, propagation, an idmap, a
//! tmpfs's contents) is made detached (`open_tree`, `fsmount`), set up on
//! its fd and only then attached: no path is resolved twice. The root is
//! held by the fd of its mount from the moment it is mounted.
//!
//! Where things live: [`options`] parses mount options, [`detached`] sets
//! up detached mounts, [`bind`] makes bind (and idmapped) mounts, [`fs`]
//! filesystem mounts (tmpfs and the rest), [`kernfs`] the checks and the
//! fall-back of proc and sysfs, [`cgroup`] cgroup mounts, [`devices`] the
//! `/dev` nodes, symlinks and console, [`overlay`] the overlay root,
//! [`protect`] masked and read-only paths, [`enter`] pivot_root / chroot.
//! Every mount, mknod, symlink and chdir goes through the [`Syscall`] the
//! set-up was given, so unit tests ([`tests`]) can record them.

use oci_spec::runtime::{Mount, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::sys;
use crate::syscall::Syscall;

mod bind;
mod cgroup;
mod detached;
mod devices;
mod enter;
mod fs;
mod kernfs;
mod options;
mod overlay;
mod path;
mod protect;
#[cfg(test)]
mod tests;

pub use bind::idmapped_mounts;
pub use cgroup::HostCgroup;
pub use devices::bind_console;
pub use enter::{chroot, enter};
pub use options::{Options, parse_options, propagation};
pub use overlay::Overlay;
pub use path::mkdir_all;
pub use protect::mask_and_protect;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {source}")]
    Field {
        field: String,
        #[source]
        source: sys::Error,
    },
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error(transparent)]
    Sys(#[from] sys::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Name the config field a failed system call was made for.
trait Ctx<T> {
    fn field(self, f: impl FnOnce() -> String) -> Result<T>;
}
impl<T> Ctx<T> for sys::Result<T> {
    fn field(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Field { field: f(), source })
    }
}

/// What the rootfs set-up needs to know besides the config.
pub struct RootfsSetup<'a, 's> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    /// The bundle's rootfs (host path).
    pub rootfs: PathBuf,
    pub overlay: Option<&'a Overlay>,
    /// The container's cgroup path (same in every hierarchy).
    pub cgroup_path: &'a str,
    pub cgroupns: bool,
    pub userns: bool,
    /// Detached idmapped mounts made by the parent (see `idmapped_mounts`),
    /// by index in `mounts`.
    pub idmapped: &'a [Option<OwnedFd>],
    /// The host's cgroup hierarchies, for `cgroup` mounts; `None`: read
    /// from mountinfo when a config has one.
    pub host_cgroups: Option<&'a [HostCgroup]>,
    /// The system calls the set-up makes (`syscall::LINUX`, or a fake).
    pub sys: &'s dyn Syscall,
}

/// The container's root once mounted: an fd on its mount, used for
/// everything after (never re-opened by path), and the system calls it is
/// set up with.
pub struct Root<'a> {
    pub fd: OwnedFd,
    pub sys: &'a dyn Syscall,
}

impl<'a> Root<'a> {
    /// The root of a container without a mount namespace: root.path as is.
    pub fn open(path: &Path, sys: &'a dyn Syscall) -> Result<Root<'a>> {
        let fd =
            sys::open(path, libc::O_PATH | libc::O_DIRECTORY, 0).field(|| "root.path".into())?;
        Ok(Root { fd, sys })
    }
}

/// Set up the rootfs up to (not including) pivot_root. Runs in the
/// container's mount namespace. Returns the root to pivot into.
pub fn prepare<'s>(p: &RootfsSetup<'_, 's>) -> Result<Root<'s>> {
    let linux = p.spec.linux().as_ref();
    // Nothing we do may propagate back to the host.
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation)
        // Shared or unbindable would make the rootfs bind / pivot_root
        // fail: those are applied to "/" after pivot_root (see `enter`).
        .filter(|f| f & (libc::MS_SHARED | libc::MS_UNBINDABLE) == 0)
        .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    p.sys
        .mount(None, "/", None, libc::MS_REC | prop, None)
        .field(|| "linux.rootfsPropagation".into())?;

    let rootfd = overlay::mount_root(p)?;
    let mut dev_is_tmpfs = false;
    for (i, m) in p.spec.mounts().iter().flatten().enumerate() {
        mount_one(p, &rootfd, i, m)?;
        if m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs") {
            dev_is_tmpfs = true;
        }
    }
    devices::create(
        p.sys,
        &rootfd,
        linux.and_then(|l| l.devices().as_ref()),
        p.userns,
        dev_is_tmpfs,
    )?;
    Ok(Root {
        fd: rootfd,
        sys: p.sys,
    })
}

/// One entry of `mounts`, by kind: cgroup, bind (or idmapped), or a
/// filesystem. Propagation options apply to the attached mount.
fn mount_one(p: &RootfsSetup, rootfd: &OwnedFd, i: usize, m: &Mount) -> Result<()> {
    let field = || format!("mounts[{i}] ({})", m.destination().display());
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let idmapped = p.idmapped.get(i).and_then(Option::as_ref);
    let mnt = if typ == "cgroup" || typ == "cgroup2" {
        return cgroup::mount(p, rootfd, m, &opts).map_err(|e| match e {
            Error::Sys(s) => Error::Field {
                field: field(),
                source: s,
            },
            e => e,
        });
    } else if opts.bind || typ == "bind" || idmapped.is_some() {
        bind::mount(p, rootfd, i, m, &opts, idmapped)?
    } else {
        match fs::mount(p, rootfd, i, m, &opts)? {
            Some(mnt) => mnt,
            // Mounted in place: nothing more to do to it.
            None => return Ok(()),
        }
    };
    detached::set_propagation(p.sys, &mnt, &opts.propagation).field(field)?;
    Ok(())
}

/// Write `linux.sysctl` through /proc/sys (we are already in the new
/// namespaces, so the namespaced knobs are the container's).
pub fn sysctl(spec: &Spec) -> Result<()> {
    for (k, v) in spec
        .linux()
        .iter()
        .flat_map(|l| l.sysctl().iter().flatten())
    {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        sys::write_file(&path, v.as_bytes()).field(|| format!("linux.sysctl.{k}"))?;
    }
    Ok(())
}
