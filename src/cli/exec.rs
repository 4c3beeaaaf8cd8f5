//! `exec`: run a process in a running container. Its exit status is the
//! process's; a failure of exec itself exits 255 (as runc's).

use super::Command;
use clap::Args;
use myrt::container::{self, ExecOpts, Global};
use std::path::PathBuf;

#[derive(Args)]
pub struct Exec {
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
    /// SELinux label of the process: refused on a host with SELinux
    /// (myrt cannot set it), ignored without SELinux (as runc does)
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Join this sub-cgroup of the container's cgroup ("/": the container's
    /// own, without the fall-back to the init's)
    #[arg(long = "cgroup")]
    cgroup: Option<String>,
    /// Accepted for compatibility
    #[arg(long = "ignore-paused", hide = true)]
    ignore_paused: bool,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

impl Command for Exec {
    const NAME: &'static str = "exec";
    const FAILED: i32 = 255;
    const NAMES_INVALID_ID: bool = true;

    fn id(&self) -> &str {
        &self.id
    }

    fn preserve_fds(&self) -> Option<u32> {
        Some(self.preserve_fds)
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        let o = ExecOpts {
            process: self.process,
            args: self.command,
            env: self.env,
            cwd: self.cwd,
            user: self.user,
            additional_gids: self.additional_gids,
            tty: self.tty,
            detach: self.detach,
            pid_file: self.pid_file,
            console_socket: self.console_socket,
            preserve_fds: self.preserve_fds,
            no_new_privs: self.no_new_privs,
            caps: self.cap,
            apparmor: self.apparmor,
            process_label: self.process_label,
            cgroup: self.cgroup,
        };
        container::exec(g, &self.id, &o).map_err(|e| e.to_string())
    }
}
