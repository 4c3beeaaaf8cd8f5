//! Bind mounts (`bind`/`rbind`, type `bind`), and idmapped bind mounts,
//! which the parent makes in the host's user namespace.

use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::detached::{clone_tree, set_flags, set_recursive_attrs};
use super::options::{Options, parse_options};
use super::path::mkdir_all;
use super::{Ctx, Error, Result, RootfsSetup};
use crate::sys::{self, MountAttr};
use crate::syscall::{LINUX, Syscall};

/// A mount's source: relative sources are relative to the bundle.
fn source(m: &Mount, bundle: &Path) -> Option<PathBuf> {
    m.source().as_ref().map(|s| {
        if s.is_absolute() {
            s.clone()
        } else {
            bundle.join(s)
        }
    })
}

/// Bind `mounts[i]` (or attach its idmapped copy): a detached copy, made
/// the way the options say, then attached, so nothing is re-resolved by
/// path after the mount lands. Returns the attached mount.
pub(super) fn mount(
    p: &RootfsSetup,
    rootfd: &OwnedFd,
    i: usize,
    m: &Mount,
    opts: &Options,
    idmapped: Option<&OwnedFd>,
) -> Result<OwnedFd> {
    let field = || format!("mounts[{i}] ({})", m.destination().display());
    let src = source(m, p.bundle).ok_or_else(|| Error::Invalid {
        field: format!("mounts[{i}].source"),
        msg: "a bind mount needs a source".into(),
    })?;
    let meta = std::fs::metadata(&src).map_err(|e| Error::Invalid {
        field: format!("mounts[{i}].source"),
        msg: format!("{}: {e}", src.display()),
    })?;
    // Data options (e.g. mode=755) mean nothing to a bind mount; the
    // kernel ignores them and so does runc.
    let target = mkdir_all(rootfd, m.destination(), !meta.is_dir()).field(field)?;
    let mnt = match idmapped {
        Some(fd) => fd
            .try_clone()
            .map_err(|e| sys::io_err("dup idmapped mount", e))
            .field(field)?,
        None => clone_tree(p.sys, None, &src.to_string_lossy(), opts.recursive).field(field)?,
    };
    let want = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    if want != 0 {
        set_flags(p.sys, &mnt, want).field(field)?;
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        set_recursive_attrs(p.sys, &mnt, opts.rec_set, opts.rec_clr).field(field)?;
    }
    p.sys.move_mount(mnt.as_fd(), target.as_fd()).field(field)?;
    Ok(mnt)
}

fn id_map_text(m: &[LinuxIdMapping]) -> String {
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
        // SAFETY: the child only waits to be killed (prctl and pause take
        // no pointers); it never returns into the parent's code.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        loop {
            // SAFETY: see above.
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
    // SAFETY: `pid` is our unreaped child, so the number cannot have been
    // reused; waitpid takes a null status pointer.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    r
}

/// The uid and gid maps (as written to /proc) of an idmapped mount: its
/// own, or the container's.
fn idmap_maps(spec: &Spec, i: usize, m: &Mount) -> Result<(String, String)> {
    let linux = spec.linux().as_ref();
    match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) => Ok((id_map_text(u), id_map_text(g))),
        (None, None) => match (
            linux.and_then(|l| l.uid_mappings().as_ref()),
            linux.and_then(|l| l.gid_mappings().as_ref()),
        ) {
            (Some(u), Some(g)) => Ok((id_map_text(u), id_map_text(g))),
            _ => Err(Error::Invalid {
                field: format!("mounts[{i}].uidMappings"),
                msg: "an idmapped mount needs uidMappings and gidMappings, on the mount or in linux (user namespace)".into(),
            }),
        },
        _ => Err(Error::Invalid {
            field: format!("mounts[{i}].uidMappings"),
            msg: "uidMappings and gidMappings go together".into(),
        }),
    }
}

/// The idmapped mounts of a config (`uidMappings`/`gidMappings` on a mount,
/// or an `idmap`/`ridmap` option, which without mappings of its own takes
/// the container's): made by the parent in the host's user namespace, as
/// detached bind mounts that the container's init attaches. Indexed like
/// `mounts`. Costs nothing for configs without idmapped mounts. (Always
/// the kernel's calls: the user namespace comes from a cloned child.)
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
        out.push(Some(idmapped_mount(spec, bundle, i, m, ridmap)?));
    }
    // Nothing idmapped: no allocation worth keeping.
    if out.iter().all(Option::is_none) {
        out.clear();
    }
    Ok(out)
}

/// One idmapped mount: a detached copy of the source with MOUNT_ATTR_IDMAP
/// (recursively for `ridmap`).
fn idmapped_mount(
    spec: &Spec,
    bundle: &Path,
    i: usize,
    m: &Mount,
    ridmap: bool,
) -> Result<OwnedFd> {
    let field = || format!("mounts[{i}] ({})", m.destination().display());
    let (uid, gid) = idmap_maps(spec, i, m)?;
    let parsed = parse_options(m.options().as_deref().unwrap_or(&[]));
    let (Some(src), true) = (
        source(m, bundle),
        parsed.bind || m.typ().as_deref() == Some("bind"),
    ) else {
        return Err(Error::Invalid {
            field: format!("mounts[{i}].options"),
            msg: "idmapped mounts are bind mounts (with a source)".into(),
        });
    };
    let userns = userns_with_maps(&uid, &gid).field(field)?;
    let mnt = clone_tree(LINUX, None, &src.to_string_lossy(), parsed.recursive).field(field)?;
    let attr = MountAttr {
        attr_set: sys::MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..Default::default()
    };
    LINUX
        .mount_setattr(mnt.as_fd(), ridmap, &attr)
        .map_err(|e| {
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
    Ok(mnt)
}
