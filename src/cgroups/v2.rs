//! cgroup v2 back end: one directory in the unified hierarchy at
//! `/sys/fs/cgroup`; controllers are enabled in the ancestors'
//! `cgroup.subtree_control`; device rules become an eBPF program.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDevice, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxRdma,
    LinuxResources,
};
use serde_json::json;

use super::common::{
    CGROUP_ROOT, Cgroup, Error, Owned, PATH_FIELD, Result, blkio_weight_to_io_weight,
    devices_enforced, join, kill_frozen, mkdir_p, open_dir, parse_pids, pids_max_value, rdma_line,
    read_file, read_flat_keyed, read_limit, read_opt, read_u64, remove_cgroup_dir,
    shares_to_weight, swap_to_v2, wait_until, write_file,
};
use super::devices;

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
        set(&self.leaf(), r, nodes)
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
        parse_pids(&self.leaf().join("cgroup.procs"))
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
        let kill = self.leaf().join("cgroup.kill");
        if sig == libc::SIGKILL && kill.exists() {
            // Kills the whole subtree, and frozen tasks too, without racing forks.
            return write_file("kill", &kill, "1");
        }
        kill_frozen(self, sig, false)
    }

    fn destroy(&mut self) -> Result<()> {
        let leaf = self.leaf();
        let res = if self.owned.may_remove(&leaf) {
            remove_cgroup_dir(&leaf).map(|()| self.owned.remove_owned_parents(root()))
        } else {
            Ok(())
        };
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
        let peak = read_opt(&d.join("memory.peak")).and_then(|s| s.trim().parse().ok());
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

/// Write a cgroup file; a missing file means the controller is not enabled.
fn write(field: &str, path: &Path, value: &str) -> Result<()> {
    write_file(field, path, value).map_err(|e| {
        if e.errno() == Some(libc::ENOENT) && path.parent().is_some_and(Path::exists) {
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
            let ctrl = file.split('.').next().unwrap_or(file);
            Error::unsupported(
                field,
                format!(
                    "{} does not exist (is the {ctrl} controller available to this cgroup?)",
                    path.display()
                ),
            )
        } else {
            e
        }
    })
}

fn set(d: &Path, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
    if let Some(m) = r.memory() {
        memory(d, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(d, c)?;
    }
    if let Some(p) = r.pids() {
        write(
            "linux.resources.pids.limit",
            &d.join("pids.max"),
            &pids_max_value(p.limit()),
        )?;
    }
    if let Some(b) = r.block_io() {
        io(d, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(d, h)?;
    }
    if let Some(n) = r.network() {
        network(n)?;
    }
    if let Some(rd) = r.rdma() {
        rdma(d, rd)?;
    }
    if let Some(u) = r.unified() {
        unified(d, u)?;
    }
    if devices_enforced() {
        let user = r.devices().as_deref().unwrap_or_default();
        let rules = devices::policy(user, nodes)?;
        devices::attach_program(d, &devices::program(&rules))?;
    }
    Ok(())
}

fn limit_value(field: &str, v: i64) -> Result<String> {
    match v {
        -1 => Ok("max".into()),
        v if v < -1 => Err(Error::invalid(field, format!("invalid value {v}"))),
        v => Ok(v.to_string()),
    }
}

fn memory(d: &Path, m: &LinuxMemory) -> Result<()> {
    const LIMIT: &str = "linux.resources.memory.limit";
    let nz = |v: Option<i64>| v.filter(|&x| x != 0);
    let limit = nz(m.limit());
    if m.check_before_update() == Some(true)
        && let Some(l) = limit.filter(|&l| l > 0)
    {
        let usage = read_u64(&d.join("memory.current")).unwrap_or(0);
        if (l as u64) < usage {
            return Err(Error::invalid(
                LIMIT,
                format!("new limit {l} is below the current usage {usage}"),
            ));
        }
    }
    if let Some(s) = nz(m.swap()) {
        // The swap limit depends on the memory limit: the new one, else the
        // one in force.
        let eff = limit.or_else(|| {
            read_opt(&d.join("memory.max")).map(|v| match v.trim() {
                "max" => -1,
                v => v.parse().unwrap_or(-1),
            })
        });
        if let Some(v) = swap_to_v2(Some(s), eff)? {
            let f = d.join("memory.swap.max");
            if f.exists() {
                write("linux.resources.memory.swap", &f, &v)?;
            } else if v != "max" {
                return Err(Error::unsupported(
                    "linux.resources.memory.swap",
                    "the kernel does no swap accounting (memory.swap.max is missing)",
                ));
            }
        }
    }
    if let Some(l) = limit {
        write(LIMIT, &d.join("memory.max"), &limit_value(LIMIT, l)?)?;
    }
    if let Some(r) = nz(m.reservation()) {
        const F: &str = "linux.resources.memory.reservation";
        write(F, &d.join("memory.low"), &limit_value(F, r)?)?;
    }
    // kernel, kernelTCP, swappiness and disableOOMKiller have no v2
    // counterpart; they are ignored (as runc does).
    Ok(())
}

fn cpu(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        write(
            "linux.resources.cpu.shares",
            &d.join("cpu.weight"),
            &shares_to_weight(s).to_string(),
        )?;
    }
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let f = d.join("cpu.max");
        // A value not given keeps the one in force.
        let cur = read_opt(&f).unwrap_or_default();
        let mut it = cur.split_whitespace();
        let cur_quota = it.next().unwrap_or("max").to_string();
        let cur_period = it.next().unwrap_or("100000").to_string();
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            None => cur_quota,
        };
        let p = period.map_or(cur_period, |p| p.to_string());
        let field = if quota.is_some() {
            "linux.resources.cpu.quota"
        } else {
            "linux.resources.cpu.period"
        };
        write(field, &f, &format!("{q} {p}"))?;
    }
    if let Some(b) = c.burst() {
        write(
            "linux.resources.cpu.burst",
            &d.join("cpu.max.burst"),
            &b.to_string(),
        )?;
    }
    if let Some(i) = c.idle() {
        write(
            "linux.resources.cpu.idle",
            &d.join("cpu.idle"),
            &i.to_string(),
        )?;
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(Error::unsupported(
            "linux.resources.cpu.realtimeRuntime",
            "real-time CPU limits are not supported on cgroup v2",
        ));
    }
    if c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::unsupported(
            "linux.resources.cpu.realtimePeriod",
            "real-time CPU limits are not supported on cgroup v2",
        ));
    }
    if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
        write("linux.resources.cpu.cpus", &d.join("cpuset.cpus"), v)?;
    }
    if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
        write("linux.resources.cpu.mems", &d.join("cpuset.mems"), v)?;
    }
    Ok(())
}

fn io(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // With BFQ, io.bfq.weight takes the v1 value as is; else io.weight takes
    // a converted one. No file: the weight is skipped (no weight-based
    // scheduler on this kernel).
    let bfq = d.join("io.bfq.weight");
    let iow = d.join("io.weight");
    let weight_line = |dev: Option<(i64, i64)>, w: u16| -> Option<(PathBuf, String)> {
        let (file, v) = if bfq.exists() {
            (bfq.clone(), w as u64)
        } else if iow.exists() {
            (iow.clone(), blkio_weight_to_io_weight(w as u64))
        } else {
            return None;
        };
        let who = dev.map_or_else(|| "default".to_string(), |(a, b)| format!("{a}:{b}"));
        Some((file, format!("{who} {v}")))
    };
    if let Some(w) = b.weight()
        && let Some((f, line)) = weight_line(None, w)
    {
        write("linux.resources.blockIO.weight", &f, &line)?;
    }
    if let Some(wd) = b.weight_device() {
        for (i, dev) in wd.iter().enumerate() {
            if let Some(w) = dev.weight()
                && let Some((f, line)) = weight_line(Some((dev.major(), dev.minor())), w)
            {
                write(
                    &format!("linux.resources.blockIO.weightDevice[{i}]"),
                    &f,
                    &line,
                )?;
            }
        }
    }
    for (list, name, key) in [
        (
            b.throttle_read_bps_device(),
            "throttleReadBpsDevice",
            "rbps",
        ),
        (
            b.throttle_write_bps_device(),
            "throttleWriteBpsDevice",
            "wbps",
        ),
        (
            b.throttle_read_iops_device(),
            "throttleReadIOPSDevice",
            "riops",
        ),
        (
            b.throttle_write_iops_device(),
            "throttleWriteIOPSDevice",
            "wiops",
        ),
    ] {
        let Some(list) = list else { continue };
        for (i, t) in list.iter().enumerate() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write(
                &format!("linux.resources.blockIO.{name}[{i}]"),
                &d.join("io.max"),
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

fn hugetlb(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let v = limit_value(&field, l.limit())?;
        let f = d.join(format!("hugetlb.{}.max", l.page_size()));
        if !f.exists() {
            return Err(Error::unsupported(
                field,
                format!(
                    "{} does not exist (unsupported page size {:?}, or the hugetlb controller is not available)",
                    f.display(),
                    l.page_size()
                ),
            ));
        }
        write(&field, &f, &v)?;
        let rsvd = d.join(format!("hugetlb.{}.rsvd.max", l.page_size()));
        if rsvd.exists() {
            write(&field, &rsvd, &v)?;
        }
    }
    Ok(())
}

fn network(n: &LinuxNetwork) -> Result<()> {
    if n.class_id().is_some() {
        return Err(Error::unsupported(
            "linux.resources.network.classID",
            "net_cls does not exist on cgroup v2",
        ));
    }
    if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(Error::unsupported(
            "linux.resources.network.priorities",
            "net_prio does not exist on cgroup v2",
        ));
    }
    Ok(())
}

fn rdma(d: &Path, rd: &HashMap<String, LinuxRdma>) -> Result<()> {
    for (dev, l) in rd {
        write(
            &format!("linux.resources.rdma[{dev}]"),
            &d.join("rdma.max"),
            &rdma_line(dev, l),
        )?;
    }
    Ok(())
}

/// `linux.resources.unified`: each key names a file of the cgroup.
fn unified(d: &Path, u: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in keys {
        let field = format!("linux.resources.unified[{k:?}]");
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(Error::invalid(
                field,
                "a key must be a cgroup file name such as \"memory.high\"",
            ));
        }
        write(&field, &d.join(k), &u[k])?;
    }
    Ok(())
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
