//! The runtime's own image (CVE-2019-5736). Every container process starts
//! as a clone of myrt and runs myrt's image until its final `execve`; a
//! container process that can open `/proc/<pid>/exe` of such a process
//! (CAP_SYS_PTRACE, a shared pid namespace) or that makes one run
//! `#!/proc/self/exe` gets a handle on that image, and could write it once
//! nothing executes it any more. So `create`, `run` and `exec` first
//! re-execute myrt from an image no one can write:
//!
//! 1. a private, detached overlayfs whose lower layers are the binary's
//!    directory and `/dev` (two lower layers and no upper layer: a
//!    lower-only overlay is read-only by construction and, unlike a
//!    read-only bind mount, cannot be made writable again with
//!    `mount_setattr`). No copy: the pages are the binary's own.
//! 2. where that cannot be made (no overlayfs, no CAP_SYS_ADMIN, a binary
//!    already on an overlay too deep to stack), a sealed memfd copy
//!    (`F_SEAL_SEAL|SHRINK|GROW|WRITE`: no one can ever write it again).
//! 3. if neither can be made, the command fails: there is no third way
//!    without the defence.
//!
//! Whether we already run from such an image is decided only from the
//! image itself (`/proc/self/exe`), never from anything a caller passes:
//! a memfd with all four seals, or a read-only overlayfs that is not
//! mounted anywhere in our mount namespace (so only its creator reached
//! it). An environment variable only stops a loop (a re-executed image
//! that does not pass the check is an error, not a second re-exec).

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys;

/// Set (to "1") in the environment of the re-executed image; removed again
/// at once. Only a loop guard, never trusted as proof.
const REEXEC_ENV: &str = "_MYRT_SEALED_REEXEC";

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// How the running image is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// A private lower-only overlayfs view of the binary.
    Overlay,
    /// A sealed memfd copy.
    Memfd,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sealing the runtime binary (CVE-2019-5736): {0}")]
    Seal(String),
    #[error(
        "sealing the runtime binary (CVE-2019-5736): re-executed, but /proc/self/exe is still not a sealed image"
    )]
    NotSealed,
}

/// The protection of the running image, if any (see the module docs).
pub fn running_sealed() -> Option<Sealed> {
    let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).ok()?;
    sealed_kind(&exe)
}

fn sealed_kind(exe: &OwnedFd) -> Option<Sealed> {
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & SEALS == SEALS {
        return Some(Sealed::Memfd);
    }
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    let mut svfs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(exe.as_raw_fd(), &mut sfs) } < 0
        || sfs.f_type as i64 != OVERLAYFS_SUPER_MAGIC
        || unsafe { libc::fstatvfs(exe.as_raw_fd(), &mut svfs) } < 0
        || svfs.f_flag & libc::ST_RDONLY == 0
    {
        return None;
    }
    let id = mount_id(exe)?;
    // A mount of our namespace could be someone else's (with an upper
    // layer, remountable); ours is detached and in no mount table.
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let attached = table
        .lines()
        .any(|l| l.split(' ').next().and_then(|f| f.parse::<u64>().ok()) == Some(id));
    (!attached).then_some(Sealed::Overlay)
}

fn mount_id(fd: &OwnedFd) -> Option<u64> {
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let empty = c"";
    let r = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    (r == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}

/// Make sure this process runs from a sealed image: return if it does,
/// else re-execute from one (this call then never returns), or fail.
pub fn ensure_sealed() -> Result<(), Error> {
    let again = std::env::var_os(REEXEC_ENV).is_some();
    if again {
        // Single-threaded here (called first thing in main).
        unsafe { std::env::remove_var(REEXEC_ENV) };
    }
    let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0)
        .map_err(|e| Error::Seal(e.to_string()))?;
    if sealed_kind(&exe).is_some() {
        return Ok(());
    }
    if again {
        return Err(Error::NotSealed);
    }
    let image = match overlay_view() {
        Ok(fd) => fd,
        Err(overlay_err) => memfd_copy(&exe).map_err(|memfd_err| {
            Error::Seal(format!(
                "no read-only overlay view ({overlay_err}) and no sealed copy ({memfd_err})"
            ))
        })?,
    };
    drop(exe);
    Err(Error::Seal(reexec(&image)))
}

fn fsconfig(fd: &OwnedFd, cmd: u32, key: Option<&CStr>, value: Option<&CStr>) -> sys::Result<()> {
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_raw_fd(),
            cmd,
            key.map_or(std::ptr::null(), |k| k.as_ptr()),
            value.map_or(std::ptr::null(), |v| v.as_ptr()),
            0,
        )
    };
    if r < 0 {
        return Err(sys::last(format!(
            "fsconfig {}",
            key.map(|k| k.to_string_lossy()).unwrap_or_default()
        )));
    }
    Ok(())
}

fn owned(r: libc::c_long, what: &str) -> sys::Result<OwnedFd> {
    if r < 0 {
        return Err(sys::last(what));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Escape a path for overlayfs' `lowerdir` list.
fn lower_escape(p: &OsStr) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in p.as_bytes() {
        if b == b'\\' || b == b':' || b == b',' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The binary, opened (O_PATH) through a private lower-only overlayfs.
fn overlay_view() -> sys::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: u32 = 1;
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    const FSMOUNT_CLOEXEC: u32 = 1;
    const MOUNT_ATTR_RDONLY: u32 = 0x1;
    const MOUNT_ATTR_NOSUID: u32 = 0x2;
    const MOUNT_ATTR_NODEV: u32 = 0x4;
    let path = std::fs::read_link("/proc/self/exe")
        .map_err(|e| sys::io_err("readlink /proc/self/exe", e))?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(sys::errno("binary path", libc::EINVAL));
    };
    if !path.is_absolute() || path.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(sys::errno(
            format!("binary path {}", path.display()),
            libc::ENOENT,
        ));
    }
    let ctx = owned(
        unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen overlay",
    )?;
    // overlayfs needs two lower layers to run without an upper one; the
    // binary's directory is on top, so nothing in /dev can shadow it.
    let mut lower = lower_escape(dir.as_os_str());
    lower.extend_from_slice(b":/dev");
    let lower = CString::new(lower).map_err(|_| sys::errno("lowerdir", libc::EINVAL))?;
    fsconfig(&ctx, FSCONFIG_SET_STRING, Some(c"lowerdir"), Some(&lower))?;
    // Not needed, and avoids kernel log noise when the layers are on
    // different file systems.
    let _ = fsconfig(&ctx, FSCONFIG_SET_STRING, Some(c"xino"), Some(c"off"));
    fsconfig(&ctx, FSCONFIG_CMD_CREATE, None, None)?;
    let mnt = owned(
        unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                ctx.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            )
        },
        "fsmount overlay",
    )?;
    let name = sys::cstr(name);
    let fd = owned(
        unsafe {
            libc::openat(
                mnt.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        } as libc::c_long,
        "open the binary in its overlay view",
    )?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0
        || st.st_mode & libc::S_IFMT != libc::S_IFREG
    {
        return Err(sys::errno("the binary in its overlay view", libc::EINVAL));
    }
    Ok(fd)
}

/// A sealed, executable memfd copy of the binary.
fn memfd_copy(exe: &OwnedFd) -> sys::Result<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    const F_SEAL_EXEC: i32 = 0x20;
    let name = c"myrt-sealed";
    let mut fd = unsafe {
        libc::memfd_create(
            name.as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | MFD_EXEC,
        )
    };
    if fd < 0 {
        // Kernels before 6.3 do not know MFD_EXEC (exec is the default).
        fd = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
    }
    let memfd = owned(fd as libc::c_long, "memfd_create")?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(exe.as_raw_fd(), &mut st) } < 0 {
        return Err(sys::last("fstat /proc/self/exe"));
    }
    let size = st.st_size as usize;
    let mut done = 0usize;
    while done < size {
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                size - done,
            )
        };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            return Err(if n < 0 {
                sys::last("copy the binary")
            } else {
                sys::errno("copy the binary: short read", libc::EIO)
            });
        }
        done += n as usize;
    }
    if unsafe { libc::fchmod(memfd.as_raw_fd(), 0o511) } < 0 {
        return Err(sys::last("fchmod memfd"));
    }
    // Optional (Linux 6.3): nobody may change the mode afterwards.
    unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, F_SEAL_EXEC) };
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(sys::last("seal memfd"));
    }
    Ok(memfd)
}

/// Re-execute this process (same argv and environment) from `image`;
/// returns only the reason it failed.
fn reexec(image: &OwnedFd) -> String {
    let args: Vec<CString> = std::env::args_os().map(sys::cstr).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    env.push(CString::new(format!("{REEXEC_ENV}=1")).unwrap_or_default());
    let mut av: Vec<*const libc::c_char> = args.iter().map(|c| c.as_ptr()).collect();
    av.push(std::ptr::null());
    let mut ev: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    ev.push(std::ptr::null());
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            image.as_raw_fd(),
            c"".as_ptr(),
            av.as_ptr(),
            ev.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    let first = std::io::Error::last_os_error();
    // execveat may be filtered where myrt itself runs under seccomp: the
    // same file through its /proc/self/fd link.
    let path = sys::cstr(sys::fd_path(image));
    unsafe { libc::execve(path.as_ptr(), av.as_ptr(), ev.as_ptr()) };
    format!(
        "re-executing from the sealed image: execveat: {first}; execve: {}",
        std::io::Error::last_os_error()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reopen(fd: &OwnedFd, flags: i32) -> std::io::Result<OwnedFd> {
        let c = sys::cstr(sys::fd_path(fd));
        let r = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(unsafe { OwnedFd::from_raw_fd(r) })
    }

    fn exe() -> OwnedFd {
        sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).unwrap()
    }

    #[test]
    fn a_plain_binary_is_not_sealed() {
        assert_eq!(sealed_kind(&exe()), None);
    }

    #[test]
    fn memfd_copy_is_sealed_and_cannot_be_written() {
        let m = memfd_copy(&exe()).unwrap();
        let r = reopen(&m, libc::O_RDONLY).unwrap();
        assert_eq!(sealed_kind(&r), Some(Sealed::Memfd));
        let w = reopen(&m, libc::O_WRONLY);
        if let Ok(w) = w {
            let n = unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr() as *const _, 1) };
            assert!(n < 0, "wrote to the sealed copy");
        }
        let seals = unsafe { libc::fcntl(m.as_raw_fd(), libc::F_ADD_SEALS, 0) };
        assert!(seals < 0, "seals can still be changed");
    }

    /// Needs CAP_SYS_ADMIN (fsopen).
    #[test]
    fn root_overlay_view_is_read_only_and_private() {
        let v = overlay_view().unwrap();
        let r = reopen(&v, libc::O_RDONLY).unwrap();
        assert_eq!(sealed_kind(&r), Some(Sealed::Overlay));
        let e = reopen(&v, libc::O_WRONLY).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
        // Same content as the binary.
        let a = std::fs::read(sys::fd_path(&r)).unwrap();
        let b = std::fs::read("/proc/self/exe").unwrap();
        assert!(a == b, "the overlay view is not the binary");
    }

    #[test]
    fn lowerdir_escaping() {
        assert_eq!(lower_escape(OsStr::new("/a:b\\c,d")), b"/a\\:b\\\\c\\,d");
    }
}
