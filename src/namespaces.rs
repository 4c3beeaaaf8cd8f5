//! Linux namespaces: which to create (clone flags) and which to join (by
//! path, checked to be a namespace of the right type), uid/gid maps and
//! time offsets written from the parent.

use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::{rootless, sys};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error(transparent)]
    Sys(#[from] sys::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The clone flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The name of a namespace type under /proc/<pid>/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The order in which namespaces are joined: user first (it grants the
/// rights for the rest), mount last (paths stop resolving on the host).
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// A namespace to enter: its type and an open fd.
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

const NS_GET_NSTYPE: libc::c_ulong = 0xb703; // _IO(0xb7, 0x3)

/// Open a namespace file and check that it is one, of type `t`.
pub fn open(path: &Path, t: LinuxNamespaceType, field: &str) -> Result<OwnedFd> {
    let fd = sys::open(path, libc::O_RDONLY, 0).map_err(|e| Error::Invalid {
        field: field.into(),
        msg: e.to_string(),
    })?;
    let ok = fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC);
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the type as the
    // result; `fd` is open for the call.
    let real = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if !ok || real != flag(t) {
        return Err(Error::Invalid {
            field: field.into(),
            msg: format!("{} is not a {} namespace", path.display(), proc_name(t)),
        });
    }
    Ok(fd)
}

/// Namespaces of the config: (flags to create, namespaces to join).
pub fn plan(linux: &Linux) -> Result<(i32, Vec<Join>)> {
    let mut flags = 0;
    let mut joins = Vec::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        match ns.path() {
            None => flags |= flag(ns.typ()),
            Some(p) => joins.push(Join {
                typ: ns.typ(),
                fd: open(p, ns.typ(), &format!("linux.namespaces[{i}].path"))?,
            }),
        }
    }
    joins.sort_by_key(|j| JOIN_ORDER.iter().position(|t| *t == j.typ));
    Ok((flags, joins))
}

/// The namespaces of a running process that `exec` must join: the clone
/// flags of each type the container has that differs from ours. `pidfd`
/// is that process, opened before (see `join_process`): the comparison
/// reads `/proc/<pid>/ns`, but the joining itself goes through the pidfd,
/// so a pid reused meanwhile is never joined.
pub fn of_process(pid: i32, types: &[LinuxNamespaceType]) -> i32 {
    let mut flags = 0;
    for t in JOIN_ORDER {
        if !types.contains(&t) {
            continue;
        }
        let theirs = format!("/proc/{pid}/ns/{}", proc_name(t));
        let ours = format!("/proc/self/ns/{}", proc_name(t));
        let same = match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.ino() == b.ino() && a.dev() == b.dev()
            }
            _ => false,
        };
        if !same {
            flags |= flag(t);
        }
    }
    flags
}

/// Join the namespaces `flags` of the process `pidfd` refers to, all in one
/// `setns` (the kernel enters the user namespace first). Fails (ESRCH) if
/// that process has exited, whatever now holds its pid number.
pub fn join_process(pidfd: &OwnedFd, flags: i32) -> Result<()> {
    if flags != 0 {
        sys::setns(pidfd.as_raw_fd(), flags, "(through the container's pidfd)")?;
    }
    Ok(())
}

pub fn enter(j: &Join) -> Result<()> {
    sys::setns(j.fd.as_raw_fd(), flag(j.typ), proc_name(j.typ))?;
    Ok(())
}

fn map_text(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write uid/gid maps of a child's new user namespace. As root, both are
/// written directly. A user who is not root may write only the one line
/// mapping their own id (the gid map after `setgroups` is set to `deny`,
/// which the kernel requires first); wider maps go through `newuidmap` /
/// `newgidmap` (see [`rootless`]). The child must be dumpable meanwhile:
/// its /proc files are the caller's only then.
pub fn write_id_maps(pid: i32, linux: &Linux) -> Result<()> {
    let err = |field: &str, msg: String| Error::Invalid {
        field: field.into(),
        msg,
    };
    let gid = linux.gid_mappings().as_deref().unwrap_or_default();
    if !gid.is_empty() {
        match rootless::writer(gid, false) {
            rootless::Writer::Direct => {
                if !rootless::privileged() {
                    sys::write_file(&format!("/proc/{pid}/setgroups"), b"deny")
                        .map_err(|e| err("linux.gidMappings", e.to_string()))?;
                }
                sys::write_file(&format!("/proc/{pid}/gid_map"), map_text(gid).as_bytes())
                    .map_err(|e| err("linux.gidMappings", e.to_string()))?;
            }
            rootless::Writer::Helper => {
                rootless::run_helper(pid, gid, false).map_err(|e| err("linux.gidMappings", e))?
            }
        }
    }
    let uid = linux.uid_mappings().as_deref().unwrap_or_default();
    if !uid.is_empty() {
        match rootless::writer(uid, true) {
            rootless::Writer::Direct => {
                sys::write_file(&format!("/proc/{pid}/uid_map"), map_text(uid).as_bytes())
                    .map_err(|e| err("linux.uidMappings", e.to_string()))?
            }
            rootless::Writer::Helper => {
                rootless::run_helper(pid, uid, true).map_err(|e| err("linux.uidMappings", e))?
            }
        }
    }
    Ok(())
}

/// Unshare a time namespace for our future children and set its offsets.
/// Returns an fd of our original time namespace to go back to.
pub fn prepare_time(linux: &Linux) -> Result<OwnedFd> {
    let orig = sys::open(Path::new("/proc/self/ns/time"), libc::O_RDONLY, 0)?;
    // (nix has no name for CLONE_NEWTIME.)
    nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .map_err(|e| sys::io_err("unshare time namespace", e.into()))?;
    let mut text = String::new();
    for (clock, off) in linux.time_offsets().iter().flatten() {
        let name = match clock.as_str() {
            "monotonic" | "boottime" => clock.as_str(),
            _ => {
                return Err(Error::Invalid {
                    field: format!("linux.timeOffsets.{clock}"),
                    msg: "only monotonic and boottime have offsets".into(),
                });
            }
        };
        text.push_str(&format!(
            "{name} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        sys::write_file("/proc/self/timens_offsets", text.as_bytes()).map_err(|e| {
            Error::Invalid {
                field: "linux.timeOffsets".into(),
                msg: e.to_string(),
            }
        })?;
    }
    Ok(orig)
}
