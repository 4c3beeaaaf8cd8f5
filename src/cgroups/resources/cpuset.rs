//! `linux.resources.cpu.cpus` and `.mems`: `cpuset.cpus`/`cpuset.mems`
//! (the same files on v1, in the cpuset hierarchy, and on v2).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::super::common::{PATH_FIELD, Result, V1Dirs, read_file, write_file, write_v2};

/// (value, field, file) of the two settings that are set.
fn settings(c: &LinuxCpu) -> impl Iterator<Item = (&str, &'static str, &'static str)> {
    [
        (c.cpus(), "linux.resources.cpu.cpus", "cpuset.cpus"),
        (c.mems(), "linux.resources.cpu.mems", "cpuset.mems"),
    ]
    .into_iter()
    .filter_map(|(v, field, file)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| (v, field, file))
    })
}

pub(super) fn v1(dirs: &V1Dirs, c: &LinuxCpu) -> Result<()> {
    for (v, field, file) in settings(c) {
        let d = dirs.require("cpuset", field)?;
        write_file(field, &d.join(file), v)?;
    }
    Ok(())
}

pub(super) fn v2(d: &Path, c: &LinuxCpu) -> Result<()> {
    for (v, field, file) in settings(c) {
        write_v2(field, &d.join(file), v)?;
    }
    Ok(())
}

/// v1: new cpusets start with empty cpus/mems, and a pid cannot join until
/// they are filled. Copy them down from the parent, top down along the
/// whole path from `root` to `leaf`: a parent another myrt is creating at
/// the same moment may still be empty (only empty ones are written, so
/// nothing configured is changed).
pub(crate) fn fill_cpusets(root: &Path, leaf: &Path) -> Result<()> {
    let mut d = root.to_path_buf();
    for c in leaf.strip_prefix(root).unwrap_or(leaf).components() {
        let parent = d.clone();
        d.push(c);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if !read_file(PATH_FIELD, &d.join(f))?.trim().is_empty() {
                continue;
            }
            let up = read_file(PATH_FIELD, &parent.join(f))?;
            write_file(PATH_FIELD, &d.join(f), up.trim())?;
        }
    }
    Ok(())
}
