//! `run`: create and start a container, and (unless detached) wait for it
//! and exit with its status.

use super::Command;
use super::create::CreateArgs;
use clap::Args;
use myrt::container::{self, Global, RunOpts};

#[derive(Args)]
pub struct Run {
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
}

impl Command for Run {
    const NAME: &'static str = "run";

    fn id(&self) -> &str {
        &self.id
    }

    fn preserve_fds(&self) -> Option<u32> {
        Some(self.opts.effective_preserve_fds())
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        let o = RunOpts {
            create: self.opts.into(),
            detach: self.detach,
            keep: self.keep,
        };
        container::run(g, &self.id, &o).map_err(|e| e.to_string())
    }
}
