//! The few calls to a systemd manager that the systemd cgroup driver needs
//! (through `zbus`): start a transient scope, set a unit's properties, stop
//! a unit, wait for the job each one queues, and read the manager's own
//! cgroup. The manager is the system's on the system bus, or a user's
//! (`systemd --user`) on that user's bus ([`Bus`]).
//! Only the `myrt-systemd` executable links this ([`serve`]); the runtime
//! asks it through [`super::bus`].

use std::time::Duration;

use futures_lite::StreamExt;
use zbus::blocking::{Connection, MessageIterator, connection};
use zbus::message::Type as MsgType;
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::{MatchRule, Message};

use super::bus::{Bus, Call, Prop, Reply, Request};
use super::common::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long a method call or a job may take (runc waits 30 s for a job).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to systemd's manager.
pub struct Systemd {
    conn: Connection,
    /// The JobRemoved signals, subscribed to before any job is queued.
    jobs: zbus::MessageStream,
    bus: Bus,
}

impl std::fmt::Debug for Systemd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Systemd({})", self.bus.describe())
    }
}

fn bus_err(what: impl std::fmt::Display, e: zbus::Error) -> Error {
    let msg = match &e {
        zbus::Error::MethodError(name, desc, _) => {
            format!(
                "{what}: {}: {}",
                name.as_str(),
                desc.as_deref().unwrap_or("")
            )
        }
        e => format!("{what}: {e}"),
    };
    Error::unsupported("systemd", msg)
}

/// The D-Bus error name of `e`, if systemd answered with one.
fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

fn value(p: &Prop) -> Value<'_> {
    match p {
        Prop::Bool(b) => Value::from(*b),
        Prop::Str(s) => Value::from(s.as_str()),
        Prop::U64(n) => Value::from(*n),
        Prop::U32(n) => Value::from(*n),
        Prop::I64(n) => Value::from(*n),
        Prop::I32(n) => Value::from(*n),
        Prop::U32s(v) => Value::from(v.clone()),
        Prop::Bytes(v) => Value::from(v.clone()),
        Prop::Pairs(v) => Value::from(
            v.iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect::<Vec<_>>(),
        ),
    }
}

fn values(props: &[(String, Prop)]) -> Vec<(&str, Value<'_>)> {
    props.iter().map(|(n, p)| (n.as_str(), value(p))).collect()
}

impl Systemd {
    /// Connect to the manager on `bus` and subscribe to its job signals.
    /// The system bus: `DBUS_SYSTEM_BUS_ADDRESS`, else
    /// /run/dbus/system_bus_socket. A user's bus: its address, EXTERNAL
    /// authentication as its uid on the host (what the bus daemon sees of
    /// the socket's peer, also from inside a user namespace).
    pub fn connect(bus: &Bus) -> Result<Systemd> {
        let builder = match bus {
            Bus::System => connection::Builder::system(),
            Bus::User { address, uid } => connection::Builder::address(address.as_str()).map(|b| {
                b.auth_mechanism(zbus::AuthMechanism::External)
                    .user_id(*uid)
            }),
        };
        let conn = builder
            .and_then(|b| b.method_timeout(TIMEOUT).build())
            .map_err(|e| bus_err(format!("connecting to {}", bus.describe()), e))?;
        let rule = MatchRule::builder()
            .msg_type(MsgType::Signal)
            .sender(DEST)
            .and_then(|r| r.interface(MANAGER))
            .and_then(|r| r.member("JobRemoved"))
            .map_err(|e| bus_err("JobRemoved match rule", e))?
            .build();
        let jobs = MessageIterator::for_match_rule(rule, &conn, Some(64))
            .map_err(|e| bus_err("subscribing to systemd's JobRemoved signal", e))?
            .into_inner();
        // Signals about jobs go to subscribed clients.
        conn.call_method(Some(DEST), PATH, Some(MANAGER), "Subscribe", &())
            .map_err(|e| bus_err(format!("systemd Subscribe on {}", bus.describe()), e))?;
        Ok(Systemd {
            conn,
            jobs,
            bus: bus.clone(),
        })
    }

    /// The manager's `ControlGroup` property.
    pub fn manager_cgroup(&self) -> Result<String> {
        let what = format!("the ControlGroup of the manager on {}", self.bus.describe());
        let reply = self
            .conn
            .call_method(
                Some(DEST),
                PATH,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(MANAGER, "ControlGroup"),
            )
            .map_err(|e| bus_err(&what, e))?;
        let v: zbus::zvariant::OwnedValue =
            reply.body().deserialize().map_err(|e| bus_err(&what, e))?;
        String::try_from(v).map_err(|e| bus_err(&what, e.into()))
    }

    fn call<B>(&self, method: &str, body: &B) -> std::result::Result<Message, zbus::Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
    }

    /// StartTransientUnit of `unit` with `props`: the job to wait for
    /// ([`Systemd::wait_job`]).
    pub fn start_transient(&self, unit: &str, props: &[(String, Prop)]) -> Result<OwnedObjectPath> {
        let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
        let reply = self
            .call("StartTransientUnit", &(unit, "fail", values(props), aux))
            .map_err(|e| {
                if error_name(&e) == Some("org.freedesktop.systemd1.UnitExists") {
                    Error::invalid(
                        "linux.cgroupsPath",
                        format!("systemd unit {unit} exists already; a container needs a unit of its own"),
                    )
                } else {
                    bus_err(format!("StartTransientUnit {unit}"), e)
                }
            })?;
        reply
            .body()
            .deserialize()
            .map_err(|e| bus_err("StartTransientUnit reply", e))
    }

    /// SetUnitProperties (runtime, not persisted) of `unit`.
    pub fn set_properties(&self, unit: &str, props: &[(String, Prop)]) -> Result<()> {
        self.call("SetUnitProperties", &(unit, true, values(props)))
            .map_err(|e| bus_err(format!("SetUnitProperties {unit}"), e))?;
        Ok(())
    }

    /// StopUnit and wait for its job; a unit that is gone already is fine.
    pub fn stop(&mut self, unit: &str) -> Result<()> {
        let reply = match self.call("StopUnit", &(unit, "replace")) {
            Ok(r) => r,
            Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(());
            }
            Err(e) => return Err(bus_err(format!("StopUnit {unit}"), e)),
        };
        let job: OwnedObjectPath = reply
            .body()
            .deserialize()
            .map_err(|e| bus_err("StopUnit reply", e))?;
        self.wait_job(&job, unit, "stop")
    }

    /// ResetFailedUnit: a transient unit that failed stays loaded until
    /// this (best effort: a unit that is gone or did not fail is fine).
    pub fn reset_failed(&self, unit: &str) {
        let _ = self.call("ResetFailedUnit", &(unit,));
    }

    /// Wait (up to [`TIMEOUT`]) for the JobRemoved signal of `job`; its
    /// result must be "done".
    pub fn wait_job(&mut self, job: &OwnedObjectPath, unit: &str, what: &str) -> Result<()> {
        let stream = &mut self.jobs;
        let wait = async {
            while let Some(m) = stream.next().await {
                let Ok(m) = m else { continue };
                let Ok((_, path, _, result)) = m
                    .body()
                    .deserialize::<(u32, OwnedObjectPath, String, String)>()
                else {
                    continue;
                };
                if &path == job {
                    return Some(result);
                }
            }
            None
        };
        let timeout = async {
            async_io::Timer::after(TIMEOUT).await;
            None
        };
        match zbus::block_on(futures_lite::future::or(wait, timeout)) {
            Some(r) if r == "done" => Ok(()),
            Some(r) => Err(Error::unsupported(
                "systemd",
                format!("the {what} job of {unit} ended with result {r:?}"),
            )),
            None => Err(Error::Timeout {
                field: "systemd".into(),
                msg: format!("the {what} job of {unit} did not finish in {TIMEOUT:?}"),
            }),
        }
    }
}

/// Carry out one call (a run of `myrt-systemd`).
pub fn serve(call: &Call) -> Reply {
    let mut bus = match Systemd::connect(&call.bus) {
        Ok(b) => b,
        Err(e) => return Reply::from_result(Err((e, false))),
    };
    let done = |r: Result<()>| r.map(|()| None).map_err(|e| (e, false));
    let r = match &call.req {
        Request::Start { unit, props } => match bus.start_transient(unit, props) {
            // Queued: the unit is the caller's from here, even if the job
            // fails.
            Ok(job) => bus
                .wait_job(&job, unit, "start")
                .map(|()| None)
                .map_err(|e| (e, true)),
            Err(e) => Err((e, false)),
        },
        Request::Set { unit, props } => done(bus.set_properties(unit, props)),
        Request::Stop { unit } => {
            let r = bus.stop(unit);
            bus.reset_failed(unit);
            done(r)
        }
        Request::ManagerCgroup => bus.manager_cgroup().map(Some).map_err(|e| (e, false)),
    };
    Reply::from_result(r)
}

/// `myrt-systemd REQUEST-JSON`: print the [`Reply`] as one JSON line.
/// Exit status 0 when an answer was printed, 2 for a bad request.
pub fn main() -> i32 {
    let mut args = std::env::args_os().skip(1);
    let (Some(arg), None) = (args.next(), args.next()) else {
        eprintln!("usage: myrt-systemd REQUEST-JSON (run by myrt --systemd-cgroup)");
        return 2;
    };
    let req: Call = match serde_json::from_slice(arg.as_encoded_bytes()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("myrt-systemd: bad request: {e}");
            return 2;
        }
    };
    let reply = serve(&req);
    match serde_json::to_string(&reply) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("myrt-systemd: {e}");
            2
        }
    }
}
