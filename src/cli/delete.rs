//! `delete`: remove a container and everything `create` made.

use super::Command;
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Delete {
    #[arg(short, long)]
    force: bool,
    id: String,
}

impl Command for Delete {
    const NAME: &'static str = "delete";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        container::delete(g, &self.id, self.force).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
