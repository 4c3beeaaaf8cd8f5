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

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::sys::{self, cstr, fd_path};

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

trait Ctx<T> {
    fn field(self, f: impl FnOnce() -> String) -> Result<T>;
}
impl<T> Ctx<T> for sys::Result<T> {
    fn field(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Field { field: f(), source })
    }
}

/// An overlay root: the bundle's rootfs is the read-only lower layer.
pub struct Overlay {
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

/// What the rootfs set-up needs to know besides the config.
pub struct Plan<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    /// The bundle's rootfs (host path).
    pub rootfs: PathBuf,
    pub overlay: Option<Overlay>,
    /// The container's cgroup path (same in every hierarchy).
    pub cgroup_path: &'a str,
    pub cgroupns: bool,
    pub userns: bool,
    /// Detached idmapped mounts made by the parent (see `idmapped_mounts`),
    /// by index in `mounts`.
    pub idmapped: &'a [Option<OwnedFd>],
}

/// Open `path` inside `root`, creating missing directories on the way
/// (and the last component as a file when `file` is set).
pub fn mkdir_all(root: &OwnedFd, path: &Path, file: bool) -> sys::Result<OwnedFd> {
    let comps: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(sys::errno(
            format!("{}: '..' not allowed", path.display()),
            libc::EINVAL,
        ));
    }
    let mut cur = PathBuf::from("/");
    let mut dirfd = sys::open_in_root(root.as_raw_fd(), &cur, libc::O_PATH | libc::O_DIRECTORY)?;
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let last = i + 1 == comps.len();
        let flags = if last && file {
            libc::O_PATH
        } else {
            libc::O_PATH | libc::O_DIRECTORY
        };
        match sys::open_in_root(root.as_raw_fd(), &cur, flags) {
            Ok(fd) => dirfd = fd,
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => {
                let name = cstr(c);
                if last && file {
                    let fd = unsafe {
                        libc::openat(
                            dirfd.as_raw_fd(),
                            name.as_ptr(),
                            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                            0o644,
                        )
                    };
                    if fd < 0 {
                        return Err(sys::last(format!("create {}", cur.display())));
                    }
                    unsafe { libc::close(fd) };
                } else if unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), 0o755) } < 0
                    && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
                {
                    return Err(sys::last(format!("mkdir {}", cur.display())));
                }
                dirfd = sys::open_in_root(root.as_raw_fd(), &cur, flags)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(dirfd)
}

/// Parsed mount options.
#[derive(Default, Debug, PartialEq)]
pub struct Options {
    pub flags: libc::c_ulong,
    pub clear: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
    /// Recursive mount attributes (`rro`, `rnosuid`...): MOUNT_ATTR_* to
    /// set and to clear with mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clr: u64,
    pub tmpcopyup: bool,
}

use sys::{
    MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_STRICTATIME, MountAttr,
};
const MS_NOSYMFOLLOW: libc::c_ulong = 0x100;

/// MOUNT_ATTR_* (set, clear) of a recursive option name.
fn recursive_attr(name: &str) -> Option<(u64, u64)> {
    Some(match name {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (0, MOUNT_ATTR__ATIME),
        "rnorelatime" | "ratime" => (0, MOUNT_ATTR__ATIME),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
        // Back to the default (relatime), as `nostrictatime` does.
        "rnostrictatime" => (0, MOUNT_ATTR__ATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The per-mount MS_* flags as MOUNT_ATTR_* (set, clear), with the
/// semantics of mount(MS_REMOUNT|MS_BIND, flags): every per-mount flag not
/// given is cleared, except the atime mode, which is kept unless one is given.
fn remount_attrs(flags: libc::c_ulong) -> (u64, u64) {
    let mut set = 0;
    for (ms, attr) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if flags & ms != 0 {
            set |= attr;
        }
    }
    let mut clr = (MOUNT_ATTR_RDONLY
        | MOUNT_ATTR_NOSUID
        | MOUNT_ATTR_NODEV
        | MOUNT_ATTR_NOEXEC
        | MOUNT_ATTR_NOSYMFOLLOW)
        & !set;
    let atime = libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_RELATIME | libc::MS_NODIRATIME;
    if flags & atime != 0 {
        clr |= MOUNT_ATTR__ATIME | (MOUNT_ATTR_NODIRATIME & !set);
        if flags & libc::MS_NOATIME != 0 {
            set |= MOUNT_ATTR_NOATIME;
        } else if flags & libc::MS_STRICTATIME != 0 {
            set |= MOUNT_ATTR_STRICTATIME;
        }
    }
    (set, clr)
}

/// Apply per-mount flags to a (detached) mount, remount-style. A flag the
/// kernel has locked (a mount from a less privileged mount namespace may
/// not drop nosuid/nodev/noexec/ro) is kept rather than failing.
fn set_flags(mnt: &OwnedFd, flags: libc::c_ulong) -> sys::Result<()> {
    let (set, clr) = remount_attrs(flags);
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        ..Default::default()
    };
    match sys::mount_setattr(mnt, false, &attr) {
        Err(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
            let locked = remount_attrs(fstatvfs_flags(mnt)).0
                & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
            let attr = MountAttr {
                attr_set: set | locked,
                attr_clr: clr & !locked,
                ..Default::default()
            };
            sys::mount_setattr(mnt, false, &attr)
        }
        r => r,
    }
}

/// mount_setattr(AT_RECURSIVE): apply attributes to a whole mount tree
/// (the recursive `r*` options).
fn set_recursive_attrs(fd: &OwnedFd, set: u64, clr: u64) -> sys::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        ..Default::default()
    };
    sys::mount_setattr(fd, true, &attr)
}

/// Apply the propagation options to a mount through its fd.
fn set_propagation(fd: &OwnedFd, props: &[libc::c_ulong]) -> sys::Result<()> {
    for p in props {
        let attr = MountAttr {
            propagation: p & !libc::MS_REC,
            ..Default::default()
        };
        sys::mount_setattr(fd, p & libc::MS_REC != 0, &attr)?;
    }
    Ok(())
}

/// A detached copy of the mount (tree) at `fd` (or at host path `path`).
fn clone_tree(fd: Option<&OwnedFd>, path: &str, recursive: bool) -> sys::Result<OwnedFd> {
    let flags = sys::OPEN_TREE_CLONE
        | if recursive {
            sys::AT_RECURSIVE as u32
        } else {
            0
        };
    match fd {
        Some(fd) => sys::open_tree(fd.as_raw_fd(), "", flags),
        None => sys::open_tree(libc::AT_FDCWD, path, flags),
    }
}

/// Bind `src` (the tree at that fd) onto `target` with `flags` applied to
/// the detached copy before it is attached.
fn bind_fd(
    src: &OwnedFd,
    target: &OwnedFd,
    recursive: bool,
    flags: libc::c_ulong,
) -> sys::Result<OwnedFd> {
    let m = clone_tree(Some(src), "", recursive)?;
    set_flags(&m, flags)?;
    sys::move_mount(&m, target)?;
    Ok(m)
}

pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options::default();
    for opt in opts {
        let (set, clr): (libc::c_ulong, libc::c_ulong) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "lazytime" => (libc::MS_LAZYTIME, 0),
            "iversion" => (libc::MS_I_VERSION, 0),
            "noiversion" => (0, libc::MS_I_VERSION),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "nolazytime" => (0, libc::MS_LAZYTIME),
            "bind" => {
                o.bind = true;
                (0, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (0, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation.push(propagation(opt).unwrap_or(0));
                (0, 0)
            }
            "tmpcopyup" => {
                o.tmpcopyup = true;
                (0, 0)
            }
            "nosymfollow" => (MS_NOSYMFOLLOW, 0),
            "symfollow" => (0, MS_NOSYMFOLLOW),
            other if recursive_attr(other).is_some() => {
                let (set, clr) = recursive_attr(other).unwrap_or_default();
                o.rec_set = (o.rec_set & !clr) | set;
                o.rec_clr |= clr;
                (0, 0)
            }
            other => {
                o.data.push(other.to_string());
                (0, 0)
            }
        };
        o.flags = (o.flags & !clr) | set;
        o.clear |= clr;
    }
    o
}

/// MS_* flags of a propagation mode name.
pub fn propagation(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// The per-mount MS_* flags of the mount an fd is on.
fn fstatvfs_flags(fd: &impl AsRawFd) -> libc::c_ulong {
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut s) } < 0 {
        return 0;
    }
    let mut f = 0;
    for (st, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if s.f_flag & st != 0 {
            f |= ms;
        }
    }
    f
}

/// Copy a directory tree (files, dirs, symlinks, modes and owners) from one
/// directory fd to another, never following symlinks (for `tmpcopyup`).
fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> sys::Result<()> {
    let dir = std::fs::read_dir(fd_path(from)).map_err(|e| sys::io_err("read dir", e))?;
    for ent in dir.flatten() {
        let name = cstr(ent.file_name());
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let flags = libc::AT_SYMLINK_NOFOLLOW;
        if unsafe { libc::fstatat(from.as_raw_fd(), name.as_ptr(), &mut st, flags) } < 0 {
            continue;
        }
        let mode = st.st_mode & 0o7777;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                unsafe { libc::mkdirat(to.as_raw_fd(), name.as_ptr(), mode) };
                let sub_from = openat(from, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                let sub_to = openat(to, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                copy_tree(&sub_from, &sub_to)?;
            }
            libc::S_IFREG => {
                let src = openat(from, &name, libc::O_RDONLY, 0)?;
                let dst = openat(
                    to,
                    &name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                    mode,
                )?;
                std::io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst))
                    .map_err(|e| sys::io_err("tmpcopyup: copy", e))?;
            }
            libc::S_IFLNK => {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                let n = unsafe {
                    libc::readlinkat(
                        from.as_raw_fd(),
                        name.as_ptr(),
                        buf.as_mut_ptr() as *mut libc::c_char,
                        buf.len(),
                    )
                };
                if n < 0 {
                    continue;
                }
                buf.truncate(n as usize);
                let target = cstr(std::ffi::OsStr::from_bytes(&buf));
                unsafe { libc::symlinkat(target.as_ptr(), to.as_raw_fd(), name.as_ptr()) };
            }
            _ => continue,
        }
        unsafe {
            libc::fchownat(to.as_raw_fd(), name.as_ptr(), st.st_uid, st.st_gid, flags);
            // Modes exactly as the source (creation is subject to the umask).
            if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                libc::fchmodat(to.as_raw_fd(), name.as_ptr(), mode, 0);
            }
        };
    }
    Ok(())
}

/// `openat` relative to a directory fd, never following a final symlink.
fn openat(dir: &OwnedFd, name: &std::ffi::CStr, flags: i32, mode: u32) -> sys::Result<OwnedFd> {
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            mode,
        )
    };
    if fd < 0 {
        return Err(sys::last(format!(
            "tmpcopyup: open {}",
            name.to_string_lossy()
        )));
    }
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Cgroup hierarchies mounted on the host: (mount point, fs type, mount
/// data). Read from the cgroups module's parse of mountinfo, which the
/// parent already made (and cached) when it created the cgroup.
fn host_cgroup_mounts() -> Vec<(PathBuf, &'static str, String)> {
    let m = crate::cgroups::mountinfo::host();
    let mut v: Vec<(PathBuf, &'static str, String)> =
        m.v1.iter()
            .map(|h| (h.mountpoint.clone(), "cgroup", h.controllers.join(",")))
            .collect();
    if let Some(u) = &m.unified {
        v.push((u.clone(), "cgroup2", String::new()));
    }
    v
}

/// The container's root once mounted: its path in the container's mount
/// namespace (for messages) and an fd on its mount, used for everything
/// after (never re-opened by path).
pub struct Root {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

impl Root {
    /// The root of a container without a mount namespace: root.path as is.
    pub fn open(path: &Path) -> Result<Root> {
        let fd =
            sys::open(path, libc::O_PATH | libc::O_DIRECTORY, 0).field(|| "root.path".into())?;
        Ok(Root {
            path: path.to_path_buf(),
            fd,
        })
    }
}

/// Enter `root` with chroot (no mount namespace: nothing to pivot, and
/// nothing may be mounted or unmounted in the host's namespace).
pub fn chroot(root: &Root) -> Result<()> {
    if unsafe { libc::fchdir(root.fd.as_raw_fd()) } < 0 {
        return Err(sys::last("chdir rootfs").into());
    }
    let dot = cstr(".");
    if unsafe { libc::chroot(dot.as_ptr()) } < 0 {
        return Err(sys::last("chroot rootfs").into());
    }
    let slash = cstr("/");
    if unsafe { libc::chdir(slash.as_ptr()) } < 0 {
        return Err(sys::last("chdir /").into());
    }
    Ok(())
}

/// The overlay root as a detached mount. Each layer is its own fsconfig
/// parameter, so no path is ever split on a comma; the lower layer uses
/// `lowerdir+` (one literal path) where the kernel has it, else `lowerdir`
/// with ':' ',' and '\' escaped.
fn overlay_mount(o: &Overlay) -> sys::Result<OwnedFd> {
    let (lower, upper, work) = (
        o.lower.to_string_lossy(),
        o.upper.to_string_lossy(),
        o.work.to_string_lossy(),
    );
    let r = sys::fs_mount(
        "overlay",
        &[
            ("source", Some("overlay")),
            ("lowerdir+", Some(&lower)),
            ("upperdir", Some(&upper)),
            ("workdir", Some(&work)),
        ],
        0,
    );
    match r {
        Err(e) if e.source.raw_os_error() == Some(libc::EINVAL) => {
            let mut esc = String::new();
            for c in lower.chars() {
                if matches!(c, ':' | ',' | '\\') {
                    esc.push('\\');
                }
                esc.push(c);
            }
            sys::fs_mount(
                "overlay",
                &[
                    ("source", Some("overlay")),
                    ("lowerdir", Some(&esc)),
                    ("upperdir", Some(&upper)),
                    ("workdir", Some(&work)),
                ],
                0,
            )
        }
        r => r,
    }
}

fn id_map_text(m: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    m.iter()
        .map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size()))
        .collect()
}

/// A user namespace with these maps, as an fd (for MOUNT_ATTR_IDMAP): a
/// child is cloned into a new user namespace, its maps written, its
/// namespace opened, and the child killed.
fn userns_with_maps(uid: &str, gid: &str) -> sys::Result<OwnedFd> {
    let pid = sys::clone3(libc::CLONE_NEWUSER as u64, None)?;
    if pid == 0 {
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        loop {
            unsafe { libc::pause() };
        }
    }
    let r = (|| {
        sys::write_file(&format!("/proc/{pid}/uid_map"), uid.as_bytes())?;
        sys::write_file(&format!("/proc/{pid}/gid_map"), gid.as_bytes())?;
        sys::open(
            Path::new(&format!("/proc/{pid}/ns/user")),
            libc::O_RDONLY,
            0,
        )
    })();
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    r
}

/// The idmapped mounts of a config (`uidMappings`/`gidMappings` on a mount,
/// or an `idmap`/`ridmap` option, which without mappings of its own takes
/// the container's): made by the parent in the host's user namespace, as
/// detached bind mounts that the container's init attaches. Indexed like
/// `mounts`. Costs nothing for configs without idmapped mounts.
pub fn idmapped_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<Option<OwnedFd>>> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = m.options().as_deref().unwrap_or(&[]);
        let ridmap = opts.iter().any(|o| o == "ridmap");
        let idmap = ridmap || opts.iter().any(|o| o == "idmap");
        if !idmap && m.uid_mappings().is_none() && m.gid_mappings().is_none() {
            out.push(None);
            continue;
        }
        let field = || format!("mounts[{i}] ({})", m.destination().display());
        let linux = spec.linux().as_ref();
        let (uid, gid) = match (m.uid_mappings(), m.gid_mappings()) {
            (Some(u), Some(g)) => (id_map_text(u), id_map_text(g)),
            (None, None) => match (
                linux.and_then(|l| l.uid_mappings().as_ref()),
                linux.and_then(|l| l.gid_mappings().as_ref()),
            ) {
                (Some(u), Some(g)) => (id_map_text(u), id_map_text(g)),
                _ => {
                    return Err(Error::Invalid {
                        field: format!("mounts[{i}].uidMappings"),
                        msg: "an idmapped mount needs uidMappings and gidMappings, on the mount or in linux (user namespace)".into(),
                    });
                }
            },
            _ => {
                return Err(Error::Invalid {
                    field: format!("mounts[{i}].uidMappings"),
                    msg: "uidMappings and gidMappings go together".into(),
                });
            }
        };
        let parsed = parse_options(opts);
        let src = m.source().as_ref().map(|s| {
            if s.is_absolute() {
                s.clone()
            } else {
                bundle.join(s)
            }
        });
        let (Some(src), true) = (src, parsed.bind || m.typ().as_deref() == Some("bind")) else {
            return Err(Error::Invalid {
                field: format!("mounts[{i}].options"),
                msg: "idmapped mounts are bind mounts (with a source)".into(),
            });
        };
        let userns = userns_with_maps(&uid, &gid).field(field)?;
        let mnt = clone_tree(None, &src.to_string_lossy(), parsed.recursive).field(field)?;
        let attr = MountAttr {
            attr_set: sys::MOUNT_ATTR_IDMAP,
            userns_fd: userns.as_raw_fd() as u64,
            ..Default::default()
        };
        sys::mount_setattr(&mnt, ridmap, &attr).map_err(|e| {
            let why = match e.source.raw_os_error() {
                Some(libc::EINVAL) => format!(
                    "{}: its filesystem does not support idmapped mounts on this kernel ({e})",
                    src.display()
                ),
                Some(libc::ENOSYS) => format!("the kernel has no mount_setattr ({e})"),
                _ => e.to_string(),
            };
            Error::Invalid {
                field: field(),
                msg: why,
            }
        })?;
        out.push(Some(mnt));
    }
    // Nothing idmapped: no allocation worth keeping.
    if out.iter().all(Option::is_none) {
        out.clear();
    }
    Ok(out)
}

/// Set up the rootfs up to (not including) pivot_root. Runs in the
/// container's mount namespace. Returns the root to pivot into.
pub fn prepare(p: &Plan) -> Result<Root> {
    let linux = p.spec.linux().as_ref();
    // Nothing we do may propagate back to the host.
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation)
        // Shared or unbindable would make the rootfs bind / pivot_root
        // fail: those are applied to "/" after pivot_root (see `enter`).
        .filter(|f| f & (libc::MS_SHARED | libc::MS_UNBINDABLE) == 0)
        .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    sys::mount(None, "/", None, libc::MS_REC | prop, None)
        .field(|| "linux.rootfsPropagation".into())?;

    let (path, mnt) = match &p.overlay {
        Some(o) => {
            let field = || format!("annotations.{}", "org.myrt.rootfs.overlay");
            let mnt = overlay_mount(o).field(field)?;
            (o.merged.clone(), mnt)
        }
        None => {
            let mnt =
                clone_tree(None, &p.rootfs.to_string_lossy(), true).field(|| "root.path".into())?;
            (p.rootfs.clone(), mnt)
        }
    };
    let target =
        sys::open(&path, libc::O_PATH | libc::O_DIRECTORY, 0).field(|| "root.path".into())?;
    sys::move_mount(&mnt, &target).field(|| "root.path".into())?;
    // The fd of the mount itself is the root from here on.
    let rootfd = mnt;

    let mut dev_is_tmpfs = false;
    for (i, m) in p.spec.mounts().iter().flatten().enumerate() {
        mount_one(p, &rootfd, i, m)?;
        if m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs") {
            dev_is_tmpfs = true;
        }
    }

    create_devices(
        &rootfd,
        linux.and_then(|l| l.devices().as_ref()),
        p.userns,
        dev_is_tmpfs,
    )?;
    Ok(Root { path, fd: rootfd })
}

/// Does `path` exist in the root, and is its last component a symlink?
/// (Parents are resolved in the root.)
fn lstat_in_root(rootfd: &OwnedFd, path: &Path) -> Option<libc::stat> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name()?;
    let dir =
        sys::open_in_root(rootfd.as_raw_fd(), parent, libc::O_PATH | libc::O_DIRECTORY).ok()?;
    let c = cstr(name);
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH,
        )
    };
    (r == 0).then_some(st)
}

/// The options of a filesystem mount as fsconfig parameters: superblock
/// flags and `key=value` / `flag` data options.
fn fs_params<'a>(o: &'a Options, src: &'a str) -> Vec<(&'a str, Option<&'a str>)> {
    let mut v = vec![("source", Some(src))];
    for (ms, name) in [
        (libc::MS_RDONLY, "ro"),
        (libc::MS_SYNCHRONOUS, "sync"),
        (libc::MS_DIRSYNC, "dirsync"),
        (libc::MS_LAZYTIME, "lazytime"),
        (libc::MS_MANDLOCK, "mand"),
    ] {
        if o.flags & ms != 0 {
            v.push((name, None));
        }
    }
    for d in &o.data {
        match d.split_once('=') {
            Some((k, val)) => v.push((k, Some(val))),
            None => v.push((d.as_str(), None)),
        }
    }
    v
}

fn mount_one(p: &Plan, rootfd: &OwnedFd, i: usize, m: &Mount) -> Result<()> {
    let field = || format!("mounts[{i}] ({})", m.destination().display());
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = opts.bind || typ == "bind";
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(p, rootfd, m, &opts).map_err(|e| match e {
            Error::Sys(s) => Error::Field {
                field: field(),
                source: s,
            },
            e => e,
        });
    }
    let idmapped = p.idmapped.get(i).and_then(Option::as_ref);
    let mnt = if bind || idmapped.is_some() {
        let src = m.source().as_ref().ok_or_else(|| Error::Invalid {
            field: format!("mounts[{i}].source"),
            msg: "a bind mount needs a source".into(),
        })?;
        let src = if src.is_absolute() {
            src.clone()
        } else {
            p.bundle.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| Error::Invalid {
            field: format!("mounts[{i}].source"),
            msg: format!("{}: {e}", src.display()),
        })?;
        // Data options (e.g. mode=755) mean nothing to a bind mount; the
        // kernel ignores them and so does runc.
        let target = mkdir_all(rootfd, m.destination(), !meta.is_dir()).field(field)?;
        // A detached copy, made the way the options say, then attached:
        // nothing is re-resolved by path after the mount lands.
        let mnt = match idmapped {
            Some(fd) => fd
                .try_clone()
                .map_err(|e| sys::io_err("dup idmapped mount", e))
                .field(field)?,
            None => clone_tree(None, &src.to_string_lossy(), opts.recursive).field(field)?,
        };
        let want = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
        if want != 0 {
            set_flags(&mnt, want).field(field)?;
        }
        if opts.rec_set != 0 || opts.rec_clr != 0 {
            set_recursive_attrs(&mnt, opts.rec_set, opts.rec_clr).field(field)?;
        }
        sys::move_mount(&mnt, &target).field(field)?;
        mnt
    } else {
        if typ.is_empty() {
            return Err(Error::Invalid {
                field: format!("mounts[{i}].type"),
                msg: "missing (required unless the mount is a bind mount)".into(),
            });
        }
        // What is at the destination already matters for proc and sysfs
        // (no symlink) and tmpfs (its mode); other types skip the lookup.
        let before = if matches!(typ, "proc" | "sysfs" | "tmpfs") {
            lstat_in_root(rootfd, m.destination())
        } else {
            None
        };
        if (typ == "proc" || typ == "sysfs")
            && before.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        {
            // CVE-2019-16884 class: these must land on a real directory.
            return Err(Error::Invalid {
                field: field(),
                msg: format!(
                    "{} is a symlink in the rootfs; {typ} must be mounted on an ordinary directory",
                    m.destination().display()
                ),
            });
        }
        let target = mkdir_all(rootfd, m.destination(), false).field(field)?;
        if typ == "proc" || typ == "sysfs" {
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstat(target.as_raw_fd(), &mut st) } < 0
                || st.st_mode & libc::S_IFMT != libc::S_IFDIR
            {
                return Err(Error::Invalid {
                    field: field(),
                    msg: "destination is not a directory".into(),
                });
            }
        }
        let src = m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| typ.to_string());
        let flags = opts.flags & !libc::MS_REMOUNT;
        let existed = before.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let needs_fd = opts.rec_set != 0
            || opts.rec_clr != 0
            || !opts.propagation.is_empty()
            || (typ == "tmpfs" && existed);
        // The common case needs nothing done to the mount after it is made:
        // one mount(2) onto the destination's fd (fsopen/fsconfig would
        // cost a syscall per option).
        let direct = if needs_fd {
            None
        } else {
            let data = opts.data.join(",");
            Some(sys::mount(
                Some(&src),
                &fd_path(&target),
                Some(typ),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            ))
        };
        let made = match direct {
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) => Err(e),
            // A tmpfs is filled (tmpcopyup, mode) before it is made
            // read-only: `ro` goes on the mount once that is done (the
            // superblock has no other mount).
            None if typ == "tmpfs" => {
                let rw = Options {
                    flags: opts.flags & !libc::MS_RDONLY,
                    data: opts.data.clone(),
                    ..Default::default()
                };
                sys::fs_mount(
                    typ,
                    &fs_params(&rw, &src),
                    remount_attrs(flags & !libc::MS_RDONLY).0,
                )
            }
            None => sys::fs_mount(typ, &fs_params(&opts, &src), remount_attrs(flags).0),
        };
        let mnt = match made {
            Ok(m) => m,
            // sysfs cannot be mounted without owning the network namespace:
            // fall back to a read-only recursive bind of the host's /sys.
            Err(e) if typ == "sysfs" && e.source.raw_os_error() == Some(libc::EPERM) => {
                let m = clone_tree(None, "/sys", true).field(field)?;
                set_flags(&m, flags | libc::MS_RDONLY).field(field)?;
                m
            }
            Err(e) => {
                return Err(Error::Field {
                    field: field(),
                    source: e,
                });
            }
        };
        if typ == "tmpfs" {
            tmpfs_contents(&mnt, &target, before.as_ref(), &opts).field(field)?;
            if flags & libc::MS_RDONLY != 0 {
                let ro = MountAttr {
                    attr_set: MOUNT_ATTR_RDONLY,
                    ..Default::default()
                };
                sys::mount_setattr(&mnt, false, &ro).field(field)?;
            }
        }
        if opts.rec_set != 0 || opts.rec_clr != 0 {
            set_recursive_attrs(&mnt, opts.rec_set, opts.rec_clr).field(field)?;
        }
        sys::move_mount(&mnt, &target).field(field)?;
        mnt
    };
    // Propagation applies to the attached mount (through its fd).
    set_propagation(&mnt, &opts.propagation).field(field)?;
    Ok(())
}

/// A new tmpfs, still detached: `tmpcopyup` copies what it will hide, and
/// when it hides a directory that was already in the image, its root takes
/// that directory's mode (unless `mode=` is given), as runc does. A
/// directory that had to be created keeps tmpfs's default mode (1777).
fn tmpfs_contents(
    mnt: &OwnedFd,
    target: &OwnedFd,
    before: Option<&libc::stat>,
    opts: &Options,
) -> sys::Result<()> {
    let to = sys::open(
        Path::new(&fd_path(mnt)),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    let existed = before.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    if opts.tmpcopyup && existed {
        let from = sys::open(
            Path::new(&fd_path(target)),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?;
        copy_tree(&from, &to)?;
    }
    if existed && !opts.data.iter().any(|d| d.starts_with("mode=")) {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(target.as_raw_fd(), &mut st) } == 0 {
            if unsafe { libc::fchmod(to.as_raw_fd(), st.st_mode & 0o7777) } < 0 {
                return Err(sys::last("chmod tmpfs root"));
            }
            if opts.tmpcopyup {
                unsafe { libc::fchown(to.as_raw_fd(), st.st_uid, st.st_gid) };
            }
        }
    }
    Ok(())
}

/// A `cgroup` mount: a tmpfs holding one mount per host hierarchy (v1), or a
/// cgroup2 mount (v2). With a cgroup namespace the container sees its own
/// cgroup as the root; without one, its cgroup directories are bind-mounted.
fn mount_cgroup(p: &Plan, rootfd: &OwnedFd, m: &Mount, opts: &Options) -> Result<()> {
    let dest = m.destination();
    let ro = opts.flags & libc::MS_RDONLY != 0;
    let base =
        opts.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME);
    let host = host_cgroup_mounts();
    let unified_only = host
        .iter()
        .any(|(mp, t, _)| *t == "cgroup2" && mp == Path::new("/sys/fs/cgroup"));
    // A bind of the container's own cgroup directory (no cgroup namespace).
    let bind_cgroup = |src: &Path, target: &OwnedFd| -> sys::Result<()> {
        let m = clone_tree(None, &src.to_string_lossy(), true)?;
        set_flags(&m, base | (opts.flags & libc::MS_RDONLY))?;
        sys::move_mount(&m, target)
    };
    if unified_only {
        let target = mkdir_all(rootfd, dest, false)?;
        let tp = fd_path(&target);
        if p.cgroupns {
            sys::mount(
                Some("cgroup"),
                &tp,
                Some("cgroup2"),
                base | (opts.flags & libc::MS_RDONLY),
                None,
            )?;
        } else {
            let src = format!("/sys/fs/cgroup{}", p.cgroup_path);
            bind_cgroup(Path::new(&src), &target)?;
        }
        return Ok(());
    }
    let target = mkdir_all(rootfd, dest, false)?;
    let tmpfs = sys::fs_mount(
        "tmpfs",
        &[("source", Some("tmpfs")), ("mode", Some("755"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    )?;
    sys::move_mount(&tmpfs, &target)?;
    let destfd = sys::open(
        Path::new(&fd_path(&tmpfs)),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    for (mp, fstype, sopts) in &host {
        let name = match mp.strip_prefix("/sys/fs/cgroup") {
            Ok(n) if !n.as_os_str().is_empty() => n.to_path_buf(),
            _ => continue,
        };
        // Inside the fresh tmpfs (resolved from its own fd).
        let t = mkdir_all(&destfd, &name, false)?;
        if p.cgroupns {
            let data = sopts;
            sys::mount(
                Some("cgroup"),
                &fd_path(&t),
                Some(fstype),
                base | (opts.flags & libc::MS_RDONLY),
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        } else {
            let src = mp.join(p.cgroup_path.trim_start_matches('/'));
            if !src.exists() {
                continue;
            }
            bind_cgroup(&src, &t)?;
        }
        // Co-mounted controllers ("cpu,cpuacct") also get one symlink each.
        let n = name.to_string_lossy().into_owned();
        if n.contains(',') {
            for part in n.split(',') {
                let (t, l) = (cstr(&n), cstr(part));
                unsafe { libc::symlinkat(t.as_ptr(), destfd.as_raw_fd(), l.as_ptr()) };
            }
        }
    }
    if ro {
        set_flags(
            &tmpfs,
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        )?;
    }
    Ok(())
}

const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
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

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

fn make_device(rootfd: &OwnedFd, n: &Node, userns: bool) -> sys::Result<()> {
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
    let dirfd = mkdir_all(rootfd, parent, false)?;
    // Reopen the parent as a real directory fd for *at() calls.
    let dirfd = sys::open(
        Path::new(&fd_path(&dirfd)),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    let d = dirfd.as_raw_fd();
    let dev = libc::makedev(major, minor);
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat(d, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } == 0 {
        // An existing node is kept if it is the same device; anything else
        // at that path is an error (runtime-spec, linux.devices).
        if st.st_mode & libc::S_IFMT == kind && (kind == libc::S_IFIFO || st.st_rdev == dev) {
            return Ok(());
        }
        return Err(sys::errno(
            format!("{} exists and is not the requested device", path.display()),
            libc::EEXIST,
        ));
    }
    // A devpts instance makes its own nodes (/dev/pts/N appear as ptys are
    // opened): a host pty listed in a privileged config is not created.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(d, &mut sfs) } == 0 && sfs.f_type == DEVPTS_SUPER_MAGIC {
        return Ok(());
    }
    if userns {
        // mknod is not allowed in a user namespace: bind the host's node,
        // after checking it is the device the config asks for.
        return bind_host_device(rootfd, path, kind, dev);
    }
    if unsafe { libc::mknodat(d, name.as_ptr(), kind | (mode & 0o7777), dev) } < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) {
            // As runc: where mknod is refused, bind the host's node.
            return bind_host_device(rootfd, path, kind, dev);
        }
        return Err(sys::io_err(format!("mknod {}", path.display()), e));
    }
    if unsafe { libc::fchmodat(d, name.as_ptr(), mode & 0o7777, 0) } < 0 {
        return Err(sys::last(format!("chmod {}", path.display())));
    }
    if let Some((uid, gid)) = owner
        && unsafe { libc::fchownat(d, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) } < 0
    {
        return Err(sys::last(format!("chown {}", path.display())));
    }
    Ok(())
}

/// Bind the host's node at the same path, checked to be the requested
/// device (type, major and minor) on the fd that is bound.
fn bind_host_device(
    rootfd: &OwnedFd,
    path: &Path,
    kind: libc::mode_t,
    dev: libc::dev_t,
) -> sys::Result<()> {
    let host = sys::open(path, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(host.as_raw_fd(), &mut st) } < 0 {
        return Err(sys::last(format!("stat host {}", path.display())));
    }
    if st.st_mode & libc::S_IFMT != kind || (kind != libc::S_IFIFO && st.st_rdev != dev) {
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
    let m = clone_tree(Some(&host), "", false)?;
    sys::move_mount(&m, &t)
}

fn create_devices(
    rootfd: &OwnedFd,
    devices: Option<&Vec<LinuxDevice>>,
    userns: bool,
    dev_is_tmpfs: bool,
) -> Result<()> {
    // The configured devices first, then the default ones and the /dev
    // symlinks (as runc: a privileged config lists /dev/ptmx, which then
    // becomes the pts/ptmx symlink).
    for (i, d) in devices.into_iter().flatten().enumerate() {
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
        make_device(
            rootfd,
            &Node {
                path: d.path(),
                kind,
                major: d.major() as u32,
                minor: d.minor() as u32,
                mode: d.file_mode().unwrap_or(0o666),
                owner,
            },
            userns,
        )
        .map_err(|e| Error::Field {
            field: format!("linux.devices[{i}]"),
            source: e,
        })?;
    }
    if dev_is_tmpfs {
        for (path, major, minor) in DEFAULT_DEVICES {
            make_device(
                rootfd,
                &Node {
                    path: Path::new(path),
                    kind: libc::S_IFCHR,
                    major,
                    minor,
                    mode: 0o666,
                    owner: None,
                },
                userns,
            )
            .map_err(|e| Error::Field {
                field: format!("default device {path}"),
                source: e,
            })?;
        }
        let devfd = sys::open_in_root(
            rootfd.as_raw_fd(),
            Path::new("/dev"),
            libc::O_PATH | libc::O_DIRECTORY,
        )?;
        let devfd = sys::open(
            Path::new(&fd_path(&devfd)),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?;
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            let (l, t) = (cstr(link), cstr(target));
            if link == "ptmx" {
                remove_ptmx(&devfd)?;
            }
            if unsafe { libc::symlinkat(t.as_ptr(), devfd.as_raw_fd(), l.as_ptr()) } < 0
                && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
            {
                return Err(sys::last(format!("symlink /dev/{link}")).into());
            }
        }
    }
    Ok(())
}

/// Remove /dev/ptmx (a node made for a privileged config, or a host node
/// bound there under a user namespace) to make room for the symlink.
fn remove_ptmx(devfd: &OwnedFd) -> Result<()> {
    let l = cstr("ptmx");
    if unsafe { libc::unlinkat(devfd.as_raw_fd(), l.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOENT) => return Ok(()),
        Some(libc::EBUSY) => {}
        _ => return Err(sys::last("remove /dev/ptmx").into()),
    }
    let fd = unsafe {
        libc::openat(
            devfd.as_raw_fd(),
            l.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(sys::last("open /dev/ptmx").into());
    }
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let p = cstr(fd_path(&fd));
    if unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) } < 0 {
        return Err(sys::last("unmount the host node bound at /dev/ptmx").into());
    }
    drop(fd);
    if unsafe { libc::unlinkat(devfd.as_raw_fd(), l.as_ptr(), 0) } < 0 {
        return Err(sys::last("remove /dev/ptmx").into());
    }
    Ok(())
}

/// Open the host's /dev/null and check it is the real null device.
fn dev_null() -> sys::Result<OwnedFd> {
    let fd = sys::open(Path::new("/dev/null"), libc::O_PATH, 0)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0
        || st.st_mode & libc::S_IFMT != libc::S_IFCHR
        || st.st_rdev != libc::makedev(1, 3)
    {
        return Err(sys::errno("/dev/null is not the null device", libc::EINVAL));
    }
    Ok(fd)
}

/// maskedPaths and readonlyPaths, resolved inside `root` (before pivot).
pub fn mask_and_protect(spec: &Spec, root: &Root) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let rootfd = &root.fd;
    let null = dev_null()?;
    for (i, path) in linux.masked_paths().iter().flatten().enumerate() {
        let field = || format!("linux.maskedPaths[{i}] ({path})");
        let t = match sys::open_in_root(rootfd.as_raw_fd(), Path::new(path), libc::O_PATH) {
            Ok(t) => t,
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => {
                return Err(Error::Field {
                    field: field(),
                    source: e,
                });
            }
        };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        unsafe { libc::fstat(t.as_raw_fd(), &mut st) };
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            sys::mount(
                Some("tmpfs"),
                &fd_path(&t),
                Some("tmpfs"),
                libc::MS_RDONLY,
                Some("size=0"),
            )
            .field(field)?;
        } else {
            sys::mount(
                Some(&fd_path(&null)),
                &fd_path(&t),
                None,
                libc::MS_BIND,
                None,
            )
            .field(field)?;
        }
    }
    for (i, path) in linux.readonly_paths().iter().flatten().enumerate() {
        let field = || format!("linux.readonlyPaths[{i}] ({path})");
        let t = match sys::open_in_root(rootfd.as_raw_fd(), Path::new(path), libc::O_PATH) {
            Ok(t) => t,
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => {
                return Err(Error::Field {
                    field: field(),
                    source: e,
                });
            }
        };
        // A read-only copy of the tree, made read-only before it is
        // attached over itself.
        bind_fd(
            &t,
            &t,
            true,
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        )
        .field(field)?;
    }
    Ok(())
}

/// Make `root` the process's `/`: pivot_root (old root detached), or with
/// `no_pivot` MS_MOVE + chroot. Then root.readonly and rootfsPropagation.
pub fn enter(spec: &Spec, root: &Root, no_pivot: bool) -> Result<()> {
    let newroot = &root.fd;
    if no_pivot {
        if unsafe { libc::fchdir(newroot.as_raw_fd()) } < 0 {
            return Err(sys::last("chdir rootfs").into());
        }
        sys::mount(Some("."), "/", None, libc::MS_MOVE, None)?;
        let dot = cstr(".");
        if unsafe { libc::chroot(dot.as_ptr()) } < 0 {
            return Err(sys::last("chroot").into());
        }
    } else {
        let oldroot = sys::open(Path::new("/"), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        if unsafe { libc::fchdir(newroot.as_raw_fd()) } < 0 {
            return Err(sys::last("chdir rootfs").into());
        }
        let dot = cstr(".");
        if unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) } < 0 {
            return Err(sys::last("pivot_root").into());
        }
        if unsafe { libc::fchdir(oldroot.as_raw_fd()) } < 0 {
            return Err(sys::last("chdir old root").into());
        }
        sys::mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)?;
        if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } < 0 {
            return Err(sys::last("unmount old root").into());
        }
    }
    let slash = cstr("/");
    if unsafe { libc::chdir(slash.as_ptr()) } < 0 {
        return Err(sys::last("chdir /").into());
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let slashfd = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)?;
        let keep = fstatvfs_flags(&slashfd) & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
        sys::mount(
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
        sys::mount(None, "/", None, p, None).field(|| "linux.rootfsPropagation".into())?;
    }
    Ok(())
}

/// Bind the pty slave onto /dev/console inside `root`.
pub fn bind_console(root: &Root, slave: &OwnedFd) -> Result<()> {
    let t = mkdir_all(&root.fd, Path::new("/dev/console"), true)?;
    sys::mount(
        Some(&fd_path(slave)),
        &fd_path(&t),
        None,
        libc::MS_BIND,
        None,
    )?;
    Ok(())
}

/// Open the container's ptmx: `/dev/pts/ptmx` of its own devpts instance,
/// checked to be one. Never the host's /dev/ptmx: a pty of the host's
/// devpts would be the container's console.
pub fn open_ptmx(root: &Root) -> Result<OwnedFd> {
    let t = sys::open_in_root(
        root.fd.as_raw_fd(),
        Path::new("/dev/pts/ptmx"),
        libc::O_PATH,
    )
    .map_err(|e| Error::Invalid {
        field: "mounts".into(),
        msg: format!("a terminal needs a devpts mount at /dev/pts: {e}"),
    })?;
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(t.as_raw_fd(), &mut sfs) } < 0
        || sfs.f_type != DEVPTS_SUPER_MAGIC
        || unsafe { libc::fstat(t.as_raw_fd(), &mut st) } < 0
        || st.st_mode & libc::S_IFMT != libc::S_IFCHR
    {
        return Err(Error::Invalid {
            field: "mounts".into(),
            msg: "/dev/pts/ptmx is not the ptmx of a devpts mount".into(),
        });
    }
    let fd = sys::open(Path::new(&fd_path(&t)), libc::O_RDWR | libc::O_NOCTTY, 0)?;
    Ok(fd)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse_options(&[
            "nosuid".into(),
            "ro".into(),
            "rbind".into(),
            "rprivate".into(),
            "mode=755".into(),
            "rw".into(),
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
    }
}
