//! `state`: print a container's state (the runtime-spec's state JSON).

use super::{Command, out};
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct State {
    id: String,
}

impl Command for State {
    const NAME: &'static str = "state";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        let s = container::state(g, &self.id).map_err(|e| e.to_string())?;
        out(&format!("{s}\n"))?;
        Ok(0)
    }
}
