//! How the systemd cgroup driver reaches systemd: each call to systemd's
//! manager (start a transient scope and wait for its job, set a unit's
//! properties, stop a unit) is one run of `myrt-systemd`, the companion
//! executable installed beside `myrt`, which holds the D-Bus client
//! ([`super::dbus`]). The request goes as one JSON argument, the answer
//! comes back as one JSON line on its standard output.
//!
//! Why a second executable: the D-Bus client (zbus and its async runtime)
//! is about a fifth of the code, and every page of code that is mapped
//! counts in the resident size of every runtime call (the kernel maps
//! file pages around each one touched); only `--systemd-cgroup` needs it.
//! It also keeps zbus's threads out of the runtime process, which clones.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::common::{Error, Result};

/// The companion executable's file name.
pub const HELPER: &str = "myrt-systemd";

/// A unit property value, in the D-Bus types systemd expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prop {
    /// `b`
    Bool(bool),
    /// `s`
    Str(String),
    /// `t`
    U64(u64),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `i`
    I32(i32),
    /// `au`
    U32s(Vec<u32>),
    /// `ay`
    Bytes(Vec<u8>),
    /// `a(ss)`
    Pairs(Vec<(String, String)>),
}

pub type Props = Vec<(&'static str, Prop)>;

/// What `myrt-systemd` is asked to do.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// StartTransientUnit, then wait for its job.
    Start {
        unit: String,
        props: Vec<(String, Prop)>,
    },
    /// SetUnitProperties (runtime only).
    Set {
        unit: String,
        props: Vec<(String, Prop)>,
    },
    /// StopUnit and wait for its job (a unit that is gone is fine), then
    /// ResetFailedUnit.
    Stop { unit: String },
}

/// The kind of a failure, as [`Error`] has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invalid,
    Unsupported,
    Timeout,
}

/// `myrt-systemd`'s answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Reply {
    Done,
    Failed {
        kind: Kind,
        field: String,
        msg: String,
        /// systemd accepted the unit before the failure (a start whose
        /// job failed or timed out): the unit exists and is the caller's
        /// to stop.
        queued: bool,
    },
}

impl Reply {
    /// The answer for the outcome of a request.
    pub fn from_result(r: std::result::Result<(), (Error, bool)>) -> Reply {
        match r {
            Ok(()) => Reply::Done,
            Err((e, queued)) => {
                let (kind, field, msg) = match e {
                    Error::Invalid { field, msg } => (Kind::Invalid, field, msg),
                    Error::Timeout { field, msg } => (Kind::Timeout, field, msg),
                    Error::Unsupported { field, msg } => (Kind::Unsupported, field, msg),
                    e => (Kind::Unsupported, "systemd".to_string(), e.to_string()),
                };
                Reply::Failed {
                    kind,
                    field,
                    msg,
                    queued,
                }
            }
        }
    }
}

/// Where `myrt-systemd` is: beside the runtime binary.
fn helper_path() -> Result<PathBuf> {
    let bin = crate::sys::runtime_binary().ok_or_else(|| {
        Error::unsupported(
            "--systemd-cgroup",
            format!("cannot tell where the runtime binary is, to find {HELPER} beside it"),
        )
    })?;
    Ok(bin.with_file_name(HELPER))
}

/// Whether the systemd driver can run here: its helper is installed.
pub fn available() -> bool {
    helper_path().is_ok_and(|p| p.is_file())
}

fn not_installed(path: &std::path::Path) -> Error {
    Error::unsupported(
        "--systemd-cgroup",
        format!(
            "the systemd driver's helper {} is not installed (it goes beside myrt)",
            path.display()
        ),
    )
}

/// The helper is installed, else the error naming it (`create` asks before
/// it makes anything).
pub fn check_installed() -> Result<()> {
    let path = helper_path()?;
    if path.is_file() {
        Ok(())
    } else {
        Err(not_installed(&path))
    }
}

fn props(p: &Props) -> Vec<(String, Prop)> {
    p.iter().map(|(n, v)| (n.to_string(), v.clone())).collect()
}

/// Run `myrt-systemd` with `req`. `Err((e, queued))`: see [`Reply`].
fn call(req: &Request) -> std::result::Result<(), (Error, bool)> {
    let failed = |msg: String| (Error::unsupported("systemd", msg), false);
    let path = helper_path().map_err(|e| (e, false))?;
    let arg = serde_json::to_string(req).map_err(|e| failed(e.to_string()))?;
    let out = Command::new(&path)
        .arg(arg)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => (not_installed(&path), false),
            _ => failed(format!("running {}: {e}", path.display())),
        })?;
    let reply: Reply = serde_json::from_slice(&out.stdout).map_err(|e| {
        failed(format!(
            "{} ({}) gave no answer: {e}",
            path.display(),
            out.status
        ))
    })?;
    match reply {
        Reply::Done => Ok(()),
        Reply::Failed {
            kind,
            field,
            msg,
            queued,
        } => {
            let e = match kind {
                Kind::Invalid => Error::Invalid { field, msg },
                Kind::Unsupported => Error::Unsupported { field, msg },
                Kind::Timeout => Error::Timeout { field, msg },
            };
            Err((e, queued))
        }
    }
}

/// Start the transient unit `unit` with `p`, then `extra` (the config's
/// `org.systemd.property.*` annotations), and wait for its job.
/// `Err((e, queued))`: `queued` if systemd took the unit before failing.
pub fn start(
    unit: &str,
    p: &Props,
    extra: &[(String, Prop)],
) -> std::result::Result<(), (Error, bool)> {
    let mut props = props(p);
    props.extend_from_slice(extra);
    call(&Request::Start {
        unit: unit.to_string(),
        props,
    })
}

/// Set `p` on `unit` (runtime only).
pub fn set(unit: &str, p: &Props) -> Result<()> {
    call(&Request::Set {
        unit: unit.to_string(),
        props: props(p),
    })
    .map_err(|(e, _)| e)
}

/// Stop `unit`, wait for it, and reset its failed state.
pub fn stop(unit: &str) -> Result<()> {
    call(&Request::Stop {
        unit: unit.to_string(),
    })
    .map_err(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request is one JSON argument; the helper reads back exactly
    /// what the runtime wrote.
    #[test]
    fn request_round_trips() {
        let req = Request::Start {
            unit: "myrt-a.scope".into(),
            props: props(&vec![
                ("Delegate", Prop::Bool(true)),
                ("MemoryMax", Prop::U64(1 << 20)),
                ("PIDs", Prop::U32s(vec![42])),
                (
                    "DeviceAllow",
                    Prop::Pairs(vec![("/dev/null".into(), "rwm".into())]),
                ),
            ]),
        };
        let json = serde_json::to_string(&req).unwrap();
        assert!(
            json.starts_with(r#"{"op":"start","unit":"myrt-a.scope","#),
            "{json}"
        );
        let back: Request = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    /// A failure keeps its kind, field and message, and whether systemd
    /// took the unit (the caller's to stop then).
    #[test]
    fn failures_keep_kind_field_and_queued() {
        let cases = [
            (Error::invalid("linux.cgroupsPath", "exists"), Kind::Invalid),
            (Error::unsupported("systemd", "no bus"), Kind::Unsupported),
            (
                Error::Timeout {
                    field: "systemd".into(),
                    msg: "slow".into(),
                },
                Kind::Timeout,
            ),
        ];
        for (e, kind) in cases {
            let text = e.to_string();
            let json = serde_json::to_string(&Reply::from_result(Err((e, true)))).unwrap();
            match serde_json::from_str::<Reply>(&json).unwrap() {
                Reply::Failed {
                    kind: k,
                    field,
                    msg,
                    queued,
                } => {
                    assert_eq!(k, kind);
                    assert_eq!(format!("{field}: {msg}"), text);
                    assert!(queued);
                }
                Reply::Done => panic!("{json}"),
            }
        }
        let done = serde_json::to_string(&Reply::from_result(Ok(()))).unwrap();
        assert_eq!(done, r#"{"result":"done"}"#);
    }
}
