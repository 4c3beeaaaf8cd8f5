//! `list`: the containers under `--root`, as a table or JSON.

use super::{Command, out};
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct List {
    #[arg(short, long, default_value = "table")]
    format: String,
    #[arg(short, long)]
    quiet: bool,
}

impl Command for List {
    const NAME: &'static str = "list";

    fn run(self, g: &Global) -> Result<i32, String> {
        let s = container::list(g, &self.format, self.quiet).map_err(|e| e.to_string())?;
        out(&s)?;
        Ok(0)
    }
}
