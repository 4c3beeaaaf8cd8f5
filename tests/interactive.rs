//! A person at a terminal: `run` of a `mkbundle -t` bundle inside a real pty
//! (tmux, on a private server socket), and `run -d` + `exec`.
//!
//! The runtime under test is `$MYRT_TEST_RUNTIME` (e.g. `runc`), else cargo's
//! myrt. Needs root, tmux (Debian package tmux), jq and busybox-static.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;

use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const SCREEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes a bundle with bundles/mkbundle in a fresh harness `Bundle`
/// directory, with `--cgroup-path /myrt-test/<id>`; `b.config` holds what
/// mkbundle wrote (the harness rewrites the same config before `run -d`).
fn make_bundle(name: &str, opts: &[&str], cmd: &[&str]) -> Bundle {
    let b = Bundle::new(name);
    let cg = format!("{CGROUP_PARENT}/{}", b.id);
    let mut args: Vec<&str> = opts.to_vec();
    args.extend(["--cgroup-path", &cg, b.dir_str(), "--"]);
    args.extend_from_slice(cmd);
    let mkbundle = format!("{}/bundles/mkbundle", env!("CARGO_MANIFEST_DIR"));
    host(&mkbundle, &args).ok();
    let config: Value = serde_json::from_slice(&fs::read(b.path("config.json")).unwrap()).unwrap();
    b.with(|c| *c = config)
}

/// Quotes `s` for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A tmux server of our own (`tmux -L NAME`) with one session running
/// `command`, whose stderr goes to `log`. On drop: kills the session (the
/// server then exits) and removes the socket file.
struct Tmux {
    socket: String,
    session: String,
    log: PathBuf,
    /// The tmux server: it daemonizes, so it is re-parented to us (the
    /// harness makes the test process a subreaper) and we reap it.
    server_pid: i32,
}

impl Tmux {
    fn start(command: &str, log: PathBuf, width: u32, height: u32) -> Tmux {
        let mut t = Tmux {
            socket: unique("myrt-test-tmux"),
            session: "main".to_string(),
            log,
            server_pid: 0,
        };
        let command = format!("exec {command} 2>>{}", sh_quote(t.log.to_str().unwrap()));
        let (w, h) = (width.to_string(), height.to_string());
        t.tmux(&[
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            &w,
            "-y",
            &h,
            &command,
        ])
        .ok();
        let o = t.tmux(&["display-message", "-p", "#{pid}"]);
        t.server_pid = o.stdout.trim().parse().unwrap_or(0);
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let mut c = Command::new("tmux");
        c.env_remove("TMUX")
            .args(["-L", self.socket.as_str(), "-f", "/dev/null"])
            .args(args);
        exec_cmd(c, None, Sink::Pipe, CMD_TIMEOUT)
    }

    fn target(&self) -> String {
        format!("{}:", self.session)
    }

    /// Types `line` and Enter.
    #[track_caller]
    fn type_line(&self, line: &str) {
        let target = self.target();
        for keys in [&["-l", line][..], &["Enter"][..]] {
            let mut a = vec!["send-keys", "-t", target.as_str()];
            a.extend_from_slice(keys);
            let o = self.tmux(&a);
            if !o.success() {
                panic!(
                    "typing {line:?} failed (did the runtime exit?): {o}\n--- runtime stderr ---\n{}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
        }
    }

    fn screen(&self) -> String {
        let o = self.tmux(&["capture-pane", "-p", "-t", &self.target()]);
        if o.success() { o.stdout } else { String::new() }
    }

    /// Waits until a line of the screen, trimmed, equals `line`; `after`
    /// (a line that must come earlier on screen) disambiguates repeats.
    #[track_caller]
    fn wait_line(&self, after: Option<&str>, line: &str) {
        let deadline = std::time::Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            let lines: Vec<&str> = screen.lines().map(str::trim).collect();
            let start = match after {
                Some(a) => lines.iter().rposition(|l| l.ends_with(a)).map(|i| i + 1),
                None => Some(0),
            };
            if let Some(s) = start
                && lines[s..].contains(&line)
            {
                return;
            }
            let gone = screen.is_empty() && !self.alive();
            if gone || std::time::Instant::now() > deadline {
                let why = if gone {
                    "the session ended"
                } else {
                    "timed out"
                };
                panic!(
                    "{why}: no line {line:?} (after {after:?}) on the screen:\n{screen}\n--- runtime stderr ---\n{}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", &self.session]).success()
    }

    fn socket_path(&self) -> PathBuf {
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        // SAFETY: no arguments.
        let uid = unsafe { libc::getuid() };
        PathBuf::from(dir)
            .join(format!("tmux-{uid}"))
            .join(&self.socket)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.tmux(&["kill-session", "-t", &self.session]);
        }
        // With its only session gone the server exits; reap it (or, should it
        // linger, stop this server of ours).
        if self.server_pid > 0 && wait_pid(self.server_pid, Duration::from_secs(5)).is_none() {
            let _ = self.tmux(&["kill-server"]);
            let _ = wait_pid(self.server_pid, Duration::from_secs(5));
        }
        let _ = fs::remove_file(self.socket_path());
    }
}

#[test]
fn root_terminal_env_and_window_size() {
    let rt = Runtime::new();
    let b = make_bundle("tty", &["-t", "-e", "bird=123"], &["sh"]);
    let _c = rt.guard(&b);
    let command = [
        runtime_bin().as_str(),
        "--root",
        rt.root.to_str().unwrap(),
        "run",
        "--bundle",
        b.dir_str(),
        &b.id,
    ]
    .map(sh_quote)
    .join(" ");
    let t = Tmux::start(&command, b.path("runtime.err"), 80, 24);

    t.type_line("echo $bird");
    t.wait_line(Some("echo $bird"), "123");

    t.type_line("stty size");
    t.wait_line(Some("stty size"), "24 80");

    t.tmux(&["resize-window", "-t", &t.target(), "-x", "100", "-y", "30"])
        .ok();
    // Wait for the pane itself to have the new size before asking.
    wait_until("the tmux pane to be 100x30", SCREEN_TIMEOUT, || {
        let o = t.tmux(&[
            "display-message",
            "-p",
            "-t",
            &t.target(),
            "#{pane_width}x#{pane_height}",
        ]);
        (o.stdout.trim() == "100x30").then_some(())
    });
    t.type_line("clear; stty size");
    t.wait_line(None, "30 100");

    t.type_line("exit");
    wait_until("the tmux session to end", SCREEN_TIMEOUT, || {
        (!t.alive()).then_some(())
    });
    wait_until("the container to be gone", SCREEN_TIMEOUT, || {
        rt.try_state(&b.id).is_none().then_some(())
    });
}

#[test]
fn root_detached_run_then_exec_sees_env() {
    let rt = Runtime::new();
    let b = make_bundle("detached", &["-e", "bird=123"], &["sleep", "60"]);
    let c = rt.guard(&b);
    let o = c.run_detached(&b, &[]);
    assert!(o.success(), "{o}");
    assert_eq!(c.status(), "running");
    let o = c.exec(&[], &["env"]);
    o.ok();
    assert!(o.stdout.lines().any(|l| l == "bird=123"), "{o}");
    let o = c.exec(&[], &["sh", "-c", "echo $bird"]);
    assert_eq!(o.ok().stdout, "123\n");
}
