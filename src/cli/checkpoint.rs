//! `checkpoint` and `restore`: not supported (myrt has no criu). Both fail
//! at once, whatever the arguments, and touch nothing.

use super::Command;
use clap::Args;
use myrt::container::Global;

/// Why `checkpoint` and `restore` fail.
const NO_CRIU: &str = "checkpoint/restore is not supported: myrt has no criu support (the container is left as it was)";

#[derive(Args)]
pub struct Checkpoint {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Command for Checkpoint {
    const NAME: &'static str = "checkpoint";

    /// The last argument, as runc's id is.
    fn id(&self) -> &str {
        self.args.last().map_or("", String::as_str)
    }

    fn run(self, _: &Global) -> Result<i32, String> {
        Err(NO_CRIU.to_string())
    }
}

#[derive(Args)]
pub struct Restore {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Command for Restore {
    const NAME: &'static str = "restore";

    /// The last argument, as runc's id is.
    fn id(&self) -> &str {
        self.args.last().map_or("", String::as_str)
    }

    fn run(self, _: &Global) -> Result<i32, String> {
        Err(NO_CRIU.to_string())
    }
}
