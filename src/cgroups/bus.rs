//! How the systemd cgroup driver reaches systemd: each call to systemd's
//! manager (start a transient scope and wait for its job, set a unit's
//! properties, stop a unit) is one run of `myrt-systemd`, the companion
//! executable installed beside `myrt`, which holds the D-Bus client
//! ([`super::dbus`]). The request goes as one JSON argument (a [`Call`]:
//! which manager, the system's or the user's `systemd --user`, and what to
//! do), the answer comes back as one JSON line on its standard output.
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

/// Which systemd manager, on which bus.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Bus {
    /// The system manager (pid 1) on the system bus
    /// (`DBUS_SYSTEM_BUS_ADDRESS`, else /run/dbus/system_bus_socket).
    #[default]
    System,
    /// A user's manager (`systemd --user`) on the user's bus at `address`,
    /// authenticated (EXTERNAL) as `uid`: the caller's uid on the host,
    /// which is what the bus sees (root of a rootless engine's user
    /// namespace is the user there).
    User { address: String, uid: u32 },
}

impl Bus {
    /// The user's bus for a rootless caller: `$DBUS_SESSION_BUS_ADDRESS`,
    /// else `unix:path=$XDG_RUNTIME_DIR/bus` (runc's rule), as `host_uid`.
    pub fn user(host_uid: u32) -> Result<Bus> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Bus::user_from(
            var("DBUS_SESSION_BUS_ADDRESS"),
            var("XDG_RUNTIME_DIR"),
            host_uid,
        )
    }

    /// [`Bus::user`] given the two variables (unset or empty: `None`).
    fn user_from(session: Option<String>, runtime_dir: Option<String>, uid: u32) -> Result<Bus> {
        let address = match (session, runtime_dir) {
            (Some(a), _) => a,
            (None, Some(dir)) => format!("unix:path={dir}/bus"),
            (None, None) => {
                return Err(Error::unsupported(
                    "--systemd-cgroup",
                    "rootless, the user's systemd (systemd --user) is used, and its bus is unknown: \
                     neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set",
                ));
            }
        };
        Ok(Bus::User { address, uid })
    }

    /// For messages: "the system bus", "the user bus unix:path=... (uid 1000)".
    pub fn describe(&self) -> String {
        match self {
            Bus::System => "the system bus".into(),
            Bus::User { address, uid } => format!("the user bus {address} (uid {uid})"),
        }
    }
}

/// One run of `myrt-systemd`: the manager to ask and the request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Call {
    /// The system manager when absent.
    #[serde(default)]
    pub bus: Bus,
    #[serde(flatten)]
    pub req: Request,
}

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
    /// The manager's own cgroup (its `ControlGroup` property), under which
    /// a user manager's units are.
    ManagerCgroup,
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
    /// The answer to a query ([`Request::ManagerCgroup`]).
    Value {
        value: String,
    },
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
    pub fn from_result(r: std::result::Result<Option<String>, (Error, bool)>) -> Reply {
        match r {
            Ok(None) => Reply::Done,
            Ok(Some(value)) => Reply::Value { value },
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

/// Run `myrt-systemd` with `req` for the manager on `bus`: the value it
/// answered, if any. `Err((e, queued))`: see [`Reply`].
fn call(bus: &Bus, req: Request) -> std::result::Result<Option<String>, (Error, bool)> {
    let failed = |msg: String| (Error::unsupported("systemd", msg), false);
    let path = helper_path().map_err(|e| (e, false))?;
    let call = Call {
        bus: bus.clone(),
        req,
    };
    let arg = serde_json::to_string(&call).map_err(|e| failed(e.to_string()))?;
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
        Reply::Done => Ok(None),
        Reply::Value { value } => Ok(Some(value)),
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
    bus: &Bus,
    unit: &str,
    p: &Props,
    extra: &[(String, Prop)],
) -> std::result::Result<(), (Error, bool)> {
    let mut props = props(p);
    props.extend_from_slice(extra);
    let req = Request::Start {
        unit: unit.to_string(),
        props,
    };
    call(bus, req).map(|_| ())
}

/// Set `p` on `unit` (runtime only).
pub fn set(bus: &Bus, unit: &str, p: &Props) -> Result<()> {
    let req = Request::Set {
        unit: unit.to_string(),
        props: props(p),
    };
    call(bus, req).map(|_| ()).map_err(|(e, _)| e)
}

/// Stop `unit`, wait for it, and reset its failed state.
pub fn stop(bus: &Bus, unit: &str) -> Result<()> {
    let req = Request::Stop {
        unit: unit.to_string(),
    };
    call(bus, req).map(|_| ()).map_err(|(e, _)| e)
}

/// The cgroup of the manager on `bus` (its `ControlGroup`), from the
/// hierarchy's root: "/user.slice/user-1000.slice/user@1000.service".
pub fn manager_cgroup(bus: &Bus) -> Result<String> {
    match call(bus, Request::ManagerCgroup).map_err(|(e, _)| e)? {
        Some(cg) if cg.starts_with('/') => Ok(cg),
        other => Err(Error::unsupported(
            "systemd",
            format!(
                "the manager on {} gave no cgroup of its own ({other:?})",
                bus.describe()
            ),
        )),
    }
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
        let call = Call {
            bus: Bus::System,
            req,
        };
        let json = serde_json::to_string(&call).unwrap();
        assert!(
            json.starts_with(r#"{"bus":{"kind":"system"},"op":"start","unit":"myrt-a.scope","#),
            "{json}"
        );
        let back: Call = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    /// The user's manager: its bus address and the uid to authenticate as
    /// travel with the request; a request without a bus is for the system
    /// manager.
    #[test]
    fn user_bus_travels_with_the_request() {
        let bus = Bus::User {
            address: "unix:path=/run/user/4242/bus".into(),
            uid: 4242,
        };
        let call = Call {
            bus: bus.clone(),
            req: Request::ManagerCgroup,
        };
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(
            json,
            r#"{"bus":{"kind":"user","address":"unix:path=/run/user/4242/bus","uid":4242},"op":"manager-cgroup"}"#
        );
        let back: Call = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bus, bus);
        assert!(matches!(back.req, Request::ManagerCgroup));
        let old: Call = serde_json::from_str(r#"{"op":"stop","unit":"u.scope"}"#).unwrap();
        assert_eq!(old.bus, Bus::System);
    }

    /// runc's rule for the user's bus: the session bus address, else the
    /// socket in the runtime directory; neither is an error naming both.
    #[test]
    fn user_bus_address() {
        let s = |v: &str| Some(v.to_string());
        let user = |a: &str| Bus::User {
            address: a.into(),
            uid: 7,
        };
        assert_eq!(
            Bus::user_from(s("unix:path=/x/bus"), s("/run/user/7"), 7).unwrap(),
            user("unix:path=/x/bus")
        );
        assert_eq!(
            Bus::user_from(None, s("/run/user/7"), 7).unwrap(),
            user("unix:path=/run/user/7/bus")
        );
        let e = Bus::user_from(None, None, 7).unwrap_err().to_string();
        assert!(
            e.contains("DBUS_SESSION_BUS_ADDRESS") && e.contains("XDG_RUNTIME_DIR"),
            "{e}"
        );
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
                other => panic!("{other:?}: {json}"),
            }
        }
        let done = serde_json::to_string(&Reply::from_result(Ok(None))).unwrap();
        assert_eq!(done, r#"{"result":"done"}"#);
        let value = Reply::from_result(Ok(Some("/user.slice".into())));
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"{"result":"value","value":"/user.slice"}"#);
    }
}
