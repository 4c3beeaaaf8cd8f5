//! Isolation that must never fail open (issue 7): ids the kernel would read
//! as "unchanged", the state root's mode, the pid file's temp file, the
//! default device policy, cgroups that belong to someone else, and input
//! that must give an error rather than a panic.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

// ---------------------------------------------------------------------------
// process.user: ids outside 0..2^31-1

/// (uid_t)-1 means "leave unchanged" to setresuid: a config with uid
/// 4294967295 ran its process as root. Such ids (and any above 2^31-1) are
/// refused, naming the field, as runc does.
#[test]
fn root_user_id_minus_one_is_refused() {
    let rt = Runtime::new();
    for (user, field) in [
        (
            json!({"uid": 4294967295u32, "gid": 1000}),
            "process.user.uid",
        ),
        (
            json!({"uid": 1000, "gid": 4294967295u32}),
            "process.user.gid",
        ),
        (
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 4294967295u32]}),
            "process.user.additionalGids[1]",
        ),
        (
            json!({"uid": 2147483648u32, "gid": 1000}),
            "process.user.uid",
        ),
    ] {
        let b = Bundle::new("uidneg")
            .set("/process/user", user.clone())
            .sh("id -u; id -g; id -G");
        let o = rt.run(&b);
        o.fails();
        assert!(
            !o.stdout.lines().any(|l| l == "0"),
            "ran as root with {user}: {o}"
        );
        assert_myrt_error(&o.stderr, "run", &b.id, &[field]);
    }
}

/// `exec --user 4294967295` is refused as well (it went through the same
/// unchecked setresuid).
#[test]
fn root_exec_user_id_minus_one_is_refused() {
    let rt = Runtime::new();
    let b = Bundle::new("uidexec").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    for user in ["4294967295", "1000:4294967295"] {
        let o = c.exec(&["--user", user], &["id", "-u"]);
        o.fails();
        assert_ne!(o.stdout.trim(), "0", "exec --user {user} ran as root: {o}");
        assert_myrt_error(&o.stderr, "exec", &c.id, &["process.user"]);
    }
    let o = c.exec(
        &["--user", "1000", "--additional-gids", "4294967295"],
        &["id", "-u"],
    );
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "exec",
        &c.id,
        &["process.user.additionalGids[0]"],
    );
}

// ---------------------------------------------------------------------------
// --root

/// `--root` on a directory that exists must not change it (`--root /tmp`
/// once chmodded /tmp to 0700); a root myrt makes itself is 0700.
#[test]
fn root_state_root_mode_left_alone() {
    let base = std::env::temp_dir().join(unique("myrt-rootmode"));
    fs::create_dir_all(&base).unwrap();
    fs::set_permissions(&base, fs::Permissions::from_mode(0o1777)).unwrap();
    let b = Bundle::new("rootmode").args(&["true"]);
    b.write();
    let run = |root: &Path| {
        let mut c = std::process::Command::new(runtime_bin());
        c.arg("--root")
            .arg(root)
            .args(["run", "--bundle", b.dir_str(), &b.id]);
        exec_cmd(c, None, Sink::Pipe, std::time::Duration::from_secs(30))
    };
    run(&base).ok();
    let mode = fs::metadata(&base).unwrap().mode() & 0o7777;
    assert_eq!(
        mode, 0o1777,
        "--root changed an existing directory to {mode:o}"
    );

    let fresh = base.join("a/b/state");
    run(&fresh).ok();
    assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(base.join("a")).unwrap().mode() & 0o777, 0o755);
    fs::remove_dir_all(&base).unwrap();
}

// ---------------------------------------------------------------------------
// --pid-file

/// The pid file is written through a temp file next to it. That temp file
/// must be a new file (O_EXCL|O_NOFOLLOW): a symlink planted at its name in
/// a directory others can write would make the runtime overwrite any file of
/// the host. The runtime runs in a private pid namespace here, so its pid
/// (and the temp file's name) is known in advance.
#[test]
fn root_pid_file_temp_never_follows_symlinks() {
    let rt = Runtime::new();
    let b = Bundle::new("pidtmp").args(&["sleep", "30"]);
    b.write();
    let victim = b.path("victim");
    fs::write(&victim, "precious").unwrap();
    let dir = b.path("pids");
    fs::create_dir(&dir).unwrap();
    for pid in 1..64 {
        std::os::unix::fs::symlink(&victim, dir.join(format!("c.tmp{pid}"))).unwrap();
    }
    let pidfile = dir.join("c.pid");
    let _c = rt.guard(&b);
    let bin = runtime_bin();
    let root = rt.root.display().to_string();
    let script = format!(
        "{bin} --root {root} create --bundle {} --pid-file {} {id} >/dev/null 2>{err}; echo create=$?; \
         cat {} 2>/dev/null; echo; {bin} --root {root} delete -f {id}",
        b.dir_str(),
        pidfile.display(),
        pidfile.display(),
        id = b.id,
        err = b.path("create.err").display(),
    );
    let o = host(
        "unshare",
        &["--pid", "--fork", "--mount-proc", "sh", "-c", &script],
    );
    let err = fs::read_to_string(b.path("create.err")).unwrap_or_default();
    assert!(o.stdout.starts_with("create=0\n"), "{o}\n{err}");
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious",
        "the pid file's temp file followed a symlink"
    );
    let pid: i32 = o.stdout.lines().nth(1).unwrap_or("").parse().unwrap_or(0);
    assert!(pid > 1, "pid file: {o}");
    assert!(
        fs::symlink_metadata(&pidfile)
            .unwrap()
            .file_type()
            .is_file()
    );
}

// ---------------------------------------------------------------------------
// The device policy: default deny

/// A bundle that bind-mounts two device nodes made in the bundle (so they
/// are the host's devices, reachable through the bind): `/dev/hostchr` is
/// c 10:229 (the FUSE device) and `/dev/hostblk` is b 7:0 (the first loop
/// device), both outside the default allow list. The script prints, for
/// each, whether it could be opened for reading and for writing.
fn device_bundle(name: &str) -> Bundle {
    Bundle::new(name)
        .with_host_devices()
        .sh("for d in hostchr hostblk; do \
           (exec 3</dev/$d) 2>/dev/null && echo $d-r-open || echo $d-r-denied; \
           (exec 3>/dev/$d) 2>/dev/null && echo $d-w-open || echo $d-w-denied; \
         done; (exec 3<>/dev/null) && echo null-ok")
}

const ALL_DENIED: &str =
    "hostchr-r-denied\nhostchr-w-denied\nhostblk-r-denied\nhostblk-w-denied\nnull-ok\n";

/// Without `linux.resources.devices`, or with rules but no deny-all among
/// them, a bind-mounted host device must still be denied (runc and crun
/// start from deny-all); the defaults stay usable.
#[test]
fn root_devices_default_deny() {
    let rt = Runtime::new();
    let cases: [(&str, Option<serde_json::Value>); 4] = [
        ("no resources", None),
        ("no devices", Some(json!({}))),
        ("empty devices", Some(json!({"devices": []}))),
        (
            "allow only",
            Some(
                json!({"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}),
            ),
        ),
    ];
    for (what, res) in cases {
        let b = device_bundle("devdeny").with(|v| match &res {
            None => json_remove(v, "/linux/resources"),
            Some(r) => json_set(v, "/linux/resources", r.clone()),
        });
        let o = rt.run(&b);
        o.ok();
        assert_eq!(o.stdout, ALL_DENIED, "{what}: {o}");
    }
}

/// Every node of `linux.devices` is allowed: with no device rules, or with
/// rules that do not reset the list, the container can use the devices it
/// was given; other devices stay denied. The config's own rules come after
/// the nodes, so a deny-all there still denies them (runtime-spec order, and
/// what conformance/ checks).
#[test]
fn root_devices_linux_devices_are_allowed() {
    let rt = Runtime::new();
    let probe = "(exec 3<>/dev/fuse) 2>/dev/null && echo fuse-ok || echo fuse-denied; \
                 (exec 3</dev/hostblk) 2>/dev/null && echo blk-open || echo blk-denied";
    let allow_null = json!([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]);
    let deny_all = json!([{"allow": false, "access": "rwm"}]);
    for (devices, want) in [
        (None, "fuse-ok\nblk-denied\n"),
        (Some(allow_null), "fuse-ok\nblk-denied\n"),
        (Some(deny_all), "fuse-denied\nblk-denied\n"),
    ] {
        let b = device_bundle("devnodes")
            .set(
                "/linux/devices",
                json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]),
            )
            .with(|v| match &devices {
                None => json_remove(v, "/linux/resources/devices"),
                Some(d) => json_set(v, "/linux/resources/devices", d.clone()),
            })
            .sh(probe);
        let o = rt.run(&b);
        o.ok();
        assert_eq!(o.stdout, want, "devices {devices:?}: {o}");
    }
}

/// Counts writes to each of `files` (inotify IN_MODIFY: every write(2) to a
/// cgroup file makes one) while `f` runs.
fn writes_during(files: &[std::path::PathBuf], f: impl FnOnce()) -> Vec<usize> {
    // SAFETY: no pointer arguments.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    assert!(fd >= 0);
    let mut wds = Vec::new();
    for p in files {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: c is NUL-terminated and outlives the call.
        let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_MODIFY) };
        assert!(
            wd >= 0,
            "watch {}: {}",
            p.display(),
            std::io::Error::last_os_error()
        );
        wds.push(wd);
    }
    f();
    let mut n = vec![0; files.len()];
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r <= 0 {
            break;
        }
        let mut off = 0usize;
        while off < r as usize {
            // SAFETY: the kernel writes whole events; off is the start of one within the r bytes read.
            let ev = unsafe { &*(buf.as_ptr().add(off) as *const libc::inotify_event) };
            if let Some(i) = wds.iter().position(|&w| w == ev.wd) {
                n[i] += 1;
            }
            off += std::mem::size_of::<libc::inotify_event>() + ev.len as usize;
        }
    }
    // SAFETY: closes an fd this test owns and does not use again.
    unsafe { libc::close(fd) };
    n
}

/// cgroup v1: `update` must not rewrite the device list when it does not
/// change (deny-all then allow again made every open in the container fail
/// for a moment), and a change adds the new rule without a reset. The
/// `linux.devices` nodes stay allowed across updates.
#[test]
fn root_devices_update_does_not_flap() {
    if is_cgroup2() {
        eprintln!("v1 only (the v2 program is swapped without a gap)");
        return;
    }
    let rt = Runtime::new();
    let b = device_bundle("devflap")
        .set(
            "/linux/devices",
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]),
        )
        .remove("/linux/resources/devices")
        .args(&["sleep", "60"]);
    let c = rt.create_start(&b);
    let dir = cgroup_v1_dir("devices", &c.cgname);
    let files = [dir.join("devices.allow"), dir.join("devices.deny")];
    let before = cgroup_read("devices", &c.cgname, "devices.list");
    assert!(before.lines().any(|l| l == "c 10:229 rwm"), "{before}");
    let n = writes_during(&files, || {
        c.cmd(&["update", "--pids-limit", "100", &c.id]).ok();
    });
    assert_eq!(n, [0, 0], "update rewrote the unchanged device list");
    assert_eq!(cgroup_read("devices", &c.cgname, "devices.list"), before);

    // A new rule: one write to devices.allow, no reset through devices.deny.
    let r = b.path("res.json");
    fs::write(
        &r,
        json!({"devices": [{"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}]})
            .to_string(),
    )
    .unwrap();
    let n = writes_during(&files, || {
        c.cmd(&["update", "-r", r.to_str().unwrap(), &c.id]).ok();
    });
    assert_eq!(
        n,
        [1, 0],
        "update should only add b 7:0 r (allow, deny writes)"
    );
    let after = cgroup_read("devices", &c.cgname, "devices.list");
    assert!(after.lines().any(|l| l == "b 7:0 r"), "{after}");
    assert!(after.lines().any(|l| l == "c 10:229 rwm"), "{after}");
    let o = c.exec(&[], &["sh", "-c", "(exec 3</dev/hostblk) && echo blk-r-ok"]);
    assert_eq!(o.stdout, "blk-r-ok\n", "{o}");

    // Taking the rule away: one write to devices.deny, nothing else.
    fs::write(&r, json!({"devices": []}).to_string()).unwrap();
    let n = writes_during(&files, || {
        c.cmd(&["update", "-r", r.to_str().unwrap(), &c.id]).ok();
    });
    assert_eq!(
        n,
        [0, 1],
        "update should only remove b 7:0 r (allow, deny writes)"
    );
    assert_eq!(cgroup_read("devices", &c.cgname, "devices.list"), before);
    let o = c.exec(
        &[],
        &[
            "sh",
            "-c",
            "(exec 3</dev/hostblk) 2>/dev/null || echo blk-denied",
        ],
    );
    assert_eq!(o.stdout, "blk-denied\n", "{o}");
}

// ---------------------------------------------------------------------------
// cgroups that were there before the container

/// A cgroup `/myrt-test/<name>` made by the test (not by the runtime) in
/// every hierarchy, removed (after its sleeper is killed) on drop.
struct ForeignCgroup {
    dirs: Vec<std::path::PathBuf>,
    sleeper: Option<std::process::Child>,
}

impl ForeignCgroup {
    fn new(name: &str) -> ForeignCgroup {
        let mut dirs = Vec::new();
        for m in cgroup_mounts() {
            let d = m.join(CGROUP_PARENT.trim_start_matches('/')).join(name);
            fs::create_dir_all(&d).unwrap();
            // A v1 cpuset cgroup takes no task until cpuset.cpus and
            // cpuset.mems are set, and a freshly made parent (/myrt-test on a
            // clean host) has them empty too: fill the chain from the top.
            let below: Vec<&Path> = d
                .ancestors()
                .take_while(|a| a.starts_with(&m) && *a != m.as_path())
                .collect();
            for dir in below.into_iter().rev() {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let mine = fs::read_to_string(dir.join(f)).unwrap_or_default();
                    if !mine.trim().is_empty() {
                        continue;
                    }
                    if let Ok(v) = fs::read_to_string(dir.parent().unwrap().join(f)) {
                        let _ = fs::write(dir.join(f), v.trim());
                    }
                }
            }
            dirs.push(d);
        }
        ForeignCgroup {
            dirs,
            sleeper: None,
        }
    }

    /// Puts a `sleep` of the test's own into the cgroup (in every hierarchy).
    fn populate(&mut self) -> i32 {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Kept before the joins: if one fails, Drop still kills the sleeper,
        // so the directories it already joined can be removed.
        self.sleeper = Some(child);
        for d in &self.dirs {
            fs::write(d.join("cgroup.procs"), pid.to_string())
                .unwrap_or_else(|e| panic!("join {}: {e}", d.display()));
        }
        pid
    }

    fn all_exist(&self) -> bool {
        self.dirs.iter().all(|d| d.is_dir())
    }
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        if let Some(mut c) = self.sleeper.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

/// `create` into a cgroup that already holds processes is refused ("cgroup
/// is not empty", as runc), and the failed create neither kills those
/// processes nor removes the cgroup (it did both).
#[test]
fn root_cgroup_in_use_is_refused_and_left_alone() {
    let rt = Runtime::new();
    let b = Bundle::new("cgbusy").args(&["true"]);
    let name = unique("foreign");
    let mut fc = ForeignCgroup::new(&name);
    let pid = fc.populate();
    let b = b.set(
        "/linux/cgroupsPath",
        json!(format!("{CGROUP_PARENT}/{name}")),
    );
    b.write();
    let o = rt.cmd(&["create", "--bundle", b.dir_str(), &b.id]);
    if o.success() {
        rt.cmd(&["delete", "-f", &b.id]);
    }
    o.fails();
    assert!(o.stderr.contains("not empty"), "{o}");
    assert_myrt_error(&o.stderr, "create", &b.id, &["linux.cgroupsPath"]);
    assert!(
        pid_alive(pid),
        "the failed create killed a process it did not start"
    );
    assert!(
        fc.all_exist(),
        "the failed create removed a cgroup it did not create"
    );
}

/// A cgroup that exists but is empty may be used; a create that fails later
/// (here: a limit the host refuses) and a delete after a run both leave it
/// in place: myrt removes only what it created.
#[test]
fn root_cgroup_not_created_is_never_removed() {
    let rt = Runtime::new();
    let name = unique("foreign");
    let fc = ForeignCgroup::new(&name);
    let path = json!(format!("{CGROUP_PARENT}/{name}"));
    // Fails after the cgroup was set up: v1 has no unified settings, v2 no
    // such file.
    let b = Bundle::new("cgfail")
        .args(&["true"])
        .set("/linux/cgroupsPath", path.clone())
        .set(
            "/linux/resources/unified",
            json!({"memory.nonexistent": "1"}),
        );
    b.write();
    let o = rt.cmd(&["create", "--bundle", b.dir_str(), &b.id]);
    o.fails();
    assert!(
        fc.all_exist(),
        "a failed create removed a cgroup it did not create: {o}"
    );

    let b = Bundle::new("cgshare")
        .sh("echo ran")
        .set("/linux/cgroupsPath", path);
    b.write();
    let o = rt.cmd(&["run", "--bundle", b.dir_str(), &b.id]);
    o.ok();
    assert_eq!(o.stdout, "ran\n");
    assert!(fc.all_exist(), "delete removed a cgroup it did not create");
}

// ---------------------------------------------------------------------------
// No panic reachable from input

/// A command's failure must be an error (status 1, a line naming the
/// argument or field), never a panic (which, with panic=abort, skips every
/// clean-up).
#[track_caller]
fn assert_error_not_panic(o: &Output, names: &[&str]) {
    assert!(!o.stderr.contains("panicked"), "panic: {o}");
    assert_eq!(o.code, 1, "{o}");
    for n in names {
        assert!(o.stderr.contains(n), "error does not name {n}: {o}");
    }
}

#[test]
fn root_hook_timeout_near_i64_max_is_an_error() {
    let rt = Runtime::new();
    for t in [i64::MAX, i64::MAX / 1000, 1i64 << 40] {
        let b = Bundle::new("hooktmo").args(&["true"]).set(
            "/hooks/createRuntime",
            json!([{"path": "/bin/true", "timeout": t}]),
        );
        let o = rt.run(&b);
        assert_error_not_panic(&o, &["hooks.createRuntime[0].timeout"]);
    }
}

#[test]
fn root_cli_numbers_are_errors_not_panics() {
    let rt = Runtime::new();
    let b = Bundle::new("clinum").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    for v in [
        "99999999999999999g",
        "9223372036854775807k",
        "-5m",
        "12x",
        "g",
    ] {
        let o = c.cmd(&["update", &format!("--memory={v}"), &c.id]);
        assert_error_not_panic(&o, &["--memory"]);
    }
    for v in [
        "infs",
        "nan",
        "-1s",
        "1e400s",
        "0s",
        "9999999999999999h",
        "5 parsecs",
    ] {
        let mut cmd = rt.command(&["events", &format!("--interval={v}"), &c.id]);
        cmd.stdin(std::process::Stdio::null());
        let o = exec_cmd(cmd, None, Sink::Pipe, std::time::Duration::from_secs(10));
        assert_error_not_panic(&o, &["--interval"]);
    }
    for sig in [
        "RTMIN+2147483647",
        "RTMIN+100",
        "RTMIN+-1",
        "RTMAX-99",
        "99",
    ] {
        let o = c.cmd(&["kill", &c.id, sig]);
        assert_error_not_panic(&o, &["invalid signal"]);
    }
    let o = c.exec(&["--preserve-fds", "4294967295"], &["true"]);
    assert!(!o.stderr.contains("panicked"), "{o}");
    assert!(o.stderr.contains("--preserve-fds"), "{o}");
    // Still a working container, and sane values still work.
    c.cmd(&["update", "--memory", "64m", &c.id]).ok();
    assert_eq!(cgroup_read_limit(&c.cgname), 64 << 20);
    c.cmd(&["events", "--stats", "--interval", "250ms", &c.id])
        .ok();
}

/// The memory limit of container cgroup `cg` (v1 or v2).
fn cgroup_read_limit(cg: &str) -> i64 {
    let s = if is_cgroup2() {
        cgroup_v2_read(cg, "memory.max")
    } else {
        cgroup_read("memory", cg, "memory.limit_in_bytes")
    };
    s.parse().unwrap()
}

/// `myrt features | head -c1`: the reader is gone before myrt writes. That
/// ends the command quietly (status 141, like SIGPIPE), it is no panic.
#[test]
fn root_closed_stdout_is_not_a_panic() {
    let rt = Runtime::new();
    let b = Bundle::new("epipe").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    for args in [
        vec!["features"],
        vec!["state", &c.id],
        vec!["list"],
        vec!["--version"],
    ] {
        // CLOEXEC: a child another test spawns meanwhile must not inherit
        // the read end (the write would then succeed: a flake in CI).
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        drop(r);
        let mut cmd = rt.command(&args);
        cmd.stdout(std::process::Stdio::from(w));
        let o = cmd.stderr(std::process::Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(141), "{args:?}: {:?} {err}", o.status);
    }
}

// ---------------------------------------------------------------------------
// The kernel floor

/// Runs the runtime with `args` under a seccomp filter that makes the
/// system calls `nrs` fail with ENOSYS, as on a kernel without them.
fn without_syscalls(rt: &Runtime, nrs: &[libc::c_long], args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf: 0,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut f = vec![
        stmt(ld, 4),
        jeq(AUDIT_ARCH_X86_64, 1),
        stmt(ret, RET_ALLOW),
        stmt(ld, 0),
    ];
    let n = nrs.len() as u8;
    for (i, &nr) in nrs.iter().enumerate() {
        // To the ENOSYS return after the remaining checks and the allow.
        f.push(jeq(nr as u32, n - i as u8));
    }
    f.push(stmt(ret, RET_ALLOW));
    f.push(stmt(ret, RET_ENOSYS));
    let filter = Box::leak(f.into_boxed_slice());
    let prog = Box::leak(Box::new(libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    }));
    let prog_addr = prog as *const libc::sock_fprog as usize;
    let mut cmd = rt.command(args);
    // SAFETY: only async-signal-safe prctl calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, prog_addr) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    exec_cmd(cmd, None, Sink::Pipe, std::time::Duration::from_secs(30))
}

/// A kernel without a system call myrt needs gives a clear "kernel too old"
/// error naming the call and the Linux release that has it.
#[cfg(target_arch = "x86_64")]
#[test]
fn root_kernel_too_old_is_a_clear_error() {
    let rt = Runtime::new();
    let b = Bundle::new("oldkernel").args(&["true"]);
    b.write();
    let run = ["run", "--bundle", b.dir_str(), &b.id];
    let o = without_syscalls(&rt, &[libc::SYS_openat2], &run);
    o.fails();
    assert!(
        o.stderr
            .contains("kernel too old: openat2 needs Linux >= 5.6"),
        "{o}"
    );
    assert!(rt.try_state(&b.id).is_none(), "{o}");

    let b = Bundle::new("oldkernel2").sh("true").with(|v| {
        v["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["rbind", "rro"]}),
        )
    });
    b.write();
    let run = ["run", "--bundle", b.dir_str(), &b.id];
    let o = without_syscalls(&rt, &[libc::SYS_mount_setattr], &run);
    o.fails();
    assert!(
        o.stderr
            .contains("kernel too old: mount_setattr needs Linux >= 5.12"),
        "{o}"
    );

    let b = Bundle::new("oldkernel3").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let o = without_syscalls(&rt, &[libc::SYS_pidfd_open], &["kill", &c.id, "KILL"]);
    o.fails();
    assert!(
        o.stderr
            .contains("kernel too old: pidfd_open needs Linux >= 5.3"),
        "{o}"
    );
}

/// Numbers that do not fit the kernel's types are refused naming the field
/// (they were truncated silently).
#[test]
fn root_out_of_range_numbers_are_refused() {
    let rt = Runtime::new();
    let cases = [
        (
            "/linux/devices",
            json!([{"path": "/dev/x", "type": "c", "major": -1, "minor": 3}]),
            "linux.devices[0].major",
        ),
        (
            "/linux/devices",
            json!([{"path": "/dev/x", "type": "c", "major": 4096, "minor": 3}]),
            "linux.devices[0].major",
        ),
        (
            "/linux/devices",
            json!([{"path": "/dev/x", "type": "c", "major": 1, "minor": 1048576}]),
            "linux.devices[0].minor",
        ),
        (
            "/process/consoleSize",
            json!({"height": 65536, "width": 80}),
            "process.consoleSize.height",
        ),
    ];
    for (ptr, v, field) in cases {
        let b = Bundle::new("range").args(&["true"]).set(ptr, v);
        let o = rt.run(&b);
        assert_error_not_panic(&o, &[field]);
    }
}
