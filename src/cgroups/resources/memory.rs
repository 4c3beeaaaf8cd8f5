//! `linux.resources.memory`: v1 `memory.limit_in_bytes`,
//! `memory.memsw.limit_in_bytes` and the rest of the v1 knobs; v2
//! `memory.max`, `memory.swap.max` (swap alone, not memory+swap) and
//! `memory.low`. kernel, kernelTCP, swappiness and disableOOMKiller have no
//! v2 counterpart and are ignored there (as runc does).

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::super::common::{
    Error, Result, V1Dirs, read_file, read_opt, read_u64, unless_zero, v2_limit, write_file,
    write_v2,
};

const LIMIT: &str = "linux.resources.memory.limit";
const SWAP: &str = "linux.resources.memory.swap";
const RESERVATION: &str = "linux.resources.memory.reservation";

/// With `checkBeforeUpdate`, a new limit below the current usage is refused.
fn check_usage(m: &LinuxMemory, usage: impl FnOnce() -> Result<u64>) -> Result<()> {
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let Some(l) = unless_zero(m.limit()).filter(|&l| l > 0) else {
        return Ok(());
    };
    let usage = usage()?;
    if (l as u64) < usage {
        return Err(Error::invalid(
            LIMIT,
            format!("new limit {l} is below the current usage {usage}"),
        ));
    }
    Ok(())
}

pub(super) fn v1(dirs: &V1Dirs, m: &LinuxMemory) -> Result<()> {
    let any = [
        m.limit(),
        m.swap(),
        m.reservation(),
        m.kernel(),
        m.kernel_tcp(),
    ]
    .into_iter()
    .any(|v| unless_zero(v).is_some())
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some();
    if !any {
        return Ok(());
    }
    let d = dirs.require("memory", "linux.resources.memory")?;
    check_usage(m, || {
        let f = d.join("memory.usage_in_bytes");
        let usage = read_file("linux.resources.memory.checkBeforeUpdate", &f)?;
        Ok(usage.trim().parse().unwrap_or(0))
    })?;
    v1_limit_and_swap(&d, unless_zero(m.limit()), unless_zero(m.swap()))?;
    if let Some(v) = unless_zero(m.reservation()) {
        let f = d.join("memory.soft_limit_in_bytes");
        write_file(RESERVATION, &f, &v.to_string())?;
    }
    v1_kernel(&d, m)?;
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

/// `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes` (memory+swap),
/// in the order the kernel accepts.
fn v1_limit_and_swap(d: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<()> {
    let f_limit = d.join("memory.limit_in_bytes");
    let f_memsw = d.join("memory.memsw.limit_in_bytes");
    // memsw is missing when the kernel does no swap accounting: skip the swap
    // limit then (runc does the same).
    let swap = swap.filter(|_| f_memsw.exists());
    let (l, s) = match (limit, swap) {
        (Some(l), Some(s)) => (l, s),
        (Some(l), None) => return write_file(LIMIT, &f_limit, &l.to_string()),
        (None, Some(s)) => return write_file(SWAP, &f_memsw, &s.to_string()),
        (None, None) => return Ok(()),
    };
    if s != -1 && l != -1 && s < l {
        return Err(Error::invalid(
            SWAP,
            format!("memory+swap limit ({s}) must not be lower than the memory limit ({l})"),
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
    match order(swap_first) {
        Err(e) if e.errno() == Some(libc::EINVAL) => order(!swap_first),
        res => res,
    }
}

/// Kernel memory limits are deprecated (and refused by new kernels):
/// ignored when the file is missing or the kernel says it is unsupported.
fn v1_kernel(d: &Path, m: &LinuxMemory) -> Result<()> {
    for (v, field, file) in [
        (
            m.kernel(),
            "linux.resources.memory.kernel",
            "memory.kmem.limit_in_bytes",
        ),
        (
            m.kernel_tcp(),
            "linux.resources.memory.kernelTCP",
            "memory.kmem.tcp.limit_in_bytes",
        ),
    ] {
        let f = d.join(file);
        let Some(v) = unless_zero(v).filter(|_| f.exists()) else {
            continue;
        };
        if let Err(e) = write_file(field, &f, &v.to_string()) {
            match e.errno() {
                Some(libc::EOPNOTSUPP) | Some(524 /* ENOTSUPP */) => {}
                _ => return Err(e),
            }
        }
    }
    Ok(())
}

pub(super) fn v2(d: &Path, m: &LinuxMemory) -> Result<()> {
    check_usage(m, || Ok(read_u64(&d.join("memory.current")).unwrap_or(0)))?;
    let limit = unless_zero(m.limit());
    if let Some(s) = unless_zero(m.swap()) {
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
                write_v2(SWAP, &f, &v)?;
            } else if v != "max" {
                return Err(Error::unsupported(
                    SWAP,
                    "the kernel does no swap accounting (memory.swap.max is missing)",
                ));
            }
        }
    }
    if let Some(l) = limit {
        write_v2(LIMIT, &d.join("memory.max"), &v2_limit(LIMIT, l)?)?;
    }
    if let Some(r) = unless_zero(m.reservation()) {
        let v = v2_limit(RESERVATION, r)?;
        write_v2(RESERVATION, &d.join("memory.low"), &v)?;
    }
    Ok(())
}

/// The value for v2 `memory.swap.max`, as the file takes it ("max" or a
/// number): [`swap_v2_bytes`].
pub(crate) fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>> {
    Ok(swap_v2_bytes(swap, limit)?.map(|v| match v {
        -1 => "max".to_string(),
        v => v.to_string(),
    }))
}

/// The v2 swap limit in bytes (-1 = no limit). The spec's `memory.swap` is
/// memory+swap (v1 semantics); v2 limits swap alone, so the value is
/// `swap - limit`. `limit` is the memory limit in effect (-1 = unlimited).
/// Returns `None` when nothing should be written (swap unset or 0).
pub(crate) fn swap_v2_bytes(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>> {
    let swap = match swap {
        None | Some(0) => return Ok(None),
        Some(s) => s,
    };
    if swap == -1 {
        return Ok(Some(-1));
    }
    if swap < -1 {
        return Err(Error::invalid(SWAP, format!("invalid value {swap}")));
    }
    match limit {
        None | Some(0) | Some(-1) => Err(Error::invalid(
            SWAP,
            format!(
                "a swap limit ({swap}) needs a memory limit (linux.resources.memory.limit) on cgroup v2"
            ),
        )),
        Some(l) if l < -1 => Err(Error::invalid(LIMIT, format!("invalid value {l}"))),
        Some(l) if swap < l => Err(Error::invalid(
            SWAP,
            format!("memory+swap limit ({swap}) must not be lower than the memory limit ({l})"),
        )),
        Some(l) => Ok(Some(swap - l)),
    }
}
