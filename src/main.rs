//! The `myrt` command line: parses runc's CLI and maps each subcommand to
//! one call of `myrt::container`, printing errors (and JSON log lines for
//! engines that ask for them).

use clap::{Args, Parser, Subcommand};
use myrt::container::{self, CreateOpts, ExecOpts, Global, RunOpts};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "myrt",
    about = "An OCI container runtime",
    disable_version_flag = true
)]
struct Cli {
    /// Directory for container state [default: /run/myrt; for a user
    /// other than root $XDG_RUNTIME_DIR/myrt]
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Log file (errors are also printed on stderr)
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Debug logging
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd for cgroups (needs a running systemd)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for compatibility with runc (criu is not used)
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args, Clone)]
struct CreateArgs {
    /// Bundle directory (default: the current directory)
    #[arg(short, long)]
    bundle: Option<PathBuf>,
    /// File to write the container's host pid to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS)
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
}

impl From<CreateArgs> for CreateOpts {
    fn from(a: CreateArgs) -> Self {
        CreateOpts {
            bundle: a.bundle,
            pid_file: a.pid_file,
            console_socket: a.console_socket,
            no_pivot: a.no_pivot,
            no_new_keyring: a.no_new_keyring,
            preserve_fds: a.preserve_fds,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (stopped before the user's program runs)
    Create {
        #[command(flatten)]
        opts: CreateArgs,
        id: String,
    },
    /// Start a created container
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal to a container's init (or all its processes)
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and everything create made
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container
    Run {
        #[command(flatten)]
        opts: CreateArgs,
        /// Do not wait for the container
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits
        #[arg(long)]
        keep: bool,
        /// Accepted for compatibility (myrt's foreground run always reaps)
        #[arg(long = "no-subreaper", hide = true)]
        no_subreaper: bool,
        id: String,
    },
    /// Run a process in a running container
    Exec {
        /// process.json to run instead of a command
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Set an environment variable (KEY=VALUE)
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Working directory inside the container
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// UID[:GID]
        #[arg(short, long)]
        user: Option<String>,
        /// Additional gids
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        /// Allocate a pty
        #[arg(short, long)]
        tty: bool,
        /// Do not wait for the process
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        /// Set no_new_privs for the process
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        /// Add a capability
        #[arg(short, long = "cap")]
        cap: Vec<String>,
        #[arg(long)]
        apparmor: Option<String>,
        /// Accepted for compatibility (SELinux is not supported)
        #[arg(long = "process-label", hide = true)]
        process_label: Option<String>,
        /// Accepted for compatibility
        #[arg(long = "ignore-paused", hide = true)]
        ignore_paused: bool,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List containers
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// List a container's processes
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze all processes of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Change a container's resource limits
    Update {
        /// LinuxResources JSON file ("-" for stdin)
        #[arg(short, long)]
        resources: Option<PathBuf>,
        #[arg(long)]
        memory: Option<String>,
        #[arg(long = "memory-reservation")]
        memory_reservation: Option<String>,
        #[arg(long = "memory-swap")]
        memory_swap: Option<String>,
        #[arg(long = "cpu-share", alias = "cpu-shares")]
        cpu_shares: Option<u64>,
        #[arg(long = "cpu-quota")]
        cpu_quota: Option<i64>,
        #[arg(long = "cpu-period")]
        cpu_period: Option<u64>,
        #[arg(long = "cpuset-cpus")]
        cpuset_cpus: Option<String>,
        #[arg(long = "cpuset-mems")]
        cpuset_mems: Option<String>,
        #[arg(long = "pids-limit")]
        pids_limit: Option<i64>,
        #[arg(long = "blkio-weight")]
        blkio_weight: Option<u16>,
        id: String,
    },
    /// Print container resource usage
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Write a default config.json
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Print the features this runtime supports (JSON)
    Features,
    /// Not supported (no criu): fails at once, whatever the arguments
    // No --help either: podman probes `checkpoint --help` and takes exit 0
    // to mean checkpoint/restore works.
    #[command(disable_help_flag = true)]
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Not supported (no criu): fails at once, whatever the arguments
    #[command(disable_help_flag = true)]
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

impl Logger {
    /// `what` is `<operation> <id>` (or `<operation>`). On stderr the line
    /// says it is an error, as runc's `level=error` does (scripts grep for
    /// the word): `myrt: <operation> <id>: error: <cause>`. The log file
    /// keeps the message without the word: its level field carries it.
    fn error(&mut self, what: &str, cause: &str) {
        let _ = writeln!(std::io::stderr(), "myrt: {what}: error: {cause}");
        let msg = format!("{what}: {cause}");
        let msg = msg.as_str();
        if let Some(f) = &mut self.file {
            let time = myrt::sys::rfc3339_now();
            let line = if self.json {
                serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
            } else {
                format!("time=\"{time}\" level=error msg={:?}", msg)
            };
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Why `checkpoint` and `restore` fail (at once, touching nothing).
const NO_CRIU: &str = "checkpoint/restore is not supported: myrt has no criu support (the container is left as it was)";

/// A size for `update --memory` etc.: bytes, or with a `k`/`m`/`g` (`kb`,
/// ...) suffix, or -1 (unlimited). A value that does not fit in 64 bits is
/// an error, never a silent wrap.
fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let digits = t.trim_end_matches('b');
    let (num, mult) = match digits.as_bytes().last() {
        Some(b'k') => (&digits[..digits.len() - 1], 1i64 << 10),
        Some(b'm') => (&digits[..digits.len() - 1], 1 << 20),
        Some(b'g') => (&digits[..digits.len() - 1], 1 << 30),
        Some(b't') => (&digits[..digits.len() - 1], 1 << 40),
        _ => (digits, 1),
    };
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{s:?} is not a size (bytes, or a number with k, m, g or t; -1 for unlimited)"
        ));
    }
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is too large (at most {} bytes)", i64::MAX))
}

/// `events --interval`: a duration such as `5s`, `500ms`, `1m`, `1h` (a bare
/// number is seconds), finite, from 1 ms to a day.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?} is not a duration (e.g. 5s, 500ms, 1m)")),
    };
    let secs = num
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n * scale)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. 5s, 500ms, 1m)"))?;
    if !(0.001..=86400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range (1ms to 24h)"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Write `s` to stdout. When the reader has gone (`myrt features | head`)
/// the command ends quietly with status 141, as a process killed by SIGPIPE
/// does (never a panic); other write errors are errors.
fn out(s: &str) -> Result<(), String> {
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|_| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        Err(e) => Err(format!("writing to stdout: {e}")),
    }
}

/// Whether the subcommand (the first argument that is neither a global
/// option nor its value) is one that starts container processes. Only an
/// early hint: `main` checks the parsed command again.
fn spawns_containers(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut args = args;
    while let Some(a) = args.next() {
        let a = a.to_string_lossy();
        if matches!(&*a, "--root" | "--log" | "--log-format" | "--criu") {
            args.next();
        } else if !a.starts_with('-') {
            return matches!(&*a, "create" | "run" | "exec");
        }
    }
    false
}

fn main() {
    // Non-dumpable from the start: the container's processes are forks of
    // this one, and must not be ptrace-able or have their /proc/<pid>/exe
    // (this binary) opened from inside the container before their execve.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // create, run and exec first re-execute from a sealed image of this
    // binary (CVE-2019-5736, see security::exe), before anything else is
    // done (the command line is parsed once, by the sealed image). An error
    // is reported below, once the container id is known.
    let early =
        spawns_containers(std::env::args_os().skip(1)).then(myrt::security::exe::ensure_sealed);
    let cli = Cli::parse();
    // Fds the caller leaked into us (conmon's sync pipe, a shim's socket,
    // a shell's redirections) are closed before anything else: only stdio
    // and the `--preserve-fds` ones may reach a container, and a created
    // container's init (a fork of this process) must not hold the others
    // until `start`, where a client waiting for EOF on such a pipe would
    // hang (runc's init, a fresh execve, never has them). One close_range.
    // Only for the commands that start container processes. A failure here
    // leaves the close-on-exec sweep before every execve as the defence.
    let preserve = match &cli.cmd {
        Some(Cmd::Create { opts, .. } | Cmd::Run { opts, .. }) => Some(opts.preserve_fds),
        Some(Cmd::Exec { preserve_fds, .. }) => Some(*preserve_fds),
        _ => None,
    };
    if let Some(n) = preserve {
        let _ = myrt::sys::close_from(3u32.saturating_add(n));
    }
    let mut log = Logger {
        file: cli.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }),
        json: cli.log_format == "json",
    };
    if cli.version {
        let v = format!(
            "myrt version {}\ncommit: {}\nspec: {}\n",
            env!("CARGO_PKG_VERSION"),
            option_env!("MYRT_COMMIT").unwrap_or("unknown"),
            myrt::state::OCI_VERSION
        );
        if let Err(e) = out(&v) {
            log.error("version", &e);
            std::process::exit(1);
        }
        return;
    }
    let Some(cmd) = cli.cmd else {
        let _ = writeln!(
            std::io::stderr(),
            "myrt: error: no command given (see myrt --help)"
        );
        std::process::exit(1);
    };
    // (Also where the quick look at the arguments above missed it.)
    let spawner = match &cmd {
        Cmd::Create { id, .. } => Some(("create", id)),
        Cmd::Run { id, .. } => Some(("run", id)),
        Cmd::Exec { id, .. } => Some(("exec", id)),
        _ => None,
    };
    if let Some((op, id)) = spawner
        && let Err(e) = early.unwrap_or_else(myrt::security::exe::ensure_sealed)
    {
        log.error(&format!("{op} {id}"), &e.to_string());
        std::process::exit(1);
    }
    let g = Global {
        root: cli
            .root
            .clone()
            .unwrap_or_else(myrt::rootless::default_root),
        systemd_cgroup: cli.systemd_cgroup,
    };
    myrt::fault::command(match &cmd {
        Cmd::Create { .. } => "create",
        Cmd::Start { .. } => "start",
        Cmd::Run { .. } => "run",
        Cmd::Exec { .. } => "exec",
        Cmd::Delete { .. } => "delete",
        Cmd::Kill { .. } => "kill",
        _ => "",
    });
    // (operation, id, result as exit code)
    let (op, id, result): (&str, String, Result<i32, String>) = match cmd {
        Cmd::Create { opts, id } => (
            "create",
            id.clone(),
            container::create(&g, &id, &opts.into())
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::Start { id } => (
            "start",
            id.clone(),
            container::start(&g, &id)
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::State { id } => (
            "state",
            id.clone(),
            container::state(&g, &id)
                .map_err(|e| e.to_string())
                .and_then(|s| out(&format!("{s}\n")).map(|_| 0)),
        ),
        Cmd::Kill { all, id, signal } => (
            "kill",
            id.clone(),
            container::kill(&g, &id, &signal, all)
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::Delete { force, id } => (
            "delete",
            id.clone(),
            container::delete(&g, &id, force)
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::Run {
            opts,
            detach,
            keep,
            id,
            ..
        } => (
            "run",
            id.clone(),
            container::run(
                &g,
                &id,
                &RunOpts {
                    create: opts.into(),
                    detach,
                    keep,
                },
            )
            .map_err(|e| e.to_string()),
        ),
        Cmd::Exec {
            process,
            env,
            cwd,
            user,
            additional_gids,
            tty,
            detach,
            pid_file,
            console_socket,
            preserve_fds,
            no_new_privs,
            cap,
            apparmor,
            id,
            command,
            ..
        } => {
            let r = container::exec(
                &g,
                &id,
                &ExecOpts {
                    process,
                    args: command,
                    env,
                    cwd,
                    user,
                    additional_gids,
                    tty,
                    detach,
                    pid_file,
                    console_socket,
                    preserve_fds,
                    no_new_privs,
                    caps: cap,
                    apparmor,
                },
            );
            match r {
                Ok(code) => std::process::exit(code),
                Err(e) => {
                    log.error(&format!("exec {id}"), &e.to_string());
                    std::process::exit(255);
                }
            }
        }
        Cmd::List { format, quiet } => (
            "list",
            String::new(),
            container::list(&g, &format, quiet)
                .map_err(|e| e.to_string())
                .and_then(|s| out(&s).map(|_| 0)),
        ),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => (
            "ps",
            id.clone(),
            container::ps(&g, &id, &format, &ps_args)
                .map_err(|e| e.to_string())
                .and_then(|s| out(&s).map(|_| 0)),
        ),
        Cmd::Pause { id } => (
            "pause",
            id.clone(),
            container::pause(&g, &id)
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::Resume { id } => (
            "resume",
            id.clone(),
            container::resume(&g, &id)
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::Update {
            resources,
            memory,
            memory_reservation,
            memory_swap,
            cpu_shares,
            cpu_quota,
            cpu_period,
            cpuset_cpus,
            cpuset_mems,
            pids_limit,
            blkio_weight,
            id,
        } => {
            let r = (|| -> Result<(), String> {
                let res = match &resources {
                    None => None,
                    Some(p) => {
                        let data = if p.as_os_str() == "-" {
                            let mut v = Vec::new();
                            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                                .map_err(|e| e.to_string())?;
                            v
                        } else {
                            std::fs::read(p)
                                .map_err(|e| format!("--resources {}: {e}", p.display()))?
                        };
                        Some(
                            serde_json::from_slice(&data)
                                .map_err(|e| format!("--resources: {e}"))?,
                        )
                    }
                };
                let mut patch = serde_json::json!({});
                let size = |f: &str, v: &Option<String>| -> Result<Option<i64>, String> {
                    v.as_ref()
                        .map(|s| parse_size(s).map_err(|e| format!("--{f}: {e}")))
                        .transpose()
                };
                if let Some(m) = size("memory", &memory)? {
                    patch["memory"]["limit"] = m.into();
                }
                if let Some(m) = size("memory-reservation", &memory_reservation)? {
                    patch["memory"]["reservation"] = m.into();
                }
                if let Some(m) = size("memory-swap", &memory_swap)? {
                    patch["memory"]["swap"] = m.into();
                }
                if let Some(v) = cpu_shares {
                    patch["cpu"]["shares"] = v.into();
                }
                if let Some(v) = cpu_quota {
                    patch["cpu"]["quota"] = v.into();
                }
                if let Some(v) = cpu_period {
                    patch["cpu"]["period"] = v.into();
                }
                if let Some(v) = &cpuset_cpus {
                    patch["cpu"]["cpus"] = v.clone().into();
                }
                if let Some(v) = &cpuset_mems {
                    patch["cpu"]["mems"] = v.clone().into();
                }
                if let Some(v) = pids_limit {
                    patch["pids"]["limit"] = v.into();
                }
                if let Some(v) = blkio_weight {
                    patch["blockIO"]["weight"] = v.into();
                }
                container::update(&g, &id, res, &patch).map_err(|e| e.to_string())
            })();
            ("update", id.clone(), r.map(|_| 0))
        }
        Cmd::Events {
            stats,
            interval,
            id,
        } => {
            let r = (|| -> Result<i32, String> {
                let every = parse_interval(&interval).map_err(|e| format!("--interval: {e}"))?;
                loop {
                    let s = container::stats(&g, &id).map_err(|e| e.to_string())?;
                    out(&format!("{s}\n"))?;
                    if stats {
                        return Ok(0);
                    }
                    std::thread::sleep(every);
                }
            })();
            ("events", id.clone(), r)
        }
        Cmd::Spec { bundle, rootless } => (
            "spec",
            String::new(),
            container::write_spec(&bundle, rootless)
                .map(|_| 0)
                .map_err(|e| e.to_string()),
        ),
        Cmd::Features => (
            "features",
            String::new(),
            out(&format!("{}\n", container::features())).map(|_| 0),
        ),
        Cmd::Checkpoint { args } => (
            "checkpoint",
            args.last().cloned().unwrap_or_default(),
            Err(NO_CRIU.to_string()),
        ),
        Cmd::Restore { args } => (
            "restore",
            args.last().cloned().unwrap_or_default(),
            Err(NO_CRIU.to_string()),
        ),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            if id.is_empty() || myrt::spec::validate_id(&id).is_err() {
                log.error(op, &e);
            } else {
                log.error(&format!("{op} {id}"), &e);
            }
            std::process::exit(1);
        }
    }
}
