//! Socket activation (`LISTEN_FDS`, sd_listen_fds(3)), as runc takes it:
//! when `LISTEN_PID` is this process and `LISTEN_FDS` is N > 0, `create`
//! and `run` pass fds 3..3+N on to the container (with `--preserve-fds`,
//! the larger of the two counts) and add `LISTEN_FDS=N` and `LISTEN_PID=1`
//! to its `process.env`. Without them nothing changes.

use oci_spec::runtime::Spec;

/// The number of fds systemd passed to this process (0 when `LISTEN_PID`
/// names another process, as after a fork, or the variables are unset or
/// malformed).
pub fn passed() -> u32 {
    let var = |k| std::env::var(k).ok();
    let for_us = var("LISTEN_PID")
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !for_us {
        return 0;
    }
    var("LISTEN_FDS")
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
}

/// `LISTEN_FDS=n` and `LISTEN_PID=1` in `process.env` (replacing any the
/// config has): the container's init is pid 1 of its view.
pub fn add_to_spec(spec: &mut Spec, n: u32) {
    crate::spec::merge_process_env(spec, &[format!("LISTEN_FDS={n}"), "LISTEN_PID=1".into()]);
}
