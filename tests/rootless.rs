//! Rootless mode: myrt run by an unprivileged user.
//!
//! Each test creates a user of its own (`myrt-rl-<pid>-<n>`, removed on
//! drop, with whatever processes it left), gives it a test directory with a
//! busybox root filesystem it owns and an `XDG_RUNTIME_DIR`, and runs myrt
//! as that user through `setpriv`. The tests need root to create the user,
//! hence `root_rootless_*`.
//!
//! Checked from outside: where the state goes, the init's host ids and maps
//! (/proc/<pid>/{status,uid_map,gid_map,setgroups}), what the container
//! prints, exit codes, and that nothing is left (state, mounts, processes).

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// useradd/userdel lock /etc/passwd: one at a time in this process.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// An unprivileged user of this test, with a directory of its own.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    /// `/tmp/<name>`: owned by the user; holds `run/` (XDG_RUNTIME_DIR) and
    /// `bundle/` (with `rootfs/`).
    dir: PathBuf,
    /// The runtime binary, somewhere the user can execute it.
    bin: PathBuf,
}

fn id_of(name: &str, flag: &str) -> u32 {
    let o = host("id", &[flag, name]);
    o.ok();
    o.stdout.trim().parse().unwrap()
}

/// userdel, killing the user's processes first (they are this test's: the
/// user was made for it, or by an earlier run of it that crashed).
fn remove_user(name: &str) -> Vec<(i32, String)> {
    let mut left = Vec::new();
    if let Ok(o) = Command::new("id").args(["-u", name]).output()
        && o.status.success()
        && let Ok(uid) = String::from_utf8_lossy(&o.stdout).trim().parse::<u32>()
    {
        for p in processes_of(uid) {
            // An exited process re-parented to us (the subreaper), e.g. an
            // engine's daemonized helper: reap it, it is gone already.
            if is_zombie(p) && wait_pid(p, Duration::from_millis(100)).is_some() {
                continue;
            }
            let cmd = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            sigkill(p);
            left.push((p, cmd.trim().to_string()));
        }
        for (p, _) in &left {
            let _ = wait_pid(*p, Duration::from_secs(2));
        }
        let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let o = host("userdel", &[name]);
        assert!(
            o.success() || o.stderr.contains("does not exist"),
            "userdel: {o}"
        );
    }
    left
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('Z')))
        .unwrap_or(false)
}

/// Processes whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(u) = status_ids(pid, "Uid:")
            && u[0] == uid
        {
            out.push(pid);
        }
    }
    out
}

/// The ids of a `/proc/<pid>/status` line (`Uid:` or `Gid:`): real,
/// effective, saved, fs.
fn status_ids(pid: i32, key: &str) -> Option<Vec<u32>> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    Some(
        line.split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect(),
    )
}

impl User {
    fn new() -> User {
        // The shared harness: subreaper (containers orphaned by `create`
        // come to us), and the busybox build.
        let _ = shared_rootfs();
        let name = unique("myrt-rl");
        remove_user(&name); // left by a crashed run whose pid we now have
        {
            let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            host("useradd", &["-M", "-U", "-s", "/bin/sh", &name]).ok();
        }
        let (uid, gid) = (id_of(&name, "-u"), id_of(&name, "-g"));
        let dir = Path::new("/tmp").join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bundle")).unwrap();
        build_rootfs(&dir.join("bundle/rootfs"));
        fs::create_dir_all(dir.join("run")).unwrap();
        fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o700)).unwrap();
        host(
            "chown",
            &["-R", &format!("{uid}:{gid}"), dir.to_str().unwrap()],
        )
        .ok();
        let bin = user_runnable_bin(&dir);
        User {
            name,
            uid,
            gid,
            dir,
            bin,
        }
    }

    fn xdg(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.bundle().join("config.json")).unwrap()).unwrap()
    }

    fn set_config(&self, v: &Value) {
        let p = self.bundle().join("config.json");
        fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
        host(
            "chown",
            &[&format!("{}:{}", self.uid, self.gid), p.to_str().unwrap()],
        )
        .ok();
    }

    /// `myrt ARGS` as this user, in the bundle directory, with a clean
    /// environment: PATH, HOME, USER and (when `xdg`) XDG_RUNTIME_DIR.
    fn command(&self, args: &[&str], xdg: bool) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--init-groups",
            "--",
        ]);
        c.arg(&self.bin).args(args);
        c.current_dir(self.bundle());
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", &self.dir)
            .env("USER", &self.name);
        if xdg {
            c.env("XDG_RUNTIME_DIR", self.xdg());
        }
        c
    }

    fn cmd(&self, args: &[&str]) -> Output {
        exec_cmd(self.command(args, true), None, Sink::Pipe, CMD_TIMEOUT)
    }

    /// `create`/`run -d`: the container keeps the runtime's stdio, so it
    /// goes to files.
    fn cmd_to_files(&self, args: &[&str], tag: &str) -> Output {
        let (o, e) = (
            self.dir.join(format!("{tag}.out")),
            self.dir.join(format!("{tag}.err")),
        );
        exec_cmd(
            self.command(args, true),
            None,
            Sink::Files(o, e),
            CMD_TIMEOUT,
        )
    }

    fn state(&self, id: &str) -> Value {
        let o = self.cmd(&["state", id]);
        o.ok();
        serde_json::from_str(&o.stdout).unwrap()
    }

    /// `spec --rootless` in the bundle, then `edit` of the config it wrote.
    fn spec(&self, edit: impl FnOnce(&mut Value)) -> Value {
        let _ = fs::remove_file(self.bundle().join("config.json"));
        self.cmd(&["spec", "--rootless"]).ok();
        let mut v = self.config();
        edit(&mut v);
        self.set_config(&v);
        v
    }

    /// Kill (as the user) and delete a container; reap its init.
    fn remove(&self, id: &str, pid: i32) {
        let _ = self.cmd(&["kill", id, "KILL"]);
        if pid > 0 {
            let _ = wait_pid(pid, Duration::from_secs(5));
        }
        self.cmd(&["delete", "-f", id]).ok();
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let state = self.xdg().join("myrt");
        if let Ok(rd) = fs::read_dir(&state) {
            for e in rd.flatten() {
                problems.push(format!("state left: {}", e.path().display()));
            }
        }
        for m in mounts_mentioning(&self.dir) {
            problems.push(format!("mount left: {m}"));
        }
        for (p, cmd) in remove_user(&self.name) {
            problems.push(format!("process left: {p} ({cmd})"));
        }
        if mounts_mentioning(&self.dir).is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if !problems.is_empty() && !std::thread::panicking() {
            panic!("leftovers of {}:\n{}", self.name, problems.join("\n"));
        }
    }
}

/// The runtime binary where a user may run it: in place when every
/// directory above it is searchable by others, else a copy in `dir`.
fn user_runnable_bin(dir: &Path) -> PathBuf {
    let bin = PathBuf::from(runtime_bin());
    let open = bin
        .ancestors()
        .skip(1)
        .all(|d| fs::metadata(d).is_ok_and(|m| m.mode() & 0o001 != 0));
    if bin.is_absolute() && open {
        return bin;
    }
    let copy = dir.join("myrt");
    fs::copy(&bin, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

fn args(v: &mut Value, a: &[&str]) {
    v["process"]["args"] = json!(a);
    v["process"]["terminal"] = json!(false);
}

/// Whether this host lets the test user create cgroups where myrt would
/// (never here: v1, or the VM's v2 root without delegation).
fn warns_no_cgroup(stderr: &str) -> bool {
    stderr.contains("warning: container") && stderr.contains("runs without a cgroup")
}

#[test]
fn root_rootless_spec_and_lifecycle() {
    let u = User::new();
    let id = unique("rl");
    let cfg = u.spec(|v| args(v, &["sleep", "100"]));
    // The config maps the user's own ids to 0 in a user namespace.
    assert_eq!(cfg["linux"]["uidMappings"][0]["hostID"], json!(u.uid));
    assert_eq!(cfg["linux"]["gidMappings"][0]["hostID"], json!(u.gid));
    // No --root: the state goes to $XDG_RUNTIME_DIR/myrt.
    let o = u.cmd_to_files(&["create", &id], "create");
    o.ok();
    assert!(warns_no_cgroup(&o.stderr), "{o}");
    let root = u.xdg().join("myrt");
    let m = fs::metadata(&root).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (u.uid, 0o700));
    assert!(root.join(&id).is_dir());
    let st = u.state(&id);
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap() as i32;
    // The init is the user on the host, root in its namespace: one line
    // each, written by myrt after setgroups was denied.
    assert_eq!(status_ids(pid, "Uid:").unwrap(), vec![u.uid; 4]);
    assert_eq!(status_ids(pid, "Gid:").unwrap(), vec![u.gid; 4]);
    let map = |f: &str| {
        fs::read_to_string(format!("/proc/{pid}/{f}"))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(map("uid_map"), ["0", &u.uid.to_string(), "1"]);
    assert_eq!(map("gid_map"), ["0", &u.gid.to_string(), "1"]);
    assert_eq!(map("setgroups"), ["deny"]);
    u.cmd(&["start", &id]).ok();
    assert_eq!(u.state(&id)["status"], "running");
    u.cmd(&["kill", &id, "KILL"]).ok();
    assert_eq!(wait_pid(pid, Duration::from_secs(5)), Some(128 + 9));
    assert_eq!(u.state(&id)["status"], "stopped");
    u.cmd(&["delete", &id]).ok();
    assert!(!root.join(&id).exists());
    let o = u.cmd(&["state", &id]);
    o.fails();
}

#[test]
fn root_rootless_run_env_exec() {
    let u = User::new();
    // (With HOME given: the runtime adds HOME from /etc/passwd only when
    // process.env lacks it, as runc does; tests/env.rs checks that.)
    let env = [
        "PATH=/bin:/usr/bin",
        "TERM=xterm",
        "A=b c",
        "EMPTY=",
        "HOME=/tmp",
    ];
    u.spec(|v| {
        args(v, &["env"]);
        v["process"]["env"] = json!(env);
    });
    // Foreground run: process.env is exactly the environment.
    let id = unique("rl");
    let o = u.cmd(&["run", &id]);
    o.ok();
    assert_eq!(
        sorted_lines(&o.stdout),
        sorted_lines(&env.join("\n")),
        "{o}"
    );
    // Detached, then exec.
    let mut v = u.config();
    args(&mut v, &["sleep", "100"]);
    u.set_config(&v);
    let id = unique("rl");
    u.cmd_to_files(&["run", "-d", &id], "run").ok();
    let pid = u.state(&id)["pid"].as_i64().unwrap() as i32;
    let o = u.cmd(&["exec", &id, "env"]);
    o.ok();
    assert_eq!(
        sorted_lines(&o.stdout),
        sorted_lines(&env.join("\n")),
        "{o}"
    );
    let o = u.cmd(&["exec", "-e", "X=1", &id, "env"]);
    o.ok();
    let want = format!("{}\nX=1", env.join("\n"));
    assert_eq!(sorted_lines(&o.stdout), sorted_lines(&want), "{o}");
    // The exec'd process is in the container's pid namespace (pid 1 there
    // is the init) and is root in its user namespace.
    let o = u.cmd(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; id -u; exit 7",
    ]);
    assert_eq!(o.code, 7, "{o}");
    assert_eq!(o.stdout.replace('\0', " ").trim(), "sleep 100 \n0", "{o}");
    // ps and kill --all find the processes without a cgroup (pid namespace).
    let o = u.cmd(&["ps", "--format", "json", &id]);
    o.ok();
    assert_eq!(o.stdout.trim(), format!("[{pid}]"), "{o}");
    u.cmd(&["kill", "--all", &id, "KILL"]).ok();
    assert_eq!(wait_pid(pid, Duration::from_secs(5)), Some(128 + 9));
    u.cmd(&["delete", &id]).ok();
}

#[test]
fn root_rootless_terminal_config_as_written() {
    // `spec --rootless` works as written (terminal and all): only the
    // command changes.
    let u = User::new();
    u.spec(|v| v["process"]["args"] = json!(["sh", "-c", "echo ok-$(id -u)"]));
    let id = unique("rl");
    let o = u.cmd(&["run", &id]);
    o.ok();
    assert!(o.stdout.contains("ok-0"), "{o}");
}

/// The user's first range in /etc/subuid or /etc/subgid (useradd makes one).
fn sub_range(file: &str, name: &str) -> (u32, u32) {
    let s = fs::read_to_string(file).unwrap_or_default();
    let l = s
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no range for {name} in {file}"));
    let f: Vec<u32> = l.split(':').skip(1).map(|x| x.parse().unwrap()).collect();
    (f[0], f[1])
}

#[test]
fn root_rootless_subordinate_ranges() {
    let u = User::new();
    if sub_range_missing(&u.name) {
        let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // A range of this user's own, far above what useradd hands out.
        let start = 2_000_000_000 + (u.uid % 1000) * 65536;
        let r = format!("{start}-{}", start + 65535);
        host(
            "usermod",
            &["--add-subuids", &r, "--add-subgids", &r, &u.name],
        )
        .ok();
    }
    let (us, un) = sub_range("/etc/subuid", &u.name);
    let (gs, gn) = sub_range("/etc/subgid", &u.name);
    assert!(un >= 1000 && gn >= 1000);
    let map = |own: u32, start: u32, n: u32| {
        json!([{"containerID": 0, "hostID": own, "size": 1},
               {"containerID": 1, "hostID": start, "size": n.min(65536)}])
    };
    u.spec(|v| {
        args(
            v,
            &["sh", "-c", "cat /proc/self/setgroups; id -G; sleep 100"],
        );
        v["linux"]["uidMappings"] = map(u.uid, us, un);
        v["linux"]["gidMappings"] = map(u.gid, gs, gn);
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
    });
    let id = unique("rl");
    let o = u.cmd_to_files(&["run", "-d", &id], "run");
    o.ok();
    let pid = u.state(&id)["pid"].as_i64().unwrap() as i32;
    // newuidmap/newgidmap wrote the ranges: container id 1000 is host
    // id start+999, and setgroups stayed allowed.
    let out = wait_until("the container's output", Duration::from_secs(10), || {
        let s = fs::read_to_string(u.dir.join("run.out")).ok()?;
        (s.lines().count() >= 2).then_some(s)
    });
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["allow", "1000", "5"]
    );
    assert_eq!(status_ids(pid, "Uid:").unwrap(), vec![us + 999; 4]);
    assert_eq!(status_ids(pid, "Gid:").unwrap(), vec![gs + 999; 4]);
    u.remove(&id, pid);

    // A range /etc/subuid does not grant is refused, naming the field.
    let mut v = u.config();
    v["linux"]["uidMappings"] = map(u.uid, 4_000_000_000, 10);
    u.set_config(&v);
    let o = u.cmd_to_files(&["run", "-d", &id], "bad");
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "run",
        &id,
        &["linux.uidMappings", "newuidmap", "/etc/subuid"],
    );
}

fn sub_range_missing(name: &str) -> bool {
    !fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with(&format!("{name}:")))
}

#[test]
fn root_rootless_refusals_name_the_field() {
    let u = User::new();
    let base = u.spec(|v| args(v, &["true"]));
    let id = unique("rl");
    let try_run = |edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        u.set_config(&v);
        let o = u.cmd(&["run", &id]);
        o.fails();
        o
    };
    // No user namespace: nothing can be set up as a plain user.
    let o = try_run(&|v| {
        let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "user");
        v["linux"].as_object_mut().unwrap().remove("uidMappings");
        v["linux"].as_object_mut().unwrap().remove("gidMappings");
    });
    assert_myrt_error(
        &o.stderr,
        "run",
        &id,
        &["linux.namespaces", "user namespace"],
    );
    // A limit without cgroup access is an error, never dropped.
    let o = try_run(&|v| v["linux"]["resources"]["pids"] = json!({"limit": 10}));
    assert_myrt_error(
        &o.stderr,
        "run",
        &id,
        &["linux.resources.pids", "delegated"],
    );
    // So is a cgroupsPath there.
    let o = try_run(&|v| v["linux"]["cgroupsPath"] = json!("/myrt-rl"));
    assert_myrt_error(&o.stderr, "run", &id, &["linux.cgroupsPath", "delegated"]);
    // A map of another uid without newuidmap's grant.
    let o = try_run(&|v| v["linux"]["uidMappings"][0]["hostID"] = json!(0));
    assert_myrt_error(&o.stderr, "run", &id, &["linux.uidMappings"]);
    // Without XDG_RUNTIME_DIR (and no --root) the error says what to do.
    u.set_config(&base);
    let o = exec_cmd(
        u.command(&["run", &id], false),
        None,
        Sink::Pipe,
        CMD_TIMEOUT,
    );
    o.fails();
    assert_myrt_error(&o.stderr, "run", &id, &["XDG_RUNTIME_DIR", "--root"]);
}

/// Names under /sys/class/net as the container sees them.
fn container_net_classes(u: &User, netns: bool) -> (Vec<String>, String) {
    u.spec(|v| {
        args(
            v,
            &["sh", "-c", "ls /sys/class/net; awk '$5 == \"/sys\"' /proc/self/mountinfo; touch /sys/kernel/x 2>/dev/null && echo WRITABLE; true"],
        );
        // A plain sysfs mount, as in a root config (`spec --rootless`
        // itself writes a bind of /sys).
        let mounts = v["mounts"].as_array_mut().unwrap();
        let sys = mounts.iter_mut().find(|m| m["destination"] == "/sys").unwrap();
        *sys = json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                      "options": ["nosuid", "noexec", "nodev", "ro"]});
        if netns {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network"}));
        }
    });
    let o = u.cmd(&["run", &unique("rl")]);
    o.ok();
    let mut lines: Vec<String> = o.stdout.lines().map(str::to_string).collect();
    let mi = lines
        .iter()
        .position(|l| l.split_whitespace().nth(4) == Some("/sys"))
        .unwrap_or_else(|| panic!("no /sys mount: {o}"));
    let mount = lines.remove(mi);
    assert!(!o.stdout.contains("WRITABLE"), "{o}");
    (lines, mount)
}

#[test]
fn root_rootless_sys_is_bound_without_netns() {
    let u = User::new();
    let mut host_net: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    host_net.sort();
    // No network namespace: sysfs cannot be mounted (it needs the netns's
    // owner), the host's /sys is bound read-only: the host's interfaces.
    let (mut net, mount) = container_net_classes(&u, false);
    net.sort();
    assert_eq!(net, host_net, "{mount}");
    assert!(
        mount.split_whitespace().nth(5).unwrap().contains("ro"),
        "{mount}"
    );
    // With one (owned by the container's user namespace), a fresh sysfs:
    // only its own loopback.
    let (net, mount) = container_net_classes(&u, true);
    assert_eq!(net, ["lo"], "{mount}");
}

/// Rootless podman (as the test user, storage and configuration of its
/// own) with myrt as its runtime: podman runs the runtime as root of its
/// user namespace (the user and its /etc/subuid range), with no user
/// namespace in the config and no cgroup (cgroup v1, or v2 without
/// delegation: podman asks for none).
#[test]
fn root_rootless_podman() {
    let u = User::new();
    let pd = u.dir.join("podman");
    fs::create_dir_all(pd.join("tmp")).unwrap();
    fs::write(
        pd.join("containers.conf"),
        format!(
            "[containers]\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{0}/events.log\"\n\
             image_copy_tmp_dir = \"{0}/tmp\"\n\
             runtime_supports_json = [\"myrt\", \"runc\"]\n\
             [network]\n\
             network_config_dir = \"{0}/networks\"\n",
            pd.display()
        ),
    )
    .unwrap();
    fs::write(
        pd.join("storage.conf"),
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/runroot\"\n",
            pd.display()
        ),
    )
    .unwrap();
    host(
        "tar",
        &[
            "-C",
            u.bundle().join("rootfs").to_str().unwrap(),
            "-cf",
            pd.join("bb.tar").to_str().unwrap(),
            ".",
        ],
    )
    .ok();
    host(
        "chown",
        &["-R", &format!("{}:{}", u.uid, u.gid), pd.to_str().unwrap()],
    )
    .ok();
    let podman = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &u.uid.to_string(),
            "--regid",
            &u.gid.to_string(),
            "--init-groups",
            "--",
        ]);
        c.arg("podman");
        for (k, v) in [
            ("--root", "root"),
            ("--runroot", "runroot"),
            ("--tmpdir", "tmp"),
        ] {
            c.arg(k).arg(pd.join(v));
        }
        c.args([
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
        ]);
        c.arg(&u.bin).args(args);
        c.current_dir(&u.dir);
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", &u.dir)
            .env("USER", &u.name)
            .env("XDG_RUNTIME_DIR", u.xdg())
            .env("CONTAINERS_CONF", pd.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", pd.join("storage.conf"));
        exec_cmd(c, None, Sink::Pipe, Duration::from_secs(60))
    };
    let img = "localhost/myrt-rl-bb";
    podman(&["import", pd.join("bb.tar").to_str().unwrap(), img]).ok();
    let run = ["run", "--rm", "--network", "none", "--pull", "never"];
    let o = podman(
        &[
            &run[..],
            &[
                img,
                "sh",
                "-c",
                "echo hello $(id -u); cat /proc/self/uid_map; exit 3",
            ],
        ]
        .concat(),
    );
    assert_eq!(o.code, 3, "{o}");
    let lines: Vec<Vec<&str>> = o
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // Root of podman's user namespace: the user, then its subordinate range.
    assert_eq!(lines[0], ["hello", "0"], "{o}");
    assert_eq!(lines[1], ["0", &u.uid.to_string(), "1"], "{o}");
    assert_eq!(lines.len(), 3, "{o}");
    let name = unique("rl");
    podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--pull",
        "never",
        img,
        "sleep",
        "100",
    ])
    .ok();
    let o = podman(&["exec", &name, "sh", "-c", "cat /proc/1/cmdline; exit 5"]);
    assert_eq!(o.code, 5, "{o}");
    assert_eq!(o.stdout.replace('\0', " ").trim(), "sleep 100", "{o}");
    // conmon gave no --root: the runtime's state went to $XDG_RUNTIME_DIR/myrt.
    let state = u.xdg().join("myrt");
    assert_eq!(
        fs::read_dir(&state).unwrap().count(),
        1,
        "{}",
        state.display()
    );
    podman(&["rm", "-f", "-t", "0", &name]).ok();
    assert_eq!(
        fs::read_dir(&state).unwrap().count(),
        0,
        "{}",
        state.display()
    );
    // podman's pause process (it holds the user namespace) is this test's.
    // (Its pid file is in podman's --tmpdir.)
    let pause = pd.join("tmp/pause.pid");
    let pause_pid = fs::read_to_string(&pause)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    // `rm -f` returns before conmon has run its exit command (`podman
    // container cleanup`) and exited; that cleanup joins the user namespace
    // through the pause process, so it must finish first. What is still
    // there after the wait is reported by `User`'s drop.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline
        && processes_of(u.uid)
            .into_iter()
            .any(|p| Some(p) != pause_pid && !is_zombie(p))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(pid) = pause_pid {
        sigkill(pid);
        let _ = wait_pid(pid, Duration::from_secs(5));
    }
}
