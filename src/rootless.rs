//! Rootless operation: myrt run by a user who is not root on the host (or
//! by root inside a user namespace, as rootless podman runs it).
//!
//! - The state root defaults to `$XDG_RUNTIME_DIR/myrt` (runc's rule).
//! - The container's user namespace maps the caller's own uid/gid, written
//!   directly (gid after `setgroups` is set to `deny`, as the kernel
//!   requires of an unprivileged writer), or wider ranges written by the
//!   set-uid helpers `newuidmap`/`newgidmap` from /etc/subuid and
//!   /etc/subgid.
//! - Cgroups are used where the caller may write them (a delegated cgroup
//!   v2 subtree) and skipped otherwise (see `container`).

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The state root when `--root` is not given: `/run/myrt` for root on the
/// host; `$XDG_RUNTIME_DIR/myrt` for any other user (and for root in a user
/// namespace whose `$USER` is not `root`), when that variable is set. As
/// runc: without `XDG_RUNTIME_DIR` a non-root user gets `/run/myrt` too, and
/// the error creating it says what to do.
pub fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    match xdg {
        Some(dir) if honours_xdg() => PathBuf::from(dir).join("myrt"),
        _ => PathBuf::from("/run/myrt"),
    }
}

fn honours_xdg() -> bool {
    if euid() != 0 {
        return true;
    }
    // euid 0: the host's root keeps /run/myrt (XDG_RUNTIME_DIR may be
    // /run/user/0); root in a user namespace is a user's runtime.
    in_user_namespace() && std::env::var("USER").map_or(true, |u| u != "root")
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn egid() -> u32 {
    nix::unistd::getegid().as_raw()
}

/// Whether this process runs in a user namespace other than the host's
/// (the initial one maps every uid: `0 0 4294967295`).
pub fn in_user_namespace() -> bool {
    static IN: OnceLock<bool> = OnceLock::new();
    *IN.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| {
            let f: Vec<&str> = m.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        })
    })
}

/// The caller's effective uid as the host sees it (what a bus daemon reads
/// from the socket's peer): the euid mapped through /proc/self/uid_map (one
/// level of user namespace; the initial namespace maps every uid to itself).
pub fn host_uid() -> u32 {
    let euid = euid();
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map_uid(&map, euid).unwrap_or(euid)
}

/// `uid` mapped by the lines of a uid_map ("inside outside count").
fn map_uid(map: &str, uid: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let uid = u64::from(uid);
        (uid >= inside && uid - inside < count)
            .then(|| u32::try_from(outside + uid - inside).ok())
            .flatten()
    })
}

/// Rootless: not root on the host. The caller cannot write the host's
/// cgroups or device rules, nor mount sysfs without its own network
/// namespace.
pub fn active() -> bool {
    euid() != 0 || in_user_namespace()
}

/// Root in its own user namespace (the host's root, or root in the user
/// namespace of a rootless engine): may write any map that namespace
/// allows, and set up dumpable-free children.
pub fn privileged() -> bool {
    euid() == 0
}

/// The caller, for messages: "uid 1000", or "uid 0 of a user namespace"
/// (rootless podman runs the runtime so).
pub fn who() -> String {
    if euid() == 0 && in_user_namespace() {
        "uid 0 of a user namespace".into()
    } else {
        format!("uid {}", euid())
    }
}

/// The message for a state root this user cannot create.
pub fn root_hint() -> Option<String> {
    (euid() != 0 && std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|v| v.is_empty())).then(|| {
        format!(
            "running as uid {} without XDG_RUNTIME_DIR: set it (state goes to $XDG_RUNTIME_DIR/myrt) or pass --root",
            euid()
        )
    })
}

/// How a map of a new user namespace gets written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// By myrt itself: as root (any map its own namespace allows), or the
    /// single line that maps the caller's own id.
    Direct,
    /// By the set-uid helper (`newuidmap` / `newgidmap`), from the ranges
    /// /etc/subuid and /etc/subgid grant the caller.
    Helper,
}

/// Who writes `map` (the uid map when `uid`, else the gid map).
pub fn writer(map: &[LinuxIdMapping], uid: bool) -> Writer {
    if privileged() {
        return Writer::Direct;
    }
    let own = if uid { euid() } else { egid() };
    match map {
        [m] if m.host_id() == own && m.size() == 1 => Writer::Direct,
        _ => Writer::Helper,
    }
}

/// Run `newuidmap` (uid) or `newgidmap` on `pid` with `map`. Its stderr
/// is the error (it names the range /etc/subuid does not grant).
pub fn run_helper(pid: i32, map: &[LinuxIdMapping], uid: bool) -> Result<(), String> {
    let (prog, file) = if uid {
        ("newuidmap", "/etc/subuid")
    } else {
        ("newgidmap", "/etc/subgid")
    };
    let mut cmd = std::process::Command::new(prog);
    cmd.arg(pid.to_string());
    for m in map {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let who = if uid { euid() } else { egid() };
    let out = cmd.output().map_err(|e| {
        format!(
            "mapping more than your own id ({who}) needs {prog} (package uidmap) and a range in {file}: {prog}: {e}"
        )
    })?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{prog} refused the map (ranges other than your own id {who} must be granted in {file}): {}",
        why.trim()
    ))
}

/// A user who is not root can create no namespace, mount nothing and
/// change no id without a user namespace of the container's own (or one
/// joined by path): refused up front, naming the field, instead of a bare
/// EPERM from clone.
pub fn check(spec: &Spec) -> Result<(), String> {
    if privileged() {
        return Ok(());
    }
    if crate::spec::has_namespace(spec, LinuxNamespaceType::User) {
        return Ok(());
    }
    Err(format!(
        "linux.namespaces: running as uid {} (not root) needs a user namespace: add {{\"type\": \"user\"}} with linux.uidMappings and linux.gidMappings (myrt spec --rootless writes such a config)",
        euid()
    ))
}

#[cfg(test)]
mod tests {
    use super::map_uid;

    #[test]
    fn uid_through_the_map() {
        assert_eq!(map_uid("0 0 4294967295\n", 1000), Some(1000));
        // Rootless podman: root is the user, the rest subordinate ids.
        let podman = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(map_uid(podman, 0), Some(1000));
        assert_eq!(map_uid(podman, 5), Some(100004));
        assert_eq!(map_uid(podman, 70000), None);
    }
}
