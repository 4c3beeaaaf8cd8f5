//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is
//! a transient scope unit that systemd creates (`StartTransientUnit` over
//! D-Bus, by the `myrt-systemd` helper: [`super::bus`]) with `Delegate=yes`, in the slice that
//! `linux.cgroupsPath` names, runc's form `slice:prefix:name`.
//!
//! Root on the host asks the system manager. A rootless caller (a user, or
//! root of a rootless engine's user namespace) asks its own user manager
//! (`systemd --user`, [`Bus::User`]), as runc does: the slice is then one of
//! that manager's (default `user.slice`) and the unit's cgroup is under the
//! manager's own cgroup ("/user.slice/user-1000.slice/user@1000.service").
//! Only the controllers the user manager has delegated to it can be used,
//! and devices are not confined rootless (see `devices_enforced`).
//!
//! This file holds what needs no bus: the path form ([`UnitPath::parse`],
//! slice nesting as systemd does it) and the translation of
//! `linux.resources` to unit properties ([`resource_properties`]), the
//! same set runc translates. What systemd does not manage is written to the
//! cgroup files afterwards by the cgroupfs back end of the host.

use std::cell::{RefCell, RefMut};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxDevice, LinuxResources};

use super::bus;
pub use super::bus::{Bus, Prop, Props};
use super::common::{Cgroup, Error, Owned, PATH_FIELD, Result, devices_enforced};
use super::fs::{Mode, detect};
use super::resources::devices::{self, DevKind};
use super::resources::{cpu::shares_to_weight, memory::swap_v2_bytes};

/// The slice of a container whose `cgroupsPath` leaves it out (runc's default).
pub const DEFAULT_SLICE: &str = "system.slice";
/// The same under a user's manager (rootless; runc's default).
pub const DEFAULT_USER_SLICE: &str = "user.slice";
/// The unit name prefix of a container whose `cgroupsPath` is empty.
pub const DEFAULT_PREFIX: &str = "myrt";

/// systemd's `USEC_INFINITY` / `CGROUP_LIMIT_MAX`: "no limit" for every
/// `t`-typed resource property.
pub const INFINITY: u64 = u64::MAX;

/// Where a container's unit goes: `slice:prefix:name` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice unit ("system.slice", "-.slice" for the root).
    pub slice: String,
    /// The scope unit ("myrt-c1.scope").
    pub unit: String,
    /// The unit's cgroup from the hierarchy root ("/system.slice/myrt-c1.scope").
    pub cgroup: String,
}

impl UnitPath {
    /// `linux.cgroupsPath` in runc's systemd form `slice:prefix:name`:
    /// an empty slice is `system.slice`, `-` the root slice; the unit is
    /// `prefix-name.scope` (`name.scope` without a prefix). Unset or empty
    /// means `system.slice:myrt:<id>`.
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<UnitPath> {
        UnitPath::parse_in(cgroups_path, id, DEFAULT_SLICE)
    }

    /// [`UnitPath::parse`] for a user's manager whose own cgroup is
    /// `manager` ("/user.slice/user-1000.slice/user@1000.service"): the
    /// default slice is `user.slice`, and the unit's cgroup is under the
    /// manager's.
    pub fn parse_user(cgroups_path: Option<&str>, id: &str, manager: &str) -> Result<UnitPath> {
        let mut u = UnitPath::parse_in(cgroups_path, id, DEFAULT_USER_SLICE)?;
        u.cgroup = format!("{}{}", manager.trim_end_matches('/'), u.cgroup);
        Ok(u)
    }

    fn parse_in(cgroups_path: Option<&str>, id: &str, default_slice: &str) -> Result<UnitPath> {
        let (slice, prefix, name) = match cgroups_path {
            None | Some("") => (default_slice, DEFAULT_PREFIX, id),
            Some(p) => match p.split(':').collect::<Vec<_>>()[..] {
                [s, p, n] => (s, p, n),
                _ => {
                    return Err(Error::invalid(
                        PATH_FIELD,
                        format!(
                            "{p:?} is not of the systemd form \"slice:prefix:name\" (the systemd cgroup driver was requested)"
                        ),
                    ));
                }
            },
        };
        let slice = match slice {
            "" => default_slice,
            "-" => "-.slice",
            s => s,
        };
        if name.is_empty() {
            return Err(Error::invalid(
                PATH_FIELD,
                format!(
                    "{:?}: the name part of \"slice:prefix:name\" is empty",
                    cgroups_path.unwrap_or_default()
                ),
            ));
        }
        if name.ends_with(".slice") {
            return Err(Error::unsupported(
                PATH_FIELD,
                format!(
                    "{name:?}: a container in a slice unit of its own is not supported; name a scope (\"slice:prefix:name\" without .slice)"
                ),
            ));
        }
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        check_unit_name(&unit)?;
        let parent = expand_slice(slice)?;
        let cgroup = if parent == "/" {
            format!("/{unit}")
        } else {
            format!("{parent}/{unit}")
        };
        Ok(UnitPath {
            slice: slice.to_string(),
            unit,
            cgroup,
        })
    }
}

/// A unit name systemd accepts: at most 255 bytes of `[A-Za-z0-9:_.\-\\]`.
fn check_unit_name(unit: &str) -> Result<()> {
    let ok = unit.len() < 256
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.-\\".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            PATH_FIELD,
            format!(
                "{unit:?} is not a valid systemd unit name (at most 255 of the characters A-Z a-z 0-9 : _ . - \\)"
            ),
        ))
    }
}

/// The cgroup of a slice, nested the way systemd nests them:
/// "a-b-c.slice" is "/a.slice/a-b.slice/a-b-c.slice", "-.slice" is "/".
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid(PATH_FIELD, format!("slice {slice:?}: {why}"));
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(bad("a slice name ends in \".slice\""));
    };
    if slice == "-.slice" {
        return Ok("/".into());
    }
    check_unit_name(slice)?;
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(bad(
            "not a valid slice name (no empty name, no leading or trailing \"-\", no \"--\")",
        ));
    }
    let mut out = String::new();
    for (i, _) in base.match_indices('-') {
        out.push('/');
        out.push_str(&base[..i]);
        out.push_str(".slice");
    }
    out.push('/');
    out.push_str(slice);
    Ok(out)
}

/// The properties of a new scope in `slice`: placement, delegation, accounting (runc
/// always turns every controller's accounting on), then the resources.
pub fn scope_properties(slice: &str, id: &str, pid: u32, mode: Mode, resources: Props) -> Props {
    let mut p: Props = vec![
        ("Description", Prop::Str(format!("myrt container {id}"))),
        ("Slice", Prop::Str(slice.to_string())),
        ("Delegate", Prop::Bool(true)),
        ("PIDs", Prop::U32s(vec![pid])),
        // A container's scope is not ordered against shutdown.target etc.
        ("DefaultDependencies", Prop::Bool(false)),
        ("CPUAccounting", Prop::Bool(true)),
        ("MemoryAccounting", Prop::Bool(true)),
        ("TasksAccounting", Prop::Bool(true)),
    ];
    p.push(match mode {
        Mode::V2 => ("IOAccounting", Prop::Bool(true)),
        Mode::V1 => ("BlockIOAccounting", Prop::Bool(true)),
    });
    p.extend(resources);
    p
}

/// The annotation prefix that sets a unit property (runc's).
pub const PROPERTY_ANNOTATION: &str = "org.systemd.property.";

/// The unit properties the config's annotations
/// `org.systemd.property.<Name>` ask for, as runc takes them: `<Name>` is
/// a property name (ASCII letters, the first upper case), the value is in
/// GVariant text form (see [`gvariant`]), and a `<x>Sec` name (a lower
/// case letter before `Sec`) is systemd's `<x>USec` with the number of
/// seconds turned into microseconds. Set when the unit is started, after
/// the ones myrt derives (so they win). An annotation myrt cannot take is
/// an error naming it, never skipped.
pub fn annotation_properties<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<(String, Prop)>> {
    let mut out = Vec::new();
    for (key, text) in annotations {
        let Some(name) = key.strip_prefix(PROPERTY_ANNOTATION) else {
            continue;
        };
        let field = format!("annotations[{key:?}]");
        let valid = name.len() >= 3
            && name.bytes().all(|b| b.is_ascii_alphabetic())
            && name.as_bytes()[0].is_ascii_uppercase();
        if !valid {
            return Err(Error::invalid(
                field,
                "not a systemd property name (ASCII letters, the first upper case)",
            ));
        }
        let value = gvariant(text).ok_or_else(|| {
            Error::invalid(
                &field,
                format!(
                    "{text:?}: not a value myrt takes (GVariant text: true, false, 'string', \
                     a number, or a typed number such as uint64 5 or @t 5)"
                ),
            )
        })?;
        let secs = name
            .strip_suffix("Sec")
            .filter(|s| s.as_bytes().last().is_some_and(u8::is_ascii_lowercase));
        out.push(match secs {
            Some(stem) => {
                let n = match value {
                    Prop::U64(n) => Some(n),
                    Prop::U32(n) => Some(n.into()),
                    Prop::I64(n) => u64::try_from(n).ok(),
                    Prop::I32(n) => u64::try_from(n).ok(),
                    _ => None,
                };
                let usec = n.and_then(|n| n.checked_mul(1_000_000)).ok_or_else(|| {
                    Error::invalid(&field, format!("{text:?}: not a number of seconds"))
                })?;
                (format!("{stem}USec"), Prop::U64(usec))
            }
            None => (name.to_string(), value),
        });
    }
    Ok(out)
}

/// A value in GVariant's text form, the part of it that unit properties
/// use: `true`/`false`, a quoted string (`'...'` or `"..."`, with `\`
/// escapes), a bare integer (GVariant's default type for one: int32), or
/// an integer with its type (`uint64 5`, `uint32`, `int64`, `int32`,
/// `boolean`, or the short forms `@t`, `@u`, `@x`, `@i`, `@b`).
pub fn gvariant(text: &str) -> Option<Prop> {
    let t = text.trim();
    match t {
        "true" => return Some(Prop::Bool(true)),
        "false" => return Some(Prop::Bool(false)),
        _ => {}
    }
    if let Some(q) = t.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let inner = t.strip_prefix(q)?.strip_suffix(q)?;
        let mut s = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => s.push(chars.next()?),
                c if c == q => return None,
                c => s.push(c),
            }
        }
        return Some(Prop::Str(s));
    }
    let (ty, num) = t.split_once(char::is_whitespace).unwrap_or(("int32", t));
    let num = num.trim();
    match ty {
        "uint64" | "@t" => num.parse().ok().map(Prop::U64),
        "uint32" | "@u" => num.parse().ok().map(Prop::U32),
        "int64" | "@x" => num.parse().ok().map(Prop::I64),
        "int32" | "@i" => num.parse().ok().map(Prop::I32),
        "boolean" | "@b" => match num {
            "true" => Some(Prop::Bool(true)),
            "false" => Some(Prop::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

/// `linux.resources` (and the device nodes of `linux.devices`) as unit
/// properties, the set runc translates for `mode`. Everything else (and
/// these too, exactly) is written to the cgroup files afterwards.
pub fn resource_properties(r: &LinuxResources, nodes: &[LinuxDevice], mode: Mode) -> Result<Props> {
    let mut p = Props::new();
    memory_properties(r, mode, &mut p)?;
    cpu_properties(r, mode, &mut p)?;
    if let Some(pids) = r.pids() {
        let l = pids.limit();
        if l > 0 {
            p.push(("TasksMax", Prop::U64(l as u64)));
        } else if l == -1 {
            p.push(("TasksMax", Prop::U64(INFINITY)));
        }
    }
    if mode == Mode::V2 {
        unified_properties(r, &mut p)?;
    }
    // Rootless, devices are not confined (neither by myrt's own filter:
    // see `devices_enforced`); a user manager could not either.
    if devices_enforced() {
        device_properties(r, nodes, &mut p)?;
    }
    Ok(p)
}

/// A limit in bytes: -1 is no limit, 0 unset.
fn bytes_limit(v: Option<i64>) -> Option<u64> {
    match v {
        Some(-1) => Some(INFINITY),
        Some(n) if n > 0 => Some(n as u64),
        _ => None,
    }
}

fn memory_properties(r: &LinuxResources, mode: Mode, p: &mut Props) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    let limit = bytes_limit(m.limit());
    match mode {
        Mode::V1 => {
            if let Some(l) = limit {
                p.push(("MemoryLimit", Prop::U64(l)));
            }
        }
        Mode::V2 => {
            if let Some(l) = limit {
                p.push(("MemoryMax", Prop::U64(l)));
            }
            if let Some(l) = bytes_limit(m.reservation()) {
                p.push(("MemoryLow", Prop::U64(l)));
            }
            match swap_v2_bytes(m.swap(), m.limit())? {
                Some(-1) => p.push(("MemorySwapMax", Prop::U64(INFINITY))),
                // Not negative: swap_v2_bytes refuses a swap below the limit.
                Some(s) => p.push(("MemorySwapMax", Prop::U64(s as u64))),
                None => {}
            }
        }
    }
    Ok(())
}

/// Default CFS period (µs) when a quota comes without one.
const DEFAULT_PERIOD: u64 = 100_000;

fn cpu_properties(r: &LinuxResources, mode: Mode, p: &mut Props) -> Result<()> {
    let Some(c) = r.cpu() else { return Ok(()) };
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        match mode {
            Mode::V1 => p.push(("CPUShares", Prop::U64(s))),
            Mode::V2 => p.push(("CPUWeight", Prop::U64(shares_to_weight(s)))),
        }
    }
    cpu_quota(c.quota().unwrap_or(0), c.period().unwrap_or(0), p);
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        p.push((
            "AllowedCPUs",
            Prop::Bytes(range_bits("linux.resources.cpu.cpus", cpus)?),
        ));
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        p.push((
            "AllowedMemoryNodes",
            Prop::Bytes(range_bits("linux.resources.cpu.mems", mems)?),
        ));
    }
    Ok(())
}

/// CPUQuotaPeriodUSec and CPUQuotaPerSecUSec for a CFS quota/period (µs;
/// quota -1 is no limit, 0 and 0 mean unset). systemd keeps the quota as
/// a whole percentage of a CPU, so the per-second value is rounded up to
/// 10 ms, as runc does; the exact cpu.max is written to the file after.
fn cpu_quota(quota: i64, period: u64, p: &mut Props) {
    if period != 0 {
        p.push(("CPUQuotaPeriodUSec", Prop::U64(period)));
    }
    if quota == 0 && period == 0 {
        return;
    }
    let mut per_sec = INFINITY;
    if quota > 0 {
        let period = if period == 0 { DEFAULT_PERIOD } else { period };
        per_sec = (quota as u64).saturating_mul(1_000_000) / period;
        per_sec = per_sec.div_ceil(10_000) * 10_000;
    }
    p.push(("CPUQuotaPerSecUSec", Prop::U64(per_sec)));
}

/// A cpuset list ("0-3,5") as the byte mask systemd takes for AllowedCPUs
/// and AllowedMemoryNodes: bit i%8 of byte i/8 is CPU (node) i.
pub fn range_bits(field: &str, list: &str) -> Result<Vec<u8>> {
    let bad = || {
        Error::invalid(
            field,
            format!("{list:?} is not a list of ranges such as \"0-3,5\""),
        )
    };
    let mut bits: Vec<u8> = Vec::new();
    for part in list.trim().split(',').map(str::trim) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a.parse().map_err(|_| bad())?;
        let b: usize = b.parse().map_err(|_| bad())?;
        if a > b || b >= 8192 {
            return Err(bad());
        }
        for i in a..=b {
            if bits.len() <= i / 8 {
                bits.resize(i / 8 + 1, 0);
            }
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(bits)
}

/// `linux.resources.unified` keys that systemd has a property for (v2).
fn unified_properties(r: &LinuxResources, p: &mut Props) -> Result<()> {
    let Some(u) = r.unified() else { return Ok(()) };
    for (k, v) in u {
        let field = format!("linux.resources.unified.{k}");
        let v = v.trim();
        let num = |s: &str| -> Result<u64> {
            if s == "max" {
                return Ok(INFINITY);
            }
            s.parse()
                .map_err(|_| Error::invalid(&field, format!("{s:?} is not a number or \"max\"")))
        };
        let prop = match k.as_str() {
            "memory.max" => "MemoryMax",
            "memory.high" => "MemoryHigh",
            "memory.low" => "MemoryLow",
            "memory.min" => "MemoryMin",
            "memory.swap.max" => "MemorySwapMax",
            "pids.max" => "TasksMax",
            "cpu.weight" => "CPUWeight",
            "cpuset.cpus" => {
                p.push(("AllowedCPUs", Prop::Bytes(range_bits(&field, v)?)));
                continue;
            }
            "cpuset.mems" => {
                p.push(("AllowedMemoryNodes", Prop::Bytes(range_bits(&field, v)?)));
                continue;
            }
            "cpu.max" => {
                let mut it = v.split_whitespace();
                let quota = match it.next() {
                    Some("max") => -1,
                    Some(q) => q
                        .parse()
                        .map_err(|_| Error::invalid(&field, format!("{v:?}: bad quota")))?,
                    None => return Err(Error::invalid(&field, "empty value")),
                };
                let period = match it.next() {
                    Some(s) => s
                        .parse()
                        .map_err(|_| Error::invalid(&field, format!("{v:?}: bad period")))?,
                    None => 0,
                };
                p.retain(|(n, _)| !matches!(*n, "CPUQuotaPerSecUSec" | "CPUQuotaPeriodUSec"));
                cpu_quota(quota, period, p);
                continue;
            }
            _ => continue,
        };
        let n = num(v)?;
        // A unified key overrides the property the typed field gave.
        p.retain(|(name, _)| *name != prop);
        p.push((prop, Prop::U64(n)));
    }
    Ok(())
}

/// DevicePolicy and DeviceAllow from the container's device policy
/// ([`devices::policy`]). systemd only knows allow lists, so every allow
/// rule is listed (a wildcard one as `char-*`/`block-*`, or by its
/// /proc/devices name) and denies are left to myrt's own filter (v2 eBPF,
/// v1 devices.deny), which is written after: systemd's list is never
/// narrower than the policy, and the two together are exactly the policy.
fn device_properties(r: &LinuxResources, nodes: &[LinuxDevice], p: &mut Props) -> Result<()> {
    let rules = devices::policy(r.devices().as_deref().unwrap_or_default(), nodes)?;
    let mut allow = Vec::new();
    for rule in rules.iter().filter(|r| r.allow) {
        if rule.is_all() {
            // Everything is allowed: systemd's default policy, no list.
            p.push(("DevicePolicy", Prop::Str("auto".into())));
            p.push(("DeviceAllow", Prop::Pairs(Vec::new())));
            return Ok(());
        }
        let acc = devices::access_letters(rule.access);
        let kinds: &[(&str, DevKind)] = match rule.kind {
            DevKind::Char => &[("char", DevKind::Char)],
            DevKind::Block => &[("block", DevKind::Block)],
            DevKind::All => &[("char", DevKind::Char), ("block", DevKind::Block)],
        };
        for (kind, k) in kinds {
            let name = match (rule.major, rule.minor) {
                (Some(ma), Some(mi)) => format!("/dev/{kind}/{ma}:{mi}"),
                (Some(ma), None) => match driver_name(*k, ma) {
                    Some(n) => format!("{kind}-{n}"),
                    None => format!("{kind}-*"),
                },
                (None, _) => format!("{kind}-*"),
            };
            let entry = (name, acc.clone());
            if !allow.contains(&entry) {
                allow.push(entry);
            }
        }
    }
    p.push(("DevicePolicy", Prop::Str("strict".into())));
    p.push(("DeviceAllow", Prop::Pairs(allow)));
    Ok(())
}

/// The driver of device major `major` in /proc/devices ("pts" for char 136),
/// which systemd takes as `char-pts`.
fn driver_name(kind: DevKind, major: u32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    proc_devices_name(&text, kind, major)
}

fn proc_devices_name(text: &str, kind: DevKind, major: u32) -> Option<String> {
    let mut section = None;
    for line in text.lines() {
        match line.trim() {
            "Character devices:" => section = Some(DevKind::Char),
            "Block devices:" => section = Some(DevKind::Block),
            l => {
                if section != Some(kind) {
                    continue;
                }
                let mut it = l.split_whitespace();
                if let (Some(n), Some(name)) = (it.next(), it.next())
                    && n.parse() == Ok(major)
                {
                    return Some(name.to_string());
                }
            }
        }
    }
    None
}

/// The cgroup v2 controllers `r` needs, each with a field that needs it.
pub fn needed_controllers(r: &LinuxResources) -> Vec<(String, String)> {
    let v = serde_json::to_value(r).unwrap_or_default();
    let set = |v: &serde_json::Value| is_set(v);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut need = |ctrl: &str, field: String| {
        if !out.iter().any(|(c, _)| c == ctrl) {
            out.push((ctrl.to_string(), field));
        }
    };
    let Some(sections) = v.as_object() else {
        return out;
    };
    for (k, sec) in sections.iter().filter(|(_, sec)| set(sec)) {
        let field = format!("linux.resources.{k}");
        match k.as_str() {
            "memory" => need("memory", field),
            "pids" => need("pids", field),
            "blockIO" => need("io", field),
            "hugepageLimits" => need("hugetlb", field),
            "rdma" => need("rdma", field),
            "cpu" => {
                for (f, _) in sec
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, x)| set(x))
                {
                    let ctrl = if f == "cpus" || f == "mems" {
                        "cpuset"
                    } else {
                        "cpu"
                    };
                    need(ctrl, format!("{field}.{f}"));
                }
            }
            "unified" => {
                for key in sec.as_object().into_iter().flatten().map(|(key, _)| key) {
                    let ctrl = key.split('.').next().unwrap_or(key);
                    if ctrl != "cgroup" {
                        need(ctrl, format!("{field}.{key}"));
                    }
                }
            }
            // devices (not a v2 controller) and network (no v2 files).
            _ => {}
        }
    }
    out
}

/// A resource value that asks for something: 0, false, "" and null are
/// the fields' "unset" (Docker writes `blockIO.weight` 0 for every
/// container); an object or array asks if anything in it does.
fn is_set(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_set),
        Value::Object(o) => o.values().any(is_set),
    }
}

/// Rootless: every controller `r` needs is one the user's manager, whose
/// cgroup is `manager`, has (those systemd delegates to user@.service),
/// else an error naming the field, before anything is made. A manager
/// cgroup that cannot be read is not judged here: the cgroup files the
/// limits go to are then the check (an error naming the field).
pub fn check_delegated(manager: &str, r: &LinuxResources) -> Result<()> {
    let dir = std::path::Path::new("/sys/fs/cgroup").join(manager.trim_start_matches('/'));
    let Some(have) = super::common::read_opt(&dir.join("cgroup.controllers")) else {
        return Ok(());
    };
    let have: Vec<&str> = have.split_whitespace().collect();
    match needed_controllers(r)
        .into_iter()
        .find(|(c, _)| !have.contains(&c.as_str()))
    {
        None => Ok(()),
        Some((ctrl, field)) => Err(Error::unsupported(
            field,
            format!(
                "the {ctrl} controller is not delegated to the user's systemd manager \
                 (its cgroup {manager} has: {}); remove the limit, or delegate {ctrl} to \
                 user@.service (Delegate=)",
                have.join(" ")
            ),
        )),
    }
}

/// Is `pid` in the cgroup `cgroup` (v2) now? systemd places the unit
/// relative to its own root cgroup, which is the hierarchy's root on a
/// host it runs; anything else is refused rather than guessed.
pub fn check_placed(pid: i32, cgroup: &str) -> Result<()> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(PATH_FIELD, "read", std::path::Path::new(&path), e))?;
    let now = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("");
    if now == cgroup {
        Ok(())
    } else {
        Err(Error::unsupported(
            PATH_FIELD,
            format!(
                "systemd placed the container in {now:?}, not in {cgroup:?} (is systemd's root cgroup not the hierarchy's?)"
            ),
        ))
    }
}

// ---------------------------------------------------------------------------
// The back end

/// The systemd back end: the cgroup is a transient scope unit. systemd
/// creates it (with the init's pid in it: a scope cannot be empty, so
/// the unit is started by [`Cgroup::add_pid`] and the resources given to
/// [`Cgroup::set`] before that wait for it), changes its properties and
/// removes it; reading and writing the cgroup files is left to the
/// cgroupfs back end of the host (`fs`), as runc's driver does.
pub struct Systemd {
    fs: Box<dyn Cgroup>,
    /// The manager that owns the unit.
    bus: Bus,
    unit: String,
    slice: String,
    id: String,
    /// Unit properties from the config's annotations
    /// ([`annotation_properties`]), set when the unit is started.
    extra: Vec<(String, Prop)>,
    state: RefCell<ScopeState>,
}

#[derive(Default)]
struct ScopeState {
    /// The unit is ours: this handle started it (or, for `update` and
    /// `delete`, the container's record says it did).
    started: bool,
    /// The resources `set` was given before the unit was started.
    pending: Option<(LinuxResources, Vec<LinuxDevice>)>,
}

impl Systemd {
    /// The unit of a container about to be created, by the manager on
    /// `bus`. `owned` is for the unit's cgroup (`path.cgroup`).
    /// `extra`: [`annotation_properties`] of its config.
    pub fn new(
        bus: Bus,
        owned: Owned,
        path: &UnitPath,
        id: &str,
        extra: Vec<(String, Prop)>,
    ) -> Systemd {
        Systemd {
            fs: super::fs::open_with(owned),
            bus,
            unit: path.unit.clone(),
            slice: path.slice.clone(),
            id: id.to_string(),
            extra,
            state: RefCell::default(),
        }
    }

    /// The unit `unit` of an existing container (`update`, `delete`), of
    /// the manager on `bus`.
    pub fn existing(bus: Bus, owned: Owned, unit: &str) -> Systemd {
        Systemd {
            fs: super::fs::open_with(owned),
            bus,
            unit: unit.to_string(),
            slice: String::new(),
            id: String::new(),
            extra: Vec::new(),
            state: RefCell::new(ScopeState {
                started: true,
                ..ScopeState::default()
            }),
        }
    }

    /// The unit's state; held only inside one method, never across a call
    /// into another one (the handle is used from one thread).
    fn lock(&self) -> RefMut<'_, ScopeState> {
        self.state.borrow_mut()
    }

    fn started(&self) -> bool {
        self.lock().started
    }

    /// Start the scope with `pid` in it and the pending resources as
    /// properties; wait for systemd's job. Returns those resources.
    fn start(&self, pid: i32) -> Result<(LinuxResources, Vec<LinuxDevice>)> {
        let mode = detect();
        let mut st = self.lock();
        let (r, nodes) = st.pending.take().unwrap_or_default();
        let resources = resource_properties(&r, &nodes, mode)?;
        let props = scope_properties(&self.slice, &self.id, pid as u32, mode, resources);
        bus::start(&self.bus, &self.unit, &props, &self.extra).map_err(|(e, queued)| {
            // Ours once systemd took it, even if its job failed: `destroy`
            // clears it.
            st.started |= queued;
            e
        })?;
        st.started = true;
        Ok((r, nodes))
    }
}

impl Cgroup for Systemd {
    fn owned(&self) -> &Owned {
        self.fs.owned()
    }

    /// v2: nothing (systemd makes the cgroup when it starts the unit). v1:
    /// the directories in every hierarchy, as the cgroupfs back end does
    /// (systemd manages some controllers only; runc joins the others).
    fn create(&mut self) -> Result<()> {
        match detect() {
            Mode::V2 => Ok(()),
            Mode::V1 => self.fs.create(),
        }
    }

    /// Before the unit is started: kept for [`Cgroup::add_pid`]. After:
    /// SetUnitProperties, then the files.
    fn set(&self, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
        {
            let mut st = self.lock();
            if !st.started {
                st.pending = Some((r.clone(), nodes.to_vec()));
                return Ok(());
            }
            let props = resource_properties(r, nodes, detect())?;
            bus::set(&self.bus, &self.unit, &props)?;
        }
        self.fs.set(r, nodes)
    }

    /// The first pid starts the unit; then the files get the resources.
    fn add_pid(&self, pid: i32) -> Result<()> {
        if self.started() {
            return self.fs.add_pid(pid);
        }
        let (r, nodes) = self.start(pid)?;
        match detect() {
            Mode::V2 => check_placed(pid, self.fs.path())?,
            // The hierarchies systemd does not manage (cpuset, freezer...).
            Mode::V1 => self.fs.add_pid(pid)?,
        }
        self.fs.set(&r, &nodes)
    }

    fn dir_fd(&self) -> Result<Option<OwnedFd>> {
        if !self.started() {
            return Ok(None);
        }
        self.fs.dir_fd()
    }

    /// systemd removes a scope's cgroup once its last process is gone, so
    /// a missing cgroup of a started unit holds no process (the engines'
    /// `kill --all` after the container exited).
    fn pids(&self) -> Result<Vec<i32>> {
        match self.fs.pids() {
            Err(_) if self.started() && !self.fs.exists() => Ok(Vec::new()),
            r => r,
        }
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        self.fs.freeze(frozen)
    }

    fn is_frozen(&self) -> Result<bool> {
        self.fs.is_frozen()
    }

    /// Nothing to signal once systemd removed the emptied scope (see
    /// [`Cgroup::pids`]).
    fn kill_all(&self, sig: i32) -> Result<()> {
        match self.fs.kill_all(sig) {
            Err(_) if self.started() && !self.fs.exists() => Ok(()),
            r => r,
        }
    }

    /// StopUnit (systemd kills what is left and removes the cgroup) and
    /// ResetFailedUnit, then what the cgroupfs back end created (v1).
    fn destroy(&mut self) -> Result<()> {
        let stopped = if self.started() {
            bus::stop(&self.bus, &self.unit)
        } else {
            Ok(())
        };
        self.fs.destroy().and(stopped)
    }

    fn exists(&self) -> bool {
        self.fs.exists()
    }

    fn stats(&self) -> Result<serde_json::Value> {
        self.fs.stats()
    }

    fn oom_kills(&self) -> Option<(u64, Option<u64>)> {
        self.fs.oom_kills()
    }

    fn roots_and_leaves(&self) -> Vec<(PathBuf, PathBuf)> {
        self.fs.roots_and_leaves()
    }

    /// Ours once started (systemd refuses to start a unit that exists,
    /// which is then someone else's).
    fn owns_leaf(&self) -> bool {
        self.started()
    }

    /// v2: none (systemd's to make and to remove); v1: the cgroupfs back
    /// end's.
    fn missing_dirs(&self) -> Vec<PathBuf> {
        match detect() {
            Mode::V2 => Vec::new(),
            Mode::V1 => self.fs.missing_dirs(),
        }
    }
}

#[cfg(test)]
mod tests;
