//! cgroup v2 back end: one directory in the unified hierarchy at
//! `/sys/fs/cgroup`; controllers are enabled in the ancestors'
//! `cgroup.subtree_control`; device rules become an eBPF program.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{LinuxDevice, LinuxResources};
use serde_json::json;

use super::common::{
    CGROUP_ROOT, Cgroup, Error, Owned, PATH_FIELD, Result, join, kill_frozen, mkdir_p, open_dir,
    pids_below, read_file, read_flat_keyed, read_limit, read_opt, read_u64, wait_until, write_file,
};
use super::resources;

/// Controllers enabled for the container's cgroup (when the parent offers them).
const CONTROLLERS: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

fn root() -> &'static Path {
    Path::new(CGROUP_ROOT)
}

/// The cgroup v2 back end.
#[derive(Debug)]
pub struct V2 {
    owned: Owned,
}

impl V2 {
    pub fn new(owned: Owned) -> V2 {
        V2 { owned }
    }

    fn leaf(&self) -> PathBuf {
        join(root(), self.owned.path())
    }
}

const FREEZE: &str = "cgroup.freeze";

fn events_frozen(d: &Path) -> Result<bool> {
    let ev = read_file(FREEZE, &d.join("cgroup.events"))?;
    Ok(ev.lines().any(|l| l.trim() == "frozen 1"))
}

impl Cgroup for V2 {
    fn owned(&self) -> &Owned {
        &self.owned
    }

    fn create(&mut self) -> Result<()> {
        let leaf = self.leaf();
        let created = mkdir_p(root(), &leaf)?;
        self.owned.remember(created);
        // Enable the controllers top down, from the root to the leaf's parent:
        // each level can only hand on what its parent enabled for it.
        let mut ancestors: Vec<&Path> = leaf
            .ancestors()
            .skip(1)
            .take_while(|p| p.starts_with(root()))
            .collect();
        ancestors.reverse();
        for d in ancestors {
            enable_controllers(d);
        }
        self.owned.check_leaves_empty(&[leaf])
    }

    fn set(&self, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
        resources::set_v2(&self.leaf(), r, nodes)
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        write_file(
            PATH_FIELD,
            &self.leaf().join("cgroup.procs"),
            &pid.to_string(),
        )
    }

    fn dir_fd(&self) -> Result<Option<OwnedFd>> {
        open_dir(&self.leaf()).map(Some)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        pids_below(&self.leaf())
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let d = self.leaf();
        write_file(FREEZE, &d.join(FREEZE), if frozen { "1" } else { "0" })?;
        let ok = wait_until(Duration::from_secs(2), || Ok(events_frozen(&d)? == frozen))?;
        if !ok {
            if frozen {
                let _ = write_file(FREEZE, &d.join(FREEZE), "0");
            }
            return Err(Error::Timeout {
                field: FREEZE.into(),
                msg: format!(
                    "{} did not report \"frozen {}\" in 2s",
                    d.join("cgroup.events").display(),
                    frozen as u8
                ),
            });
        }
        Ok(())
    }

    fn is_frozen(&self) -> Result<bool> {
        events_frozen(&self.leaf())
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        if sig == libc::SIGKILL {
            // Kills the whole subtree, and frozen tasks too, without racing
            // forks; a kernel without cgroup.kill (before 5.14) has no file.
            match write_file("kill", &self.leaf().join("cgroup.kill"), "1") {
                Err(e) if e.errno() == Some(libc::ENOENT) => {}
                res => return res,
            }
        }
        kill_frozen(self, sig, false)
    }

    fn destroy(&mut self) -> Result<()> {
        let res = self.owned.remove_leaf(root(), &self.leaf());
        self.owned.remove_created();
        res
    }

    fn exists(&self) -> bool {
        self.leaf().is_dir()
    }

    fn stats(&self) -> Result<serde_json::Value> {
        stats(&self.leaf())
    }

    fn oom_kills(&self) -> Option<(u64, Option<u64>)> {
        let d = self.leaf();
        let kills = read_flat_keyed(&d.join("memory.events"))
            .get("oom_kill")
            .and_then(|v| v.as_u64())?;
        let peak = read_u64(&d.join("memory.peak"));
        Some((kills, peak))
    }

    fn roots_and_leaves(&self) -> Vec<(PathBuf, PathBuf)> {
        vec![(root().to_path_buf(), self.leaf())]
    }
}

/// Add to `dir/cgroup.subtree_control` the wanted controllers it offers and
/// has not enabled yet. Best effort: a controller the kernel refuses here
/// shows up as a missing file when a limit needs it.
fn enable_controllers(dir: &Path) {
    let offered = read_opt(&dir.join("cgroup.controllers")).unwrap_or_default();
    let enabled = read_opt(&dir.join("cgroup.subtree_control")).unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    for c in offered.split_whitespace() {
        if CONTROLLERS.contains(&c) && !enabled.contains(&c) {
            let _ = write_file(
                PATH_FIELD,
                &dir.join("cgroup.subtree_control"),
                &format!("+{c}"),
            );
        }
    }
}

fn stats(d: &Path) -> Result<serde_json::Value> {
    if !d.is_dir() {
        return Err(Error::missing(d));
    }
    let cs = read_flat_keyed(&d.join("cpu.stat"));
    let us = |k: &str| cs.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let cpu = json!({
        "usage": {
            "total": us("usage_usec") * 1000,
            "kernel": us("system_usec") * 1000,
            "user": us("user_usec") * 1000,
        },
        "throttling": {
            "periods": us("nr_periods"),
            "throttledPeriods": us("nr_throttled"),
            "throttledTime": us("throttled_usec") * 1000,
        },
    });
    let raw = read_flat_keyed(&d.join("memory.stat"));
    let events = read_flat_keyed(&d.join("memory.events"));
    let max_or_zero = |p: PathBuf| read_u64(&p).unwrap_or(0);
    let memory = json!({
        "cache": raw.get("file").cloned().unwrap_or(json!(0)),
        "usage": {
            "limit": max_or_zero(d.join("memory.max")),
            "usage": max_or_zero(d.join("memory.current")),
            "max": max_or_zero(d.join("memory.peak")),
            "failcnt": events.get("max").cloned().unwrap_or(json!(0)),
        },
        "swap": {
            "limit": max_or_zero(d.join("memory.swap.max")),
            "usage": max_or_zero(d.join("memory.swap.current")),
            "failcnt": 0,
        },
        "raw": raw,
    });
    let pids = json!({
        "current": read_u64(&d.join("pids.current")).unwrap_or(0),
        "limit": read_limit(&d.join("pids.max")),
    });
    Ok(json!({
        "cpu": cpu,
        "memory": memory,
        "pids": pids,
        "blkio": {},
        "hugetlb": {},
    }))
}
