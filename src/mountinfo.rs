//! Where the cgroup hierarchies are mounted, from `/proc/self/mountinfo`:
//! read by the cgroups back ends and by `rootfs` (which mounts the same
//! hierarchies into a container).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The v1 controllers (and named hierarchies) a container is placed in.
pub const V1_CONTROLLERS: &[&str] = &[
    "memory",
    "cpu",
    "cpuacct",
    "cpuset",
    "pids",
    "devices",
    "freezer",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
    "name=systemd",
];

/// One mounted v1 hierarchy, e.g. `/sys/fs/cgroup/cpu,cpuacct` with `[cpu, cpuacct]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// Known controllers of this hierarchy (from [`V1_CONTROLLERS`]).
    pub controllers: Vec<String>,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The cgroup mounts of this mount namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    /// v1 hierarchies, one entry per hierarchy (bind mounts of the same one are skipped).
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount: `/sys/fs/cgroup` on a v2 host, `/sys/fs/cgroup/unified`
    /// on a hybrid one. cgroup2 mounts elsewhere (some tool's private one) are
    /// not the system's and are ignored.
    pub unified: Option<PathBuf>,
}

impl Mounts {
    /// The hierarchy that holds `controller`.
    pub fn hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

/// Undo mountinfo's octal escapes (`\040` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse the text of a mountinfo file.
pub fn parse(text: &str) -> Mounts {
    let mut m = Mounts::default();
    let mut cgroup2 = Vec::new();
    for line in text.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.is_empty() {
            continue;
        }
        let mountpoint = PathBuf::from(unescape(l[4]));
        match r[0] {
            "cgroup2" => cgroup2.push(mountpoint),
            "cgroup" => {
                let superopts = r.get(2).copied().unwrap_or("");
                let controllers: Vec<String> = superopts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect();
                if controllers.is_empty() {
                    continue;
                }
                // The same hierarchy mounted twice: keep the first mount,
                // but prefer the system's one below /sys/fs/cgroup.
                if let Some(h) = m.v1.iter_mut().find(|h| h.controllers == controllers) {
                    if !h.mountpoint.starts_with("/sys/fs/cgroup")
                        && mountpoint.starts_with("/sys/fs/cgroup")
                    {
                        h.mountpoint = mountpoint;
                    }
                    continue;
                }
                m.v1.push(Hierarchy {
                    mountpoint,
                    controllers,
                });
            }
            _ => {}
        }
    }
    let pick = |p: &str| {
        cgroup2
            .iter()
            .find(|c| c.as_path() == Path::new(p))
            .cloned()
    };
    m.unified = pick("/sys/fs/cgroup").or_else(|| pick("/sys/fs/cgroup/unified"));
    m
}

static TABLE: OnceLock<String> = OnceLock::new();

/// `/proc/self/mountinfo` of this process, read once; empty if it cannot
/// be read.
pub fn table() -> &'static str {
    TABLE.get_or_init(|| crate::sys::read_small("/proc/self/mountinfo").unwrap_or_default())
}

/// Hand over a copy of the table read just now (the sealed-image check
/// reads its own at start-up), so that [`table`] need not read it again.
pub fn prime(text: String) {
    let _ = TABLE.set(text);
}

/// The mounts of this process, read once.
pub fn host() -> &'static Mounts {
    static MOUNTS: OnceLock<Mounts> = OnceLock::new();
    MOUNTS.get_or_init(|| parse(table()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
43 31 0:40 / /sys/fs/cgroup/odd rw - cgroup cgroup rw,name=other
44 22 0:32 / /mnt/mem\\040copy rw - cgroup cgroup rw,memory
";

    #[test]
    fn mountinfo_hybrid() {
        let m = parse(HOST_MOUNTINFO);
        let mps: Vec<&str> =
            m.v1.iter()
                .map(|h| h.mountpoint.to_str().unwrap())
                .collect();
        assert_eq!(
            mps,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/net_cls,net_prio",
            ]
        );
        assert_eq!(
            m.hierarchy("net_prio").unwrap().controllers,
            ["net_cls", "net_prio"]
        );
        assert_eq!(
            m.hierarchy("name=systemd").unwrap().controllers,
            ["name=systemd"]
        );
        assert!(m.hierarchy("pids").is_none());
        assert_eq!(
            m.unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn mountinfo_v2_and_escapes() {
        let m = parse(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n\
             50 23 0:26 / /tmp/a\\040b rw - cgroup2 cgroup2 rw\n\
             51 23 0:45 / /tmp/x\\134y rw - cgroup cgroup rw,pids\n",
        );
        assert_eq!(m.unified.as_deref(), Some(Path::new("/sys/fs/cgroup")));
        assert_eq!(m.v1[0].mountpoint, Path::new("/tmp/x\\y"));
        let m = parse(
            "50 23 0:26 / /tmp/a\\040b rw - cgroup2 cgroup2 rw\n\
             51 23 0:45 / /tmp/p\\040q rw - cgroup cgroup rw,pids\n",
        );
        assert_eq!(m.unified, None);
        assert_eq!(m.v1[0].mountpoint, Path::new("/tmp/p q"));
        // The system's mount wins over an earlier private one.
        let m = parse(
            "51 23 0:45 / /tmp/p rw - cgroup cgroup rw,pids\n\
             52 23 0:45 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
        );
        assert_eq!(m.v1.len(), 1);
        assert_eq!(m.v1[0].mountpoint, Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(parse("garbage\n\n"), Mounts::default());
    }
}
