//! Shared harness for myrt's integration tests.
//!
//! Every test gets its own state root (`Runtime`), its own bundle directory
//! (`Bundle`) and unique container ids; a `Container` guard kills, deletes,
//! reaps and checks for leftovers (mounts, cgroups, state) even on panic.
//!
//! The runtime under test is `$MYRT_TEST_RUNTIME` if set (e.g. `runc`), else
//! the `myrt` binary built by cargo.
//!
//! Container tests need root; their names start with `root_`.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Parent of every test's state root.
pub const STATE_PARENT: &str = "/run/myrt-test";
/// Every container's cgroupsPath is `CGROUP_PARENT/<id>`.
pub const CGROUP_PARENT: &str = "/myrt-test";
/// How long one runtime command may take before the test fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long each clean-up command (kill, delete -f) may take.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The runtime under test
// ---------------------------------------------------------------------------

/// Path (or PATH-relative name) of the runtime binary under test.
pub fn runtime_bin() -> String {
    match std::env::var("MYRT_TEST_RUNTIME") {
        Ok(v) if !v.is_empty() => v,
        _ => env!("CARGO_BIN_EXE_myrt").to_string(),
    }
}

/// True when the runtime under test is myrt (for myrt-specific assertions,
/// e.g. the error text `myrt: <op> <id>: error: <cause>`).
pub fn is_myrt() -> bool {
    let bin = runtime_bin();
    Path::new(&bin)
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.contains("myrt"))
}

/// Asserts (only when testing myrt) that `stderr` carries myrt's error format
/// `myrt: <op> <id>: error: <cause>` and that the cause mentions every word of `names`
/// (e.g. the config field at fault).
pub fn assert_myrt_error(stderr: &str, op: &str, id: &str, names: &[&str]) {
    if !is_myrt() {
        return;
    }
    let prefix = if id.is_empty() {
        format!("myrt: {op}: error: ")
    } else {
        format!("myrt: {op} {id}: error: ")
    };
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in stderr:\n{stderr}"));
    for n in names {
        assert!(line.contains(n), "error line {line:?} does not name {n:?}");
    }
}

/// For tests of spec requirements that runc, the reference, is known not to
/// meet (each says why): true when the runtime under test is runc and
/// `MYRT_TEST_STRICT` is unset, so the test returns early with a note instead
/// of failing. With `MYRT_TEST_STRICT=1` they run (and fail) on runc too.
pub fn skip_known_runc_deviation(why: &str) -> bool {
    let bin = runtime_bin();
    let is_runc = Path::new(&bin).file_name().and_then(OsStr::to_str) == Some("runc");
    let strict = std::env::var("MYRT_TEST_STRICT").is_ok_and(|v| !v.is_empty() && v != "0");
    if is_runc && !strict {
        eprintln!("skipped on runc (known deviation): {why}");
        return true;
    }
    false
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique within this machine for the life of this process.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

// ---------------------------------------------------------------------------
// Process-wide set-up: subreaper, rootfs, teardown at exit
// ---------------------------------------------------------------------------

struct Global {
    rootfs: PathBuf,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

fn global() -> &'static Global {
    GLOBAL.get_or_init(|| {
        // Containers orphaned by `create` / `run -d` are re-parented to us, so
        // we can reap them (waitpid on their pid) and none stays a zombie.
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
        fs::create_dir_all(STATE_PARENT).expect("create state parent");
        let rootfs = std::env::temp_dir().join(format!("myrt-test-rootfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&rootfs);
        build_rootfs(&rootfs);
        // SAFETY: at_exit is an extern "C" fn that lives as long as the program.
        unsafe { libc::atexit(at_exit) };
        Global { rootfs }
    })
}

extern "C" fn at_exit() {
    if let Some(g) = GLOBAL.get() {
        if !mounts_mentioning(&g.rootfs).is_empty() {
            eprintln!(
                "myrt-test: mounts left on {}; not removing it",
                g.rootfs.display()
            );
        } else {
            let _ = fs::remove_dir_all(&g.rootfs);
        }
    }
    // Remove the shared cgroup parents, unless another test process (holding
    // the shared lock) may be using them right now.
    if let Ok(dir) = File::open(STATE_PARENT)
        // SAFETY: flock on an fd that `dir` keeps open.
        && unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0
    {
        for d in cgroup_mounts() {
            let _ = fs::remove_dir(d.join(CGROUP_PARENT.trim_start_matches('/')));
        }
    }
}

/// The shared busybox root filesystem (read-only in default bundles).
pub fn shared_rootfs() -> PathBuf {
    global().rootfs.clone()
}

/// Builds a busybox-static root filesystem at `dir`.
pub fn build_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).expect("copy /bin/busybox (busybox-static)");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        let link = bin.join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", &link).unwrap();
        }
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root", "home"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

// ---------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------

/// Result of one command.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, or 128+signal if killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for messages.
    pub cmdline: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }
    /// Panics with the whole output unless the command exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
    /// Panics unless the command exited non-zero.
    #[track_caller]
    pub fn fails(&self) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded: {self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }
}

fn code_of(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => -1,
    }
}

/// Where a command's stdout/stderr go.
pub enum Sink {
    /// Captured through pipes (the command and everything it leaves running
    /// must close them before `exec_cmd` returns).
    Pipe,
    /// Written to these files (for `create`/`run -d`, whose container keeps
    /// the runtime's stdio).
    Files(PathBuf, PathBuf),
}

/// Runs `cmd` with a timeout; stdin gets `input` (or /dev/null). Panics if
/// it cannot be run or times out.
#[track_caller]
pub fn exec_cmd(cmd: Command, input: Option<&[u8]>, sink: Sink, timeout: Duration) -> Output {
    try_exec_cmd(cmd, input, sink, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Like `exec_cmd`, but returns an error instead of panicking (for clean-up
/// code that runs while a test is already panicking).
pub fn try_exec_cmd(
    mut cmd: Command,
    input: Option<&[u8]>,
    sink: Sink,
    timeout: Duration,
) -> Result<Output, String> {
    let cmdline = format!("{cmd:?}");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    match &sink {
        Sink::Pipe => {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Sink::Files(o, e) => {
            let f = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
            cmd.stdout(f(o)?).stderr(f(e)?);
        }
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmdline}: {e}"))?;
    let pid = child.id() as i32;
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&data);
        });
    }
    let reader = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(st) => st.map_err(|e| format!("wait {cmdline}: {e}"))?,
        Err(_) => {
            // Still unreaped (the waiter thread reaps it), so the pid is ours.
            sigkill(pid);
            return Err(format!("timed out after {timeout:?}: {cmdline}"));
        }
    };
    let deadline = Instant::now() + timeout;
    let join = |t: thread::JoinHandle<String>, what: &str| -> Result<String, String> {
        while !t.is_finished() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{cmdline} exited but something still holds its {what} open"
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(t.join().unwrap_or_default())
    };
    let (mut stdout, mut stderr) = (join(out_t, "stdout")?, join(err_t, "stderr")?);
    if let Sink::Files(o, e) = &sink {
        stdout = fs::read_to_string(o).unwrap_or_default();
        stderr = fs::read_to_string(e).unwrap_or_default();
    }
    Ok(Output {
        code: code_of(status),
        stdout,
        stderr,
        cmdline,
    })
}

/// Runs a host command (e.g. `ls`) and captures its output.
pub fn host(prog: &str, args: &[&str]) -> Output {
    let mut c = Command::new(prog);
    c.args(args);
    exec_cmd(c, None, Sink::Pipe, CMD_TIMEOUT)
}

/// Polls `f` every 10 ms until it returns Some, or panics after `timeout`.
#[track_caller]
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// The `runc spec` default config (non-terminal), as myrt's tests use it.
pub fn default_config(id: &str, rootfs: &Path) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": rootfs, "readonly": true},
        "hostname": "myrt-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": format!("{CGROUP_PARENT}/{id}"),
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Sets the value at JSON pointer `ptr` (e.g. `/linux/resources/memory/limit`),
/// creating missing objects on the way. A last segment `-` appends to an array.
pub fn json_set(v: &mut Value, ptr: &str, val: Value) {
    assert!(
        ptr.starts_with('/'),
        "JSON pointer must start with '/': {ptr}"
    );
    let segs: Vec<String> = ptr[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = v;
    for (i, seg) in segs.iter().enumerate() {
        let last = i == segs.len() - 1;
        if cur.is_null() {
            *cur = json!({});
        }
        match cur {
            Value::Object(m) => {
                if last {
                    m.insert(seg.clone(), val);
                    return;
                }
                cur = m.entry(seg.clone()).or_insert(Value::Null);
            }
            Value::Array(a) => {
                if seg == "-" {
                    assert!(last, "'-' only as last segment: {ptr}");
                    a.push(val);
                    return;
                }
                let idx: usize = seg.parse().unwrap_or_else(|_| panic!("bad index in {ptr}"));
                if last {
                    a[idx] = val;
                    return;
                }
                cur = &mut a[idx];
            }
            _ => panic!("{ptr}: segment {seg} is not inside an object or array"),
        }
    }
    *cur = val;
}

/// Removes the value at JSON pointer `ptr` (object keys only); no-op if absent.
pub fn json_remove(v: &mut Value, ptr: &str) {
    let (parent, key) = ptr.rsplit_once('/').expect("pointer");
    let p = if parent.is_empty() {
        Some(v)
    } else {
        v.pointer_mut(parent)
    };
    if let Some(Value::Object(m)) = p {
        m.remove(key);
    }
}

/// A bundle directory under /tmp with a config.json; removed on drop.
pub struct Bundle {
    /// The container id this bundle is made for (unique).
    pub id: String,
    pub dir: PathBuf,
    pub config: Value,
    rootfs: PathBuf,
}

impl Bundle {
    /// The container's cgroup name under the test's cgroup parent ("" if
    /// its cgroupsPath is elsewhere).
    pub fn cgname(&self) -> String {
        self.config
            .pointer("/linux/cgroupsPath")
            .and_then(Value::as_str)
            .and_then(|p| p.strip_prefix(&format!("{CGROUP_PARENT}/")))
            .unwrap_or("")
            .to_string()
    }

    /// A bundle for a new unique container id `<name>-<pid>-<n>`, using the
    /// shared read-only busybox rootfs.
    pub fn new(name: &str) -> Bundle {
        let rootfs = shared_rootfs();
        let id = unique(name);
        let dir = std::env::temp_dir().join(format!("myrt-test-{id}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let config = default_config(&id, &rootfs);
        Bundle {
            id,
            dir,
            config,
            rootfs,
        }
    }

    /// Gives the bundle its own writable copy of the rootfs (`<dir>/rootfs`,
    /// with `root.path` relative, as `runc spec` writes it) and makes the root
    /// writable.
    pub fn own_rootfs(mut self) -> Self {
        let r = self.dir.join("rootfs");
        build_rootfs(&r);
        self.rootfs = r;
        self.set("/root", json!({"path": "rootfs", "readonly": false}))
    }

    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    pub fn args(self, args: &[&str]) -> Self {
        self.set("/process/args", json!(args))
    }

    /// `sh -c SCRIPT`.
    pub fn sh(self, script: &str) -> Self {
        self.args(&["sh", "-c", script])
    }

    pub fn env(self, env: &[&str]) -> Self {
        self.set("/process/env", json!(env))
    }

    pub fn terminal(self, on: bool) -> Self {
        self.set("/process/terminal", json!(on))
    }

    pub fn readonly(self, ro: bool) -> Self {
        self.set("/root/readonly", json!(ro))
    }

    /// Adds a tmpfs mount at `dest` (e.g. a writable /tmp in the read-only root).
    pub fn tmpfs(self, dest: &str) -> Self {
        self.set(
            "/mounts/-",
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "mode=1777"]}),
        )
    }

    /// Sets the value at a JSON pointer (missing objects are created).
    pub fn set(mut self, ptr: &str, val: Value) -> Self {
        json_set(&mut self.config, ptr, val);
        self
    }

    /// Removes the value at a JSON pointer.
    pub fn remove(mut self, ptr: &str) -> Self {
        json_remove(&mut self.config, ptr);
        self
    }

    /// Arbitrary edit of the config.
    pub fn with(mut self, f: impl FnOnce(&mut Value)) -> Self {
        f(&mut self.config);
        self
    }

    /// Two host device nodes, made in the bundle and bind-mounted (so they
    /// are the host's devices, reached through the bind), both outside the
    /// default device allow list: `/dev/hostchr` is c 10:229 (FUSE) and
    /// `/dev/hostblk` b 7:0 (the first loop device).
    pub fn with_host_devices(self) -> Self {
        use nix::sys::stat::{SFlag, makedev};
        mknod(&self.path("chr"), SFlag::S_IFCHR, makedev(10, 229));
        mknod(&self.path("blk"), SFlag::S_IFBLK, makedev(7, 0));
        let bind = |src: &str, dst: &str| json!({"destination": dst, "type": "bind", "source": self.path(src), "options": ["bind"]});
        let binds = [bind("chr", "/dev/hostchr"), bind("blk", "/dev/hostblk")];
        self.with(|v| v["mounts"].as_array_mut().unwrap().extend(binds))
    }

    /// Writes config.json (done by every create/run helper).
    pub fn write(&self) {
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// A path inside the bundle directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Never remove_dir_all through a mount that a runtime left behind.
        let m = mounts_mentioning(&self.dir);
        if m.is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else if !thread::panicking() {
            panic!(
                "mounts left under bundle {}:\n{}",
                self.dir.display(),
                m.join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Leftover checks
// ---------------------------------------------------------------------------

/// Lines of /proc/self/mountinfo that mention `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<String> {
    let p = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&p))
        .map(str::to_string)
        .collect()
}

/// Mount points of the cgroup hierarchies (v1 controllers, name=systemd,
/// unified); on a cgroup v2 host, the one unified hierarchy.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    if is_cgroup2() {
        return vec![PathBuf::from(CGROUP_ROOT)];
    }
    let mut v: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_dir() && !p.is_symlink());
    v.sort();
    v
}

/// Existing cgroup directories `/sys/fs/cgroup/*/myrt-test/<name>`.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.join(CGROUP_PARENT.trim_start_matches('/')).join(name))
        .filter(|p| p.is_dir())
        .collect()
}

/// Where the cgroup file systems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// True when `/sys/fs/cgroup` is a cgroup2 mount (unified mode), detected the
/// way runc does (`statfs` magic). False on this v1 hybrid host; true in
/// `../shared/tools/cgroup2-vm`.
pub fn is_cgroup2() -> bool {
    static V2: OnceLock<bool> = OnceLock::new();
    *V2.get_or_init(|| {
        nix::sys::statfs::statfs(CGROUP_ROOT)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    })
}

/// Panics unless the host is in cgroup v2 (unified) mode.
#[track_caller]
pub fn assert_cgroup2() {
    assert!(
        is_cgroup2(),
        "{CGROUP_ROOT} is not a cgroup2 mount: this test needs a cgroup v2 (unified) host; \
         run it inside the VM with .ci/cgroup2"
    );
}

/// The cgroup v2 directory of container `id`: `/sys/fs/cgroup/myrt-test/<id>`.
pub fn cgroup_v2_dir(id: &str) -> PathBuf {
    Path::new(CGROUP_ROOT)
        .join(CGROUP_PARENT.trim_start_matches('/'))
        .join(id)
}

/// Reads a file of container `id`'s cgroup v2 directory (trimmed).
#[track_caller]
pub fn cgroup_v2_read(id: &str, file: &str) -> String {
    let p = cgroup_v2_dir(id).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The v1 cgroup directory of container `id` for `controller` (e.g. "memory").
pub fn cgroup_v1_dir(controller: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(CGROUP_PARENT.trim_start_matches('/'))
        .join(id)
}

/// Reads a cgroup file of container `id` (trimmed).
pub fn cgroup_read(controller: &str, id: &str, file: &str) -> String {
    let p = cgroup_v1_dir(controller, id).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Pids in cgroup.procs of `dir` and of every cgroup below it.
pub fn cgroup_pids(dir: &Path) -> Vec<i32> {
    let mut v = Vec::new();
    if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
        v.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            v.extend(cgroup_pids(&e.path()));
        }
    }
    v
}

/// Looks for leftovers of container `id` / bundle `bundle` / cgroup `cgname`,
/// removes what it can, and returns a description of each.
pub fn leftovers(root: &Path, id: &str, bundle: &Path, cgname: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for m in mounts_mentioning(bundle) {
        problems.push(format!("mount left: {m}"));
    }
    if !cgname.is_empty() && !cgname.contains('/') && cgname != ".." && cgname != "." {
        for d in cgroup_dirs(cgname) {
            // Processes still in the container's cgroup are this test's:
            // kill them, and reap those re-parented to us.
            let pids = cgroup_pids(&d);
            for &pid in &pids {
                problems.push(format!("process left: {pid} in {}", d.display()));
                sigkill(pid);
            }
            for &pid in &pids {
                let _ = wait_pid(pid, Duration::from_secs(2));
            }
            // Children first (a runtime may have made sub-cgroups).
            let mut find = Command::new("find");
            find.arg(&d)
                .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"]);
            let _ = try_exec_cmd(find, None, Sink::Pipe, CLEANUP_TIMEOUT);
            problems.push(format!("cgroup left: {}", d.display()));
        }
    }
    if !id.is_empty() {
        let sd = root.join(id);
        // `id` may be hostile (e.g. "../x"): only look inside STATE_PARENT.
        if sd.starts_with(STATE_PARENT) && !id.contains("..") && sd.exists() {
            problems.push(format!("state left: {}", sd.display()));
            let _ = fs::remove_dir_all(&sd);
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// Runtime (one per test: its own --root)
// ---------------------------------------------------------------------------

/// The runtime under test, with a state root of this test's own.
pub struct Runtime {
    pub root: PathBuf,
    /// Shared lock on STATE_PARENT: tells other test processes' exit clean-up
    /// that the cgroup parents are in use.
    _lock: File,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        global();
        let lock = File::open(STATE_PARENT).unwrap();
        // SAFETY: flock on an fd that `lock` keeps open.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) };
        let root = Path::new(STATE_PARENT).join(unique("root"));
        Runtime { root, _lock: lock }
    }

    /// `runtime --root ROOT ARGS...` with a fresh Command (add env etc.).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Runs the runtime with `args`, capturing output.
    pub fn cmd(&self, args: &[&str]) -> Output {
        exec_cmd(self.command(args), None, Sink::Pipe, CMD_TIMEOUT)
    }

    /// Runs the runtime with `args`, feeding `input` on stdin.
    pub fn cmd_input(&self, args: &[&str], input: &[u8]) -> Output {
        exec_cmd(self.command(args), Some(input), Sink::Pipe, CMD_TIMEOUT)
    }

    /// `state ID`, parsed; None if the command fails.
    pub fn try_state(&self, id: &str) -> Option<Value> {
        let o = self.cmd(&["state", id]);
        if !o.success() {
            return None;
        }
        Some(serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("state JSON: {e}: {o}")))
    }

    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        match self.try_state(id) {
            Some(v) => v,
            None => panic!("state failed: {}", self.cmd(&["state", id])),
        }
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Polls `state` until the status is `want` (5 s at most).
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            last = self
                .try_state(id)
                .map_or(last, |s| s["status"].as_str().unwrap_or("").into());
            if last == want {
                return;
            }
            if Instant::now() > deadline {
                panic!("container {id}: status {last:?}, want {want:?}");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// A guard for container `bundle.id` that cleans up on drop. Nothing runs yet.
    pub fn guard<'a>(&'a self, bundle: &Bundle) -> Container<'a> {
        self.guard_id(bundle, &bundle.id)
    }

    /// Like `guard`, with an explicit container id (e.g. a second container
    /// made from the same bundle).
    pub fn guard_id<'a>(&'a self, bundle: &Bundle, id: &str) -> Container<'a> {
        let cg = bundle.cgname();
        Container {
            rt: self,
            id: id.to_string(),
            bundle: bundle.dir.clone(),
            cgname: cg,
            pid: Cell::new(0),
            reaped: Cell::new(false),
            pidns: Default::default(),
        }
    }

    /// `create --bundle DIR [extra] ID`; panics if it fails.
    #[track_caller]
    pub fn create<'a>(&'a self, bundle: &Bundle, extra: &[&str]) -> Container<'a> {
        let c = self.guard(bundle);
        c.create(bundle, extra).ok();
        c
    }

    /// `create` then `start`; panics if either fails.
    #[track_caller]
    pub fn create_start<'a>(&'a self, bundle: &Bundle) -> Container<'a> {
        let c = self.create(bundle, &[]);
        c.start().ok();
        c
    }

    /// Foreground `run --bundle DIR ID`: returns its output once the container
    /// exited (exit code = the container's), then checks nothing is left.
    #[track_caller]
    pub fn run(&self, bundle: &Bundle) -> Output {
        let c = self.guard(bundle);
        bundle.write();
        let o = self.cmd(&["run", "--bundle", bundle.dir_str(), &bundle.id]);
        c.reaped.set(true); // the runtime was the parent
        o
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let mut left = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.root) {
            left = rd
                .flatten()
                .map(|e| e.path().display().to_string())
                .collect();
        }
        let _ = fs::remove_dir_all(&self.root);
        if !left.is_empty() && !thread::panicking() {
            panic!("state root not empty: {left:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Container guard
// ---------------------------------------------------------------------------

/// One container of a test. On drop (even on panic): `kill ID KILL`,
/// `delete -f ID`, reap its pid, then check that no mount mentions the bundle,
/// no cgroup `/myrt-test/<id>` and no state dir are left (cleaning them up).
pub struct Container<'a> {
    pub rt: &'a Runtime,
    pub id: String,
    pub bundle: PathBuf,
    /// cgroup name under /myrt-test ("" if the config has none there).
    pub cgname: String,
    pid: Cell<i32>,
    reaped: Cell<bool>,
    /// The init's pid namespace ("pid:[inode]"), recorded after create.
    pidns: std::cell::RefCell<String>,
}

impl<'a> Container<'a> {
    /// Runs `create`, with stdout/stderr going to `<bundle>/<id>.out` and
    /// `<id>.err` (the container inherits them when terminal is false).
    /// Records the pid on success. Does not assert.
    pub fn create(&self, bundle: &Bundle, extra: &[&str]) -> Output {
        bundle.write();
        let mut args = vec!["create", "--bundle", bundle.dir_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let o = exec_cmd(
            self.rt.command(&args),
            None,
            Sink::Files(self.out_path(), self.err_path()),
            CMD_TIMEOUT,
        );
        if o.success() {
            self.record_pid();
        }
        o
    }

    /// Detached `run -d`, output to files like `create`. Records the pid.
    pub fn run_detached(&self, bundle: &Bundle, extra: &[&str]) -> Output {
        bundle.write();
        let mut args = vec!["run", "-d", "--bundle", bundle.dir_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let o = exec_cmd(
            self.rt.command(&args),
            None,
            Sink::Files(self.out_path(), self.err_path()),
            CMD_TIMEOUT,
        );
        if o.success() {
            self.record_pid();
        }
        o
    }

    fn record_pid(&self) {
        if let Some(s) = self.rt.try_state(&self.id) {
            let pid = s["pid"].as_i64().unwrap_or(0) as i32;
            self.pid.set(pid);
            if let Ok(mut l) = live_inits().lock() {
                l.insert(pid);
            }
            if let Ok(l) = fs::read_link(format!("/proc/{pid}/ns/pid")) {
                *self.pidns.borrow_mut() = l.to_string_lossy().into_owned();
            }
        }
    }

    pub fn out_path(&self) -> PathBuf {
        self.bundle.join(format!("{}.out", self.id))
    }
    pub fn err_path(&self) -> PathBuf {
        self.bundle.join(format!("{}.err", self.id))
    }
    /// What the container (and `create`) wrote to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.out_path()).unwrap_or_default()
    }
    /// What the container (and `create`) wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.err_path()).unwrap_or_default()
    }

    /// The container's init pid as reported by `state` after create.
    pub fn pid(&self) -> i32 {
        self.pid.get()
    }

    /// Runs the runtime with `args` (output captured).
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.rt.cmd(args)
    }

    pub fn start(&self) -> Output {
        self.rt.cmd(&["start", &self.id])
    }
    pub fn kill(&self, sig: &str) -> Output {
        self.rt.cmd(&["kill", &self.id, sig])
    }
    pub fn delete(&self) -> Output {
        self.rt.cmd(&["delete", &self.id])
    }
    pub fn delete_force(&self) -> Output {
        self.rt.cmd(&["delete", "-f", &self.id])
    }
    #[track_caller]
    pub fn state(&self) -> Value {
        self.rt.state(&self.id)
    }
    #[track_caller]
    pub fn status(&self) -> String {
        self.rt.status(&self.id)
    }
    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        self.rt.wait_status(&self.id, want)
    }

    /// Foreground `exec ID [opts...] ARGS...`: returns the exec'd process's
    /// output and exit code.
    pub fn exec(&self, opts: &[&str], args: &[&str]) -> Output {
        let mut a = vec!["exec"];
        a.extend_from_slice(opts);
        a.push(&self.id);
        a.extend_from_slice(args);
        self.rt.cmd(&a)
    }

    /// Waits for the container's init (our child: we are its subreaper) to
    /// exit and returns its exit code (128+signal if killed).
    #[track_caller]
    pub fn wait_exit(&self) -> i32 {
        self.wait_exit_within(Duration::from_secs(20))
    }

    /// `wait_exit` for a program that is slow by design (e.g. in the
    /// emulated cgroup v2 VM).
    #[track_caller]
    pub fn wait_exit_within(&self, timeout: Duration) -> i32 {
        let pid = self.pid.get();
        assert!(pid > 0, "no pid recorded for {}", self.id);
        assert!(!self.reaped.get(), "{} already reaped", self.id);
        let code = wait_pid(pid, timeout)
            .unwrap_or_else(|| panic!("container {} (pid {pid}) did not exit", self.id));
        self.reaped.set(true);
        live_inits().lock().unwrap().remove(&pid);
        code
    }
}

/// waitpid on one specific pid (never -1: tests run in parallel threads).
/// Returns the exit code (128+signal), or None on timeout; Some(-1) if the pid
/// is not our child.
pub fn wait_pid(pid: i32, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut st = 0;
        // SAFETY: st is a valid int for the status.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            if libc::WIFEXITED(st) {
                return Some(libc::WEXITSTATUS(st));
            }
            if libc::WIFSIGNALED(st) {
                return Some(128 + libc::WTERMSIG(st));
            }
        } else if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Some(-1);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        // Nothing here may panic while the test is already panicking (that
        // would abort the whole test binary and leave everything behind).
        let _ = try_exec_cmd(
            self.rt.command(&["kill", &self.id, "KILL"]),
            None,
            Sink::Pipe,
            CLEANUP_TIMEOUT,
        );
        // `delete -f` may have to wait for the init to die, and a pid-namespace
        // init only finishes dying once every process of its namespace has
        // been reaped: some may be orphans re-parented to us (e.g. from
        // `exec -d`). So reap while `delete -f` runs.
        let (tx, rx) = mpsc::channel();
        let cmd = self.rt.command(&["delete", "-f", &self.id]);
        thread::spawn(move || {
            let _ = tx.send(try_exec_cmd(cmd, None, Sink::Pipe, CLEANUP_TIMEOUT));
        });
        let del = loop {
            self.reap_orphans();
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(o) => break o,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break Err("lost".into()),
            }
        };
        let pid = self.pid.get();
        if pid > 0 && !self.reaped.get() {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut done = false;
            while !done && Instant::now() < deadline {
                self.reap_orphans();
                done = wait_pid(pid, Duration::from_millis(10)).is_some();
            }
            if !done {
                // Still our unreaped child, so the pid cannot have been reused.
                sigkill(pid);
                let _ = wait_pid(pid, Duration::from_secs(5));
            }
            self.reaped.set(true);
            if let Ok(mut l) = live_inits().lock() {
                l.remove(&pid);
            }
        }
        self.reap_orphans();
        let mut problems = leftovers(&self.rt.root, &self.id, &self.bundle, &self.cgname);
        match del {
            Ok(d) if !problems.is_empty() && !d.success() => {
                problems.push(format!("delete -f failed: {d}"))
            }
            Err(e) => problems.push(format!("delete -f: {e}")),
            _ => {}
        }
        if !problems.is_empty() {
            let msg = format!("container {}: {}", self.id, problems.join("\n"));
            if thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

impl Container<'_> {
    /// Reaps zombie children of ours that belong to this container's pid
    /// namespace (other than the init, which `wait_exit`/drop reap).
    pub fn reap_orphans(&self) {
        // A pid namespace's inode number is reused once it is freed: this
        // container's (dead) namespace may now be another test's. Never
        // reap the init of a container another test is still waiting for.
        let inits = live_inits().lock().map(|l| l.clone()).unwrap_or_default();
        let ns = self.pidns.borrow().clone();
        let me = std::process::id() as i32;
        if ns.is_empty() || ns == ns_link(me, "pid") {
            return;
        }
        for pid in zombie_children() {
            if pid != self.pid.get()
                && !inits.contains(&pid)
                && fs::read_link(format!("/proc/{pid}/ns/pid"))
                    .is_ok_and(|l| l.to_string_lossy() == ns.as_str())
            {
                let _ = wait_pid(pid, Duration::ZERO);
            }
        }
    }
}

/// Init pids of containers whose tests have not reaped them yet.
fn live_inits() -> &'static std::sync::Mutex<std::collections::HashSet<i32>> {
    static INITS: OnceLock<std::sync::Mutex<std::collections::HashSet<i32>>> = OnceLock::new();
    INITS.get_or_init(Default::default)
}

/// Pids of our own children that are zombies.
pub fn zombie_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut f = rest.split(' ');
        let state = f.next();
        let ppid = f.next().and_then(|p| p.parse::<i32>().ok());
        if state == Some("Z") && ppid == Some(me) {
            v.push(pid);
        }
    }
    v
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// Inode of /proc/<pid>/ns/<ns> as seen from the host ("net:[4026...]").
pub fn ns_link(pid: i32, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{ns}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Lines of `s`, sorted, for order-insensitive comparisons.
pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Whether `pid` exists (and is not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(") ")
                .map(|(_, r)| r.chars().next().unwrap_or('?'));
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------
// Console socket
// ---------------------------------------------------------------------------

/// A `--console-socket` listener at `path`: the returned receiver yields
/// the first fd (the pty master) that a client sends with SCM_RIGHTS.
pub fn console_socket(path: &Path) -> mpsc::Receiver<Result<File, String>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{FromRawFd, RawFd};
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = (|| -> Result<File, String> {
            let (s, _) = l.accept().map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4096];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())
                .map_err(|e| e.to_string())?;
            for c in msg.cmsgs().map_err(|e| e.to_string())? {
                if let ControlMessageOwned::ScmRights(fds) = c
                    && let Some(fd) = fds.first()
                {
                    // SAFETY: the fd was just received and is owned by nothing else.
                    return Ok(unsafe { File::from_raw_fd(*fd) });
                }
            }
            Err("no SCM_RIGHTS message".into())
        })();
        let _ = tx.send(r);
    });
    rx
}

/// SIGKILL to `pid` (a process of ours), ignoring ESRCH.
pub fn sigkill(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
}

/// mknod `path` as a device node of `kind` (char or block) with mode 0666.
pub fn mknod(path: &Path, kind: nix::sys::stat::SFlag, dev: libc::dev_t) {
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    nix::sys::stat::mknod(path, kind, mode, dev)
        .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
}
