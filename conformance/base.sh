# shellcheck shell=bash
# conformance/base.sh: the busybox root filesystem and the base config.json
# (shaped like `runc spec`) that both the conformance checks and the
# benchmarks (bench/lib.sh) start from. Sourced; defines functions only.

# build_rootfs DIR: a busybox root filesystem.
build_rootfs() {
	local d=$1 a
	mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,home/user,var,run,mnt}
	cp /bin/busybox "$d/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' >"$d/etc/group"
	chmod 755 "$d" "$d"/*
	chmod 1777 "$d/tmp"
}

# write_base_config FILE: the base config.json, shaped like `runc spec`
# (terminal false), with our own cgroupsPath placeholder.
write_base_config() {
	jq -n '{
	  ociVersion: "1.0.2",
	  process: {
	    terminal: false,
	    user: {uid: 0, gid: 0},
	    args: ["true"],
	    env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
	    cwd: "/",
	    capabilities: {
	      bounding: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
	      effective: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
	      permitted: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
	    },
	    rlimits: [{type: "RLIMIT_NOFILE", hard: 1024, soft: 1024}],
	    noNewPrivileges: true
	  },
	  root: {path: "rootfs", readonly: false},
	  hostname: "conformance",
	  mounts: [
	    {destination: "/proc", type: "proc", source: "proc"},
	    {destination: "/dev", type: "tmpfs", source: "tmpfs",
	     options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
	    {destination: "/dev/pts", type: "devpts", source: "devpts",
	     options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
	    {destination: "/dev/shm", type: "tmpfs", source: "shm",
	     options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
	    {destination: "/dev/mqueue", type: "mqueue", source: "mqueue",
	     options: ["nosuid", "noexec", "nodev"]},
	    {destination: "/sys", type: "sysfs", source: "sysfs",
	     options: ["nosuid", "noexec", "nodev", "ro"]},
	    {destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
	     options: ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	  ],
	  linux: {
	    resources: {devices: [{allow: false, access: "rwm"}]},
	    cgroupsPath: "CGROUPS_PATH",
	    namespaces: [{type: "pid"}, {type: "network"}, {type: "ipc"},
	                 {type: "uts"}, {type: "mount"}, {type: "cgroup"}],
	    maskedPaths: ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	                  "/proc/scsi", "/sys/firmware"],
	    readonlyPaths: ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
	                    "/proc/sys", "/proc/sysrq-trigger"]
	  }
	}' >"$1"
}
