//! `linux.resources.blockIO`: v1 `blkio.*` files, v2 `io.weight` (or
//! `io.bfq.weight`) and `io.max`. The throttle table is shared.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::super::common::{Result, V1Dirs, v2_weight, write_file, write_v2};

type List = fn(&LinuxBlockIo) -> &Option<Vec<LinuxThrottleDevice>>;

/// The throttle lists: (spec name, v1 file, v2 `io.max` key, the list).
const THROTTLE: [(&str, &str, &str, List); 4] = [
    (
        "throttleReadBpsDevice",
        "blkio.throttle.read_bps_device",
        "rbps",
        |b| b.throttle_read_bps_device(),
    ),
    (
        "throttleWriteBpsDevice",
        "blkio.throttle.write_bps_device",
        "wbps",
        |b| b.throttle_write_bps_device(),
    ),
    (
        "throttleReadIOPSDevice",
        "blkio.throttle.read_iops_device",
        "riops",
        |b| b.throttle_read_iops_device(),
    ),
    (
        "throttleWriteIOPSDevice",
        "blkio.throttle.write_iops_device",
        "wiops",
        |b| b.throttle_write_iops_device(),
    ),
];

/// Every throttle entry that is set: (field, v1 file, v2 key, entry).
fn throttles(
    b: &LinuxBlockIo,
) -> impl Iterator<Item = (String, &'static str, &'static str, &LinuxThrottleDevice)> {
    THROTTLE.iter().flat_map(move |&(name, file, key, list)| {
        list(b)
            .iter()
            .flatten()
            .enumerate()
            .map(move |(i, t)| (format!("linux.resources.blockIO.{name}[{i}]"), file, key, t))
    })
}

/// A weight of 0 is "not set": Docker writes `blockIO.weight: 0` for every
/// container without `--blkio-weight`, and the kernel refuses 0 (ERANGE);
/// runc skips it too. The spec's range starts at 10.
fn set(w: Option<u16>) -> Option<u16> {
    w.filter(|&w| w != 0)
}

fn weight_device_field(i: usize) -> String {
    format!("linux.resources.blockIO.weightDevice[{i}]")
}

pub(super) fn v1(dirs: &V1Dirs, b: &LinuxBlockIo) -> Result<()> {
    let d = dirs.dir("blkio");
    // Weights: written when the kernel has the file (it does only with CFQ/BFQ).
    let first_existing = |names: &[&str]| -> Option<PathBuf> {
        let d = d.as_ref()?;
        names.iter().map(|n| d.join(n)).find(|p| p.exists())
    };
    if let Some(w) = set(b.weight())
        && let Some(f) = first_existing(&["blkio.weight", "blkio.bfq.weight"])
    {
        write_file("linux.resources.blockIO.weight", &f, &w.to_string())?;
    }
    if let Some(w) = set(b.leaf_weight())
        && let Some(f) = first_existing(&["blkio.leaf_weight"])
    {
        write_file("linux.resources.blockIO.leafWeight", &f, &w.to_string())?;
    }
    for (i, dev) in b.weight_device().iter().flatten().enumerate() {
        let (major, minor) = (dev.major(), dev.minor());
        if let Some(w) = set(dev.weight())
            && let Some(f) = first_existing(&["blkio.weight_device", "blkio.bfq.weight_device"])
        {
            write_file(&weight_device_field(i), &f, &format!("{major}:{minor} {w}"))?;
        }
        if let Some(w) = set(dev.leaf_weight())
            && let Some(f) = first_existing(&["blkio.leaf_weight_device"])
        {
            write_file(&weight_device_field(i), &f, &format!("{major}:{minor} {w}"))?;
        }
    }
    // Throttling: a limit the kernel cannot apply is an error.
    for (field, file, _, t) in throttles(b) {
        let d = dirs.require("blkio", &field)?;
        let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
        write_file(&field, &d.join(file), &line)?;
    }
    Ok(())
}

pub(super) fn v2(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // With BFQ, io.bfq.weight takes the v1 value as is; else io.weight takes
    // a converted one. No file: the weight is skipped (no weight-based
    // scheduler on this kernel).
    let bfq = d.join("io.bfq.weight");
    let iow = d.join("io.weight");
    let weight_line = |dev: Option<(i64, i64)>, w: u16| -> Option<(PathBuf, String)> {
        let (file, v) = if bfq.exists() {
            (bfq.clone(), w as u64)
        } else if iow.exists() {
            (iow.clone(), blkio_weight_to_io_weight(w as u64))
        } else {
            return None;
        };
        let who = dev.map_or_else(|| "default".to_string(), |(a, b)| format!("{a}:{b}"));
        Some((file, format!("{who} {v}")))
    };
    if let Some(w) = set(b.weight())
        && let Some((f, line)) = weight_line(None, w)
    {
        write_v2("linux.resources.blockIO.weight", &f, &line)?;
    }
    for (i, dev) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = set(dev.weight())
            && let Some((f, line)) = weight_line(Some((dev.major(), dev.minor())), w)
        {
            write_v2(&weight_device_field(i), &f, &line)?;
        }
    }
    for (field, _, key, t) in throttles(b) {
        let rate = if t.rate() == 0 {
            "max".to_string()
        } else {
            t.rate().to_string()
        };
        let line = format!("{}:{} {key}={rate}", t.major(), t.minor());
        write_v2(&field, &d.join("io.max"), &line)?;
    }
    Ok(())
}

/// v1 `blkio.weight` [10, 1000] to v2 `io.weight` [1, 10000] (runc's formula).
pub(crate) fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    v2_weight(weight, 10, 1000)
}
