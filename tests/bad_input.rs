//! Bad bundles and bad ids: the runtime exits non-zero, says what is wrong
//! (myrt: `myrt: <op> <id>: <cause>` naming the field) and leaves nothing
//! behind: no state dir, no cgroup, no mount, no process.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::fs;

/// Runs `create` for `b` (with id `id`), expects failure, and checks that
/// nothing is left. Returns the failed command's output.
#[track_caller]
fn create_fails(rt: &Runtime, b: &Bundle, id: &str) -> Output {
    let out = {
        let c = rt.guard_id(b, id);
        let o = c.create(b, &[]);
        assert!(!o.success(), "create unexpectedly succeeded: {o}");
        assert!(!o.stderr.trim().is_empty(), "no error message: {o}");
        assert_eq!(c.pid(), 0);
        // The guard's drop checks cgroups, mounts and the state dir.
        o
    };
    assert_root_empty(rt);
    out
}

#[track_caller]
fn assert_root_empty(rt: &Runtime) {
    if let Ok(rd) = fs::read_dir(&rt.root) {
        let left: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "left in state root: {left:?}");
    }
}

fn sleeper(name: &str) -> Bundle {
    Bundle::new(name).args(&["sleep", "30"])
}

#[test]
fn root_invalid_json() {
    let rt = Runtime::new();
    let b = sleeper("badjson");
    let c = rt.guard(&b);
    fs::write(
        b.path("config.json"),
        "{\"ociVersion\": \"1.0.2\", bad json",
    )
    .unwrap();
    let o = exec_cmd(
        rt.command(&["create", "--bundle", b.dir_str(), &b.id]),
        None,
        Sink::Pipe,
        CMD_TIMEOUT,
    );
    o.fails();
    assert_myrt_error(&o.stderr, "create", &b.id, &["config.json"]);
    drop(c);
    assert_root_empty(&rt);
}

#[test]
fn root_missing_config_json() {
    let rt = Runtime::new();
    let b = sleeper("noconfig");
    let c = rt.guard(&b);
    let o = rt.cmd(&["create", "--bundle", b.dir_str(), &b.id]);
    o.fails();
    assert_myrt_error(&o.stderr, "create", &b.id, &["config.json"]);
    drop(c);
    assert_root_empty(&rt);
}

#[test]
fn root_missing_process() {
    let rt = Runtime::new();
    let b = sleeper("noprocess").remove("/process");
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["process"]);
}

#[test]
fn root_relative_cwd() {
    let rt = Runtime::new();
    let b = sleeper("relcwd").set("/process/cwd", json!("tmp"));
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["process.cwd"]);
}

#[test]
fn root_empty_args() {
    let rt = Runtime::new();
    let b = sleeper("noargs").set("/process/args", json!([]));
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["process.args"]);
}

#[test]
fn root_nonexistent_root_path() {
    let rt = Runtime::new();
    let b = sleeper("noroot").set("/root/path", json!("/nonexistent/myrt-test-rootfs"));
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["root.path"]);
}

#[test]
fn root_missing_root() {
    let rt = Runtime::new();
    let b = sleeper("rootmissing").remove("/root");
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["root"]);
}

#[test]
fn root_unknown_namespace_type() {
    let rt = Runtime::new();
    let b = sleeper("badns").set("/linux/namespaces/-", json!({"type": "bogus"}));
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["linux.namespaces", "bogus"]);
}

#[test]
fn root_duplicate_namespace() {
    let rt = Runtime::new();
    let b = sleeper("dupns").set("/linux/namespaces/-", json!({"type": "pid"}));
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["linux.namespaces"]);
}

#[test]
fn root_nonexistent_namespace_path() {
    let rt = Runtime::new();
    let b = sleeper("nspath").with(|v| {
        for n in v["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!("/nonexistent/ns/net");
            }
        }
    });
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["/nonexistent/ns/net"]);
}

#[test]
fn root_unknown_rlimit() {
    let rt = Runtime::new();
    let b = sleeper("badrlimit").set(
        "/process/rlimits/-",
        json!({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}),
    );
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["RLIMIT_BOGUS"]);
}

#[test]
fn root_unknown_mount_type() {
    // Fails inside the container set-up, after namespaces and cgroups exist:
    // they must be cleaned up.
    let rt = Runtime::new();
    let b = sleeper("badmount").set(
        "/mounts/-",
        json!({"destination": "/mnt", "type": "nosuchfs", "source": "x"}),
    );
    let o = create_fails(&rt, &b, &b.id);
    assert_myrt_error(&o.stderr, "create", &b.id, &["/mnt"]);
}

#[test]
fn root_nonexistent_executable() {
    // runc reports this at create; a runtime may also report it at start.
    // Either way something fails and nothing is left after delete.
    let rt = Runtime::new();
    let b = Bundle::new("noexe").args(&["/nonexistent-binary"]);
    let c = rt.guard(&b);
    let o = c.create(&b, &[]);
    if o.success() {
        let s = c.start();
        if s.success() {
            assert_eq!(c.wait_exit(), 127, "exec of a missing binary");
        }
        c.delete_force().ok();
    } else {
        assert_myrt_error(&o.stderr, "create", &b.id, &["/nonexistent-binary"]);
    }
    drop(c);
    assert_root_empty(&rt);
}

#[test]
fn root_bad_ids() {
    let rt = Runtime::new();
    for (i, id) in ["../x", "a/b", "", "-x", ".", "..", "a b", "a\nb"]
        .iter()
        .enumerate()
    {
        let b = sleeper(&format!("badid{i}"));
        b.write();
        // Not through a guard: never hand a hostile id to kill/delete -f.
        let mut args = vec!["create", "--bundle", b.dir_str()];
        args.push(id);
        let o = exec_cmd(
            rt.command(&args),
            None,
            Sink::Files(b.path("out"), b.path("err")),
            CMD_TIMEOUT,
        );
        assert!(!o.success(), "create with id {id:?} succeeded: {o}");
        if !id.starts_with('-') {
            // An invalid id is not echoed as the "<id>" part of the prefix
            // (it may hold newlines); the cause quotes it.
            assert_myrt_error(&o.stderr, "create", "", &["id"]);
        }
        assert_root_empty(&rt);
        assert!(!std::path::Path::new(STATE_PARENT).join("x").exists());
        let left = leftovers(&rt.root, "", &b.dir, &b.id);
        assert!(left.is_empty(), "id {id:?}: {left:?}");
    }
}

#[test]
fn root_bad_id_for_other_commands() {
    let rt = Runtime::new();
    for id in ["../x", "a/b", ""] {
        for op in ["state", "start", "kill", "delete", "pause", "resume", "ps"] {
            let o = rt.cmd(&[op, id]);
            assert!(!o.success(), "{op} {id:?} succeeded: {o}");
        }
    }
    assert_root_empty(&rt);
}

#[test]
fn root_log_json_on_error() {
    let rt = Runtime::new();
    let dir = std::env::temp_dir().join(unique("myrt-test-log"));
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.json");
    let id = unique("nosuch");
    let o = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    let content = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_dir_all(&dir);
    o.fails();
    assert!(!o.stderr.trim().is_empty(), "{o}");
    let lines: Vec<Value> = content
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let err = lines
        .iter()
        .find(|l| l["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in log: {content}"));
    assert!(err["msg"].as_str().is_some_and(|m| !m.is_empty()), "{err}");
    assert!(err["time"].is_string(), "{err}");
}

#[test]
fn root_log_text_on_error() {
    let rt = Runtime::new();
    let dir = std::env::temp_dir().join(unique("myrt-test-log"));
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.txt");
    let o = rt.cmd(&["--log", log.to_str().unwrap(), "state", &unique("nosuch")]);
    let content = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_dir_all(&dir);
    o.fails();
    assert!(content.contains("level=error"), "{content}");
}

/// `linux.resources.cpu.shares` outside what the kernel keeps (2 to
/// 262144 on cgroup v1, which clamps silently) is refused as runc refuses
/// it, naming the field; nothing is left.
#[test]
fn root_cpu_shares_the_kernel_would_clamp() {
    let rt = Runtime::new();
    for (i, shares) in [1u64, 262_145].into_iter().enumerate() {
        let b = sleeper(&format!("shares{i}")).set("/linux/resources/cpu/shares", json!(shares));
        let o = create_fails(&rt, &b, &b.id);
        assert_myrt_error(
            &o.stderr,
            "create",
            &b.id,
            &["linux.resources.cpu.shares", "out of range"],
        );
    }
    let b = sleeper("shares2").set("/linux/resources/cpu/shares", json!(2));
    let c = rt.create(&b, &[]);
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.shares"), "2");
}
