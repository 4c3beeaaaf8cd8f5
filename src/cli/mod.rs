//! The `myrt` command line: runc's global options and one module per
//! subcommand. Each subcommand is a clap struct carrying typed values and
//! implements [`Command`]; [`main`] does what every command shares (the
//! sealed re-exec, closing leaked fds, error lines and exit statuses).

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod log;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;
mod values;

use clap::{CommandFactory, Parser, Subcommand};
use log::Logger;
use myrt::container::Global;
use std::ffi::OsString;
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
    /// Accepted for compatibility with runc (true, false or auto; before
    /// the subcommand, as runc takes it: `spec --rootless` is another flag): myrt
    /// always decides as `auto` does (rootless when not root on the host)
    #[arg(long, hide = true, value_parser = ["true", "false", "auto"])]
    rootless: Option<String>,
    /// Accepted for compatibility with runc (criu is not used)
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (stopped before the user's program runs)
    Create(create::Create),
    /// Start a created container
    Start(start::Start),
    /// Print a container's state as JSON
    State(state::State),
    /// Send a signal to a container's init (or all its processes)
    Kill(kill::Kill),
    /// Delete a container and everything create made
    Delete(delete::Delete),
    /// Create and start a container
    Run(run::Run),
    /// Run a process in a running container
    Exec(exec::Exec),
    /// List containers
    List(list::List),
    /// List a container's processes
    Ps(ps::Ps),
    /// Freeze all processes of a container
    Pause(pause::Pause),
    /// Thaw a paused container
    Resume(resume::Resume),
    /// Change a container's resource limits
    Update(update::Update),
    /// Print container resource usage
    Events(events::Events),
    /// Write a default config.json
    Spec(spec::Spec),
    /// Print the features this runtime supports (JSON)
    Features(features::Features),
    /// Not supported (no criu): fails at once, whatever the arguments
    // No --help either: podman probes `checkpoint --help` and takes exit 0
    // to mean checkpoint/restore works.
    #[command(disable_help_flag = true)]
    Checkpoint(checkpoint::Checkpoint),
    /// Not supported (no criu): fails at once, whatever the arguments
    #[command(disable_help_flag = true)]
    Restore(checkpoint::Restore),
}

/// One subcommand: what it is called in error lines, the container it
/// names, and what it does.
trait Command {
    /// `<operation>` in `myrt: <operation> <id>: error: <cause>`.
    const NAME: &'static str;
    /// The exit status of a failure (exec's is 255, as runc's: its own
    /// statuses are the process's).
    const FAILED: i32 = 1;
    /// Whether an error line names the id even when it is not a valid id
    /// (exec does; the others leave an invalid id out).
    const NAMES_INVALID_ID: bool = false;

    /// The container id ("" for commands without one).
    fn id(&self) -> &str {
        ""
    }

    /// `Some(n)` for the commands that start container processes: they
    /// pass fds 3..3+n on (`--preserve-fds`) and close the rest at once.
    fn preserve_fds(&self) -> Option<u32> {
        None
    }

    /// Run the command; `Ok` carries the exit status.
    fn run(self, g: &Global) -> Result<i32, String>;
}

/// Parse the command line, run the command, and return the exit status.
/// `early` is the sealed re-exec already attempted (see `main.rs`).
pub fn main(early: Option<Result<(), myrt::security::exe::Error>>) -> i32 {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return value_error(e),
    };
    if cli.version {
        return version(&cli);
    }
    let Some(cmd) = cli.cmd.take() else {
        let _ = writeln!(
            std::io::stderr(),
            "myrt: error: no command given (see myrt --help)"
        );
        return 1;
    };
    let ctx = Context { cli: &cli, early };
    match cmd {
        Cmd::Create(c) => ctx.execute(c),
        Cmd::Start(c) => ctx.execute(c),
        Cmd::State(c) => ctx.execute(c),
        Cmd::Kill(c) => ctx.execute(c),
        Cmd::Delete(c) => ctx.execute(c),
        Cmd::Run(c) => ctx.execute(c),
        Cmd::Exec(c) => ctx.execute(c),
        Cmd::List(c) => ctx.execute(c),
        Cmd::Ps(c) => ctx.execute(c),
        Cmd::Pause(c) => ctx.execute(c),
        Cmd::Resume(c) => ctx.execute(c),
        Cmd::Update(c) => ctx.execute(c),
        Cmd::Events(c) => ctx.execute(c),
        Cmd::Spec(c) => ctx.execute(c),
        Cmd::Features(c) => ctx.execute(c),
        Cmd::Checkpoint(c) => ctx.execute(c),
        Cmd::Restore(c) => ctx.execute(c),
    }
}

/// What every command shares: the global options and the sealed re-exec.
struct Context<'a> {
    cli: &'a Cli,
    early: Option<Result<(), myrt::security::exe::Error>>,
}

impl Context<'_> {
    fn execute<C: Command>(self, cmd: C) -> i32 {
        // Fds the caller leaked into us (conmon's sync pipe, a shim's
        // socket, a shell's redirections) are closed before anything else:
        // only stdio and the `--preserve-fds` ones may reach a container,
        // and a created container's init (a fork of this process) must not
        // hold the others until `start`, where a client waiting for EOF on
        // such a pipe would hang (runc's init, a fresh execve, never has
        // them). One close_range, only for the commands that start container
        // processes. A failure here leaves the close-on-exec sweep before
        // every execve as the defence.
        let spawns = cmd.preserve_fds();
        if let Some(n) = spawns {
            let _ = myrt::sys::close_from(3u32.saturating_add(n));
        }
        let mut log = Logger::open(self.cli.log.as_deref(), &self.cli.log_format);
        // (Also where the quick look at the arguments in `main.rs` missed it.)
        if spawns.is_some()
            && let Err(e) = self
                .early
                .unwrap_or_else(myrt::security::exe::ensure_sealed)
        {
            log.error(&format!("{} {}", C::NAME, cmd.id()), &e.to_string());
            return 1;
        }
        let g = Global {
            root: self
                .cli
                .root
                .clone()
                .unwrap_or_else(myrt::rootless::default_root),
            systemd_cgroup: self.cli.systemd_cgroup,
        };
        myrt::fault::command(C::NAME);
        let id = cmd.id().to_string();
        match cmd.run(&g) {
            Ok(code) => code,
            Err(e) => {
                report::<C>(&mut log, &id, &e);
                C::FAILED
            }
        }
    }
}

/// `myrt: <op> <id>: error: <cause>`, without an id that is empty or (for
/// most commands) not a valid container id.
fn report<C: Command>(log: &mut Logger, id: &str, cause: &str) {
    let invalid = myrt::spec::validate_id(id).is_err() && !C::NAMES_INVALID_ID;
    if id.is_empty() || invalid {
        log.error(C::NAME, cause);
    } else {
        log.error(&format!("{} {id}", C::NAME), cause);
    }
}

fn version(cli: &Cli) -> i32 {
    let v = format!(
        "myrt version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("MYRT_COMMIT").unwrap_or("unknown"),
        myrt::state::OCI_VERSION
    );
    match out(&v) {
        Ok(()) => 0,
        Err(e) => {
            Logger::open(cli.log.as_deref(), &cli.log_format).error("version", &e);
            1
        }
    }
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
/// early hint: [`Context::execute`] checks the parsed command again.
pub fn spawns_containers(args: impl Iterator<Item = OsString>) -> bool {
    let mut args = args;
    while let Some(a) = args.next() {
        let a = a.to_string_lossy();
        if matches!(
            &*a,
            "--root" | "--log" | "--log-format" | "--criu" | "--rootless"
        ) {
            args.next();
        } else if !a.starts_with('-') {
            return matches!(&*a, "create" | "run" | "exec");
        }
    }
    false
}

/// A command line clap rejected. A typed value of ours that did not parse
/// ([`values::BadValue`]) is a failure of the command like any other:
/// `myrt: <op> <id>: error: <flag>: <cause>`, status 1 (no command with such
/// values is one whose failures exit otherwise). Everything else (unknown
/// options, --help) is clap's to print, with clap's status.
fn value_error(e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue};
    let Some(bad) =
        std::error::Error::source(&e).and_then(|s| s.downcast_ref::<values::BadValue>())
    else {
        e.exit()
    };
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) if a.starts_with('-') => {
            format!("{}: ", a.split([' ', '=']).next().unwrap_or(a))
        }
        _ => String::new(),
    };
    let args: Vec<OsString> = std::env::args_os().collect();
    let m = as_text(Cli::command()).try_get_matches_from(&args);
    let Ok(m) = m else { e.exit() };
    let text = |m: &clap::ArgMatches, id: &str| m.get_one::<String>(id).cloned();
    let (op, sub) = m.subcommand().unwrap_or(("", &m));
    let mut log = Logger::open(
        m.get_one::<PathBuf>("log").map(|p| p.as_path()),
        &text(&m, "log_format").unwrap_or_default(),
    );
    let id = text(sub, "id").unwrap_or_default();
    let what = if id.is_empty() || myrt::spec::validate_id(&id).is_err() {
        op.to_string()
    } else {
        format!("{op} {id}")
    };
    log.error(&what, &format!("{flag}{bad}"));
    1
}

/// `cmd` with every value a subcommand takes read as plain text, so that a
/// command line whose only fault is a value reads to the end (for the
/// operation and the id that the error line names).
fn as_text(mut cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |mut s| {
            let ids: Vec<clap::Id> = s
                .get_arguments()
                .filter(|a| a.get_action().takes_values())
                .map(|a| a.get_id().clone())
                .collect();
            for id in ids {
                s = s.mut_arg(id, |a| {
                    a.value_parser(clap::builder::StringValueParser::new())
                });
            }
            s
        });
    }
    cmd
}
