//! cli: what myrt's command line tells its callers: error lines that say
//! they are errors, log files in the format engines parse, and the commands
//! myrt does not support failing at once.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn root_text_error_lines_say_error() {
    // runc prints `level=error` on stderr in text mode; scripts and test
    // harnesses grep for the word. myrt keeps `myrt: <op> <id>: <cause>`
    // and says `error:` before the cause.
    if !is_myrt() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("nosuch");
    for (op, args) in [
        ("state", vec!["state", id.as_str()]),
        ("kill", vec!["kill", id.as_str(), "KILL"]),
        ("delete", vec!["delete", id.as_str()]),
        ("exec", vec!["exec", id.as_str(), "true"]),
    ] {
        let o = rt.cmd(&args);
        o.fails();
        let prefix = format!("myrt: {op} {id}: error: ");
        assert!(
            o.stderr.lines().any(|l| l.starts_with(&prefix)),
            "no line starting with {prefix:?}: {o}"
        );
        assert_myrt_error(&o.stderr, op, &id, &["does not exist"]);
    }
    let o = rt.cmd(&[]);
    o.fails();
    assert!(o.stderr.contains("error"), "{o}");
}

#[test]
fn root_json_log_lines_stay_as_they_are() {
    // containerd's shim and podman read `--log FILE --log-format json`:
    // one JSON object per error, level "error", msg `<op> <id>: <cause>`.
    if !is_myrt() {
        return;
    }
    let rt = Runtime::new();
    let id = unique("nosuch");
    let log = std::env::temp_dir().join(format!("{id}.log"));
    let o = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    o.fails();
    assert!(
        o.stderr.starts_with(&format!("myrt: state {id}: error: ")),
        "{o}"
    );
    let text = fs::read_to_string(&log).unwrap();
    let _ = fs::remove_file(&log);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error", "{v}");
    assert_eq!(
        v["msg"],
        format!("state {id}: container \"{id}\" does not exist"),
        "{v}"
    );
    assert!(v["time"].is_string(), "{v}");
}

#[test]
fn root_checkpoint_and_restore_fail_at_once() {
    // No criu: both fail at once with a clear error naming the container,
    // touching nothing. `checkpoint --help` fails too: podman probes it
    // and takes exit 0 to mean checkpoint/restore works.
    if !is_myrt() {
        eprintln!("myrt-specific (runc implements checkpoint with criu)");
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new("ckpt").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let images = b.path("images");
    let work = b.path("work");
    for (op, extra) in [
        (
            "checkpoint",
            vec![
                "--image-path",
                images.to_str().unwrap(),
                "--work-path",
                work.to_str().unwrap(),
                "--leave-running",
                "--status-fd",
                "3",
            ],
        ),
        (
            "restore",
            vec![
                "--image-path",
                images.to_str().unwrap(),
                "--bundle",
                b.dir_str(),
                "--detach",
            ],
        ),
    ] {
        let mut args = vec![op];
        args.extend(extra);
        args.push(&c.id);
        let t = Instant::now();
        let o = rt.cmd(&args);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{op} took {:?}",
            t.elapsed()
        );
        assert_eq!(o.code, 1, "{o}");
        assert!(
            o.stderr
                .starts_with(&format!("myrt: {op} {}: error: ", c.id)),
            "{o}"
        );
        assert!(o.stderr.contains("not supported"), "{o}");
        let h = rt.cmd(&[op, "--help"]);
        assert_ne!(h.code, 0, "`{op} --help` must fail: {h}");
    }
    assert!(!images.exists() && !work.exists());
    assert_eq!(c.status(), "running");
    assert!(pid_alive(c.pid()));
}
