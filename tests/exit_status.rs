//! Exit status of the container's process (run, create/start) and of exec.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;

const CASES: &[(&str, i32)] = &[("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137)];

/// A bundle running `sh -c SCRIPT` as the container's init. A pid-namespace
/// init cannot SIGKILL itself (the kernel drops signals sent to it from
/// inside its namespace), so the self-kill case runs without a new pid
/// namespace: the init really dies of SIGKILL.
fn bundle(name: &str, script: &str) -> Bundle {
    let b = Bundle::new(name).sh(script);
    if script.starts_with("kill") {
        b.with(|v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "pid")
        })
    } else {
        b
    }
}

#[test]
fn root_run_exit_status() {
    let rt = Runtime::new();
    for (script, want) in CASES {
        let b = bundle("runexit", script);
        let o = rt.run(&b);
        assert_eq!(o.code, *want, "{script}: {o}");
    }
}

#[test]
fn root_pid1_ignores_own_sigkill() {
    // In a new pid namespace the init survives `kill -9 $$` and exits 0.
    let rt = Runtime::new();
    let b = Bundle::new("pid1kill").sh("kill -9 $$; exit 0");
    let o = rt.run(&b);
    assert_eq!(o.code, 0, "{o}");
}

#[test]
fn root_run_exit_status_of_signal_term() {
    // A non-init process killed by SIGTERM: sh reports 128+15.
    let rt = Runtime::new();
    let b = Bundle::new("runterm").sh("sh -c 'kill -TERM $$'; exit $?");
    let o = rt.run(&b);
    assert_eq!(o.code, 143, "{o}");
}

#[test]
fn root_started_container_exit_status() {
    // Via create/start: the init's wait status seen by its reaper (us).
    let rt = Runtime::new();
    for (script, want) in CASES {
        let b = bundle("startexit", script);
        let c = rt.create_start(&b);
        assert_eq!(c.wait_exit(), *want, "{script}");
        c.wait_status("stopped");
        c.delete().ok();
    }
}

#[test]
fn root_exec_exit_status() {
    let rt = Runtime::new();
    let b = Bundle::new("execexit").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    for (script, want) in CASES {
        let o = c.exec(&[], &["sh", "-c", script]);
        assert_eq!(o.code, *want, "{script}: {o}");
    }
    // The container itself is unaffected.
    assert_eq!(c.status(), "running");
}
