//! One device rule in normalised form ([`DeviceRule`]), parsed from a
//! `linux.resources.devices` entry; the access bits and device kinds are
//! valued as the kernel's eBPF device filter expects them.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::super::super::common::{Error, Result};

pub(crate) const FIELD: &str = "linux.resources.devices";

/// Access bits, as the kernel's `BPF_DEVCG_ACC_*`.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Device kinds, valued as the kernel's `BPF_DEVCG_DEV_*` (0 = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    All = 0,
    Block = 1,
    Char = 2,
}

/// One device rule in normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DevKind,
    /// `None` = any.
    pub major: Option<u32>,
    /// `None` = any.
    pub minor: Option<u32>,
    /// `ACC_*` bits.
    pub access: u8,
    /// Where the rule came from, for errors ("linux.resources.devices[3]").
    pub field: String,
}

impl DeviceRule {
    /// Parse rule `i` of `linux.resources.devices`. `Ok(None)` for rules the
    /// device cgroup does not govern (type `p`, FIFOs).
    pub fn from_spec(field: &str, d: &LinuxDeviceCgroup) -> Result<Option<DeviceRule>> {
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DevKind::All,
            LinuxDeviceType::B => DevKind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => DevKind::Char,
            LinuxDeviceType::P => return Ok(None),
        };
        let num = |v: Option<i64>, what: &str| -> Result<Option<u32>> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) if (0..=i32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
                Some(n) => Err(Error::invalid(
                    format!("{field}.{what}"),
                    format!("invalid device number {n}"),
                )),
            }
        };
        let major = num(d.major(), "major")?;
        let minor = num(d.minor(), "minor")?;
        let acc = d.access().as_deref().unwrap_or("");
        let access = if acc.is_empty() {
            ACC_ALL
        } else {
            access_bits(acc).ok_or_else(|| {
                Error::invalid(
                    format!("{field}.access"),
                    format!("{acc:?}: only the letters r, w and m are allowed"),
                )
            })?
        };
        Ok(Some(DeviceRule {
            allow: d.allow(),
            kind,
            major,
            minor,
            access,
            field: field.to_string(),
        }))
    }

    /// A rule for every device (type `a`, any major, any minor).
    pub fn is_all(&self) -> bool {
        self.kind == DevKind::All && self.major.is_none() && self.minor.is_none()
    }

    /// The rule as a v1 `devices.allow`/`devices.deny` line: "c 1:3 rwm",
    /// "a *:* rwm" (the tests check parsing with it).
    #[cfg(test)]
    pub fn v1_line(&self) -> String {
        let t = match self.kind {
            DevKind::All => 'a',
            DevKind::Block => 'b',
            DevKind::Char => 'c',
        };
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |n| n.to_string());
        let acc = access_letters(self.access);
        format!("{t} {}:{} {acc}", n(self.major), n(self.minor))
    }
}

/// "rwm" letters of `access` bits, in that order.
pub fn access_letters(access: u8) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| access & bit != 0)
        .map(|&(_, c)| c)
        .collect()
}

/// The `ACC_*` bits of "rwm" letters; `None` for any other letter.
pub fn access_bits(letters: &str) -> Option<u8> {
    let mut bits = 0;
    for c in letters.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    Some(bits)
}

/// Reference semantics of a rule list: may a request of `kind`, `access`
/// bits, `major`:`minor` go ahead? (The tests check the BPF program and the
/// policy against it.)
#[cfg(test)]
pub fn allowed(rules: &[DeviceRule], kind: DevKind, access: u8, major: u32, minor: u32) -> bool {
    let mut verdict = None;
    for r in rules.iter().rev() {
        if r.is_all() {
            verdict = Some(r.allow);
            break;
        }
        if rule_matches(r, kind, access, major, minor) {
            verdict = Some(r.allow);
            break;
        }
    }
    verdict.unwrap_or(true)
}

#[cfg(test)]
fn rule_matches(r: &DeviceRule, kind: DevKind, access: u8, major: u32, minor: u32) -> bool {
    (r.kind == DevKind::All || r.kind == kind)
        && r.major.is_none_or(|m| m == major)
        && r.minor.is_none_or(|m| m == minor)
        && if r.allow {
            // An allow rule covers a request only if it grants every bit asked for.
            access & !r.access == 0
        } else {
            // A deny rule refuses a request that asks for any bit it denies.
            access & r.access != 0
        }
}

// ---------------------------------------------------------------------------
