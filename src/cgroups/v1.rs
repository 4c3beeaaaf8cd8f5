//! cgroup v1 back end (hybrid hosts included): one directory per mounted
//! controller hierarchy, plus the cgroup2 mount at `/sys/fs/cgroup/unified`
//! on hybrid hosts (only membership there; no limits).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{LinuxDevice, LinuxResources};
use serde_json::json;

use super::common::{
    CGROUP_ROOT, Cgroup, Error, Owned, PATH_FIELD, Result, V1Dirs, join, kill_frozen, mkdir_p,
    pids_below, read_file, read_flat_keyed, read_limit, read_opt, read_u64, wait_until, write_file,
};
use super::resources;
use crate::mountinfo::{self, Hierarchy, Mounts};

fn mounts() -> &'static Mounts {
    mountinfo::host()
}

/// The cgroup2 mount of a hybrid host (not `/sys/fs/cgroup` itself).
fn unified_mount() -> Option<&'static Path> {
    mounts()
        .unified
        .as_deref()
        .filter(|p| *p != Path::new(CGROUP_ROOT))
}

/// The place of a cgroup in one hierarchy.
struct Place {
    root: PathBuf,
    leaf: PathBuf,
    /// `None` for the unified hierarchy of a hybrid host.
    hierarchy: Option<&'static Hierarchy>,
}

/// This cgroup in every hierarchy: one per v1 hierarchy, then the unified one.
fn places(cg: &str) -> Vec<Place> {
    let mut v: Vec<Place> = mounts()
        .v1
        .iter()
        .map(|h| Place {
            root: h.mountpoint.clone(),
            leaf: join(&h.mountpoint, cg),
            hierarchy: Some(h),
        })
        .collect();
    if let Some(u) = unified_mount() {
        v.push(Place {
            root: u.to_path_buf(),
            leaf: join(u, cg),
            hierarchy: None,
        });
    }
    v
}

fn dir(cg: &str, controller: &str) -> Option<PathBuf> {
    V1Dirs { path: cg }.dir(controller)
}

// ---------------------------------------------------------------------------
// The back end

/// The cgroup v1 back end.
#[derive(Debug)]
pub struct V1 {
    owned: Owned,
}

impl V1 {
    pub fn new(owned: Owned) -> V1 {
        V1 { owned }
    }
}

/// The hierarchy whose cgroup.procs lists the container's processes.
fn procs_dir(cg: &str) -> Option<PathBuf> {
    ["memory", "pids", "devices", "freezer", "cpu"]
        .iter()
        .find_map(|c| dir(cg, c))
        .or_else(|| mounts().v1.first().map(|h| join(&h.mountpoint, cg)))
}

const FREEZER: &str = "freezer.state";

impl Cgroup for V1 {
    fn owned(&self) -> &Owned {
        &self.owned
    }

    fn create(&mut self) -> Result<()> {
        let mut leaves = Vec::new();
        for p in places(self.path()) {
            let created = mkdir_p(&p.root, &p.leaf)?;
            self.owned.remember(created);
            if p.hierarchy.is_some_and(|h| h.has("cpuset")) {
                resources::cpuset::fill_cpusets(&p.root, &p.leaf)?;
            }
            leaves.push(p.leaf);
        }
        self.owned.check_leaves_empty(&leaves)
    }

    fn set(&self, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
        resources::set_v1(&V1Dirs { path: self.path() }, r, nodes)
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        for p in places(self.path()) {
            write_file(PATH_FIELD, &p.leaf.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn dir_fd(&self) -> Result<Option<OwnedFd>> {
        Ok(None)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let d = procs_dir(self.path())
            .ok_or_else(|| Error::unsupported(PATH_FIELD, "no cgroup v1 hierarchy is mounted"))?;
        pids_below(&d)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let d = V1Dirs { path: self.path() }.require("freezer", FREEZER)?;
        let f = d.join(FREEZER);
        let want = if frozen { "FROZEN" } else { "THAWED" };
        // Writing FROZEN starts freezing; the state reads FREEZING until every
        // task stopped. Writing again retries tasks that were busy.
        let ok = wait_until(Duration::from_secs(2), || {
            write_file(FREEZER, &f, want)?;
            Ok(read_file(FREEZER, &f)?.trim() == want)
        })?;
        if !ok {
            if frozen {
                let _ = write_file(FREEZER, &f, "THAWED");
            }
            return Err(Error::Timeout {
                field: FREEZER.into(),
                msg: format!("{} did not reach {want} in 2s", f.display()),
            });
        }
        Ok(())
    }

    fn is_frozen(&self) -> Result<bool> {
        let d = V1Dirs { path: self.path() }.require("freezer", FREEZER)?;
        Ok(read_file(FREEZER, &d.join(FREEZER))?.trim() == "FROZEN")
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        // Frozen v1 tasks cannot die: a paused container is thawed for SIGKILL.
        kill_frozen(self, sig, true)
    }

    fn destroy(&mut self) -> Result<()> {
        let mut first_err = None;
        for p in places(self.path()) {
            if let Err(e) = self.owned.remove_leaf(&p.root, &p.leaf) {
                first_err.get_or_insert(e);
            }
        }
        self.owned.remove_created();
        first_err.map_or(Ok(()), Err)
    }

    fn exists(&self) -> bool {
        places(self.path()).iter().any(|p| p.leaf.is_dir())
    }

    fn stats(&self) -> Result<serde_json::Value> {
        if !self.exists() {
            let d = procs_dir(self.path()).unwrap_or_else(|| PathBuf::from(self.path()));
            return Err(Error::missing(&d));
        }
        Ok(stats(self.path()))
    }

    fn oom_kills(&self) -> Option<(u64, Option<u64>)> {
        let d = dir(self.path(), "memory")?;
        let kills = read_flat_keyed(&d.join("memory.oom_control"))
            .get("oom_kill")
            .and_then(|v| v.as_u64())?;
        let peak = read_u64(&d.join("memory.max_usage_in_bytes"));
        Some((kills, peak))
    }

    fn roots_and_leaves(&self) -> Vec<(PathBuf, PathBuf)> {
        places(self.path())
            .into_iter()
            .map(|p| (p.root, p.leaf))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// stats

fn stats(cg: &str) -> serde_json::Value {
    let mut cpu = json!({});
    if let Some(d) = dir(cg, "cpuacct") {
        let total = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
        let percpu: Vec<u64> = read_opt(&d.join("cpuacct.usage_percpu"))
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // cpuacct.stat is in USER_HZ (100/s) ticks; runc reports nanoseconds.
        let st = read_flat_keyed(&d.join("cpuacct.stat"));
        let ticks = |k: &str| st.get(k).and_then(|v| v.as_u64()).unwrap_or(0) * 10_000_000;
        cpu["usage"] = json!({
            "total": total,
            "percpu": percpu,
            "kernel": ticks("system"),
            "user": ticks("user"),
        });
    }
    if let Some(d) = dir(cg, "cpu") {
        let st = read_flat_keyed(&d.join("cpu.stat"));
        let g = |k: &str| st.get(k).cloned().unwrap_or(json!(0));
        cpu["throttling"] = json!({
            "periods": g("nr_periods"),
            "throttledPeriods": g("nr_throttled"),
            "throttledTime": g("throttled_time"),
        });
    }
    let mut memory = json!({});
    if let Some(d) = dir(cg, "memory") {
        let entry = |prefix: &str| {
            json!({
                "limit": read_u64(&d.join(format!("{prefix}.limit_in_bytes"))).unwrap_or(0),
                "usage": read_u64(&d.join(format!("{prefix}.usage_in_bytes"))).unwrap_or(0),
                "max": read_u64(&d.join(format!("{prefix}.max_usage_in_bytes"))).unwrap_or(0),
                "failcnt": read_u64(&d.join(format!("{prefix}.failcnt"))).unwrap_or(0),
            })
        };
        let raw = read_flat_keyed(&d.join("memory.stat"));
        memory = json!({
            "cache": raw.get("cache").cloned().unwrap_or(json!(0)),
            "usage": entry("memory"),
            "swap": entry("memory.memsw"),
            "kernel": entry("memory.kmem"),
            "kernelTCP": entry("memory.kmem.tcp"),
            "raw": raw,
        });
    }
    let mut pids = json!({});
    if let Some(d) = dir(cg, "pids") {
        pids = json!({
            "current": read_u64(&d.join("pids.current")).unwrap_or(0),
            "limit": read_limit(&d.join("pids.max")),
        });
    }
    json!({
        "cpu": cpu,
        "memory": memory,
        "pids": pids,
        "blkio": {},
        "hugetlb": {},
    })
}
