//! cgroup v1 back end (hybrid hosts included): one directory per mounted
//! controller hierarchy, plus the cgroup2 mount at `/sys/fs/cgroup/unified`
//! on hybrid hosts (only membership there; no limits).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDevice, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxPids,
    LinuxResources,
};
use serde_json::json;

use super::common::{
    CGROUP_ROOT, Cgroup, Error, Owned, PATH_FIELD, Result, devices_enforced, join, kill_frozen,
    mkdir_p, parse_pids, pids_max_value, rdma_line, read_file, read_flat_keyed, read_limit,
    read_opt, read_u64, remove_cgroup_dir, wait_until, write_file,
};
use super::devices::{self, DeviceRule};
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

/// The directory of this cgroup in the hierarchy of `controller`, if mounted.
fn dir(cg: &str, controller: &str) -> Option<PathBuf> {
    mounts()
        .hierarchy(controller)
        .map(|h| join(&h.mountpoint, cg))
}

/// Like [`dir`], but an error naming `field` when the controller is not mounted.
fn require(cg: &str, controller: &str, field: &str) -> Result<PathBuf> {
    dir(cg, controller).ok_or_else(|| {
        Error::unsupported(
            field,
            format!("the {controller} cgroup controller is not mounted on this host"),
        )
    })
}

fn fill_cpuset(d: &Path) -> Result<()> {
    let Some(parent) = d.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let own = read_file(PATH_FIELD, &d.join(f))?;
        if !own.trim().is_empty() {
            continue;
        }
        let up = read_file(PATH_FIELD, &parent.join(f))?;
        write_file(PATH_FIELD, &d.join(f), up.trim())?;
    }
    Ok(())
}

fn set(cg: &str, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
    if let Some(m) = r.memory() {
        memory(cg, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(cg, c)?;
    }
    if let Some(p) = r.pids() {
        pids_limit(cg, p)?;
    }
    if let Some(b) = r.block_io() {
        blkio(cg, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(cg, h)?;
    }
    if let Some(n) = r.network() {
        network(cg, n)?;
    }
    if let Some(rd) = r.rdma() {
        rdma(cg, rd)?;
    }
    if let Some(u) = r.unified()
        && !u.is_empty()
    {
        return Err(Error::unsupported(
            "linux.resources.unified",
            "cgroup v2 settings were given, but this host uses cgroup v1",
        ));
    }
    if devices_enforced() {
        let user = r.devices().as_deref().unwrap_or_default();
        device_rules(cg, &devices::policy(user, nodes)?)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// memory

fn memory(cg: &str, m: &LinuxMemory) -> Result<()> {
    let nz = |v: Option<i64>| v.filter(|&x| x != 0);
    let limit = nz(m.limit());
    let swap = nz(m.swap());
    let reservation = nz(m.reservation());
    let any = limit.is_some()
        || swap.is_some()
        || reservation.is_some()
        || nz(m.kernel()).is_some()
        || nz(m.kernel_tcp()).is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some();
    if !any {
        return Ok(());
    }
    let d = require(cg, "memory", "linux.resources.memory")?;

    if m.check_before_update() == Some(true)
        && let Some(l) = limit.filter(|&l| l > 0)
    {
        let f = d.join("memory.usage_in_bytes");
        let usage: i64 = read_file("linux.resources.memory.checkBeforeUpdate", &f)?
            .trim()
            .parse()
            .unwrap_or(0);
        if l < usage {
            return Err(Error::invalid(
                "linux.resources.memory.limit",
                format!("new limit {l} is below the current usage {usage}"),
            ));
        }
    }

    let f_limit = d.join("memory.limit_in_bytes");
    let f_memsw = d.join("memory.memsw.limit_in_bytes");
    const LIMIT: &str = "linux.resources.memory.limit";
    const SWAP: &str = "linux.resources.memory.swap";
    // memsw is missing when the kernel does no swap accounting: skip the swap
    // limit then (runc does the same).
    let swap = swap.filter(|_| f_memsw.exists());
    match (limit, swap) {
        (Some(l), Some(s)) => {
            if s != -1 && l != -1 && s < l {
                return Err(Error::invalid(
                    SWAP,
                    format!(
                        "memory+swap limit ({s}) must not be lower than the memory limit ({l})"
                    ),
                ));
            }
            // The kernel keeps memsw >= limit at every step: when memsw goes
            // up, raise it first; when it goes down, lower the limit first.
            let cur_memsw: i64 = read_opt(&f_memsw)
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(i64::MAX);
            let swap_first = s == -1 || s > cur_memsw;
            let order = |swap_first: bool| -> Result<()> {
                if swap_first {
                    write_file(SWAP, &f_memsw, &s.to_string())?;
                    write_file(LIMIT, &f_limit, &l.to_string())
                } else {
                    write_file(LIMIT, &f_limit, &l.to_string())?;
                    write_file(SWAP, &f_memsw, &s.to_string())
                }
            };
            if let Err(e) = order(swap_first) {
                if e.errno() != Some(libc::EINVAL) {
                    return Err(e);
                }
                order(!swap_first)?;
            }
        }
        (Some(l), None) => write_file(LIMIT, &f_limit, &l.to_string())?,
        (None, Some(s)) => write_file(SWAP, &f_memsw, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(v) = reservation {
        write_file(
            "linux.resources.memory.reservation",
            &d.join("memory.soft_limit_in_bytes"),
            &v.to_string(),
        )?;
    }
    // Kernel memory limits are deprecated (and refused by new kernels):
    // ignored when the file is missing or the kernel says it is unsupported.
    for (v, field, file) in [
        (
            nz(m.kernel()),
            "linux.resources.memory.kernel",
            "memory.kmem.limit_in_bytes",
        ),
        (
            nz(m.kernel_tcp()),
            "linux.resources.memory.kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
        ),
    ] {
        if let Some(v) = v {
            let f = d.join(file);
            if !f.exists() {
                continue;
            }
            if let Err(e) = write_file(field, &f, &v.to_string()) {
                match e.errno() {
                    Some(libc::EOPNOTSUPP) | Some(524 /* ENOTSUPP */) => {}
                    _ => return Err(e),
                }
            }
        }
    }
    if let Some(s) = m.swappiness() {
        const F: &str = "linux.resources.memory.swappiness";
        if s > 100 {
            return Err(Error::invalid(F, format!("{s} is out of range 0..=100")));
        }
        write_file(F, &d.join("memory.swappiness"), &s.to_string())?;
    }
    if let Some(dis) = m.disable_oom_killer() {
        write_file(
            "linux.resources.memory.disableOOMKiller",
            &d.join("memory.oom_control"),
            if dis { "1" } else { "0" },
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// cpu, cpuset

fn cpu(cg: &str, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().filter(|&s| s != 0);
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    let rt_runtime = c.realtime_runtime().filter(|&v| v != 0);
    let rt_period = c.realtime_period().filter(|&v| v != 0);
    if shares.is_some()
        || quota.is_some()
        || period.is_some()
        || rt_runtime.is_some()
        || rt_period.is_some()
        || c.burst().is_some()
        || c.idle().is_some()
    {
        let d = require(cg, "cpu", "linux.resources.cpu")?;
        if let Some(s) = shares {
            write_file(
                "linux.resources.cpu.shares",
                &d.join("cpu.shares"),
                &s.to_string(),
            )?;
        }
        pair(
            (
                "linux.resources.cpu.period",
                d.join("cpu.cfs_period_us"),
                period.map(|v| v.to_string()),
            ),
            (
                "linux.resources.cpu.quota",
                d.join("cpu.cfs_quota_us"),
                quota.map(|v| v.to_string()),
            ),
        )?;
        if let Some(b) = c.burst() {
            let f = d.join("cpu.cfs_burst_us");
            if !f.exists() {
                return Err(Error::unsupported(
                    "linux.resources.cpu.burst",
                    "the kernel has no cpu.cfs_burst_us",
                ));
            }
            write_file("linux.resources.cpu.burst", &f, &b.to_string())?;
        }
        pair(
            (
                "linux.resources.cpu.realtimePeriod",
                d.join("cpu.rt_period_us"),
                rt_period.map(|v| v.to_string()),
            ),
            (
                "linux.resources.cpu.realtimeRuntime",
                d.join("cpu.rt_runtime_us"),
                rt_runtime.map(|v| v.to_string()),
            ),
        )?;
        if let Some(i) = c.idle() {
            write_file(
                "linux.resources.cpu.idle",
                &d.join("cpu.idle"),
                &i.to_string(),
            )?;
        }
    }
    for (v, field, file) in [
        (c.cpus(), "linux.resources.cpu.cpus", "cpuset.cpus"),
        (c.mems(), "linux.resources.cpu.mems", "cpuset.mems"),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            let d = require(cg, "cpuset", field)?;
            write_file(field, &d.join(file), v)?;
        }
    }
    Ok(())
}

type Setting = (&'static str, PathBuf, Option<String>);

/// Write two interdependent files (period then quota); if the kernel refuses
/// the first with EINVAL, try the other order.
fn pair(first: Setting, second: Setting) -> Result<()> {
    let write = |s: &Setting| -> Result<()> {
        match &s.2 {
            Some(v) => write_file(s.0, &s.1, v),
            None => Ok(()),
        }
    };
    match write(&first) {
        Ok(()) => write(&second),
        Err(e) if e.errno() == Some(libc::EINVAL) && second.2.is_some() => {
            write(&second)?;
            write(&first)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// pids

fn pids_limit(cg: &str, p: &LinuxPids) -> Result<()> {
    const F: &str = "linux.resources.pids.limit";
    let d = require(cg, "pids", F)?;
    write_file(F, &d.join("pids.max"), &pids_max_value(p.limit()))
}

// ---------------------------------------------------------------------------
// devices

/// Bring the devices cgroup to the state `rules` describe. Only what
/// differs is written: an `update` that keeps the policy writes nothing, and
/// one that changes it adds the new allowances before taking old ones away,
/// so a container never sees a device it may use denied for a moment (a
/// rewrite from deny-all would). A full rewrite happens only when the
/// default changes (and for an allow-all policy with deny exceptions, which
/// the kernel does not list).
fn device_rules(cg: &str, rules: &[DeviceRule]) -> Result<()> {
    const F: &str = "linux.resources.devices";
    let d = require(cg, "devices", F)?;
    let target = devices::V1State::of(rules);
    let list = d.join("devices.list");
    let current = devices::V1State::parse(&read_file(F, &list)?);
    let allow = d.join("devices.allow");
    let deny = d.join("devices.deny");
    match current {
        Some(cur) if !cur.allow_all && !target.allow_all => {
            for (k, &bits) in &target.exceptions {
                let add = bits & !cur.exceptions.get(k).copied().unwrap_or(0);
                if add != 0 {
                    write_file(F, &allow, &devices::v1_key_line(k, add))?;
                }
            }
            for (k, &bits) in &cur.exceptions {
                let gone = bits & !target.exceptions.get(k).copied().unwrap_or(0);
                if gone != 0 {
                    write_file(F, &deny, &devices::v1_key_line(k, gone))?;
                }
            }
        }
        Some(cur) if cur.allow_all && target.allow_all && target.exceptions.is_empty() => {}
        _ => {
            let (reset, exceptions) = if target.allow_all {
                (&allow, &deny)
            } else {
                (&deny, &allow)
            };
            write_file(F, reset, "a")?;
            for (k, &bits) in &target.exceptions {
                write_file(F, exceptions, &devices::v1_key_line(k, bits))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// blkio

fn blkio(cg: &str, b: &LinuxBlockIo) -> Result<()> {
    let d = dir(cg, "blkio");
    // Weights: written when the kernel has the file (it does only with CFQ/BFQ).
    let first_existing = |names: &[&str]| -> Option<PathBuf> {
        let d = d.as_ref()?;
        names.iter().map(|n| d.join(n)).find(|p| p.exists())
    };
    if let Some(w) = b.weight()
        && let Some(f) = first_existing(&["blkio.weight", "blkio.bfq.weight"])
    {
        write_file("linux.resources.blockIO.weight", &f, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight()
        && let Some(f) = first_existing(&["blkio.leaf_weight"])
    {
        write_file("linux.resources.blockIO.leafWeight", &f, &w.to_string())?;
    }
    if let Some(wd) = b.weight_device() {
        for (i, dev) in wd.iter().enumerate() {
            if let Some(w) = dev.weight()
                && let Some(f) = first_existing(&["blkio.weight_device", "blkio.bfq.weight_device"])
            {
                write_file(
                    &format!("linux.resources.blockIO.weightDevice[{i}]"),
                    &f,
                    &format!("{}:{} {}", dev.major(), dev.minor(), w),
                )?;
            }
            if let Some(w) = dev.leaf_weight()
                && let Some(f) = first_existing(&["blkio.leaf_weight_device"])
            {
                write_file(
                    &format!("linux.resources.blockIO.weightDevice[{i}]"),
                    &f,
                    &format!("{}:{} {}", dev.major(), dev.minor(), w),
                )?;
            }
        }
    }
    // Throttling: a limit the kernel cannot apply is an error.
    for (list, name, file) in [
        (
            b.throttle_read_bps_device(),
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
        ),
    ] {
        let Some(list) = list else { continue };
        for (i, t) in list.iter().enumerate() {
            let field = format!("linux.resources.blockIO.{name}[{i}]");
            let d = require(cg, "blkio", &field)?;
            write_file(
                &field,
                &d.join(file),
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// hugetlb, net_cls, net_prio, rdma

fn hugetlb(cg: &str, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let d = require(cg, "hugetlb", &field)?;
        let f = d.join(format!("hugetlb.{}.limit_in_bytes", l.page_size()));
        if !f.exists() {
            return Err(Error::unsupported(
                field,
                format!(
                    "page size {:?} is not supported by the kernel",
                    l.page_size()
                ),
            ));
        }
        write_file(&field, &f, &l.limit().to_string())?;
    }
    Ok(())
}

fn network(cg: &str, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        const F: &str = "linux.resources.network.classID";
        let d = require(cg, "net_cls", F)?;
        write_file(F, &d.join("net_cls.classid"), &id.to_string())?;
    }
    if let Some(prios) = n.priorities() {
        for (i, p) in prios.iter().enumerate() {
            let field = format!("linux.resources.network.priorities[{i}]");
            let d = require(cg, "net_prio", &field)?;
            write_file(
                &field,
                &d.join("net_prio.ifpriomap"),
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}

fn rdma(
    cg: &str,
    rd: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>,
) -> Result<()> {
    for (dev, l) in rd {
        let field = format!("linux.resources.rdma[{dev}]");
        let d = require(cg, "rdma", &field)?;
        write_file(&field, &d.join("rdma.max"), &rdma_line(dev, l))?;
    }
    Ok(())
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

    fn path(&self) -> &str {
        self.owned.path()
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
        for p in places(self.path()) {
            let created = mkdir_p(&p.root, &p.leaf)?;
            self.owned.remember(created);
            if p.hierarchy.is_some_and(|h| h.has("cpuset")) {
                // New v1 cpusets start with empty cpus/mems; a pid cannot join
                // until they are filled. Copy them down from the parent, top
                // down along the whole path: a parent another myrt is creating
                // at the same moment may still be empty (only empty ones are
                // written, so nothing configured is changed).
                let mut d = p.root.clone();
                for c in p.leaf.strip_prefix(&p.root).unwrap_or(&p.leaf).components() {
                    d.push(c);
                    fill_cpuset(&d)?;
                }
            }
        }
        let leaves: Vec<PathBuf> = places(self.path()).into_iter().map(|p| p.leaf).collect();
        self.owned.check_leaves_empty(&leaves)
    }

    fn set(&self, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
        set(self.path(), r, nodes)
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
        parse_pids(&d.join("cgroup.procs"))
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let d = require(self.path(), "freezer", FREEZER)?;
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
        let d = require(self.path(), "freezer", FREEZER)?;
        Ok(read_file(FREEZER, &d.join(FREEZER))?.trim() == "FROZEN")
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        // Frozen v1 tasks cannot die: a paused container is thawed for SIGKILL.
        kill_frozen(self, sig, true)
    }

    fn destroy(&mut self) -> Result<()> {
        let mut first_err = None;
        for p in places(self.path()) {
            if !self.owned.may_remove(&p.leaf) {
                continue;
            }
            match remove_cgroup_dir(&p.leaf) {
                Ok(()) => self.owned.remove_owned_parents(&p.root),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
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
        let peak =
            read_opt(&d.join("memory.max_usage_in_bytes")).and_then(|s| s.trim().parse().ok());
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
