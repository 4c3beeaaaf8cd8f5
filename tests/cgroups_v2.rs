//! linux.cgroupsPath and linux.resources on a cgroup v2 (unified) host.
//!
//! This machine is cgroup v1 (hybrid), so every test here is ignored by a
//! plain `cargo test`; `.ci/cgroup2` runs them with `--ignored` inside
//! `../shared/tools/cgroup2-vm`, whose `/sys/fs/cgroup` is a pure cgroup2
//! hierarchy with every controller enabled. Each test first checks that it
//! really runs on such a host.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const MIB: i64 = 1024 * 1024;

/// Things are 5-20x slower in the emulated VM.
const SLOW: Duration = Duration::from_secs(60);

/// Keys of a flat-keyed cgroup file ("key value" lines).
fn keyed(s: &str, key: &str) -> i64 {
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{s}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{key}: {e} in:\n{s}"))
}

/// The bundle without a cgroup namespace.
fn no_cgroupns(b: Bundle) -> Bundle {
    b.with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup")
    })
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_memory_limit_and_swap() {
    assert_cgroup2();
    let rt = Runtime::new();
    // The spec's swap is memory+swap (v1 meaning); v2 limits swap alone.
    let b = Bundle::new("memlimit")
        .args(&["sleep", "300"])
        .set("/linux/resources/memory/limit", json!(32 * MIB))
        .set("/linux/resources/memory/swap", json!(48 * MIB));
    let c = rt.create(&b, &[]);
    assert_eq!(cgroup_v2_read(&c.id, "memory.max"), (32 * MIB).to_string());
    assert_eq!(
        cgroup_v2_read(&c.id, "memory.swap.max"),
        (16 * MIB).to_string()
    );
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_memory_oom_kill() {
    assert_cgroup2();
    let rt = Runtime::new();
    // busybox tail holds its whole input when it sees no newline: 100 MiB of
    // anonymous memory. oom_score_adj 1000 makes the hog, not the init shell,
    // the OOM killer's choice. swap == limit: no swap at all.
    let b = Bundle::new("oom")
        .sh("sh -c 'echo 1000 > /proc/self/oom_score_adj; \
             head -c 104857600 /dev/zero | tail >/dev/null'; echo rc=$?")
        .set("/linux/resources/memory/limit", json!(32 * MIB))
        .set("/linux/resources/memory/swap", json!(32 * MIB));
    let c = rt.create(&b, &[]);
    assert_eq!(cgroup_v2_read(&c.id, "memory.swap.max"), "0");
    c.start().ok();
    // 100 MiB through a pipe takes ~20 s in the emulated VM under load.
    assert_eq!(c.wait_exit_within(SLOW), 0, "stderr: {}", c.stderr());
    assert_eq!(c.stdout(), "rc=137\n", "stderr: {}", c.stderr());
    let events = cgroup_v2_read(&c.id, "memory.events");
    assert!(keyed(&events, "oom_kill") >= 1, "{events}");
    assert!(keyed(&events, "max") >= 1, "{events}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_pids_limit() {
    assert_cgroup2();
    let rt = Runtime::new();
    // The inner shell tries to start 50 background sleeps and gives up at the
    // first failed fork; the init then reports how it ended.
    let b = Bundle::new("pids")
        .sh(
            "sh -c 'for i in $(seq 50); do sleep 300 & done; echo all-spawned'; \
             echo inner=$?; sleep 300",
        )
        .set("/linux/resources/pids/limit", json!(20));
    let c = rt.create(&b, &[]);
    assert_eq!(cgroup_v2_read(&c.id, "pids.max"), "20");
    c.start().ok();
    let out = wait_until("the inner shell to end", SLOW, || {
        let o = c.stdout();
        o.contains("inner=").then_some(o)
    });
    assert!(!out.contains("all-spawned"), "50 forks succeeded: {out}");
    assert!(!out.contains("inner=0"), "{out}");
    assert!(
        c.stderr().contains("fork"),
        "no fork failure: {}",
        c.stderr()
    );
    let current: i64 = cgroup_v2_read(&c.id, "pids.current").parse().unwrap();
    assert!((10..=20).contains(&current), "pids.current {current}");
    let events = cgroup_v2_read(&c.id, "pids.events");
    assert!(keyed(&events, "max") >= 1, "{events}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_cpu_weight_and_max() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("cpu").args(&["sleep", "300"]).set(
        "/linux/resources/cpu",
        json!({"shares": 512, "quota": 50000, "period": 100000}),
    );
    let c = rt.create(&b, &[]);
    // runc: weight = 1 + (shares - 2) * 9999 / 262142 = 1 + 5098490 / 262142.
    assert_eq!(cgroup_v2_read(&c.id, "cpu.weight"), "20");
    assert_eq!(cgroup_v2_read(&c.id, "cpu.max"), "50000 100000");

    // Quota alone keeps the default period; shares 2 is the lowest weight.
    let b2 = Bundle::new("cpu2")
        .args(&["sleep", "300"])
        .set("/linux/resources/cpu", json!({"shares": 2, "quota": 20000}));
    let c2 = rt.create(&b2, &[]);
    assert_eq!(cgroup_v2_read(&c2.id, "cpu.weight"), "1");
    assert_eq!(cgroup_v2_read(&c2.id, "cpu.max"), "20000 100000");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_pid_in_cgroup_procs() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("procs").args(&["sleep", "300"]);
    let c = rt.create(&b, &[]);
    let pid = c.pid().to_string();
    // Already at create, before any user code runs.
    let procs = cgroup_v2_read(&c.id, "cgroup.procs");
    assert!(procs.lines().any(|l| l == pid), "{pid} not in {procs:?}");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(own, format!("0::/myrt-test/{}\n", c.id));
    c.start().ok();
    let procs = cgroup_v2_read(&c.id, "cgroup.procs");
    assert!(procs.lines().any(|l| l == pid), "{pid} not in {procs:?}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_cgroup_namespace_hides_path() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("cgns").args(&["cat", "/proc/self/cgroup"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "0::/\n", "{o}");

    // Without a cgroup namespace the container sees the host's path.
    let b = no_cgroupns(Bundle::new("nocgns").args(&["cat", "/proc/self/cgroup"]));
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, format!("0::/myrt-test/{}\n", b.id), "{o}");
}

/// What the container sees at /sys/fs/cgroup: its own cgroup (memory.max of
/// its limit, its own processes), read-only.
fn check_cgroup_mount(b: Bundle) {
    let rt = Runtime::new();
    let b = b
        .sh("cat /sys/fs/cgroup/memory.max; \
             grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo init-inside; \
             test -e /sys/fs/cgroup/myrt-test && echo host-root-visible; \
             echo 1 > /sys/fs/cgroup/pids.max && echo writable; \
             grep -q ' /sys/fs/cgroup .* - cgroup2 ' /proc/self/mountinfo && echo cgroup2")
        .set("/linux/resources/memory/limit", json!(32 * MIB));
    let o = rt.run(&b);
    assert_eq!(
        o.stdout,
        format!("{}\ninit-inside\ncgroup2\n", 32 * MIB),
        "{o}"
    );
    assert!(o.stderr.contains("Read-only file system"), "{o}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_cgroup_mount_with_cgroupns() {
    assert_cgroup2();
    check_cgroup_mount(Bundle::new("cgmnt"));
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_cgroup_mount_without_cgroupns() {
    assert_cgroup2();
    check_cgroup_mount(no_cgroupns(Bundle::new("cgbind")));
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_exec_joins_container_cgroup() {
    assert_cgroup2();
    let rt = Runtime::new();
    // Without a cgroup namespace: the same path as the init.
    let b = no_cgroupns(Bundle::new("execcg").args(&["sleep", "300"]));
    let c = rt.create_start(&b);
    let o = c.exec(&[], &["cat", "/proc/self/cgroup"]);
    o.ok();
    assert_eq!(o.stdout, format!("0::/myrt-test/{}\n", c.id), "{o}");

    // With one: the exec'd process joins the namespace (it sees "/") and is
    // in the init's cgroup (the init, pid 1, and itself in cgroup.procs).
    let b = Bundle::new("execcgns").args(&["sleep", "300"]);
    let c = rt.create_start(&b);
    let o = c.exec(
        &[],
        &[
            "sh",
            "-c",
            "cat /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.procs",
        ],
    );
    o.ok();
    let mut lines = o.stdout.lines();
    assert_eq!(lines.next(), Some("0::/"), "{o}");
    let pids: Vec<&str> = lines.collect();
    assert!(pids.contains(&"1"), "{o}");
    assert!(pids.len() >= 2, "{o}");
}

/// A container whose init moved itself into a sub-cgroup and enabled
/// controllers for its children (systemd in a container does so): its
/// cgroup may hold no process (cgroup v2's no-internal-process rule), so
/// `exec` joins the init's cgroup instead, as runc does; `--cgroup SUB`
/// joins a sub-cgroup of the container's, and `--cgroup /` insists on the
/// top one (and fails, naming the flag). A sub-cgroup that does not exist
/// or leaves the container's cgroup is refused.
#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_exec_into_a_cgroup_with_controllers_for_children() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = no_cgroupns(Bundle::new("execsub").args(&["sleep", "300"]));
    let c = rt.create_start(&b);
    let top = cgroup_v2_dir(&c.id);
    for sub in ["init", "work"] {
        std::fs::create_dir(top.join(sub)).unwrap();
    }
    std::fs::write(top.join("init/cgroup.procs"), c.pid().to_string()).unwrap();
    std::fs::write(top.join("cgroup.subtree_control"), "+pids").unwrap();
    let base = format!("0::/myrt-test/{}", c.id);
    let o = c.exec(&[], &["cat", "/proc/self/cgroup"]);
    o.ok();
    assert_eq!(o.stdout, format!("{base}/init\n"), "{o}");
    let o = c.exec(&["--cgroup", "work"], &["cat", "/proc/self/cgroup"]);
    o.ok();
    assert_eq!(o.stdout, format!("{base}/work\n"), "{o}");
    let o = c.exec(&["--cgroup", "/"], &["true"]);
    assert_eq!(o.code, 255, "{o}");
    assert_myrt_error(&o.stderr, "exec", &c.id, &["--cgroup"]);
    for bad in ["nosuch", "../..", "init/../../x"] {
        let o = c.exec(&["--cgroup", bad], &["true"]);
        assert_eq!(o.code, 255, "{o}");
        assert_myrt_error(&o.stderr, "exec", &c.id, &["--cgroup"]);
    }
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
    assert!(!top.exists());
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_pause_resume_freezes_cgroup() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("pause").args(&["sleep", "300"]);
    let c = rt.create_start(&b);
    c.cmd(&["pause", &c.id]).ok();
    assert_eq!(c.status(), "paused");
    assert_eq!(cgroup_v2_read(&c.id, "cgroup.freeze"), "1");
    let ev = cgroup_v2_read(&c.id, "cgroup.events");
    assert_eq!(keyed(&ev, "frozen"), 1, "{ev}");
    c.cmd(&["resume", &c.id]).ok();
    assert_eq!(c.status(), "running");
    assert_eq!(cgroup_v2_read(&c.id, "cgroup.freeze"), "0");
    let ev = cgroup_v2_read(&c.id, "cgroup.events");
    assert_eq!(keyed(&ev, "frozen"), 0, "{ev}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_kill_paused_container() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("killpaused").args(&["sleep", "300"]);
    let c = rt.create_start(&b);
    c.cmd(&["pause", &c.id]).ok();
    assert_eq!(c.status(), "paused");
    c.kill("KILL").ok();
    assert_eq!(c.wait_exit(), 128 + libc::SIGKILL);
    c.wait_status("stopped");
    c.delete().ok();
    assert!(!cgroup_v2_dir(&c.id).exists());
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_update_resources() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("update")
        .args(&["sleep", "300"])
        .set("/linux/resources/memory/limit", json!(32 * MIB));
    let c = rt.create_start(&b);
    assert_eq!(cgroup_v2_read(&c.id, "memory.max"), (32 * MIB).to_string());
    c.cmd(&["update", "--memory", "64M", &c.id]).ok();
    assert_eq!(cgroup_v2_read(&c.id, "memory.max"), (64 * MIB).to_string());
    c.cmd(&[
        "update",
        "--pids-limit",
        "30",
        "--cpu-quota",
        "25000",
        "--cpu-period",
        "50000",
        &c.id,
    ])
    .ok();
    assert_eq!(cgroup_v2_read(&c.id, "pids.max"), "30");
    assert_eq!(cgroup_v2_read(&c.id, "cpu.max"), "25000 50000");
    // An earlier update is not undone by a later one.
    assert_eq!(cgroup_v2_read(&c.id, "memory.max"), (64 * MIB).to_string());
    // The stats see the new limits.
    let o = c.cmd(&["events", "--stats", &c.id]);
    o.ok();
    let ev: Value = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {o}"));
    assert_eq!(
        ev["data"]["memory"]["usage"]["limit"],
        json!(64 * MIB),
        "{o}"
    );
    assert_eq!(ev["data"]["pids"]["limit"], json!(30), "{o}");
}

/// A device test script: mknod a char device 1:11 (/dev/kmsg's numbers) and
/// try to write to it and to /dev/null. Needs CAP_MKNOD.
fn device_bundle(name: &str) -> Bundle {
    let caps = json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_MKNOD"
    ]);
    Bundle::new(name)
        .sh("mknod /dev/kmsg2 c 1 11 && echo mknod-ok; \
             echo x > /dev/null && echo null-ok; \
             head -c 4 /dev/zero | wc -c; \
             if echo myrt-test > /dev/kmsg2; then echo kmsg-ok; else echo kmsg-denied; fi")
        .set("/process/capabilities/bounding", caps.clone())
        .set("/process/capabilities/effective", caps.clone())
        .set("/process/capabilities/permitted", caps)
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_devices_deny_all_with_defaults() {
    assert_cgroup2();
    let rt = Runtime::new();
    // The default config denies every device; the runtime's defaults allow
    // mknod of any node and the standard ones (/dev/null, /dev/zero, ...).
    let b = device_bundle("devdeny");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "mknod-ok\nnull-ok\n4\nkmsg-denied\n", "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_devices_allow_rule() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = device_bundle("devallow").set(
        "/linux/resources/devices/-",
        json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}),
    );
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "mknod-ok\nnull-ok\n4\nkmsg-ok\n", "{o}");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_cgroup_removed_on_delete() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("cgdel").args(&["sleep", "300"]);
    let c = rt.create_start(&b);
    assert!(cgroup_v2_dir(&c.id).is_dir());
    assert_eq!(cgroup_dirs(&c.id), vec![cgroup_v2_dir(&c.id)]);
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
    assert!(!cgroup_v2_dir(&c.id).exists());
    assert_eq!(cgroup_dirs(&c.id), Vec::<std::path::PathBuf>::new());
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_delete_force_kills_exec_processes() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = Bundle::new("delf").args(&["sleep", "300"]);
    let c = rt.create_start(&b);
    // Detached: the exec'd sleep must not hold a pipe of ours open.
    exec_cmd(
        c.rt.command(&["exec", "-d", &c.id, "sleep", "301"]),
        None,
        Sink::Files(b.path("exec.out"), b.path("exec.err")),
        CMD_TIMEOUT,
    )
    .ok();
    let n = cgroup_v2_read(&c.id, "cgroup.procs").lines().count();
    assert_eq!(n, 2, "init and the exec'd sleep");
    // The guard runs `delete -f` (reaping what is re-parented to us) and
    // fails the test if a process or the cgroup is left.
    let id = c.id.clone();
    drop(c);
    assert!(!cgroup_v2_dir(&id).exists());
}

/// A bundle that bind-mounts host device nodes made in the bundle,
/// `/dev/hostchr` (c 10:229) and `/dev/hostblk` (b 7:0), outside the
/// default allow list, and prints whether each opens for reading.
fn host_device_bundle(name: &str) -> Bundle {
    Bundle::new(name)
        .with_host_devices()
        .sh("for d in hostchr hostblk; do \
               (exec 3</dev/$d) 2>/dev/null && echo $d-open || echo $d-denied; \
             done; (exec 3<>/dev/null) && echo null-ok")
}

/// Default deny on v2: without `linux.resources.devices`, or with rules
/// but no deny-all, a bind-mounted host device is still denied.
#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_devices_default_deny() {
    assert_cgroup2();
    let rt = Runtime::new();
    let allow_null =
        json!({"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]});
    for res in [None, Some(json!({})), Some(allow_null)] {
        let b = host_device_bundle("v2devdeny").with(|v| match &res {
            None => json_remove(v, "/linux/resources"),
            Some(r) => json_set(v, "/linux/resources", r.clone()),
        });
        let o = rt.run(&b);
        o.ok();
        assert_eq!(
            o.stdout, "hostchr-denied\nhostblk-denied\nnull-ok\n",
            "{res:?}: {o}"
        );
    }
}

/// `linux.devices` nodes are allowed on v2 (and stay allowed after an
/// update) when `linux.resources.devices` does not reset the list.
#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_devices_linux_devices_allowed() {
    assert_cgroup2();
    let rt = Runtime::new();
    let b = host_device_bundle("v2devnodes")
        .set(
            "/linux/devices",
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]),
        )
        .remove("/linux/resources/devices")
        .args(&["sleep", "300"]);
    let c = rt.create_start(&b);
    let probe = "(exec 3<>/dev/fuse) && echo fuse-ok; \
                 (exec 3</dev/hostblk) 2>/dev/null && echo blk-open || echo blk-denied";
    let o = c.exec(&[], &["sh", "-c", probe]);
    assert_eq!(o.stdout, "fuse-ok\nblk-denied\n", "{o}");
    c.cmd(&["update", "--pids-limit", "100", &c.id]).ok();
    let o = c.exec(&[], &["sh", "-c", probe]);
    assert_eq!(o.stdout, "fuse-ok\nblk-denied\n", "after update: {o}");
}

// ---------------------------------------------------------------------------
// Rootless (an unprivileged uid; the VM's root file system is read-only, so
// the uid has no passwd entry: myrt needs none)

/// A uid of no one here, for this test process.
fn rootless_uid() -> u32 {
    40000 + std::process::id() % 20000
}

/// A directory owned by `uid` with `bundle/rootfs` (busybox) and `run/`
/// (XDG_RUNTIME_DIR, 0700); removed on drop.
struct RootlessDir(std::path::PathBuf);

impl RootlessDir {
    fn new(id: &str, uid: u32) -> RootlessDir {
        use std::os::unix::fs::PermissionsExt;
        let _ = shared_rootfs(); // the harness: we are the subreaper
        let d = std::env::temp_dir().join(format!("myrt-{id}"));
        let _ = std::fs::remove_dir_all(&d);
        build_rootfs(&d.join("bundle/rootfs"));
        std::fs::create_dir_all(d.join("run")).unwrap();
        std::fs::set_permissions(d.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        host(
            "chown",
            &["-R", &format!("{uid}:{uid}"), d.to_str().unwrap()],
        )
        .ok();
        RootlessDir(d)
    }

    /// `myrt ARGS` as `uid`, in the bundle, from the cgroup `caller` (a
    /// cgroup v2 directory) if given: a process may only be moved between
    /// cgroups below one whose cgroup.procs its user may write.
    fn command(
        &self,
        uid: u32,
        caller: Option<&std::path::Path>,
        args: &[&str],
    ) -> std::process::Command {
        let mut c = std::process::Command::new("sh");
        let join = caller.map_or(String::new(), |p| {
            format!("echo $$ > {}/cgroup.procs && ", p.display())
        });
        c.arg("-c")
            .arg(format!(
                "{join}exec setpriv --reuid {uid} --regid {uid} --clear-groups -- \"$@\""
            ))
            .arg("sh")
            .arg(runtime_bin())
            .args(args);
        c.current_dir(self.0.join("bundle"));
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", &self.0)
            .env("XDG_RUNTIME_DIR", self.0.join("run"));
        c
    }

    fn cmd(&self, uid: u32, caller: Option<&std::path::Path>, args: &[&str]) -> Output {
        exec_cmd(self.command(uid, caller, args), None, Sink::Pipe, SLOW)
    }

    /// `create`: the container keeps the runtime's stdio: files.
    fn create(&self, uid: u32, caller: Option<&std::path::Path>, id: &str) -> Output {
        let (o, e) = (self.0.join("create.out"), self.0.join("create.err"));
        exec_cmd(
            self.command(uid, caller, &["create", id]),
            None,
            Sink::Files(o, e),
            SLOW,
        )
    }

    /// `spec --rootless` as `uid`, then `edit`.
    fn spec(&self, uid: u32, edit: impl FnOnce(&mut Value)) {
        let p = self.0.join("bundle/config.json");
        let _ = std::fs::remove_file(&p);
        self.cmd(uid, None, &["spec", "--rootless"]).ok();
        let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

impl Drop for RootlessDir {
    fn drop(&mut self) {
        let left: Vec<_> = std::fs::read_dir(self.0.join("run/myrt"))
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if mounts_mentioning(&self.0).is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("rootless state left: {left:?}");
        }
    }
}

/// A cgroup v2 subtree delegated to `uid` the way systemd delegates one:
/// the directory and its cgroup.procs, cgroup.subtree_control and
/// cgroup.threads are the user's; memory and pids are enabled for its
/// children; `caller/` is where the user's processes start. Removed on drop.
struct Delegated(std::path::PathBuf);

impl Delegated {
    fn new(id: &str, uid: u32) -> Delegated {
        let parent = std::path::Path::new(CGROUP_ROOT).join(CGROUP_PARENT.trim_start_matches('/'));
        let d = parent.join(id);
        std::fs::create_dir_all(d.join("caller")).unwrap();
        for dir in [&parent, &d] {
            std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids").unwrap();
        }
        for f in [
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ] {
            let p = d.join(f);
            host("chown", &[&format!("{uid}:{uid}"), p.to_str().unwrap()]).ok();
        }
        Delegated(d)
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let mut find = std::process::Command::new("find");
        find.arg(&self.0)
            .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"]);
        let _ = try_exec_cmd(find, None, Sink::Pipe, CLEANUP_TIMEOUT);
        if self.0.exists() && !std::thread::panicking() {
            panic!("delegated cgroup left: {}", self.0.display());
        }
    }
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_rootless_delegated_cgroup_limits() {
    assert_cgroup2();
    let (id, uid) = (unique("rl"), rootless_uid());
    let dir = RootlessDir::new(&id, uid);
    let deleg = Delegated::new(&id, uid);
    let cg = format!("{CGROUP_PARENT}/{id}/c");
    dir.spec(uid, |v| {
        v["process"]["args"] = json!(["sleep", "300"]);
        v["process"]["terminal"] = json!(false);
        v["linux"]["cgroupsPath"] = json!(cg);
        v["linux"]["resources"]["memory"] = json!({"limit": 32 * MIB});
        v["linux"]["resources"]["pids"] = json!({"limit": 20});
    });
    let caller = deleg.0.join("caller");
    let o = dir.create(uid, Some(&caller), &id);
    o.ok();
    assert!(!o.stderr.contains("without a cgroup"), "{o}");
    let leaf = deleg.0.join("c");
    let read = |f: &str| {
        std::fs::read_to_string(leaf.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("memory.max"), (32 * MIB).to_string());
    assert_eq!(read("pids.max"), "20");
    let st: Value = serde_json::from_str(&dir.cmd(uid, None, &["state", &id]).ok().stdout).unwrap();
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(read("cgroup.procs").lines().any(|l| l == pid.to_string()));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "Uid:",
                    &uid.to_string(),
                    &uid.to_string(),
                    &uid.to_string(),
                    &uid.to_string()
                ]),
        "{status}"
    );
    dir.cmd(uid, None, &["start", &id]).ok();
    // From outside the delegated subtree the kernel refuses the move: said
    // so, naming the field.
    let o = dir.cmd(uid, None, &["exec", &id, "true"]);
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "exec",
        &id,
        &["linux.cgroupsPath", "delegated subtree"],
    );
    // exec joins the cgroup too; in the container's cgroup namespace its
    // own cgroup is the root, with the limits: the pids limit holds.
    let o = dir.cmd(
        uid,
        Some(&caller),
        &[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /proc/self/cgroup /sys/fs/cgroup/memory.max; \
           sh -c 'i=0; while [ $i -lt 30 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done' 2>/dev/null; \
           read n < /sys/fs/cgroup/pids.current; echo $n",
        ],
    );
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[..2], ["0::/", &(32 * MIB).to_string()], "{o}");
    // The forks stopped at the limit (the shell that made them died there).
    let n: i64 = lines[2].parse().unwrap();
    assert!((2..=20).contains(&n), "{o}");
    let events = read("pids.events");
    assert!(keyed(&events, "max") >= 1, "{events}");
    dir.cmd(uid, None, &["kill", &id, "KILL"]).ok();
    assert_eq!(wait_pid(pid, SLOW), Some(128 + 9));
    dir.cmd(uid, None, &["delete", &id]).ok();
    assert!(!leaf.exists(), "the container's cgroup was not removed");
}

#[test]
#[ignore = "needs cgroup v2: run by .ci/cgroup2 inside the VM"]
fn root_vm_rootless_without_delegation() {
    assert_cgroup2();
    let (id, uid) = (unique("rl"), rootless_uid() + 1);
    let dir = RootlessDir::new(&id, uid);
    // A limit where the user may not make cgroups: an error naming it.
    dir.spec(uid, |v| {
        v["process"]["args"] = json!(["sleep", "300"]);
        v["process"]["terminal"] = json!(false);
        v["linux"]["resources"]["pids"] = json!({"limit": 20});
    });
    let o = dir.create(uid, None, &id);
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "create",
        &id,
        &["linux.resources.pids", "delegated"],
    );
    // Without limits it runs with no cgroup of its own, and says so.
    dir.spec(uid, |v| {
        v["process"]["args"] = json!(["sleep", "300"]);
        v["process"]["terminal"] = json!(false);
    });
    let o = dir.create(uid, None, &id);
    o.ok();
    assert!(o.stderr.contains("runs without a cgroup"), "{o}");
    let st: Value = serde_json::from_str(&dir.cmd(uid, None, &["state", &id]).ok().stdout).unwrap();
    let pid = st["pid"].as_i64().unwrap() as i32;
    let o = dir.cmd(uid, None, &["ps", "--format", "json", &id]);
    assert_eq!(o.ok().stdout.trim(), format!("[{pid}]"));
    dir.cmd(uid, None, &["delete", "-f", &id]).ok();
    assert_eq!(wait_pid(pid, SLOW), Some(128 + 9));
}
