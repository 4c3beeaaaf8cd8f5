//! crash: myrt killed at any point of create, start, exec, run and delete
//! leaves a container that `state` describes truthfully and `delete -f`
//! removes completely (no mount, cgroup, process or state directory), after
//! which the id can be used again. Plus races between commands on one id,
//! and readers (`state`, `list`) that never wait for a writer.
//!
//! The crash points are myrt's debug-build fault hook: `MYRT_FAULT=cmd:N`
//! makes myrt SIGKILL itself at the N-th point of `cmd` (see src/fault.rs).
//! Each test walks N = 1, 2, ... until the command runs through.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// Points after which a command that still was not killed must have run through.
const MAX_POINTS: u32 = 80;

fn fault_hook_available() -> bool {
    // The hook exists only in myrt's debug builds (cargo test builds those).
    is_myrt() && cfg!(debug_assertions)
}

/// Reap zombie children in another pid namespace: container inits
/// re-parented to this test process (every container here has its own pid
/// namespace, and no test in this file waits for a container's pid). The
/// runtime commands themselves are reaped by their own waiters.
fn reap_zombies() {
    let me = ns_link(std::process::id() as i32, "pid");
    for pid in zombie_children() {
        if fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l.to_string_lossy() != me) {
            let _ = wait_pid(pid, Duration::ZERO);
        }
    }
}

/// Live processes with `id` as one of their arguments (a container init
/// before its execve still has myrt's command line).
fn processes_with_arg(id: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(c) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if c.split(|b| *b == 0).any(|a| a == id.as_bytes()) && pid_alive(pid) {
            v.push(pid);
        }
    }
    v
}

/// Runs `runtime ARGS` with stdout/stderr in files (a container may keep
/// them open) and `env`, returning its output.
fn run_env(rt: &Runtime, b: &Bundle, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = rt.command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let tag = unique("out");
    let o = exec_cmd(
        c,
        None,
        Sink::Files(b.path(&format!("{tag}.out")), b.path(&format!("{tag}.err"))),
        CMD_TIMEOUT,
    );
    reap_zombies();
    o
}

/// Everything of container `id` that is still there.
fn leaks(rt: &Runtime, b: &Bundle, id: &str) -> Vec<String> {
    let mut v = Vec::new();
    let cg = b.cgname();
    for d in cgroup_dirs(&cg).into_iter().filter(|_| !cg.is_empty()) {
        v.push(format!("cgroup {}", d.display()));
    }
    for p in processes_with_arg(id) {
        v.push(format!("process {p}"));
    }
    for m in mounts_mentioning(&b.dir)
        .into_iter()
        .chain(mounts_mentioning(&rt.root.join(id)))
    {
        v.push(format!("mount {m}"));
    }
    for e in fs::read_dir(&rt.root).into_iter().flatten().flatten() {
        v.push(format!("state {}", e.path().display()));
    }
    v
}

fn exe_is_busybox(pid: i32) -> Option<bool> {
    fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|l| l.to_string_lossy().contains("busybox"))
}

/// What `state` and `list` say agrees with what exists. Returns a problem.
fn state_lies(rt: &Runtime, b: &Bundle, id: &str) -> Option<String> {
    // A process that myrt's death kills (PDEATHSIG) may take a moment to go:
    // look a few times; a state that lies every time fails.
    for _ in 0..4 {
        state_lies_once(rt, b, id)?;
        thread::sleep(Duration::from_millis(50));
        reap_zombies();
    }
    state_lies_once(rt, b, id)
}

fn state_lies_once(rt: &Runtime, b: &Bundle, id: &str) -> Option<String> {
    let o = rt.cmd(&["state", id]);
    let listed = rt
        .cmd(&["list", "-q"])
        .stdout
        .lines()
        .any(|l| l.trim() == id);
    if !o.success() {
        if !o.stderr.contains("does not exist") {
            return Some(format!("state failed oddly: {o}"));
        }
        if listed {
            return Some("list shows a container state says does not exist".into());
        }
        let cg = cgroup_dirs(&b.cgname());
        let procs = processes_with_arg(id);
        if !cg.is_empty() || !procs.is_empty() {
            return Some(format!(
                "state says does not exist, but cgroups {cg:?} / processes {procs:?} exist"
            ));
        }
        return None;
    }
    if !listed {
        return Some(format!("state works but list does not show {id}"));
    }
    let s: serde_json::Value = serde_json::from_str(&o.stdout).expect("state JSON");
    let pid = s["pid"].as_i64().unwrap_or(0) as i32;
    match s["status"].as_str().unwrap_or("") {
        "stopped" => {
            let procs: Vec<i32> = cgroup_dirs(&b.cgname())
                .iter()
                .flat_map(|d| cgroup_pids(d))
                .filter(|p| pid_alive(*p))
                .chain(processes_with_arg(id))
                .collect();
            if !procs.is_empty() {
                return Some(format!("stopped, but processes {procs:?} live"));
            }
        }
        "created" => {
            if !pid_alive(pid) || exe_is_busybox(pid) != Some(false) {
                return Some(format!(
                    "created, but pid {pid} is dead or runs the program: {s}"
                ));
            }
        }
        "running" => {
            if !pid_alive(pid) || exe_is_busybox(pid) != Some(true) {
                return Some(format!(
                    "running, but pid {pid} is dead or not the program: {s}"
                ));
            }
        }
        other => return Some(format!("status {other:?} after the command died: {s}")),
    }
    None
}

/// One command under test: how to prepare the container, and the command
/// that is killed.
struct Scenario {
    name: &'static str,
    fault: &'static str,
    bundle: fn() -> Bundle,
    setup: fn(&Runtime, &Bundle),
    args: fn(&Bundle) -> Vec<String>,
}

fn sleeper() -> Bundle {
    Bundle::new("fault").args(&["sleep", "1000"])
}

fn create_ok(rt: &Runtime, b: &Bundle) {
    b.write();
    run_env(rt, b, &["create", "--bundle", b.dir_str(), &b.id], &[]).ok();
}

fn create_start_ok(rt: &Runtime, b: &Bundle) {
    create_ok(rt, b);
    run_env(rt, b, &["start", &b.id], &[]).ok();
}

/// Kills myrt at every point of the scenario's command; returns how many
/// points there were.
fn walk(sc: &Scenario) -> u32 {
    let mut problems = Vec::new();
    let mut n = 1;
    loop {
        assert!(
            n <= MAX_POINTS,
            "{}: more than {MAX_POINTS} points?",
            sc.name
        );
        let rt = Runtime::new();
        let b = (sc.bundle)();
        b.write();
        (sc.setup)(&rt, &b);
        let args = (sc.args)(&b);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let fault = format!("{}:{n}", sc.fault);
        let o = run_env(&rt, &b, &args, &[("MYRT_FAULT", &fault)]);
        let killed = o.code == 128 + libc::SIGKILL;
        if !killed {
            o.ok();
        }
        let at = format!("{} killed at point {n}", sc.name);
        if let Some(p) = state_lies(&rt, &b, &b.id) {
            problems.push(format!("{at}: {p}"));
        }
        let d = run_env(&rt, &b, &["delete", "-f", &b.id], &[]);
        if !d.success() {
            problems.push(format!("{at}: delete -f failed: {d}"));
        }
        reap_zombies();
        let l = leaks(&rt, &b, &b.id);
        if !l.is_empty() {
            problems.push(format!("{at}: left after delete -f: {l:?}"));
        }
        // The id can be used again.
        let c = run_env(&rt, &b, &["create", "--bundle", b.dir_str(), &b.id], &[]);
        if !c.success() {
            problems.push(format!("{at}: create of the same id failed: {c}"));
        }
        run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
        reap_zombies();
        let l = leaks(&rt, &b, &b.id);
        if !l.is_empty() {
            problems.push(format!("{at}: left after the second container: {l:?}"));
        }
        if !killed {
            break;
        }
        n += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let points = n - 1;
    eprintln!("{}: {points} fault points injected, 0 leaks", sc.name);
    points
}

fn create_args(b: &Bundle) -> Vec<String> {
    vec![
        "create".into(),
        "--bundle".into(),
        b.dir_str().into(),
        b.id.clone(),
    ]
}

#[test]
fn root_fault_create() {
    if !fault_hook_available() {
        return;
    }
    let n = walk(&Scenario {
        name: "create",
        fault: "create",
        bundle: sleeper,
        setup: |_, _| {},
        args: create_args,
    });
    assert!(n >= 8, "only {n} crash points in create");
}

#[test]
fn root_fault_create_overlay_hooks_pidfile() {
    if !fault_hook_available() {
        return;
    }
    walk(&Scenario {
        name: "create (overlay root, hooks, pid file)",
        fault: "create",
        bundle: || {
            sleeper()
                .set("/annotations", json!({"org.myrt.rootfs.overlay": "true"}))
                .set("/hooks/createRuntime", json!([{"path": "/bin/true"}]))
                .readonly(false)
        },
        setup: |_, _| {},
        args: |b| {
            vec![
                "create".into(),
                "--bundle".into(),
                b.dir_str().into(),
                "--pid-file".into(),
                b.path("pid").to_string_lossy().into_owned(),
                b.id.clone(),
            ]
        },
    });
}

#[test]
fn root_fault_start() {
    if !fault_hook_available() {
        return;
    }
    let n = walk(&Scenario {
        name: "start",
        fault: "start",
        bundle: sleeper,
        setup: create_ok,
        args: |b| vec!["start".into(), b.id.clone()],
    });
    assert!(n >= 3, "only {n} crash points in start");
}

#[test]
fn root_fault_exec() {
    if !fault_hook_available() {
        return;
    }
    let n = walk(&Scenario {
        name: "exec",
        fault: "exec",
        bundle: sleeper,
        setup: create_start_ok,
        args: |b| vec!["exec".into(), b.id.clone(), "true".into()],
    });
    assert!(n >= 2, "only {n} crash points in exec");
}

#[test]
fn root_fault_run_detached() {
    if !fault_hook_available() {
        return;
    }
    walk(&Scenario {
        name: "run -d",
        fault: "run",
        bundle: sleeper,
        setup: |_, _| {},
        args: |b| {
            vec![
                "run".into(),
                "-d".into(),
                "--bundle".into(),
                b.dir_str().into(),
                b.id.clone(),
            ]
        },
    });
}

#[test]
fn root_fault_run_foreground() {
    if !fault_hook_available() {
        return;
    }
    walk(&Scenario {
        name: "run",
        fault: "run",
        bundle: || Bundle::new("fault").args(&["sleep", "0.2"]),
        setup: |_, _| {},
        args: |b| {
            vec![
                "run".into(),
                "--bundle".into(),
                b.dir_str().into(),
                b.id.clone(),
            ]
        },
    });
}

#[test]
fn root_fault_delete_force() {
    if !fault_hook_available() {
        return;
    }
    let n = walk(&Scenario {
        name: "delete -f",
        fault: "delete",
        bundle: sleeper,
        setup: create_start_ok,
        args: |b| vec!["delete".into(), "-f".into(), b.id.clone()],
    });
    assert!(n >= 3, "only {n} crash points in delete");
}

#[test]
fn root_fault_delete_stopped() {
    if !fault_hook_available() {
        return;
    }
    walk(&Scenario {
        name: "delete (stopped)",
        fault: "delete",
        bundle: sleeper,
        setup: |rt, b| {
            create_start_ok(rt, b);
            run_env(rt, b, &["kill", &b.id, "KILL"], &[]).ok();
            rt.wait_status(&b.id, "stopped");
        },
        args: |b| vec!["delete".into(), b.id.clone()],
    });
}

// ---------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------

#[test]
fn root_race_16_creates_of_one_id() {
    let rt = Runtime::new();
    let b = sleeper();
    b.write();
    let outs: Vec<Output> = thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|_| s.spawn(|| run_env(&rt, &b, &["create", "--bundle", b.dir_str(), &b.id], &[])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = outs.iter().filter(|o| o.success()).count();
    assert_eq!(won, 1, "winners: {won}\n{outs:#?}");
    for o in outs.iter().filter(|o| !o.success()) {
        assert!(o.stderr.contains("already exists"), "{o}");
    }
    assert_eq!(rt.status(&b.id), "created");
    run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
    let l = leaks(&rt, &b, &b.id);
    assert!(l.is_empty(), "{l:?}");
}

#[test]
fn root_race_concurrent_delete_force() {
    let rt = Runtime::new();
    let b = sleeper();
    create_start_ok(&rt, &b);
    let outs: Vec<Output> = thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| run_env(&rt, &b, &["delete", "-f", &b.id], &[])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        o.ok();
    }
    let l = leaks(&rt, &b, &b.id);
    assert!(l.is_empty(), "{l:?}");
}

#[test]
fn root_race_start_vs_delete() {
    for _ in 0..6 {
        let rt = Runtime::new();
        let b = sleeper();
        create_ok(&rt, &b);
        let (st, del) = thread::scope(|s| {
            let st = s.spawn(|| run_env(&rt, &b, &["start", &b.id], &[]));
            let del = s.spawn(|| run_env(&rt, &b, &["delete", "-f", &b.id], &[]));
            (st.join().unwrap(), del.join().unwrap())
        });
        del.ok();
        if !st.success() {
            // Lost the race: the container was gone (or going) first.
            assert!(
                st.stderr.contains("does not exist") || st.stderr.contains("exited"),
                "{st}"
            );
        }
        let l = leaks(&rt, &b, &b.id);
        assert!(l.is_empty(), "{l:?}");
    }
}

// ---------------------------------------------------------------------------
// Readers never block; writers wait a bounded time and name the holder
// ---------------------------------------------------------------------------

fn timed(rt: &Runtime, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let mut c = rt.command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let o = exec_cmd(c, None, Sink::Pipe, CMD_TIMEOUT);
    (o, t.elapsed())
}

#[test]
fn root_readers_do_not_wait_for_a_stopped_create() {
    let rt = Runtime::new();
    let b = sleeper().set(
        "/hooks/createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "sleep 1.5"]}]),
    );
    b.write();
    let mut create = rt.command(&["create", "--bundle", b.dir_str(), &b.id]);
    create
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = create.spawn().unwrap();
    let cpid = child.id() as i32;
    // The record appears at once, while the hook runs.
    wait_until("the record", Duration::from_secs(5), || {
        rt.try_state(&b.id).map(|_| ())
    });
    let (o, t) = timed(&rt, &["state", &b.id], &[]);
    o.ok();
    assert!(t < Duration::from_millis(500), "state took {t:?}");
    assert!(o.stdout.contains("\"creating\""), "{o}");
    let (o, t) = timed(&rt, &["list"], &[]);
    assert!(
        o.stdout.contains(&b.id) && o.stdout.contains("creating"),
        "{o}"
    );
    assert!(t < Duration::from_millis(500), "list took {t:?}");
    // Stop the create while it holds the lock.
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child.
    unsafe { libc::kill(cpid, libc::SIGSTOP) };
    let short = [("MYRT_LOCK_TIMEOUT", "0.5")];
    for args in [vec!["kill", &b.id, "KILL"], vec!["delete", "-f", &b.id]] {
        let (o, t) = timed(&rt, &args, &short);
        o.fails();
        assert!(t < Duration::from_secs(3), "{args:?} took {t:?}");
        assert!(
            o.stderr.contains(&format!("pid {cpid}")) && o.stderr.contains("create"),
            "does not name the holder: {o}"
        );
    }
    let (o, t) = timed(&rt, &["state", &b.id], &[]);
    o.ok();
    assert!(t < Duration::from_millis(500), "state took {t:?}");
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child.
    unsafe { libc::kill(cpid, libc::SIGCONT) };
    assert!(child.wait().unwrap().success());
    assert_eq!(rt.status(&b.id), "created");
    run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
    let l = leaks(&rt, &b, &b.id);
    assert!(l.is_empty(), "{l:?}");
}

#[test]
fn root_hook_of_one_container_does_not_stall_another() {
    let rt = Runtime::new();
    let slow = sleeper().set(
        "/hooks/poststart",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "sleep 1.5"]}]),
    );
    let other = sleeper();
    create_ok(&rt, &slow);
    create_ok(&rt, &other);
    thread::scope(|s| {
        let h = s.spawn(|| run_env(&rt, &slow, &["start", &slow.id], &[]));
        thread::sleep(Duration::from_millis(300));
        for args in [
            vec!["list"],
            vec!["state", &slow.id],
            vec!["state", &other.id],
            vec!["start", &other.id],
            vec!["kill", &other.id, "KILL"],
        ] {
            let (o, t) = timed(&rt, &args, &[]);
            o.ok();
            assert!(t < Duration::from_millis(700), "{args:?} took {t:?}");
        }
        h.join().unwrap().ok();
    });
    for b in [&slow, &other] {
        run_env(&rt, b, &["delete", "-f", &b.id], &[]).ok();
    }
    for b in [&slow, &other] {
        let l = leaks(&rt, b, &b.id);
        assert!(l.is_empty(), "{l:?}");
    }
}

#[test]
fn root_killed_start_is_not_created_forever() {
    if !fault_hook_available() {
        return;
    }
    // Find the point right after `start` opened the FIFO (the init is then
    // free to run), kill there, and check `state` says running.
    let rt = Runtime::new();
    let b = sleeper();
    create_ok(&rt, &b);
    let o = run_env(
        &rt,
        &b,
        &["start", &b.id],
        &[("MYRT_FAULT", "start:999"), ("MYRT_FAULT_TRACE", "1")],
    );
    o.ok();
    let n = o
        .stderr
        .lines()
        .find(|l| l.ends_with("fifo opened"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|p| p.rsplit(':').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no 'fifo opened' point: {o}"));
    run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
    create_ok(&rt, &b);
    let o = run_env(
        &rt,
        &b,
        &["start", &b.id],
        &[("MYRT_FAULT", &format!("start:{n}"))],
    );
    assert_eq!(o.code, 128 + libc::SIGKILL, "{o}");
    assert!(rt.root.join(&b.id).join("exec.fifo").exists());
    // The FIFO is left behind, but the init went on (running), or died
    // writing to a FIFO nobody reads any more (stopped): never `created`.
    let st = wait_until("status other than created", Duration::from_secs(5), || {
        Some(rt.status(&b.id)).filter(|s| s != "created")
    });
    assert!(st == "running" || st == "stopped", "{st}");
    assert_eq!(state_lies(&rt, &b, &b.id), None);
    run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
    let l = leaks(&rt, &b, &b.id);
    assert!(l.is_empty(), "{l:?}");
}

// ---------------------------------------------------------------------------
// Clear errors instead of odd failures
// ---------------------------------------------------------------------------

/// `create` fails, names `names` in myrt's error line, and leaves nothing.
fn create_fails_naming(b: &Bundle, extra: &[&str], names: &[&str]) {
    let rt = Runtime::new();
    b.write();
    let mut args = vec!["create", "--bundle", b.dir_str()];
    args.extend_from_slice(extra);
    args.push(&b.id);
    let o = run_env(&rt, b, &args, &[]);
    o.fails();
    assert_myrt_error(&o.stderr, "create", &b.id, names);
    let l = leaks(&rt, b, &b.id);
    assert!(l.is_empty(), "{l:?}");
}

#[test]
fn root_memory_limit_below_need_names_the_field() {
    // The limit is set before the process joins the cgroup; the kernel then
    // OOM-kills it during set-up (it would refuse the limit with EBUSY once
    // the usage is above it).
    let b = sleeper().set("/linux/resources/memory/limit", json!(4096));
    create_fails_naming(&b, &[], &["linux.resources.memory.limit", "OOM"]);
}

#[test]
fn root_config_that_is_not_an_object_is_refused() {
    let b = sleeper();
    let positional: Vec<serde_json::Value> =
        b.config.as_object().unwrap().values().cloned().collect();
    let b = b.with(|c| *c = json!(positional));
    create_fails_naming(&b, &[], &["(document)", "JSON object"]);
}

#[test]
fn root_empty_mount_destination_is_refused() {
    let b = sleeper().set(
        "/mounts/-",
        json!({"destination": "", "type": "tmpfs", "source": "tmpfs"}),
    );
    let n = b.config["mounts"].as_array().unwrap().len() - 1;
    create_fails_naming(&b, &[], &[&format!("mounts[{n}].destination"), "empty"]);
}

#[test]
fn root_nul_bytes_are_refused_naming_the_field() {
    let b = sleeper().set("/process/args", json!(["sleep", "1\u{0}0"]));
    create_fails_naming(&b, &[], &["process.args[1]", "NUL"]);
    let b = sleeper().set("/mounts/0/destination", json!("/pr\u{0}oc"));
    create_fails_naming(&b, &[], &["mounts[0].destination", "NUL"]);
    let b = sleeper().set("/root/path", json!("/tmp/\u{0}x"));
    create_fails_naming(&b, &[], &["root.path", "NUL"]);
}

#[test]
fn root_absurd_preserve_fds_is_refused() {
    let b = sleeper();
    create_fails_naming(&b, &["--preserve-fds", "2000000"], &["--preserve-fds"]);
}

/// Waits until `pid` is stopped (SIGSTOP).
fn wait_stopped(pid: u32) {
    wait_until("process stopped", Duration::from_secs(30), || {
        let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let st = s.rsplit_once(") ")?.1.chars().next()?;
        (st == 'T').then_some(())
    });
}

#[test]
fn root_lock_is_taken_on_the_current_directory() {
    // A command that opened a container's directory, and locks it only after
    // the container was deleted and created again, must notice: it may not
    // act with the lock of the old directory while another command holds
    // the lock of the current one.
    if !fault_hook_available() {
        return;
    }
    let rt = Runtime::new();
    let b = sleeper();
    create_ok(&rt, &b);
    let spawn = |args: &[&str], fault: &str| {
        let mut c = rt.command(args);
        c.env("MYRT_FAULT", fault)
            .env("MYRT_LOCK_TIMEOUT", "120")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // W: kill, stopped between opening the directory and locking it.
    let mut w = spawn(&["kill", &b.id, "KILL"], "kill:@directory opened:stop");
    wait_stopped(w.id());
    // The container is deleted and created again; S, a start of the new
    // one, stops while it holds the new directory's lock.
    run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
    create_ok(&rt, &b);
    let pid = rt.state(&b.id)["pid"].as_i64().unwrap() as i32;
    let mut s = spawn(&["start", &b.id], "start:1:stop");
    wait_stopped(s.id());
    // W locks the old directory: it must see it is not the current one and
    // wait for the current one's lock.
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child.
    unsafe { libc::kill(w.id() as i32, libc::SIGCONT) };
    thread::sleep(Duration::from_millis(700));
    if let Some(st) = w.try_wait().unwrap() {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(w.stderr.as_mut().unwrap(), &mut err);
        panic!("kill acted while start held the lock of the current directory: {st}: {err}");
    }
    assert!(pid_alive(pid));
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child.
    unsafe { libc::kill(s.id() as i32, libc::SIGCONT) };
    assert!(s.wait().unwrap().success());
    assert!(w.wait().unwrap().success());
    rt.wait_status(&b.id, "stopped");
    run_env(&rt, &b, &["delete", "-f", &b.id], &[]).ok();
    let l = leaks(&rt, &b, &b.id);
    assert!(l.is_empty(), "{l:?}");
}
