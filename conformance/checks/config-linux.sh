# shellcheck shell=bash
# config-linux.md (namespaces, user namespace mappings, devices, cgroups,
# sysctl, seccomp, rootfs propagation, masked/readonly paths, ...) and
# runtime-linux.md (file descriptors, /dev symlinks).

ns_file() { # spec type -> /proc/PID/ns name
	case $1 in
	network) echo net ;; mount) echo mnt ;; *) echo "$1" ;;
	esac
}

# set_ns TYPE [PATH]: make sure namespace TYPE is in the list (with PATH if given).
set_ns() {
	cfg --arg t "$1" --arg p "${2:-}" '.linux.namespaces = ([.linux.namespaces[] | select(.type != $t)]
		+ [if $p == "" then {type: $t} else {type: $t, path: $p} end])'
}

# user namespace with a 65536-id range mapped to host ids from 100000
add_userns() {
	set_ns user "${1:-}"
	if [ -z "${1:-}" ]; then
		cfg '.linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
			| .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]'
	fi
}

# -------------------------------------------------------------- namespaces ---

# Namespaces: no path => the runtime creates a new namespace of that type.
new_ns_check() {
	local t=$1 f
	f=$(ns_file "$t")
	[ -e "/proc/self/ns/$f" ] || skip "kernel has no $t namespaces"
	new_bundle
	case $t in
	user) add_userns ;;
	*) set_ns "$t" ;;
	esac
	set_args sleep 30
	must_create
	must_start
	local pid
	pid=$(state_field .pid)
	[ "$(readlink "/proc/$pid/ns/$f")" != "$(readlink "/proc/self/ns/$f")" ] ||
		fail "container process is in the runtime's $t namespace $(readlink "/proc/self/ns/$f")"
}
check config-linux.namespaces.new.pid "config-linux.md#namespaces" c_ns_new_pid
c_ns_new_pid() { new_ns_check pid; }
check config-linux.namespaces.new.network "config-linux.md#namespaces" c_ns_new_net
c_ns_new_net() { new_ns_check network; }
check config-linux.namespaces.new.mount "config-linux.md#namespaces" c_ns_new_mnt
c_ns_new_mnt() { new_ns_check mount; }
check config-linux.namespaces.new.ipc "config-linux.md#namespaces" c_ns_new_ipc
c_ns_new_ipc() { new_ns_check ipc; }
check config-linux.namespaces.new.uts "config-linux.md#namespaces" c_ns_new_uts
c_ns_new_uts() { new_ns_check uts; }
check config-linux.namespaces.new.cgroup "config-linux.md#namespaces" c_ns_new_cgroup
c_ns_new_cgroup() { new_ns_check cgroup; }
check config-linux.namespaces.new.user "config-linux.md#namespaces, #user-namespace-mappings" c_ns_new_user
c_ns_new_user() { new_ns_check user; }

# Namespaces: time (a SHOULD type): either a new time namespace, or an error if unsupported.
check config-linux.namespaces.new.time "config-linux.md#namespaces; config.md#valid-values" c_ns_new_time
c_ns_new_time() {
	[ -e /proc/self/ns/time ] || skip "kernel has no time namespaces"
	new_bundle
	set_ns time
	set_args sleep 30
	if ! ctr_create; then
		note "runtime refused the time namespace (allowed if unsupported): $(tail -c 200 "$CT/ctr.err")"
		return 0
	fi
	must_start
	local pid
	pid=$(state_field .pid)
	[ "$(readlink "/proc/$pid/ns/time")" != "$(readlink /proc/self/ns/time)" ] ||
		fail "time namespace requested and create succeeded, but the process is in the runtime's time namespace"
}

# Namespaces: a type not listed is inherited from the runtime.
check config-linux.namespaces.inherit "config-linux.md#namespaces" c_ns_inherit
c_ns_inherit() {
	new_bundle
	cfg '.linux.namespaces = [{type: "mount"}] | del(.hostname)'
	set_args sleep 30
	must_create
	must_start
	local pid f
	pid=$(state_field .pid)
	for f in pid net ipc uts cgroup user; do
		expect_eq "$(readlink "/proc/$pid/ns/$f")" "$(readlink "/proc/self/ns/$f")" "$f namespace of the container (not listed)"
	done
}

# holder_ns TYPE: start a process in a new namespace of TYPE; sets NS_PATH.
holder_ns() {
	local t=$1 f opt pid i
	f=$(ns_file "$t")
	case $t in
	network) opt=--net ;; mount) opt=--mount ;; user) opt=--user ;;
	pid | time) opt="--$t --fork" ;; *) opt=--$t ;;
	esac
	# shellcheck disable=SC2086
	start_holder unshare $opt sleep 60
	pid=$HOLDER_PID
	if [ "$t" = pid ] || [ "$t" = time ]; then
		# the forked child (sleep) is the one inside the namespace
		for ((i = 0; i < 100; i++)); do
			pid=$(cat "/proc/$HOLDER_PID/task/$HOLDER_PID/children" 2>/dev/null | cut -d' ' -f1)
			[ -n "$pid" ] && break
			sleep 0.02
		done
		[ -n "$pid" ] && HOLDERS+=("$pid")
	fi
	for ((i = 0; i < 100; i++)); do
		[ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/$f")" != "$(readlink "/proc/self/ns/$f")" ] && break
		sleep 0.02
	done
	[ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/$f")" != "$(readlink "/proc/self/ns/$f")" ] ||
		skip "could not create a $t namespace with unshare(1)"
	if [ "$t" = user ]; then
		# as root in the parent namespace we write the maps of the holder's namespace
		echo "0 100000 65536" >"/proc/$pid/uid_map" || skip "cannot write uid_map"
		echo "0 100000 65536" >"/proc/$pid/gid_map" || skip "cannot write gid_map"
	fi
	NS_PATH=/proc/$pid/ns/$f
	NS_ID=$(readlink "$NS_PATH")
}

# Namespaces: path => the container process joins the namespace at that path.
join_ns_check() {
	local t=$1 f
	f=$(ns_file "$t")
	[ -e "/proc/self/ns/$f" ] || skip "kernel has no $t namespaces"
	new_bundle
	holder_ns "$t"
	case $t in
	user) add_userns "$NS_PATH" ;;
	*) set_ns "$t" "$NS_PATH" ;;
	esac
	set_args sleep 30
	if [ "$t" = time ] && ! ctr_create; then
		note "runtime refused the time namespace (allowed if unsupported): $(tail -c 200 "$CT/ctr.err")"
		return 0
	fi
	if [ "$t" = user ] && ! ctr_create; then
		# The spec neither requires nor forbids mappings when joining; some
		# runtimes want them stated: retry with the joined namespace's own maps.
		note "create without mappings failed: $(tail -c 200 "$CT/ctr.err")"
		local pid=${NS_PATH#/proc/} m
		pid=${pid%%/*}
		m=$(awk '{print "{\"containerID\": " $1 ", \"hostID\": " $2 ", \"size\": " $3 "}"}' "/proc/$pid/uid_map" | jq -s .)
		cfg --argjson m "$m" '.linux.uidMappings = $m'
		m=$(awk '{print "{\"containerID\": " $1 ", \"hostID\": " $2 ", \"size\": " $3 "}"}' "/proc/$pid/gid_map" | jq -s .)
		cfg --argjson m "$m" '.linux.gidMappings = $m'
	fi
	[ -n "$(ctr_state 2>/dev/null)" ] || must_create
	must_start
	local pid
	pid=$(state_field .pid)
	expect_eq "$(readlink "/proc/$pid/ns/$f")" "$NS_ID" "$t namespace of the container process"
}
check config-linux.namespaces.join.pid "config-linux.md#namespaces (path)" c_ns_join_pid
c_ns_join_pid() { join_ns_check pid; }
check config-linux.namespaces.join.network "config-linux.md#namespaces (path)" c_ns_join_net
c_ns_join_net() { join_ns_check network; }
check config-linux.namespaces.join.mount "config-linux.md#namespaces (path)" c_ns_join_mnt
c_ns_join_mnt() { join_ns_check mount; }
check config-linux.namespaces.join.ipc "config-linux.md#namespaces (path)" c_ns_join_ipc
c_ns_join_ipc() { join_ns_check ipc; }
check config-linux.namespaces.join.uts "config-linux.md#namespaces (path)" c_ns_join_uts
c_ns_join_uts() { join_ns_check uts; }
check config-linux.namespaces.join.cgroup "config-linux.md#namespaces (path)" c_ns_join_cgroup
c_ns_join_cgroup() { join_ns_check cgroup; }
check config-linux.namespaces.join.user "config-linux.md#namespaces (path)" c_ns_join_user
c_ns_join_user() { join_ns_check user; }
check config-linux.namespaces.join.time "config-linux.md#namespaces (path); config.md#valid-values" c_ns_join_time
c_ns_join_time() { join_ns_check time; }

# Namespaces: a path not associated with a namespace of the given type is an error.
check config-linux.namespaces.path_wrong_type "config-linux.md#namespaces (path)" c_ns_wrong_type
c_ns_wrong_type() {
	new_bundle
	holder_ns uts
	set_ns network "$NS_PATH"
	expect_create_error "network namespace path points to a uts namespace"
}

# Namespaces: a path that does not exist is an error.
check config-linux.namespaces.path_missing "config-linux.md#namespaces (path); runtime.md#lifecycle step 2" c_ns_path_missing
c_ns_path_missing() {
	new_bundle
	set_ns network "$CT/no-such-netns"
	expect_create_error "namespace path does not exist"
}

# Namespaces: duplicated entries with the same type are an error.
check config-linux.namespaces.duplicate "config-linux.md#namespaces" c_ns_dup
c_ns_dup() {
	new_bundle
	cfg '.linux.namespaces += [{type: "network"}]'
	expect_create_error "two network namespace entries"
}

# ------------------------------------------------------ user ns mappings ---

# User namespace mappings: uid_map and gid_map as configured; ids are container ids.
check config-linux.userns.mappings "config-linux.md#user-namespace-mappings" c_userns_maps
c_userns_maps() {
	new_bundle
	add_userns
	cfg '.linux.gidMappings = [{containerID: 0, hostID: 200000, size: 65536}]'
	set_args sleep 30
	must_create
	must_start
	local pid
	pid=$(state_field .pid)
	expect_eq "$(tr -s ' \n' ' ' <"/proc/$pid/uid_map" | sed 's/^ //')" "0 100000 65536 " "uid_map"
	expect_eq "$(tr -s ' \n' ' ' <"/proc/$pid/gid_map" | sed 's/^ //')" "0 200000 65536 " "gid_map"
	expect_eq "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" 100000 "host uid of container root"
	expect_eq "$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")" 200000 "host gid of container root"
}

# User: uid/gid are in the container namespace (mapped through the user namespace).
check config-linux.userns.process_user "config.md#user (container namespace)" c_userns_user
c_userns_user() {
	new_bundle
	add_userns
	cfg '.process.user = {uid: 1000, gid: 1000}'
	set_script 'id -u; id -g; exec sleep 30'
	must_create
	must_start
	local pid i
	pid=$(state_field .pid)
	for ((i = 0; i < 40; i++)); do [ "$(wc -l <"$CT/ctr.out")" -ge 2 ] && break; sleep 0.05; done
	expect_eq "$(tr '\n' ' ' <"$CT/ctr.out")" "1000 1000 " "ids inside the container"
	expect_eq "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" 101000 "host uid"
}

# ----------------------------------------------------------------- devices ---

allow_dev() { # TYPE MAJOR MINOR: device cgroup rule
	cfg --arg t "$1" --argjson a "$2" --argjson b "$3" '.linux.resources.devices += [{allow: true, type: $t, major: $a, minor: $b, access: "rwm"}]'
}

# Devices: a character device with fileMode, uid and gid.
check config-linux.devices.char "config-linux.md#devices" c_dev_char
c_dev_char() {
	new_bundle
	cfg '.linux.devices = [{path: "/dev/mc-null", type: "c", major: 1, minor: 3, fileMode: 432, uid: 1, gid: 2}]
		| .process.capabilities.bounding += ["CAP_DAC_OVERRIDE"] | .process.capabilities.effective += ["CAP_DAC_OVERRIDE"]
		| .process.capabilities.permitted += ["CAP_DAC_OVERRIDE"]'
	allow_dev c 1 3
	run_out 'stat -c "%F %t %T %a %u %g" /dev/mc-null; echo x >/dev/mc-null && echo writable'
	expect_eq "$(tr '\n' ';' <<<"$OUT")" "character special file 1 3 660 1 2;writable;" "device node"
}

# Devices: a block device.
check config-linux.devices.block "config-linux.md#devices" c_dev_block
c_dev_block() {
	new_bundle
	cfg '.linux.devices = [{path: "/dev/mc-loop", type: "b", major: 7, minor: 0, fileMode: 384}]'
	run_out 'stat -c "%F %t %T %a" /dev/mc-loop'
	expect_eq "$OUT" "block special file 7 0 600" "device node"
}

# Devices: a FIFO (type p, no major/minor).
check config-linux.devices.fifo "config-linux.md#devices" c_dev_fifo
c_dev_fifo() {
	new_bundle
	cfg '.linux.devices = [{path: "/dev/mc-fifo", type: "p", fileMode: 420}]'
	run_out 'stat -c "%F %a" /dev/mc-fifo'
	expect_eq "$OUT" "fifo 644" "device node"
}

# Devices: the path may be outside /dev.
check config-linux.devices.outside_dev "config-linux.md#devices" c_dev_outside
c_dev_outside() {
	new_bundle
	cfg '.linux.devices = [{path: "/opt/mc/null", type: "c", major: 1, minor: 3, fileMode: 438}]'
	allow_dev c 1 3
	run_out 'stat -c "%F %t %T" /opt/mc/null'
	expect_eq "$OUT" "character special file 1 3" "device node"
}

# Devices: a file already at path that does not match the requested device is an error.
check config-linux.devices.existing_mismatch "config-linux.md#devices" c_dev_mismatch
c_dev_mismatch() {
	new_bundle
	mkdir -p "$BUNDLE/rootfs/opt"
	echo regular >"$BUNDLE/rootfs/opt/mc-dev"
	cfg '.linux.devices = [{path: "/opt/mc-dev", type: "c", major: 1, minor: 3, fileMode: 438}]'
	allow_dev c 1 3
	expect_create_error "a regular file exists at the device path"
}

# Default devices: /dev/null, zero, full, random, urandom, tty are supplied (and usable).
check config-linux.devices.default "config-linux.md#default-devices" c_dev_default
c_dev_default() {
	new_bundle
	cfg '.linux.devices = []'
	run_out 'for d in null zero full random urandom tty; do echo "$d $(stat -c "%F %t:%T" /dev/$d)"; done
		echo x >/dev/null && echo null-ok
		[ "$(head -c 4 /dev/zero | wc -c)" = 4 ] && echo zero-ok
		echo x 2>/dev/null >/dev/full || echo full-ok
		[ "$(head -c 4 /dev/urandom | wc -c)" = 4 ] && echo urandom-ok'
	local want="null character special file 1:3;zero character special file 1:5;full character special file 1:7;random character special file 1:8;urandom character special file 1:9;tty character special file 5:0;null-ok;zero-ok;full-ok;urandom-ok;"
	expect_eq "$(tr '\n' ';' <<<"$OUT")" "$want" "default devices"
}

# Default devices: /dev/ptmx, a bind mount or symlink of the container's /dev/pts/ptmx.
check config-linux.devices.ptmx "config-linux.md#default-devices" c_dev_ptmx
c_dev_ptmx() {
	new_bundle
	run_out 'if [ -L /dev/ptmx ]; then echo "link $(readlink /dev/ptmx)"; else echo "node $(stat -c "%t:%T %i" /dev/ptmx) pts $(stat -c "%t:%T %i" /dev/pts/ptmx)"; fi
		exec 3<>/dev/ptmx && echo open-ok'
	local first
	first=$(head -1 <<<"$OUT")
	case $first in
	"link pts/ptmx" | "link /dev/pts/ptmx") ;;
	node*) [ "${first#node }" = "$(sed 's/^node \(.*\) pts \(.*\)$/\2 pts \2/' <<<"$first")" ] ||
		fail "/dev/ptmx is not /dev/pts/ptmx: $first" ;;
	*) fail "/dev/ptmx: $first" ;;
	esac
	grep -qx open-ok <<<"$OUT" || fail "/dev/ptmx cannot be opened: $OUT"
}

# runtime-linux: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks.
check runtime-linux.dev_symlinks "runtime-linux.md#dev-symbolic-links" c_dev_symlinks
c_dev_symlinks() {
	new_bundle
	run_out 'for l in fd stdin stdout stderr; do echo "$l $(readlink /dev/$l)"; done'
	expect_eq "$(tr '\n' ';' <<<"$OUT")" "fd /proc/self/fd;stdin /proc/self/fd/0;stdout /proc/self/fd/1;stderr /proc/self/fd/2;" "symlinks"
}

# runtime-linux: by default only stdin, stdout and stderr are open in the process.
check runtime-linux.file_descriptors "runtime-linux.md#file-descriptors" c_fds
c_fds() {
	new_bundle
	set_script 'cd /proc/self/fd && ls'
	must_create 7>"$CT/leak-7" 9<"$CONFIG"
	must_start
	wait_status stopped || fail "container did not stop"
	# `ls` itself holds one directory fd (3)
	expect_eq "$(tr '\n' ' ' <"$CT/ctr.out")" "0 1 2 3 " "open file descriptors"
}

# Device allowlist (cgroup): c 62:62 is a local/experimental major with no driver:
# opening it gives ENXIO when the cgroup allows it, EPERM when the cgroup denies it.
devcg_check() { # EXPECTED-RESULT RULES-JSON
	new_bundle
	cfg '.linux.devices = [{path: "/dev/mc-62", type: "c", major: 62, minor: 62, fileMode: 438}]'
	cfg --argjson r "$2" '.linux.resources.devices = $r'
	run_out 'head -c1 /dev/mc-62 2>&1 >/dev/null; true'
	case $1 in
	denied) grep -qi 'not permitted' <<<"$OUT" || fail "opening the device was not denied by the cgroup: $OUT" ;;
	allowed) grep -qi 'no such device' <<<"$OUT" || fail "opening the device was not allowed by the cgroup: $OUT" ;;
	esac
}
check config-linux.resources.devices.deny "config-linux.md#allowed-device-list" c_devcg_deny
c_devcg_deny() { devcg_check denied '[{"allow": false, "access": "rwm"}]'; }
check config-linux.resources.devices.allow "config-linux.md#allowed-device-list" c_devcg_allow
c_devcg_allow() { devcg_check allowed '[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 62, "minor": 62, "access": "rwm"}]'; }
check config-linux.resources.devices.order "config-linux.md#allowed-device-list (listed order)" c_devcg_order
c_devcg_order() { devcg_check denied '[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 62, "minor": 62, "access": "rwm"}, {"allow": false, "type": "c", "major": 62, "minor": 62, "access": "rwm"}]'; }

# ----------------------------------------------------------------- cgroups ---

# cgroupsPath: an absolute path is relative to the cgroups mount point.
check config-linux.cgroupsPath.absolute "config-linux.md#cgroups-path" c_cg_path
c_cg_path() {
	new_bundle
	cfg '.linux.resources.memory = {limit: 67108864} | .linux.resources.pids = {limit: 100}'
	set_args sleep 30
	must_create
	local pid want c line
	pid=$(state_field .pid)
	want=/$CG_PARENT/$ID
	if [ "$CGROUP_MODE" = v2 ]; then
		expect_eq "$(grep '^0::' "/proc/$pid/cgroup" | cut -d: -f3)" "$want" "cgroup of the container process"
		grep -qx "$pid" "/sys/fs/cgroup$want/cgroup.procs" || fail "pid $pid not in /sys/fs/cgroup$want/cgroup.procs"
	else
		for c in memory pids devices cpu; do
			line=$(awk -F: -v c="$c" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$pid/cgroup")
			expect_eq "$line" "$want" "$c cgroup of the container process"
			grep -qx "$pid" "/sys/fs/cgroup/$c$want/cgroup.procs" || fail "pid $pid not in /sys/fs/cgroup/$c$want/cgroup.procs"
		done
	fi
}

# cgroupsPath: the same value attaches to the same place again.
check config-linux.cgroupsPath.consistent "config-linux.md#cgroups-path" c_cg_consistent
c_cg_consistent() {
	new_bundle
	cfg --arg p "/$CG_PARENT/$ID-shared" '.linux.cgroupsPath = $p | .linux.resources.pids = {limit: 100}'
	IDS+=("$ID-shared") # the cgroup name to clean up
	set_args true
	run_ctr
	ctr_delete "$ID" || fail "delete failed"
	set_args sleep 30
	must_create
	local pid
	pid=$(state_field .pid)
	grep -q ":/$CG_PARENT/$ID-shared\$" "/proc/$pid/cgroup" || fail "second container not in /$CG_PARENT/$ID-shared: $(cat "/proc/$pid/cgroup")"
}

# resource_check JQ-RESOURCES FILE-V1-CONTROLLER FILE-V1 WANT-V1 FILE-V2 WANT-V2
# create a container with the resources and compare a cgroup file.
resource_check() {
	local res=$1 c1=$2 f1=$3 w1=$4 f2=$5 w2=$6 f want got
	new_bundle
	cfg --argjson r "$res" '.linux.resources += $r'
	set_args sleep 30
	if [ "$CGROUP_MODE" = v2 ]; then
		[ -n "$f2" ] || skip "no cgroup v2 file for this setting"
		f=$(cg_file "" "$f2") want=$w2
	else
		[ -n "$f1" ] || skip "no cgroup v1 file for this setting"
		[ -d "/sys/fs/cgroup/$c1" ] || skip "cgroup v1 controller $c1 is not mounted"
		[ -e "/sys/fs/cgroup/$c1/$f1" ] || [ -e "/sys/fs/cgroup/$c1/$CG_PARENT/$f1" ] ||
			[ -n "$(ls /sys/fs/cgroup/"$c1"/*/"$f1" 2>/dev/null | head -1)" ] || skip "kernel has no $c1/$f1"
		f=$(cg_file "$c1" "$f1") want=$w1
	fi
	must_create
	[ -r "$f" ] || fail "$f does not exist"
	got=$(cat "$f")
	# shellcheck disable=SC2053 # $want may be a glob pattern
	[[ $got == $want ]] || fail "$f is '$(tr '\n' ' ' <<<"$got")', expected '$want'"
}

check config-linux.resources.memory.limit "config-linux.md#memory" c_mem_limit
c_mem_limit() { resource_check '{"memory": {"limit": 67108864}}' memory memory.limit_in_bytes 67108864 memory.max 67108864; }

check config-linux.resources.memory.reservation "config-linux.md#memory" c_mem_res
c_mem_res() { resource_check '{"memory": {"limit": 67108864, "reservation": 33554432}}' memory memory.soft_limit_in_bytes 33554432 memory.low 33554432; }

check config-linux.resources.memory.swap "config-linux.md#memory" c_mem_swap
c_mem_swap() { resource_check '{"memory": {"limit": 67108864, "swap": 134217728}}' memory memory.memsw.limit_in_bytes 134217728 memory.swap.max 67108864; }

check config-linux.resources.memory.swappiness "config-linux.md#memory" c_mem_swappiness
c_mem_swappiness() { resource_check '{"memory": {"swappiness": 17}}' memory memory.swappiness 17 "" ""; }

check config-linux.resources.memory.disableOOMKiller "config-linux.md#memory" c_mem_oom
c_mem_oom() { resource_check '{"memory": {"limit": 67108864, "disableOOMKiller": true}}' memory memory.oom_control '*oom_kill_disable 1*' "" ""; }

check config-linux.resources.cpu.shares "config-linux.md#cpu" c_cpu_shares
c_cpu_shares() { resource_check '{"cpu": {"shares": 512}}' cpu cpu.shares 512 cpu.weight '[0-9]*'; }

check config-linux.resources.cpu.quota_period "config-linux.md#cpu" c_cpu_quota
c_cpu_quota() {
	resource_check '{"cpu": {"quota": 50000, "period": 100000}}' cpu cpu.cfs_quota_us 50000 cpu.max "50000 100000"
	if [ "$CGROUP_MODE" = v1 ]; then
		expect_eq "$(cat "$(cg_file cpu cpu.cfs_period_us)")" 100000 "cpu.cfs_period_us"
	fi
}

check config-linux.resources.cpu.burst "config-linux.md#cpu" c_cpu_burst
c_cpu_burst() { resource_check '{"cpu": {"quota": 50000, "period": 100000, "burst": 10000}}' cpu cpu.cfs_burst_us 10000 cpu.max.burst 10000; }

check config-linux.resources.cpu.idle "config-linux.md#cpu" c_cpu_idle
c_cpu_idle() { resource_check '{"cpu": {"idle": 1}}' cpu cpu.idle 1 cpu.idle 1; }

check config-linux.resources.cpu.cpus "config-linux.md#cpu" c_cpu_cpus
c_cpu_cpus() { resource_check '{"cpu": {"cpus": "0"}}' cpuset cpuset.cpus 0 cpuset.cpus 0; }

check config-linux.resources.cpu.mems "config-linux.md#cpu" c_cpu_mems
c_cpu_mems() { resource_check '{"cpu": {"mems": "0"}}' cpuset cpuset.mems 0 cpuset.mems 0; }

check config-linux.resources.pids.limit "config-linux.md#pids" c_pids
c_pids() { resource_check '{"pids": {"limit": 64}}' pids pids.max 64 pids.max 64; }

# a block device of the host (major:minor), not a loop/ram/zram one
host_block_dev() {
	local d
	for d in /sys/block/*; do
		case ${d##*/} in loop* | ram* | zram* | nbd*) continue ;; esac
		[ -r "$d/dev" ] && cat "$d/dev" && return 0
	done
	return 1
}

check config-linux.resources.blockIO.weight "config-linux.md#block-io" c_blkio_weight
c_blkio_weight() {
	if [ "$CGROUP_MODE" = v1 ]; then
		resource_check '{"blockIO": {"weight": 123}}' blkio blkio.weight 123 "" ""
		return
	fi
	new_bundle
	cfg '.linux.resources.blockIO = {weight: 123}'
	set_args sleep 30
	must_create
	local f
	f=$(cg_file "" io.bfq.weight)
	if [ -e "$f" ]; then
		grep -qw 123 "$f" || fail "$f is '$(tr '\n' ' ' <"$f")', expected weight 123"
	else
		f=$(cg_file "" io.weight)
		[ -e "$f" ] || skip "no io.bfq.weight or io.weight in the container's cgroup (no io controller or weight support)"
		[ "$(cat "$f")" != "default 100" ] || fail "$f still has the default weight 100"
	fi
}

check config-linux.resources.blockIO.throttle "config-linux.md#block-io" c_blkio_throttle
c_blkio_throttle() {
	local dev maj min
	dev=$(host_block_dev) || skip "no block device on the host"
	maj=${dev%:*} min=${dev#*:}
	resource_check "{\"blockIO\": {\"throttleReadBpsDevice\": [{\"major\": $maj, \"minor\": $min, \"rate\": 1048576}]}}" \
		blkio blkio.throttle.read_bps_device "$dev 1048576" io.max "$dev rbps=1048576 *"
}

check config-linux.resources.hugepageLimits "config-linux.md#huge-page-limits" c_hugetlb
c_hugetlb() {
	[ -e /sys/kernel/mm/hugepages/hugepages-2048kB ] || skip "no 2MB huge pages on this kernel"
	if [ "$CGROUP_MODE" = v1 ] && [ ! -d /sys/fs/cgroup/hugetlb ]; then
		skip "hugetlb is not mounted as a cgroup v1 hierarchy on this host"
	fi
	resource_check '{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}' hugetlb hugetlb.2MB.limit_in_bytes 4194304 hugetlb.2MB.max 4194304
}

check config-linux.resources.network "config-linux.md#network" c_netcls
c_netcls() {
	[ "$CGROUP_MODE" = v1 ] || skip "no net_cls/net_prio controllers in cgroup v2"
	[ -d /sys/fs/cgroup/net_cls ] || skip "net_cls is not mounted on this host"
	resource_check '{"network": {"classID": 1048577}}' net_cls net_cls.classid 1048577 "" ""
}

# Unified: each key is written to that cgroup v2 file (unknown keys too).
check config-linux.resources.unified "config-linux.md#unified" c_unified
c_unified() {
	need_cgroup v2
	resource_check '{"unified": {"pids.max": "42"}}' "" "" "" pids.max 42
}

# Unified: a controller that is not present (or cannot be enabled) in a v2 hierarchy is an error.
check config-linux.resources.unified_missing_controller "config-linux.md#unified" c_unified_missing
c_unified_missing() {
	new_bundle
	if [ "$CGROUP_MODE" = v2 ]; then
		cfg '.linux.resources.unified = {"mcbogus.max": "1"}'
		expect_create_error "unified key of a controller that does not exist"
	else
		# on a v1/hybrid host the pids controller is not in the cgroup v2 hierarchy
		grep -qw pids /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null &&
			skip "pids is available in the unified hierarchy of this host"
		cfg '.linux.resources.unified = {"pids.max": "42"}'
		expect_create_error "unified pids.max while pids is not in a cgroup v2 hierarchy"
	fi
}

# ------------------------------------------------------------------ sysctl ---

# Sysctl: kernel parameters set for the container (namespaced ones), host unchanged.
check config-linux.sysctl "config-linux.md#sysctl" c_sysctl
c_sysctl() {
	local host_fwd host_msgmax
	host_fwd=$(cat /proc/sys/net/ipv4/ip_forward)
	host_msgmax=$(cat /proc/sys/kernel/msgmax)
	new_bundle
	cfg '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4321"}'
	run_out 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax'
	expect_eq "$(tr '\n' ' ' <<<"$OUT")" "1 4321 " "sysctl values in the container"
	expect_eq "$(cat /proc/sys/net/ipv4/ip_forward)" "$host_fwd" "host net.ipv4.ip_forward"
	expect_eq "$(cat /proc/sys/kernel/msgmax)" "$host_msgmax" "host kernel.msgmax"
}

# ----------------------------------------------------------------- seccomp ---

check config-linux.seccomp.errno "config-linux.md#seccomp" c_seccomp_errno
c_seccomp_errno() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO"}]}'
	run_out 'mkdir /tmp/d 2>&1; echo "rc=$?"; touch /tmp/f && echo touch-ok'
	grep -q 'Operation not permitted' <<<"$OUT" || fail "mkdir was not refused with EPERM: $OUT"
	grep -qx touch-ok <<<"$OUT" || fail "other syscalls are blocked too: $OUT"
}

check config-linux.seccomp.errnoRet "config-linux.md#seccomp (errnoRet)" c_seccomp_errnoret
c_seccomp_errnoret() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13}]}'
	run_out 'mkdir /tmp/d 2>&1'
	grep -q 'Permission denied' <<<"$OUT" || fail "mkdir did not fail with errnoRet 13 (EACCES): $OUT"
}

check config-linux.seccomp.kill "config-linux.md#seccomp" c_seccomp_kill
c_seccomp_kill() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["sync"], action: "SCMP_ACT_KILL"}]}'
	run_out 'sync; echo "rc=$?"'
	expect_eq "$OUT" "rc=159" "exit status of sync (128 + SIGSYS)"
}

check config-linux.seccomp.args "config-linux.md#seccomp (args)" c_seccomp_args
c_seccomp_args() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [
		{names: ["chmod"], action: "SCMP_ACT_ERRNO", args: [{index: 1, value: 511, op: "SCMP_CMP_EQ"}]},
		{names: ["fchmodat"], action: "SCMP_ACT_ERRNO", args: [{index: 2, value: 511, op: "SCMP_CMP_EQ"}]}]}'
	run_out 'touch /tmp/f; chmod 755 /tmp/f && echo 755-ok; chmod 777 /tmp/f 2>/dev/null || echo 777-denied'
	expect_eq "$(tr '\n' ' ' <<<"$OUT")" "755-ok 777-denied " "chmod results"
}

check config-linux.seccomp.invalid_action "config-linux.md#seccomp; config.md#valid-values" c_seccomp_invalid
c_seccomp_invalid() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["mkdir"], action: "SCMP_ACT_MC_BOGUS"}]}'
	expect_create_or_start_error "invalid seccomp action"
}

# Seccomp errnoRet: with an action that takes no errno, the runtime MUST fail.
check config-linux.seccomp.errnoRet_unsupported_action "config-linux.md#seccomp (errnoRet)" c_seccomp_errnoret_bad
c_seccomp_errnoret_bad() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["mkdir"], action: "SCMP_ACT_KILL", errnoRet: 1}]}'
	expect_create_or_start_error "errnoRet with SCMP_ACT_KILL"
}

# Seccomp defaultErrnoRet: with a defaultAction that takes no errno, the runtime MUST fail.
check config-linux.seccomp.defaultErrnoRet_unsupported_action "config-linux.md#seccomp (defaultErrnoRet)" c_seccomp_deferrnoret_bad
c_seccomp_deferrnoret_bad() {
	new_bundle
	cfg '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: 1, syscalls: [{names: ["mkdir"], action: "SCMP_ACT_ERRNO"}]}'
	expect_create_or_start_error "defaultErrnoRet with defaultAction SCMP_ACT_ALLOW"
}

# Seccomp defaultErrnoRet: the errno of the default action.
check config-linux.seccomp.defaultErrnoRet "config-linux.md#seccomp (defaultErrnoRet)" c_seccomp_deferrnoret
c_seccomp_deferrnoret() {
	local hdr=/usr/include/x86_64-linux-gnu/asm/unistd_64.h
	[ "$(uname -m)" = x86_64 ] && [ -r "$hdr" ] || skip "needs the x86_64 syscall list ($hdr, package linux-libc-dev)"
	new_bundle
	# allow every syscall but mkdir/mkdirat, which get the default action: ERRNO with errno 13
	local names
	names=$(sed -n 's/^#define __NR_\([a-z0-9_]*\) .*/\1/p' "$hdr" | grep -vxE 'mkdir|mkdirat' | jq -R . | jq -sc .)
	cfg --argjson n "$names" '.linux.seccomp = {defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 13,
		syscalls: [{names: $n, action: "SCMP_ACT_ALLOW"}]}'
	run_out 'mkdir /tmp/d 2>&1; echo "rc=$?"'
	grep -q 'Permission denied' <<<"$OUT" || fail "mkdir did not fail with defaultErrnoRet 13 (EACCES): $OUT $ERR"
}

# Seccomp listenerPath: if sending the state to the socket fails, the runtime MUST generate an error.
check config-linux.seccomp.listener_unreachable "config-linux.md#seccomp (listenerPath)" c_seccomp_listener
c_seccomp_listener() {
	new_bundle
	cfg --arg p "$CT/no-such-listener.sock" '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", listenerPath: $p,
		syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY"}]}'
	set_args mkdir /tmp/x
	expect_create_or_start_error "seccomp listener socket does not exist"
}

# ------------------------------------------------------ rootfs propagation ---

root_optional_fields() { # container snippet: optional fields of the / mount
	echo 'awk '"'"'$5 == "/" {l = $0} END {split(l, a, " - "); n = split(a[1], f, " "); s = ""; for (i = 7; i <= n; i++) s = s " " f[i]; print s}'"'"' /proc/self/mountinfo'
}

check config-linux.rootfsPropagation.shared "config-linux.md#rootfs-mount-propagation" c_prop_shared
c_prop_shared() {
	new_bundle
	cfg '.linux.rootfsPropagation = "shared"'
	run_out "$(root_optional_fields)"
	[[ " $OUT " == *" shared:"* ]] || fail "root mount is not shared (optional fields '$OUT')"
}

check config-linux.rootfsPropagation.unbindable "config-linux.md#rootfs-mount-propagation" c_prop_unbindable
c_prop_unbindable() {
	new_bundle
	cfg '.linux.rootfsPropagation = "unbindable"'
	run_out "$(root_optional_fields)"
	[[ " $OUT " == *" unbindable"* ]] || fail "root mount is not unbindable (optional fields '$OUT')"
}

# A bundle inside a shared mount of the host (like a rootfs on a host whose "/"
# is shared), so mounts the host makes below the rootfs can propagate.
shared_parent_bundle() {
	HOST_MOUNTS=()
	mkdir -p "$CT/sp"
	mount --bind "$CT/sp" "$CT/sp" || skip "cannot bind-mount on the host"
	HOST_MOUNTS+=("$CT/sp")
	mount --make-shared "$CT/sp" || { umount_host_mounts; fail "make-shared failed"; }
	new_bundle "" "$CT/sp/bundle"
	mkdir -p "$BUNDLE/rootfs/mnt/late"
}

umount_host_mounts() {
	local i
	for ((i = ${#HOST_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${HOST_MOUNTS[$i]}" 2>/dev/null || umount -l "${HOST_MOUNTS[$i]}"
	done
	HOST_MOUNTS=()
}

prop_event_check() { # PROPAGATION EXPECT(yes|no)
	shared_parent_bundle
	cfg --arg p "$1" '.linux.rootfsPropagation = $p'
	set_script 'read x; grep -c " /mnt/late " /proc/self/mountinfo'
	mkfifo "$CT/in"
	# the container's stdin is a fifo: it reads "go" once the host mount exists
	{
		if rt create --bundle "$BUNDLE" "$ID" <"$CT/in" >"$CT/ctr.out" 2>"$CT/ctr.err"; then
			echo 1 >"$CT/created"
		else
			echo 0 >"$CT/created"
		fi
	} &
	exec 8>"$CT/in"
	wait $!
	[ "$(cat "$CT/created")" = 1 ] || { exec 8>&-; umount_host_mounts; fail "create failed: $(tail -c 300 "$CT/ctr.err")"; }
	ctr_start || { exec 8>&-; umount_host_mounts; fail "start failed"; }
	mount -t tmpfs -o size=64k mc-late "$BUNDLE/rootfs/mnt/late" || { exec 8>&-; umount_host_mounts; fail "host tmpfs mount failed"; }
	HOST_MOUNTS+=("$BUNDLE/rootfs/mnt/late")
	echo go >&8
	exec 8>&-
	wait_status stopped || { umount_host_mounts; fail "container did not stop"; }
	rt delete --force "$ID" >/dev/null 2>&1
	umount_host_mounts
	local n
	n=$(cat "$CT/ctr.out")
	if [ "$2" = yes ]; then
		[ "${n:-0}" -ge 1 ] || fail "host mount made after start did not propagate into the container ($1)"
	else
		[ "${n:-0}" -eq 0 ] || fail "host mount made after start propagated into the container ($1)"
	fi
}

check config-linux.rootfsPropagation.slave "config-linux.md#rootfs-mount-propagation" c_prop_slave
c_prop_slave() { prop_event_check slave yes; }

check config-linux.rootfsPropagation.private "config-linux.md#rootfs-mount-propagation" c_prop_private
c_prop_private() { prop_event_check private no; }

# ---------------------------------------------------- masked / readonly ---

check config-linux.maskedPaths "config-linux.md#masked-paths" c_masked
c_masked() {
	new_bundle
	echo secret >"$BUNDLE/rootfs/mc-masked-file"
	mkdir -p "$BUNDLE/rootfs/mc-masked-dir"
	echo secret >"$BUNDLE/rootfs/mc-masked-dir/f"
	cfg '.linux.maskedPaths += ["/mc-masked-file", "/mc-masked-dir", "/proc/kcore"]'
	run_out 'echo "file:$(cat /mc-masked-file 2>/dev/null)"; echo "dir:$(ls /mc-masked-dir 2>/dev/null)"; echo "kcore:$(head -c 1 /proc/kcore 2>/dev/null | wc -c)"'
	expect_eq "$(tr '\n' ' ' <<<"$OUT")" "file: dir: kcore:0 " "masked paths"
}

check config-linux.readonlyPaths "config-linux.md#readonly-paths" c_readonly
c_readonly() {
	new_bundle
	mkdir -p "$BUNDLE/rootfs/mc-ro-dir"
	echo data >"$BUNDLE/rootfs/mc-ro-dir/f"
	cfg '.linux.readonlyPaths += ["/mc-ro-dir"]'
	run_out 'cat /mc-ro-dir/f; touch /mc-ro-dir/new 2>/dev/null && echo writable || echo read-only
		echo mc >/proc/sys/kernel/hostname 2>/dev/null && echo proc-sys-writable || echo proc-sys-read-only
		touch /tmp/elsewhere && echo rest-writable'
	expect_eq "$(tr '\n' ' ' <<<"$OUT")" "data read-only proc-sys-read-only rest-writable " "readonly paths"
}

check config-linux.mountLabel "config-linux.md#mount-label" c_mount_label
c_mount_label() {
	[ -e /sys/fs/selinux/enforce ] || skip "SELinux is not enabled on this host"
	new_bundle
	cfg '.linux.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2"'
	run_out 'ls -Zd /tmp 2>/dev/null || echo no-ls-Z'
	note "$OUT"
}

# ------------------------------------------------------ personality & co ---

check config-linux.personality "config-linux.md#personality" c_personality
c_personality() {
	[ "$(uname -m)" = x86_64 ] || skip "LINUX32 check written for x86_64 hosts"
	new_bundle
	cfg '.linux.personality = {domain: "LINUX32"}'
	run_out 'uname -m'
	expect_eq "$OUT" i686 "uname -m with personality LINUX32"
}

check config-linux.timeOffsets "config-linux.md#offset-for-time-namespace" c_time_offsets
c_time_offsets() {
	[ -e /proc/self/ns/time ] || skip "kernel has no time namespaces"
	new_bundle
	set_ns time
	cfg '.linux.timeOffsets = {monotonic: {secs: 86400, nanosecs: 0}, boottime: {secs: 3600, nanosecs: 5}}'
	run_out 'cat /proc/self/timens_offsets'
	grep -qE '^monotonic +86400 +0$' <<<"$OUT" || fail "monotonic offset: $(tr '\n' ';' <<<"$OUT")"
	grep -qE '^boottime +3600 +5$' <<<"$OUT" || fail "boottime offset: $(tr '\n' ';' <<<"$OUT")"
}

check config-linux.intelRdt.no_resctrl "config-linux.md#intelrdt" c_rdt
c_rdt() {
	grep -q ' resctrl ' /proc/self/mountinfo && skip "resctrl is mounted on this host"
	new_bundle
	cfg '.linux.intelRdt = {closID: "mc-clos"}'
	expect_create_error "intelRdt set but no resctrl filesystem mounted"
}
