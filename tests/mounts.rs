//! mounts and devices: the shapes engines write (privileged device lists,
//! tmpfs modes, bind mounts with data options, recursive attributes,
//! idmapped mounts) and the mount races a container must not win (flags
//! applied to the detached mount, the root held by fd, no host ptmx).
//! Each is checked from outside: what the container prints, exit codes,
//! the host's files.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::Path;

/// Every char/block device directly in the host's /dev (as
/// `--privileged` lists them), plus /dev/pts entries, as linux.devices.
fn host_devices() -> Vec<Value> {
    let mut v = Vec::new();
    let mut paths: Vec<_> = fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.extend(
        fs::read_dir("/dev/pts")
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    paths.sort();
    for p in paths {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        let t = m.file_type();
        let typ = if t.is_char_device() {
            "c"
        } else if t.is_block_device() {
            "b"
        } else {
            continue;
        };
        v.push(json!({
            "path": p, "type": typ,
            "major": libc::major(m.rdev()), "minor": libc::minor(m.rdev()),
            "fileMode": m.mode() & 0o7777, "uid": m.uid(), "gid": m.gid()
        }));
    }
    v
}

/// `--privileged` (containerd, podman): every host device listed, among
/// them /dev/ptmx, /dev/tty and /dev/console; the devices cgroup allows
/// all. The container runs, /dev/ptmx is the `pts/ptmx` symlink, the
/// listed devices are there, and a terminal works.
#[test]
fn root_privileged_device_list() {
    let rt = Runtime::new();
    let devs = host_devices();
    let paths: Vec<&str> = devs.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/dev/ptmx"), "{paths:?}");
    let b = Bundle::new("privdev")
        .set("/linux/devices", json!(devs))
        .set(
            "/linux/resources/devices",
            json!([{"allow": true, "access": "rwm"}]),
        )
        .sh("readlink /dev/ptmx; stat -c %t:%T /dev/null /dev/tty /dev/console");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "pts/ptmx\n1:3\n5:0\n5:1\n", "{o}");
}

/// A device that already exists in the image (a /dev that is not a
/// tmpfs) is kept when it is the requested one, and refused when it is not.
#[test]
fn root_device_already_in_rootfs() {
    let rt = Runtime::new();
    let b = Bundle::new("devexist").own_rootfs();
    let node = b.rootfs().join("dev/null");
    mknod(&node, nix::sys::stat::SFlag::S_IFCHR, libc::makedev(1, 3));
    let b = b
        .with(|c| {
            let m = c["mounts"].as_array_mut().unwrap();
            m.retain(|m| m["destination"] != "/dev");
        })
        .set(
            "/linux/devices",
            json!([{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}]),
        )
        .sh("stat -c %t:%T /dev/null");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "1:3\n", "{o}");
    let b = b.set(
        "/linux/devices",
        json!([{"path": "/dev/null", "type": "c", "major": 1, "minor": 5}]),
    );
    let o = rt.run(&b);
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "run",
        &b.id,
        &["linux.devices[0]", "not the requested device"],
    );
}

/// podman `--tmpfs /scratch --user 65534`: a tmpfs on a directory that
/// the image does not have keeps tmpfs's mode 1777 (that user can write);
/// on a directory the image has, it takes that directory's mode (also when
/// the tmpfs is read-only).
#[test]
fn root_tmpfs_mode_follows_runc() {
    let rt = Runtime::new();
    let b = Bundle::new("tmpfsmode").own_rootfs();
    fs::create_dir(b.rootfs().join("opt")).unwrap();
    fs::set_permissions(b.rootfs().join("opt"), fs::Permissions::from_mode(0o750)).unwrap();
    let opts = json!(["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]);
    let b = b
        .set(
            "/mounts/-",
            json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": opts}),
        )
        .set(
            "/mounts/-",
            json!({"destination": "/opt", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "ro", "tmpcopyup"]}),
        )
        .set("/process/user", json!({"uid": 65534, "gid": 65534}))
        .sh("stat -c %a /scratch /opt; touch /scratch/x && echo wrote; touch /opt/x 2>/dev/null || echo ro");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "1777\n750\nwrote\nro\n", "{o}");
}

/// Bind mounts with data options (the kernel ignores them, runc accepts
/// them), and the recursive `rnosymfollow` / `rsymfollow` /
/// `rnostrictatime` options (mount_setattr).
#[test]
fn root_bind_data_options_and_recursive_symfollow() {
    let rt = Runtime::new();
    let b = Bundle::new("binddata");
    let src = b.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("marker"), "hello\n").unwrap();
    symlink("marker", src.join("link")).unwrap();
    let bind = |dest: &str, opts: Value| json!({"destination": dest, "type": "bind", "source": src, "options": opts});
    let b = b
        .set("/mounts/-", bind("/m1", json!(["bind", "mode=755", "ro"])))
        .set("/mounts/-", bind("/m2", json!(["rbind", "rnosymfollow"])))
        .set(
            "/mounts/-",
            bind("/m3", json!(["rbind", "rnosymfollow", "rsymfollow"])),
        )
        .set(
            "/mounts/-",
            bind("/m4", json!(["rbind", "rstrictatime", "rnostrictatime"])),
        )
        .sh("cat /m1/marker; touch /m1/x 2>/dev/null || echo ro; \
             cat /m2/link 2>/dev/null || echo nosymfollow; cat /m3/link; \
             grep -q ' /m4 .*strictatime' /proc/self/mountinfo && echo strict || echo relatime");
    // The shared rootfs is read-only: destinations must exist.
    let b = b.own_rootfs();
    for d in ["m1", "m2", "m3", "m4"] {
        fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "hello\nro\nnosymfollow\nhello\nrelatime\n", "{o}");
}

/// A rootfs whose /proc or /sys is a symlink is refused, and the error
/// says so (CVE-2019-16884 class).
#[test]
fn root_proc_or_sys_symlink_is_refused_with_a_clear_error() {
    let rt = Runtime::new();
    for d in ["proc", "sys"] {
        let b = Bundle::new("procsym").own_rootfs();
        fs::remove_dir(b.rootfs().join(d)).unwrap();
        fs::create_dir(b.rootfs().join("elsewhere")).unwrap();
        symlink("/elsewhere", b.rootfs().join(d)).unwrap();
        let b = b.args(&["true"]);
        let o = rt.run(&b);
        o.fails();
        assert_myrt_error(&o.stderr, "run", &b.id, &[&format!("/{d}"), "symlink"]);
    }
}

/// Idmapped mounts: `uidMappings`/`gidMappings` on a bind mount show the
/// source's files with the mapped owners; `idmap` without mappings of its
/// own takes the container's (user namespace) mappings.
#[test]
fn root_idmapped_bind_mount() {
    let rt = Runtime::new();
    let b = Bundle::new("idmap");
    let src = b.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "x").unwrap();
    std::os::unix::fs::chown(src.join("f"), Some(0), Some(0)).unwrap();
    let b = b
        .own_rootfs()
        .set(
            "/mounts/-",
            json!({"destination": "/mnt", "type": "bind", "source": src,
                   "options": ["rbind", "idmap"],
                   "uidMappings": [{"containerID": 0, "hostID": 1234, "size": 1}],
                   "gidMappings": [{"containerID": 0, "hostID": 4321, "size": 1}]}),
        )
        .sh("stat -c %u:%g /mnt/f");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "1234:4321\n", "{o}");
    // On the host the file is unchanged.
    assert_eq!(fs::metadata(src.join("f")).unwrap().uid(), 0);
}

/// Remount flags are applied to the detached mount before it is attached,
/// never by resolving the destination again: here the bind source has a
/// symlink `lnk -> /victim` and the destination `/d/lnk` is, in the image,
/// a symlink to `/d` itself. Re-resolving `/d/lnk` after the mount would
/// follow the source's symlink and make `/victim` (a tmpfs) read-only
/// while the bind stays writable.
#[test]
fn root_bind_flags_do_not_re_resolve_the_destination() {
    let rt = Runtime::new();
    let b = Bundle::new("remount").own_rootfs();
    let src = b.path("src");
    fs::create_dir_all(&src).unwrap();
    symlink("/victim", src.join("lnk")).unwrap();
    fs::create_dir_all(b.rootfs().join("d")).unwrap();
    fs::create_dir_all(b.rootfs().join("victim")).unwrap();
    symlink("/d", b.rootfs().join("d/lnk")).unwrap();
    let b = b
        .set(
            "/mounts/-",
            json!({"destination": "/victim", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}),
        )
        .set(
            "/mounts/-",
            json!({"destination": "/d/lnk", "type": "bind", "source": src, "options": ["bind", "ro"]}),
        )
        .sh("touch /d/x 2>/dev/null && echo d-rw || echo d-ro; \
             touch /victim/x 2>/dev/null && echo victim-rw || echo victim-ro");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "d-ro\nvictim-rw\n", "{o}");
    assert!(!src.join("x").exists());
}

/// A terminal comes from the container's own devpts: without a devpts
/// mount at /dev/pts the container is refused, never given a pty of the
/// host's devpts (/dev/ptmx).
#[test]
fn root_terminal_never_uses_the_hosts_ptmx() {
    let rt = Runtime::new();
    let b = Bundle::new("noptmx")
        .with(|c| {
            let m = c["mounts"].as_array_mut().unwrap();
            m.retain(|m| m["destination"] != "/dev/pts");
        })
        .terminal(true)
        .args(&["true"]);
    let o = rt.run(&b);
    o.fails();
    assert_myrt_error(&o.stderr, "run", &b.id, &["devpts"]);
}

/// The root is held by fd from the moment it is mounted: a createRuntime
/// hook that moves the bundle's rootfs away and puts another directory at
/// its path does not change the root the container gets.
#[test]
fn root_root_is_held_by_fd() {
    let rt = Runtime::new();
    let b = Bundle::new("rootfd").own_rootfs();
    fs::write(b.rootfs().join("marker"), "original\n").unwrap();
    let r = b.rootfs().to_str().unwrap().to_string();
    let b = b
        .set(
            "/hooks/createRuntime",
            json!([{"path": "/bin/sh", "args": ["sh", "-c",
                format!("mv {r} {r}.moved && mkdir {r} && echo swapped > {r}/marker")]}]),
        )
        .args(&["cat", "/marker"]);
    let o = rt.run(&b);
    let _ = fs::remove_dir_all(format!("{r}.moved"));
    o.ok();
    assert_eq!(o.stdout, "original\n", "{o}");
}

/// The user namespace of a container: root maps to 100000.
fn userns(b: Bundle) -> Bundle {
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/namespaces/-", json!({"type": "user"}))
        .set("/linux/uidMappings", map.clone())
        .set("/linux/gidMappings", map)
}

/// In a user namespace devices are bind-mounted from the host: the host
/// node must be the device asked for (type, major, minor), or the
/// container is refused; a matching one is bound.
#[test]
fn root_userns_device_bind_is_checked() {
    let rt = Runtime::new();
    let b = userns(Bundle::new("usernsdev"))
        .set(
            "/linux/devices",
            json!([{"path": "/dev/null", "type": "c", "major": 1, "minor": 5}]),
        )
        .args(&["true"]);
    let o = rt.run(&b);
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "run",
        &b.id,
        &["linux.devices[0]", "not the requested device"],
    );
    let b = b
        .set(
            "/linux/devices",
            json!([{"path": "/dev/zero", "type": "c", "major": 1, "minor": 5}]),
        )
        .sh("stat -c %t:%T /dev/zero");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "1:5\n", "{o}");
}

/// The opt-in overlay root with a comma in the lower (rootfs) and upper
/// (annotation) paths: each path is passed whole, never split.
#[test]
fn root_overlay_paths_with_commas() {
    if !is_myrt() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new("ovlcomma");
    let lower = b.path("root,fs");
    build_rootfs(&lower);
    let layer = b.path("lay,er");
    let b = b
        .set("/root", json!({"path": lower, "readonly": false}))
        .set("/annotations/org.myrt.rootfs.overlay", json!(layer))
        .sh("echo new > /written; cat /etc/group | head -1");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "root:x:0:\n", "{o}");
    assert_eq!(
        fs::read_to_string(layer.join("upper/written")).unwrap(),
        "new\n"
    );
    assert!(!lower.join("written").exists());
    assert!(Path::new(&layer).is_dir());
}

/// A config without a mount namespace: the container shares the host's
/// mount namespace (checked from outside through /proc/<pid>/ns/mnt), is
/// chrooted into its root (sees the image's files; so does `exec`), and
/// nothing is mounted on the host. Fields that would need mounts there
/// (mounts, masked/read-only paths, devices, root.readonly) are refused.
#[test]
fn root_no_mount_namespace() {
    let rt = Runtime::new();
    let b = Bundle::new("nomntns").own_rootfs();
    fs::write(b.rootfs().join("marker"), "inside\n").unwrap();
    let b = b
        .with(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "mount");
        })
        .set("/mounts", json!([]))
        .set("/linux/maskedPaths", json!([]))
        .set("/linux/readonlyPaths", json!([]))
        .readonly(false)
        .args(&["sleep", "30"]);
    let c = rt.create(&b, &[]);
    let pid = c.pid();
    let theirs = fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    let ours = fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(theirs, ours);
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        b.rootfs().canonicalize().unwrap()
    );
    assert!(mounts_mentioning(&b.dir).is_empty());
    c.start().ok();
    let o = rt.cmd(&["exec", &c.id, "cat", "/marker"]);
    o.ok();
    assert_eq!(o.stdout, "inside\n", "{o}");
    drop(c);

    for (field, val) in [
        ("/linux/maskedPaths", json!(["/proc/kcore"])),
        ("/root/readonly", json!(true)),
        (
            "/mounts",
            json!([{"destination": "/proc", "type": "proc", "source": "proc"}]),
        ),
    ] {
        let b2 = Bundle::new("nomntns2")
            .with(|c| {
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "mount");
            })
            .set("/mounts", json!([]))
            .set("/linux/maskedPaths", json!([]))
            .set("/linux/readonlyPaths", json!([]))
            .readonly(false)
            .set(field, val)
            .args(&["true"]);
        let o = rt.run(&b2);
        o.fails();
        let name = field.trim_start_matches('/').replace('/', ".");
        assert_myrt_error(&o.stderr, "run", &b2.id, &[&name, "mount namespace"]);
    }
}
