//! cli: what myrt's command line tells its callers: error lines that say
//! they are errors, log files in the format engines parse, and the commands
//! myrt does not support failing at once.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn root_text_error_lines_say_error() {
    // runc prints `level=error` on stderr in text mode; scripts and test
    // harnesses grep for the word. myrt keeps `myrt: <op> <id>: <cause>`
    // and says `error:` before the cause.
    if !is_myrt() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("nosuch");
    for (op, args) in [
        ("state", vec!["state", id.as_str()]),
        ("kill", vec!["kill", id.as_str(), "KILL"]),
        ("delete", vec!["delete", id.as_str()]),
        ("exec", vec!["exec", id.as_str(), "true"]),
    ] {
        let o = rt.cmd(&args);
        o.fails();
        let prefix = format!("myrt: {op} {id}: error: ");
        assert!(
            o.stderr.lines().any(|l| l.starts_with(&prefix)),
            "no line starting with {prefix:?}: {o}"
        );
        assert_myrt_error(&o.stderr, op, &id, &["does not exist"]);
    }
    let o = rt.cmd(&[]);
    o.fails();
    assert!(o.stderr.contains("error"), "{o}");
}

#[test]
fn root_json_log_lines_stay_as_they_are() {
    // containerd's shim and podman read `--log FILE --log-format json`:
    // one JSON object per error, level "error", msg `<op> <id>: <cause>`.
    if !is_myrt() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("nosuch");
    let log = std::env::temp_dir().join(format!("{id}.log"));
    let o = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    o.fails();
    assert!(
        o.stderr.starts_with(&format!("myrt: state {id}: error: ")),
        "{o}"
    );
    let text = fs::read_to_string(&log).unwrap();
    let _ = fs::remove_file(&log);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error", "{v}");
    assert_eq!(
        v["msg"],
        format!("state {id}: container \"{id}\" does not exist"),
        "{v}"
    );
    assert!(v["time"].is_string(), "{v}");
}

#[test]
fn root_checkpoint_and_restore_fail_at_once() {
    // No criu: both fail at once with a clear error naming the container,
    // touching nothing. `checkpoint --help` fails too: podman probes it
    // and takes exit 0 to mean checkpoint/restore works.
    if !is_myrt() {
        eprintln!("myrt-specific (runc implements checkpoint with criu)");
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new("ckpt").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let images = b.path("images");
    let work = b.path("work");
    for (op, extra) in [
        (
            "checkpoint",
            vec![
                "--image-path",
                images.to_str().unwrap(),
                "--work-path",
                work.to_str().unwrap(),
                "--leave-running",
                "--status-fd",
                "3",
            ],
        ),
        (
            "restore",
            vec![
                "--image-path",
                images.to_str().unwrap(),
                "--bundle",
                b.dir_str(),
                "--detach",
            ],
        ),
    ] {
        let mut args = vec![op];
        args.extend(extra);
        args.push(&c.id);
        let t = Instant::now();
        let o = rt.cmd(&args);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{op} took {:?}",
            t.elapsed()
        );
        assert_eq!(o.code, 1, "{o}");
        assert!(
            o.stderr
                .starts_with(&format!("myrt: {op} {}: error: ", c.id)),
            "{o}"
        );
        assert!(o.stderr.contains("not supported"), "{o}");
        let h = rt.cmd(&[op, "--help"]);
        assert_ne!(h.code, 0, "`{op} --help` must fail: {h}");
    }
    assert!(!images.exists() && !work.exists());
    assert_eq!(c.status(), "running");
    assert!(pid_alive(c.pid()));
}

/// A pipe (read end, write end), both close-on-exec, at fds >= 100.
fn high_pipe() -> (fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut p = [0; 2];
    // SAFETY: p is a valid [c_int; 2] for the two fds.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let r = high_fd(p[0]);
    let w = high_fd(p[1]);
    // SAFETY: closes the original fds, which nothing uses again, and owns
    // their high copies r and w, which nothing else owns.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
        (
            fs::File::from_raw_fd(r),
            std::os::fd::OwnedFd::from_raw_fd(w),
        )
    }
}

/// A close-on-exec copy of `fd` at a number >= 100 (so that the dup2s of
/// `with_fds` never overwrite a source still to be copied).
fn high_fd(fd: i32) -> i32 {
    // SAFETY: fcntl with integer arguments.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
    assert!(n >= 100, "F_DUPFD_CLOEXEC");
    n
}

/// Makes the command's child start with `from` at fd `to` for each pair.
fn with_fds(cmd: &mut std::process::Command, map: Vec<(i32, i32)>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for &(from, to) in &map {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Whether `f` reaches EOF within `t` (nothing else holds its write end).
fn eof_within(f: &mut fs::File, t: Duration) -> bool {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + t;
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for the call.
        if unsafe { libc::poll(&mut pfd, 1, 50) } > 0 {
            match f.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
    false
}

#[test]
fn root_created_init_holds_no_leaked_fds() {
    // The caller of `create --preserve-fds 1` leaked a pipe (fd 5) and the
    // host's / (fd 6) into it. Between create and start, the container's
    // init must hold neither (runc's init, a fresh execve, never has them):
    // a client waiting for EOF on that pipe gets it as soon as `create`
    // has returned. The preserved fd 3 reaches the program.
    let rt = Runtime::new();
    let b = Bundle::new("leakcreate").args(&["sleep", "30"]);
    let marker = b.path("preserved");
    fs::write(&marker, "kept\n").unwrap();
    let c = rt.guard(&b);
    b.write();
    let (mut leak_r, leak_w) = high_pipe();
    let keep = fs::File::open(&marker).unwrap();
    let root = fs::File::open("/").unwrap();
    use std::os::fd::AsRawFd;
    let srcs = [
        high_fd(keep.as_raw_fd()),
        high_fd(leak_w.as_raw_fd()),
        high_fd(root.as_raw_fd()),
    ];
    let mut cmd = rt.command(&[
        "create",
        "--preserve-fds",
        "1",
        "--bundle",
        b.dir_str(),
        &c.id,
    ]);
    with_fds(&mut cmd, vec![(srcs[0], 3), (srcs[1], 5), (srcs[2], 6)]);
    let o = exec_cmd(
        cmd,
        None,
        Sink::Files(c.out_path(), c.err_path()),
        CMD_TIMEOUT,
    );
    for fd in srcs {
        // SAFETY: closes an fd this test owns and does not use again.
        unsafe { libc::close(fd) };
    }
    drop((leak_w, keep, root));
    o.ok();
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    let fds = |pid: i32| -> Vec<(i32, String)> {
        let mut v: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let n: i32 = e.file_name().to_str()?.parse().ok()?;
                let t = fs::read_link(e.path()).ok()?.display().to_string();
                Some((n, t))
            })
            .collect();
        v.sort();
        v
    };
    assert!(
        eof_within(&mut leak_r, Duration::from_secs(2)),
        "the created init holds the leaked pipe: {:?}",
        fds(pid)
    );
    // (By inode: the init may hold the container's root, which reads "/" too.)
    use std::os::unix::fs::MetadataExt;
    let host_root = fs::metadata("/").unwrap();
    let held = fds(pid);
    for (n, _) in &held {
        let m = fs::metadata(format!("/proc/{pid}/fd/{n}"));
        assert!(
            !m.is_ok_and(|m| m.dev() == host_root.dev() && m.ino() == host_root.ino()),
            "the created init holds the host's / at fd {n}: {held:?}"
        );
    }
    c.start().ok();
    let held = wait_until("the init to exec sleep", Duration::from_secs(5), || {
        fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .filter(|p| p.ends_with("busybox"))
            .map(|_| fds(pid))
    });
    let nums: Vec<i32> = held.iter().map(|f| f.0).collect();
    assert_eq!(nums, [0, 1, 2, 3], "fds of the program: {held:?}");
    assert!(held[3].1.ends_with("/preserved"), "{held:?}");
}

#[test]
fn root_container_init_error_line_says_error() {
    // An execve that fails after `create` returned (E2BIG) is printed by
    // the container's init on its stderr, and says it is an error too.
    if !is_myrt() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new("initerr").args(&["echo", &"x".repeat(1 << 20)]);
    let c = rt.create(&b, &[]);
    let o = c.start();
    o.fails();
    assert!(
        o.stderr
            .starts_with(&format!("myrt: start {}: error: ", c.id)),
        "{o}"
    );
    wait_until("the init's error line", CMD_TIMEOUT, || {
        c.stderr()
            .lines()
            .any(|l| l.starts_with("myrt: container init: error: "))
            .then_some(())
    });
}

/// The systemd driver's D-Bus client is the companion executable
/// `myrt-systemd`, found beside the binary: `features` reports the driver
/// (for root and rootless) only where it is installed.
#[test]
fn features_report_systemd_only_beside_its_helper() {
    let dir = std::env::temp_dir().join(format!("myrt-sdhelper-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("myrt");
    fs::copy(runtime_bin(), &bin).unwrap();
    let systemd = || {
        let o = std::process::Command::new(&bin)
            .arg("features")
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let cg = &v["linux"]["cgroup"];
        (cg["systemd"].clone(), cg["systemdUser"].clone())
    };
    let alone = systemd();
    fs::copy(env!("CARGO_BIN_EXE_myrt-systemd"), dir.join("myrt-systemd")).unwrap();
    let beside = systemd();
    let _ = fs::remove_dir_all(&dir);
    let no = (Value::Bool(false), Value::Bool(false));
    let yes = (Value::Bool(true), Value::Bool(true));
    // systemdUser: the driver rootless, through the user's systemd --user.
    assert_eq!(alone, no);
    assert_eq!(beside, yes);
}

/// runc's global `--rootless true|false|auto` is accepted (in both forms,
/// before a subcommand that runs containers too), and a value outside the
/// three is refused with clap's usage status.
#[test]
fn root_rootless_flag_is_accepted_as_runc_takes_it() {
    let rt = Runtime::new();
    for args in [
        &["--rootless", "true", "list"][..],
        &["--rootless=auto", "list", "-q"][..],
        &["--rootless", "false", "list", "--format", "json"][..],
    ] {
        rt.cmd(args).ok();
    }
    let b = Bundle::new("rootlessflag").args(&["true"]);
    b.write();
    let id = unique("rootlessflag");
    let o = rt.cmd(&["--rootless", "auto", "run", "--bundle", b.dir_str(), &id]);
    o.ok();
    let o = rt.cmd(&["--rootless", "maybe", "list"]);
    assert_eq!(o.code, 2, "{o}");
    assert!(o.stderr.contains("--rootless"), "{o}");
}
