//! `linux.resources.pids`: `pids.max` (the same file on v1 and v2).

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use super::super::common::{Result, V1Dirs, write_file, write_v2};

const FIELD: &str = "linux.resources.pids.limit";

pub(super) fn v1(dirs: &V1Dirs, p: &LinuxPids) -> Result<()> {
    let d = dirs.require("pids", FIELD)?;
    write_file(FIELD, &d.join("pids.max"), &pids_max_value(p.limit()))
}

pub(super) fn v2(d: &Path, p: &LinuxPids) -> Result<()> {
    write_v2(FIELD, &d.join("pids.max"), &pids_max_value(p.limit()))
}

/// `pids.max` content: a limit <= 0 means no limit.
pub(crate) fn pids_max_value(limit: i64) -> String {
    if limit <= 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}
