//! `kill`: send a signal to a container's init, or with `--all` to every
//! process in its cgroup.

use super::{Command, values};
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Kill {
    #[arg(short, long)]
    all: bool,
    id: String,
    #[arg(default_value = "SIGTERM", value_parser = values::signal)]
    signal: i32,
}

impl Command for Kill {
    const NAME: &'static str = "kill";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        container::kill(g, &self.id, self.signal, self.all).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
