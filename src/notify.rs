//! The sd_notify proxy (runc's `NOTIFY_SOCKET` handling). When myrt runs
//! with `NOTIFY_SOCKET` set (a systemd `Type=notify` unit running `myrt
//! run`), the container gets a socket of its own:
//! `create` bind-mounts the state directory's `notify/` read-only at
//! [`CONTAINER_DIR`] and sets `NOTIFY_SOCKET` in `process.env` to the socket
//! in it; `start` (and `run`) listen there and pass the container's
//! `READY=1` on to the caller's socket with the main pid: the init's, or
//! for a foreground `run` myrt's own (it stays and exits with the
//! container). Other messages are not forwarded, as with runc.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{Mount, Spec};

/// Where the container sees the directory of its notify socket.
pub const CONTAINER_DIR: &str = "/run/notify";
const SOCKET: &str = "notify.sock";

/// The caller's notify socket (`NOTIFY_SOCKET`), if any: a path, or an
/// abstract name starting with `@`.
pub fn host_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The directory in the container's state dir that holds its socket.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("notify")
}

/// `create` with `NOTIFY_SOCKET` set: the read-only bind mount of
/// [`dir`] at [`CONTAINER_DIR`] (last, over any other mount there) and
/// `NOTIFY_SOCKET` in `process.env` (replacing one the config has).
pub fn add_to_spec(spec: &mut Spec, state_dir: &Path) {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(CONTAINER_DIR));
    m.set_typ(Some("bind".into()));
    m.set_source(Some(dir(state_dir)));
    m.set_options(Some(
        ["bind", "nosuid", "noexec", "nodev", "ro"]
            .map(String::from)
            .to_vec(),
    ));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(m);
    spec.set_mounts(Some(mounts));
    crate::spec::merge_process_env(spec, &[format!("NOTIFY_SOCKET={CONTAINER_DIR}/{SOCKET}")]);
}

/// Make [`dir`] (mode 0755) before the init mounts it.
pub fn make_dir(state_dir: &Path) -> io::Result<()> {
    let d = dir(state_dir);
    std::fs::create_dir(&d)?;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))
}

/// The listening end, bound before the init is released so that no
/// message is lost.
pub struct Listener {
    sock: UnixDatagram,
    host: String,
}

impl Listener {
    /// Bind the container's socket in `state_dir` (the container was made
    /// with [`add_to_spec`]: its [`dir`] exists), writable by any user of
    /// the container. None when the container has no notify dir.
    pub fn bind(state_dir: &Path, host: String) -> io::Result<Option<Listener>> {
        let d = dir(state_dir);
        if !d.is_dir() {
            return Ok(None);
        }
        let path = d.join(SOCKET);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let sock = UnixDatagram::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Some(Listener { sock, host }))
    }

    /// Wait for the container's `READY=` message while `alive()` holds, and
    /// send it to the caller's socket with `MAINPID=main_pid`. Returns
    /// without sending when the container is gone first.
    pub fn forward_ready(&self, main_pid: i32, alive: impl Fn() -> bool) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(line) = ready_line(&buf[..n]) {
                        let msg = format!("{line}\nMAINPID={main_pid}\n");
                        return send_to(&self.host, msg.as_bytes());
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if !alive() {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The `READY=...` line of a notify message, if it has one.
fn ready_line(msg: &[u8]) -> Option<&str> {
    std::str::from_utf8(msg)
        .ok()?
        .lines()
        .find(|l| l.starts_with("READY="))
}

/// Send one datagram to `host` (a path, or `@name` for an abstract socket).
fn send_to(host: &str, msg: &[u8]) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    match host.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            sock.send_to_addr(msg, &SocketAddr::from_abstract_name(name)?)?;
        }
        None => {
            sock.send_to(msg, host)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_is_found_among_others() {
        assert_eq!(ready_line(b"STATUS=up\nREADY=1\n"), Some("READY=1"));
        assert_eq!(ready_line(b"READY=1"), Some("READY=1"));
        assert_eq!(ready_line(b"STATUS=starting\n"), None);
        assert_eq!(ready_line(b"\xff\xfe"), None);
    }

    #[test]
    fn the_spec_gets_the_mount_and_the_variable() {
        let mut spec: Spec = crate::spec::from_json(
            br#"{"ociVersion": "1.0.2", "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}, "env": ["A=1", "NOTIFY_SOCKET=/x"]}, "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}"#,
        )
        .unwrap();
        add_to_spec(&mut spec, Path::new("/run/myrt/c1"));
        let mounts = spec.mounts().as_ref().unwrap();
        let m = mounts.last().unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(m.destination(), Path::new("/run/notify"));
        assert_eq!(
            m.source().as_deref(),
            Some(Path::new("/run/myrt/c1/notify"))
        );
        assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
        let env = spec.process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(env, ["A=1", "NOTIFY_SOCKET=/run/notify/notify.sock"]);
    }

    /// A message without READY is not forwarded; READY is, with MAINPID;
    /// a container that is gone ends the wait.
    #[test]
    fn ready_is_forwarded_with_the_main_pid() {
        let t = std::env::temp_dir().join(format!("myrt-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(&t).unwrap();
        let host_path = t.join("host.sock");
        let host = UnixDatagram::bind(&host_path).unwrap();
        host.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        make_dir(&t).unwrap();
        let l = Listener::bind(&t, host_path.to_str().unwrap().into())
            .unwrap()
            .unwrap();
        let c = UnixDatagram::unbound().unwrap();
        let sock = dir(&t).join(SOCKET);
        c.send_to(b"STATUS=starting", &sock).unwrap();
        c.send_to(b"STATUS=up\nREADY=1", &sock).unwrap();
        l.forward_ready(42, || true).unwrap();
        let mut buf = [0u8; 256];
        let n = host.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nMAINPID=42\n");
        l.forward_ready(42, || false).unwrap();
        let _ = std::fs::remove_dir_all(&t);
    }
}
