//! `create`: set a container up, stopped before the user's program runs.

use super::Command;
use clap::Args;
use myrt::container::{self, CreateOpts, Global};
use std::path::PathBuf;

/// The options `create` and `run` share.
#[derive(Args)]
pub struct CreateArgs {
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
    pub preserve_fds: u32,
}

impl CreateArgs {
    /// `--preserve-fds`, or the fds systemd passed by socket activation
    /// (`myrt::activation`) when those are more.
    pub fn effective_preserve_fds(&self) -> u32 {
        self.preserve_fds.max(myrt::activation::passed())
    }
}

impl From<CreateArgs> for CreateOpts {
    fn from(a: CreateArgs) -> Self {
        let preserve_fds = a.effective_preserve_fds();
        CreateOpts {
            bundle: a.bundle,
            pid_file: a.pid_file,
            console_socket: a.console_socket,
            no_pivot: a.no_pivot,
            no_new_keyring: a.no_new_keyring,
            preserve_fds,
        }
    }
}

#[derive(Args)]
pub struct Create {
    #[command(flatten)]
    opts: CreateArgs,
    id: String,
}

impl Command for Create {
    const NAME: &'static str = "create";

    fn id(&self) -> &str {
        &self.id
    }

    fn preserve_fds(&self) -> Option<u32> {
        Some(self.opts.effective_preserve_fds())
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        container::create(g, &self.id, &self.opts.into()).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
