//! `linux.resources.cpu` (but `cpus`/`mems`, see `cpuset`): v1 `cpu.shares`,
//! `cpu.cfs_*`, `cpu.rt_*`, `cpu.idle`; v2 `cpu.weight`, `cpu.max`,
//! `cpu.max.burst`, `cpu.idle` (no real-time limits on v2).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxCpu;

use super::super::common::{
    Error, Result, V1Dirs, read_opt, read_u64, unless_zero, v2_weight, write_file, write_v2,
};

const SHARES: &str = "linux.resources.cpu.shares";
const QUOTA: &str = "linux.resources.cpu.quota";
const PERIOD: &str = "linux.resources.cpu.period";
const BURST: &str = "linux.resources.cpu.burst";
const IDLE: &str = "linux.resources.cpu.idle";
const RT_PERIOD: &str = "linux.resources.cpu.realtimePeriod";
const RT_RUNTIME: &str = "linux.resources.cpu.realtimeRuntime";

pub(super) fn v1(dirs: &V1Dirs, c: &LinuxCpu) -> Result<()> {
    let shares = unless_zero(c.shares());
    let (quota, period) = (unless_zero(c.quota()), unless_zero(c.period()));
    let (rt_runtime, rt_period) = (
        unless_zero(c.realtime_runtime()),
        unless_zero(c.realtime_period()),
    );
    if shares.is_none()
        && quota.is_none()
        && period.is_none()
        && rt_runtime.is_none()
        && rt_period.is_none()
        && c.burst().is_none()
        && c.idle().is_none()
    {
        return Ok(());
    }
    let d = dirs.require("cpu", "linux.resources.cpu")?;
    if let Some(s) = shares {
        let f = d.join("cpu.shares");
        write_file(SHARES, &f, &s.to_string())?;
        // The kernel clamps to 2..=262144 without an error; runc refuses a
        // value it did not keep, and so does myrt.
        if let Some(kept) = read_u64(&f)
            && kept != s
        {
            return Err(Error::invalid(
                SHARES,
                format!("{s} is out of range: the kernel keeps {kept} (2 to 262144)"),
            ));
        }
    }
    let setting = |field, file, v: Option<String>| (field, d.join(file), v);
    pair(
        setting(PERIOD, "cpu.cfs_period_us", period.map(|v| v.to_string())),
        setting(QUOTA, "cpu.cfs_quota_us", quota.map(|v| v.to_string())),
    )?;
    if let Some(b) = c.burst() {
        let f = d.join("cpu.cfs_burst_us");
        if !f.exists() {
            return Err(Error::unsupported(
                BURST,
                "the kernel has no cpu.cfs_burst_us",
            ));
        }
        write_file(BURST, &f, &b.to_string())?;
    }
    pair(
        setting(
            RT_PERIOD,
            "cpu.rt_period_us",
            rt_period.map(|v| v.to_string()),
        ),
        setting(
            RT_RUNTIME,
            "cpu.rt_runtime_us",
            rt_runtime.map(|v| v.to_string()),
        ),
    )?;
    if let Some(i) = c.idle() {
        write_file(IDLE, &d.join("cpu.idle"), &i.to_string())?;
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

pub(super) fn v2(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = unless_zero(c.shares()) {
        let w = shares_to_weight(s).to_string();
        write_v2(SHARES, &d.join("cpu.weight"), &w)?;
    }
    let (quota, period) = (unless_zero(c.quota()), unless_zero(c.period()));
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
        let field = if quota.is_some() { QUOTA } else { PERIOD };
        write_v2(field, &f, &format!("{q} {p}"))?;
    }
    if let Some(b) = c.burst() {
        write_v2(BURST, &d.join("cpu.max.burst"), &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write_v2(IDLE, &d.join("cpu.idle"), &i.to_string())?;
    }
    for (set, field) in [
        (unless_zero(c.realtime_runtime()).is_some(), RT_RUNTIME),
        (unless_zero(c.realtime_period()).is_some(), RT_PERIOD),
    ] {
        if set {
            return Err(Error::unsupported(
                field,
                "real-time CPU limits are not supported on cgroup v2",
            ));
        }
    }
    Ok(())
}

/// runc's conversion of cgroup v1 `cpu.shares` [2, 262144] to v2 `cpu.weight` [1, 10000].
/// 0 means "unset" and stays 0.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    v2_weight(shares, 2, 262_144)
}
