//! `/dev`: the `linux.devices` nodes, the default devices and symlinks of
//! a tmpfs `/dev`, and the console.

use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode};
use nix::sys::statfs::DEVPTS_SUPER_MAGIC;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::detached::clone_tree;
use super::path::{is, mkdir_all, reopen_dir};
use super::{Error, Result, Root};
use crate::sys::{self, cstr, fd_path};
use crate::syscall::Syscall;

/// The devices every container with a tmpfs `/dev` gets (runtime-spec).
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The symlinks of a tmpfs `/dev`: (name, target).
const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// A device node to create.
struct Node<'a> {
    path: &'a Path,
    kind: libc::mode_t,
    major: u32,
    minor: u32,
    mode: u32,
    owner: Option<(u32, u32)>,
}

/// The configured devices first, then (for a tmpfs `/dev`) the default
/// ones and the `/dev` symlinks (as runc: a privileged config lists
/// /dev/ptmx, which then becomes the pts/ptmx symlink).
pub(super) fn create(
    sc: &dyn Syscall,
    rootfd: &OwnedFd,
    devices: Option<&Vec<LinuxDevice>>,
    userns: bool,
    dev_is_tmpfs: bool,
) -> Result<()> {
    let mut dir = None;
    for (i, d) in devices.into_iter().flatten().enumerate() {
        let node = configured_node(i, d)?;
        make_device(sc, rootfd, &mut dir, &node, userns).map_err(|e| Error::Field {
            field: format!("linux.devices[{i}]"),
            source: e,
        })?;
    }
    if !dev_is_tmpfs {
        return Ok(());
    }
    for (path, major, minor) in DEFAULT_DEVICES {
        let node = Node {
            path: Path::new(path),
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            owner: None,
        };
        make_device(sc, rootfd, &mut dir, &node, userns).map_err(|e| Error::Field {
            field: format!("default device {path}"),
            source: e,
        })?;
    }
    let devfd = &NodeDir::get(&mut dir, rootfd, Path::new("/dev"))?.fd;
    for (link, target) in DEV_SYMLINKS {
        if link == "ptmx" {
            remove_ptmx(sc, devfd)?;
        }
        match sc.symlinkat(target, devfd.as_fd(), link) {
            Err(e) if e.source.raw_os_error() != Some(libc::EEXIST) => {
                return Err(sys::io_err(format!("symlink /dev/{link}"), e.source).into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// `linux.devices[i]` as a node to make.
fn configured_node(i: usize, d: &LinuxDevice) -> Result<Node<'_>> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::Invalid {
                field: format!("linux.devices[{i}].type"),
                msg: "\"a\" is not a device type".into(),
            });
        }
    };
    let owner = match (d.uid(), d.gid()) {
        (None, None) => None,
        (u, g) => Some((u.unwrap_or(0), g.unwrap_or(0))),
    };
    Ok(Node {
        path: d.path(),
        kind,
        major: d.major() as u32,
        minor: d.minor() as u32,
        mode: d.file_mode().unwrap_or(0o666),
        owner,
    })
}

/// The directory nodes are made in (a real fd, not O_PATH), opened once for
/// the nodes that share it: the default devices and symlinks all go into
/// /dev.
struct NodeDir {
    path: PathBuf,
    fd: OwnedFd,
    /// A devpts instance, which makes its own nodes.
    devpts: bool,
}

impl NodeDir {
    /// The directory `path` in the root (made if missing): `cached` if it
    /// is that one, else opened and kept in `cached`.
    fn get<'c>(
        cached: &'c mut Option<NodeDir>,
        rootfd: &OwnedFd,
        path: &Path,
    ) -> sys::Result<&'c NodeDir> {
        if cached.as_ref().is_some_and(|d| d.path == path) {
            return Ok(cached.as_ref().expect("checked above"));
        }
        let fd = reopen_dir(&mkdir_all(rootfd, path, false)?)?;
        let devpts =
            nix::sys::statfs::fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == DEVPTS_SUPER_MAGIC);
        Ok(cached.insert(NodeDir {
            path: path.to_path_buf(),
            fd,
            devpts,
        }))
    }
}

/// Make one node: kept if the same device is already there, skipped in a
/// devpts, bound from the host where mknod is not allowed. `dir`: the
/// directory of the previous node, reused if it is this one's.
fn make_device(
    sc: &dyn Syscall,
    rootfd: &OwnedFd,
    dir: &mut Option<NodeDir>,
    n: &Node,
    userns: bool,
) -> sys::Result<()> {
    let Node {
        path,
        kind,
        major,
        minor,
        mode,
        owner,
    } = *n;
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = cstr(path.file_name().unwrap_or_default());
    let name = name.as_c_str();
    let NodeDir {
        fd: dirfd, devpts, ..
    } = NodeDir::get(dir, rootfd, parent)?;
    let dev = libc::makedev(major, minor);
    if let Ok(st) = nix::sys::stat::fstatat(dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        // An existing node is kept if it is the same device; anything else
        // at that path is an error (runtime-spec, linux.devices).
        if is(&st, kind) && (kind == libc::S_IFIFO || st.st_rdev == dev) {
            return Ok(());
        }
        return Err(sys::errno(
            format!("{} exists and is not the requested device", path.display()),
            libc::EEXIST,
        ));
    }
    // A devpts instance makes its own nodes (/dev/pts/N appear as ptys are
    // opened): a host pty listed in a privileged config is not created.
    if *devpts {
        return Ok(());
    }
    if userns {
        // mknod is not allowed in a user namespace: bind the host's node,
        // after checking it is the device the config asks for.
        return bind_host_device(sc, rootfd, path, kind, dev);
    }
    match sc.mknodat(dirfd.as_fd(), name, kind | (mode & 0o7777), dev) {
        // As runc: where mknod is refused, bind the host's node.
        Err(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
            return bind_host_device(sc, rootfd, path, kind, dev);
        }
        Err(e) => return Err(sys::io_err(format!("mknod {}", path.display()), e.source)),
        Ok(()) => {}
    }
    let perm = Mode::from_bits_truncate(mode & 0o7777);
    nix::sys::stat::fchmodat(dirfd, name, perm, FchmodatFlags::FollowSymlink)
        .map_err(|e| sys::errno(format!("chmod {}", path.display()), e as i32))?;
    if let Some((uid, gid)) = owner {
        let (u, g) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        nix::unistd::fchownat(dirfd, name, u, g, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| sys::errno(format!("chown {}", path.display()), e as i32))?;
    }
    Ok(())
}

/// Bind the host's node at the same path, checked to be the requested
/// device (type, major and minor) on the fd that is bound.
fn bind_host_device(
    sc: &dyn Syscall,
    rootfd: &OwnedFd,
    path: &Path,
    kind: libc::mode_t,
    dev: libc::dev_t,
) -> sys::Result<()> {
    let host = sys::open(path, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let st = nix::sys::stat::fstat(&host)
        .map_err(|e| sys::errno(format!("stat host {}", path.display()), e as i32))?;
    if !is(&st, kind) || (kind != libc::S_IFIFO && st.st_rdev != dev) {
        return Err(sys::errno(
            format!(
                "host {} is not the requested device ({}:{}), refusing to bind it",
                path.display(),
                libc::major(dev),
                libc::minor(dev)
            ),
            libc::EINVAL,
        ));
    }
    let t = mkdir_all(rootfd, path, true)?;
    let m = clone_tree(sc, Some(&host), "", false)?;
    sc.move_mount(m.as_fd(), t.as_fd())
}

/// Remove /dev/ptmx (a node made for a privileged config, or a host node
/// bound there under a user namespace) to make room for the symlink.
fn remove_ptmx(sc: &dyn Syscall, devfd: &OwnedFd) -> Result<()> {
    let unlink = || nix::unistd::unlinkat(devfd, "ptmx", UnlinkatFlags::NoRemoveDir);
    match unlink() {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(nix::errno::Errno::EBUSY) => {}
        Err(e) => return Err(sys::errno("remove /dev/ptmx", e as i32).into()),
    }
    // A host node bound there: unmount it first.
    let fd = nix::fcntl::openat(
        devfd,
        "ptmx",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys::errno("open /dev/ptmx", e as i32))?;
    sc.umount2(&fd_path(&fd), libc::MNT_DETACH)
        .map_err(|e| sys::io_err("unmount the host node bound at /dev/ptmx", e.source))?;
    drop(fd);
    unlink().map_err(|e| sys::errno("remove /dev/ptmx", e as i32))?;
    Ok(())
}

/// Open the host's /dev/null and check it is the real null device.
pub(super) fn dev_null() -> sys::Result<OwnedFd> {
    let fd = sys::open(Path::new("/dev/null"), libc::O_PATH, 0)?;
    match nix::sys::stat::fstat(&fd) {
        Ok(st) if is(&st, libc::S_IFCHR) && st.st_rdev == libc::makedev(1, 3) => Ok(fd),
        _ => Err(sys::errno("/dev/null is not the null device", libc::EINVAL)),
    }
}

/// Bind the pty slave onto /dev/console inside `root`.
pub fn bind_console(root: &Root, slave: &OwnedFd) -> Result<()> {
    let t = mkdir_all(&root.fd, Path::new("/dev/console"), true)?;
    root.sys.mount(
        Some(&fd_path(slave)),
        &fd_path(&t),
        None,
        libc::MS_BIND,
        None,
    )?;
    Ok(())
}
