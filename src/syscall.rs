//! The syscall seam: the calls of the container set-up whose order and
//! flags matter (mounts, pivot_root, device nodes, namespaces, the user
//! change, capabilities, seccomp, execve), behind one narrow trait.
//!
//! [`Linux`] makes the calls (through the typed wrappers in `sys`, `nix`
//! and `caps`); the recording fake in [`fake`] (unit tests only) writes
//! them down instead, so the order of operations can be checked without
//! root. The set-up takes a `&dyn Syscall`: one indirect call per system
//! call, nothing measurable next to the system call itself.
//!
//! Only what is worth asserting is here. Opening files, `fstat` and the
//! like stay plain calls: the fake runs them on a scratch directory.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::sys::{self, MountAttr, Result};

#[cfg(test)]
pub mod fake;

/// The result of a capability call (the `caps` crate's error).
pub type CapsResult = std::result::Result<(), caps::errors::CapsError>;

/// The calls of the container set-up that the unit tests observe.
pub trait Syscall {
    /// mount(2). `target` is usually `/proc/self/fd/N` of an fd opened in
    /// the root (see `sys::fd_path`).
    fn mount(
        &self,
        src: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<()>;
    /// umount2(2).
    fn umount2(&self, target: &str, flags: libc::c_int) -> Result<()>;
    /// open_tree(2) with OPEN_TREE_CLOEXEC (AT_EMPTY_PATH when `path` is "").
    fn open_tree(&self, dirfd: BorrowedFd<'_>, path: &str, flags: u32) -> Result<OwnedFd>;
    /// move_mount(2) of the detached mount `from` onto the object `to`.
    fn move_mount(&self, from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()>;
    /// mount_setattr(2) on the mount at `fd` (AT_RECURSIVE if `recursive`).
    fn mount_setattr(&self, fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> Result<()>;
    /// fsopen + fsconfig (one per parameter) + fsmount with `attrs`.
    fn fs_mount(
        &self,
        fstype: &str,
        params: &[(&str, Option<&str>)],
        attrs: u64,
    ) -> Result<OwnedFd>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &str, put_old: &str) -> Result<()>;
    /// fchdir(2).
    fn fchdir(&self, fd: BorrowedFd<'_>) -> Result<()>;
    /// chdir(2).
    fn chdir(&self, path: &str) -> Result<()>;
    /// chroot(2).
    fn chroot(&self, path: &str) -> Result<()>;
    /// mknodat(2); `mode` holds the file type and permission bits.
    fn mknodat(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> Result<()>;
    /// symlinkat(2): `link` (in `dir`) pointing to `target`.
    fn symlinkat(&self, target: &str, dir: BorrowedFd<'_>, link: &str) -> Result<()>;
    /// sethostname(2).
    fn sethostname(&self, name: &str) -> Result<()>;
    /// setdomainname(2).
    fn setdomainname(&self, name: &str) -> Result<()>;
    /// setns(2); `what` names the namespace in errors ("mnt", "net"...).
    fn setns(&self, fd: BorrowedFd<'_>, nstype: libc::c_int, what: &str) -> Result<()>;
    /// unshare(2).
    fn unshare(&self, flags: libc::c_int) -> Result<()>;
    /// Mark every fd >= `first` close-on-exec (the fd sweep before execve).
    fn cloexec_from(&self, first: u32) -> Result<()>;
    /// setgroups(2).
    fn setgroups(&self, groups: &[libc::gid_t]) -> Result<()>;
    /// setresgid(2) with one gid for all three.
    fn setresgid(&self, gid: libc::gid_t) -> Result<()>;
    /// setresuid(2) with one uid for all three.
    fn setresuid(&self, uid: libc::uid_t) -> Result<()>;
    /// Drop one capability from the bounding set.
    fn drop_bounding_cap(&self, cap: caps::Capability) -> CapsResult;
    /// Set one capability set of the calling thread.
    fn set_caps(&self, set: caps::CapSet, value: &caps::CapsHashSet) -> CapsResult;
    /// seccomp(SECCOMP_SET_MODE_FILTER, flags, filter); the notify fd when
    /// `flags` asks for a listener. Async-signal-safe: no allocation, no
    /// lock, one system call (it may run in a child forked from threads).
    fn seccomp_load(
        &self,
        filter: &[libc::sock_filter],
        flags: libc::c_ulong,
    ) -> std::io::Result<Option<OwnedFd>>;
    /// prctl(PR_SET_NO_NEW_PRIVS, 1).
    fn set_no_new_privs(&self) -> Result<()>;
    /// execve(2): returns only on failure.
    fn execve(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> std::io::Error;
}

/// `AT_FDCWD` as a borrowed fd: `*at` calls relative to the cwd.
pub fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is not an fd that can be closed; the kernel reads it
    // as "relative to the cwd" in every *at call, for as long as we like.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// The kernel.
pub struct Linux;

/// The real system calls, for callers that take a `&dyn Syscall`.
pub const LINUX: &Linux = &Linux;

fn check(r: libc::c_int, what: impl FnOnce() -> String) -> Result<()> {
    if r < 0 {
        Err(sys::last(what()))
    } else {
        Ok(())
    }
}

impl Syscall for Linux {
    fn mount(
        &self,
        src: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<()> {
        sys::mount(src, target, fstype, flags, data)
    }

    fn umount2(&self, target: &str, flags: libc::c_int) -> Result<()> {
        let flags = nix::mount::MntFlags::from_bits_retain(flags);
        nix::mount::umount2(target, flags)
            .map_err(|e| sys::errno(format!("umount {target}"), e as i32))
    }

    fn open_tree(&self, dirfd: BorrowedFd<'_>, path: &str, flags: u32) -> Result<OwnedFd> {
        sys::open_tree(dirfd.as_raw_fd(), path, flags)
    }

    fn move_mount(&self, from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
        sys::move_mount(from, to)
    }

    fn mount_setattr(&self, fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> Result<()> {
        sys::mount_setattr(fd, recursive, attr)
    }

    fn fs_mount(
        &self,
        fstype: &str,
        params: &[(&str, Option<&str>)],
        attrs: u64,
    ) -> Result<OwnedFd> {
        sys::fs_mount(fstype, params, attrs)
    }

    fn pivot_root(&self, new_root: &str, put_old: &str) -> Result<()> {
        nix::unistd::pivot_root(new_root, put_old).map_err(|e| sys::errno("pivot_root", e as i32))
    }

    fn fchdir(&self, fd: BorrowedFd<'_>) -> Result<()> {
        nix::unistd::fchdir(fd).map_err(|e| sys::errno("fchdir", e as i32))
    }

    fn chdir(&self, path: &str) -> Result<()> {
        nix::unistd::chdir(path).map_err(|e| sys::errno(format!("chdir {path}"), e as i32))
    }

    fn chroot(&self, path: &str) -> Result<()> {
        nix::unistd::chroot(path).map_err(|e| sys::errno(format!("chroot {path}"), e as i32))
    }

    fn mknodat(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> Result<()> {
        // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is
        // an open fd for the duration of the borrow.
        check(
            unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, dev) },
            || format!("mknod {}", name.to_string_lossy()),
        )
    }

    fn symlinkat(&self, target: &str, dir: BorrowedFd<'_>, link: &str) -> Result<()> {
        nix::unistd::symlinkat(target, dir, link)
            .map_err(|e| sys::errno(format!("symlink {link} -> {target}"), e as i32))
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        nix::unistd::sethostname(name).map_err(|e| sys::errno("sethostname", e as i32))
    }

    fn setdomainname(&self, name: &str) -> Result<()> {
        let c = sys::cstr(name);
        // SAFETY: `c` holds `name.len()` bytes (plus a NUL) for the call.
        check(
            unsafe { libc::setdomainname(c.as_ptr(), name.len()) },
            || "setdomainname".into(),
        )
    }

    fn setns(&self, fd: BorrowedFd<'_>, nstype: libc::c_int, what: &str) -> Result<()> {
        sys::setns(fd.as_raw_fd(), nstype, what)
    }

    fn unshare(&self, flags: libc::c_int) -> Result<()> {
        // (from_bits_retain: nix has no name for CLONE_NEWTIME.)
        nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flags))
            .map_err(|e| sys::errno("unshare", e as i32))
    }

    fn cloexec_from(&self, first: u32) -> Result<()> {
        sys::cloexec_from(first)
    }

    fn setgroups(&self, groups: &[libc::gid_t]) -> Result<()> {
        // SAFETY: the pointer and length describe `groups`, alive for the call.
        check(
            unsafe { libc::setgroups(groups.len(), groups.as_ptr()) },
            || "setgroups".into(),
        )
    }

    fn setresgid(&self, gid: libc::gid_t) -> Result<()> {
        let g = nix::unistd::Gid::from_raw(gid);
        nix::unistd::setresgid(g, g, g)
            .map_err(|e| sys::errno(format!("setresgid {gid}"), e as i32))
    }

    fn setresuid(&self, uid: libc::uid_t) -> Result<()> {
        let u = nix::unistd::Uid::from_raw(uid);
        nix::unistd::setresuid(u, u, u)
            .map_err(|e| sys::errno(format!("setresuid {uid}"), e as i32))
    }

    fn drop_bounding_cap(&self, cap: caps::Capability) -> CapsResult {
        caps::drop(None, caps::CapSet::Bounding, cap)
    }

    fn set_caps(&self, set: caps::CapSet, value: &caps::CapsHashSet) -> CapsResult {
        caps::set(None, set, value)
    }

    fn set_no_new_privs(&self) -> Result<()> {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
    }

    fn seccomp_load(
        &self,
        filter: &[libc::sock_filter],
        flags: libc::c_ulong,
    ) -> std::io::Result<Option<OwnedFd>> {
        const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
        const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
        let prog = libc::sock_fprog {
            len: filter.len() as libc::c_ushort,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points to `filter`, which outlives the call; the
        // kernel copies the program and does not write through the pointer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER the kernel returned a new fd we own.
        Ok(Some(unsafe {
            <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as libc::c_int)
        }))
    }

    fn execve(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> std::io::Error {
        debug_assert!(argv.last().is_some_and(|p| p.is_null()));
        debug_assert!(envp.last().is_some_and(|p| p.is_null()));
        // SAFETY: `path` is NUL-terminated; `argv` and `envp` are
        // NULL-terminated arrays of pointers to NUL-terminated strings that
        // the caller keeps alive; execve returns only on failure.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        std::io::Error::last_os_error()
    }
}
