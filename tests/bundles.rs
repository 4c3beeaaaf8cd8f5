//! bundles/: the bundle generator `mkbundle`, `busybox-rootfs` and
//! `export-layer`.
//!
//! Bundles that mkbundle writes must behave the same on the runtime under test
//! (`$MYRT_TEST_RUNTIME`, else cargo's myrt) and on runc, the reference. The
//! overlay tests check the `org.myrt.rootfs.overlay` annotation, which only
//! myrt implements (they are skipped, with a note, for another runtime).
//! Tests that run containers or mount need root; their names start with
//! `root_`. The generator tests need jq, busybox-static and runc installed.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The reference runtime.
const REFERENCE: &str = "runc";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Path of a script in bundles/.
fn script(name: &str) -> String {
    format!("{}/bundles/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn mkbundle(args: &[&str]) -> Output {
    host(&script("mkbundle"), args)
}

/// A temporary directory, removed on drop (unless something is mounted in it).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("myrt-test-{}", unique(name)));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if mounts_mentioning(&self.0).is_empty() {
            let _ = fs::remove_dir_all(&self.0);
        } else {
            eprintln!("mounts left under {}; not removing it", self.0.display());
        }
    }
}

fn read_json(p: &Path) -> Value {
    let data = fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Makes a bundle with mkbundle in a fresh harness `Bundle` directory (whose
/// id is unique), adding `--cgroup-path /myrt-test/<id>` so that the guards
/// find and check the cgroup. `b.config` holds what mkbundle wrote.
fn make_bundle(name: &str, opts: &[&str], cmd: &[&str]) -> Bundle {
    let b = Bundle::new(name);
    let cg = format!("{CGROUP_PARENT}/{}", b.id);
    let mut args: Vec<&str> = opts.to_vec();
    args.extend(["--cgroup-path", &cg, b.dir_str(), "--"]);
    args.extend_from_slice(cmd);
    mkbundle(&args).ok();
    let config = read_json(&b.path("config.json"));
    b.with(|c| *c = config)
}

/// One runtime binary with a state root of its own (the root and the
/// harness's lock come from a `common::Runtime`).
struct Rt {
    bin: String,
    state: Runtime,
}

impl Rt {
    fn under_test() -> Rt {
        Rt {
            bin: runtime_bin(),
            state: Runtime::new(),
        }
    }

    fn reference() -> Rt {
        Rt {
            bin: REFERENCE.to_string(),
            state: Runtime::new(),
        }
    }

    /// The reference first, then the runtime under test.
    fn both() -> [Rt; 2] {
        [Rt::reference(), Rt::under_test()]
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.state.root).args(args);
        c
    }

    fn cmd(&self, args: &[&str]) -> Output {
        exec_cmd(self.command(args), None, Sink::Pipe, CMD_TIMEOUT)
    }

    fn guard(&self, b: &Bundle) -> Guard<'_> {
        let cgname = b.cgname();
        Guard {
            rt: self,
            id: b.id.clone(),
            bundle: b.dir.clone(),
            cgname,
            pid: 0,
        }
    }

    /// Foreground `run`: the output once the container exited; then checks
    /// that nothing is left behind.
    fn run(&self, b: &Bundle) -> Output {
        let _g = self.guard(b);
        self.cmd(&["run", "--bundle", b.dir_str(), &b.id])
    }

    /// `run -d` (stdio to files in the bundle); panics if it fails.
    fn run_detached(&self, b: &Bundle) -> Guard<'_> {
        let mut g = self.guard(b);
        let o = exec_cmd(
            self.command(&["run", "-d", "--bundle", b.dir_str(), &b.id]),
            None,
            Sink::Files(b.path("run-d.out"), b.path("run-d.err")),
            CMD_TIMEOUT,
        );
        assert!(o.success(), "{}: {o}", self.bin);
        let state = self.cmd(&["state", &b.id]);
        state.ok();
        let state: Value = serde_json::from_str(&state.stdout).unwrap();
        g.pid = state["pid"].as_i64().unwrap_or(0) as i32;
        assert!(g.pid > 0, "{}: no pid in state", self.bin);
        g
    }
}

/// One container: on drop (even on panic) `kill ID KILL`, `delete -f ID`,
/// reap its init (we are the subreaper), then check for leftover mounts,
/// cgroups and state.
struct Guard<'a> {
    rt: &'a Rt,
    id: String,
    bundle: PathBuf,
    cgname: String,
    pid: i32,
}

impl Guard<'_> {
    fn exec(&self, args: &[&str]) -> Output {
        let mut a = vec!["exec", self.id.as_str()];
        a.extend_from_slice(args);
        self.rt.cmd(&a)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.rt.cmd(&["kill", &self.id, "KILL"]);
        let del = self.rt.cmd(&["delete", "-f", &self.id]);
        if self.pid > 0 && wait_pid(self.pid, Duration::from_secs(5)).is_none() {
            // Still our unreaped child, so the pid cannot have been reused.
            sigkill(self.pid);
            let _ = wait_pid(self.pid, Duration::from_secs(5));
        }
        let mut problems = leftovers(&self.rt.state.root, &self.id, &self.bundle, &self.cgname);
        if !problems.is_empty() && !del.success() {
            problems.push(format!("delete -f failed: {del}"));
        }
        if !problems.is_empty() {
            let msg = format!(
                "{} container {}: {}",
                self.rt.bin,
                self.id,
                problems.join("\n")
            );
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

fn cgroup_v2() -> bool {
    let path = CString::new("/sys/fs/cgroup").unwrap();
    // SAFETY: statfs is plain data, valid all-zero.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; st is a valid statfs.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    rc == 0 && st.f_type == libc::CGROUP2_SUPER_MAGIC
}

/// A cgroup file of container `cgname` under /myrt-test: the v1 controller's
/// file, or the v2 file on a unified host.
fn cgroup_value(cgname: &str, v1: (&str, &str), v2: &str) -> String {
    if cgroup_v2() {
        let p = Path::new("/sys/fs/cgroup")
            .join(CGROUP_PARENT.trim_start_matches('/'))
            .join(cgname)
            .join(v2);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    } else {
        cgroup_read(v1.0, cgname, v1.1)
    }
}

/// Everything under `dir`: relative path, kind, size, link target, content
/// hash of small files. Equal snapshots mean an unchanged tree.
fn snapshot(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let md = fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            if ft.is_symlink() {
                out.insert(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else if ft.is_dir() {
                out.insert(format!("{rel}/"));
                walk(root, &p, out);
            } else if ft.is_file() && md.len() < 65536 {
                let data = fs::read(&p).unwrap();
                out.insert(format!("{rel} {} {:?}", md.len(), data));
            } else {
                out.insert(format!("{rel} {} {:?}", md.len(), ft));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Panics with the entries that differ unless the two snapshots are equal.
#[track_caller]
fn assert_same_tree(before: &BTreeSet<String>, after: &BTreeSet<String>, what: &str) {
    let gone: Vec<_> = before.difference(after).collect();
    let new: Vec<_> = after.difference(before).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "{what}: gone or changed {gone:?}; new or changed {new:?}"
    );
}

fn tar_names(tarball: &Path) -> BTreeSet<String> {
    let o = host("tar", &["-tf", tarball.to_str().unwrap()]);
    o.ok();
    o.stdout.lines().map(str::to_string).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// True when the runtime under test is myrt; otherwise says why the test
/// does nothing.
fn overlay_runtime(test: &str) -> bool {
    if is_myrt() {
        return true;
    }
    eprintln!(
        "{test}: skipped: {} does not implement the org.myrt.rootfs.overlay annotation",
        runtime_bin()
    );
    false
}

// ---------------------------------------------------------------------------
// mkbundle without containers
// ---------------------------------------------------------------------------

#[test]
fn mkbundle_rejects_bad_input_before_writing() {
    let tmp = TempDir::new("mkbundle-bad");
    let env_file = tmp.path("env");
    fs::write(&env_file, "# comment\nGOOD=1\n\nBAD\n").unwrap();
    let env_file = env_file.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-e", "foo"], r#"-e: "foo" is not KEY=VALUE"#),
        (&["-e", "=x"], r#"-e: "=x" is not KEY=VALUE"#),
        (
            &["-e", "ok=1", "--env", "bad"],
            r#"-e: "bad" is not KEY=VALUE"#,
        ),
        (
            &["--env-file", env_file],
            &format!(r#"--env-file: {env_file}:4: "BAD" is not KEY=VALUE"#),
        ),
        (&["--env-file", "/nonexistent-myrt-env"], "no such file"),
        (
            &["-v", "/nonexistent-myrt-volume:/data"],
            "-v: /nonexistent-myrt-volume: no such file or directory",
        ),
        (&["-v", "/tmp"], "is not HOST:CONTAINER"),
        (&["-v", "/tmp:data"], "is not absolute"),
        (&["-v", "/tmp:/data:rx"], r#"mode "rx" is not ro or rw"#),
        (&["-m", "12q"], r#"-m: "12q" is not a memory size"#),
        (&["--memory", "1.5g"], r#"-m: "1.5g" is not a memory size"#),
        (&["-m", "0"], "more than 0"),
        (&["--cpus", "lots"], r#"--cpus: "lots" is not a number"#),
        (&["--cpus", "0.001"], "too small"),
        (&["--pids-limit", "0"], "not a positive integer"),
        (&["--hostname", "no_underscore"], "is not a host name"),
        (&["-w", "relative"], "not an absolute path"),
        (&["-u", "root"], "is not UID[:GID]"),
        (&["--rootfs", "/nonexistent-myrt-rootfs"], "no such file"),
        (&["--debian", "--rootfs", "/tmp"], "exclude each other"),
        (&["--no-such-flag"], "unknown option --no-such-flag"),
    ];
    for (args, want) in cases {
        let target = tmp.path("nested/bundle");
        let mut a = args.to_vec();
        a.push(target.to_str().unwrap());
        a.extend(["echo", "hi"]);
        let o = mkbundle(&a);
        assert_eq!(o.code, 2, "{args:?}: exit code: {o}");
        let line = o.stderr.trim_end();
        assert!(
            line.starts_with("mkbundle: ") && !line.contains('\n') && line.contains(want),
            "{args:?}: want one line with {want:?}: {o}"
        );
        assert!(o.stdout.is_empty(), "{args:?}: {o}");
        assert!(
            !tmp.path("nested").exists(),
            "{args:?}: something was written: {o}"
        );
    }
}

#[test]
fn mkbundle_refuses_to_overwrite_a_config() {
    let tmp = TempDir::new("mkbundle-twice");
    let rootfs = tmp.path("rootfs-dir");
    fs::create_dir(&rootfs).unwrap();
    let b = tmp.path("b");
    let (r, b) = (rootfs.to_str().unwrap(), b.to_str().unwrap());
    mkbundle(&["--rootfs", r, b, "true"]).ok();
    let before = fs::read(tmp.path("b/config.json")).unwrap();
    let o = mkbundle(&["--rootfs", r, b, "false"]);
    assert_eq!(o.code, 2, "{o}");
    assert!(o.stderr.contains("--force"), "{o}");
    assert_eq!(fs::read(tmp.path("b/config.json")).unwrap(), before);
    mkbundle(&["--force", "--rootfs", r, b, "false"]).ok();
    assert_eq!(
        read_json(&tmp.path("b/config.json"))["process"]["args"],
        json!(["false"])
    );
}

/// With no options the config is `runc spec`'s (same mounts, namespaces,
/// capabilities, masked and read-only paths), except: no terminal, a
/// writable root, the command `sh`, and a busybox rootfs in the bundle.
#[test]
fn mkbundle_default_config_is_runc_spec() {
    let tmp = TempDir::new("mkbundle-default");
    let b = tmp.path("bundle");
    mkbundle(&[b.to_str().unwrap()]).ok();
    let ours = read_json(&b.join("config.json"));

    let spec_dir = tmp.path("runc-spec");
    fs::create_dir(&spec_dir).unwrap();
    host(REFERENCE, &["spec", "--bundle", spec_dir.to_str().unwrap()]).ok();
    let theirs = read_json(&spec_dir.join("config.json"));

    for ptr in [
        "/ociVersion",
        "/process/user",
        "/process/cwd",
        "/process/capabilities",
        "/process/noNewPrivileges",
        "/process/env/0",
        "/root/path",
        "/mounts",
        "/linux/resources",
        "/linux/namespaces",
        "/linux/maskedPaths",
        "/linux/readonlyPaths",
    ] {
        assert_eq!(ours.pointer(ptr), theirs.pointer(ptr), "{ptr}");
    }
    // runc spec's RLIMIT_NOFILE 1024, unless the hard limit here is lower.
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    if rl.rlim_max >= 1024 {
        assert_eq!(
            ours.pointer("/process/rlimits"),
            theirs.pointer("/process/rlimits")
        );
    } else {
        assert!(ours.pointer("/process/rlimits").is_none());
    }
    assert_eq!(ours["process"]["terminal"], json!(false));
    assert_eq!(ours["process"]["args"], json!(["sh"]));
    assert_eq!(ours["process"]["env"].as_array().unwrap().len(), 1);
    assert_eq!(ours["root"]["readonly"], json!(false));
    assert!(ours.get("annotations").is_none());
    assert!(ours.pointer("/linux/cgroupsPath").is_none());

    let rootfs = b.join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
}

#[test]
fn mkbundle_options_map_to_config() {
    let tmp = TempDir::new("mkbundle-opts");
    let rootfs = tmp.path("rootfs");
    let data = tmp.path("data");
    let rw = tmp.path("rw");
    for d in [&rootfs, &data, &rw] {
        fs::create_dir(d).unwrap();
    }
    let env_file = tmp.path("env");
    fs::write(&env_file, "# comment\n\nFROM_FILE=1\nbird=from-file\n").unwrap();
    let layer = tmp.path("layer");
    let b = tmp.path("bundle");
    let data_ro = format!("{}:/data:ro", data.display());
    let rw_vol = format!("{}:/rw", rw.display());
    let overlay = format!("--overlay={}", layer.display());
    mkbundle(&[
        "--rootfs",
        rootfs.to_str().unwrap(),
        "-e",
        "bird=123",
        "--env",
        "two=a b",
        "--env-file",
        env_file.to_str().unwrap(),
        "-v",
        &data_ro,
        "--volume",
        &rw_vol,
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "20",
        "--hostname",
        "box",
        "-t",
        "-w",
        "/tmp",
        "-u",
        "1000:1001",
        "--readonly",
        &overlay,
        "--cgroup-path",
        "/myrt-test/opts",
        b.to_str().unwrap(),
        "--",
        "ls",
        "-l",
        "/",
    ])
    .ok();
    let c = read_json(&b.join("config.json"));
    let p = &c["process"];
    assert_eq!(p["args"], json!(["ls", "-l", "/"]));
    assert_eq!(
        p["env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
            "FROM_FILE=1",
            "bird=123",
            "two=a b"
        ])
    );
    assert_eq!(p["terminal"], json!(true));
    assert_eq!(p["cwd"], json!("/tmp"));
    assert_eq!(p["user"], json!({"uid": 1000, "gid": 1001}));
    assert_eq!(
        c["root"],
        json!({"path": rootfs.to_str().unwrap(), "readonly": true})
    );
    assert_eq!(c["hostname"], json!("box"));
    let mounts = c["mounts"].as_array().unwrap();
    assert_eq!(
        mounts[mounts.len() - 2..],
        [
            json!({"destination": "/data", "type": "bind", "source": data.to_str().unwrap(),
                   "options": ["rbind", "rprivate", "ro"]}),
            json!({"destination": "/rw", "type": "bind", "source": rw.to_str().unwrap(),
                   "options": ["rbind", "rprivate"]}),
        ]
    );
    let r = &c["linux"]["resources"];
    assert_eq!(r["memory"], json!({"limit": 67108864}));
    assert_eq!(r["cpu"], json!({"quota": 150000, "period": 100000}));
    assert_eq!(r["pids"], json!({"limit": 20}));
    assert_eq!(c["linux"]["cgroupsPath"], json!("/myrt-test/opts"));
    assert_eq!(
        c["annotations"],
        json!({"org.myrt.rootfs.overlay": layer.to_str().unwrap()})
    );

    // Memory sizes and the plain --overlay.
    for (size, bytes) in [
        ("1g", 1u64 << 30),
        ("512k", 512 << 10),
        ("2M", 2 << 20),
        ("1048576", 1 << 20),
        ("100mb", 100 << 20),
    ] {
        let b2 = tmp.path(&format!("m-{size}"));
        mkbundle(&[
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--overlay",
            "-m",
            size,
            b2.to_str().unwrap(),
        ])
        .ok();
        let c = read_json(&b2.join("config.json"));
        assert_eq!(c["linux"]["resources"]["memory"]["limit"], json!(bytes));
        assert_eq!(c["annotations"], json!({"org.myrt.rootfs.overlay": "true"}));
        assert_eq!(c["process"]["args"], json!(["sh"]));
        assert_eq!(c["process"]["terminal"], json!(false));
    }
}

#[test]
fn mkbundle_unpacks_a_rootfs_tarball() {
    let tmp = TempDir::new("mkbundle-tar");
    let rootfs = tmp.path("rootfs");
    host(&script("busybox-rootfs"), &[rootfs.to_str().unwrap()]).ok();
    let tarball = tmp.path("rootfs.tar.gz");
    host(
        "tar",
        &[
            "-czf",
            tarball.to_str().unwrap(),
            "-C",
            rootfs.to_str().unwrap(),
            ".",
        ],
    )
    .ok();
    let b = tmp.path("bundle");
    mkbundle(&["--rootfs", tarball.to_str().unwrap(), b.to_str().unwrap()]).ok();
    assert_eq!(
        read_json(&b.join("config.json"))["root"]["path"],
        json!("rootfs")
    );
    assert_eq!(snapshot(&b.join("rootfs")), snapshot(&rootfs));
}

#[test]
fn busybox_rootfs_is_complete_and_idempotent() {
    let tmp = TempDir::new("busybox-rootfs");
    let dir = tmp.path("rootfs");
    let d = dir.to_str().unwrap();
    host(&script("busybox-rootfs"), &[d]).ok();
    let first = snapshot(&dir);
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        assert!(dir.join(sub).is_dir(), "{sub}");
    }
    for f in ["etc/passwd", "etc/group", "etc/hostname"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let list = host("/bin/busybox", &["--list"]);
    list.ok();
    for applet in list.stdout.split_whitespace().filter(|a| *a != "busybox") {
        assert_eq!(
            fs::read_link(dir.join("bin").join(applet)).ok(),
            Some(PathBuf::from("busybox")),
            "bin/{applet}"
        );
    }
    host(&script("busybox-rootfs"), &[d]).ok();
    assert_eq!(snapshot(&dir), first);

    let mut c = Command::new(script("busybox-rootfs"));
    c.arg(tmp.path("other"))
        .env("BUSYBOX", "/nonexistent/busybox");
    let o = exec_cmd(c, None, Sink::Pipe, CMD_TIMEOUT);
    o.fails();
    assert!(o.stderr.contains("busybox-static"), "{o}");
}

/// export-layer on an overlay upper dir made by hand (no runtime involved):
/// exactly the changed files, whiteouts as `.wh.` files.
#[test]
fn root_export_layer_converts_whiteouts() {
    let tmp = TempDir::new("export-manual");
    let lower = tmp.path("lower");
    host(&script("busybox-rootfs"), &[lower.to_str().unwrap()]).ok();
    fs::create_dir_all(lower.join("opaque")).unwrap();
    fs::write(lower.join("opaque/old"), "old").unwrap();
    let layer = tmp.path("layer");
    for d in ["upper", "work", "merged"] {
        fs::create_dir_all(layer.join(d)).unwrap();
    }
    // A private mount namespace: the overlay goes away with `unshare`.
    let script_text = format!(
        "set -e; mount --make-rprivate /; \
         mount -t overlay overlay -o lowerdir={l},upperdir={u},workdir={w} {m}; \
         cd {m}; echo new > new-file; echo changed > etc/hostname; rm etc/group; \
         mkdir -p a/b; echo z > a/b/c; rm -r opaque; mkdir opaque; touch opaque/fresh",
        l = lower.display(),
        u = layer.join("upper").display(),
        w = layer.join("work").display(),
        m = layer.join("merged").display(),
    );
    host("unshare", &["-m", "sh", "-c", &script_text]).ok();
    assert!(
        fs::symlink_metadata(layer.join("upper/etc/group"))
            .unwrap()
            .file_type()
            .is_char_device()
    );

    let out = tmp.path("layer.tar");
    host(
        &script("export-layer"),
        &[layer.to_str().unwrap(), out.to_str().unwrap()],
    )
    .ok();
    assert_eq!(
        tar_names(&out),
        set(&[
            "a/",
            "a/b/",
            "a/b/c",
            "etc/",
            "etc/.wh.group",
            "etc/hostname",
            "new-file",
            "opaque/",
            "opaque/.wh..wh..opq",
            "opaque/fresh",
        ])
    );
    let o = host("tar", &["-xOf", out.to_str().unwrap(), "etc/hostname"]);
    assert_eq!(o.ok().stdout, "changed\n");

    let raw = tmp.path("raw.tar");
    host(
        &script("export-layer"),
        &[
            "--keep-whiteouts",
            layer.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
    )
    .ok();
    let o = host("tar", &["-tvf", raw.to_str().unwrap()]);
    o.ok();
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with('c') && l.ends_with(" etc/group")),
        "{o}"
    );
}

// ---------------------------------------------------------------------------
// The same bundle on runc and on the runtime under test
// ---------------------------------------------------------------------------

#[test]
fn root_env_is_the_same_on_both() {
    let b = make_bundle(
        "bundle-env",
        &["-e", "bird=123", "-e", "two=a b", "-e", "empty="],
        &["env"],
    );
    let mut outs = Vec::new();
    for rt in Rt::both() {
        let o = rt.run(&b);
        assert!(o.success(), "{}: {o}", rt.bin);
        assert!(o.stdout.lines().any(|l| l == "bird=123"), "{}: {o}", rt.bin);
        outs.push((rt.bin.clone(), sorted_lines(&o.stdout)));
    }
    assert_eq!(outs[0].1, outs[1].1, "{} vs {}", outs[0].0, outs[1].0);
}

#[test]
fn root_volume_is_visible_the_same_on_both() {
    let tmp = TempDir::new("bundle-vol");
    fs::write(tmp.path("hello"), "hello from the host\n").unwrap();
    let vol = format!("{}:/data", tmp.str());
    let b = make_bundle(
        "bundle-vol",
        &["-v", &vol],
        &[
            "sh",
            "-c",
            "cat /data/hello && grep -c ' /data ' /proc/mounts",
        ],
    );
    for rt in Rt::both() {
        let o = rt.run(&b);
        assert!(o.success(), "{}: {o}", rt.bin);
        assert_eq!(o.stdout, "hello from the host\n1\n", "{}: {o}", rt.bin);
    }
}

#[test]
fn root_ro_volume_is_read_only_and_rw_volume_is_shared() {
    for rt in Rt::both() {
        let ro = TempDir::new("bundle-ro");
        let rw = TempDir::new("bundle-rw");
        fs::write(ro.path("keep"), "kept\n").unwrap();
        fs::write(rw.path("from-host"), "host wrote this\n").unwrap();
        let ro_vol = format!("{}:/ro:ro", ro.str());
        let rw_vol = format!("{}:/rw", rw.str());
        let b = make_bundle(
            "bundle-rorw",
            &["-v", &ro_vol, "-v", &rw_vol],
            &[
                "sh",
                "-c",
                "cat /ro/keep; \
                 if touch /ro/new 2>/dev/null; then echo ro-writable; else echo ro-refused; fi; \
                 if rm /ro/keep 2>/dev/null; then echo ro-removed; else echo ro-kept; fi; \
                 cat /rw/from-host; echo container wrote this > /rw/from-container",
            ],
        );
        let o = rt.run(&b);
        assert!(o.success(), "{}: {o}", rt.bin);
        assert_eq!(
            o.stdout, "kept\nro-refused\nro-kept\nhost wrote this\n",
            "{}: {o}",
            rt.bin
        );
        assert!(!ro.path("new").exists(), "{}", rt.bin);
        assert_eq!(fs::read_to_string(ro.path("keep")).unwrap(), "kept\n");
        assert_eq!(
            fs::read_to_string(rw.path("from-container")).unwrap(),
            "container wrote this\n",
            "{}",
            rt.bin
        );
    }
}

#[test]
fn root_resource_limits_land_in_the_cgroup_on_both() {
    let b = make_bundle(
        "bundle-cg",
        &["-m", "64m", "--cpus", "0.5", "--pids-limit", "33"],
        &["sleep", "30"],
    );
    let cg = b.id.clone();
    for rt in Rt::both() {
        let _c = rt.run_detached(&b);
        let memory = cgroup_value(&cg, ("memory", "memory.limit_in_bytes"), "memory.max");
        assert_eq!(memory, "67108864", "{}", rt.bin);
        if cgroup_v2() {
            assert_eq!(cgroup_value(&cg, ("", ""), "cpu.max"), "50000 100000");
        } else {
            assert_eq!(cgroup_read("cpu", &cg, "cpu.cfs_quota_us"), "50000");
            assert_eq!(cgroup_read("cpu", &cg, "cpu.cfs_period_us"), "100000");
        }
        assert_eq!(cgroup_value(&cg, ("pids", "pids.max"), "pids.max"), "33");
    }
}

// ---------------------------------------------------------------------------
// Overlay root (myrt's org.myrt.rootfs.overlay annotation)
// ---------------------------------------------------------------------------

#[test]
fn root_overlay_containers_do_not_see_each_other() {
    if !overlay_runtime("root_overlay_containers_do_not_see_each_other") {
        return;
    }
    let base_dir = TempDir::new("overlay-base");
    let base = base_dir.path("rootfs");
    host(&script("busybox-rootfs"), &[base.to_str().unwrap()]).ok();
    let before = snapshot(&base);
    let opts = ["--rootfs", base.to_str().unwrap(), "--overlay"];
    let a = make_bundle(
        "overlay-a",
        &opts,
        &["sh", "-c", "echo a > /from-a && exec sleep 30"],
    );
    let b = make_bundle(
        "overlay-b",
        &opts,
        &[
            "sh",
            "-c",
            "echo b > /from-b && cat /from-b && \
             if [ -e /from-a ]; then echo sees-a; else echo no-a; fi",
        ],
    );
    let rt = Rt::under_test();
    {
        let ca = rt.run_detached(&a);
        wait_until("container a wrote /from-a", Duration::from_secs(10), || {
            let o = ca.exec(&["cat", "/from-a"]);
            (o.success() && o.stdout == "a\n").then_some(())
        });
        let ob = rt.run(&b);
        assert!(ob.success(), "{ob}");
        assert_eq!(ob.stdout, "b\nno-a\n", "{ob}");
        let o = ca.exec(&[
            "sh",
            "-c",
            "if [ -e /from-b ]; then echo sees-b; else echo no-b; fi",
        ]);
        assert_eq!(o.ok().stdout, "no-b\n", "{o}");
        assert_same_tree(&before, &snapshot(&base), "the base changed while a ran");
    }
    assert_same_tree(&before, &snapshot(&base), "the base changed");
    assert!(mounts_mentioning(&base).is_empty());
    // The default layer lives in the runtime's state dir and goes with delete.
    let left: Vec<_> = fs::read_dir(&rt.state.root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left after delete: {left:?}");
}

#[test]
fn root_overlay_kept_layer_exports_changed_files() {
    if !overlay_runtime("root_overlay_kept_layer_exports_changed_files") {
        return;
    }
    let tmp = TempDir::new("overlay-kept");
    let base = tmp.path("rootfs");
    host(&script("busybox-rootfs"), &[base.to_str().unwrap()]).ok();
    let before = snapshot(&base);
    let layer = tmp.path("layer");
    let overlay = format!("--overlay={}", layer.display());
    let opts = ["--rootfs", base.to_str().unwrap(), overlay.as_str()];
    let b = make_bundle(
        "overlay-kept",
        &opts,
        &[
            "sh",
            "-c",
            "echo new > /new-file && echo changed > /etc/hostname && rm /etc/group && \
             mkdir -p /a/b && echo z > /a/b/c",
        ],
    );
    let rt = Rt::under_test();
    let o = rt.run(&b);
    assert!(o.success(), "{o}");
    assert_same_tree(&before, &snapshot(&base), "the base changed");
    assert_eq!(
        fs::read_to_string(layer.join("upper/new-file"))
            .ok()
            .as_deref(),
        Some("new\n"),
        "the layer was not kept in {}",
        layer.display()
    );
    assert!(mounts_mentioning(&layer).is_empty());

    let out = tmp.path("layer.tar");
    host(
        &script("export-layer"),
        &[layer.to_str().unwrap(), out.to_str().unwrap()],
    )
    .ok();
    assert_eq!(
        tar_names(&out),
        set(&[
            "a/",
            "a/b/",
            "a/b/c",
            "etc/",
            "etc/.wh.group",
            "etc/hostname",
            "new-file",
        ])
    );

    // The kept layer is the next container's writable layer.
    let again = make_bundle(
        "overlay-again",
        &opts,
        &["sh", "-c", "cat /new-file /etc/hostname; ls /etc"],
    );
    let o = rt.run(&again);
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "new\nchanged\nhostname\npasswd\n", "{o}");
    assert_same_tree(&before, &snapshot(&base), "the base changed");
}
