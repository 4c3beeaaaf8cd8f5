//! Control groups: one interface (the [`Cgroup`] trait) with back ends for
//! v1 (hybrid included) and v2.
//!
//! - [`detect`] tells the host's mode the way runc does (`statfs("/sys/fs/cgroup")`).
//! - [`resolve_path`] turns `linux.cgroupsPath` into a path from the hierarchy root.
//! - [`open`] / [`open_with`] give the handle of the host's back end for one
//!   container's cgroup in every hierarchy: `create`, `set` (the
//!   `linux.resources` limits), `add_pid`, `freeze`, `kill_all`, `destroy`,
//!   `stats`.
//!
//! Modules, each importing only those before it: `common` (the trait,
//! errors, file helpers), `resources` (one file per `linux.resources`
//! section with its v1 and v2 conversion; `resources/devices` is the device
//! policy, written as v1 lines or a v2 eBPF program), [`v1`] and [`v2`] (the
//! back ends), `fs` (choosing the cgroupfs back end of the host), [`systemd`]
//! (the systemd driver, writing files through `fs`; `bus` runs the
//! `myrt-systemd` executable that holds the D-Bus client, `dbus`), this file
//! (resolving `linux.cgroupsPath`).
//!
//! v1 ([`v1`]): every mounted v1 controller hierarchy found in
//! `/proc/self/mountinfo`, plus, on hybrid hosts, the cgroup2 mount at
//! `/sys/fs/cgroup/unified` (the process is placed there too, as runc does).
//! v2 ([`v2`]): one unified hierarchy; device rules become an eBPF program.
//!
//! Every error names the config field (`linux.resources.memory.limit`) or the
//! cgroup file that failed, so a user can tell which setting the kernel refused.

pub mod bus;
mod common;
#[doc(hidden)]
pub mod dbus;
mod fs;
mod resources;
pub mod systemd;
pub mod v1;
pub mod v2;

use common::PATH_FIELD;
pub use common::{
    Cgroup, DEFAULT_PARENT, Error, OsError, Owned, Result, devices_enforced, remove_dirs,
};
pub use fs::{Mode, detect, open, open_with, own_v2_path, v2_path_of};

/// cgroupsPath resolution: absolute -> as is (from the hierarchy root);
/// relative "a/b" -> "/myrt/a/b"; None or "" -> "/myrt/<id>"; ".."
/// components refused. With the systemd driver: runc's "slice:prefix:name"
/// ([`systemd::UnitPath`]), the unit's cgroup.
pub fn resolve_path(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<String> {
    if systemd {
        return systemd::UnitPath::parse(cgroups_path, id).map(|u| u.cgroup);
    }
    let raw = match cgroups_path {
        None | Some("") => {
            if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                return Err(Error::invalid(
                    PATH_FIELD,
                    format!("container id {id:?} cannot name a cgroup"),
                ));
            }
            format!("{DEFAULT_PARENT}/{id}")
        }
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("{DEFAULT_PARENT}/{p}"),
    };
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::invalid(
                    PATH_FIELD,
                    format!("{raw:?}: \"..\" components are not allowed"),
                ));
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Error::invalid(
            PATH_FIELD,
            format!("{raw:?} names the root cgroup; a container needs a cgroup of its own"),
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests;
