#!/usr/bin/env python3
"""Writes the synthetic configs of the corpus from captured ones (see README.md).

  cri-pod-container.json             <- containerd-ctr-run-seccomp.json
  seccomp-recorded-no-close-range.json <- podman-run.json + recorded-syscalls.txt

Deterministic: running it again gives the same files.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(HERE, name)) as f:
        return json.load(f)


def save(name, cfg):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def filler(seed, size):
    """`size` bytes of printable text that differs everywhere (a cut or a
    shifted chunk shows)."""
    out = []
    i = 0
    while sum(map(len, out)) < size:
        out.append("%s-%06d:%s;" % (seed, i, "abcdefghijklmnopqrstuvwxyz"[i % 26] * 17))
        i += 1
    return "".join(out)[:size]


def cri():
    # A Kubernetes pod container as containerd's CRI plugin (1.6, cgroupfs
    # driver) writes it: RuntimeDefault seccomp (containerd's default
    # profile, as ctr --seccomp gives it), no_new_privs off
    # (allowPrivilegeEscalation defaults to true), the sandbox's ipc, uts
    # and network namespaces joined by path, CRI's bind mounts, masked and
    # readonly paths, and 256 KiB of annotations (the Kubernetes limit).
    c = load("containerd-ctr-run-seccomp.json")
    p = c["process"]
    p["args"] = ["sleep", "3600"]
    p["env"] = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=web-7d9f8b6c5-x2x9q",
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "KUBERNETES_SERVICE_PORT_HTTPS=443",
        "KUBERNETES_PORT=tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO=tcp",
        "KUBERNETES_PORT_443_TCP_PORT=443",
        "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
    ]
    p["noNewPrivileges"] = False
    p["oomScoreAdj"] = 1000
    p["user"] = {"uid": 0, "gid": 0, "additionalGids": [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27]}
    p.pop("rlimits", None)
    c["root"] = {"path": "rootfs", "readonly": False}
    c.pop("hostname", None)
    sandbox = "/proc/@SANDBOX_PID@/ns/"
    c["linux"]["namespaces"] = [
        {"type": "pid"},
        {"type": "ipc", "path": sandbox + "ipc"},
        {"type": "uts", "path": sandbox + "uts"},
        {"type": "mount"},
        {"type": "network", "path": sandbox + "net"},
    ]
    c["linux"]["cgroupsPath"] = (
        "/kubepods/besteffort/pod4f3c2b1a-9e8d-4c7b-a6f5-0e1d2c3b4a59/"
        "6b1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"
    )
    res = c["linux"].setdefault("resources", {})
    res["cpu"] = {"shares": 2, "period": 100000}
    res["memory"] = {}
    c["linux"]["maskedPaths"] = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
        "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    ]
    c["linux"]["readonlyPaths"] = [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ]
    mounts = [m for m in c["mounts"] if m["destination"] != "/dev/shm"]
    mounts += [
        {"destination": "/etc/hosts", "type": "bind", "source": "@BUNDLE@/files/etc-hosts",
         "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/dev/termination-log", "type": "bind",
         "source": "@BUNDLE@/files/termination-log", "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/etc/hostname", "type": "bind", "source": "@BUNDLE@/files/hostname",
         "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": "@BUNDLE@/files/resolv.conf",
         "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/dev/shm", "type": "bind", "source": "@BUNDLE@/dirs/shm",
         "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/var/run/secrets/kubernetes.io/serviceaccount", "type": "bind",
         "source": "@BUNDLE@/dirs/serviceaccount", "options": ["rbind", "rprivate", "ro"]},
    ]
    c["mounts"] = mounts
    ann = {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": "web",
        "io.kubernetes.cri.image-name": "localhost/bb:latest",
        "io.kubernetes.cri.sandbox-id":
            "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "io.kubernetes.cri.sandbox-name": "web-7d9f8b6c5-x2x9q",
        "io.kubernetes.cri.sandbox-namespace": "default",
        "io.kubernetes.cri.sandbox-uid": "4f3c2b1a-9e8d-4c7b-a6f5-0e1d2c3b4a59",
    }
    # Pod annotations are passed on to the container: 256 KiB in all.
    big = {
        "kubectl.kubernetes.io/last-applied-configuration": 160 * 1024,
        "example.com/config-a": 48 * 1024,
        "example.com/config-b": 32 * 1024,
    }
    used = sum(len(k) + len(v) for k, v in ann.items())
    used += sum(len(k) for k in big)
    rest = 256 * 1024 - used - sum(big.values())
    big["example.com/config-c"] = rest - len("example.com/config-c")
    for k, n in big.items():
        ann[k] = filler(k.rsplit("/", 1)[-1], n)
    assert sum(len(k) + len(v) for k, v in ann.items()) == 256 * 1024
    c["annotations"] = ann
    save("cri-pod-container.json", c)


def recorded():
    # A seccomp allowlist recorded from a container run by runc (the
    # syscalls its init made from pivot_root on and those of an exec), as
    # profile recorders write them: it has no close_range and no execveat.
    c = load("podman-run.json")
    with open(os.path.join(HERE, "recorded-syscalls.txt")) as f:
        recorded = f.read().split()
    names = [n for n in recorded if n not in ("close_range", "execveat")]
    c["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    }
    save("seccomp-recorded-no-close-range.json", c)


if __name__ == "__main__":
    cri()
    recorded()
