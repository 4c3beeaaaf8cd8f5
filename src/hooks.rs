//! OCI hooks: the six kinds, the container state on stdin, timeouts and the spec's failure semantics.
//!
//! Each hook is run as runtime-spec config.md ("POSIX-platform Hooks") says:
//! `path` is executed (it must be absolute) with `args` exactly as given
//! (`args[0]` is `argv[0]`; if `args` is empty, `argv[0]` is `path`), with an
//! environment that is exactly `env` (empty when absent, never myrt's own),
//! and with the state of the container as JSON on its standard input.
//!
//! The state is handed over in a memfd rather than a pipe, so a
//! hook that never reads its stdin cannot make us fail on `EPIPE` (or kill us
//! with `SIGPIPE`), and no writer has to run alongside the hook.
//!
//! The hook's stdout goes to myrt's stderr (myrt's stdout may belong to the
//! engine); its stderr is captured so that a failure can quote it, and is
//! passed through to myrt's stderr when the hook succeeds.
//!
//! The code spawns no thread: it may run in a process made by a raw
//! `clone()` that has not exec'd yet. It waits on the hook through a pidfd
//! (with a polling fall-back) and always reaps what it started.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Hooks};

/// How much of a hook's stderr is kept for the error message.
const STDERR_KEEP: usize = 16 * 1024;
/// How many lines of a hook's stderr an error message quotes.
const STDERR_LINES: usize = 5;

/// The six hook kinds of config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    /// Every kind, in config.json's order.
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// The name of the kind in config.json's `hooks` object.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which hook an error is about: `createRuntime hook #0 (/usr/bin/foo)`.
#[derive(Debug, Clone)]
pub struct HookId {
    pub kind: Kind,
    pub index: usize,
    pub path: String,
}

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} hook #{} ({})", self.kind, self.index, self.path)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hook entry itself is not valid (relative path, timeout <= 0).
    #[error("{hook}: {reason}")]
    Invalid { hook: HookId, reason: String },
    /// The hook could not be started, or waiting for it failed.
    #[error("{hook}: {what}: {source}")]
    Io {
        hook: HookId,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The hook exited non-zero or was killed by a signal.
    #[error("{hook}: {status}{}", stderr_suffix(.stderr))]
    Failed {
        hook: HookId,
        status: String,
        stderr: String,
    },
    /// The hook ran past its timeout; it was killed and reaped.
    #[error("{hook}: timed out after {secs}s{}", stderr_suffix(.stderr))]
    TimedOut {
        hook: HookId,
        secs: i64,
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The hooks of one kind (an empty slice if there are none).
#[allow(deprecated)] // `prestart` is deprecated in the spec but still run.
pub fn hooks_of(h: &Hooks, kind: Kind) -> &[Hook] {
    let list = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    list.as_deref().unwrap_or(&[])
}

/// The state JSON `state_json` with its `status` replaced (for hooks run
/// at a later stage than the one the state was made for). Unparsable input
/// is returned unchanged.
pub fn with_status(state_json: &[u8], status: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(state_json) {
        Ok(mut v) if v.is_object() => {
            v["status"] = status.into();
            serde_json::to_vec(&v).unwrap_or_else(|_| state_json.to_vec())
        }
        _ => state_json.to_vec(),
    }
}

/// Run hooks in order; stop at the first failure and return it.
pub fn run(kind: Kind, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(kind, index, hook, state_json)?;
    }
    Ok(())
}

/// For poststart/poststop: run all, print `myrt: warning: <error>` on stderr
/// for each failure, never fail.
pub fn run_warn(kind: Kind, hooks: &[Hook], state_json: &[u8]) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(kind, index, hook, state_json) {
            let _ = writeln!(io::stderr(), "myrt: warning: {e}");
        }
    }
}

/// The largest hook `timeout` in seconds (about 68 years): larger values
/// are refused rather than overflowing the deadline.
pub const MAX_TIMEOUT: i64 = i32::MAX as i64;

/// What a hook without a `timeout` counts for in [`total_timeout`].
const UNTIMED_ALLOWANCE: i64 = 600;

/// How long the hooks of one kind may take together: the sum of their
/// timeouts (600 s for one without), at most [`MAX_TIMEOUT`]. A parent
/// waiting on a stage in which they run adds this to its own timeout.
pub fn total_timeout(hooks: Option<&Hooks>, kind: Kind) -> Duration {
    let total = hooks
        .map(|h| {
            hooks_of(h, kind)
                .iter()
                .map(|h| h.timeout().unwrap_or(UNTIMED_ALLOWANCE))
                .fold(0i64, i64::saturating_add)
        })
        .unwrap_or(0);
    Duration::from_secs(total.clamp(0, MAX_TIMEOUT) as u64)
}

/// Run one hook to completion (or to its timeout).
fn run_one(kind: Kind, index: usize, hook: &Hook, state_json: &[u8]) -> Result<()> {
    let path = hook.path();
    let id = HookId {
        kind,
        index,
        path: path.display().to_string(),
    };
    if !path.is_absolute() {
        return Err(Error::Invalid {
            hook: id,
            reason: "path must be absolute".into(),
        });
    }
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => {
            return Err(Error::Invalid {
                hook: id,
                reason: format!("timeout must be greater than zero, got {t}"),
            });
        }
        Some(t) if t > MAX_TIMEOUT => {
            return Err(Error::Invalid {
                hook: id,
                reason: format!("timeout {t} seconds is too large (at most {MAX_TIMEOUT})"),
            });
        }
        Some(t) => Some(t),
        None => None,
    };
    let io_err = |what: &'static str, source: io::Error| Error::Io {
        hook: id.clone(),
        what,
        source,
    };

    let stdin = state_file(state_json).map_err(|e| io_err("writing the state", e))?;
    let stdout = match io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    };
    let (err_r, err_w) = pipe().map_err(|e| io_err("creating the stderr pipe", e))?;

    let mut cmd = command(path, hook.args().as_deref(), hook.env().as_deref());
    cmd.stdin(Stdio::from(stdin))
        .stdout(stdout)
        .stderr(Stdio::from(err_w))
        // Its own process group, so a timeout kills what the hook started too.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| io_err("cannot execute", e))?;
    // The write end now lives only in the child (the Command is dropped here).
    drop(cmd);

    // MAX_TIMEOUT keeps this far from Instant's range; checked all the same.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs(t as u64)));
    let waited = wait_capturing(&mut child, err_r, deadline);
    let (status, stderr) = match waited {
        Ok(w) => w,
        Err(e) => {
            // Never leave the hook behind on our own error.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io_err("waiting for the hook", e));
        }
    };
    let stderr_text = quote_stderr(&stderr);
    match status {
        None => Err(Error::TimedOut {
            hook: id,
            secs: timeout.unwrap_or_default(),
            stderr: stderr_text,
        }),
        Some(st) if st.success() => {
            if !stderr.is_empty() {
                let _ = io::stderr().write_all(&stderr);
            }
            Ok(())
        }
        Some(st) => Err(Error::Failed {
            hook: id,
            status: describe_status(st),
            stderr: stderr_text,
        }),
    }
}

/// The command for a hook: argv exactly as given, environment exactly as given.
fn command(path: &Path, args: Option<&[String]>, env: Option<&[String]>) -> Command {
    let mut cmd = Command::new(path);
    match args {
        Some([arg0, rest @ ..]) => {
            cmd.arg0(arg0).args(rest);
        }
        _ => {
            cmd.arg0(path);
        }
    }
    cmd.env_clear();
    for entry in env.unwrap_or(&[]) {
        // `KEY=VALUE`; an entry without `=` (or with an empty key) cannot be
        // expressed through `Command` and is skipped.
        if let Some((k, v)) = entry.split_once('=')
            && !k.is_empty()
        {
            cmd.env(k, v);
        }
    }
    cmd
}

/// A memfd holding the state, positioned at its start.
fn state_file(state_json: &[u8]) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let mut f = File::from(memfd_create(c"myrt-hook-state", MFdFlags::MFD_CLOEXEC)?);
    f.write_all(state_json)?;
    f.rewind()?;
    Ok(OwnedFd::from(f))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Wait for the hook while collecting its stderr.
///
/// Returns `None` as the status when the deadline passed: the hook has then
/// been killed with SIGKILL and reaped. The hook's exit (not the end of its
/// stderr) ends the wait, so a daemon it left holding the pipe cannot hang us.
fn wait_capturing(
    child: &mut Child,
    err_r: OwnedFd,
    deadline: Option<Instant>,
) -> io::Result<(Option<ExitStatus>, Vec<u8>)> {
    set_nonblocking(&err_r)?;
    let pidfd = crate::sys::pidfd_open(child.id() as libc::pid_t).ok();
    let mut err_file = File::from(err_r);
    let mut captured = Vec::new();
    let mut err_open = true;
    loop {
        if let Some(st) = child.try_wait()? {
            drain(&mut err_file, &mut captured, &mut err_open);
            return Ok((Some(st), captured));
        }
        let mut wait_ms: i64 = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    // The group was made by us for this hook (pgid = its pid,
                    // which is still unreaped, so the id cannot have been reused).
                    let _ = killpg(Pid::from_raw(child.id() as libc::pid_t), Signal::SIGKILL);
                    child.kill()?;
                    child.wait()?;
                    drain(&mut err_file, &mut captured, &mut err_open);
                    return Ok((None, captured));
                }
                // Round up so we do not spin just before the deadline.
                i64::try_from((d - now).as_millis())
                    .unwrap_or(i64::MAX)
                    .saturating_add(1)
            }
            None => -1,
        };
        if pidfd.is_none() {
            // No pidfd (old kernel): poll the child every 10 ms.
            wait_ms = if wait_ms < 0 { 10 } else { wait_ms.min(10) };
        }
        let mut pfds = Vec::with_capacity(2);
        if err_open {
            pfds.push(PollFd::new(err_file.as_fd(), PollFlags::POLLIN));
        }
        if let Some(p) = &pidfd {
            pfds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        let wait_ms = wait_ms.min(i32::MAX as i64) as libc::c_int;
        let timeout = PollTimeout::try_from(wait_ms).unwrap_or(PollTimeout::NONE);
        match poll(&mut pfds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if err_open {
            drain(&mut err_file, &mut captured, &mut err_open);
        }
    }
}

/// Read what is available on the (non-blocking) stderr pipe.
fn drain(f: &mut File, captured: &mut Vec<u8>, open: &mut bool) {
    if !*open {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => {
                *open = false;
                return;
            }
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(captured.len());
                captured.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                *open = false;
                return;
            }
        }
    }
}

/// The first lines of a hook's stderr, joined for an error message.
fn quote_stderr(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = lines
        .iter()
        .take(STDERR_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("; ");
    if lines.len() > STDERR_LINES {
        out.push_str("; ...");
    }
    out
}

fn describe_status(st: ExitStatus) -> String {
    if let Some(code) = st.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = st.signal() {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| sig.to_string());
        format!("killed by signal {name}")
    } else {
        format!("ended with {st}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;
    use std::path::PathBuf;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("myrt-hooks-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sh(script: &str) -> Hook {
        HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
            .build()
            .unwrap()
    }

    #[test]
    fn with_status_replaces_only_the_status() {
        let s = br#"{"ociVersion":"1.2.0","id":"a","status":"creating","pid":7,"annotations":{"k":"\"status\":\"creating\""}}"#;
        let v: serde_json::Value = serde_json::from_slice(&with_status(s, "created")).unwrap();
        assert_eq!(v["status"], "created");
        assert_eq!(v["pid"], 7);
        assert_eq!(v["annotations"]["k"], "\"status\":\"creating\"");
        assert_eq!(with_status(b"not json", "created"), b"not json");
    }

    #[test]
    fn kind_display_is_config_name() {
        assert_eq!(Kind::CreateRuntime.to_string(), "createRuntime");
        assert_eq!(Kind::StartContainer.to_string(), "startContainer");
        assert_eq!(Kind::Poststop.to_string(), "poststop");
    }

    #[test]
    fn env_is_exactly_hook_env() {
        let d = tmpdir("env");
        let out = d.join("env");
        let mut h = sh(&format!("env > {}", out.display()));
        h.set_env(Some(vec!["FOO=bar".into(), "X=1=2".into()]));
        run(Kind::CreateRuntime, &[h], b"{}").unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("PWD=")).collect();
        lines.sort();
        // dash adds PWD itself; nothing of myrt's environment may leak.
        assert_eq!(lines, vec!["FOO=bar", "X=1=2"], "env was {text:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn no_env_means_empty_env() {
        let d = tmpdir("noenv");
        let out = d.join("env");
        let h = sh(&format!("env > {}", out.display()));
        run(Kind::Prestart, &[h], b"{}").unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.lines().all(|l| l.starts_with("PWD=")),
            "env was {text:?}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn args0_is_argv0() {
        let d = tmpdir("argv0");
        let out = d.join("argv");
        let h = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "my-argv0".to_string(),
                "-c".to_string(),
                format!("echo \"$0 $1\" > {}", out.display()),
                "first".to_string(),
            ])
            .build()
            .unwrap();
        run(Kind::CreateContainer, &[h], b"{}").unwrap();
        // With `sh -c SCRIPT A B`, $0 is A; so check argv[0] via /proc instead.
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "first \n");

        let out2 = d.join("cmdline");
        let h = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "my-argv0".to_string(),
                "-c".to_string(),
                format!("tr '\\0' ' ' < /proc/$$/cmdline > {}", out2.display()),
            ])
            .build()
            .unwrap();
        run(Kind::CreateContainer, &[h], b"{}").unwrap();
        let cmdline = std::fs::read_to_string(&out2).unwrap();
        assert!(cmdline.starts_with("my-argv0 -c "), "cmdline {cmdline:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn empty_args_means_argv0_is_path() {
        // With no args, /bin/sh runs the script on its stdin: here the "state".
        // (A script file written by the test could hit ETXTBSY when another
        // test thread forks while it is open for writing.)
        let d = tmpdir("noargs");
        let out = d.join("argv0");
        let h = HookBuilder::default().path("/bin/sh").build().unwrap();
        let script = format!("echo \"$0\" > {}\n", out.display());
        run(Kind::Poststart, &[h], script.as_bytes()).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "/bin/sh\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn state_arrives_on_stdin() {
        let d = tmpdir("stdin");
        let out = d.join("state");
        let h = sh(&format!("cat > {}", out.display()));
        let state =
            br#"{"ociVersion":"1.0.2","id":"abc","status":"creating","pid":42,"bundle":"/b"}"#;
        run(Kind::CreateRuntime, &[h], state).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), state);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hook_ignoring_stdin_is_fine() {
        // A large state that the hook never reads must not cause EPIPE/SIGPIPE.
        let state = vec![b'x'; 1 << 20];
        run(Kind::CreateRuntime, &[sh("exit 0")], &state).unwrap();
    }

    #[test]
    fn nonzero_exit_is_error_naming_path_and_stderr() {
        let err = run(
            Kind::CreateRuntime,
            &[sh("echo 'bad thing happened' >&2; exit 3")],
            b"{}",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Failed { .. }));
        assert_eq!(
            msg,
            "createRuntime hook #0 (/bin/sh): exited with status 3: bad thing happened"
        );
    }

    #[test]
    fn killed_by_signal_is_error() {
        let err = run(Kind::StartContainer, &[sh("kill -9 $$")], b"{}").unwrap_err();
        assert!(
            err.to_string().ends_with("killed by signal SIGKILL"),
            "{err}"
        );
    }

    #[test]
    fn missing_binary_is_error() {
        let h = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .unwrap();
        let err = run(Kind::CreateRuntime, &[h], b"{}").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("createRuntime hook #0 (/nonexistent/hook): cannot execute"),
            "{msg}"
        );
    }

    #[test]
    fn relative_path_and_bad_timeout_are_errors() {
        let h = HookBuilder::default().path("bin/true").build().unwrap();
        let err = run(Kind::CreateRuntime, &[h], b"{}").unwrap_err();
        assert!(err.to_string().contains("path must be absolute"), "{err}");
        let mut h = sh("true");
        h.set_timeout(Some(0));
        let err = run(Kind::CreateRuntime, &[h], b"{}").unwrap_err();
        assert!(err.to_string().contains("timeout must be greater"), "{err}");
    }

    #[test]
    fn timeout_kills_and_reaps() {
        let d = tmpdir("timeout");
        let pidfile = d.join("pid");
        // `exec` so the pid we record is the hook process itself.
        let mut h = sh(&format!("echo $$ > {}; exec sleep 10", pidfile.display()));
        h.set_timeout(Some(1));
        let start = Instant::now();
        let err = run(Kind::CreateRuntime, &[h], b"{}").unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, Error::TimedOut { secs: 1, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "createRuntime hook #0 (/bin/sh): timed out after 1s"
        );
        assert!(took >= Duration::from_millis(950), "took {took:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Reaped: the pid is gone (not even a zombie of ours).
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "hook process {pid} still exists"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn timeout_kills_the_hooks_children() {
        let d = tmpdir("timeout-tree");
        let pidfile = d.join("pid");
        let mut h = sh(&format!("sleep 10 & echo $! > {}; wait", pidfile.display()));
        h.set_timeout(Some(1));
        let err = run(Kind::Prestart, &[h], b"{}").unwrap_err();
        assert!(matches!(err, Error::TimedOut { .. }), "{err}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The orphaned sleep was sent SIGKILL; once it is delivered the
        // process is gone or a zombie waiting for pid 1 to reap it.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
            if matches!(state, None | Some('Z')) {
                break;
            }
            assert!(Instant::now() < deadline, "sleep {pid}: {stat:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hook_leaving_daemon_with_stderr_does_not_hang() {
        let d = tmpdir("daemon");
        let pidfile = d.join("pid");
        // The background sleep holds the stderr pipe open after the hook exits.
        let h = sh(&format!(
            "sleep 5 & echo $! > {}; exit 0",
            pidfile.display()
        ));
        let start = Instant::now();
        run(Kind::CreateRuntime, &[h], b"{}").unwrap();
        assert!(start.elapsed() < Duration::from_secs(3));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The test's own grandchild.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stops_at_first_failure() {
        let d = tmpdir("first");
        let marker = d.join("second-ran");
        let hooks = vec![sh("exit 1"), sh(&format!("touch {}", marker.display()))];
        let err = run(Kind::CreateContainer, &hooks, b"{}").unwrap_err();
        assert!(
            err.to_string().starts_with("createContainer hook #0 "),
            "{err}"
        );
        assert!(!marker.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn run_warn_runs_all_and_never_fails() {
        let d = tmpdir("warn");
        let marker = d.join("second-ran");
        let hooks = vec![
            sh("exit 1"),
            HookBuilder::default().path("/nonexistent").build().unwrap(),
            sh(&format!("touch {}", marker.display())),
        ];
        run_warn(Kind::Poststop, &hooks, b"{}");
        assert!(marker.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hooks_of_picks_the_kind() {
        let hooks: Hooks = serde_json::from_str(
            r#"{"createRuntime":[{"path":"/a"}],"poststop":[{"path":"/b"},{"path":"/c"}]}"#,
        )
        .unwrap();
        assert_eq!(hooks_of(&hooks, Kind::CreateRuntime).len(), 1);
        assert_eq!(hooks_of(&hooks, Kind::Poststop).len(), 2);
        assert!(hooks_of(&hooks, Kind::Prestart).is_empty());
        assert!(hooks_of(&hooks, Kind::StartContainer).is_empty());
    }
}
