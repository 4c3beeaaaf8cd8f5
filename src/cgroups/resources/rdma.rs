//! `linux.resources.rdma`: `rdma.max` (the same line on v1 and v2).

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use super::super::common::{Result, V1Dirs, write_file, write_v2};

pub(super) fn v1(dirs: &V1Dirs, rd: &HashMap<String, LinuxRdma>) -> Result<()> {
    for (dev, l) in rd {
        let field = format!("linux.resources.rdma[{dev}]");
        let d = dirs.require("rdma", &field)?;
        write_file(&field, &d.join("rdma.max"), &line(dev, l))?;
    }
    Ok(())
}

pub(super) fn v2(d: &Path, rd: &HashMap<String, LinuxRdma>) -> Result<()> {
    for (dev, l) in rd {
        let field = format!("linux.resources.rdma[{dev}]");
        write_v2(&field, &d.join("rdma.max"), &line(dev, l))?;
    }
    Ok(())
}

/// One line of `rdma.max`: "mlx4_0 hca_handle=2 hca_object=max".
fn line(dev: &str, l: &LinuxRdma) -> String {
    let v = |x: Option<u32>| x.map_or_else(|| "max".to_string(), |n| n.to_string());
    format!(
        "{dev} hca_handle={} hca_object={}",
        v(l.hca_handles()),
        v(l.hca_objects())
    )
}
