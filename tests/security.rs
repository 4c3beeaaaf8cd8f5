//! root.readonly, maskedPaths, readonlyPaths, capabilities, noNewPrivileges,
//! rlimits and process.user.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;

/// Value of a `Key:\tvalue` line of /proc/self/status as printed in `out`.
fn status_field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} not in {out}"))
        .trim()
}

#[test]
fn root_readonly_root_refuses_writes() {
    let rt = Runtime::new();
    let b = Bundle::new("rofs").sh("touch /x; echo rc=$?");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "rc=1\n", "{o}");
    assert!(o.stderr.contains("Read-only file system"), "{o}");
    assert!(!b.rootfs().join("x").exists());
}

#[test]
fn root_writable_root_accepts_writes() {
    let rt = Runtime::new();
    let b = Bundle::new("rwfs").own_rootfs().sh("touch /x; echo rc=$?");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "rc=0\n", "{o}");
    assert!(b.rootfs().join("x").exists());
}

/// The first of `paths` that exists on this host.
fn existing(paths: &[&'static str]) -> &'static str {
    paths
        .iter()
        .copied()
        .find(|p| std::path::Path::new(p).exists())
        .expect("none of the masked candidates exists on the host")
}

#[test]
fn root_masked_paths() {
    let rt = Runtime::new();
    // /proc/kcore does not exist on every kernel (not on this machine's):
    // check it when present, and always one file and one directory that do.
    let file = existing(&["/proc/kcore", "/proc/keys", "/proc/timer_list"]);
    let dir = existing(&["/sys/firmware", "/proc/acpi"]);
    // A masked file is /dev/null (char 1:3, reads empty); a masked directory
    // is an empty read-only tmpfs.
    let b = Bundle::new("mask").sh(&format!(
        "stat -c '%t:%T' {file}; wc -c < {file}; \
         ls -A {dir} | wc -l; touch {dir}/x 2>/dev/null; echo rc=$?"
    ));
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "1:3\n0\n0\nrc=1\n", "{o}");
}

#[test]
fn root_masked_path_kcore() {
    let rt = Runtime::new();
    let b = Bundle::new("kcore").sh("wc -c < /proc/kcore");
    let o = rt.run(&b);
    if std::path::Path::new("/proc/kcore").exists() {
        assert_eq!(o.stdout, "0\n", "{o}");
    } else {
        // Absent on the host kernel: absent in the container too.
        assert!(o.stderr.to_lowercase().contains("no such file"), "{o}");
    }
}

#[test]
fn root_masked_path_unmasked_when_not_listed() {
    let rt = Runtime::new();
    let file = existing(&["/proc/keys", "/proc/timer_list"]);
    let b = Bundle::new("nomask")
        .set("/linux/maskedPaths", json!([]))
        .args(&["stat", "-c", "%t:%T", file]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "0:0\n", "{o}");
}

#[test]
fn root_readonly_paths() {
    let rt = Runtime::new();
    // With CAP_SYS_ADMIN the write would be allowed by permissions, so the
    // error must come from the read-only mount. (The uts namespace is the
    // container's own, so nothing on the host changes either way.)
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    let b = Bundle::new("roproc")
        .set(
            "/process/capabilities",
            json!({"bounding": caps, "effective": caps, "permitted": caps}),
        )
        .sh(
            "echo changed > /proc/sys/kernel/hostname; echo rc=$?; hostname; \
             grep ' /proc/sys ' /proc/self/mountinfo",
        );
    let o = rt.run(&b);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "rc=1", "{o}");
    assert_eq!(lines[1], "myrt-test", "{o}");
    assert!(o.stderr.contains("Read-only file system"), "{o}");
    // Mount options (field 6) contain ro.
    let opts = lines[2].split(' ').nth(5).unwrap();
    assert!(opts.split(',').any(|x| x == "ro"), "{}", lines[2]);
}

#[test]
fn root_capabilities_configured_set() {
    let rt = Runtime::new();
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let b = Bundle::new("caps").args(&["cat", "/proc/self/status"]);
    let o = rt.run(&b);
    o.ok();
    let want = "0000000020000420";
    for k in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&o.stdout, k), want, "{k}: {o}");
    }
    // The kernel clears the ambient set when root execs a program (it is
    // "privileged"), whatever the runtime set.
    assert_eq!(status_field(&o.stdout, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000000");
}

#[test]
fn root_capabilities_no_ambient_inheritable() {
    let rt = Runtime::new();
    let b = Bundle::new("caps2")
        .args(&["cat", "/proc/self/status"])
        .remove("/process/capabilities/ambient");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(status_field(&o.stdout, "CapEff"), "0000000020000420");
    assert_eq!(status_field(&o.stdout, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000000");
}

#[test]
fn root_dropped_capability_is_missing() {
    let rt = Runtime::new();
    // CAP_CHOWN is not in the default set: chown fails; with it, works.
    let script = "touch /tmp/f && chown 1000 /tmp/f; echo rc=$?";
    let b = Bundle::new("nochown").tmpfs("/tmp").sh(script);
    let o = rt.run(&b);
    assert_eq!(o.stdout, "rc=1\n", "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");

    let caps = json!(["CAP_CHOWN"]);
    let b = Bundle::new("chown").tmpfs("/tmp").sh(script).set(
        "/process/capabilities",
        json!({"bounding": caps, "effective": caps, "permitted": caps}),
    );
    let o = rt.run(&b);
    assert_eq!(o.stdout, "rc=0\n", "{o}");
}

#[test]
fn root_no_new_privileges() {
    let rt = Runtime::new();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let b = Bundle::new("nnp")
            .args(&["cat", "/proc/self/status"])
            .set("/process/noNewPrivileges", json!(nnp));
        let o = rt.run(&b);
        o.ok();
        assert_eq!(status_field(&o.stdout, "NoNewPrivs"), want, "nnp={nnp}");
    }
}

#[test]
fn root_rlimit_nofile() {
    let rt = Runtime::new();
    let b = Bundle::new("rlimit")
        .set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]),
        )
        .sh("grep 'Max open files' /proc/self/limits; ulimit -n");
    let o = rt.run(&b);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let f: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(f, ["Max", "open", "files", "512", "1024", "files"], "{o}");
    assert_eq!(lines[1], "512");
}

#[test]
fn root_rlimit_nproc_and_exec() {
    let rt = Runtime::new();
    let b = Bundle::new("rlimit2").args(&["sleep", "30"]).set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1000},
                   {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]),
    );
    let c = rt.create_start(&b);
    // exec'd processes get the same limits.
    let o = c.exec(&[], &["sh", "-c", "ulimit -n; ulimit -c"]);
    o.ok();
    assert_eq!(o.stdout, "1000\n0\n", "{o}");
}

#[test]
fn root_user_uid_gid() {
    let rt = Runtime::new();
    let b = Bundle::new("user")
        .set("/process/user", json!({"uid": 1000, "gid": 1000}))
        .args(&["id"]);
    let o = rt.run(&b);
    o.ok();
    assert!(o.stdout.starts_with("uid=1000 gid=1000"), "{o}");
}

#[test]
fn root_user_additional_gids() {
    let rt = Runtime::new();
    let b = Bundle::new("user2")
        .set(
            "/process/user",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 2000]}),
        )
        .sh("grep -E '^(Uid|Gid|Groups)' /proc/self/status");
    let o = rt.run(&b);
    o.ok();
    let l: Vec<Vec<&str>> = o
        .stdout
        .lines()
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert_eq!(l[0], ["1000"; 4], "{o}");
    assert_eq!(l[1], ["1000"; 4], "{o}");
    let mut groups = l[2].clone();
    groups.sort();
    assert!(groups.contains(&"5") && groups.contains(&"2000"), "{o}");
}

#[test]
fn root_non_root_user_has_no_caps() {
    let rt = Runtime::new();
    // Without ambient capabilities a non-root user loses the permitted set
    // at execve.
    let b = Bundle::new("usercaps")
        .set("/process/user", json!({"uid": 1000, "gid": 1000}))
        .remove("/process/capabilities/ambient")
        .args(&["cat", "/proc/self/status"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(status_field(&o.stdout, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&o.stdout, "CapBnd"), "0000000020000420");
}

#[test]
fn root_non_root_user_keeps_ambient_caps() {
    let rt = Runtime::new();
    // Ambient capabilities survive execve for a non-root user. The kernel
    // only accepts ambient caps that are also inheritable, so the config
    // lists them in both (runc silently ignores ambient caps that are not).
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let b = Bundle::new("ambient")
        .set("/process/user", json!({"uid": 1000, "gid": 1000}))
        .set("/process/capabilities/inheritable", caps)
        .args(&["cat", "/proc/self/status"]);
    let o = rt.run(&b);
    o.ok();
    for k in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
        assert_eq!(status_field(&o.stdout, k), "0000000020000420", "{k}: {o}");
    }
}

#[test]
fn root_sysfs_and_cgroupfs_read_only() {
    let rt = Runtime::new();
    // /sys and every cgroup hierarchy mounted under /sys/fs/cgroup are
    // read-only (the tmpfs holding them on v1 may stay rw, as in runc).
    let b = Bundle::new("rosys").args(&["cat", "/proc/self/mountinfo"]);
    let o = rt.run(&b);
    o.ok();
    let mut n = 0;
    for l in o.stdout.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let (mnt, opts) = (f[4], f[5]);
        let fstype = l.split(" - ").nth(1).unwrap().split(' ').next().unwrap();
        if mnt == "/sys" || fstype == "cgroup" || fstype == "cgroup2" {
            n += 1;
            assert!(opts.split(',').any(|x| x == "ro"), "{l}");
        }
    }
    // v1: /sys and one mount per hierarchy; v2: /sys and one cgroup2 mount.
    assert!(n >= if is_cgroup2() { 2 } else { 9 }, "{o}");
}

#[test]
fn root_cwd() {
    let rt = Runtime::new();
    let b = Bundle::new("cwd")
        .set("/process/cwd", json!("/etc"))
        .args(&["pwd"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "/etc\n");
}

/// An unknown capability name is dropped with a warning, as runc does
/// ("ignoring unknown or unavailable capabilities"); the known ones apply.
#[test]
fn root_unknown_capability_is_ignored_with_a_warning() {
    let rt = Runtime::new();
    let caps = json!(["CAP_CHOWN", "CAP_NOT_A_CAPABILITY", "CAP_KILL"]);
    let b = Bundle::new("unkcap")
        .sh("grep CapBnd /proc/self/status")
        .set("/process/capabilities/bounding", caps.clone())
        .set("/process/capabilities/permitted", caps.clone())
        .set("/process/capabilities/effective", caps);
    let o = rt.run(&b);
    assert!(o.success(), "{o}");
    assert!(
        o.stderr
            .contains("warning: ignoring unknown capabilities: [CAP_NOT_A_CAPABILITY]"),
        "{o}"
    );
    // CAP_CHOWN (0) and CAP_KILL (5) only.
    assert!(o.stdout.contains("0000000000000021"), "{o}");
}
