//! The container lifecycle: create, start, state, kill, delete, run, and the
//! transitions the runtime must refuse.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use std::fs;

fn sleeper(name: &str) -> Bundle {
    Bundle::new(name).args(&["sleep", "30"])
}

#[test]
fn root_create_start_kill_delete() {
    let rt = Runtime::new();
    let b = sleeper("life");
    let pidfile = b.path("pid");
    let c = rt.guard(&b);
    c.create(&b, &["--pid-file", pidfile.to_str().unwrap()])
        .ok();

    let s = c.state();
    assert_eq!(s["status"], "created", "{s}");
    assert_eq!(s["id"], c.id.as_str(), "{s}");
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0, "{s}");
    assert_eq!(s["bundle"], b.dir_str(), "{s}");
    assert!(s["ociVersion"].is_string(), "{s}");

    // pid file: the pid in decimal, nothing else (no trailing newline).
    let content = fs::read_to_string(&pidfile).unwrap();
    assert!(
        !content.is_empty() && content.bytes().all(|c| c.is_ascii_digit()),
        "pid file {content:?}"
    );
    assert_eq!(content, pid.to_string());
    assert!(pid_alive(pid as i32));

    c.start().ok();
    assert_eq!(c.status(), "running");
    assert_eq!(c.state()["pid"].as_i64().unwrap(), pid);

    c.kill("KILL").ok();
    c.wait_status("stopped");
    assert_eq!(c.wait_exit(), 137);

    c.delete().ok();
    let o = rt.cmd(&["state", &c.id]);
    o.fails();
    assert!(!rt.root.join(&c.id).exists());
}

#[test]
fn root_created_does_not_run_process_before_start() {
    let rt = Runtime::new();
    let b = Bundle::new("notyet").sh("echo started; sleep 30");
    let c = rt.create(&b, &[]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(c.stdout(), "", "process ran before start");
    assert_eq!(c.status(), "created");
    c.start().ok();
    wait_until(
        "output after start",
        std::time::Duration::from_secs(5),
        || (c.stdout() == "started\n").then_some(()),
    );
}

#[test]
fn root_delete_running_needs_force() {
    let rt = Runtime::new();
    let b = sleeper("delrun");
    let c = rt.create_start(&b);
    c.delete().fails();
    assert_eq!(c.status(), "running");
    c.delete_force().ok();
    rt.cmd(&["state", &c.id]).fails();
    assert_eq!(c.wait_exit(), 137);
}

#[test]
fn root_delete_created_container() {
    // runtime.md: deleting a container that is not stopped MUST be an error
    // (crun agrees; runc 1.1 deletes it). -f kills the blocked init.
    let rt = Runtime::new();
    let b = sleeper("delcreated");
    let c = rt.create(&b, &[]);
    if is_myrt() {
        c.delete().fails();
        assert_eq!(rt.state(&c.id)["status"], "created");
    }
    c.delete_force().ok();
    rt.cmd(&["state", &c.id]).fails();
    assert_eq!(c.wait_exit(), 137);
}

#[test]
fn root_delete_force_unknown_id_succeeds() {
    let rt = Runtime::new();
    let o = rt.cmd(&["delete", "-f", &unique("nosuch")]);
    o.ok();
}

#[test]
fn root_delete_unknown_id_fails() {
    let rt = Runtime::new();
    rt.cmd(&["delete", &unique("nosuch")]).fails();
}

#[test]
fn root_state_unknown_id_fails() {
    let rt = Runtime::new();
    rt.cmd(&["state", &unique("nosuch")]).fails();
}

#[test]
fn root_kill_stopped_container_fails() {
    let rt = Runtime::new();
    let b = Bundle::new("killstopped").sh("exit 0");
    let c = rt.create_start(&b);
    assert_eq!(c.wait_exit(), 0);
    c.wait_status("stopped");
    c.kill("KILL").fails();
    c.kill("TERM").fails();
    c.delete().ok();
}

#[test]
fn root_kill_stopped_unreaped_container_fails() {
    // The init exited but nobody reaped it yet (a zombie): it is `stopped`.
    let rt = Runtime::new();
    let b = Bundle::new("zombie").sh("exit 0");
    let c = rt.create_start(&b);
    c.wait_status("stopped");
    c.kill("KILL").fails();
    c.delete().ok();
}

#[test]
fn root_start_running_container_fails() {
    let rt = Runtime::new();
    let b = sleeper("startrun");
    let c = rt.create_start(&b);
    c.start().fails();
    assert_eq!(c.status(), "running");
}

#[test]
fn root_start_stopped_container_fails() {
    let rt = Runtime::new();
    let b = Bundle::new("startstopped").sh("exit 0");
    let c = rt.create_start(&b);
    assert_eq!(c.wait_exit(), 0);
    c.wait_status("stopped");
    c.start().fails();
}

#[test]
fn root_create_duplicate_id_fails() {
    let rt = Runtime::new();
    let b = sleeper("dup");
    let c = rt.create(&b, &[]);
    let o = c.create(&b, &[]);
    o.fails();
    // The first container is untouched.
    assert_eq!(c.status(), "created");
    assert!(pid_alive(c.pid()));
}

/// A process that exits 0 on TERM (a pid-namespace init ignores signals it
/// has no handler for).
fn term_handler(name: &str) -> Bundle {
    Bundle::new(name).sh("trap 'exit 0' TERM; while true; do sleep 0.05; done")
}

fn kill_with(sig: &str, want_exit: i32) {
    let rt = Runtime::new();
    let b = term_handler(&format!("kill{}", sig.to_lowercase()));
    let c = rt.create_start(&b);
    // Let the shell install its trap.
    std::thread::sleep(std::time::Duration::from_millis(100));
    c.kill(sig).ok();
    assert_eq!(c.wait_exit(), want_exit, "kill {sig}");
    c.wait_status("stopped");
    c.delete().ok();
}

#[test]
fn root_kill_term_name() {
    kill_with("TERM", 0);
}

#[test]
fn root_kill_sigterm_name() {
    kill_with("SIGTERM", 0);
}

#[test]
fn root_kill_kill_name() {
    kill_with("KILL", 137);
}

#[test]
fn root_kill_number_9() {
    kill_with("9", 137);
}

#[test]
fn root_kill_number_15() {
    kill_with("15", 0);
}

#[test]
fn root_kill_default_is_term() {
    let rt = Runtime::new();
    let b = term_handler("killdefault");
    let c = rt.create_start(&b);
    std::thread::sleep(std::time::Duration::from_millis(100));
    c.cmd(&["kill", &c.id]).ok();
    assert_eq!(c.wait_exit(), 0);
}

#[test]
fn root_kill_bad_signal_fails() {
    let rt = Runtime::new();
    let b = sleeper("killbad");
    let c = rt.create_start(&b);
    c.kill("NOSUCHSIG").fails();
    c.kill("999").fails();
    assert_eq!(c.status(), "running");
}

#[test]
fn root_kill_created_container() {
    // Signals can be sent to a created container (its init is blocked).
    let rt = Runtime::new();
    let b = sleeper("killcreated");
    let c = rt.create(&b, &[]);
    c.kill("KILL").ok();
    c.wait_status("stopped");
    assert_eq!(c.wait_exit(), 137);
    c.delete().ok();
}

#[test]
fn root_run_foreground() {
    let rt = Runtime::new();
    let b = Bundle::new("run").sh("echo out; echo err >&2");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "out\n");
    assert_eq!(o.stderr, "err\n");
    // `run` deletes the container when it exits.
    rt.cmd(&["state", &b.id]).fails();
}

#[test]
fn root_run_detached() {
    let rt = Runtime::new();
    let b = sleeper("rund");
    let c = rt.guard(&b);
    c.run_detached(&b, &[]).ok();
    assert_eq!(c.status(), "running");
    assert!(c.pid() > 0);
    c.kill("KILL").ok();
    assert_eq!(c.wait_exit(), 137);
    c.wait_status("stopped");
    c.delete().ok();
}

#[test]
fn root_stopped_after_exit_then_delete() {
    let rt = Runtime::new();
    let b = Bundle::new("exit").sh("exit 0");
    let c = rt.create_start(&b);
    assert_eq!(c.wait_exit(), 0);
    c.wait_status("stopped");
    c.delete().ok();
    rt.cmd(&["state", &c.id]).fails();
}

#[test]
fn root_list_shows_containers() {
    let rt = Runtime::new();
    let b1 = sleeper("list1");
    let b2 = sleeper("list2");
    let c1 = rt.create(&b1, &[]);
    let c2 = rt.create_start(&b2);
    let o = rt.cmd(&["list", "--format", "json"]);
    o.ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2, "{o}");
    for (c, status) in [(&c1, "created"), (&c2, "running")] {
        let e = arr
            .iter()
            .find(|e| e["id"] == c.id.as_str())
            .expect("listed");
        assert_eq!(e["status"], status);
        assert_eq!(e["pid"].as_i64().unwrap(), c.pid() as i64);
    }
    let o = rt.cmd(&["list"]);
    o.ok();
    assert!(o.stdout.starts_with("ID"), "{o}");
    assert!(
        o.stdout.contains(&c1.id) && o.stdout.contains(&c2.id),
        "{o}"
    );
    let o = rt.cmd(&["list", "-q"]);
    assert_eq!(sorted_lines(&o.stdout), {
        let mut v = vec![c1.id.clone(), c2.id.clone()];
        v.sort();
        v
    });
}

#[test]
fn root_ps_lists_container_pids() {
    let rt = Runtime::new();
    let b = sleeper("ps");
    let c = rt.create_start(&b);
    let o = rt.cmd(&["ps", "--format", "json", &c.id]);
    o.ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!([c.pid()]), "{o}");
}

#[test]
fn root_pause_resume() {
    let rt = Runtime::new();
    let b = sleeper("pause");
    let c = rt.create_start(&b);
    // v1: freezer.state; v2: "frozen" in cgroup.events.
    let frozen = |id: &str| {
        if is_cgroup2() {
            cgroup_v2_read(id, "cgroup.events").contains("frozen 1")
        } else {
            cgroup_read("freezer", id, "freezer.state") == "FROZEN"
        }
    };
    c.cmd(&["pause", &c.id]).ok();
    assert_eq!(c.status(), "paused");
    assert!(frozen(&c.id));
    c.cmd(&["resume", &c.id]).ok();
    assert_eq!(c.status(), "running");
    assert!(!frozen(&c.id));
}

#[test]
fn root_delete_force_paused() {
    let rt = Runtime::new();
    let b = sleeper("delpaused");
    let c = rt.create_start(&b);
    c.cmd(&["pause", &c.id]).ok();
    c.delete_force().ok();
    assert_eq!(c.wait_exit(), 137);
    rt.cmd(&["state", &c.id]).fails();
}

#[test]
fn spec_writes_default_config() {
    let dir = std::env::temp_dir().join(unique("myrt-test-spec"));
    fs::create_dir_all(&dir).unwrap();
    let o = exec_cmd(
        {
            let mut c = std::process::Command::new(runtime_bin());
            c.arg("spec").current_dir(&dir);
            c
        },
        None,
        Sink::Pipe,
        CMD_TIMEOUT,
    );
    let cfg = fs::read_to_string(dir.join("config.json"));
    let _ = fs::remove_dir_all(&dir);
    o.ok();
    let v: serde_json::Value = serde_json::from_str(&cfg.unwrap()).unwrap();
    assert_eq!(v["root"]["path"], "rootfs");
    assert!(v["process"]["args"].is_array());
    assert!(v["linux"]["namespaces"].is_array());
}
