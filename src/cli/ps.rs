//! `ps`: a container's processes (pids as JSON, or `ps` output).

use super::{Command, out};
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Ps {
    #[arg(short, long, default_value = "table")]
    format: String,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

impl Command for Ps {
    const NAME: &'static str = "ps";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        let s =
            container::ps(g, &self.id, &self.format, &self.ps_args).map_err(|e| e.to_string())?;
        out(&s)?;
        Ok(0)
    }
}
