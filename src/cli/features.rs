//! `features`: what this runtime supports, as the runtime-spec's
//! features JSON.

use super::{Command, out};
use clap::Args;
use myrt::container::{self, Global};

#[derive(Args)]
pub struct Features {}

impl Command for Features {
    const NAME: &'static str = "features";

    fn run(self, _: &Global) -> Result<i32, String> {
        out(&format!("{}\n", container::features()))?;
        Ok(0)
    }
}
