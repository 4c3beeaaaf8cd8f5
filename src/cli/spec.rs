//! `spec`: write a default config.json (runc's defaults) into a bundle.

use super::Command;
use clap::Args;
use myrt::container::{self, Global};
use std::path::PathBuf;

#[derive(Args)]
pub struct Spec {
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    #[arg(long)]
    rootless: bool,
}

impl Command for Spec {
    const NAME: &'static str = "spec";

    fn run(self, _: &Global) -> Result<i32, String> {
        container::write_spec(&self.bundle, self.rootless).map_err(|e| e.to_string())?;
        Ok(0)
    }
}
