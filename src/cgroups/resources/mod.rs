//! `linux.resources`: one file per section, each holding its conversion for
//! both back ends: `v1` (files in the controller's own hierarchy, found
//! through [`V1Dirs`]) and `v2` (files in the one leaf directory). The
//! back ends call [`set_v1`] and [`set_v2`]; nothing here knows them.

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod hugetlb;
pub(crate) mod memory;
pub(crate) mod network;
pub(crate) mod pids;
pub(crate) mod rdma;
pub(crate) mod unified;

use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxResources};

use super::common::{Result, V1Dirs, devices_enforced};

/// Apply `linux.resources` on a v1 host, section by section, then the
/// device policy (always: it is default-deny even without resources;
/// except rootless, see `devices_enforced`).
pub(crate) fn set_v1(d: &V1Dirs, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
    if let Some(m) = r.memory() {
        memory::v1(d, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu::v1(d, c)?;
        cpuset::v1(d, c)?;
    }
    if let Some(p) = r.pids() {
        pids::v1(d, p)?;
    }
    if let Some(b) = r.block_io() {
        blkio::v1(d, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb::v1(d, h)?;
    }
    if let Some(n) = r.network() {
        network::v1(d, n)?;
    }
    if let Some(rd) = r.rdma() {
        rdma::v1(d, rd)?;
    }
    if let Some(u) = r.unified() {
        unified::v1(u)?;
    }
    apply_devices(r, nodes, |rules| devices::v1(d, rules))
}

/// Apply `linux.resources` to the v2 cgroup `d`, section by section, then
/// the device policy (always, as on v1).
pub(crate) fn set_v2(d: &Path, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
    if let Some(m) = r.memory() {
        memory::v2(d, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu::v2(d, c)?;
        cpuset::v2(d, c)?;
    }
    if let Some(p) = r.pids() {
        pids::v2(d, p)?;
    }
    if let Some(b) = r.block_io() {
        blkio::v2(d, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb::v2(d, h)?;
    }
    if let Some(n) = r.network() {
        network::v2(n)?;
    }
    if let Some(rd) = r.rdma() {
        rdma::v2(d, rd)?;
    }
    if let Some(u) = r.unified() {
        unified::v2(d, u)?;
    }
    apply_devices(r, nodes, |rules| devices::v2(d, rules))
}

/// The device policy (`linux.resources.devices` after `linux.devices`
/// nodes and before the defaults) handed to `write`, where enforced.
fn apply_devices(
    r: &LinuxResources,
    nodes: &[LinuxDevice],
    write: impl FnOnce(&[devices::DeviceRule]) -> Result<()>,
) -> Result<()> {
    if !devices_enforced() {
        return Ok(());
    }
    let user = r.devices().as_deref().unwrap_or_default();
    write(&devices::policy(user, nodes)?)
}
