//! Unit tests of the rootfs set-up through the recording fake: the order
//! and flags of its system calls, without root. The rootfs is a scratch
//! directory; nothing is mounted.

use oci_spec::runtime::Spec;
use std::path::Path;

use super::*;
use crate::sys::{self, MountAttr};
use crate::syscall::fake::{Call, Recorder, TestDir};

/// A config: the runc default mounts (oci-spec's list: proc, /dev tmpfs,
/// devpts, shm, mqueue, sysfs, cgroup) plus `extra` (JSON) merged into it.
fn spec(extra: serde_json::Value) -> Spec {
    let mut v = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": oci_spec::runtime::get_default_mounts(),
        "linux": {}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// A host with v1 hierarchies and the hybrid unified mount (as on the CI
/// machine).
fn hybrid_host() -> Vec<HostCgroup> {
    let v1 = |dir: &str, data: &str| HostCgroup {
        mountpoint: format!("/sys/fs/cgroup/{dir}").into(),
        fstype: "cgroup",
        data: data.into(),
    };
    vec![
        v1("cpu,cpuacct", "cpu,cpuacct"),
        v1("memory", "memory"),
        HostCgroup {
            mountpoint: "/sys/fs/cgroup/unified".into(),
            fstype: "cgroup2",
            data: String::new(),
        },
    ]
}

/// An image root with the usual empty directories.
fn image(t: &TestDir) {
    for d in ["proc", "dev", "sys", "etc"] {
        std::fs::create_dir_all(t.root().join(d)).unwrap();
    }
}

struct Run {
    t: TestDir,
    rec: Recorder,
}

impl Run {
    fn new(tag: &str) -> Run {
        let t = TestDir::new(tag);
        image(&t);
        let rec = t.recorder();
        Run { t, rec }
    }

    fn plan<'a>(&'a self, spec: &'a Spec, host: &'a [HostCgroup]) -> RootfsSetup<'a, 'a> {
        RootfsSetup {
            spec,
            bundle: &self.t.path,
            rootfs: self.t.root(),
            overlay: None,
            cgroup_path: "/myrt-test/c1",
            cgroupns: true,
            userns: false,
            idmapped: &[],
            host_cgroups: Some(host),
            sys: &self.rec,
        }
    }

    /// prepare, then maskedPaths/readonlyPaths, then pivot_root, as the
    /// container's init does; the calls as text.
    fn all(&self, spec: &Spec, no_pivot: bool) -> Vec<String> {
        let host = hybrid_host();
        let root = prepare(&self.plan(spec, &host)).unwrap();
        mask_and_protect(spec, &root).unwrap();
        enter(spec, &root, no_pivot).unwrap();
        self.lines()
    }

    fn lines(&self) -> Vec<String> {
        self.rec.calls().iter().map(|c| line(c, &self.t)).collect()
    }
}

const MS: [(libc::c_ulong, &str); 17] = [
    (libc::MS_RDONLY, "ro"),
    (libc::MS_NOSUID, "nosuid"),
    (libc::MS_NODEV, "nodev"),
    (libc::MS_NOEXEC, "noexec"),
    (libc::MS_REMOUNT, "remount"),
    (libc::MS_BIND, "bind"),
    (libc::MS_MOVE, "move"),
    (libc::MS_REC, "rec"),
    (libc::MS_PRIVATE, "private"),
    (libc::MS_SLAVE, "slave"),
    (libc::MS_SHARED, "shared"),
    (libc::MS_UNBINDABLE, "unbindable"),
    (libc::MS_NOATIME, "noatime"),
    (libc::MS_NODIRATIME, "nodiratime"),
    (libc::MS_RELATIME, "relatime"),
    (libc::MS_STRICTATIME, "strictatime"),
    (libc::MS_SYNCHRONOUS, "sync"),
];

const ATTR: [(u64, &str); 10] = [
    (sys::MOUNT_ATTR_RDONLY, "ro"),
    (sys::MOUNT_ATTR_NOSUID, "nosuid"),
    (sys::MOUNT_ATTR_NODEV, "nodev"),
    (sys::MOUNT_ATTR_NOEXEC, "noexec"),
    (sys::MOUNT_ATTR__ATIME, "atime-mask"),
    (sys::MOUNT_ATTR_NOATIME, "noatime"),
    (sys::MOUNT_ATTR_STRICTATIME, "strictatime"),
    (sys::MOUNT_ATTR_NODIRATIME, "nodiratime"),
    (sys::MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"),
    (sys::MOUNT_ATTR_IDMAP, "idmap"),
];

fn names<T: Copy + PartialEq + std::ops::BitAnd<Output = T> + Default>(
    bits: T,
    table: &[(T, &str)],
) -> String {
    let v: Vec<&str> = table
        .iter()
        .filter(|(b, _)| bits & *b == *b && *b != T::default())
        .map(|(_, n)| *n)
        .collect();
    format!("[{}]", v.join(","))
}

fn attr(a: &MountAttr) -> String {
    let mut s = format!(
        "set={} clr={}",
        names(a.attr_set, &ATTR),
        names(a.attr_clr, &ATTR)
    );
    if a.propagation != 0 {
        s += &format!(" prop={}", names(a.propagation, &MS));
    }
    s
}

/// One call as a line of text; host paths below the test directory are
/// written as `$T/...`.
fn line(c: &Call, t: &TestDir) -> String {
    let s = match c {
        Call::Mount {
            src,
            target,
            fstype,
            flags,
            data,
        } => format!(
            "mount {} {target} {} {} {}",
            src.as_deref().unwrap_or("-"),
            fstype.as_deref().unwrap_or("-"),
            names(*flags, &MS),
            data.as_deref().unwrap_or("-")
        ),
        Call::OpenTree { src, flags } => {
            let rec = if flags & sys::AT_RECURSIVE as u32 != 0 {
                " rec"
            } else {
                ""
            };
            format!("open_tree {src}{rec}")
        }
        Call::MoveMount { from, to } => format!("move_mount {from} -> {to}"),
        Call::MountSetattr {
            target,
            recursive,
            attr: a,
        } => format!(
            "setattr{} {target} {}",
            if *recursive { " rec" } else { "" },
            attr(a)
        ),
        Call::FsMount {
            fstype,
            params,
            attrs,
            name,
        } => {
            let p: Vec<String> = params
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            format!(
                "fsmount {name} {fstype} {} attrs={}",
                p.join(","),
                names(*attrs, &ATTR)
            )
        }
        Call::Mknod { path, mode, dev } => format!(
            "mknod {path} {:o} {}:{}",
            mode,
            libc::major(*dev),
            libc::minor(*dev)
        ),
        Call::Symlink { target, link } => format!("symlink {link} -> {target}"),
        Call::Umount { target, flags } => format!("umount {target} {flags:#x}"),
        Call::PivotRoot { new_root, put_old } => format!("pivot_root {new_root} {put_old}"),
        Call::Fchdir(p) => format!("fchdir {p}"),
        Call::Chdir(p) => format!("chdir {p}"),
        Call::Chroot(p) => format!("chroot {p}"),
        other => format!("{other:?}"),
    };
    s.replace(&t.path.to_string_lossy().into_owned(), "$T")
}

fn expect(got: &[String], want: &[&str]) {
    let got: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got, want, "\ngot:\n{}\n", got.join("\n"));
}

#[test]
fn typical_config_mounts_in_order_with_their_flags() {
    let r = Run::new("typical");
    let s = spec(serde_json::json!({}));
    let host = hybrid_host();
    prepare(&r.plan(&s, &host)).unwrap();
    expect(
        &r.lines(),
        &[
            // Nothing propagates back to the host.
            "mount - / - [rec,slave] -",
            "open_tree / rec",
            "move_mount / -> /",
            "mount proc /proc proc [] -",
            // /dev exists in the image: a detached tmpfs takes its mode.
            "fsmount fs#0 tmpfs source=tmpfs,mode=755,size=65536k attrs=[nosuid,strictatime]",
            "move_mount fs#0 -> /dev",
            "mount devpts /dev/pts devpts [nosuid,noexec] newinstance,ptmxmode=0666,mode=0620,gid=5",
            "mount shm /dev/shm tmpfs [nosuid,nodev,noexec] mode=1777,size=65536k",
            "mount mqueue /dev/mqueue mqueue [nosuid,nodev,noexec] -",
            "mount sysfs /sys sysfs [ro,nosuid,nodev,noexec] -",
            // cgroup v1 (hybrid): a tmpfs with one mount per hierarchy.
            "fsmount fs#1 tmpfs source=tmpfs,mode=755 attrs=[nosuid,nodev,noexec]",
            "move_mount fs#1 -> /sys/fs/cgroup",
            "mount cgroup fs#1/cpu,cpuacct cgroup [ro,nosuid,nodev,noexec,relatime] cpu,cpuacct",
            "symlink fs#1/cpu -> cpu,cpuacct",
            "symlink fs#1/cpuacct -> cpu,cpuacct",
            "mount cgroup fs#1/memory cgroup [ro,nosuid,nodev,noexec,relatime] memory",
            "mount cgroup fs#1/unified cgroup2 [ro,nosuid,nodev,noexec,relatime] -",
            "setattr /sys/fs/cgroup set=[ro,nosuid,nodev,noexec] clr=[nosymfollow]",
            // The default devices and /dev symlinks of a tmpfs /dev.
            "mknod /dev/null 20666 1:3",
            "mknod /dev/zero 20666 1:5",
            "mknod /dev/full 20666 1:7",
            "mknod /dev/random 20666 1:8",
            "mknod /dev/urandom 20666 1:9",
            "mknod /dev/tty 20666 5:0",
            "symlink /dev/fd -> /proc/self/fd",
            "symlink /dev/stdin -> /proc/self/fd/0",
            "symlink /dev/stdout -> /proc/self/fd/1",
            "symlink /dev/stderr -> /proc/self/fd/2",
            "symlink /dev/ptmx -> pts/ptmx",
        ],
    );
}

#[test]
fn binds_with_options_masked_and_readonly_paths_then_pivot() {
    let r = Run::new("binds");
    std::fs::create_dir_all(r.t.path.join("data")).unwrap();
    std::fs::write(r.t.path.join("hosts"), "").unwrap();
    std::fs::create_dir_all(r.t.root().join("proc/sys")).unwrap();
    std::fs::create_dir_all(r.t.root().join("proc/acpi")).unwrap();
    std::fs::write(r.t.root().join("proc/kcore"), "").unwrap();
    let s: Spec = serde_json::from_value(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/data", "type": "bind", "source": "data",
             "options": ["rbind", "ro", "nosuid", "rprivate"]},
            {"destination": "/etc/hosts", "source": "hosts", "options": ["bind", "rro", "nodev"]}
        ],
        "linux": {
            "maskedPaths": ["/proc/kcore", "/proc/acpi", "/proc/missing"],
            "readonlyPaths": ["/proc/sys"]
        }
    }))
    .unwrap();
    let got = r.all(&s, false);
    // The host's / is copied (runtime's own view): its flags are kept on
    // the read-only remount.
    let keep = detached::fstatvfs_flags(&sys::open(Path::new("/"), libc::O_PATH, 0).unwrap())
        & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    let ro_root = format!(
        "mount - / - {} -",
        names(
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | keep,
            &MS
        )
    );
    expect(
        &got,
        &[
            "mount - / - [rec,slave] -",
            "open_tree / rec",
            "move_mount / -> /",
            // rbind: a recursive copy, flags set remount-style (what is not
            // given is cleared) before it is attached, propagation after.
            "open_tree $T/data rec",
            "setattr $T/data set=[ro,nosuid] clr=[nodev,noexec,nosymfollow]",
            "move_mount $T/data -> /data",
            "setattr rec /data set=[] clr=[] prop=[private]",
            // bind of a file: not recursive; rro is a recursive attribute.
            "open_tree $T/hosts",
            "setattr $T/hosts set=[nodev] clr=[ro,nosuid,noexec,nosymfollow]",
            "setattr rec $T/hosts set=[ro] clr=[]",
            "move_mount $T/hosts -> /etc/hosts",
            // maskedPaths after the mounts: a file under /dev/null, a
            // directory under an empty read-only tmpfs, a missing path skipped.
            "mount /dev/null /proc/kcore - [bind] -",
            "mount tmpfs /proc/acpi tmpfs [ro] size=0",
            // readonlyPaths: a read-only copy attached over itself.
            "open_tree /proc/sys rec",
            "setattr /proc/sys set=[ro,nosuid,nodev,noexec] clr=[nosymfollow]",
            "move_mount /proc/sys -> /proc/sys",
            // pivot_root, the old root made a slave and detached.
            "fchdir /",
            "pivot_root . .",
            "fchdir /",
            "mount - . - [rec,slave] -",
            "umount . 0x2",
            "chdir /",
            &ro_root,
        ],
    );
}

#[test]
fn rootfs_propagation_private_and_shared() {
    let r = Run::new("prop-private");
    let s = spec(serde_json::json!({"mounts": [], "linux": {"rootfsPropagation": "rprivate"}}));
    let got = r.all(&s, false);
    assert_eq!(got.first().unwrap(), "mount - / - [rec,private] -");
    assert_eq!(got.last().unwrap(), "mount - / - [rec,private] -");

    // Shared (or unbindable) would break the root's bind and pivot_root:
    // the set-up runs as a slave, "/" is made shared after pivot_root.
    let r = Run::new("prop-shared");
    let s = spec(serde_json::json!({"mounts": [], "linux": {"rootfsPropagation": "shared"}}));
    let got = r.all(&s, false);
    assert_eq!(got.first().unwrap(), "mount - / - [rec,slave] -");
    let pivot = got.iter().position(|l| l == "pivot_root . .").unwrap();
    let shared = got
        .iter()
        .position(|l| l == "mount - / - [shared] -")
        .unwrap();
    assert!(shared > pivot, "{got:#?}");
}

#[test]
fn bind_propagation_applies_to_the_attached_mount() {
    let r = Run::new("bind-prop");
    std::fs::create_dir_all(r.t.path.join("vol")).unwrap();
    let s = spec(serde_json::json!({"mounts": [
        {"destination": "/vol", "type": "bind", "source": "vol", "options": ["rbind", "rshared", "slave"]}
    ]}));
    let host = hybrid_host();
    prepare(&r.plan(&s, &host)).unwrap();
    expect(
        &r.lines()[3..],
        &[
            "open_tree $T/vol rec",
            "move_mount $T/vol -> /vol",
            "setattr rec /vol set=[] clr=[] prop=[shared]",
            "setattr /vol set=[] clr=[] prop=[slave]",
        ],
    );
}

#[test]
fn no_pivot_moves_the_root_and_chroots() {
    let r = Run::new("nopivot");
    let s = spec(serde_json::json!({"mounts": []}));
    let got = r.all(&s, true);
    expect(
        &got[3..],
        &["fchdir /", "mount . / - [move] -", "chroot .", "chdir /"],
    );
}

#[test]
fn configured_devices_are_made_before_the_defaults() {
    let r = Run::new("devices");
    let s = spec(serde_json::json!({
        "mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}],
        "linux": {"devices": [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
            {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 384},
            {"path": "/dev/fifo0", "type": "p"}
        ]}
    }));
    let host = hybrid_host();
    prepare(&r.plan(&s, &host)).unwrap();
    let got = r.lines();
    let nodes: Vec<&str> = got
        .iter()
        .filter(|l| l.starts_with("mknod"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        nodes,
        [
            "mknod /dev/fuse 20666 10:229",
            "mknod /dev/sda 60600 8:0",
            "mknod /dev/fifo0 10666 0:0",
            "mknod /dev/null 20666 1:3",
            "mknod /dev/zero 20666 1:5",
            "mknod /dev/full 20666 1:7",
            "mknod /dev/random 20666 1:8",
            "mknod /dev/urandom 20666 1:9",
            "mknod /dev/tty 20666 5:0",
        ]
    );
    // The nodes get the configured mode (mknod is subject to the umask).
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(r.t.root().join("dev/sda")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o600);
}

#[test]
fn devices_without_a_tmpfs_dev_are_only_the_configured_ones() {
    let r = Run::new("devices-no-tmpfs");
    let s = spec(serde_json::json!({
        "mounts": [],
        "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}
    }));
    let host = hybrid_host();
    prepare(&r.plan(&s, &host)).unwrap();
    expect(&r.lines()[3..], &["mknod /dev/fuse 20666 10:229"]);
}

#[test]
fn device_type_a_is_refused_naming_the_field() {
    let r = Run::new("devices-a");
    let s = spec(serde_json::json!({
        "mounts": [],
        "linux": {"devices": [{"path": "/dev/x", "type": "a"}]}
    }));
    let host = hybrid_host();
    let e = prepare(&r.plan(&s, &host)).err().unwrap();
    assert!(e.to_string().starts_with("linux.devices[0].type"), "{e}");
    assert!(!r.lines().iter().any(|l| l.starts_with("mknod")));
}

#[test]
fn in_a_user_namespace_host_devices_are_bound_not_made() {
    let r = Run::new("devices-userns");
    let s = spec(serde_json::json!({
        "mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}]
    }));
    let host = hybrid_host();
    let mut plan = r.plan(&s, &host);
    plan.userns = true;
    prepare(&plan).unwrap();
    let got = r.lines();
    assert!(!got.iter().any(|l| l.starts_with("mknod")), "{got:#?}");
    let i = got.iter().position(|l| l == "open_tree /dev/null").unwrap();
    assert_eq!(got[i + 1], "move_mount /dev/null -> /dev/null");
}

#[test]
fn a_readonly_tmpfs_is_filled_before_it_is_made_readonly() {
    let r = Run::new("tmpfs-ro");
    std::fs::create_dir_all(r.t.root().join("etc/conf.d")).unwrap();
    std::fs::write(r.t.root().join("etc/conf.d/a"), "x").unwrap();
    let s = spec(serde_json::json!({"mounts": [
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "tmpcopyup", "nodev"]}
    ]}));
    let host = hybrid_host();
    prepare(&r.plan(&s, &host)).unwrap();
    expect(
        &r.lines()[3..],
        &[
            // Made writable (no "ro" parameter or attribute)...
            "fsmount fs#0 tmpfs source=tmpfs attrs=[nodev]",
            // ...then read-only once filled, then attached.
            "setattr fs#0 set=[ro] clr=[]",
            "move_mount fs#0 -> /etc",
        ],
    );
    // tmpcopyup copied the image's /etc into the new tmpfs.
    let copied = r.t.path.join("scratch/fs0/conf.d/a");
    assert_eq!(std::fs::read_to_string(copied).unwrap(), "x");
}

#[test]
fn proc_on_a_symlink_is_refused_before_any_mount() {
    let r = Run::new("proc-symlink");
    std::fs::remove_dir(r.t.root().join("proc")).unwrap();
    std::os::unix::fs::symlink("/", r.t.root().join("proc")).unwrap();
    let s = spec(serde_json::json!({}));
    let host = hybrid_host();
    let e = prepare(&r.plan(&s, &host)).err().unwrap();
    assert!(e.to_string().starts_with("mounts[0] (/proc)"), "{e}");
    assert!(e.to_string().contains("symlink"), "{e}");
    assert_eq!(r.lines().len(), 3, "{:#?}", r.lines());
}

#[test]
fn sysfs_without_its_network_namespace_is_a_readonly_bind_of_the_host_sys() {
    let r = Run::new("sysfs-eperm");
    r.rec.fail_on("Mount { src: Some(\"sysfs\")", libc::EPERM);
    let s = spec(serde_json::json!({"mounts": [
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev"]}
    ]}));
    let host = hybrid_host();
    prepare(&r.plan(&s, &host)).unwrap();
    expect(
        &r.lines()[3..],
        &[
            "open_tree /sys rec",
            "setattr /sys set=[ro,nosuid,nodev,noexec] clr=[nosymfollow]",
            "move_mount /sys -> /sys",
        ],
    );
}

#[test]
fn cgroup2_host_with_a_cgroup_namespace_is_one_cgroup2_mount() {
    let r = Run::new("cgroup2");
    let s = spec(serde_json::json!({"mounts": [
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]}
    ]}));
    let host = [HostCgroup {
        mountpoint: "/sys/fs/cgroup".into(),
        fstype: "cgroup2",
        data: String::new(),
    }];
    prepare(&r.plan(&s, &host)).unwrap();
    expect(
        &r.lines()[3..],
        &["mount cgroup /sys/fs/cgroup cgroup2 [ro,nosuid,nodev,noexec] -"],
    );
}
