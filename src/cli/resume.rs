//! `resume`: thaw a paused container.

use super::Command;
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Resume {
    id: String,
}

impl Command for Resume {
    const NAME: &'static str = "resume";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        container::resume(g, &self.id).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
