//! `start`: run the user's program of a created container.

use super::Command;
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Start {
    id: String,
}

impl Command for Start {
    const NAME: &'static str = "start";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        container::start(g, &self.id).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
