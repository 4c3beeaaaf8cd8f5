//! The container's root filesystem: mount propagation, the (optional)
//! overlay root, `mounts` in config order, devices and `/dev` symlinks,
//! masked and read-only paths, then pivot_root (or MS_MOVE + chroot).
//!
//! Every destination inside the rootfs is resolved with `openat2`
//! (`RESOLVE_IN_ROOT`) and mounted onto that fd through `/proc/self/fd/N`,
//! so a symlink planted by the container cannot redirect a mount to the host.

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

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR__ATIME: u64 = 0x70;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
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
        _ => return None,
    })
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(fd, "", AT_EMPTY_PATH|AT_RECURSIVE): apply attributes to
/// a whole mount tree (the recursive `r*` options).
fn set_recursive_attrs(fd: &OwnedFd, set: u64, clr: u64) -> sys::Result<()> {
    const AT_RECURSIVE: libc::c_int = 0x8000;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = cstr("");
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(sys::last("mount_setattr (recursive mount options)"));
    }
    Ok(())
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

fn statvfs_flags(path: &str) -> libc::c_ulong {
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let c = cstr(path);
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } < 0 {
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

/// Remount a bind mount with `flags`, keeping flags the kernel has locked
/// (a bind from a less privileged mount may not drop nosuid/nodev/noexec).
fn remount_bind(target: &str, flags: libc::c_ulong) -> sys::Result<()> {
    let base = libc::MS_REMOUNT | libc::MS_BIND;
    match sys::mount(None, target, None, base | flags, None) {
        Ok(()) => Ok(()),
        Err(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
            let locked = statvfs_flags(target)
                & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY);
            sys::mount(None, target, None, base | flags | locked, None)
        }
        Err(e) => Err(e),
    }
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

/// Set up the rootfs up to (not including) pivot_root. Runs in the
/// container's mount namespace. Returns the directory to pivot into.
pub fn prepare(p: &Plan) -> Result<PathBuf> {
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

    let root = match &p.overlay {
        Some(o) => {
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                o.lower.display(),
                o.upper.display(),
                o.work.display()
            );
            sys::mount(
                Some("overlay"),
                &o.merged.to_string_lossy(),
                Some("overlay"),
                0,
                Some(&data),
            )
            .field(|| "annotations.org.myrt.rootfs.overlay".into())?;
            o.merged.clone()
        }
        None => {
            let r = p.rootfs.to_string_lossy();
            sys::mount(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, None)
                .field(|| "root.path".into())?;
            p.rootfs.clone()
        }
    };
    let rootfd =
        sys::open(&root, libc::O_PATH | libc::O_DIRECTORY, 0).field(|| "root.path".into())?;

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
    Ok(root)
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
    if bind {
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
        let target = mkdir_all(rootfd, m.destination(), !meta.is_dir()).field(field)?;
        let tp = fd_path(&target);
        let mut flags = libc::MS_BIND;
        if opts.recursive {
            flags |= libc::MS_REC;
        }
        sys::mount(Some(&src.to_string_lossy()), &tp, None, flags, None).field(field)?;
        // Reopen: the fd still names the directory under the new mount.
        let target =
            sys::open_in_root(rootfd.as_raw_fd(), m.destination(), libc::O_PATH).field(field)?;
        let tp = fd_path(&target);
        if let Some(bad) = opts.data.first() {
            // A bind mount takes no filesystem data: an option we do not
            // know must not be dropped silently (it may have meant "ro").
            return Err(Error::Invalid {
                field: format!("mounts[{i}].options"),
                msg: format!("unknown or unsupported bind mount option {bad:?}"),
            });
        }
        let want = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
        if want != 0 {
            remount_bind(&tp, want).field(field)?;
        }
        if opts.rec_set != 0 || opts.rec_clr != 0 {
            set_recursive_attrs(&target, opts.rec_set, opts.rec_clr).field(field)?;
        }
        for prop in &opts.propagation {
            sys::mount(None, &tp, None, *prop, None).field(field)?;
        }
        return Ok(());
    }
    if typ.is_empty() {
        return Err(Error::Invalid {
            field: format!("mounts[{i}].type"),
            msg: "missing (required unless the mount is a bind mount)".into(),
        });
    }
    let target = mkdir_all(rootfd, m.destination(), false).field(field)?;
    if typ == "proc" || typ == "sysfs" {
        // CVE-2019-16884 class: these must land on a real directory.
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
    let tp = fd_path(&target);
    let src = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    // tmpcopyup: the new tmpfs starts with a copy of what it hides.
    let copy_from = if opts.tmpcopyup && typ == "tmpfs" {
        Some(sys::open(Path::new(&tp), libc::O_RDONLY | libc::O_DIRECTORY, 0).field(field)?)
    } else {
        None
    };
    let data = opts.data.join(",");
    let flags = opts.flags & !libc::MS_REMOUNT;
    let r = sys::mount(
        Some(&src),
        &tp,
        Some(typ),
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    );
    match r {
        Ok(()) => {}
        // sysfs cannot be mounted without owning the network namespace:
        // fall back to a read-only recursive bind of the host's /sys.
        Err(e) if typ == "sysfs" && e.source.raw_os_error() == Some(libc::EPERM) => {
            sys::mount(Some("/sys"), &tp, None, libc::MS_BIND | libc::MS_REC, None).field(field)?;
            let t2 = sys::open_in_root(rootfd.as_raw_fd(), m.destination(), libc::O_PATH)
                .field(field)?;
            remount_bind(&fd_path(&t2), flags | libc::MS_RDONLY).field(field)?;
        }
        Err(e) => {
            return Err(Error::Field {
                field: field(),
                source: e,
            });
        }
    }
    if let Some(from) = copy_from {
        let to = sys::open_in_root(
            rootfd.as_raw_fd(),
            m.destination(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
        .field(field)?;
        copy_tree(&from, &to).field(field)?;
        // The tmpfs root takes the hidden directory's mode and owner too,
        // unless the options set a mode.
        if !opts.data.iter().any(|d| d.starts_with("mode=")) {
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstat(from.as_raw_fd(), &mut st) } == 0 {
                unsafe {
                    libc::fchmod(to.as_raw_fd(), st.st_mode & 0o7777);
                    libc::fchown(to.as_raw_fd(), st.st_uid, st.st_gid);
                }
            }
        }
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        let t2 =
            sys::open_in_root(rootfd.as_raw_fd(), m.destination(), libc::O_PATH).field(field)?;
        set_recursive_attrs(&t2, opts.rec_set, opts.rec_clr).field(field)?;
    }
    if !opts.propagation.is_empty() {
        let t2 =
            sys::open_in_root(rootfd.as_raw_fd(), m.destination(), libc::O_PATH).field(field)?;
        for prop in &opts.propagation {
            sys::mount(None, &fd_path(&t2), None, *prop, None).field(field)?;
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
            sys::mount(Some(&src), &tp, None, libc::MS_BIND | libc::MS_REC, None)?;
            let t2 = sys::open_in_root(rootfd.as_raw_fd(), dest, libc::O_PATH)?;
            remount_bind(&fd_path(&t2), base | (opts.flags & libc::MS_RDONLY))?;
        }
        return Ok(());
    }
    let target = mkdir_all(rootfd, dest, false)?;
    sys::mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=755"),
    )?;
    for (mp, fstype, sopts) in &host {
        let name = match mp.strip_prefix("/sys/fs/cgroup") {
            Ok(n) if !n.as_os_str().is_empty() => n.to_path_buf(),
            _ => continue,
        };
        let sub = dest.join(&name);
        let t = mkdir_all(rootfd, &sub, false)?;
        let tp = fd_path(&t);
        if p.cgroupns {
            let data = sopts;
            sys::mount(
                Some("cgroup"),
                &tp,
                Some(fstype),
                base | (opts.flags & libc::MS_RDONLY),
                (!data.is_empty()).then_some(data.as_str()),
            )?;
        } else {
            let src = mp.join(p.cgroup_path.trim_start_matches('/'));
            if !src.exists() {
                continue;
            }
            sys::mount(
                Some(&src.to_string_lossy()),
                &tp,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
            let t2 = sys::open_in_root(rootfd.as_raw_fd(), &sub, libc::O_PATH)?;
            remount_bind(&fd_path(&t2), base | (opts.flags & libc::MS_RDONLY))?;
        }
        // Co-mounted controllers ("cpu,cpuacct") also get one symlink each.
        let n = name.to_string_lossy().into_owned();
        if n.contains(',') {
            let dirfd =
                sys::open_in_root(rootfd.as_raw_fd(), dest, libc::O_PATH | libc::O_DIRECTORY)?;
            for part in n.split(',') {
                let (t, l) = (cstr(&n), cstr(part));
                unsafe { libc::symlinkat(t.as_ptr(), dirfd.as_raw_fd(), l.as_ptr()) };
            }
        }
    }
    if ro {
        let t = sys::open_in_root(rootfd.as_raw_fd(), dest, libc::O_PATH)?;
        sys::mount(
            None,
            &fd_path(&t),
            None,
            libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("mode=755"),
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
    if userns {
        // mknod is not allowed in a user namespace: bind the host's node.
        let host = Path::new("/dev").join(path.strip_prefix("/dev").unwrap_or(path));
        let t = mkdir_all(rootfd, path, true)?;
        return sys::mount(
            Some(&host.to_string_lossy()),
            &fd_path(&t),
            None,
            libc::MS_BIND,
            None,
        );
    }
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
    if unsafe { libc::mknodat(d, name.as_ptr(), kind | (mode & 0o7777), dev) } < 0 {
        return Err(sys::last(format!("mknod {}", path.display())));
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

fn create_devices(
    rootfd: &OwnedFd,
    devices: Option<&Vec<LinuxDevice>>,
    userns: bool,
    dev_is_tmpfs: bool,
) -> Result<()> {
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
                unsafe { libc::unlinkat(devfd.as_raw_fd(), l.as_ptr(), 0) };
            }
            if unsafe { libc::symlinkat(t.as_ptr(), devfd.as_raw_fd(), l.as_ptr()) } < 0
                && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
            {
                return Err(sys::last(format!("symlink /dev/{link}")).into());
            }
        }
    }
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
pub fn mask_and_protect(spec: &Spec, root: &Path) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let rootfd = sys::open(root, libc::O_PATH | libc::O_DIRECTORY, 0)?;
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
        let tp = fd_path(&t);
        sys::mount(Some(&tp), &tp, None, libc::MS_BIND | libc::MS_REC, None).field(field)?;
        let t2 =
            sys::open_in_root(rootfd.as_raw_fd(), Path::new(path), libc::O_PATH).field(field)?;
        remount_bind(
            &fd_path(&t2),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        )
        .field(field)?;
    }
    Ok(())
}

/// Make `root` the process's `/`: pivot_root (old root detached), or with
/// `no_pivot` MS_MOVE + chroot. Then root.readonly and rootfsPropagation.
pub fn enter(spec: &Spec, root: &Path, no_pivot: bool) -> Result<()> {
    let newroot = sys::open(root, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
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
        let keep = statvfs_flags("/") & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
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
pub fn bind_console(root: &Path, slave: &OwnedFd) -> Result<()> {
    let rootfd = sys::open(root, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let t = mkdir_all(&rootfd, Path::new("/dev/console"), true)?;
    sys::mount(
        Some(&fd_path(slave)),
        &fd_path(&t),
        None,
        libc::MS_BIND,
        None,
    )?;
    Ok(())
}

/// Open /dev/ptmx inside `root` (the container's devpts instance).
pub fn open_ptmx(root: &Path) -> Result<OwnedFd> {
    let rootfd = sys::open(root, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let t = sys::open_in_root(rootfd.as_raw_fd(), Path::new("/dev/pts/ptmx"), libc::O_PATH)
        .or_else(|_| sys::open(Path::new("/dev/ptmx"), libc::O_PATH, 0))?;
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
