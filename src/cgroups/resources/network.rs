//! `linux.resources.network`: v1 `net_cls.classid` and `net_prio.ifpriomap`;
//! cgroup v2 has neither controller.

use oci_spec::runtime::LinuxNetwork;

use super::super::common::{Error, Result, V1Dirs, write_file};

pub(super) fn v1(dirs: &V1Dirs, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        const F: &str = "linux.resources.network.classID";
        let d = dirs.require("net_cls", F)?;
        write_file(F, &d.join("net_cls.classid"), &id.to_string())?;
    }
    for (i, p) in n.priorities().iter().flatten().enumerate() {
        let field = format!("linux.resources.network.priorities[{i}]");
        let d = dirs.require("net_prio", &field)?;
        write_file(
            &field,
            &d.join("net_prio.ifpriomap"),
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

pub(super) fn v2(n: &LinuxNetwork) -> Result<()> {
    if n.class_id().is_some() {
        return Err(Error::unsupported(
            "linux.resources.network.classID",
            "net_cls does not exist on cgroup v2",
        ));
    }
    if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(Error::unsupported(
            "linux.resources.network.priorities",
            "net_prio does not exist on cgroup v2",
        ));
    }
    Ok(())
}
