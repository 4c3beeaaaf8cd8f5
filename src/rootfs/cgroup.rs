//! `cgroup` and `cgroup2` mounts: a tmpfs holding one mount per host
//! hierarchy (v1, hybrid), or one cgroup2 mount (v2). With a cgroup
//! namespace the container sees its own cgroup as the root; without one,
//! its cgroup directories are bind-mounted.

use oci_spec::runtime::Mount;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::detached::{clone_tree, set_flags};
use super::options::Options;
use super::path::{mkdir_all, reopen_dir};
use super::{Result, RootfsSetup};
use crate::sys::{self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, fd_path};

/// A cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCgroup {
    pub mountpoint: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: &'static str,
    /// The v1 mount data: the controllers ("cpu,cpuacct"), or a name.
    pub data: String,
}

/// The host's cgroup hierarchies, from the parse of mountinfo that the
/// parent already made (and cached) when it created the cgroup.
fn host_cgroups() -> Vec<HostCgroup> {
    let m = crate::mountinfo::host();
    let mut v: Vec<HostCgroup> =
        m.v1.iter()
            .map(|h| HostCgroup {
                mountpoint: h.mountpoint.clone(),
                fstype: "cgroup",
                data: h.controllers.join(","),
            })
            .collect();
    if let Some(u) = &m.unified {
        v.push(HostCgroup {
            mountpoint: u.clone(),
            fstype: "cgroup2",
            data: String::new(),
        });
    }
    v
}

/// Mount a `cgroup`/`cgroup2` entry of `mounts`, as the host's hierarchies
/// are laid out.
pub(super) fn mount(p: &RootfsSetup, rootfd: &OwnedFd, m: &Mount, opts: &Options) -> Result<()> {
    match p.host_cgroups {
        Some(host) => mount_for(p, rootfd, m, opts, host),
        None => mount_for(p, rootfd, m, opts, &host_cgroups()),
    }
}

/// [`mount`] for a given host layout.
fn mount_for(
    p: &RootfsSetup,
    rootfd: &OwnedFd,
    m: &Mount,
    opts: &Options,
    host: &[HostCgroup],
) -> Result<()> {
    let c = CgroupMount { p, opts };
    let target = mkdir_all(rootfd, m.destination(), false)?;
    let unified_only = host
        .iter()
        .any(|h| h.fstype == "cgroup2" && h.mountpoint == Path::new("/sys/fs/cgroup"));
    if unified_only {
        if p.cgroupns {
            let made = p.sys.mount(
                Some("cgroup"),
                &fd_path(&target),
                Some("cgroup2"),
                c.flags(),
                None,
            );
            match made {
                Ok(()) => {}
                // In a user namespace the kernel may refuse a cgroup2 mount
                // (EPERM; EBUSY: the hierarchy's one superblock cannot take
                // these flags from there): bind the container's own cgroup
                // directory instead, the same view, as runc does.
                Err(e)
                    if p.userns
                        && matches!(e.source.raw_os_error(), Some(libc::EPERM | libc::EBUSY)) =>
                {
                    let src = format!("/sys/fs/cgroup{}", p.cgroup_path);
                    c.bind(Path::new(&src), &target)?;
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            let src = format!("/sys/fs/cgroup{}", p.cgroup_path);
            c.bind(Path::new(&src), &target)?;
        }
        return Ok(());
    }
    c.v1_tree(&target, host)
}

/// One cgroup mount entry being made.
struct CgroupMount<'a> {
    p: &'a RootfsSetup<'a, 'a>,
    opts: &'a Options,
}

impl CgroupMount<'_> {
    /// The flags of each hierarchy's mount: nosuid/nodev/noexec/relatime
    /// and ro as the entry says.
    fn flags(&self) -> libc::c_ulong {
        self.opts.flags
            & (libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC
                | libc::MS_RELATIME
                | libc::MS_RDONLY)
    }

    /// Bind the container's own cgroup directory (no cgroup namespace).
    fn bind(&self, src: &Path, target: &OwnedFd) -> sys::Result<()> {
        let sc = self.p.sys;
        let m = clone_tree(sc, None, &src.to_string_lossy(), true)?;
        set_flags(sc, &m, self.flags())?;
        sc.move_mount(m.as_fd(), target.as_fd())
    }

    /// The v1 (or hybrid) layout: a tmpfs at `target` with one mount per
    /// host hierarchy below /sys/fs/cgroup, and a symlink per co-mounted
    /// controller ("cpu" -> "cpu,cpuacct").
    fn v1_tree(&self, target: &OwnedFd, host: &[HostCgroup]) -> Result<()> {
        let sc = self.p.sys;
        let tmpfs = sc.fs_mount(
            "tmpfs",
            &[("source", Some("tmpfs")), ("mode", Some("755"))],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        )?;
        sc.move_mount(tmpfs.as_fd(), target.as_fd())?;
        let destfd = reopen_dir(&tmpfs)?;
        for h in host {
            let name = match h.mountpoint.strip_prefix("/sys/fs/cgroup") {
                Ok(n) if !n.as_os_str().is_empty() => n.to_path_buf(),
                _ => continue,
            };
            // Inside the fresh tmpfs (resolved from its own fd).
            let t = mkdir_all(&destfd, &name, false)?;
            if self.p.cgroupns {
                sc.mount(
                    Some("cgroup"),
                    &fd_path(&t),
                    Some(h.fstype),
                    self.flags(),
                    (!h.data.is_empty()).then_some(h.data.as_str()),
                )?;
            } else {
                let src = h
                    .mountpoint
                    .join(self.p.cgroup_path.trim_start_matches('/'));
                // A hierarchy without the container's cgroup is left out
                // (its open_tree says ENOENT; no stat of it first).
                match self.bind(&src, &t) {
                    Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => continue,
                    r => r?,
                }
            }
            let n = name.to_string_lossy();
            if n.contains(',') {
                for part in n.split(',') {
                    let _ = sc.symlinkat(&n, destfd.as_fd(), part);
                }
            }
        }
        if self.opts.flags & libc::MS_RDONLY != 0 {
            set_flags(
                sc,
                &tmpfs,
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            )?;
        }
        Ok(())
    }
}
