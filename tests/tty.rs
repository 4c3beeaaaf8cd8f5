//! process.terminal with --console-socket: the runtime sends the pty master
//! over the unix socket (SCM_RIGHTS); the container's shell talks through it.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Reads from `f` until `want` appears in everything read (or timeout).
fn read_until(f: &mut File, want: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut all = String::new();
    let mut buf = [0u8; 4096];
    loop {
        if all.contains(want) {
            return all;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!("timed out waiting for {want:?}; read so far: {all:?}");
        }
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for the call.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if n <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => panic!("pty closed while waiting for {want:?}; read: {all:?}"),
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

#[test]
fn root_console_socket_shell() {
    let rt = Runtime::new();
    let b = Bundle::new("tty").terminal(true).args(&["sh"]);
    let sock = b.path("console.sock");
    let rx = console_socket(&sock);
    let c = rt.create(&b, &["--console-socket", sock.to_str().unwrap()]);
    let mut master = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no connection on the console socket")
        .expect("receiving the pty master");
    let link = std::fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd())).unwrap();
    assert!(
        link.to_string_lossy().contains("ptmx"),
        "received fd is {link:?}"
    );
    c.start().ok();
    master.write_all(b"echo hi\n").unwrap();
    // The tty echoes the input line, then the shell prints "hi".
    let out = read_until(&mut master, "\nhi\r\n", Duration::from_secs(10));
    assert!(out.contains("echo hi"), "{out:?}");
    // (Marker computed by the shell, so the echoed input cannot match.)
    master
        .write_all(b"[ -t 0 ] && [ -t 1 ] && echo tty-$((40+2)) $(tty)\n")
        .unwrap();
    read_until(
        &mut master,
        "tty-42 /dev/pts/0\r\n",
        Duration::from_secs(10),
    );
    master.write_all(b"exit 7\n").unwrap();
    assert_eq!(c.wait_exit(), 7);
}

#[test]
fn root_terminal_without_console_socket_fails() {
    let rt = Runtime::new();
    let b = Bundle::new("ttynosock").terminal(true).args(&["sh"]);
    let c = rt.guard(&b);
    c.create(&b, &[]).fails();
}

#[test]
fn root_console_socket_not_listening_fails() {
    let rt = Runtime::new();
    let b = Bundle::new("ttybadsock").terminal(true).args(&["sh"]);
    let c = rt.guard(&b);
    let sock = b.path("nobody-listens.sock");
    c.create(&b, &["--console-socket", sock.to_str().unwrap()])
        .fails();
}

#[test]
fn root_exec_tty_console_socket() {
    let rt = Runtime::new();
    let b = Bundle::new("exectty").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let sock = b.path("exec-console.sock");
    let rx = console_socket(&sock);
    let o = c.exec(
        &["-d", "-t", "--console-socket", sock.to_str().unwrap()],
        &["sh"],
    );
    o.ok();
    let mut master = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no connection")
        .expect("pty master");
    master.write_all(b"echo $((6*7))\n").unwrap();
    read_until(&mut master, "\n42\r\n", Duration::from_secs(10));
    master.write_all(b"exit\n").unwrap();
}

/// What a bundle mount puts over the container's /dev/pts/ptmx (the ptmx
/// myrt opens for a terminal): the host's ptmx (a real devpts multiplexer,
/// but of another devpts instance: its ptys are host ptys), or a regular
/// file (made in `b`'s directory).
const IMPOSTORS: [&str; 2] = ["host-ptmx", "file"];

fn impostor(what: &str, b: &Bundle) -> String {
    if what == "host-ptmx" {
        return "/dev/pts/ptmx".into();
    }
    let file = b.path("fake-ptmx");
    std::fs::write(&file, "not a ptmx\n").unwrap();
    file.to_str().unwrap().to_string()
}

/// `mount` over `dest` in the container, after the config's other mounts.
fn bind_over(b: Bundle, src: &str, dest: &str) -> Bundle {
    b.set(
        "/mounts/-",
        serde_json::json!({"destination": dest, "type": "bind", "source": src,
                           "options": ["bind"]}),
    )
}

/// `process.terminal` on create: a /dev/pts/ptmx that is not the ptmx of
/// the container's devpts is refused, naming it, and the failed create
/// leaves no state, cgroup, mount or process behind.
#[test]
fn root_terminal_refuses_a_ptmx_not_of_its_devpts() {
    let rt = Runtime::new();
    for what in IMPOSTORS {
        let b = Bundle::new(&format!("ptmx-{what}"))
            .terminal(true)
            .args(&["sh"]);
        let src = impostor(what, &b);
        let b = bind_over(b, &src, "/dev/pts/ptmx");
        let c = rt.guard(&b);
        let sock = b.path("console.sock");
        let _rx = console_socket(&sock);
        let o = c.create(&b, &["--console-socket", sock.to_str().unwrap()]);
        assert!(
            !o.success(),
            "{what}: create with a foreign ptmx succeeded: {o}"
        );
        assert_myrt_error(
            &c.stderr(),
            "create",
            &b.id,
            &["process.terminal", "/dev/pts/ptmx", "devpts"],
        );
        let left = leftovers(&rt.root, &b.id, &b.dir, &b.cgname());
        assert!(left.is_empty(), "{what}: {left:?}");
    }
}

/// `exec -t`: the same ptmx impostors are refused for the exec'd process's
/// terminal, naming it; the exec fails cleanly and the container runs on.
#[test]
fn root_exec_tty_refuses_a_ptmx_not_of_its_devpts() {
    let rt = Runtime::new();
    for what in IMPOSTORS {
        let b = Bundle::new(&format!("execptmx-{what}")).args(&["sleep", "30"]);
        let src = impostor(what, &b);
        let b = bind_over(b, &src, "/dev/pts/ptmx");
        let c = rt.create_start(&b);
        let o = c.exec(&["-t"], &["true"]);
        assert!(
            !o.success(),
            "{what}: exec -t with a foreign ptmx succeeded: {o}"
        );
        assert_myrt_error(
            &o.stderr,
            "exec",
            &b.id,
            &["process.terminal", "/dev/pts/ptmx", "devpts"],
        );
        assert_eq!(c.status(), "running", "{what}");
        let o = c.exec(&[], &["echo", "still-here"]);
        o.ok();
        assert_eq!(o.stdout, "still-here\n", "{what}: {o}");
    }
}

/// A container's /dev/ptmx is not what myrt opens: with /dev/ptmx made a
/// symlink to the multiplexer of another devpts instance (here one the
/// config mounts at /devpts2), `exec -t` still gives the process a pty of
/// the devpts at the container's /dev/pts (the device of its stdin is
/// /dev/pts's).
#[test]
fn root_exec_tty_ignores_a_replaced_dev_ptmx() {
    let rt = Runtime::new();
    let b = Bundle::new("execdevptmx")
        .set(
            "/mounts/-",
            serde_json::json!({"destination": "/devpts2", "type": "devpts", "source": "devpts",
                               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666"]}),
        )
        .args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    c.exec(&[], &["ln", "-sf", "/devpts2/ptmx", "/dev/ptmx"])
        .ok();
    let o = c.exec(
        &["-t"],
        &[
            "sh",
            "-c",
            "echo tty=$(stat -L -c %d /proc/self/fd/0) pts=$(stat -c %d /dev/pts) other=$(stat -c %d /devpts2)",
        ],
    );
    o.ok();
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("tty="))
        .unwrap_or_else(|| panic!("no output: {o}"))
        .trim()
        .to_string();
    let f: Vec<&str> = line
        .split(' ')
        .map(|kv| kv.split_once('=').map_or("", |(_, v)| v))
        .collect();
    assert_ne!(f[1], f[2], "two devpts instances, one device: {line:?}");
    assert_eq!(
        f[0], f[1],
        "the exec'd process's terminal is not on the container's /dev/pts: {o}"
    );
}
