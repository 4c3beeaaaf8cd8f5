//! Crash points for fault-injection tests (debug builds only).
//!
//! `MYRT_FAULT=<command>:<n>` makes myrt SIGKILL itself at the `n`-th crash
//! point it passes while running `<command>` (create, start, exec, run,
//! delete, kill); `<command>:<n>:stop` makes it SIGSTOP itself there instead
//! (a test changes the world, e.g. recycles a pid, then sends SIGCONT).
//! `<n>` may be a list (`1,5`): the points at which to stop (or the first
//! one at which to die). `<command>:@<name>[:stop]` acts at the named point
//! `name` instead, which also reaches the uncounted points of [`named`].
//! `MYRT_FAULT_TRACE=1` prints each point's name on stderr.
//! Release builds compile every point to nothing: the variable is ignored.
//!
//! The points sit between the steps that change something outside the
//! process (a file, a cgroup, a process), so the tests in `tests/crash.rs`
//! can kill myrt between every two of them and check that `state` tells the
//! truth and `delete -f` leaves nothing behind.

#[cfg(debug_assertions)]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// (command, points or a point name, trace, stop instead of kill)
    type Armed = (String, Result<Vec<u32>, String>, bool, bool);
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    static COMMAND: OnceLock<String> = OnceLock::new();
    static PASSED: AtomicU32 = AtomicU32::new(0);

    pub fn command(cmd: &str) {
        let _ = COMMAND.set(cmd.to_string());
    }

    fn armed() -> &'static Option<Armed> {
        ARMED.get_or_init(|| {
            let v = std::env::var("MYRT_FAULT").ok()?;
            let (cmd, n) = v.split_once(':')?;
            let (n, stop) = match n.split_once(':') {
                Some((n, "stop")) => (n, true),
                _ => (n, false),
            };
            let trace = std::env::var_os("MYRT_FAULT_TRACE").is_some();
            let ns = match n.strip_prefix('@') {
                Some(name) => Err(name.to_string()),
                None => Ok(n
                    .split(',')
                    .map(|k| k.trim().parse().ok())
                    .collect::<Option<Vec<u32>>>()?),
            };
            Some((cmd.to_string(), ns, trace, stop))
        })
    }

    /// The signal to raise at this point, if any.
    fn act(stop: bool) {
        let sig = if stop { libc::SIGSTOP } else { libc::SIGKILL };
        // SAFETY: raising a signal has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), sig) };
    }

    pub fn named(name: &str) {
        let Some((cmd, Err(at), _, stop)) = armed() else {
            return;
        };
        static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if at == name && COMMAND.get() == Some(cmd) && !FIRED.swap(true, Ordering::SeqCst) {
            act(*stop);
        }
    }

    pub fn point(name: &str) {
        let Some((cmd, n, trace, stop)) = armed() else {
            return;
        };
        if COMMAND.get().map(String::as_str) != Some(cmd.as_str()) {
            return;
        }
        let k = PASSED.fetch_add(1, Ordering::SeqCst) + 1;
        if *trace {
            eprintln!("myrt: fault point {cmd}:{k} {name}");
        }
        if n.as_ref().map_or_else(|at| at == name, |n| n.contains(&k)) {
            act(*stop);
        }
    }
}

#[cfg(not(debug_assertions))]
mod imp {
    #[inline(always)]
    pub fn command(_: &str) {}
    #[inline(always)]
    pub fn point(_: &str) {}
    #[inline(always)]
    pub fn named(_: &str) {}
}

/// Name the command being run (the `<command>` of `MYRT_FAULT`).
pub use imp::command;
/// A point reached only by name (`MYRT_FAULT=<command>:@<name>`), the first
/// time only, not counted: for race tests at places where a crash changes
/// nothing.
pub use imp::named;
/// A crash point: the place between two steps that change the system.
pub use imp::point;
