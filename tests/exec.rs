//! exec: joining a running container (namespaces, cgroups, identity), its
//! options (-e, --cwd, -u, -p process.json), stdio, and refusals.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;
use std::fs;

fn running<'a>(rt: &'a Runtime, b: &Bundle) -> Container<'a> {
    rt.create_start(b)
}

fn sleeper(name: &str) -> Bundle {
    Bundle::new(name).args(&["sleep", "30"])
}

#[test]
fn root_exec_runs_inside() {
    let rt = Runtime::new();
    let b = sleeper("exec").set("/hostname", json!("inside"));
    let c = running(&rt, &b);
    let o = c.exec(&[], &["sh", "-c", "hostname; echo $$; pwd"]);
    o.ok();
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[0], "inside", "{o}");
    assert_ne!(l[1], "1", "{o}");
    assert!(
        l[1].parse::<u32>().unwrap() < 100,
        "pid {} not in the container's pid ns",
        l[1]
    );
    assert_eq!(l[2], "/", "{o}");
}

#[test]
fn root_exec_same_namespaces_as_init() {
    let rt = Runtime::new();
    let b = sleeper("execns");
    let c = running(&rt, &b);
    let o = c.exec(&[], &["sh", "-c", "ls -l /proc/self/ns/ | sed 's/.*-> //'"]);
    o.ok();
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let want = ns_link(c.pid(), ns);
        assert!(
            o.stdout.lines().any(|l| l == want),
            "{ns} {want} not in {o}"
        );
    }
}

#[test]
fn root_exec_stdin_stdout_stderr() {
    let rt = Runtime::new();
    let b = sleeper("execio");
    let c = running(&rt, &b);
    let o = rt.cmd_input(
        &["exec", &c.id, "sh", "-c", "cat; echo to-err >&2"],
        b"line one\nline two\n",
    );
    o.ok();
    assert_eq!(o.stdout, "line one\nline two\n");
    assert_eq!(o.stderr, "to-err\n");
}

#[test]
fn root_exec_cwd() {
    let rt = Runtime::new();
    let b = sleeper("execcwd");
    let c = running(&rt, &b);
    let o = c.exec(&["--cwd", "/etc"], &["pwd"]);
    o.ok();
    assert_eq!(o.stdout, "/etc\n");
}

#[test]
fn root_exec_user() {
    let rt = Runtime::new();
    let b = sleeper("execuser");
    let c = running(&rt, &b);
    let o = c.exec(&["-u", "1000:1000"], &["id"]);
    o.ok();
    assert!(o.stdout.starts_with("uid=1000 gid=1000"), "{o}");
}

#[test]
fn root_exec_inherits_security_settings() {
    let rt = Runtime::new();
    let b = sleeper("execsec")
        .set("/process/noNewPrivileges", json!(true))
        .set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let c = running(&rt, &b);
    let o = c.exec(&[], &["cat", "/proc/self/status"]);
    o.ok();
    let field = |k: &str| -> String {
        o.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("CapBnd"), "0000000020000420");
    assert!(field("Uid").starts_with("1000"), "{o}");
}

#[test]
fn root_exec_process_json() {
    let rt = Runtime::new();
    let b = sleeper("execp");
    let c = running(&rt, &b);
    let p = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "pwd; echo $bird"],
        "env": ["PATH=/bin", "bird=789"],
        "cwd": "/tmp"
    });
    let pf = b.path("process.json");
    fs::write(&pf, serde_json::to_vec(&p).unwrap()).unwrap();
    let o = c.exec(&["-p", pf.to_str().unwrap()], &[]);
    o.ok();
    assert_eq!(o.stdout, "/tmp\n789\n");
}

#[test]
fn root_exec_missing_binary_fails() {
    let rt = Runtime::new();
    let b = sleeper("execmissing");
    let c = running(&rt, &b);
    let o = c.exec(&[], &["/no/such/binary"]);
    o.fails();
    assert_eq!(c.status(), "running");
}

#[test]
fn root_exec_in_stopped_container_fails() {
    let rt = Runtime::new();
    let b = Bundle::new("execstopped").sh("exit 0");
    let c = running(&rt, &b);
    assert_eq!(c.wait_exit(), 0);
    c.wait_status("stopped");
    c.exec(&[], &["true"]).fails();
}

#[test]
fn root_exec_in_paused_container_fails() {
    let rt = Runtime::new();
    let b = sleeper("execpaused");
    let c = running(&rt, &b);
    c.cmd(&["pause", &c.id]).ok();
    c.exec(&[], &["true"]).fails();
    c.cmd(&["resume", &c.id]).ok();
    c.exec(&[], &["true"]).ok();
}

#[test]
fn root_exec_unknown_container_fails() {
    let rt = Runtime::new();
    rt.cmd(&["exec", &unique("nosuch"), "true"]).fails();
}

#[test]
fn root_exec_pid_file() {
    let rt = Runtime::new();
    let b = sleeper("execpidfile");
    let c = running(&rt, &b);
    let pf = b.path("exec.pid");
    let o = c.exec(
        &["--pid-file", pf.to_str().unwrap()],
        &["sh", "-c", "cut -d' ' -f4 /proc/self/stat"],
    );
    o.ok();
    let content = fs::read_to_string(&pf).unwrap();
    assert!(
        !content.is_empty() && content.bytes().all(|b| b.is_ascii_digit()),
        "{content:?}"
    );
}

#[test]
fn root_exec_concurrent() {
    let rt = Runtime::new();
    let b = sleeper("execmany");
    let c = running(&rt, &b);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let rt = &rt;
                let id = c.id.clone();
                s.spawn(move || rt.cmd(&["exec", &id, "sh", "-c", &format!("echo {i}")]))
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            let o = h.join().unwrap();
            o.ok();
            assert_eq!(o.stdout, format!("{i}\n"));
        }
    });
}

/// `exec -d --preserve-fds N`, as runc does it: the detached process gets
/// the caller's fds 3..3+N and nothing above; a pipe the caller leaked at
/// fd >= 3+N reaches EOF as soon as `exec` has returned (a client waiting
/// on it, as conmon and the shims do, is not held until the process ends).
#[test]
fn root_exec_detached_preserve_fds_exactly_as_runc() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    fn pipe() -> (fs::File, OwnedFd) {
        let mut p = [0; 2];
        // SAFETY: p is a valid [c_int; 2] for the two fds.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the fd was just received or created, and nothing else owns it.
        unsafe { (fs::File::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) }
    }
    /// Everything until EOF, or None if EOF does not come within `t`.
    fn read_to_eof(f: &mut fs::File, t: Duration) -> Option<String> {
        let deadline = Instant::now() + t;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pfd = libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: pfd is a valid pollfd for the call.
            if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } <= 0 {
                continue;
            }
            match f.read(&mut buf) {
                Ok(0) => return Some(String::from_utf8_lossy(&out).into_owned()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
    }

    let rt = Runtime::new();
    let b = sleeper("execdpfd").env(&["PATH=/bin"]);
    let c = running(&rt, &b);
    let (mut r3, w3) = pipe();
    let (mut leak_r, leak_w) = pipe();
    let marker = b.path("marker");
    fs::write(&marker, "host-file\n").unwrap();
    let hostname = fs::File::open(&marker).unwrap();
    let root = fs::File::open("/").unwrap();
    // Into the runtime: fd 3 = a pipe to us, fd 4 = a host file (both
    // preserved), fd 5 = another pipe to us and fd 7 = the host's / (leaked).
    // Copies at fd >= 100 (close-on-exec), so that no dup2 below
    // overwrites a source still to be copied.
    // SAFETY: fcntl with integer arguments.
    let high = |fd: i32| unsafe {
        let n = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
        assert!(n >= 100, "F_DUPFD_CLOEXEC");
        OwnedFd::from_raw_fd(n)
    };
    let srcs = [
        high(w3.as_raw_fd()),
        high(hostname.as_raw_fd()),
        high(leak_w.as_raw_fd()),
        high(root.as_raw_fd()),
    ];
    let map = [
        (srcs[0].as_raw_fd(), 3),
        (srcs[1].as_raw_fd(), 4),
        (srcs[2].as_raw_fd(), 5),
        (srcs[3].as_raw_fd(), 7),
    ];
    let mut cmd = rt.command(&[
        "exec",
        "-d",
        "--preserve-fds",
        "2",
        &c.id,
        "sh",
        "-c",
        "exec >&3; ls /proc/$$/fd; cat <&4; sleep 1",
    ]);
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for (from, to) in map {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let o = exec_cmd(
        cmd,
        None,
        Sink::Files(b.path("x.out"), b.path("x.err")),
        CMD_TIMEOUT,
    );
    o.ok();
    drop((w3, leak_w, hostname, root, srcs));
    assert_eq!(
        read_to_eof(&mut leak_r, Duration::from_secs(1)),
        Some(String::new()),
        "a leaked fd (5) reached the detached process: its pipe stays open"
    );
    let got = read_to_eof(&mut r3, Duration::from_secs(10)).expect("fd 3 never reached EOF");
    let listed: Vec<i32> = got.lines().filter_map(|l| l.parse().ok()).collect();
    assert_eq!(listed, [0, 1, 2, 3, 4], "fds of the process: {got:?}");
    assert!(
        got.ends_with("host-file\n"),
        "fd 4 did not read the host file: {got:?}"
    );
}

/// A child with exactly pid `pid` (clone3 `set_tid`), running `sleep 60` in
/// our own namespaces: a process that recycled a container's pid.
fn spawn_with_pid(pid: i32) -> i32 {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let tid = [pid];
    let prog = c"/bin/sleep";
    let argv = [c"sleep".as_ptr(), c"60".as_ptr(), std::ptr::null()];
    let mut args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // SAFETY: args is a valid clone_args of the size given; the child only execs or exits.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r == 0 {
        // SAFETY: prog and argv are NUL-terminated and live; _exit if execv returns.
        unsafe {
            libc::execv(prog.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    assert_eq!(
        r,
        pid as i64,
        "clone3 set_tid {pid}: {}",
        std::io::Error::last_os_error()
    );
    pid
}

/// Stale pids: `exec` must join the container it checked, never whatever
/// process holds the container's pid number when it joins. The exec is
/// stopped right after its liveness check (myrt's debug fault point
/// `exec:1:stop`); meanwhile the container's init dies and is reaped, and
/// a process of the host (our own namespaces) takes its pid. Joining by
/// pid number would run the command in the host's namespaces (nothing to
/// join: they are ours) — a container process outside the container.
/// Joining through a pidfd opened before the check fails instead.
#[test]
fn root_exec_never_joins_a_recycled_pid() {
    if !is_myrt() {
        eprintln!("skipped: needs myrt's fault points");
        return;
    }
    let rt = Runtime::new();
    let b = sleeper("stalepid").set("/hostname", json!("inside"));
    let c = running(&rt, &b);
    let pid = c.pid();
    let mut cmd = rt.command(&["exec", &c.id, "hostname"]);
    cmd.env("MYRT_FAULT", "exec:1:stop")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let exec = cmd.spawn().unwrap();
    let epid = exec.id() as i32;
    wait_until("exec stopped after its liveness check", CMD_TIMEOUT, || {
        let stat = fs::read_to_string(format!("/proc/{epid}/stat")).ok()?;
        let state = stat[stat.rfind(')')? + 2..].chars().next()?;
        (state == 'T').then_some(())
    });
    sigkill(pid);
    assert!(wait_pid(pid, CMD_TIMEOUT).is_some(), "init not reaped");
    let decoy = spawn_with_pid(pid);
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child.
    unsafe { libc::kill(epid, libc::SIGCONT) };
    let o = exec.wait_with_output().unwrap();
    sigkill(decoy);
    wait_pid(decoy, CMD_TIMEOUT);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success(),
        "exec ran in the namespaces of the process that recycled the init's pid \
         (printed hostname {out:?}); stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    drop(c);
}

/// `exec --cgroup SUB` (runc's flag): the process joins the sub-cgroup SUB
/// of the container's cgroup, in every hierarchy (v1) or the one (v2);
/// a SUB that does not exist, leaves the container's cgroup, or uses the
/// v1 `controller:path` form is refused, naming the flag. Without a cgroup
/// namespace, /proc/self/cgroup shows the full paths.
#[test]
fn root_exec_cgroup_flag_joins_a_sub_cgroup() {
    let rt = Runtime::new();
    let b = Bundle::new("execsubcg").args(&["sleep", "300"]).with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup")
    });
    let c = rt.create_start(&b);
    let dirs = cgroup_dirs(&b.cgname());
    assert!(!dirs.is_empty());
    for d in &dirs {
        fs::create_dir(d.join("work")).unwrap();
        // A v1 cpuset cgroup takes no process before it has cpus and mems.
        // (On v2 the sub-cgroup has no cpuset files: no controller is
        // enabled for it.)
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let sub = d.join("work").join(f);
            if let Ok(v) = fs::read_to_string(d.join(f))
                && sub.exists()
            {
                fs::write(sub, v.trim()).unwrap();
            }
        }
    }
    let o = c.exec(&["--cgroup", "work"], &["cat", "/proc/self/cgroup"]);
    o.ok();
    let name = b.cgname();
    let mine: Vec<&str> = o.stdout.lines().filter(|l| l.contains(&name)).collect();
    assert_eq!(mine.len(), dirs.len(), "{o}");
    assert!(
        mine.iter().all(|l| l.ends_with(&format!("{name}/work"))),
        "{o}"
    );
    // `ps` lists the processes of sub-cgroups too (runc's does).
    let pid_file = b.path("sub.pid");
    c.exec(
        &[
            "-d",
            "--cgroup",
            "work",
            "--pid-file",
            pid_file.to_str().unwrap(),
        ],
        &["sh", "-c", "exec sleep 300 </dev/null >/dev/null 2>&1"],
    )
    .ok();
    let sub_pid = fs::read_to_string(&pid_file).unwrap();
    let o = c.cmd(&["ps", "--format", "json", &c.id]);
    o.ok();
    let listed: Vec<i64> = serde_json::from_str(&o.stdout).unwrap();
    assert!(
        listed.contains(&sub_pid.trim().parse().unwrap()),
        "{sub_pid}: {o}"
    );
    let o = c.exec(&["--cgroup", "/"], &["cat", "/proc/self/cgroup"]);
    o.ok();
    assert!(
        o.stdout
            .lines()
            .filter(|l| l.contains(&name))
            .all(|l| l.ends_with(&name)),
        "{o}"
    );
    for bad in ["nosuch", "../x", "work/../../x", "pids:/work"] {
        let o = c.exec(&["--cgroup", bad], &["true"]);
        assert_eq!(o.code, 255, "{bad}: {o}");
        assert_myrt_error(&o.stderr, "exec", &c.id, &["--cgroup"]);
    }
    c.kill("KILL").ok();
    // The detached exec'd process was re-parented to us (subreaper): its
    // pid namespace's init finishes exiting once we reap it.
    let sub_pid: i32 = sub_pid.trim().parse().unwrap();
    assert!(
        wait_pid(sub_pid, CMD_TIMEOUT).is_some(),
        "{sub_pid} not reaped"
    );
    c.wait_status("stopped");
    c.delete().ok();
    assert!(cgroup_dirs(&name).is_empty(), "{:?}", cgroup_dirs(&name));
}
