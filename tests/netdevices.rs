//! linux.netDevices: host interfaces moved into the container's network
//! namespace. The "host" here is a private network namespace of the test's
//! own (bound to a file, never /run/netns), with a veth pair created in it; the runtime runs inside it (nsenter), so no real host interface
//! is ever touched.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A network namespace bound to a file of the test's own; unmounted and
/// removed on drop.
struct PrivateNet {
    dir: PathBuf,
    file: PathBuf,
}

impl PrivateNet {
    fn new() -> PrivateNet {
        let dir = std::env::temp_dir().join(unique("myrt-test-netns"));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("net");
        fs::write(&file, "").unwrap();
        host("unshare", &[&format!("--net={}", file.display()), "true"]).ok();
        PrivateNet { dir, file }
    }

    fn arg(&self) -> String {
        format!("--net={}", self.file.display())
    }

    /// Runs `prog args` inside the namespace.
    fn run(&self, prog: &str, args: &[&str]) -> Output {
        let mut a = vec![self.arg(), prog.to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        host("nsenter", &a)
    }

    /// The runtime command `args`, run inside the namespace.
    /// (Output goes through files: a created container keeps the
    /// runtime's stdio.)
    fn runtime(&self, rt: &Runtime, args: &[&str]) -> Output {
        let c = rt.command(args);
        let mut n = Command::new("nsenter");
        n.arg(self.arg()).arg(c.get_program()).args(c.get_args());
        let sink = Sink::Files(self.dir.join("out"), self.dir.join("err"));
        exec_cmd(n, None, sink, CMD_TIMEOUT)
    }
}

impl Drop for PrivateNet {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.file.to_str().unwrap()).unwrap();
        // SAFETY: c is a NUL-terminated path that outlives the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn has_link(net: &PrivateNet, name: &str) -> bool {
    net.run("ip", &["link", "show", name]).success()
}

/// An interface (one end of a veth pair) with an address, listed in netDevices with a new
/// name: in the container it has that name and keeps its address; it is
/// gone from the runtime's namespace.
#[test]
fn root_net_device_moved_and_renamed() {
    let rt = Runtime::new();
    let net = PrivateNet::new();
    // (No dummy module on every kernel: one end of a veth pair.)
    net.run(
        "ip",
        &[
            "link", "add", "mydummy0", "type", "veth", "peer", "name", "mypeer0",
        ],
    )
    .ok();
    net.run("ip", &["addr", "add", "10.77.0.1/24", "dev", "mydummy0"])
        .ok();
    let b = Bundle::new("netdev")
        .set("/linux/netDevices", json!({"mydummy0": {"name": "ctr0"}}))
        .args(&["sleep", "30"]);
    b.write();
    let created = net.runtime(&rt, &["create", "--bundle", b.dir_str(), &b.id]);
    let c = rt.guard(&b);
    created.ok();
    assert!(
        !has_link(&net, "mydummy0"),
        "still in the runtime's namespace"
    );
    let o = rt.cmd(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "ip -o addr show dev ctr0 | grep -o '10.77.0.1/24'; ls /sys/class/net | grep -c mydummy0",
    ]);
    assert_eq!(o.stdout, "10.77.0.1/24\n0\n", "{o}");
    drop(c);

    // Keys that name no interface, or a container name that is taken,
    // are errors naming the field.
    let b = Bundle::new("netdev2")
        .set("/linux/netDevices", json!({"nosuchdev0": {}}))
        .args(&["true"]);
    b.write();
    let o = net.runtime(&rt, &["run", "--bundle", b.dir_str(), &b.id]);
    o.fails();
    assert_myrt_error(&o.stderr, "run", &b.id, &["linux.netDevices.nosuchdev0"]);
    let b = Bundle::new("netdev3")
        .set("/linux/netDevices", json!({"x": {"name": "a/b"}}))
        .args(&["true"]);
    let o = rt.run(&b);
    o.fails();
    assert_myrt_error(&o.stderr, "run", &b.id, &["linux.netDevices.x.name"]);
    assert!(Path::new(&net.file).exists());
}
