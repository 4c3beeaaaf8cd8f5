//! Mount options of a `mounts` entry: MS_* flags to set and clear,
//! propagation, recursive (`r*`) attributes, and the data options that go
//! to the filesystem; and their translation to MOUNT_ATTR_* and fsconfig
//! parameters.

use crate::sys::{
    MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_STRICTATIME,
};

pub(super) const MS_NOSYMFOLLOW: libc::c_ulong = 0x100;

/// Parsed mount options.
#[derive(Default, Debug, PartialEq)]
pub struct Options {
    pub flags: libc::c_ulong,
    pub clear: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
    /// Recursive mount attributes (`rro`, `rnosuid`...): MOUNT_ATTR_* to
    /// set and to clear with mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clr: u64,
    pub tmpcopyup: bool,
}

/// MS_* flags (set, clear) of a plain option name.
fn flag(name: &str) -> Option<(libc::c_ulong, libc::c_ulong)> {
    Some(match name {
        "defaults" => (0, 0),
        "ro" => (libc::MS_RDONLY, 0),
        "rw" => (0, libc::MS_RDONLY),
        "suid" => (0, libc::MS_NOSUID),
        "nosuid" => (libc::MS_NOSUID, 0),
        "dev" => (0, libc::MS_NODEV),
        "nodev" => (libc::MS_NODEV, 0),
        "exec" => (0, libc::MS_NOEXEC),
        "noexec" => (libc::MS_NOEXEC, 0),
        "sync" => (libc::MS_SYNCHRONOUS, 0),
        "async" => (0, libc::MS_SYNCHRONOUS),
        "dirsync" => (libc::MS_DIRSYNC, 0),
        "remount" => (libc::MS_REMOUNT, 0),
        "mand" => (libc::MS_MANDLOCK, 0),
        "nomand" => (0, libc::MS_MANDLOCK),
        "atime" => (0, libc::MS_NOATIME),
        "noatime" => (libc::MS_NOATIME, 0),
        "diratime" => (0, libc::MS_NODIRATIME),
        "nodiratime" => (libc::MS_NODIRATIME, 0),
        "relatime" => (libc::MS_RELATIME, 0),
        "norelatime" => (0, libc::MS_RELATIME),
        "strictatime" => (libc::MS_STRICTATIME, 0),
        "nostrictatime" => (0, libc::MS_STRICTATIME),
        "lazytime" => (libc::MS_LAZYTIME, 0),
        "iversion" => (libc::MS_I_VERSION, 0),
        "noiversion" => (0, libc::MS_I_VERSION),
        "silent" => (libc::MS_SILENT, 0),
        "loud" => (0, libc::MS_SILENT),
        "nolazytime" => (0, libc::MS_LAZYTIME),
        "nosymfollow" => (MS_NOSYMFOLLOW, 0),
        "symfollow" => (0, MS_NOSYMFOLLOW),
        _ => return None,
    })
}

pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options::default();
    for opt in opts {
        let (set, clr) = match opt.as_str() {
            "bind" => {
                o.bind = true;
                (0, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (0, 0)
            }
            "tmpcopyup" => {
                o.tmpcopyup = true;
                (0, 0)
            }
            other => {
                if let Some(f) = flag(other) {
                    f
                } else if let Some(p) = propagation(other) {
                    o.propagation.push(p);
                    (0, 0)
                } else if let Some((set, clr)) = recursive_attr(other) {
                    o.rec_set = (o.rec_set & !clr) | set;
                    o.rec_clr |= clr;
                    (0, 0)
                } else {
                    o.data.push(other.to_string());
                    (0, 0)
                }
            }
        };
        o.flags = (o.flags & !clr) | set;
        o.clear |= clr;
    }
    o
}

/// MS_* flags of a propagation mode name.
pub fn propagation(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// MOUNT_ATTR_* (set, clear) of a recursive option name.
fn recursive_attr(name: &str) -> Option<(u64, u64)> {
    Some(match name {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (0, MOUNT_ATTR__ATIME),
        "rnorelatime" | "ratime" => (0, MOUNT_ATTR__ATIME),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
        // Back to the default (relatime), as `nostrictatime` does.
        "rnostrictatime" => (0, MOUNT_ATTR__ATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The per-mount MS_* flags as MOUNT_ATTR_* (set, clear), with the
/// semantics of mount(MS_REMOUNT|MS_BIND, flags): every per-mount flag not
/// given is cleared, except the atime mode, which is kept unless one is given.
pub(super) fn remount_attrs(flags: libc::c_ulong) -> (u64, u64) {
    let mut set = 0;
    for (ms, attr) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if flags & ms != 0 {
            set |= attr;
        }
    }
    let mut clr = (MOUNT_ATTR_RDONLY
        | MOUNT_ATTR_NOSUID
        | MOUNT_ATTR_NODEV
        | MOUNT_ATTR_NOEXEC
        | MOUNT_ATTR_NOSYMFOLLOW)
        & !set;
    let atime = libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_RELATIME | libc::MS_NODIRATIME;
    if flags & atime != 0 {
        clr |= MOUNT_ATTR__ATIME | (MOUNT_ATTR_NODIRATIME & !set);
        if flags & libc::MS_NOATIME != 0 {
            set |= MOUNT_ATTR_NOATIME;
        } else if flags & libc::MS_STRICTATIME != 0 {
            set |= MOUNT_ATTR_STRICTATIME;
        }
    }
    (set, clr)
}

/// The options of a filesystem mount as fsconfig parameters: superblock
/// flags and `key=value` / `flag` data options.
pub(super) fn fs_params<'a>(o: &'a Options, src: &'a str) -> Vec<(&'a str, Option<&'a str>)> {
    let mut v = vec![("source", Some(src))];
    for (ms, name) in [
        (libc::MS_RDONLY, "ro"),
        (libc::MS_SYNCHRONOUS, "sync"),
        (libc::MS_DIRSYNC, "dirsync"),
        (libc::MS_LAZYTIME, "lazytime"),
        (libc::MS_MANDLOCK, "mand"),
    ] {
        if o.flags & ms != 0 {
            v.push((name, None));
        }
    }
    for d in &o.data {
        match d.split_once('=') {
            Some((k, val)) => v.push((k, Some(val))),
            None => v.push((d.as_str(), None)),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse_options(&[
            "nosuid".into(),
            "ro".into(),
            "rbind".into(),
            "rprivate".into(),
            "mode=755".into(),
            "rw".into(),
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
    }

    #[test]
    fn recursive_options_and_remount_semantics() {
        let o = parse_options(&["rro".into(), "rnosuid".into(), "rrw".into()]);
        assert_eq!(o.rec_set, MOUNT_ATTR_NOSUID);
        assert_eq!(o.rec_clr, MOUNT_ATTR_RDONLY);
        // Remount semantics: what is not given is cleared, atime kept.
        let (set, clr) = remount_attrs(libc::MS_RDONLY | libc::MS_NOSUID);
        assert_eq!(set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        assert_eq!(
            clr,
            MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSYMFOLLOW
        );
        let (set, clr) = remount_attrs(libc::MS_NOATIME);
        assert_eq!(set, MOUNT_ATTR_NOATIME);
        assert!(clr & MOUNT_ATTR__ATIME != 0);
    }
}
