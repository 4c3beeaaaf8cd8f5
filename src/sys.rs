//! Thin syscall wrappers that `libc`/`nix` do not offer in the shape myrt
//! needs: `openat2` confined to a root, fork-like `clone3`, pidfds, process
//! start times and `close_range`. Nothing here knows about containers.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};

/// A failed system call, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Error {
    pub what: String,
    #[source]
    pub source: io::Error,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach a description to the last OS error.
pub fn last(what: impl Into<String>) -> Error {
    Error {
        what: what.into(),
        source: io::Error::last_os_error(),
    }
}

/// Attach a description to an `io::Error`.
pub fn io_err(what: impl Into<String>, source: io::Error) -> Error {
    Error {
        what: what.into(),
        source,
    }
}

pub fn errno(what: impl Into<String>, e: i32) -> Error {
    Error {
        what: what.into(),
        source: io::Error::from_raw_os_error(e),
    }
}

/// Where the running binary was started from, once a re-executed sealed
/// image learnt it (`security::exe`).
static RUNTIME_BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Record the path the binary was run from (a sealed image does not know).
pub fn set_runtime_binary(path: std::path::PathBuf) {
    if path.is_absolute() {
        let _ = RUNTIME_BINARY.set(path);
    }
}

/// The path of the runtime binary on the host, where its companion
/// executables are: the one recorded before a sealed re-execution, else
/// `/proc/self/exe`'s target (none if the file was deleted).
pub fn runtime_binary() -> Option<std::path::PathBuf> {
    if let Some(p) = RUNTIME_BINARY.get() {
        return Some(p.clone());
    }
    let p = std::fs::read_link("/proc/self/exe").ok()?;
    (p.is_absolute() && !p.as_os_str().as_bytes().ends_with(b" (deleted)")).then_some(p)
}

/// Read a small kernel-made file (`/proc`, cgroupfs) whole. These report
/// a size of 0, so `fs::read_to_string` starts with a 32-byte read and
/// doubles: 5 reads for `/proc/<pid>/stat`, 8 for a mountinfo. One 4 KiB
/// buffer takes most of them in one read (and the end-of-file read).
pub fn read_small(path: impl AsRef<Path>) -> io::Result<String> {
    use std::io::Read;
    // Not `read_to_end`: for a File it first asks for the size and the
    // position (statx, lseek), both useless here.
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub fn cstr(p: impl AsRef<OsStr>) -> CString {
    // Paths from JSON cannot contain NUL after validation; map a NUL to an
    // obviously bad path rather than panicking.
    CString::new(p.as_ref().as_bytes()).unwrap_or_else(|_| CString::new("/\u{1}nul").unwrap())
}

/// The Linux release that brought each newer system call myrt relies on
/// (the kernel floor; docs/install.md).
pub const KERNEL_FLOOR: &[(&str, &str)] = &[
    ("pidfd_send_signal", "5.1"),
    ("open_tree", "5.2"),
    ("move_mount", "5.2"),
    ("fsopen", "5.2"),
    ("fsconfig", "5.2"),
    ("fsmount", "5.2"),
    ("pidfd_open", "5.3"),
    ("clone3", "5.3"),
    ("openat2", "5.6"),
    ("close_range", "5.11"),
    ("mount_setattr", "5.12"),
];

/// The error of system call `name` failing with `e` while doing `what`.
/// ENOSYS (the kernel does not have it) says so plainly: "kernel too old:
/// openat2 needs Linux >= 5.6 (this kernel is 5.4.0)". Nothing is checked
/// up front: the hot path pays nothing, only the failure path reads uname.
pub fn syscall_err(name: &str, what: impl Into<String>, e: io::Error) -> Error {
    let mut what = what.into();
    if e.raw_os_error() == Some(libc::ENOSYS)
        && let Some((_, v)) = KERNEL_FLOOR.iter().find(|(n, _)| *n == name)
    {
        what = format!(
            "{what}: kernel too old: {name} needs Linux >= {v} (this kernel is {})",
            kernel_release()
        );
    }
    Error { what, source: e }
}

/// `uname -r`.
pub fn kernel_release() -> String {
    match nix::sys::utsname::uname() {
        Ok(u) => u.release().to_string_lossy().into_owned(),
        Err(_) => "unknown".into(),
    }
}

/// Like `check`, for a newer system call `name`: ENOSYS says "kernel too old".
fn check_sys(ret: libc::c_long, name: &str, what: impl FnOnce() -> String) -> Result<libc::c_long> {
    if ret < 0 {
        Err(syscall_err(name, what(), io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

fn check(ret: libc::c_long, what: impl FnOnce() -> String) -> Result<libc::c_long> {
    if ret < 0 { Err(last(what())) } else { Ok(ret) }
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT)`: `path` is resolved as if
/// `dirfd` were `/`, so neither `..` nor a symlink can leave it.
pub fn open_in_root(root: RawFd, path: &Path, flags: i32) -> Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `root` is an fd the caller holds open for this call (every
    // caller passes `as_raw_fd()` of an OwnedFd it keeps); the borrow ends
    // with the call.
    let root = unsafe { BorrowedFd::borrow_raw(root) };
    openat2_retried(root, &cstr(rel), flags | libc::O_CLOEXEC, resolve).map_err(|e| {
        if e.raw_os_error() == Some(libc::EAGAIN) {
            io_err(
                format!(
                    "open {} in root: gave up after {OPENAT2_RETRIES} attempts (the path kept changing during the lookup)",
                    path.display()
                ),
                e,
            )
        } else {
            syscall_err("openat2", format!("open {} in root", path.display()), e)
        }
    })
}

/// Open `name`, an entry of the directory `dir`, without leaving that
/// directory's mount: `openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV |
/// RESOLVE_NO_SYMLINKS)`, so an entry that something is mounted over is
/// EXDEV and a symlink ELOOP. The bare error, for the caller to word.
pub fn open_entry_same_mount(dir: BorrowedFd<'_>, name: &str, flags: i32) -> io::Result<OwnedFd> {
    let resolve = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_XDEV
        | ResolveFlag::RESOLVE_NO_SYMLINKS;
    openat2_retried(dir, &cstr(name), flags | libc::O_CLOEXEC, resolve)
}

/// How often `open_in_root` retries an openat2 that raced with a rename.
pub const OPENAT2_RETRIES: u32 = 128;

/// `openat2(dirfd, path, flags, resolve)`, tried again (at most
/// [`OPENAT2_RETRIES`] times) while it fails with EAGAIN (a rename or mount
/// raced with the lookup) or EINTR: a container that renames in a loop must
/// not hold the runtime forever. The last error once the tries are used up.
fn openat2_retried(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: i32,
    resolve: ResolveFlag,
) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::from_bits_retain(flags))
        .resolve(resolve);
    let mut last = Errno::EAGAIN;
    for _ in 0..OPENAT2_RETRIES {
        match nix::fcntl::openat2(dirfd, path, how) {
            Ok(fd) => return Ok(fd),
            Err(e @ (Errno::EAGAIN | Errno::EINTR)) => last = e,
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.into())
}

/// A procfs, checked with `fstatfs` to be one; every file below it is
/// opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV |
/// RESOLVE_NO_MAGICLINKS)`, so a bind mount or tmpfs over a /proc file and
/// a magic link are errors, never followed (CVE-2019-16884,
/// CVE-2025-52881 class). The container's set-up uses the host's procfs,
/// opened before the clone, never the container's `/proc`.
pub struct ProcFs(OwnedFd);

impl ProcFs {
    /// The procfs at `/proc` of the caller's mount namespace.
    pub fn open_host() -> Result<ProcFs> {
        ProcFs::check(open(
            Path::new("/proc"),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?)
    }

    pub fn check(fd: OwnedFd) -> Result<ProcFs> {
        let sfs = fstatfs(&fd).map_err(|e| io_err("fstatfs /proc", e.into()))?;
        if sfs.filesystem_type() != PROC_SUPER_MAGIC {
            return Err(errno("/proc is not procfs", libc::EXDEV));
        }
        Ok(ProcFs(fd))
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.0
    }

    /// Open `rel` (e.g. `self/setgroups`, `1234/uid_map`) below the handle.
    pub fn open(&self, rel: &str, flags: i32) -> Result<OwnedFd> {
        let resolve = ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_XDEV
            | ResolveFlag::RESOLVE_NO_MAGICLINKS;
        let flags = flags | libc::O_CLOEXEC | libc::O_NOCTTY;
        openat2_retried(self.0.as_fd(), &cstr(rel), flags, resolve)
            .map_err(|e| io_err(format!("open /proc/{rel}"), e))
    }

    pub fn read(&self, rel: &str) -> Result<String> {
        use std::io::Read;
        let mut f = std::fs::File::from(self.open(rel, libc::O_RDONLY)?);
        let mut s = String::new();
        f.read_to_string(&mut s)
            .map_err(|e| io_err(format!("read /proc/{rel}"), e))?;
        Ok(s)
    }

    /// Write a /proc knob (one write, as the kernel wants).
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::from(self.open(rel, libc::O_WRONLY)?);
        f.write_all(data)
            .map_err(|e| io_err(format!("write /proc/{rel}"), e))
    }
}

/// Plain `open(2)` with `O_CLOEXEC`.
pub fn open(path: &Path, flags: i32, mode: u32) -> Result<OwnedFd> {
    nix::fcntl::open(
        cstr(path).as_c_str(),
        OFlag::from_bits_retain(flags | libc::O_CLOEXEC),
        Mode::from_bits_retain(mode),
    )
    .map_err(|e| io_err(format!("open {}", path.display()), e.into()))
}

/// `/proc/self/fd/N`: the path through which a mount lands exactly on the
/// object an fd refers to.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub const CLONE_INTO_CGROUP: u64 = 0x200000000;

/// Fork-like `clone3`: returns 0 in the child and the child's pid in the
/// parent. `cgroup` (a cgroup v2 directory fd) places the child in that
/// cgroup at birth. The caller must be single-threaded.
pub fn clone3(flags: u64, cgroup: Option<RawFd>) -> Result<libc::pid_t> {
    clone3_inner(flags, cgroup, None)
}

/// Like `clone3`, and also returns (in the parent) a pidfd of the child
/// (`CLONE_PIDFD`), so that it can be signalled without a pid number that
/// may be reused once the child was reaped.
pub fn clone3_pidfd(flags: u64, cgroup: Option<RawFd>) -> Result<(libc::pid_t, Option<OwnedFd>)> {
    let mut fd: RawFd = -1;
    let pid = clone3_inner(flags, cgroup, Some(&mut fd))?;
    // SAFETY: with CLONE_PIDFD the kernel stored a new pidfd in `fd` (in
    // the parent only, pid > 0); nothing else owns it.
    let pidfd = (pid > 0 && fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
    Ok((pid, pidfd))
}

fn clone3_inner(
    flags: u64,
    cgroup: Option<RawFd>,
    pidfd: Option<&mut RawFd>,
) -> Result<libc::pid_t> {
    const CLONE_PIDFD: u64 = 0x1000;
    // With CLONE_PARENT the kernel wants no exit signal: the child gets
    // the caller's own (SIGCHLD to the shared parent).
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        flags,
        exit_signal,
        ..Default::default()
    };
    if let Some(fd) = pidfd {
        args.flags |= CLONE_PIDFD;
        args.pidfd = fd as *mut RawFd as u64;
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; `pidfd`
    // points at a live RawFd of the caller. Without CLONE_VM or a stack the
    // child gets a copy of this address space and returns here like after
    // fork(2); the caller is single-threaded (see `clone3`), so no lock can
    // be held by a thread that does not exist in the child.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        // Older kernels or seccomp'd callers: fall back to clone(2) (without
        // a pidfd; callers then signal by pid).
        if e.raw_os_error() == Some(libc::ENOSYS) && cgroup.is_none() {
            // SAFETY: as for clone3 above: no CLONE_VM, no stack, no
            // pointers (parent/child tid and tls are 0): fork-like.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            return check(r, || "clone".into()).map(|p| p as libc::pid_t);
        }
        return Err(syscall_err("clone3", "clone3", e));
    }
    Ok(r as libc::pid_t)
}

pub fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd> {
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    // (A pid of 0 or less names no single process: EINVAL, as the kernel says.)
    Pid::from_raw(pid)
        .ok_or(rustix::io::Errno::INVAL)
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()))
        .map_err(|e| syscall_err("pidfd_open", format!("pidfd_open {pid}"), e.into()))
}

/// Signal a child: through its pidfd where there is one (never a reused
/// pid), else by pid (only for a child not yet reaped, whose pid cannot be
/// reused). A process that is already gone is fine.
pub fn kill_child(pid: libc::pid_t, pidfd: Option<&OwnedFd>, sig: i32) {
    match pidfd {
        Some(fd) => {
            let _ = pidfd_send_signal(fd, sig);
        }
        // SAFETY: kill takes two integers and touches no memory of ours.
        // (nix's kill cannot send real-time signals.)
        None => unsafe {
            libc::kill(pid, sig);
        },
    }
}

pub fn pidfd_send_signal(fd: &OwnedFd, sig: i32) -> Result<()> {
    // SAFETY: `fd` is open for the call; a null siginfo means "as kill(2)",
    // so the kernel reads no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(syscall_err(
            "pidfd_send_signal",
            format!("pidfd_send_signal {sig}"),
            e,
        ));
    }
    Ok(())
}

/// Mark every fd >= `first` close-on-exec.
pub fn cloexec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing: it only
    // sets FD_CLOEXEC, which no Rust owner of those fds relies on.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    // Kernels before 5.11 (no CLOSE_RANGE_CLOEXEC) or a seccomp profile
    // without close_range: mark each open fd from /proc/self/fd instead.
    let close_range_err = std::io::Error::last_os_error();
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| Error {
        what: format!("close_range ({close_range_err}), then /proc/self/fd"),
        source: e,
    })?;
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd: &i32| fd >= first as i32)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD and F_SETFD take integers and close nothing; an fd
        // that is not open (the directory's own, closed by now) is EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 {
            // SAFETY: as above.
            let r = unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
            check(r as libc::c_long, || format!("fcntl FD_CLOEXEC on fd {fd}"))?;
        }
    }
    Ok(())
}

/// The fields of `/proc/<pid>/stat` that follow the command name, given to
/// `f`: field 3 (the state) is index 0, field N index N - 3. `None` when
/// the process does not exist.
pub fn with_proc_stat<T>(pid: libc::pid_t, f: impl FnOnce(&[&str]) -> Option<T>) -> Option<T> {
    let s = read_small(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    f(&fields)
}

/// Process facts from `/proc/<pid>/stat`: state letter and start time (in
/// clock ticks since boot). `None` when the process does not exist.
pub fn proc_stat(pid: libc::pid_t) -> Option<(char, u64)> {
    with_proc_stat(pid, |fields| {
        let state = fields.first()?.chars().next()?;
        // starttime is field 22.
        let start = fields.get(19)?.parse().ok()?;
        Some((state, start))
    })
}

pub fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let r = nix::mount::mount(
        src.map(cstr).as_deref(),
        cstr(target).as_c_str(),
        fstype.map(cstr).as_deref(),
        nix::mount::MsFlags::from_bits_retain(flags),
        data.map(cstr).as_deref(),
    );
    r.map_err(|e| {
        io_err(
            format!(
                "mount {} on {} (type {}, flags {:#x}, data {:?})",
                src.unwrap_or("none"),
                target,
                fstype.unwrap_or("none"),
                flags,
                data.unwrap_or("")
            ),
            e.into(),
        )
    })
}

pub fn setns(fd: RawFd, nstype: i32, what: &str) -> Result<()> {
    // SAFETY: setns takes two integers and touches no memory of ours (a
    // closed fd is EBADF).
    if unsafe { libc::setns(fd, nstype) } < 0 {
        return Err(last(format!("setns {what}")));
    }
    Ok(())
}

/// `prctl(op, arg, 0, 0, 0)` for an option whose argument is a number
/// (PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_SET_PDEATHSIG,
/// PR_SET_CHILD_SUBREAPER); any other option is EINVAL here.
pub fn prctl(op: i32, arg: libc::c_ulong, what: &str) -> Result<()> {
    const NUMERIC: [i32; 5] = [
        libc::PR_SET_KEEPCAPS,
        libc::PR_SET_NO_NEW_PRIVS,
        libc::PR_SET_DUMPABLE,
        libc::PR_SET_PDEATHSIG,
        libc::PR_SET_CHILD_SUBREAPER,
    ];
    if !NUMERIC.contains(&op) {
        return Err(errno(
            format!("prctl {what}: option {op} is not one that takes a number"),
            libc::EINVAL,
        ));
    }
    // SAFETY: every option allowed above reads `arg` as a number, never as
    // a pointer, and the kernel touches no memory of ours.
    if unsafe { libc::prctl(op, arg, 0, 0, 0) } < 0 {
        return Err(last(format!("prctl {what}")));
    }
    Ok(())
}

/// Write a file without creating it (for /proc and /sys knobs).
pub fn write_file(path: &str, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(format!("open {path}"), e))?;
    f.write_all(data)
        .map_err(|e| io_err(format!("write {path}"), e))
}

/// Atomically replace `path` with `data` (temp file in the same directory,
/// fsync-free rename: state survives a crash of myrt, not of the machine).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write_atomic_impl(path, data, mode, false)
}

/// [`write_atomic`], with the data synced (fdatasync) before the rename.
pub fn write_atomic_sync(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write_atomic_impl(path, data, mode, true)
}

fn write_atomic_impl(path: &Path, data: &[u8], mode: u32, sync: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // The temp file is always a new file of ours: O_EXCL|O_NOFOLLOW, so a
    // symlink or file planted at its name (a pid file in a directory others
    // can write) is never followed or truncated; another name is tried.
    let mut attempt = 0u32;
    let (tmp, mut f) = loop {
        let tmp = if attempt == 0 {
            path.with_extension(format!("tmp{}", std::process::id()))
        } else {
            path.with_extension(format!("tmp{}.{attempt}", std::process::id()))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err(io_err(format!("create {}", tmp.display()), e)),
        }
    };
    if let Err(e) = f.write_all(data) {
        drop(f);
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(format!("write {}", tmp.display()), e));
    }
    if sync && let Err(e) = f.sync_data() {
        drop(f);
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(format!("fdatasync {}", tmp.display()), e));
    }
    drop(f);
    crate::fault::point("temp file written");
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(format!("rename {}", path.display()), e)
    })
}

/// rename(2) that fails with EEXIST instead of replacing `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    renameat2(
        AT_FDCWD,
        cstr(from).as_c_str(),
        AT_FDCWD,
        cstr(to).as_c_str(),
        RenameFlags::RENAME_NOREPLACE,
    )
    .map_err(|e| {
        io_err(
            format!("rename {} to {}", from.display(), to.display()),
            e.into(),
        )
    })
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc prints `created`.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (proleptic Gregorian), valid for any i64 day count we meet.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        y,
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        nanos
    )
}

// ---------------------------------------------------------------------------
// The new mount API: detached mounts, configured on their fd before they are
// attached, so that no flag change re-resolves a path.
// ---------------------------------------------------------------------------

pub const OPEN_TREE_CLONE: u32 = 1;
pub const AT_RECURSIVE: i32 = 0x8000;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_IDMAP: u64 = 0x100000;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// `open_tree(dirfd, path, flags | OPEN_TREE_CLOEXEC)`; with `path` empty
/// the fd itself is the object (AT_EMPTY_PATH).
pub fn open_tree(dirfd: RawFd, path: &str, flags: u32) -> Result<OwnedFd> {
    let mut f = flags | libc::O_CLOEXEC as u32;
    if path.is_empty() {
        f |= libc::AT_EMPTY_PATH as u32;
    }
    // SAFETY: `dirfd` is AT_FDCWD or an fd the caller holds open for this
    // call (callers pass `as_raw_fd()` of an fd they keep); the borrow ends
    // with the call.
    let dirfd = unsafe { BorrowedFd::borrow_raw(dirfd) };
    let flags = rustix::mount::OpenTreeFlags::from_bits_retain(f);
    rustix::mount::open_tree(dirfd, cstr(path).as_c_str(), flags).map_err(|e| {
        let what = if path.is_empty() {
            format!("open_tree fd {}", dirfd.as_raw_fd())
        } else {
            format!("open_tree {path}")
        };
        syscall_err("open_tree", what, e.into())
    })
}

/// mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr).
pub fn mount_setattr(fd: impl AsFd, recursive: bool, attr: &MountAttr) -> Result<()> {
    let empty = cstr("");
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: `empty` and `attr` outlive the call and `attr` is a
    // `struct mount_attr` of the size passed; the kernel only reads them.
    // (Neither nix nor rustix wraps mount_setattr.)
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_fd().as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check_sys(r, "mount_setattr", || format!("mount_setattr {attr:?}")).map(|_| ())
}

/// Attach the detached mount `from` onto the object `to` refers to.
pub fn move_mount(from: impl AsFd, to: impl AsFd) -> Result<()> {
    use rustix::mount::MoveMountFlags as F;
    let flags = F::MOVE_MOUNT_F_EMPTY_PATH | F::MOVE_MOUNT_T_EMPTY_PATH;
    rustix::mount::move_mount(from, c"", to, c"", flags)
        .map_err(|e| syscall_err("move_mount", "move_mount", e.into()))
}

/// Escape a path for overlayfs' `lowerdir` list (its ':' ',' and '\\').
pub fn overlay_lower_escape(p: &OsStr) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in p.as_bytes() {
        if b == b'\\' || b == b':' || b == b',' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A new, detached filesystem mount: fsopen + fsconfig (one parameter per
/// option, so values are never split on commas) + fsmount with `attrs`.
/// `params` are (key, Some(value)) strings or (key, None) flags.
pub fn fs_mount(fstype: &str, params: &[(&str, Option<&str>)], attrs: u64) -> Result<OwnedFd> {
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let fsfd = rustix::mount::fsopen(cstr(fstype).as_c_str(), FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| syscall_err("fsopen", format!("fsopen {fstype}"), e.into()))?;
    for (k, v) in params {
        let key = cstr(k);
        let r = match v {
            Some(v) => {
                rustix::mount::fsconfig_set_string(&fsfd, key.as_c_str(), cstr(v).as_c_str())
            }
            None => rustix::mount::fsconfig_set_flag(&fsfd, key.as_c_str()),
        };
        r.map_err(|e| {
            let what = match v {
                Some(v) => format!("{fstype}: option {k}={v}"),
                None => format!("{fstype}: option {k}"),
            };
            syscall_err("fsconfig", what, e.into())
        })?;
    }
    rustix::mount::fsconfig_create(&fsfd)
        .map_err(|e| syscall_err("fsconfig", format!("create {fstype} filesystem"), e.into()))?;
    // The MOUNT_ATTR_* bits all fit in the u32 of fsmount's attr_flags.
    let attrs = MountAttrFlags::from_bits_retain(attrs as u32);
    rustix::mount::fsmount(&fsfd, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| syscall_err("fsmount", format!("fsmount {fstype}"), e.into()))
}

/// Close every fd >= `first` (`close_range`, or one `close` per entry of
/// /proc/self/fd where the kernel lacks it). For a process about to become
/// another program: the caller must not use any fd >= `first` afterwards.
pub fn close_from(first: u32) -> Result<()> {
    let Ok(first_fd) = i32::try_from(first) else {
        return Ok(());
    };
    // SAFETY: the caller's contract (see the doc): no fd >= `first` is
    // owned by anything still used; close_range takes integers only.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if r == 0 {
        return Ok(());
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error {
            what: "close leaked fds: /proc/self/fd".into(),
            source: e,
        })?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // (The directory's own fd is closed by now; closing it again is EBADF.)
    for fd in fds.into_iter().filter(|&fd| fd >= first_fd) {
        // SAFETY: as for close_range above.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951782400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1700000000, 0), "2023-11-14T22:13:20.000000000Z");
    }

    #[test]
    fn lowerdir_escaping() {
        assert_eq!(
            overlay_lower_escape(OsStr::new("/a:b\\c,d")),
            b"/a\\:b\\\\c\\,d"
        );
    }

    #[test]
    fn proc_stat_of_self() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
        assert!(proc_stat(i32::MAX).is_none());
    }
}

#[cfg(test)]
mod openat2_bound {
    use super::*;

    /// A lookup that races forever (openat2 always says EAGAIN, as under
    /// a rename storm) ends with an error instead of spinning. The child
    /// runs under a seccomp filter that answers openat2 with EAGAIN.
    #[test]
    fn open_in_root_gives_up_on_endless_eagain() {
        const RET_ALLOW: u32 = 0x7fff_0000;
        const RET_ERRNO: u32 = 0x0005_0000;
        let filter = [
            // A = seccomp_data.nr
            libc::sock_filter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 0,
            },
            libc::sock_filter {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: libc::SYS_openat2 as u32,
            },
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ERRNO | libc::EAGAIN as u32,
            },
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ALLOW,
            },
        ];
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        let root = open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        // SAFETY: the test harness may run threads; the child only makes
        // system calls and `_exit`s (no allocation before the filter).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: `prog` points at `filter`, both alive here; the other
            // calls take integers.
            unsafe {
                libc::alarm(5);
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const libc::sock_fprog) != 0 {
                    libc::_exit(3);
                }
            }
            let r = open_in_root(root.as_raw_fd(), Path::new("/etc"), libc::O_PATH);
            let code = match r {
                Err(e) if e.source.raw_os_error() == Some(libc::EAGAIN) => 0,
                _ => 1,
            };
            // SAFETY: `_exit` takes an integer and does not return.
            unsafe { libc::_exit(code) };
        }
        let mut st = 0;
        // SAFETY: `st` is a live c_int for the status.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "child status {st:#x} (SIGALRM = still retrying after 5 s)"
        );
    }
}
