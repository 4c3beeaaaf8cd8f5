//! Process security: the user and groups, the five capability sets,
//! no_new_privs, rlimits, oom_score_adj, the session keyring, AppArmor, fd
//! hygiene before execve. seccomp lives in [`seccomp`].

pub mod seccomp;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};
use std::str::FromStr;

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {msg}")]
    Field { field: String, msg: String },
    #[error(transparent)]
    Sys(#[from] sys::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

fn field(f: impl Into<String>, msg: impl std::fmt::Display) -> Error {
    Error::Field {
        field: f.into(),
        msg: msg.to_string(),
    }
}

fn cap_set(list: Option<&oci_spec::runtime::Capabilities>, name: &str) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in list.into_iter().flatten() {
        let s = c.to_string();
        let s = if s.starts_with("CAP_") {
            s
        } else {
            format!("CAP_{}", s.to_uppercase())
        };
        match Capability::from_str(&s) {
            Ok(cap) => {
                // Capabilities this kernel does not know are skipped, as runc does.
                if caps::runtime::thread_all_supported().contains(&cap) {
                    out.insert(cap);
                }
            }
            Err(_) => {
                return Err(field(
                    format!("process.capabilities.{name}"),
                    format!("unknown capability {s}"),
                ));
            }
        }
    }
    Ok(out)
}

/// Capability sets resolved before the fork, so the child only makes syscalls.
pub struct Caps {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl Caps {
    pub fn resolve(c: Option<&LinuxCapabilities>) -> Result<Caps> {
        let get = |f: fn(&LinuxCapabilities) -> &Option<oci_spec::runtime::Capabilities>| {
            c.and_then(|c| f(c).as_ref())
        };
        Ok(Caps {
            bounding: cap_set(get(LinuxCapabilities::bounding), "bounding")?,
            effective: cap_set(get(LinuxCapabilities::effective), "effective")?,
            permitted: cap_set(get(LinuxCapabilities::permitted), "permitted")?,
            inheritable: cap_set(get(LinuxCapabilities::inheritable), "inheritable")?,
            ambient: cap_set(get(LinuxCapabilities::ambient), "ambient")?,
        })
    }

    /// Drop from the bounding set everything not configured (needs
    /// CAP_SETPCAP, so this runs before the uid change).
    pub fn drop_bounding(&self) -> Result<()> {
        for cap in caps::runtime::thread_all_supported() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| field("process.capabilities.bounding", e))?;
            }
        }
        Ok(())
    }

    /// Set effective/permitted/inheritable, then raise ambient.
    pub fn apply(&self) -> Result<()> {
        caps::set(
            None,
            CapSet::Effective,
            &self.permitted.union(&self.effective).cloned().collect(),
        )
        .map_err(|e| field("process.capabilities.effective", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted)
            .map_err(|e| field("process.capabilities.permitted", e))?;
        caps::set(None, CapSet::Effective, &self.effective)
            .map_err(|e| field("process.capabilities.effective", e))?;
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| field("process.capabilities.inheritable", e))?;
        caps::clear(None, CapSet::Ambient).ok();
        for cap in &self.ambient {
            // Ambient needs the cap in permitted and inheritable; like runc,
            // skip what the kernel refuses rather than failing.
            let _ = caps::raise(None, CapSet::Ambient, *cap);
        }
        Ok(())
    }
}

/// Become the configured user: supplementary groups, gid, uid. Keeps
/// capabilities across the uid change (they are set right after).
pub fn set_user(p: &Process) -> Result<()> {
    let u = p.user();
    let mut groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
    groups.dedup();
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, "PR_SET_KEEPCAPS")?;
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    if setgroups_allowed && unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } < 0 {
        return Err(field("process.user.additionalGids", sys::last("setgroups")));
    }
    if unsafe { libc::setresgid(u.gid(), u.gid(), u.gid()) } < 0 {
        return Err(field(
            "process.user.gid",
            sys::last(format!("setresgid {}", u.gid())),
        ));
    }
    if unsafe { libc::setresuid(u.uid(), u.uid(), u.uid()) } < 0 {
        return Err(field(
            "process.user.uid",
            sys::last(format!("setresuid {}", u.uid())),
        ));
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, "PR_SET_KEEPCAPS")?;
    if let Some(m) = u.umask() {
        unsafe { libc::umask(m as libc::mode_t) };
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Option<u32> {
    use PosixRlimitType::*;
    Some(match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

pub fn set_rlimits(p: &Process) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let res = rlimit_resource(r.typ())
            .ok_or_else(|| field(format!("process.rlimits[{i}].type"), "unknown rlimit"))?;
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        if unsafe { libc::setrlimit(res as _, &lim) } < 0 {
            return Err(field(
                format!("process.rlimits[{i}]"),
                sys::last(format!(
                    "setrlimit {:?} soft {} hard {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                )),
            ));
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(p: &Process) -> Result<()> {
    if let Some(v) = p.oom_score_adj() {
        sys::write_file("/proc/self/oom_score_adj", v.to_string().as_bytes())
            .map_err(|e| field("process.oomScoreAdj", e))?;
    }
    Ok(())
}

pub fn set_no_new_privs(p: &Process) -> Result<()> {
    if p.no_new_privileges() == Some(true) {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
            .map_err(|e| field("process.noNewPrivileges", e))?;
    }
    Ok(())
}

/// Join a fresh session keyring named after the container (as runc does),
/// so containers do not share the caller's keys.
pub fn new_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = sys::cstr(format!("_ses.{id}"));
    // ENOSYS/EACCES (keyrings disabled or restricted) are not fatal.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
}

/// Apply an AppArmor profile on exec when AppArmor is enabled; a profile on a
/// host without AppArmor is an error (it would silently not confine).
pub fn set_apparmor(p: &Process) -> Result<()> {
    let Some(profile) = p.apparmor_profile().as_ref().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.starts_with('Y'))
        .unwrap_or(false);
    if !enabled {
        return Err(field(
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        ));
    }
    sys::write_file(
        "/proc/self/attr/apparmor/exec",
        format!("exec {profile}").as_bytes(),
    )
    .or_else(|_| sys::write_file("/proc/self/attr/exec", format!("exec {profile}").as_bytes()))
    .map_err(|e| field("process.apparmorProfile", e))
}

/// Close-on-exec everything above the preserved fds.
pub fn close_fds(preserve: u32) -> Result<()> {
    sys::cloexec_from(3 + preserve)?;
    Ok(())
}
