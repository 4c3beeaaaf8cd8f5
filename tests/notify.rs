//! systemd's two protocols, as runc takes them. NOTIFY_SOCKET (a systemd
//! `Type=notify` unit running `myrt run`): with it set, the
//! container gets a socket of its own at `$NOTIFY_SOCKET`
//! (/run/notify/notify.sock), and its `READY=1` reaches the caller's socket
//! with the main pid. LISTEN_FDS (socket activation): the passed fds reach
//! the container with `LISTEN_FDS`/`LISTEN_PID=1`. Needs `cc` with a static
//! C library (build-essential) for the in-container sender.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

/// A bundle with its own root filesystem holding `/bin/sd-notify`.
fn notify_bundle(name: &str, script: &str) -> Bundle {
    let b = Bundle::new(name).own_rootfs();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/sd_notify.c");
    let out = b.rootfs().join("bin/sd-notify");
    let o = host(
        "cc",
        &[
            "-static",
            "-Os",
            "-o",
            out.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    o.ok();
    b.sh(script)
}

/// The caller's socket, as systemd would have it.
fn host_socket(b: &Bundle) -> (UnixDatagram, String) {
    let p = b.path("host.sock");
    let s = UnixDatagram::bind(&p).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (s, p.to_str().unwrap().to_string())
}

/// `myrt ARGS` with `NOTIFY_SOCKET=path`.
fn with_notify(rt: &Runtime, args: &[&str], path: &str, sink: Sink) -> Output {
    let mut cmd = rt.command(args);
    cmd.env("NOTIFY_SOCKET", path);
    exec_cmd(cmd, None, sink, Duration::from_secs(30))
}

fn recv(s: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).expect("no message on the caller's socket");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// create + start: `start` returns once the container said READY (not
/// before), and the caller gets `READY=1` with the init as MAINPID. The
/// container sees only its own socket; STATUS lines are not forwarded.
#[test]
fn root_notify_socket_ready_reaches_the_caller_from_start() {
    let rt = Runtime::new();
    let b = notify_bundle(
        "notify",
        "echo $NOTIFY_SOCKET; sd-notify STATUS=starting; sleep 1; sd-notify READY=1; sleep 30",
    );
    let (host, path) = host_socket(&b);
    let c = rt.guard(&b);
    b.write();
    // A created container keeps the runtime's stdio: the files.
    let files = Sink::Files(c.out_path(), c.err_path());
    with_notify(
        &rt,
        &["create", "--bundle", b.dir_str(), &c.id],
        &path,
        files,
    )
    .ok();
    let pid = rt.state(&c.id)["pid"].as_i64().unwrap();
    let t = Instant::now();
    with_notify(&rt, &["start", &c.id], &path, Sink::Pipe).ok();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "start returned before READY: {:?}",
        t.elapsed()
    );
    assert_eq!(recv(&host), format!("READY=1\nMAINPID={pid}\n"));
    assert_eq!(c.stdout(), "/run/notify/notify.sock\n");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
}

/// A container that exits without READY does not hold `start`; nothing is
/// sent.
#[test]
fn root_notify_socket_start_returns_when_the_container_exits_unready() {
    let rt = Runtime::new();
    let b = notify_bundle("notifyexit", "sleep 0.5; exit 0");
    let (host, path) = host_socket(&b);
    let c = rt.guard(&b);
    b.write();
    // A created container keeps the runtime's stdio: the files.
    let files = Sink::Files(c.out_path(), c.err_path());
    with_notify(
        &rt,
        &["create", "--bundle", b.dir_str(), &c.id],
        &path,
        files,
    )
    .ok();
    let t = Instant::now();
    with_notify(&rt, &["start", &c.id], &path, Sink::Pipe).ok();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    host.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(host.recv(&mut buf).is_err(), "a message was sent");
    c.wait_status("stopped");
    c.delete().ok();
}

/// Foreground `run`: myrt stays as the main process, so MAINPID is its own
/// pid; the container's status is still `run`'s.
#[test]
fn root_notify_socket_foreground_run_names_itself_main() {
    let rt = Runtime::new();
    let b = notify_bundle("notifyrun", "sd-notify READY=1; sleep 0.5; exit 3");
    let (host, path) = host_socket(&b);
    let c = rt.guard(&b);
    b.write();
    let mut run = rt.command(&["run", "--bundle", b.dir_str(), &c.id]);
    run.env("NOTIFY_SOCKET", &path);
    let child = run.spawn().unwrap();
    let me = child.id();
    let got = recv(&host);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(got, format!("READY=1\nMAINPID={me}\n"));
}

/// Without NOTIFY_SOCKET nothing changes: no variable, no /run/notify.
#[test]
fn root_no_notify_socket_no_mount_and_no_variable() {
    let rt = Runtime::new();
    let b = Bundle::new("nonotify")
        .sh("env | grep -c NOTIFY_SOCKET; grep -c /run/notify /proc/self/mountinfo");
    let mut run = rt.command(&["run", "--bundle", b.dir_str(), &b.id]);
    run.env_remove("NOTIFY_SOCKET");
    let c = rt.guard(&b);
    b.write();
    let o = exec_cmd(run, None, Sink::Pipe, Duration::from_secs(30));
    assert_eq!(o.stdout, "0\n0\n", "{o}");
    drop(c);
}

/// Socket activation: with `LISTEN_PID` = myrt's pid and `LISTEN_FDS=2`,
/// fds 3 and 4 reach the container (no `--preserve-fds` needed) with
/// `LISTEN_FDS=2 LISTEN_PID=1`; with `LISTEN_PID` naming another process
/// nothing is passed and the variables are not set.
#[test]
fn root_listen_fds_reach_the_container() {
    let rt = Runtime::new();
    let b = Bundle::new("listenfds")
        .sh("echo \"$LISTEN_FDS $LISTEN_PID\"; cat <&3; cat <&4; ls /proc/self/fd | wc -l");
    b.write();
    for (i, s) in ["three", "four"].iter().enumerate() {
        std::fs::write(b.path(&format!("f{i}")), format!("{s}\n")).unwrap();
    }
    let run = |listen_pid: &str, id: &str| {
        let script = format!(
            "LISTEN_PID={listen_pid} LISTEN_FDS=2 exec \"$0\" --root \"$1\" run --bundle \"$2\" \"$3\" 3<\"$2/f0\" 4<\"$2/f1\""
        );
        let mut c = std::process::Command::new("sh");
        c.args([
            "-c",
            &script,
            &runtime_bin(),
            rt.root.to_str().unwrap(),
            b.dir_str(),
            id,
        ]);
        exec_cmd(c, None, Sink::Pipe, Duration::from_secs(30))
    };
    let c = rt.guard(&b);
    let o = run("$$", &c.id);
    o.ok();
    // 0-4 and ls's own directory fd
    assert_eq!(o.stdout, "2 1\nthree\nfour\n6\n", "{o}");
    let o = run("1", &c.id);
    assert_eq!(o.stdout, " \n4\n", "{o}");
}
