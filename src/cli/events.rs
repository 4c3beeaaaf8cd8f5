//! `events`: container resource usage in runc's event shape, once
//! (`--stats`) or every `--interval`.

use super::{Command, out, values};
use clap::Args;
use myrt::container::{self, Global};
use std::time::Duration;

#[derive(Args)]
pub struct Events {
    #[arg(long)]
    stats: bool,
    #[arg(long, default_value = "5s", value_parser = values::interval)]
    interval: Duration,
    id: String,
}

impl Command for Events {
    const NAME: &'static str = "events";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        loop {
            let s = container::stats(g, &self.id).map_err(|e| e.to_string())?;
            out(&format!("{s}\n"))?;
            if self.stats {
                return Ok(0);
            }
            std::thread::sleep(self.interval);
        }
    }
}
