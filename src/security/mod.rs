//! Process security: the user and groups, the five capability sets,
//! no_new_privs, rlimits, the session keyring, AppArmor, fd
//! hygiene before execve. seccomp lives in [`seccomp`] (with runc's
//! -ENOSYS stub in [`enosys`]), the sealed image of the runtime binary in
//! [`exe`].

mod enosys;
pub mod exe;
pub mod seccomp;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};
use std::str::FromStr;

use nix::sys::personality::Persona;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::stat::Mode;

use crate::sys;
use crate::syscall::Syscall;

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
                if supported_caps().contains(&cap) {
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

/// The capabilities this kernel knows, probed once per process (the probe
/// is one prctl per capability).
fn supported_caps() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED.get_or_init(caps::runtime::thread_all_supported)
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
    pub fn drop_bounding(&self, sc: &dyn Syscall) -> Result<()> {
        for &cap in supported_caps() {
            if !self.bounding.contains(&cap) {
                sc.drop_bounding_cap(cap)
                    .map_err(|e| field("process.capabilities.bounding", e))?;
            }
        }
        Ok(())
    }

    /// Make every permitted capability effective again (a uid change
    /// clears the effective set), so that a seccomp filter can still be
    /// loaded without no_new_privs (that needs CAP_SYS_ADMIN) after the
    /// user change.
    pub fn raise_effective(sc: &dyn Syscall) -> Result<()> {
        let permitted = caps::read(None, CapSet::Permitted)
            .map_err(|e| field("process.capabilities.permitted", e))?;
        sc.set_caps(CapSet::Effective, &permitted)
            .map_err(|e| field("process.capabilities.effective", e))
    }

    /// Set effective/permitted/inheritable, then raise ambient. Makes only
    /// capget, capset and prctl calls (it may run under the seccomp filter).
    pub fn apply(&self, sc: &dyn Syscall) -> Result<()> {
        sc.set_caps(
            CapSet::Effective,
            &self.permitted.union(&self.effective).cloned().collect(),
        )
        .map_err(|e| field("process.capabilities.effective", e))?;
        sc.set_caps(CapSet::Permitted, &self.permitted)
            .map_err(|e| field("process.capabilities.permitted", e))?;
        sc.set_caps(CapSet::Effective, &self.effective)
            .map_err(|e| field("process.capabilities.effective", e))?;
        sc.set_caps(CapSet::Inheritable, &self.inheritable)
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
/// `proc` is the host's procfs (see `sys::ProcFs`), never the container's.
pub fn set_user(p: &Process, proc: &sys::ProcFs, sc: &dyn Syscall) -> Result<()> {
    let u = p.user();
    let mut groups: Vec<libc::gid_t> = u.additional_gids().iter().flatten().copied().collect();
    groups.dedup();
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, "PR_SET_KEEPCAPS")?;
    let setgroups_allowed = proc
        .read("self/setgroups")
        .map_err(|e| field("process.user.additionalGids", e))?
        .trim()
        != "deny";
    if setgroups_allowed && let Err(e) = sc.setgroups(&groups) {
        return Err(field("process.user.additionalGids", e));
    }
    if let Err(e) = sc.setresgid(u.gid()) {
        return Err(field("process.user.gid", e));
    }
    if let Err(e) = sc.setresuid(u.uid()) {
        return Err(field("process.user.uid", e));
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, "PR_SET_KEEPCAPS")?;
    if let Some(m) = u.umask() {
        nix::sys::stat::umask(Mode::from_bits_retain(m as libc::mode_t));
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Option<Resource> {
    use PosixRlimitType::*;
    Some(match t {
        RlimitCpu => Resource::RLIMIT_CPU,
        RlimitFsize => Resource::RLIMIT_FSIZE,
        RlimitData => Resource::RLIMIT_DATA,
        RlimitStack => Resource::RLIMIT_STACK,
        RlimitCore => Resource::RLIMIT_CORE,
        RlimitRss => Resource::RLIMIT_RSS,
        RlimitNproc => Resource::RLIMIT_NPROC,
        RlimitNofile => Resource::RLIMIT_NOFILE,
        RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        RlimitAs => Resource::RLIMIT_AS,
        RlimitLocks => Resource::RLIMIT_LOCKS,
        RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitNice => Resource::RLIMIT_NICE,
        RlimitRtprio => Resource::RLIMIT_RTPRIO,
        RlimitRttime => Resource::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

pub fn set_rlimits(p: &Process) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let res = rlimit_resource(r.typ())
            .ok_or_else(|| field(format!("process.rlimits[{i}].type"), "unknown rlimit"))?;
        if let Err(e) = setrlimit(res, r.soft(), r.hard()) {
            return Err(field(
                format!("process.rlimits[{i}]"),
                sys::io_err(
                    format!(
                        "setrlimit {:?} soft {} hard {}",
                        r.typ(),
                        r.soft(),
                        r.hard()
                    ),
                    e.into(),
                ),
            ));
        }
    }
    Ok(())
}

/// `linux.personality` (the execution domain; flags are refused by `spec`).
pub fn set_personality(p: Option<&oci_spec::runtime::LinuxPersonality>) -> Result<()> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    let Some(p) = p else {
        return Ok(());
    };
    // PER_LINUX and PER_LINUX32 (execution domains, not flags).
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => Persona::empty(),
        LinuxPersonalityDomain::PerLinux32 => Persona::from_bits_retain(0x0008),
    };
    match nix::sys::personality::set(persona) {
        Ok(_) => Ok(()),
        Err(e) => Err(field(
            "linux.personality",
            sys::io_err("personality", e.into()),
        )),
    }
}

/// `process.ioPriority` through ioprio_set(IOPRIO_WHO_PROCESS, self).
pub fn set_io_priority(p: &Process) -> Result<()> {
    use oci_spec::runtime::IOPriorityClass;
    let Some(io) = p.io_priority() else {
        return Ok(());
    };
    let class: i64 = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&io.priority()) {
        return Err(field("process.ioPriority.priority", "must be 0..7"));
    }
    let value = (class << 13) | io.priority();
    // SAFETY: ioprio_set(IOPRIO_WHO_PROCESS, 0 = the caller, value) takes
    // integers only. (nix and rustix have no wrapper.)
    if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) } < 0 {
        return Err(field("process.ioPriority", sys::last("ioprio_set")));
    }
    Ok(())
}

pub fn set_no_new_privs(p: &Process, sc: &dyn Syscall) -> Result<()> {
    if p.no_new_privileges() == Some(true) {
        sc.set_no_new_privs()
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
    // SAFETY: `name` is a NUL-terminated string that outlives the call;
    // KEYCTL_JOIN_SESSION_KEYRING only reads it.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
}

/// Apply an AppArmor profile on exec when AppArmor is enabled; a profile on a
/// host without AppArmor is an error (it would silently not confine).
/// The attribute is written through `proc`, the host's procfs.
pub fn set_apparmor(p: &Process, proc: &sys::ProcFs) -> Result<()> {
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
    let attr = format!("exec {profile}");
    proc.write("self/attr/apparmor/exec", attr.as_bytes())
        .or_else(|_| proc.write("self/attr/exec", attr.as_bytes()))
        .map_err(|e| field("process.apparmorProfile", e))
}

/// Close-on-exec everything above the preserved fds.
pub fn close_fds(preserve: u32, sc: &dyn Syscall) -> Result<()> {
    sc.cloexec_from(3 + preserve)?;
    Ok(())
}

/// `process.scheduler` through sched_setattr(2) on the calling thread.
pub fn set_scheduler(p: &Process) -> Result<()> {
    use oci_spec::runtime::{LinuxSchedulerFlag as F, LinuxSchedulerPolicy as P};
    let Some(s) = p.scheduler() else {
        return Ok(());
    };
    let policy: u32 = match s.policy() {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => {
            return Err(field(
                "process.scheduler.policy",
                "SCHED_ISO is not implemented by the Linux kernel",
            ));
        }
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            F::SchedResetOnFork => 0x01,
            F::SchedFlagReclaim => 0x02,
            F::SchedFlagDLOverrun => 0x04,
            F::SchedFlagKeepPolicy => 0x08,
            F::SchedFlagKeepParams => 0x10,
            F::SchedFlagUtilClampMin => 0x20,
            F::SchedFlagUtilClampMax => 0x40,
        };
    }
    // struct sched_attr, SCHED_ATTR_SIZE_VER0 (no utilization clamps).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let priority = s.priority().unwrap_or(0);
    if priority < 0 {
        return Err(field("process.scheduler.priority", "must not be negative"));
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    };
    // SAFETY: `attr` is a `struct sched_attr` (VER0) whose `size` field says
    // how much the kernel may read; it outlives the call. (nix and rustix
    // have no wrapper.)
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } < 0 {
        return Err(field(
            "process.scheduler",
            sys::last(format!("sched_setattr {:?}", s.policy())),
        ));
    }
    Ok(())
}

/// Parse a CPU or node list such as `0-3,7` into a bit set (u64 words).
pub fn parse_list(s: &str, what: &str) -> std::result::Result<Vec<u64>, String> {
    const MAX: usize = 1 << 16;
    let mut words = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let bad = || format!("{s:?} is not a {what} list such as 0-3,7");
        let a: usize = a.parse().map_err(|_| bad())?;
        let b: usize = b.parse().map_err(|_| bad())?;
        if a > b || b >= MAX {
            return Err(bad());
        }
        for i in a..=b {
            if words.len() <= i / 64 {
                words.resize(i / 64 + 1, 0);
            }
            words[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(words)
}

/// sched_setaffinity(2) of `pid` (0: the caller) to a CPU list.
pub fn set_affinity(pid: libc::pid_t, list: &str, field_name: &str) -> Result<()> {
    let words = parse_list(list, "CPU").map_err(|e| field(field_name, e))?;
    if words.iter().all(|w| *w == 0) {
        return Err(field(field_name, "names no CPU"));
    }
    // SAFETY: the kernel reads `words.len() * 8` bytes from `words`, which
    // holds that many and outlives the call. (nix's CpuSet holds only 1024
    // CPUs; parse_list allows 65536.)
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            pid,
            words.len() * 8,
            words.as_ptr(),
        )
    };
    if r < 0 {
        return Err(field(
            field_name,
            sys::last(format!("sched_setaffinity {list}")),
        ));
    }
    Ok(())
}

/// `linux.memoryPolicy` through set_mempolicy(2) (inherited by children).
pub fn set_memory_policy(m: Option<&oci_spec::runtime::LinuxMemoryPolicy>) -> Result<()> {
    use oci_spec::runtime::{MemoryPolicyFlagType as F, MemoryPolicyModeType as M};
    let Some(m) = m else {
        return Ok(());
    };
    let mut mode: libc::c_int = match m.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    for f in m.flags().iter().flatten() {
        mode |= match f {
            F::MpolFNumaBalancing => 1 << 13,
            F::MpolFRelativeNodes => 1 << 14,
            F::MpolFStaticNodes => 1 << 15,
        };
    }
    let nodes = parse_list(m.nodes().as_deref().unwrap_or(""), "node")
        .map_err(|e| field("linux.memoryPolicy.nodes", e))?;
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits.
        (nodes.as_ptr(), nodes.len() * 64 + 1)
    };
    // SAFETY: the kernel reads maxnode - 1 bits from `ptr`: `nodes` holds
    // nodes.len() * 64 of them and outlives the call; (null, 0) when empty.
    if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) } < 0 {
        let e = std::io::Error::last_os_error();
        let msg = match e.raw_os_error() {
            Some(libc::ENOSYS) => "this kernel has no NUMA support (CONFIG_NUMA)".to_string(),
            _ => format!(
                "set_mempolicy {:?} nodes {:?}: {e}",
                m.mode(),
                m.nodes().as_deref().unwrap_or("")
            ),
        };
        return Err(field("linux.memoryPolicy", msg));
    }
    Ok(())
}
