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

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, FcntlArg, OFlag, SealFlag, fcntl, openat};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::sendfile::sendfile;
use nix::sys::stat::{Mode, fchmod, fstat};
use nix::sys::statfs::{OVERLAYFS_SUPER_MAGIC, fstatfs};
use nix::sys::statvfs::FsFlags;
use nix::unistd::{execve, execveat};

use crate::sys;

/// Set in the environment of the re-executed image, to the path the
/// binary was run from (where the sealed image came from); removed again at
/// once. Only a loop guard, never trusted as proof of sealing, and the path
/// only says where the binary's companion executables are
/// ([`sys::runtime_binary`]): a caller who can set it can run any binary
/// anyway.
const REEXEC_ENV: &str = "_MYRT_SEALED_REEXEC";

const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

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

/// The protection of the image `exe` (`/proc/self/exe`), if any (see the
/// module docs).
fn sealed_kind(exe: &OwnedFd) -> Option<Sealed> {
    if let Ok(seals) = fcntl(exe, FcntlArg::F_GET_SEALS)
        && SealFlag::from_bits_retain(seals).contains(SEALS)
    {
        return Some(Sealed::Memfd);
    }
    // One fstatfs: the filesystem type and the mount flags (what fstatvfs
    // reports, through the same system call).
    let sfs = fstatfs(exe).ok()?;
    let overlay = sfs.filesystem_type() == OVERLAYFS_SUPER_MAGIC;
    if !overlay || !sfs.flags().contains(FsFlags::ST_RDONLY) {
        return None;
    }
    let id = mount_id(exe)?;
    // A mount of our namespace could be someone else's (with an upper
    // layer, remountable); ours is detached and in no mount table.
    // Read now, never from a cache: the answer is about this moment.
    let table = sys::read_small("/proc/self/mountinfo").ok()?;
    let attached = table
        .lines()
        .any(|l| l.split(' ').next().and_then(|f| f.parse::<u64>().ok()) == Some(id));
    crate::mountinfo::prime(table);
    (!attached).then_some(Sealed::Overlay)
}

fn mount_id(fd: &OwnedFd) -> Option<u64> {
    use rustix::fs::{AtFlags, StatxFlags, statx};
    let stx = statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID).ok()?;
    (stx.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(stx.stx_mnt_id)
}

/// Make sure this process runs from a sealed image: return if it does,
/// else re-execute from one (this call then never returns), or fail.
pub fn ensure_sealed() -> Result<(), Error> {
    let origin = std::env::var_os(REEXEC_ENV);
    let again = origin.is_some();
    if again {
        // SAFETY: called first thing in main, before any thread exists, so
        // no other thread can read the environment at the same time.
        unsafe { std::env::remove_var(REEXEC_ENV) };
    }
    let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0)
        .map_err(|e| Error::Seal(e.to_string()))?;
    if sealed_kind(&exe).is_some() {
        if let Some(origin) = origin {
            sys::set_runtime_binary(origin.into());
        }
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

/// The error of an fsopen/fsconfig/fsmount step of the overlay view.
fn mount_err(what: &str) -> impl FnOnce(rustix::io::Errno) -> sys::Error + '_ {
    move |e| sys::io_err(what, e.into())
}

/// The binary, opened (O_PATH) through a private lower-only overlayfs.
fn overlay_view() -> sys::Result<OwnedFd> {
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags as Attr};
    use rustix::mount::{fsconfig_create, fsconfig_set_string, fsmount, fsopen};
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
    // Where the binary was run from, for the re-executed image
    // (`reexec` passes it on): not read a second time there.
    sys::set_runtime_binary(path.clone());
    let ctx =
        fsopen(c"overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(mount_err("fsopen overlay"))?;
    // overlayfs needs two lower layers to run without an upper one; the
    // binary's directory is on top, so nothing in /dev can shadow it.
    let mut lower = sys::overlay_lower_escape(dir.as_os_str());
    lower.extend_from_slice(b":/dev");
    let lower = CString::new(lower).map_err(|_| sys::errno("lowerdir", libc::EINVAL))?;
    fsconfig_set_string(&ctx, c"lowerdir", lower.as_c_str())
        .map_err(mount_err("fsconfig lowerdir"))?;
    // Not needed, and avoids kernel log noise when the layers are on
    // different file systems.
    let _ = fsconfig_set_string(&ctx, c"xino", c"off");
    fsconfig_create(&ctx).map_err(mount_err("fsconfig create"))?;
    let attrs = Attr::MOUNT_ATTR_RDONLY | Attr::MOUNT_ATTR_NOSUID | Attr::MOUNT_ATTR_NODEV;
    let mnt = fsmount(&ctx, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(mount_err("fsmount overlay"))?;
    let fd = openat(
        &mnt,
        sys::cstr(name).as_c_str(),
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys::io_err("open the binary in its overlay view", e.into()))?;
    let regular = fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
    if !regular {
        return Err(sys::errno("the binary in its overlay view", libc::EINVAL));
    }
    Ok(fd)
}

/// A sealed, executable memfd copy of the binary.
fn memfd_copy(exe: &OwnedFd) -> sys::Result<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    const F_SEAL_EXEC: i32 = 0x20;
    let name = c"myrt-sealed";
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let memfd = memfd_create(name, flags | MFdFlags::from_bits_retain(MFD_EXEC))
        // Kernels before 6.3 do not know MFD_EXEC (exec is the default).
        .or_else(|_| memfd_create(name, flags))
        .map_err(|e| sys::io_err("memfd_create", e.into()))?;
    let size = fstat(exe)
        .map_err(|e| sys::io_err("fstat /proc/self/exe", e.into()))?
        .st_size as usize;
    let mut done = 0usize;
    while done < size {
        match sendfile(&memfd, exe, None, size - done) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys::io_err("copy the binary", e.into())),
            Ok(0) => return Err(sys::errno("copy the binary: short read", libc::EIO)),
            Ok(n) => done += n,
        }
    }
    fchmod(&memfd, Mode::from_bits_retain(0o511))
        .map_err(|e| sys::io_err("fchmod memfd", e.into()))?;
    // Optional (Linux 6.3): nobody may change the mode afterwards.
    let _ = fcntl(
        &memfd,
        FcntlArg::F_ADD_SEALS(SealFlag::from_bits_retain(F_SEAL_EXEC)),
    );
    fcntl(&memfd, FcntlArg::F_ADD_SEALS(SEALS)).map_err(|e| sys::io_err("seal memfd", e.into()))?;
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
    let mut guard = format!("{REEXEC_ENV}=").into_bytes();
    match sys::runtime_binary() {
        Some(origin) => guard.extend_from_slice(origin.as_os_str().as_bytes()),
        None => guard.push(b'1'),
    }
    env.push(CString::new(guard).unwrap_or_default());
    let Err(first) = execveat(image, c"", &args, &env, AtFlags::AT_EMPTY_PATH);
    // execveat may be filtered where myrt itself runs under seccomp: the
    // same file through its /proc/self/fd link.
    let path = sys::cstr(sys::fd_path(image));
    let Err(second) = execve(&path, &args, &env);
    format!(
        "re-executing from the sealed image: execveat: {}; execve: {}",
        std::io::Error::from(first),
        std::io::Error::from(second)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reopen(fd: &OwnedFd, flags: i32) -> std::io::Result<OwnedFd> {
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_CLOEXEC;
        Ok(nix::fcntl::open(
            sys::fd_path(fd).as_str(),
            flags,
            Mode::empty(),
        )?)
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
            let n = nix::unistd::write(&w, b"x");
            assert!(n.is_err(), "wrote to the sealed copy");
        }
        let seals = fcntl(&m, FcntlArg::F_ADD_SEALS(SealFlag::empty()));
        assert!(seals.is_err(), "seals can still be changed");
    }

    /// A read-only overlay of the binary's directory that is mounted in
    /// our namespace is not a sealed image: whoever mounted it may have an
    /// upper layer or remount it. Needs CAP_SYS_ADMIN.
    #[test]
    fn root_an_attached_read_only_overlay_is_not_sealed() {
        use nix::mount::{MntFlags, MsFlags, mount, umount2};
        let bin = std::fs::read_link("/proc/self/exe").unwrap();
        let (dir, name) = (bin.parent().unwrap(), bin.file_name().unwrap());
        let at = std::env::temp_dir().join(format!("myrt-attached-{}", std::process::id()));
        std::fs::create_dir_all(&at).unwrap();
        let opts = format!("lowerdir={}:/dev,xino=off", dir.display());
        mount(
            Some("overlay"),
            &at,
            Some("overlay"),
            MsFlags::MS_RDONLY,
            Some(opts.as_str()),
        )
        .unwrap();
        let fd = sys::open(&at.join(name), libc::O_RDONLY, 0);
        let kind = fd.as_ref().ok().map(sealed_kind);
        umount2(&at, MntFlags::MNT_DETACH).unwrap();
        let _ = std::fs::remove_dir(&at);
        fd.unwrap();
        assert_eq!(kind, Some(None), "an attached overlay counted as sealed");
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
}
