//! configs: the corpus of config.json files as real generators write them
//! (tests/configs/, where README.md says where each one comes from). Each
//! must create, start, exec, state and delete cleanly, leaving nothing
//! behind (no mount, cgroup or state; the `Container` guard checks).
//!
//! A config is used as it is, except for what belongs to the machine it
//! runs on: `root.path` (a busybox root of the test's own), a cgroupsPath
//! under /myrt-test/, the placeholders `@BUNDLE@` (bind sources, created
//! empty: `@BUNDLE@/files/...` as files, `@BUNDLE@/dirs/...` as
//! directories) and `@SANDBOX_PID@` (a process holding ipc, uts and network
//! namespaces of its own, standing in for a pod's sandbox), and
//! `process.args`, which becomes `sleep 300`. A config whose
//! `process.terminal` is true gets a console socket; with a user namespace,
//! the root is chowned to the container's root, as engines do.
//!
//! A config that fails for a reason being fixed elsewhere is listed in
//! tests/configs/KNOWN_FAILING (`name: reason`): with myrt, its test prints
//! that (past the output capture) and returns. `MYRT_CONFIGS_ALL=1`, or
//! another runtime under test (`MYRT_TEST_RUNTIME=runc`), runs those too.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/configs");

/// One test per config file; `ALL` lists them for `corpus_is_complete`.
macro_rules! corpus {
    ($($test:ident => $file:literal,)*) => {
        const ALL: &[&str] = &[$($file),*];
        $(
            #[test]
            fn $test() {
                run_config($file);
            }
        )*
    };
}

corpus! {
    root_runc_spec => "runc-spec.json",
    root_runc_spec_rootless => "runc-spec-rootless.json",
    root_podman_run => "podman-run.json",
    root_podman_run_privileged => "podman-run-privileged.json",
    root_podman_run_readonly_user_volume => "podman-run-readonly-user-volume.json",
    root_podman_run_uidmap => "podman-run-uidmap.json",
    root_podman_run_in_pod => "podman-run-in-pod.json",
    root_podman_run_host_namespaces => "podman-run-host-namespaces.json",
    root_podman_run_options => "podman-run-options.json",
    root_containerd_ctr_run => "containerd-ctr-run.json",
    root_containerd_ctr_run_seccomp => "containerd-ctr-run-seccomp.json",
    root_containerd_ctr_run_privileged => "containerd-ctr-run-privileged.json",
    root_containerd_ctr_run_readonly_limits => "containerd-ctr-run-readonly-limits.json",
    root_containerd_ctr_run_tty => "containerd-ctr-run-tty.json",
    root_cri_pod_container => "cri-pod-container.json",
    root_seccomp_recorded_no_close_range => "seccomp-recorded-no-close-range.json",
    root_docker_run => "docker-run.json",
    root_docker_run_options => "docker-run-options.json",
    root_docker_run_privileged => "docker-run-privileged.json",
}

/// `name: reason` lines of KNOWN_FAILING (`#` starts a comment).
fn known_failing() -> BTreeMap<String, String> {
    let text = fs::read_to_string(Path::new(DIR).join("KNOWN_FAILING")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, r) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("KNOWN_FAILING: no `name: reason` in {l:?}"));
            (n.trim().to_string(), r.trim().to_string())
        })
        .collect()
}

#[test]
fn corpus_is_complete() {
    // Every config file has its test, and KNOWN_FAILING names only configs
    // of the corpus, each with a reason.
    let mut files: Vec<String> = fs::read_dir(DIR)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "tests/configs/*.json and the corpus! list differ"
    );
    for (name, reason) in known_failing() {
        assert!(
            ALL.contains(&name.as_str()),
            "KNOWN_FAILING: no config {name}"
        );
        assert!(!reason.is_empty(), "KNOWN_FAILING: {name} has no reason");
    }
    for f in ALL {
        let v: Value = serde_json::from_str(&fs::read_to_string(Path::new(DIR).join(f)).unwrap())
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(v["ociVersion"].is_string(), "{f}: no ociVersion");
    }
}

/// A process with ipc, uts and network namespaces of its own: the pod
/// sandbox whose namespaces a CRI container joins by path.
struct Sandbox(Child);

impl Sandbox {
    fn start() -> Sandbox {
        let child = Command::new("unshare")
            .args(["--ipc", "--uts", "--net", "--", "sleep", "300"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux)");
        let pid = child.id() as i32;
        let me = std::process::id() as i32;
        // unshare execs sleep in place once the namespaces exist.
        wait_until("sandbox namespaces", Duration::from_secs(10), || {
            let ours = ns_link(me, "net");
            let theirs = fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (theirs.to_string_lossy() != ours && comm.trim() == "sleep").then_some(())
        });
        Sandbox(child)
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates the bind sources `@BUNDLE@/{files,dirs}/...` that `v` names.
fn make_bind_sources(v: &Value, bundle: &Path) {
    let prefix = bundle.to_string_lossy().into_owned();
    for m in v["mounts"].as_array().into_iter().flatten() {
        let Some(src) = m["source"].as_str() else {
            continue;
        };
        let Some(rest) = src.strip_prefix(&prefix) else {
            continue;
        };
        let p = PathBuf::from(src);
        if rest.starts_with("/dirs/") {
            fs::create_dir_all(&p).unwrap();
        } else if rest.starts_with("/files/") {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "").unwrap();
        }
    }
}

/// With a user namespace, the root belongs to the container's root, as an
/// engine prepares it (podman chowns the image for `--uidmap`).
fn chown_for_userns(v: &Value, rootfs: &Path) {
    let host_of = |maps: &Value| {
        maps.as_array()?
            .iter()
            .find(|m| m["containerID"] == 0)
            .and_then(|m| m["hostID"].as_u64())
            .map(|id| id as u32)
    };
    let (Some(uid), Some(gid)) = (
        host_of(&v["linux"]["uidMappings"]),
        host_of(&v["linux"]["gidMappings"]),
    ) else {
        return;
    };
    fn walk(p: &Path, uid: u32, gid: u32) {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
        if fs::symlink_metadata(p).unwrap().is_dir() {
            for e in fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), uid, gid);
            }
        }
    }
    walk(rootfs, uid, gid);
}

fn run_config(file: &str) {
    if let Some(reason) = known_failing().get(file)
        && is_myrt()
        && std::env::var("MYRT_CONFIGS_ALL").is_err()
    {
        // Straight to stderr, past the test harness's output capture: a
        // skipped config must show in every run's output.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "tests/configs: KNOWN FAILING, skipped: {file}: {reason}"
        );
        return;
    }
    let raw = fs::read_to_string(Path::new(DIR).join(file)).unwrap();
    let name = file.trim_end_matches(".json");
    let b = Bundle::new(&name[..name.len().min(24)]).own_rootfs();
    let sandbox = raw.contains("@SANDBOX_PID@").then(Sandbox::start);
    let text = raw.replace("@BUNDLE@", b.dir_str()).replace(
        "@SANDBOX_PID@",
        &sandbox.as_ref().map_or(0, Sandbox::pid).to_string(),
    );
    let mut cfg: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    make_bind_sources(&cfg, &b.dir);
    chown_for_userns(&cfg, b.rootfs());
    let readonly = cfg["root"]["readonly"].as_bool().unwrap_or(false);
    json_set(
        &mut cfg,
        "/root",
        json!({"path": "rootfs", "readonly": readonly}),
    );
    json_set(
        &mut cfg,
        "/linux/cgroupsPath",
        json!(format!("{CGROUP_PARENT}/{}", b.id)),
    );
    json_set(&mut cfg, "/process/args", json!(["sleep", "300"]));
    let terminal = cfg["process"]["terminal"].as_bool().unwrap_or(false);
    let annotations = cfg["annotations"].clone();
    let b = b.with(|c| *c = cfg);

    let rt = Runtime::new();
    let c = rt.guard(&b);
    let sock = b.path("console.sock");
    let mut extra = Vec::new();
    let console = terminal.then(|| {
        extra = vec!["--console-socket".to_string(), sock.display().to_string()];
        console_socket(&sock)
    });
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = c.create(&b, &extra);
    assert!(
        o.success(),
        "{file}: create: {o}\ncontainer stderr: {}",
        c.stderr()
    );
    // The pty master, held until the end (its process would get SIGHUP).
    let _master = console.map(|rx| {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("no pty from --console-socket")
            .expect("pty from --console-socket")
    });
    assert_eq!(c.status(), "created", "{file}");
    assert!(c.pid() > 0, "{file}: no pid after create");

    let o = c.start();
    assert!(
        o.success(),
        "{file}: start: {o}\ncontainer stderr: {}",
        c.stderr()
    );
    assert_eq!(c.status(), "running", "{file}");

    let o = c.exec(&[], &["echo", "exec-ok"]);
    assert!(
        o.success() && o.stdout == "exec-ok\n",
        "{file}: exec: {o}\ncontainer stderr: {}",
        c.stderr()
    );

    let s = c.state();
    assert_eq!(s["id"], c.id.as_str(), "{file}: {s}");
    assert_eq!(s["status"], "running", "{file}");
    assert_eq!(s["pid"].as_i64(), Some(c.pid() as i64), "{file}");
    assert_eq!(s["bundle"], b.dir_str(), "{file}");
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        assert!(
            s["annotations"] == annotations,
            "{file}: state's annotations differ from the config's"
        );
    }
    if let Some(sb) = &sandbox {
        for ns in ["ipc", "uts", "net"] {
            assert_eq!(
                ns_link(c.pid(), ns),
                ns_link(sb.pid(), ns),
                "{file}: {ns} namespace of the sandbox not joined"
            );
        }
    }

    c.kill("KILL").ok();
    let code = c.wait_exit();
    assert_eq!(code, 128 + libc::SIGKILL, "{file}");
    assert_eq!(c.status(), "stopped", "{file}");
    let o = c.delete();
    assert!(o.success(), "{file}: delete: {o}");
    assert!(
        rt.try_state(&c.id).is_none(),
        "{file}: state still answers after delete"
    );
    if let Some(sb) = &sandbox {
        assert!(pid_alive(sb.pid()), "{file}: the sandbox died");
    }
    // The guard's drop checks that nothing is left behind.
}
