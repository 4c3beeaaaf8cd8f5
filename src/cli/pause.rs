//! `pause`: freeze all processes of a container.

use super::Command;
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Pause {
    id: String,
}

impl Command for Pause {
    const NAME: &'static str = "pause";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        container::pause(g, &self.id).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
