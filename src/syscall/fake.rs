//! A recording [`Syscall`]: every call is written down as a [`Call`] and
//! nothing is mounted, entered or changed. Paths are recorded as the
//! container sees them: an fd or `/proc/self/fd/N` that lies under the
//! fake root directory is written as `/dev/pts`, one under a detached
//! filesystem made by `fs_mount` as `fs#N/...`, anything else as the host
//! path.
//!
//! The fake creates what later steps look up (a plain file for `mknodat`,
//! a scratch directory for each `fs_mount`), so the real code path runs
//! unchanged on an ordinary directory, without root.

use std::cell::RefCell;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::Syscall;
use crate::sys::{self, MountAttr, Result};

/// One recorded call.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Mount {
        src: Option<String>,
        target: String,
        fstype: Option<String>,
        flags: libc::c_ulong,
        data: Option<String>,
    },
    Umount {
        target: String,
        flags: libc::c_int,
    },
    OpenTree {
        src: String,
        flags: u32,
    },
    MoveMount {
        from: String,
        to: String,
    },
    MountSetattr {
        target: String,
        recursive: bool,
        attr: MountAttr,
    },
    FsMount {
        fstype: String,
        params: Vec<(String, Option<String>)>,
        attrs: u64,
        /// The name the new mount is recorded under (`fs#N`).
        name: String,
    },
    PivotRoot {
        new_root: String,
        put_old: String,
    },
    Fchdir(String),
    Chdir(String),
    Chroot(String),
    Mknod {
        path: String,
        mode: libc::mode_t,
        dev: libc::dev_t,
    },
    Symlink {
        target: String,
        link: String,
    },
    Sethostname(String),
    Setdomainname(String),
    Setns(libc::c_int),
    Unshare(libc::c_int),
    CloexecFrom(u32),
    Setgroups(Vec<libc::gid_t>),
    Setresgid(libc::gid_t),
    Setresuid(libc::uid_t),
    DropBounding(caps::Capability),
    /// The set (`Effective`, `Bounding`...) and its new content.
    SetCaps(String, Vec<caps::Capability>),
    NoNewPrivs,
    SeccompLoad {
        len: usize,
        flags: libc::c_ulong,
    },
    Execve(String),
}

/// The recording fake. `root` is the directory that stands for the
/// container's root (or for `/` of the host's mount namespace).
pub struct Recorder {
    root: PathBuf,
    scratch: PathBuf,
    calls: RefCell<Vec<Call>>,
    fs: RefCell<Vec<PathBuf>>,
    /// Mounts attached by `move_mount`: (fd, device, inode) of the
    /// detached mount and where it went, so later calls on that fd name
    /// the place it is attached at, as the kernel would.
    attached: RefCell<Vec<(FdKey, String)>>,
    /// Calls (by a prefix of their Debug text, e.g. "Mount") that fail with
    /// the given errno instead of being recorded.
    fail: RefCell<Vec<(String, i32)>>,
}

impl Recorder {
    /// A fake whose calls are described relative to `root`; detached
    /// filesystems get directories under `scratch`.
    pub fn new(root: &Path, scratch: &Path) -> Recorder {
        Recorder {
            root: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
            scratch: std::fs::canonicalize(scratch).unwrap_or_else(|_| scratch.to_path_buf()),
            calls: RefCell::new(Vec::new()),
            fs: RefCell::new(Vec::new()),
            attached: RefCell::new(Vec::new()),
            fail: RefCell::new(Vec::new()),
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// Make calls whose Debug text starts with `prefix` fail with `errno`.
    pub fn fail_on(&self, prefix: &str, errno: i32) {
        self.fail.borrow_mut().push((prefix.to_string(), errno));
    }

    fn record(&self, c: Call) -> Result<()> {
        let text = format!("{c:?}");
        if let Some((_, e)) = self.fail.borrow().iter().find(|(p, _)| text.starts_with(p)) {
            return Err(sys::errno(format!("fake: {text}"), *e));
        }
        self.calls.borrow_mut().push(c);
        Ok(())
    }

    /// A host path as the container sees it.
    fn name_of(&self, p: &Path) -> String {
        if let Ok(rel) = p.strip_prefix(&self.root) {
            return Path::new("/").join(rel).to_string_lossy().into_owned();
        }
        for (i, dir) in self.fs.borrow().iter().enumerate() {
            if let Ok(rel) = p.strip_prefix(dir) {
                let rel = rel.to_string_lossy();
                return if rel.is_empty() {
                    format!("fs#{i}")
                } else {
                    format!("fs#{i}/{rel}")
                };
            }
        }
        p.to_string_lossy().into_owned()
    }

    fn name_of_fd(&self, fd: BorrowedFd<'_>) -> String {
        if let Some(key) = fd_key(fd)
            && let Some((_, to)) = self.attached.borrow().iter().rev().find(|(k, _)| *k == key)
        {
            return to.clone();
        }
        match std::fs::read_link(sys::fd_path(&fd.as_raw_fd())) {
            Ok(p) => self.name_of(&p),
            Err(_) => format!("fd {}", fd.as_raw_fd()),
        }
    }

    /// A path argument: `/proc/self/fd/N` is resolved to what N is.
    fn name_of_path(&self, p: &str) -> String {
        if p.starts_with("/proc/self/fd/")
            && let Ok(t) = std::fs::read_link(p)
        {
            return self.name_of(&t);
        }
        self.name_of(Path::new(p))
    }
}

/// What identifies a detached mount's fd while it is open: the fd number,
/// device and inode.
type FdKey = (i32, u64, u64);

fn fd_key(fd: BorrowedFd<'_>) -> Option<FdKey> {
    let st = nix::sys::stat::fstat(fd).ok()?;
    Some((fd.as_raw_fd(), st.st_dev, st.st_ino))
}

fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    fd.try_clone_to_owned()
        .map_err(|e| sys::io_err("fake: dup", e))
}

impl Syscall for Recorder {
    fn mount(
        &self,
        src: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<()> {
        self.record(Call::Mount {
            src: src.map(|s| self.name_of_path(s)),
            target: self.name_of_path(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        })
    }

    fn umount2(&self, target: &str, flags: libc::c_int) -> Result<()> {
        self.record(Call::Umount {
            target: self.name_of_path(target),
            flags,
        })
    }

    fn open_tree(&self, dirfd: BorrowedFd<'_>, path: &str, flags: u32) -> Result<OwnedFd> {
        let (src, fd) = if path.is_empty() {
            (self.name_of_fd(dirfd), dup(dirfd)?)
        } else {
            let fd = sys::open(Path::new(path), libc::O_PATH, 0)?;
            (self.name_of_path(path), fd)
        };
        self.record(Call::OpenTree { src, flags })?;
        Ok(fd)
    }

    fn move_mount(&self, from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
        let to = self.name_of_fd(to);
        self.record(Call::MoveMount {
            from: self.name_of_fd(from),
            to: to.clone(),
        })?;
        if let Some(key) = fd_key(from) {
            self.attached.borrow_mut().push((key, to));
        }
        Ok(())
    }

    fn mount_setattr(&self, fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> Result<()> {
        self.record(Call::MountSetattr {
            target: self.name_of_fd(fd),
            recursive,
            attr: *attr,
        })
    }

    fn fs_mount(
        &self,
        fstype: &str,
        params: &[(&str, Option<&str>)],
        attrs: u64,
    ) -> Result<OwnedFd> {
        let n = self.fs.borrow().len();
        let dir = self.scratch.join(format!("fs{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| sys::io_err("fake: fs dir", e))?;
        self.fs.borrow_mut().push(dir.clone());
        self.record(Call::FsMount {
            fstype: fstype.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            attrs,
            name: format!("fs#{n}"),
        })?;
        sys::open(&dir, libc::O_PATH | libc::O_DIRECTORY, 0)
    }

    fn pivot_root(&self, new_root: &str, put_old: &str) -> Result<()> {
        self.record(Call::PivotRoot {
            new_root: self.name_of_path(new_root),
            put_old: self.name_of_path(put_old),
        })
    }

    fn fchdir(&self, fd: BorrowedFd<'_>) -> Result<()> {
        self.record(Call::Fchdir(self.name_of_fd(fd)))
    }

    fn chdir(&self, path: &str) -> Result<()> {
        self.record(Call::Chdir(self.name_of_path(path)))
    }

    fn chroot(&self, path: &str) -> Result<()> {
        self.record(Call::Chroot(self.name_of_path(path)))
    }

    fn mknodat(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> Result<()> {
        let dirname = self.name_of_fd(dir);
        let name = name.to_string_lossy();
        self.record(Call::Mknod {
            path: format!("{}/{name}", dirname.trim_end_matches('/')),
            mode,
            dev,
        })?;
        // A plain file stands for the node, for the chmod that follows.
        let p = PathBuf::from(sys::fd_path(&dir.as_raw_fd())).join(&*name);
        std::fs::File::create(p)
            .map(drop)
            .map_err(|e| sys::io_err("fake: node file", e))
    }

    fn symlinkat(&self, target: &str, dir: BorrowedFd<'_>, link: &str) -> Result<()> {
        let dirname = self.name_of_fd(dir);
        self.record(Call::Symlink {
            target: target.to_string(),
            link: format!("{}/{link}", dirname.trim_end_matches('/')),
        })
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        self.record(Call::Sethostname(name.into()))
    }

    fn setdomainname(&self, name: &str) -> Result<()> {
        self.record(Call::Setdomainname(name.into()))
    }

    fn setns(&self, _fd: BorrowedFd<'_>, nstype: libc::c_int, _what: &str) -> Result<()> {
        self.record(Call::Setns(nstype))
    }

    fn unshare(&self, flags: libc::c_int) -> Result<()> {
        self.record(Call::Unshare(flags))
    }

    fn cloexec_from(&self, first: u32) -> Result<()> {
        self.record(Call::CloexecFrom(first))
    }

    fn setgroups(&self, groups: &[libc::gid_t]) -> Result<()> {
        self.record(Call::Setgroups(groups.to_vec()))
    }

    fn setresgid(&self, gid: libc::gid_t) -> Result<()> {
        self.record(Call::Setresgid(gid))
    }

    fn setresuid(&self, uid: libc::uid_t) -> Result<()> {
        self.record(Call::Setresuid(uid))
    }

    fn drop_bounding_cap(&self, cap: caps::Capability) -> super::CapsResult {
        self.record(Call::DropBounding(cap))
            .map_err(|e| caps::errors::CapsError::from(e.to_string()))
    }

    fn set_caps(&self, set: caps::CapSet, value: &caps::CapsHashSet) -> super::CapsResult {
        let mut v: Vec<caps::Capability> = value.iter().copied().collect();
        v.sort_by_key(|c| c.index());
        self.record(Call::SetCaps(format!("{set:?}"), v))
            .map_err(|e| caps::errors::CapsError::from(e.to_string()))
    }

    fn seccomp_load(
        &self,
        filter: &[libc::sock_filter],
        flags: libc::c_ulong,
    ) -> std::io::Result<Option<OwnedFd>> {
        self.record(Call::SeccompLoad {
            len: filter.len(),
            flags,
        })
        .map_err(|e| e.source)?;
        Ok(None)
    }

    fn set_no_new_privs(&self) -> Result<()> {
        self.record(Call::NoNewPrivs)
    }

    fn execve(
        &self,
        path: &CStr,
        _argv: &[*const libc::c_char],
        _envp: &[*const libc::c_char],
    ) -> std::io::Error {
        let _ = self.record(Call::Execve(path.to_string_lossy().into_owned()));
        std::io::Error::from_raw_os_error(libc::ENOEXEC)
    }
}

/// A directory for one test (a root and a scratch area below it), removed
/// when dropped.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "myrt-fake-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(path.join("root")).unwrap();
        std::fs::create_dir_all(path.join("scratch")).unwrap();
        TestDir { path }
    }

    pub fn root(&self) -> PathBuf {
        self.path.join("root")
    }

    /// A recorder whose root is this directory's `root`.
    pub fn recorder(&self) -> Recorder {
        Recorder::new(&self.root(), &self.path.join("scratch"))
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn paths_are_recorded_as_the_container_sees_them() {
        let t = TestDir::new("names");
        std::fs::create_dir_all(t.root().join("proc")).unwrap();
        let f = t.recorder();
        let proc = sys::open(&t.root().join("proc"), libc::O_PATH, 0).unwrap();
        f.mount(
            Some("proc"),
            &sys::fd_path(&proc),
            Some("proc"),
            libc::MS_NOSUID,
            None,
        )
        .unwrap();
        let m = f.fs_mount("tmpfs", &[("mode", Some("755"))], 0).unwrap();
        f.move_mount(m.as_fd(), proc.as_fd()).unwrap();
        f.fail_on("Umount", libc::EBUSY);
        let e = f.umount2("/x", 0).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::EBUSY));
        assert_eq!(
            f.calls(),
            vec![
                Call::Mount {
                    src: Some("proc".into()),
                    target: "/proc".into(),
                    fstype: Some("proc".into()),
                    flags: libc::MS_NOSUID,
                    data: None,
                },
                Call::FsMount {
                    fstype: "tmpfs".into(),
                    params: vec![("mode".into(), Some("755".into()))],
                    attrs: 0,
                    name: "fs#0".into(),
                },
                Call::MoveMount {
                    from: "fs#0".into(),
                    to: "/proc".into(),
                },
            ]
        );
    }
}
