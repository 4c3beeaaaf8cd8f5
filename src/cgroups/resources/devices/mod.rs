//! `linux.resources.devices`: the device allow/deny list.
//!
//! The rules are normalised into [`DeviceRule`]s, then written to v1
//! `devices.allow`/`devices.deny`, or compiled into a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the v2 cgroup.
//!
//! Semantics (both back ends): rules apply in order, a later rule overrides an
//! earlier one. A rule of type `a` with wildcard major and minor switches the
//! whole cgroup to allow-all or deny-all and drops the rules before it (the v1
//! kernel does the same). A container's policy ([`policy`]) starts with
//! deny-all, then allow rules for the nodes of `linux.devices`, then the
//! config's rules, then the runtime's default devices
//! ([`default_allowed_devices`]): it never fails open.

pub(crate) mod bpf;
mod rule;

use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::super::common::{Result, V1Dirs, read_file, write_file};
pub(crate) use rule::*;

fn spec_rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// The devices every container may use, allowed after the user's rules (as
/// runc does): mknod of any node, /dev/null, zero, full, tty, random,
/// urandom, ptmx, console and /dev/pts/*.
pub fn default_allowed_devices() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    vec![
        spec_rule(C, None, None, "m"),
        spec_rule(B, None, None, "m"),
        spec_rule(C, Some(1), Some(3), "rwm"), // /dev/null
        spec_rule(C, Some(1), Some(5), "rwm"), // /dev/zero
        spec_rule(C, Some(1), Some(7), "rwm"), // /dev/full
        spec_rule(C, Some(5), Some(0), "rwm"), // /dev/tty
        spec_rule(C, Some(1), Some(8), "rwm"), // /dev/random
        spec_rule(C, Some(1), Some(9), "rwm"), // /dev/urandom
        spec_rule(C, Some(5), Some(2), "rwm"), // /dev/ptmx
        spec_rule(C, Some(136), None, "rwm"),  // /dev/pts/*
        spec_rule(C, Some(5), Some(1), "rwm"), // /dev/console
    ]
}

/// The user's rules followed by the runtime defaults, normalised (no
/// default deny: see [`policy`] for what a container gets).
pub fn rules_with_defaults(spec: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>> {
    let mut out = Vec::with_capacity(spec.len() + 11);
    for (i, d) in spec.iter().enumerate() {
        if let Some(r) = DeviceRule::from_spec(&format!("{FIELD}[{i}]"), d)? {
            out.push(r);
        }
    }
    for d in default_allowed_devices() {
        if let Some(r) = DeviceRule::from_spec("linux.resources.devices (runtime defaults)", &d)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The device policy of a container: deny every device (as runc and crun
/// start), then an allow rule for every node of `linux.devices` (a
/// container may use the devices it is given), then the config's
/// `linux.resources.devices` in order (so they can still deny one of those
/// nodes, as the runtime-spec's examples do), then the runtime's defaults
/// ([`default_allowed_devices`]). Nothing is allowed that no rule allows,
/// whatever the config says or leaves out.
pub fn policy(spec: &[LinuxDeviceCgroup], nodes: &[LinuxDevice]) -> Result<Vec<DeviceRule>> {
    let mut out = Vec::with_capacity(spec.len() + nodes.len() + 12);
    out.push(DeviceRule {
        allow: false,
        kind: DevKind::All,
        major: None,
        minor: None,
        access: ACC_ALL,
        field: "linux.resources.devices (runtime default deny)".into(),
    });
    for (i, node) in nodes.iter().enumerate() {
        let d = LinuxDeviceCgroup::from(node);
        if let Some(r) = DeviceRule::from_spec(&format!("linux.devices[{i}]"), &d)? {
            out.push(r);
        }
    }
    out.extend(rules_with_defaults(spec)?);
    Ok(out)
}

/// Key of a v1 device exception: type (`b`/`c`), major, minor (`None` = `*`).
pub type V1Key = (char, Option<u32>, Option<u32>);

/// What a v1 devices cgroup holds (its `devices.list`): a default and a set
/// of exceptions to it, each with access bits. The kernel keys exceptions by
/// exact type/major/minor: an allow adds bits to the key's entry (deny
/// default) or takes them away (allow default), a deny the other way round;
/// `a` resets the default and drops every exception.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct V1State {
    pub allow_all: bool,
    pub exceptions: std::collections::BTreeMap<V1Key, u8>,
}

impl V1State {
    /// The state the kernel ends in after `rules` are written in order.
    pub fn of(rules: &[DeviceRule]) -> V1State {
        let mut st = V1State {
            allow_all: true,
            exceptions: Default::default(),
        };
        for r in rules {
            if r.is_all() {
                st.allow_all = r.allow;
                st.exceptions.clear();
                continue;
            }
            let kinds: &[char] = match r.kind {
                DevKind::Block => &['b'],
                DevKind::Char => &['c'],
                // v1 has no "a M:N" exception ("a" alone is the reset):
                // a rule for both kinds is one exception per kind.
                DevKind::All => &['b', 'c'],
            };
            for &t in kinds {
                let key = (t, r.major, r.minor);
                if r.allow != st.allow_all {
                    *st.exceptions.entry(key).or_insert(0) |= r.access;
                } else if let Some(bits) = st.exceptions.get_mut(&key) {
                    *bits &= !r.access;
                    if *bits == 0 {
                        st.exceptions.remove(&key);
                    }
                }
            }
        }
        st
    }

    /// Parse `devices.list`. With the allow default the kernel lists only
    /// `a *:* rwm` (its exceptions are not shown): `exceptions` is then empty.
    pub fn parse(list: &str) -> Option<V1State> {
        let mut st = V1State::default();
        for l in list.lines() {
            let mut it = l.split_whitespace();
            let (t, nums, acc) = (it.next()?, it.next()?, it.next()?);
            if t == "a" {
                return Some(V1State {
                    allow_all: true,
                    exceptions: Default::default(),
                });
            }
            let t = match t {
                "b" => 'b',
                "c" => 'c',
                _ => return None,
            };
            let (maj, min) = nums.split_once(':')?;
            let num = |s: &str| -> Option<Option<u32>> {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            let bits = access_bits(acc)?;
            *st.exceptions.entry((t, num(maj)?, num(min)?)).or_insert(0) |= bits;
        }
        Some(st)
    }
}

/// A `devices.allow`/`devices.deny` line for one exception key: "c 1:3 rwm".
pub fn v1_key_line(k: &V1Key, access: u8) -> String {
    let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!("{} {}:{} {}", k.0, n(k.1), n(k.2), access_letters(access))
}

// The back ends

/// v1: bring the devices cgroup to the state `rules` describe. Only what
/// differs is written: an `update` that keeps the policy writes nothing, and
/// one that changes it adds the new allowances before taking old ones away,
/// so a container never sees a device it may use denied for a moment (a
/// rewrite from deny-all would). A full rewrite happens only when the
/// default changes (and for an allow-all policy with deny exceptions, which
/// the kernel does not list).
pub(super) fn v1(dirs: &V1Dirs, rules: &[DeviceRule]) -> Result<()> {
    let d = dirs.require("devices", FIELD)?;
    let target = V1State::of(rules);
    let current = V1State::parse(&read_file(FIELD, &d.join("devices.list"))?);
    let allow = d.join("devices.allow");
    let deny = d.join("devices.deny");
    match current {
        Some(cur) if !cur.allow_all && !target.allow_all => {
            for (k, &bits) in &target.exceptions {
                let add = bits & !cur.exceptions.get(k).copied().unwrap_or(0);
                if add != 0 {
                    write_file(FIELD, &allow, &v1_key_line(k, add))?;
                }
            }
            for (k, &bits) in &cur.exceptions {
                let gone = bits & !target.exceptions.get(k).copied().unwrap_or(0);
                if gone != 0 {
                    write_file(FIELD, &deny, &v1_key_line(k, gone))?;
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
            write_file(FIELD, reset, "a")?;
            for (k, &bits) in &target.exceptions {
                write_file(FIELD, exceptions, &v1_key_line(k, bits))?;
            }
        }
    }
    Ok(())
}

/// v2: compile `rules` into an eBPF program and attach it to the cgroup `d`
/// in place of the one before.
pub(super) fn v2(d: &Path, rules: &[DeviceRule]) -> Result<()> {
    bpf::attach_program(d, &bpf::program(rules))
}
