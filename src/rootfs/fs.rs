//! Filesystem mounts (tmpfs, proc, sysfs, devpts, mqueue...): one mount(2)
//! onto the destination's fd in the common case, a detached `fsmount`
//! when something must be done to the mount before it is attached (a
//! tmpfs's contents, recursive attributes, propagation).

use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::Mount;
use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use super::detached::set_recursive_attrs;
use super::kernfs;
use super::options::{Options, fs_params, remount_attrs};
use super::path::{is, lstat_in_root, mkdir_all, reopen_dir};
use super::{Ctx, Error, Result, RootfsSetup};
use crate::sys::{self, MOUNT_ATTR_RDONLY, MountAttr, fd_path};
use crate::syscall::Syscall;

/// Mount the filesystem of `mounts[i]`. Returns the attached mount when it
/// was made detached, `None` when it was mounted in place.
pub(super) fn mount(
    p: &RootfsSetup,
    rootfd: &OwnedFd,
    i: usize,
    m: &Mount,
    opts: &Options,
) -> Result<Option<OwnedFd>> {
    let field = || format!("mounts[{i}] ({})", m.destination().display());
    let typ = m.typ().as_deref().unwrap_or("");
    if typ.is_empty() {
        return Err(Error::Invalid {
            field: format!("mounts[{i}].type"),
            msg: "missing (required unless the mount is a bind mount)".into(),
        });
    }
    // What is at the destination already matters for proc and sysfs
    // (no symlink) and tmpfs (its mode); other types skip the lookup.
    let before = if kernfs::is_kernfs(typ) || typ == "tmpfs" {
        lstat_in_root(rootfd, m.destination())
    } else {
        None
    };
    kernfs::check_before(typ, m.destination(), before.as_ref(), &field())?;
    let target = mkdir_all(rootfd, m.destination(), false).field(field)?;
    kernfs::check_target(typ, &target, &field())?;
    let src = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    let flags = opts.flags & !libc::MS_REMOUNT;
    let existed = before.is_some_and(|st| is(&st, libc::S_IFDIR));
    let needs_fd = opts.rec_set != 0
        || opts.rec_clr != 0
        || !opts.propagation.is_empty()
        || (typ == "tmpfs" && existed);
    let made = if needs_fd {
        detached(p.sys, typ, &src, opts, flags)
    } else {
        // The common case needs nothing done to the mount after it is
        // made: one mount(2) onto the destination's fd (fsopen/fsconfig
        // would cost a syscall per option).
        let data = opts.data.join(",");
        match p.sys.mount(
            Some(&src),
            &fd_path(&target),
            Some(typ),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        ) {
            Ok(()) => return Ok(None),
            Err(e) => Err(e),
        }
    };
    let mnt = match made {
        Ok(m) => m,
        Err(e) => kernfs::fallback(p.sys, typ, e, flags).field(field)?,
    };
    if typ == "tmpfs" {
        finish_tmpfs(p.sys, &mnt, &target, before.as_ref(), opts).field(field)?;
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        set_recursive_attrs(p.sys, &mnt, opts.rec_set, opts.rec_clr).field(field)?;
    }
    p.sys.move_mount(mnt.as_fd(), target.as_fd()).field(field)?;
    Ok(Some(mnt))
}

/// A new detached `typ` filesystem with the options' flags. A tmpfs is
/// made writable: it is filled (tmpcopyup, mode) before `ro` goes on the
/// mount (the superblock has no other mount).
fn detached(
    sc: &dyn Syscall,
    typ: &str,
    src: &str,
    opts: &Options,
    flags: libc::c_ulong,
) -> sys::Result<OwnedFd> {
    if typ == "tmpfs" {
        let rw = Options {
            flags: opts.flags & !libc::MS_RDONLY,
            data: opts.data.clone(),
            ..Default::default()
        };
        sc.fs_mount(
            typ,
            &fs_params(&rw, src),
            remount_attrs(flags & !libc::MS_RDONLY).0,
        )
    } else {
        sc.fs_mount(typ, &fs_params(opts, src), remount_attrs(flags).0)
    }
}

/// Fill a new tmpfs, then make it read-only if the options say `ro`.
fn finish_tmpfs(
    sc: &dyn Syscall,
    mnt: &OwnedFd,
    target: &OwnedFd,
    before: Option<&FileStat>,
    opts: &Options,
) -> sys::Result<()> {
    tmpfs_contents(mnt, target, before, opts)?;
    if opts.flags & libc::MS_RDONLY != 0 {
        let ro = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        sc.mount_setattr(mnt.as_fd(), false, &ro)?;
    }
    Ok(())
}

/// A new tmpfs, still detached: `tmpcopyup` copies what it will hide, and
/// when it hides a directory that was already in the image, its root takes
/// that directory's mode (unless `mode=` is given), as runc does. A
/// directory that had to be created keeps tmpfs's default mode (1777).
fn tmpfs_contents(
    mnt: &OwnedFd,
    target: &OwnedFd,
    before: Option<&FileStat>,
    opts: &Options,
) -> sys::Result<()> {
    let existed = before.is_some_and(|st| is(st, libc::S_IFDIR));
    let copy = opts.tmpcopyup && existed;
    let mode_of = if existed && !opts.data.iter().any(|d| d.starts_with("mode=")) {
        nix::sys::stat::fstat(target).ok()
    } else {
        None
    };
    if !copy && mode_of.is_none() {
        // Nothing to put in it (the usual /dev: `mode=` given).
        return Ok(());
    }
    let to = reopen_dir(mnt)?;
    if copy {
        copy_tree(&reopen_dir(target)?, &to)?;
    }
    if let Some(st) = mode_of {
        nix::sys::stat::fchmod(&to, Mode::from_bits_truncate(st.st_mode & 0o7777))
            .map_err(|e| sys::errno("chmod tmpfs root", e as i32))?;
        if opts.tmpcopyup {
            let _ = nix::unistd::fchown(
                &to,
                Some(Uid::from_raw(st.st_uid)),
                Some(Gid::from_raw(st.st_gid)),
            );
        }
    }
    Ok(())
}

/// Copy a directory tree (files, dirs, symlinks, modes and owners) from one
/// directory fd to another, never following symlinks (for `tmpcopyup`).
/// Entries that vanish or cannot be read are skipped, as before a copy.
fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> sys::Result<()> {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{FchmodatFlags, fchmodat, fstatat, mkdirat};
    let dir = std::fs::read_dir(fd_path(from)).map_err(|e| sys::io_err("read dir", e))?;
    for ent in dir.flatten() {
        let name = sys::cstr(ent.file_name());
        let name = name.as_c_str();
        let Ok(st) = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        if is(&st, libc::S_IFDIR) {
            let _ = mkdirat(to, name, mode);
            let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
            copy_tree(&openat(from, name, dir, 0)?, &openat(to, name, dir, 0)?)?;
        } else if is(&st, libc::S_IFREG) {
            let src = openat(from, name, OFlag::O_RDONLY, 0)?;
            let new = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
            let dst = openat(to, name, new, st.st_mode & 0o7777)?;
            std::io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst))
                .map_err(|e| sys::io_err("tmpcopyup: copy", e))?;
        } else if is(&st, libc::S_IFLNK) {
            let Ok(target) = nix::fcntl::readlinkat(from, name) else {
                continue;
            };
            let _ = nix::unistd::symlinkat(target.as_os_str(), to, name);
        } else {
            continue;
        }
        let _ = nix::unistd::fchownat(
            to,
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        // Modes exactly as the source (creation is subject to the umask).
        if !is(&st, libc::S_IFLNK) {
            let _ = fchmodat(to, name, mode, FchmodatFlags::FollowSymlink);
        }
    }
    Ok(())
}

/// `openat` relative to a directory fd, never following a final symlink.
fn openat(dir: &OwnedFd, name: &CStr, flags: OFlag, mode: u32) -> sys::Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name,
        flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(mode),
    )
    .map_err(|e| {
        sys::errno(
            format!("tmpcopyup: open {}", name.to_string_lossy()),
            e as i32,
        )
    })
}
