# shellcheck shell=bash
# conformance/engines/docker.sh: Docker (dockerd from Debian's docker.io)
# for conformance/engines/run; sourced by scenarios.sh, whose helpers
# (fail, na, expect_*, in_pty, cg_of, wait_for, same_as_runc, PROBE) it uses.
#
# A private dockerd: its own data root, exec root, pid file, unix socket and
# daemon.json under $WORK/docker, no bridge, no iptables, no IP forwarding
# or masquerading (containers use --network none), its trust key in the work
# dir, cgroups under $CGP/docker. It starts its own containerd (in the exec
# root) and drives the runtimes through containerd's runc shim. Runtimes:
# docker's own `runc` (the `runc` first in dockerd's PATH is a link to the
# reference runc) and `myrt` (the copy under test), registered in
# daemon.json; both keep their state in <exec root>/runtime-runc/moby.
# The image is `docker import`ed from the busybox root tarball.

docker_scenarios="exit-0 exit-3 exit-126 exit-127 env cwd user tty exec exec-tty exec-detach
	top stats pause kill stop stop-paused restart start-again rm rm-paused wait logs memory cpu
	pids update init pid-ipc-share host-ns cgroupns
	privileged privileged-all-caps cap-drop no-new-privs seccomp-default seccomp-unconfined
	seccomp-custom seccomp-probe read-only volume rlimit sysctl oom-score-adj devices masked-paths parallel
	same-default same-user same-privileged same-exec"

engine_env_docker() {
	DD=$WORK/docker
	DSOCK=$DD/docker.sock
	# Debian's client, not another `docker` earlier in the PATH
	DOCKER=(/usr/bin/docker -H "unix://$DSOCK")
	export DOCKER_CONFIG=$DD/client
	DIMG=localhost/myrt-bb:latest
	DO=(--network none)
	# the runtimes' state root (dockerd 20.10 passes this --root to every runtime)
	DSTATE=$DD/exec/runtime-runc/moby
}
D() { timeout -k 5 "$T" "${DOCKER[@]}" "$@"; }

engine_version_docker() { dockerd --version | awk '{print "dockerd", $3}' | tr -d ,; }

# Capability names by number (for the bounding-set adapter below).
CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
	LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
	SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
	SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
	MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
	CHECKPOINT_RESTORE)
# the capabilities this process's bounding set lacks, as a JSON array of CAP_ names
missing_bounding_caps() {
	local bnd i out=()
	bnd=$((16#$(awk '/^CapBnd/ { print $2 }' /proc/self/status)))
	for i in "${!CAP_NAMES[@]}"; do
		[ $(((bnd >> i) & 1)) -eq 1 ] || out+=("\"CAP_${CAP_NAMES[$i]}\"")
	done
	local IFS=,
	echo "[${out[*]}]"
}

# The host-caps adapter: docker 20.10's --privileged asks for every
# capability it knows, and a host whose bounding set lacks one (CI's has no
# CAP_SYS_RESOURCE) cannot grant it: runc and myrt both fail capset. The
# runtimes `runc-hostcaps` and `myrt-hostcaps` take those capabilities out
# of the bundle's config.json at create, then exec the runtime, so that the
# rest of Docker's privileged config is tested (and the same for the
# process.json of an exec). Used only by the
# privileged scenarios; `privileged-all-caps` shows the plain failure.
write_hostcaps_adapter() { # NAME RUNTIME
	cat >"$DD/bin/$1" <<-EOF
		#!/bin/bash
		m='$(missing_bounding_caps)'
		drop() { # FILE JQ-PATH
		  jq --argjson m "\$m" "if \$2 then \$2 |= map_values(map(select(. as \\\$c | \\\$m | index(\\\$c) | not))) else . end" "\$1" >"\$1.hc" &&
		    mv -f "\$1.hc" "\$1" || exit 1
		}
		prev=
		for a in "\$@"; do
		  case \$prev in
		  --bundle) drop "\$a/config.json" .process.capabilities ;;
		  --process) drop "\$a" .capabilities ;;
		  esac
		  prev=\$a
		done
		exec $2 "\$@"
	EOF
	chmod 755 "$DD/bin/$1"
}

engine_setup_docker() {
	engine_env_docker
	mkdir -p "$DD/bin" "$DD/path" "$DD/client" "$DD/data" "$DD/exec"
	# docker's built-in `runc` runtime is `runc` from dockerd's PATH
	ln -sf "${RT_PATH[runc]}" "$DD/path/runc"
	write_hostcaps_adapter runc-hostcaps "${RT_PATH[runc]}"
	write_hostcaps_adapter myrt-hostcaps "${RT_PATH[myrt]}"
	jq -n --arg myrt "${RT_PATH[myrt]}" --arg bin "$DD/bin" --arg key "$DD/key.json" '{
	  runtimes: {
	    myrt: {path: $myrt},
	    "runc-hostcaps": {path: ($bin + "/runc-hostcaps")},
	    "myrt-hostcaps": {path: ($bin + "/myrt-hostcaps")}
	  },
	  "deprecated-key-path": $key
	}' >"$DD/daemon.json"
	# /run/docker/plugins is made by every dockerd; remove it at the end
	# only if it was not there before
	[ -e /run/docker ] || touch "$DD/made-run-docker"
	# storage: overlay2 where it works (ext4, xfs), else vfs
	local sd=overlay2
	case $(stat -f -c %T "$DD/data") in
	ext2/ext3 | xfs) ;;
	*) sd=vfs ;;
	esac
	PATH=$DD/path:$PATH dockerd --config-file "$DD/daemon.json" --data-root "$DD/data" \
		--exec-root "$DD/exec" --pidfile "$DD/dockerd.pid" -H "unix://$DSOCK" \
		--bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
		--cgroup-parent "$CGP/docker" --storage-driver "$sd" >"$DD/dockerd.log" 2>&1 </dev/null &
	DOCKERD_PID=$!
	echo "$DOCKERD_PID" >"$DD/pid"
	wait_for "${DOCKER[@]}" version || { tail -30 "$DD/dockerd.log"; echo "dockerd did not start"; return 1; }
	D import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$WORK/bb.tar" "$DIMG" >/dev/null || return 1
	D info --format '{{.Driver}} {{.CgroupDriver}} {{range $k, $v := .Runtimes}}{{$k}} {{end}}'
}

engine_teardown_docker() {
	local c i
	[ -n "${DOCKERD_PID:-}" ] || return 0
	engine_env_docker
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		for c in $(D ps -aq 2>/dev/null); do D rm -f "$c" >/dev/null; done
		kill "$DOCKERD_PID"
		for i in $(seq 75); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$DOCKERD_PID" 2>/dev/null
	fi
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=
	if [ -e "$DD/made-run-docker" ]; then
		rmdir /run/docker/plugins /run/docker 2>/dev/null
		rm -f "$DD/made-run-docker"
	fi
	return 0
}

# What a removed container may leave: runtime state, cgroups, mounts
# (the overlay root, shm, the network namespace; netns/default is
# dockerd's own, for --network host). Scenarios run one at a
# time, so anything there after the scenario's containers were removed
# is theirs.
docker_leftovers() {
	local out='' d i
	for i in $(seq 15); do
		out=''
		for d in "$DSTATE"/*; do
			[ -e "$d" ] && out+=" state $d"
		done
		for d in /sys/fs/cgroup/*/"${CGP#/}"/docker/*/; do
			[ -d "$d" ] && out+=" cgroup ${d%/}"
		done
		out+=$(awk -v d="$DD" 'index($5, d "/data/overlay2/") == 1 && $5 ~ /\/merged$/ || index($5, d "/data/containers/") == 1 || index($5, d "/exec/netns/") == 1 && $5 !~ /\/default$/ { printf " mount %s", $5 }' /proc/self/mountinfo)
		[ -z "$out" ] && return 0
		sleep 0.2
	done
	echo "$out"
}

scenario_cleanup_docker() {
	local rc=$? c d left
	trap - EXIT
	for c in $(D ps -a --format '{{.Names}}' 2>/dev/null | grep -E "^$N(-|\$)"); do
		D rm -f "$c" >/dev/null 2>&1
	done
	left=$(docker_leftovers)
	if [ -n "$left" ]; then # clean up after the runtime
		for d in "$DSTATE"/*; do
			[ -e "$d" ] || continue
			"$RT" --root "$DSTATE" delete --force "${d##*/}" >/dev/null 2>&1
			rm -rf "$d"
		done
		for d in /sys/fs/cgroup/*/"${CGP#/}"/docker/*/; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		[ $rc -eq 0 ] && fail "left behind after removal:$left"
	fi
	exit $rc
}

# The runtime of a container is docker's name for the runtime of this pass
# (runc or myrt), or DRT if set (the privileged scenarios' adapters).
# docker run in the foreground, removed afterwards: drun NAME [options] -- ARGS
drun() {
	local n=$1 o=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do o+=("$1"); shift; done
	shift
	D run --rm --name "$n" --runtime "${DRT:-$RTN}" "${DO[@]}" "${o[@]}" "$DIMG" "$@"
}
# detached: dstart NAME [options] -- ARGS; waits until running
dstart() {
	local n=$1 o=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do o+=("$1"); shift; done
	shift
	D run -d --name "$n" --runtime "${DRT:-$RTN}" "${DO[@]}" "${o[@]}" "$DIMG" "$@" >/dev/null || fail "docker run -d $n failed"
	wait_for dis "$n" running || fail "$n not running: $(D inspect -f '{{.State.Status}} {{.State.Error}}' "$n")"
}
dis() { [ "$(D inspect -f '{{.State.Status}}' "$1")" = "$2" ]; }
dinspect_is() { [ "$(D inspect -f "$2" "$1")" = "$3" ]; } # NAME FORMAT VALUE
dpid() { D inspect -f '{{.State.Pid}}' "$1"; }

docker_exit-0() {
	out=$(drun "$N" -- sh -c 'echo hello'); rc=$?
	expect_eq "$rc $out" "0 hello" "exit status and output"
}
docker_exit-3() {
	drun "$N" -- sh -c 'exit 3'
	expect_eq $? 3 "exit status"
}
docker_exit-126() {
	out=$(drun "$N" -- /etc/passwd 2>&1); rc=$?
	expect_eq "$rc" 126 "exit status of a non-executable command ($out)"
	expect_match "$out" "*permission denied*" "error message"
}
docker_exit-127() {
	out=$(drun "$N" -- nosuchcmd 2>&1); rc=$?
	expect_eq "$rc" 127 "exit status of a missing command ($out)"
	expect_match "$out" '*executable file not found in $PATH*' "error message"
}
docker_env() {
	out=$(drun "$N" -e FOO=bar --hostname h1 -- sh -c 'echo "$FOO:$PATH:$HOME:$HOSTNAME"'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "bar:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root:h1" "env"
}
docker_cwd() {
	out=$(drun "$N" -w /tmp/new -- pwd); rc=$?
	expect_eq "$rc $out" "0 /tmp/new" "exit status, cwd (made by -w)"
}
docker_user() {
	out=$(drun "$N" --user 1000:1000 -- sh -c 'id -u; id -g; id -G; echo $HOME; touch /tmp/u && stat -c %u:%g /tmp/u'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "1000 1000 1000 /home/user 1000:1000" "uid gid groups HOME, owner of a new file"
}
docker_tty() {
	out=$(in_pty "${DOCKER[@]}" run --rm -it --name "$N" --runtime "$RTN" "${DO[@]}" "$DIMG" sh -c 'tty; exit 7'); rc=$?
	expect_eq "$rc" 7 "exit status"
	expect_match "$out" "*/dev/pts/0*" "tty"
}
docker_exec() {
	dstart "$N" -e FOO=bar -- sleep 300
	out=$(D exec -e A=b "$N" sh -c 'echo "$A:$FOO"; exit 4'); rc=$?
	expect_eq "$rc $out" "4 b:bar" "exec exit status and env"
	out=$(D exec -u 1000:1000 -w /tmp "$N" sh -c 'id -u; id -g; pwd'); rc=$?
	expect_eq "$rc $(echo $out)" "0 1000 1000 /tmp" "exec -u -w"
	out=$(D exec "$N" nosuchcmd 2>&1); rc=$?
	expect_eq "$rc" 126 "exec of a missing command ($out)"
	expect_match "$out" '*executable file not found in $PATH*' "error message"
}
docker_exec-tty() {
	dstart "$N" -- sleep 300
	out=$(in_pty "${DOCKER[@]}" exec -it "$N" sh -c 'tty; exit 6'); rc=$?
	expect_eq "$rc" 6 "exec exit status"
	expect_match "$out" "*/dev/pts/*" "tty"
}
docker_exec-detach() {
	dstart "$N" -- sleep 300
	D exec -d "$N" sh -c 'echo detached >/tmp/x; exec sleep 301' || fail "exec -d failed"
	wait_for D exec "$N" grep -q detached /tmp/x || fail "detached exec did not run"
	out=$(D exec "$N" sh -c 'cat /proc/[0-9]*/comm | sort | tr "\n" " "')
	expect_match "$out" "*sleep sleep *" "init and the detached exec's process"
}
docker_top() {
	dstart "$N" -- sleep 300
	pid=$(dpid "$N")
	out=$(D top "$N" -o pid,comm | awk 'NR > 1 { print $1, $2 }'); rc=$?
	expect_eq "$rc" 0 "docker top (the runtime's ps)"
	expect_eq "$out" "$pid sleep" "processes"
	D ps --format '{{.Names}}' | grep -qx "$N" || fail "not listed by docker ps"
}
docker_stats() {
	dstart "$N" --memory 64m -- sleep 300
	out=$(D stats --no-stream --format '{{.PIDs}} {{.MemUsage}}' "$N"); rc=$?
	expect_eq "$rc" 0 "docker stats"
	expect_match "$out" "1 [1-9]*B / 64MiB" "pids and memory"
}
docker_pause() {
	dstart "$N" -- sleep 300
	pid=$(dpid "$N")
	D pause "$N" >/dev/null || fail "pause failed"
	dis "$N" paused || fail "status after pause: $(D inspect -f '{{.State.Status}}' "$N")"
	expect_eq "$(cat "$(cg_of "$pid" freezer)/freezer.state")" FROZEN "freezer.state"
	D unpause "$N" >/dev/null || fail "unpause failed"
	dis "$N" running || fail "status after unpause"
	expect_eq "$(cat "$(cg_of "$pid" freezer)/freezer.state")" THAWED "freezer.state"
	expect_eq "$(D exec "$N" echo alive)" alive "exec after unpause"
}
docker_kill() {
	dstart "$N" -- sh -c 'trap "exit 5" USR1; while :; do sleep 0.1; done'
	D kill -s USR1 "$N" >/dev/null || fail "kill -s USR1 failed"
	expect_eq "$(D wait "$N")" 5 "exit code after the trapped signal"
	dstart "$N-2" -- sleep 300
	D kill "$N-2" >/dev/null || fail "kill failed"
	expect_eq "$(D wait "$N-2")" 137 "exit code after SIGKILL"
}
docker_stop() {
	dstart "$N" -- sh -c 'trap "exit 5" TERM; while :; do sleep 0.1; done'
	D stop -t 10 "$N" >/dev/null || fail "stop failed"
	expect_eq "$(D inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$N")" "exited 5" "state after stop (SIGTERM handled)"
	dstart "$N-2" -- sleep 300
	D stop -t 1 "$N-2" >/dev/null || fail "stop of a SIGTERM-ignoring pid 1 failed"
	expect_eq "$(D inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$N-2")" "exited 137" "state after stop (SIGKILL)"
	D rm "$N" "$N-2" >/dev/null || fail "rm of stopped containers failed"
}
docker_stop-paused() {
	dstart "$N" -- sleep 300
	pid=$(dpid "$N")
	D pause "$N" >/dev/null || fail "pause failed"
	D stop -t 1 "$N" >/dev/null || fail "stop of a paused container failed"
	expect_eq "$(D inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$N")" "exited 137" "state after stop"
	wait_for test ! -e "/proc/$pid" || fail "the paused init $pid still exists"
	dstart "$N-2" -- sleep 300
	D pause "$N-2" >/dev/null || fail "pause failed"
	D kill "$N-2" >/dev/null || fail "kill of a paused container failed"
	wait_for dinspect_is "$N-2" '{{.State.Status}} {{.State.ExitCode}}' "exited 137" || fail "not exited 137 after kill"
}
docker_start-again() {
	# the same container (same id: the runtime's state and cgroup are made again)
	D create --name "$N" --runtime "$RTN" "${DO[@]}" "$DIMG" sh -c 'echo started; exit 4' >/dev/null || fail "create failed"
	out=$(D start -a "$N"); rc=$?
	expect_eq "$rc $out" "4 started" "first start -a: exit status and output"
	out=$(D start -a "$N"); rc=$?
	expect_eq "$rc $out" "4 started" "second start -a: exit status and output"
}
docker_restart() {
	dstart "$N" -- sleep 300
	pid1=$(dpid "$N")
	D restart -t 1 "$N" >/dev/null || fail "restart failed"
	wait_for dis "$N" running || fail "not running after restart"
	pid2=$(dpid "$N")
	[ "$pid1" != "$pid2" ] || fail "same pid after restart"
	# --restart: the daemon starts the container again after it exits
	D run -d --name "$N-2" --runtime "$RTN" "${DO[@]}" --restart on-failure:2 "$DIMG" sh -c 'exit 3' >/dev/null || fail "run --restart failed"
	wait_for dinspect_is "$N-2" '{{.RestartCount}} {{.State.Status}}' "2 exited" ||
		fail "restart count and status: $(D inspect -f '{{.RestartCount}} {{.State.Status}}' "$N-2")"
	expect_eq "$(D inspect -f '{{.State.ExitCode}}' "$N-2")" 3 "exit code"
}
docker_rm() {
	dstart "$N" -- sleep 300
	D rm -f "$N" >/dev/null || fail "rm -f failed"
	left=$(docker_leftovers)
	[ -z "$left" ] || fail "left behind after rm -f:$left"
	D create --name "$N-2" --runtime "$RTN" "${DO[@]}" "$DIMG" true >/dev/null || fail "create failed"
	D rm "$N-2" >/dev/null || fail "rm of a created container failed"
}
docker_rm-paused() {
	dstart "$N" -- sleep 300
	pid=$(dpid "$N")
	D exec -d "$N" sleep 301 || fail "exec -d failed"
	D pause "$N" >/dev/null || fail "pause failed"
	D rm -f "$N" >/dev/null || fail "rm -f of a paused container failed"
	wait_for test ! -e "/proc/$pid" || fail "the paused init $pid still exists"
}
docker_wait() {
	D run -d --name "$N" --runtime "$RTN" "${DO[@]}" "$DIMG" sh -c 'sleep 0.5; exit 42' >/dev/null || fail "run -d failed"
	out=$(D wait "$N"); rc=$?
	expect_eq "$rc $out" "0 42" "docker wait: its status and the exit code"
	expect_eq "$(D inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}' "$N")" "exited 42 false" "state"
}
docker_logs() {
	D run -d --name "$N" --runtime "$RTN" "${DO[@]}" "$DIMG" sh -c 'echo out; echo err >&2; exit 2' >/dev/null || fail "run -d failed"
	expect_eq "$(D wait "$N")" 2 "exit code"
	out=$(D logs "$N" 2>/dev/null); rc=$?
	expect_eq "$rc $out" "0 out" "docker logs: stdout"
	out=$(D logs "$N" 2>&1 >/dev/null)
	expect_eq "$out" err "docker logs: stderr"
}
docker_memory() {
	dstart "$N" --memory 64m -- sleep 300
	pid=$(dpid "$N")
	d=$(cg_of "$pid" memory)
	expect_eq "$(cat "$d/memory.limit_in_bytes")" 67108864 "memory.limit_in_bytes"
	[ "$d" = "/sys/fs/cgroup/memory$CGP/docker/$(D inspect -f '{{.Id}}' "$N")" ] || fail "memory cgroup $d is not under --cgroup-parent"
}
docker_cpu() {
	dstart "$N" --cpus 0.5 --cpu-shares 512 --cpuset-cpus 0 -- sleep 300
	pid=$(dpid "$N")
	d=$(cg_of "$pid" cpu)
	expect_eq "$(cat "$d/cpu.cfs_quota_us") $(cat "$d/cpu.cfs_period_us") $(cat "$d/cpu.shares")" "50000 100000 512" "cfs quota, period, shares"
	expect_eq "$(cat "$(cg_of "$pid" cpuset)/cpuset.cpus")" 0 "cpuset.cpus"
}
docker_pids() {
	dstart "$N" --pids-limit 20 -- sleep 300
	pid=$(dpid "$N")
	expect_eq "$(cat "$(cg_of "$pid" pids)/pids.max")" 20 "pids.max"
	out=$(D exec "$N" sh -c 'for i in $(seq 25); do sleep 5 & done 2>&1; kill $(jobs -p) 2>/dev/null' 2>&1)
	expect_match "$out" "*fork*" "fork beyond the limit fails"
}
docker_update() {
	dstart "$N" --memory 64m --cpus 0.5 -- sleep 300
	pid=$(dpid "$N")
	D update --memory 96m --memory-swap 192m --cpus 1 --pids-limit 30 "$N" >/dev/null || fail "docker update failed"
	expect_eq "$(cat "$(cg_of "$pid" memory)/memory.limit_in_bytes")" 100663296 "memory.limit_in_bytes after update"
	expect_eq "$(cat "$(cg_of "$pid" cpu)/cpu.cfs_quota_us")" 100000 "cfs quota after update"
	expect_eq "$(cat "$(cg_of "$pid" pids)/pids.max")" 30 "pids.max after update"
	dis "$N" running || fail "not running after update"
}
docker_init() {
	out=$(drun "$N" --init -- sh -c 'cat /proc/1/comm; echo $$'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$(echo $out)" "docker-init [0-9]*" "pid 1 is docker-init (tini)"
	[ "${out##*$'\n'}" != 1 ] || fail "the command is pid 1"
	dstart "$N-2" --init -- sleep 300
	D stop -t 5 "$N-2" >/dev/null || fail "stop failed"
	# tini passes SIGTERM on to sleep, which dies of it: 143, not a SIGKILL
	expect_eq "$(D inspect -f '{{.State.ExitCode}}' "$N-2")" 143 "exit code after stop through tini"
}
docker_pid-ipc-share() {
	dstart "$N" --ipc shareable -- sleep 300
	pid=$(dpid "$N")
	out=$(drun "$N-2" --pid "container:$N" --ipc "container:$N" -- sh -c 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; cat /proc/1/comm'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "$(readlink "/proc/$pid/ns/pid") $(readlink "/proc/$pid/ns/ipc") sleep" "pid and ipc namespaces of the first container, its pid 1"
	out=$(D run --rm --name "$N-3" --runtime "$RTN" --network "container:$N" "$DIMG" readlink /proc/self/ns/net 2>/dev/null)
	expect_eq "$out" "$(readlink "/proc/$pid/ns/net")" "network namespace of the first container"
}
docker_host-ns() {
	out=$(D run --rm --name "$N" --runtime "$RTN" --network host --pid host --ipc host --uts host "$DIMG" \
		sh -c 'for n in net pid ipc uts; do readlink /proc/self/ns/$n; done'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "$(for n in net pid ipc uts; do readlink /proc/$$/ns/$n; done | tr '\n' ' ' | sed 's/ $//')" "host namespaces"
}
docker_cgroupns() {
	out=$(drun "$N" --cgroupns private -- sh -c 'grep -c ":/$" /proc/self/cgroup; wc -l </proc/self/cgroup'); rc=$?
	expect_eq "$rc" 0 "exit status"
	set -- $out
	expect_eq "$1" "$2" "cgroup paths at the namespace root (lines ending in :/ of all)"
	out=$(drun "$N-2" --cgroupns host -- grep :memory: /proc/self/cgroup)
	expect_match "$out" "*:memory:$CGP/docker/*" "memory cgroup seen with --cgroupns host"
}
# --privileged, through the host-caps adapter (write_hostcaps_adapter)
docker_privileged() {
	DRT=$RTN-hostcaps
	out=$(drun "$N" --privileged -- sh -c 'grep -E "^(CapEff|Seccomp):" /proc/self/status | tr -d "\t"
		ls /dev/loop-control >/dev/null && head -c 1 /dev/zero | od -An -tx1 | tr -d " "
		mkdir /m && mount -t tmpfs none /m && echo mounted
		echo 1 >/proc/sys/kernel/domainname && echo proc-sys-rw
		grep -c " /proc/keys " /proc/self/mountinfo; true'); rc=$?
	expect_eq "$rc" 0 "exit status ($out)"
	expect_match "$(echo $out)" "CapEff:* Seccomp:0 00 mounted proc-sys-rw 0" "no seccomp, host devices, mount, rw /proc/sys, nothing masked"
	# the capabilities: docker's full list less what the adapter took out, as runc has them
	echo "$out" | head -1 >"$WORK/out-$N"
	same_as_runc "CapEff of a privileged container" "$WORK/out-$N"
	out=$(in_pty "${DOCKER[@]}" run --rm -it --privileged --name "$N-tty" --runtime "$DRT" "${DO[@]}" "$DIMG" sh -c 'tty; exit 3'); rc=$?
	expect_eq "$rc" 3 "exit status of a privileged container with a terminal ($out)"
	dstart "$N-2" --privileged -- sleep 300
	out=$(D exec "$N-2" awk '/^CapEff/ { print $2 }' /proc/self/status)
	expect_eq "CapEff:$out" "$(head -1 "$WORK/out-$N")" "CapEff of an exec"
}
# --privileged as docker 20.10 writes it: every capability it knows; on a
# host whose bounding set lacks one, the runtime must refuse (runc does)
docker_privileged-all-caps() {
	[ "$(missing_bounding_caps)" != "[]" ] || na "this host's bounding set has every capability"
	out=$(drun "$N" --privileged -- true 2>&1); rc=$?
	[ $rc -ne 0 ] || fail "a capability outside the bounding set was granted"
	expect_match "$out" "*[Oo]peration not permitted*" "error message"
}
docker_cap-drop() {
	out=$(drun "$N" --cap-drop ALL --cap-add NET_ADMIN -- awk '/^Cap(Eff|Prm|Bnd|Inh|Amb)/ { print $2 }' /proc/self/status); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "0000000000000000 0000000000001000 0000000000001000 0000000000001000 0000000000000000" "CapInh Prm Eff Bnd Amb with --cap-drop ALL --cap-add NET_ADMIN"
	out=$(drun "$N-2" --cap-drop CHOWN -- sh -c 'chown 1 /tmp 2>/dev/null; echo $?')
	expect_eq "$out" 1 "chown without CAP_CHOWN"
}
docker_no-new-privs() {
	out=$(drun "$N" --security-opt no-new-privileges -- awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)
	expect_eq "$out" 1 "NoNewPrivs with no-new-privileges"
	out=$(drun "$N-2" -- awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)
	expect_eq "$out" 0 "NoNewPrivs by default"
}
docker_seccomp-default() {
	# Docker's default profile: mode 2, unshare (no CAP_SYS_ADMIN) refused with EPERM
	out=$(drun "$N" -- sh -c 'awk '\''/^Seccomp:/ { print $2 }'\'' /proc/self/status; unshare -U true 2>&1; echo rc=$?'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$(echo $out)" "2 *Operation not permitted* rc=1" "seccomp mode, unshare refused"
	dstart "$N-2" -- sleep 300
	out=$(D exec "$N-2" sh -c 'awk '\''/^Seccomp:/ { print $2 }'\'' /proc/self/status; unshare -U true 2>&1; echo rc=$?')
	expect_match "$(echo $out)" "2 *Operation not permitted* rc=1" "seccomp of an exec"
}
docker_seccomp-unconfined() {
	out=$(drun "$N" --security-opt seccomp=unconfined -- sh -c 'awk '\''/^Seccomp:/ { print $2 }'\'' /proc/self/status; unshare -U true; echo rc=$?'); rc=$?
	expect_eq "$rc $(echo $out)" "0 0 rc=0" "exit status, seccomp mode, unshare allowed"
}
docker_seccomp-custom() {
	echo "$SECCOMP_DENY_MKDIR" >"$WORK/seccomp-$N.json"
	out=$(drun "$N" --security-opt "seccomp=$WORK/seccomp-$N.json" -- sh -c 'mkdir /tmp/d 2>&1; echo rc=$?'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*Operation not permitted*rc=1" "mkdir under a profile denying it"
}
# System calls under Docker's default profile, made by a static C program
# (built here with cc): errno rules (clone3 gets ENOSYS), argument rules
# (personality, clone's namespace flags), the default action for an
# unknown number, and 32-bit (int 0x80) and x32 calls. What runc's filter
# answers, myrt's must answer too: for run and for exec.
SECCOMP_PROBE_C='#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void p(const char *n, long r) { printf("%s %ld %d\n", n, r < 0 ? -1L : 0L, r < 0 ? errno : 0); errno = 0; }
/* a 32-bit x86 system call through int 0x80 (ia32 emulation) */
static long sys32(long nr, long a) {
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory");
	if (r < 0 && r > -4096) {
		errno = -r;
		return -1;
	}
	return r;
}
int main(void) {
	p("clone3", syscall(435, NULL, 0));
	long c = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
	if (c == 0)
		_exit(0);
	if (c > 0)
		c = waitpid(c, NULL, 0) > 0 ? 0 : -1;
	p("clone-newns", c);
	p("personality-query", syscall(SYS_personality, 0xffffffffUL));
	p("keyctl", syscall(SYS_keyctl, 0, -3, 0));
	p("add_key", syscall(SYS_add_key, "user", "x", "y", 1, -3));
	p("syslog", syscall(SYS_syslog, 10, NULL, 0));
	p("bpf", syscall(SYS_bpf, 0, NULL, 0));
	p("userfaultfd", syscall(SYS_userfaultfd, 0));
	p("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	p("unknown-1000", syscall(1000));
	p("getpid", syscall(SYS_getpid) > 0 ? 0 : -1);
	p("i386-getpid", sys32(20, 0) > 0 ? 0 : -1);
	p("i386-unshare", sys32(310, 0x10000000));
	p("i386-1000", sys32(1000, 0));
	p("x32-getpid", syscall(0x40000000 | 39) > 0 ? 0 : -1);
	p("x32-1000", syscall(0x40000000 | 1000));
	p("unshare-user", syscall(SYS_unshare, CLONE_NEWUSER));
	return 0;
}'
docker_seccomp-probe() {
	local b=$WORK/seccomp-probe
	command -v cc >/dev/null || na "no C compiler for the probe"
	if [ ! -x "$b/probe" ]; then
		mkdir -p "$b"
		printf '%s\n' "$SECCOMP_PROBE_C" >"$b/probe.c"
		cc -static -O -o "$b/probe" "$b/probe.c" || fail "cc probe.c"
	fi
	drun "$N" -v "$b:/probe:ro" -- /probe/probe >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	grep -qx "clone3 -1 38" "$WORK/out-$N" || fail "clone3 not ENOSYS: $(tr '\n' '|' <"$WORK/out-$N")"
	dstart "$N-2" -v "$b:/probe:ro" -- sleep 300
	D exec "$N-2" /probe/probe >>"$WORK/out-$N" 2>&1 || fail "probe in exec failed"
	same_as_runc "system calls under Docker's default profile (run, then exec)" "$WORK/out-$N"
}
docker_read-only() {
	# a tmpfs without mode= keeps the mode of the image's directory (/run:
	# 755), as runc does it
	out=$(drun "$N" --read-only --tmpfs /run --tmpfs /scratch:mode=700 -- sh -c 'touch /x 2>&1; echo rc=$?; touch /run/y && echo run-ok
		stat -c %a /run /scratch; grep -E " /(scratch|run) " /proc/mounts | cut -d" " -f1-3 | sort'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "touch: /x: Read-only file system rc=1 run-ok 755 700 tmpfs /run tmpfs tmpfs /scratch tmpfs" "write to /, --tmpfs /run, mode="
	expect_match "$(drun "$N-2" --tmpfs /scratch:size=1m -- grep " /scratch " /proc/mounts)" "*size=1024k*" "size="
}
docker_volume() {
	mkdir -p "$WORK/vol-$N" && echo fromhost >"$WORK/vol-$N/in"
	out=$(drun "$N" -v "$WORK/vol-$N:/data" -- sh -c 'cat /data/in; echo fromct >/data/out'); rc=$?
	expect_eq "$rc $out" "0 fromhost" "exit status, read through the bind mount"
	expect_eq "$(cat "$WORK/vol-$N/out")" fromct "write through the bind mount"
	out=$(drun "$N-ro" -v "$WORK/vol-$N:/data:ro" -- sh -c 'echo x >/data/out 2>/dev/null; echo $?; cat /data/in')
	expect_eq "$(echo $out)" "1 fromhost" "write to and read from a :ro volume"
	drun "$N-v1" -v "$N-vol:/v" -- sh -c 'echo kept >/v/f' || fail "named volume write failed"
	expect_eq "$(drun "$N-v2" -v "$N-vol:/v" -- cat /v/f)" kept "named volume content"
	D volume rm -f "$N-vol" >/dev/null
}
docker_rlimit() {
	out=$(drun "$N" --ulimit nofile=1000:2000 --ulimit nproc=500:1000 -- sh -c 'ulimit -n; ulimit -Hn; ulimit -u'); rc=$?
	expect_eq "$rc $(echo $out)" "0 1000 2000 500" "RLIMIT_NOFILE soft and hard, RLIMIT_NPROC soft"
}
docker_sysctl() {
	host=$(cat /proc/sys/net/ipv4/ip_forward)
	out=$(drun "$N" --sysctl net.ipv4.ip_forward=1 --sysctl kernel.msgmax=12345 -- sh -c 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax'); rc=$?
	expect_eq "$rc $(echo $out)" "0 1 12345" "exit status, net.ipv4.ip_forward (own network namespace), kernel.msgmax"
	expect_eq "$(cat /proc/sys/net/ipv4/ip_forward)" "$host" "the host's ip_forward unchanged"
}
docker_oom-score-adj() {
	out=$(drun "$N" --oom-score-adj 123 -- cat /proc/self/oom_score_adj); rc=$?
	expect_eq "$rc $out" "0 123" "exit status and oom_score_adj"
}
docker_devices() {
	out=$(drun "$N" --device /dev/null:/dev/xnull --device /dev/loop-control:/dev/myloop:r -- sh -c 'echo x >/dev/xnull && echo xnull-ok
		stat -c "%t:%T" /dev/xnull /dev/myloop
		(: </dev/myloop) && echo r-ok
		(: >/dev/myloop) 2>/dev/null; echo w=$?
		mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda >/dev/null 2>&1; echo rc=$?'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "xnull-ok 1:3 a:ed r-ok w=1 rc=1" "added devices (rw; r only), a denied block device"
}
docker_masked-paths() {
	out=$(drun "$N" -- sh -c 'awk '\''$5 == "/proc/keys" || $5 == "/sys/firmware" || $5 == "/proc/asound" { print $5 }'\'' /proc/self/mountinfo | sort | tr "\n" " "
		head -c 1 /proc/keys | wc -c; echo 1 >/proc/sys/kernel/domainname 2>/dev/null; echo rc=$?; ls /sys/firmware | wc -l'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$(echo $out)" "*/proc/keys /sys/firmware 0 rc=1 0" "masked /proc/keys and /sys/firmware, read-only /proc/sys"
}
docker_parallel() { run_parallel drun --; }
docker_same-default() {
	drun "$N" --hostname same -- sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a default docker container sees" "$WORK/out-$N"
}
docker_same-user() {
	drun "$N" --hostname same --user 1000:1000 --group-add 5 --cap-add NET_ADMIN -- sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a --user 1000 --cap-add container sees" "$WORK/out-$N"
}
docker_same-privileged() {
	DRT=$RTN-hostcaps
	drun "$N" --hostname same --privileged -- sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a --privileged docker container sees" "$WORK/out-$N"
}
docker_same-exec() {
	dstart "$N" --hostname same -- sleep 300
	D exec --user 1000 "$N" sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a docker exec --user 1000 process sees" "$WORK/out-$N"
}
