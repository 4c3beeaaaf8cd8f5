//! `linux.resources.unified`: cgroup v2 files by name; refused on v1.

use std::collections::HashMap;
use std::path::Path;

use super::super::common::{Error, Result, write_v2};

pub(super) fn v1(u: &HashMap<String, String>) -> Result<()> {
    if u.is_empty() {
        return Ok(());
    }
    Err(Error::unsupported(
        "linux.resources.unified",
        "cgroup v2 settings were given, but this host uses cgroup v1",
    ))
}

/// Each key names a file of the cgroup.
pub(super) fn v2(d: &Path, u: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in keys {
        let field = format!("linux.resources.unified[{k:?}]");
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(Error::invalid(
                field,
                "a key must be a cgroup file name such as \"memory.high\"",
            ));
        }
        write_v2(&field, &d.join(k), &u[k])?;
    }
    Ok(())
}
