//! linux.cgroupsPath and linux.resources on this cgroup v1 (hybrid) host.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

const MIB: i64 = 1024 * 1024;

/// v1 controllers the container must be placed in.
const V1: &[&str] = &[
    "memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer",
];

#[test]
fn root_memory_limit() {
    let rt = Runtime::new();
    let b = Bundle::new("memlimit")
        .args(&["sleep", "30"])
        .set("/linux/resources/memory/limit", json!(32 * MIB));
    let c = rt.create(&b, &[]);
    assert_eq!(
        cgroup_read("memory", &c.id, "memory.limit_in_bytes"),
        (32 * MIB).to_string()
    );
}

#[test]
fn root_memory_oom_kill() {
    let rt = Runtime::new();
    // busybox tail buffers its whole input when it has no newline: it really
    // holds 100 MiB of anonymous memory. The hog runs with oom_score_adj 1000
    // so that the OOM killer never picks the init shell instead.
    let b = Bundle::new("oom")
        .sh("sh -c 'echo 1000 > /proc/self/oom_score_adj; \
             head -c 104857600 /dev/zero | tail >/dev/null'; echo rc=$?")
        .set("/linux/resources/memory/limit", json!(32 * MIB))
        .set("/linux/resources/memory/swap", json!(32 * MIB));
    let c = rt.create_start(&b);
    assert_eq!(c.wait_exit(), 0);
    assert_eq!(c.stdout(), "rc=137\n", "stderr: {}", c.stderr());
    let oom = cgroup_read("memory", &c.id, "memory.oom_control");
    let kills: i64 = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .expect("oom_kill counter")
        .parse()
        .unwrap();
    assert!(kills >= 1, "{oom}");
    let max: i64 = cgroup_read("memory", &c.id, "memory.max_usage_in_bytes")
        .parse()
        .unwrap();
    assert!(max <= 32 * MIB, "max usage {max}");
}

#[test]
fn root_memory_below_limit_is_fine() {
    let rt = Runtime::new();
    let b = Bundle::new("memok")
        .sh("head -c 8388608 /dev/zero | tail >/dev/null; echo rc=$?")
        .set("/linux/resources/memory/limit", json!(32 * MIB));
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "rc=0\n", "{o}");
}

#[test]
fn root_pids_limit() {
    let rt = Runtime::new();
    // The inner shell tries to start 50 background sleeps and aborts at the
    // first failed fork; the sleeps it started live on under the init.
    let b = Bundle::new("pids")
        .sh("sh -c 'for i in $(seq 50); do sleep 30 & done; echo all-spawned'; echo inner=$?; sleep 30")
        .set("/linux/resources/pids/limit", json!(20));
    let c = rt.create(&b, &[]);
    assert_eq!(cgroup_read("pids", &c.id, "pids.max"), "20");
    c.start().ok();
    let out = wait_until("the inner shell to end", Duration::from_secs(10), || {
        let o = c.stdout();
        o.contains("inner=").then_some(o)
    });
    assert!(!out.contains("all-spawned"), "50 forks succeeded: {out}");
    assert!(!out.contains("inner=0"), "{out}");
    assert!(
        c.stderr().contains("fork"),
        "no fork failure: {}",
        c.stderr()
    );
    let current: i64 = cgroup_read("pids", &c.id, "pids.current").parse().unwrap();
    assert!((10..=20).contains(&current), "pids.current {current}");
    let n = cgroup_read("pids", &c.id, "cgroup.procs").lines().count() as i64;
    assert!((10..=20).contains(&n), "{n} processes in cgroup.procs");
    let events = cgroup_read("pids", &c.id, "pids.events");
    assert_ne!(events, "max 0", "{events}");
}

#[test]
fn root_pid_in_cgroup_procs() {
    let rt = Runtime::new();
    let b = Bundle::new("procs").args(&["sleep", "30"]);
    let c = rt.create(&b, &[]);
    let pid = c.pid().to_string();
    // Already at create, before any user code runs.
    for ctl in V1 {
        let procs = cgroup_read(ctl, &c.id, "cgroup.procs");
        assert!(procs.lines().any(|l| l == pid), "{ctl}: {procs}");
    }
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for ctl in V1 {
        let line = own
            .lines()
            .find(|l| l.split(':').nth(1).unwrap().split(',').any(|x| x == *ctl))
            .unwrap_or_else(|| panic!("{ctl} in {own}"));
        assert!(line.ends_with(&format!(":/myrt-test/{}", c.id)), "{line}");
    }
}

#[test]
fn root_hybrid_unified_and_named_hierarchies() {
    // As runc does on a hybrid host: the process is also placed in the
    // cgroup2 (unified) mount and in name=systemd.
    let rt = Runtime::new();
    let b = Bundle::new("hybrid").args(&["sleep", "30"]);
    let c = rt.create(&b, &[]);
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    for l in own.lines() {
        assert!(l.ends_with(&format!(":/myrt-test/{}", c.id)), "{l}");
    }
}

#[test]
fn root_exec_joins_container_cgroup() {
    // Without a cgroup namespace the exec'd process sees the same paths as
    // the host does for the init.
    let rt = Runtime::new();
    let b = Bundle::new("execcg").args(&["sleep", "30"]).with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup")
    });
    let c = rt.create_start(&b);
    let o = c.exec(&[], &["cat", "/proc/self/cgroup"]);
    o.ok();
    let init = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    let v1 = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| {
                V1.iter()
                    .any(|c| l.split(':').nth(1).unwrap().split(',').any(|x| x == *c))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(v1(&o.stdout), v1(&init), "{o}");
    assert_eq!(v1(&init).len(), V1.len(), "{init}");
}

#[test]
fn root_cgroup_namespace_hides_path() {
    let rt = Runtime::new();
    let b = Bundle::new("cgns").args(&["cat", "/proc/self/cgroup"]);
    let o = rt.run(&b);
    o.ok();
    for l in o.stdout.lines() {
        assert!(l.ends_with(":/"), "{o}");
    }
}

#[test]
fn root_cpu_shares_and_quota() {
    let rt = Runtime::new();
    let b = Bundle::new("cpu").args(&["sleep", "30"]).set(
        "/linux/resources/cpu",
        json!({"shares": 512, "quota": 50000, "period": 100000}),
    );
    let c = rt.create(&b, &[]);
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.shares"), "512");
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.cfs_period_us"), "100000");
}

/// `update` takes runc's flag forms: a negative value in its own argument
/// (`--memory -1`, unlimited) and the `-r FILE` resources, flags on top.
#[test]
fn root_update_flag_forms() {
    let rt = Runtime::new();
    let b = Bundle::new("updflags")
        .args(&["sleep", "30"])
        .set("/linux/resources/memory/limit", json!(32 * MIB))
        .set("/linux/resources/pids/limit", json!(20))
        .set("/linux/resources/cpu/quota", json!(50000));
    let c = rt.create_start(&b);
    let args = ["--memory", "-1", "--pids-limit", "-1", "--cpu-quota", "-1"];
    c.cmd(&[&["update"], &args[..], &[c.id.as_str()]].concat())
        .ok();
    let unlimited: i64 = cgroup_read("memory", &c.id, "memory.limit_in_bytes")
        .parse()
        .unwrap();
    assert!(unlimited > 1 << 60, "memory.limit_in_bytes {unlimited}");
    assert_eq!(cgroup_read("pids", &c.id, "pids.max"), "max");
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.cfs_quota_us"), "-1");
    let r = b.dir.join("resources.json");
    std::fs::write(&r, json!({"pids": {"limit": 40}}).to_string()).unwrap();
    let r = r.to_str().unwrap();
    c.cmd(&["update", "-r", r, "--memory", "48m", &c.id]).ok();
    assert_eq!(cgroup_read("pids", &c.id, "pids.max"), "40");
    assert_eq!(
        cgroup_read("memory", &c.id, "memory.limit_in_bytes"),
        (48 * MIB).to_string()
    );
}

/// `update --cpu-rt-period/--cpu-rt-runtime` (runc's flags) write the v1
/// real-time files; the Intel RDT flags are refused, naming the flag.
#[test]
fn root_update_realtime_and_rdt_flags() {
    let rt = Runtime::new();
    let b = Bundle::new("updrt").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    c.cmd(&[
        "update",
        "--cpu-rt-period",
        "500000",
        "--cpu-rt-runtime",
        "0",
        &c.id,
    ])
    .ok();
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.rt_period_us"), "500000");
    assert_eq!(cgroup_read("cpu", &c.id, "cpu.rt_runtime_us"), "0");
    let o = c.cmd(&["update", "--l3-cache-schema", "L3:0=f", &c.id]);
    assert_eq!(o.code, 1, "{o}");
    assert_myrt_error(
        &o.stderr,
        "update",
        &c.id,
        &["--l3-cache-schema", "Intel RDT"],
    );
}

#[test]
fn root_cgroup_removed_on_delete() {
    let rt = Runtime::new();
    let b = Bundle::new("cgdel").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    assert!(!cgroup_dirs(&c.id).is_empty());
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete().ok();
    assert_eq!(cgroup_dirs(&c.id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn root_blkio_weight_zero_is_unset() {
    // Docker writes `blockIO.weight: 0` (and `cpu.shares: 0`) for every
    // container without --blkio-weight: 0 means "not set" (runc skips it;
    // the kernel refuses it with ERANGE). A real weight is written.
    let rt = Runtime::new();
    let b = Bundle::new("blkio0")
        .args(&["sleep", "30"])
        .set(
            "/linux/resources/blockIO",
            json!({"weight": 0, "leafWeight": 0}),
        )
        .set("/linux/resources/cpu/shares", json!(0));
    let c = rt.create(&b, &[]);
    let file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| cgroup_v1_dir("blkio", &c.id).join(f).exists());
    let Some(file) = file else {
        return; // no weight-based I/O scheduler on this kernel
    };
    let default = cgroup_read("blkio", &c.id, file);
    assert_ne!(default, "0", "{file}");
    let b = Bundle::new("blkio300")
        .args(&["sleep", "30"])
        .set("/linux/resources/blockIO/weight", json!(300));
    let c = rt.create(&b, &[]);
    // blkio.bfq.weight reads "default 300" on some kernels, "300" on others
    let w = cgroup_read("blkio", &c.id, file);
    assert!(w == "300" || w.ends_with(" 300"), "{file}: {w}");
}
