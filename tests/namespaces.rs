//! linux.namespaces and hostname: new namespaces, namespaces joined by path,
//! and namespaces shared with the host when not listed.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;

const ALL: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
];

#[test]
fn root_hostname() {
    let rt = Runtime::new();
    let b = Bundle::new("hostname")
        .args(&["hostname"])
        .set("/hostname", json!("bird.example"));
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "bird.example\n");
}

#[test]
fn root_hostname_does_not_change_host() {
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let rt = Runtime::new();
    let b = Bundle::new("hostname2")
        .args(&["true"])
        .set("/hostname", json!("other-name"));
    rt.run(&b).ok();
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before
    );
}

#[test]
fn root_process_is_pid1() {
    let rt = Runtime::new();
    // The configured process itself (not a wrapper) is pid 1.
    let b = Bundle::new("pid1").args(&["cut", "-d", " ", "-f1,4", "/proc/self/stat"]);
    let o = rt.run(&b);
    o.ok();
    // pid 1, parent pid 0 (nothing above it in its namespace).
    assert_eq!(o.stdout, "1 0\n", "{o}");
}

#[test]
fn root_proc_shows_only_container_processes() {
    let rt = Runtime::new();
    // Glob expansion: no extra process is forked.
    let b = Bundle::new("procpids").sh("cd /proc && echo [0-9]*");
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "1\n", "{o}");
}

#[test]
fn root_exec_sees_container_processes_only() {
    let rt = Runtime::new();
    let b = Bundle::new("procexec").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let o = c.exec(
        &[],
        &[
            "sh",
            "-c",
            "cd /proc && for p in [0-9]*; do [ $p = $$ ] || echo $p; done",
        ],
    );
    o.ok();
    assert_eq!(o.stdout, "1\n", "{o}");
    // exec joins the same namespaces as the init.
    let o = c.exec(&[], &["hostname"]);
    assert_eq!(o.stdout, "myrt-test\n", "{o}");
}

#[test]
fn root_all_namespaces_are_new() {
    let rt = Runtime::new();
    let b = Bundle::new("nsnew").args(&["sleep", "30"]);
    let c = rt.create(&b, &[]);
    let me = std::process::id() as i32;
    for (_, ns) in ALL {
        assert_ne!(
            ns_link(c.pid(), ns),
            ns_link(me, ns),
            "{ns} namespace is the host's"
        );
    }
}

#[test]
fn root_unlisted_namespace_is_shared_with_host() {
    let rt = Runtime::new();
    let b = Bundle::new("nshost").args(&["sleep", "30"]).with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network" && n["type"] != "ipc")
    });
    let c = rt.create(&b, &[]);
    let me = std::process::id() as i32;
    assert_eq!(ns_link(c.pid(), "net"), ns_link(me, "net"));
    assert_eq!(ns_link(c.pid(), "ipc"), ns_link(me, "ipc"));
    assert_ne!(ns_link(c.pid(), "uts"), ns_link(me, "uts"));
}

#[test]
fn root_new_network_namespace_has_only_lo() {
    let rt = Runtime::new();
    let b = Bundle::new("netlo").args(&["ls", "/sys/class/net"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        ["lo"],
        "{o}"
    );
}

#[test]
fn root_join_namespaces_by_path() {
    let rt = Runtime::new();
    let b1 = Bundle::new("nsfirst")
        .args(&["sleep", "30"])
        .set("/hostname", json!("first"));
    let c1 = rt.create_start(&b1);
    let p1 = c1.pid();
    let b2 = Bundle::new("nssecond")
        .args(&["sleep", "30"])
        .remove("/hostname")
        .with(|v| {
            for n in v["linux"]["namespaces"].as_array_mut().unwrap() {
                let t = n["type"].as_str().unwrap().to_string();
                let file = match t.as_str() {
                    "network" => "net",
                    "uts" => "uts",
                    "ipc" => "ipc",
                    _ => continue,
                };
                n["path"] = json!(format!("/proc/{p1}/ns/{file}"));
            }
        });
    let c2 = rt.create_start(&b2);
    let p2 = c2.pid();
    for ns in ["net", "uts", "ipc"] {
        assert_eq!(ns_link(p1, ns), ns_link(p2, ns), "{ns} not shared");
    }
    for ns in ["pid", "mnt", "cgroup"] {
        assert_ne!(
            ns_link(p1, ns),
            ns_link(p2, ns),
            "{ns} shared but should be new"
        );
    }
    // Really shared: the second container sees the first one's hostname.
    let o = c2.exec(&[], &["hostname"]);
    assert_eq!(o.stdout, "first\n", "{o}");
}

#[test]
fn root_join_pid_namespace_by_path() {
    let rt = Runtime::new();
    let b1 = Bundle::new("pidfirst").args(&["sleep", "30"]);
    let c1 = rt.create_start(&b1);
    let p1 = c1.pid();
    let b2 = Bundle::new("pidsecond")
        .sh("cd /proc && echo [0-9]*; sleep 30")
        .with(|v| {
            for n in v["linux"]["namespaces"].as_array_mut().unwrap() {
                if n["type"] == "pid" {
                    n["path"] = json!(format!("/proc/{p1}/ns/pid"));
                }
            }
        });
    let c2 = rt.create_start(&b2);
    assert_eq!(ns_link(p1, "pid"), ns_link(c2.pid(), "pid"));
    // The second container's process is not pid 1 and sees the first one's.
    let out = wait_until("ps output", std::time::Duration::from_secs(5), || {
        let s = c2.stdout();
        s.ends_with('\n').then_some(s)
    });
    let pids: Vec<&str> = out.split_whitespace().collect();
    assert!(pids.contains(&"1") && pids.len() == 2, "{out}");
}
