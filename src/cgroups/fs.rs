//! Which cgroupfs back end this host has ([`detect`]) and a handle on it
//! ([`open`], [`open_with`]); the systemd driver delegates file writes here.

use std::sync::OnceLock;

use super::common::{CGROUP_ROOT, Cgroup, Owned};
use super::{v1, v2};

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Legacy or hybrid: one hierarchy per controller (plus maybe `unified`).
    V1,
    /// Unified: one cgroup2 hierarchy at `/sys/fs/cgroup`.
    V2,
}

/// The host's cgroup mode: `statfs("/sys/fs/cgroup")` is `CGROUP2_SUPER_MAGIC`
/// means v2, anything else v1 (hybrid included). Computed once per process.
pub fn detect() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| match nix::sys::statfs::statfs(CGROUP_ROOT) {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => Mode::V2,
        _ => Mode::V1,
    })
}

/// This process's cgroup on a cgroup v2 host (`/user.slice/...`, from the
/// `0::` line of /proc/self/cgroup); empty on v1 (paths differ per
/// hierarchy there) or when unknown.
pub fn own_v2_path() -> String {
    if detect() != Mode::V2 {
        return String::new();
    }
    v2_path_of("self").unwrap_or_default()
}

/// The cgroup v2 path of process `pid` (a number, or `self`), from the
/// `0::` line of /proc/<pid>/cgroup, without a trailing `/`.
pub fn v2_path_of(pid: &str) -> Option<String> {
    let s = crate::sys::read_small(format!("/proc/{pid}/cgroup")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end_matches('/').to_string())
}

/// A handle for the cgroup at `path` (the result of [`resolve_path`]) that
/// owns nothing: to look at it, pause it, signal it or update its limits.
pub fn open(path: &str) -> Box<dyn Cgroup> {
    open_with(Owned::new(path))
}

/// A handle for `owned.path()` on this host's back end (by [`detect`]).
pub fn open_with(owned: Owned) -> Box<dyn Cgroup> {
    match detect() {
        Mode::V1 => Box::new(v1::V1::new(owned)),
        Mode::V2 => Box::new(v2::V2::new(owned)),
    }
}
