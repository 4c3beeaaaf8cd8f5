//! process.env: what the container's process sees, for init and for exec.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;

const ENV: &[&str] = &["PATH=/bin:/usr/bin", "bird=123", "EMPTY=", "SPACES=a b  c"];

/// The runtime adds HOME (from the user's /etc/passwd entry) when process.env
/// has none, as runc does; nothing else is added.
fn expected(env: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = env.iter().map(|s| s.to_string()).collect();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        v.push("HOME=/root".into());
    }
    v.sort();
    v
}

#[test]
fn root_env_is_exactly_process_env() {
    let rt = Runtime::new();
    let b = Bundle::new("env").args(&["env"]).env(ENV);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(sorted_lines(&o.stdout), expected(ENV), "{o}");
}

#[test]
fn root_env_keeps_given_home() {
    let rt = Runtime::new();
    let env = &["PATH=/bin", "HOME=/tmp"];
    let b = Bundle::new("env-home").args(&["env"]).env(env);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(sorted_lines(&o.stdout), expected(env), "{o}");
}

#[test]
fn root_exec_env_is_process_env() {
    let rt = Runtime::new();
    let b = Bundle::new("exec-env").args(&["sleep", "30"]).env(ENV);
    let c = rt.create_start(&b);
    let o = c.exec(&[], &["env"]);
    o.ok();
    assert_eq!(sorted_lines(&o.stdout), expected(ENV), "{o}");
}

#[test]
fn root_exec_env_flag_overrides() {
    let rt = Runtime::new();
    let b = Bundle::new("exec-env-e").args(&["sleep", "30"]).env(ENV);
    let c = rt.create_start(&b);
    let o = c.exec(&["-e", "bird=456", "-e", "fish=1"], &["env"]);
    o.ok();
    let mut want: Vec<String> = expected(ENV)
        .into_iter()
        .map(|l| {
            if l == "bird=123" {
                "bird=456".into()
            } else {
                l
            }
        })
        .collect();
    want.push("fish=1".into());
    want.sort();
    assert_eq!(sorted_lines(&o.stdout), want, "{o}");
}
