# shellcheck shell=bash
# conformance/engines/scenarios.sh: the engines (set-up, tear-down) and the
# scenarios run by conformance/engines/run. Sourced by `run` and by each
# scenario process (a `bash -c` of its own, with a time limit).
#
# A scenario is a function ENGINE_NAME (e.g. podman_exit-3). It runs with:
#   RT   the runtime binary of this pass (runc or the copy of myrt)
#   RTN  runc | myrt
#   N    a name prefix unique to this scenario and pass; containers are
#        named $N or $N-something, and the EXIT trap removes all of them and
#        fails the scenario if the runtime left state or cgroups behind.
# It ends with `fail REASON`, `na REASON` (the engine cannot express it) or
# status 0 (pass). Every engine call has a time limit ($T seconds).

podman_scenarios="exit-0 exit-3 exit-126 exit-127 env tty exec exec-tty exec-detach ps
	pause stats kill stop restart rm read-only tmpfs volume user cap-drop
	no-new-privs seccomp-default seccomp-custom privileged userns pid-share ipc-share
	memory cpu pids update cwd-hostname rlimit sysctl devices logs host-ns init-process cgroupns
	oom-score-adj masked-paths cap-add shm-size rootfs-dir net-share pod rm-paused
	exec-opts preserve-fds annotations hooks parallel stdin sdnotify same-default same-user
	same-privileged same-exec"
containerd_scenarios="exit-0 exit-3 exit-126 exit-127 env tty exec exec-tty exec-detach ps
	pause metrics kill restart rm read-only tmpfs volume user cap-drop
	no-new-privs seccomp-default seccomp-custom privileged userns pid-share ipc-share
	memory cpu pids update no-pivot cwd devices host-ns kill-all rootfs-dir rm-paused
	annotations parallel same-default same-privileged same-exec"

scenario_names() { # ENGINE
	local v=${1}_scenarios
	echo ${!v}
}

# --------------------------------------------------------------- results ---

fail() {
	printf '%s\n' "$*" >"$REASONF"
	echo "FAIL: $*" >&2
	exit 1
}
na() {
	printf '%s\n' "$*" >"$REASONF"
	exit 77
}
expect_eq() { # ACTUAL EXPECTED WHAT
	[ "$1" = "$2" ] || fail "$3: got '$(printf %s "$1" | head -c 200 | tr '\n' '|')', expected '$2'"
}
expect_match() { # TEXT GLOB WHAT
	# shellcheck disable=SC2053
	[[ $1 == $2 ]] || fail "$3: got '$(printf %s "$1" | head -c 200 | tr '\n' '|')', expected $2"
}
# run a command in a pseudo-terminal (made by `script`); prints its output
# without carriage returns and returns its exit status.
in_pty() {
	local cmd rc
	cmd=$(printf '%q ' "$@")
	timeout -k 5 "$T" script -qefc "$cmd" /dev/null </dev/null >"$WORK/pty.$N" 2>&1
	rc=$?
	tr -d '\r\0' <"$WORK/pty.$N"
	rm -f "$WORK/pty.$N"
	return $rc
}
# the cgroup directory of PID in the v1 hierarchy CONTROLLER (the checks of
# cgroup files are written for cgroup v1, the layout of CI's hosts)
cg_of() { # PID CONTROLLER
	local p
	[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ] || na "checks cgroup v1 files; this host is cgroup v2"
	p=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
	[ -n "$p" ] || fail "no $2 cgroup for pid $1"
	echo "/sys/fs/cgroup/$2$p"
}
# wait until COMMAND succeeds (up to 10 s)
wait_for() {
	local i
	for i in $(seq 50); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
# leftovers of a removed container: state dir and cgroup dirs
leftovers() { # STATE-DIR CGROUP-PATH
	local out='' d i
	for i in $(seq 15); do
		out=''
		[ -e "$1" ] && out+=" state $1"
		for d in /sys/fs/cgroup/*/"${2#/}"; do
			[ -d "$d" ] && out+=" cgroup $d"
		done
		[ -z "$out" ] && return 0
		sleep 0.2
	done
	echo "$out"
}
# What a process sees of its container, normalised (no ids, pids, dates or
# overlay paths): the same-* scenarios record it with runc and compare
# myrt's with it.
PROBE='grep -E "^(Cap|NoNewPrivs|Seccomp:|Uid|Gid|Groups|Umask)" /proc/self/status
id; hostname; ulimit -a; env | sort
ls -ln /dev | awk "NR > 1 { print \$1, \$3, \$4, \$5, \$6, \$NF }"
stat -c "%a %u %g %F %n" / /tmp /dev /dev/shm /dev/pts /dev/mqueue /proc /sys /etc/hosts /etc/resolv.conf /etc/hostname 2>&1
awk "{ for (i = 7; \$i != \"-\"; i++); fs = \$(i + 1); o = \$(i + 3); if (fs == \"overlay\") o = \"-\"; print \$5, \$6, fs, o }" /proc/self/mountinfo | sort
cat /proc/self/oom_score_adj; cat /proc/self/loginuid 2>/dev/null; echo'
# Accepted differences from runc, by design (docs/engines.md), taken out of
# both outputs before they are compared:
# - a masked file is a bind of the host's /dev/null, checked to be the null
#   device (runc binds the container's, which the container can replace):
#   its mountinfo line says devtmpfs; a masked directory's read-only tmpfs
#   says size=0k. Only "masked" is kept, so a path not masked still differs.
# - the tmpfs at /sys/fs/cgroup is read-only when the mount asks for ro
#   (runc 1.1 leaves the tmpfs itself writable; both make the
#   hierarchies in it read-only).
# - on a hybrid host the container also gets its own cgroup of the unified
#   hierarchy at /sys/fs/cgroup/unified (runc 1.1 mounts only v1 ones).
SAME_ACCEPTED='s#^(/proc/(acpi|kcore|keys|latency_stats|timer_list|timer_stats|sched_debug|scsi)|/sys/firmware|/sys/dev/block) .*#\1 masked#
s#^/sys/fs/cgroup r[ow],#/sys/fs/cgroup r?,#
\#^/sys/fs/cgroup/unified #d'
# same_as_runc WHAT OUTPUT-FILE: record (runc) or compare (myrt)
same_as_runc() {
	local ref=$WORK/same-$SC.runc
	sed -E -i "$SAME_ACCEPTED" "$2"
	if [ "$RTN" = runc ]; then
		cp "$2" "$ref"
		return 0
	fi
	[ -f "$ref" ] || fail "no output recorded with runc"
	diff "$ref" "$2" >"$2.diff" && return 0
	fail "$1 differs from runc's (< runc, > myrt): $(grep '^[<>]' "$2.diff" | head -8 | tr '\n' '|')"
}
SECCOMP_DENY_MKDIR='{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}'

# ============================================================ containerd ===

# Six containers at once: `RUNNER NAME-i ARGS... sh -c "exit i"` for
# i = 1..6 in the background; each must exit with its own status.
run_parallel() { # RUNNER ARGS-BEFORE-THE-COMMAND...
	local runner=$1 i pids=() rc=0
	shift
	for i in 1 2 3 4 5 6; do
		"$runner" "$N-$i" "$@" sh -c "exit $i" &
		pids+=($!)
	done
	for i in 1 2 3 4 5 6; do
		wait "${pids[$((i - 1))]}"
		rc=$?
		[ $rc -eq "$i" ] || fail "container $i of 6 run at once: exit status $rc, expected $i"
	done
}

engine_env_containerd() {
	CD=$WORK/containerd
	SOCK=$CD/containerd.sock
	NS=myrt-engines-$UNIQ
	CIMG=localhost/myrt-bb:latest
	CTR=(ctr --address "$SOCK" -n "$NS")
	# --cgroup is per container: crun_opts NAME
	CRR=("$WORK/runc-root")
}
C() { timeout -k 5 "$T" "${CTR[@]}" "$@"; }
# run options for container NAME (runtime, state root, cgroup, fifo dir)
copts() { echo --runc-binary "$RT" --runc-root "${CRR[0]}" --cgroup "$CGP/ctr/$1" --fifo-dir "$CD/fifo"; }

engine_version_containerd() { containerd --version | awk '{print $1, $3}'; }

engine_setup_containerd() {
	engine_env_containerd
	mkdir -p "$CD/fifo" "${CRR[0]}"
	cat >"$CD/config.toml" <<-EOF
		version = 2
		root = "$CD/root"
		state = "$CD/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
		  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
		  "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$SOCK"
		[ttrpc]
		  address = "$SOCK.ttrpc"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$CD/opt"
	EOF
	# pathbin first: `runc` from the PATH is the runtime of the current pass
	PATH=$WORK/pathbin:$PATH containerd --config "$CD/config.toml" >"$CD/containerd.log" 2>&1 </dev/null &
	CTRD_PID=$!
	echo "$CTRD_PID" >"$CD/pid"
	wait_for ctr --address "$SOCK" version || { cat "$CD/containerd.log"; echo "containerd did not start"; return 1; }
	podman_image_archive || return 1
	C images import "$WORK/bb-oci.tar" || return 1
	C images ls -q | grep -qx "$CIMG" || { echo "image $CIMG not imported"; return 1; }
}

engine_teardown_containerd() {
	local c i
	[ -n "${CTRD_PID:-}" ] || return 0
	engine_env_containerd
	if kill -0 "$CTRD_PID" 2>/dev/null; then
		for c in $(C task ls -q 2>/dev/null); do
			C task kill -a -s SIGKILL "$c"
			C task rm -f "$c"
		done
		for c in $(C containers ls -q 2>/dev/null); do C containers rm "$c"; done
		C images rm "$CIMG" >/dev/null
		kill "$CTRD_PID"
		for i in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$CTRD_PID" 2>/dev/null
	fi
	wait "$CTRD_PID" 2>/dev/null
	CTRD_PID=
	rmdir "/run/containerd/runc/$NS" 2>/dev/null
	return 0
}

scenario_cleanup_containerd() {
	local rc=$? c d left=''
	trap - EXIT
	for c in $(C containers ls -q 2>/dev/null | grep -E "^$N(-|\$)"); do
		C task kill -a -s SIGKILL "$c" >/dev/null 2>&1
		C task rm -f "$c" >/dev/null 2>&1
		C containers rm "$c" >/dev/null 2>&1
	done
	# every container of this scenario, removed or not: its state (in the
	# --runc-root, or the default root of runc from the PATH) and cgroup
	for d in "${CRR[0]}/$NS/$N" "${CRR[0]}/$NS/$N"-* "/run/containerd/runc/$NS/$N" "/run/containerd/runc/$NS/$N"-* \
		"/sys/fs/cgroup/memory$CGP/ctr/$N" "/sys/fs/cgroup/memory$CGP/ctr/$N"-*; do
		[ -e "$d" ] || continue
		c=${d##*/}
		left+=$(leftovers "${CRR[0]}/$NS/$c" "$CGP/ctr/$c")
		left+=$(leftovers "/run/containerd/runc/$NS/$c" "$CGP/ctr/$c")
		if [ -n "$left" ]; then # clean up after the runtime
			"$RT" --root "${CRR[0]}/$NS" delete --force "$c" >/dev/null 2>&1
			"$RT" --root "/run/containerd/runc/$NS" delete --force "$c" >/dev/null 2>&1
			rm -rf "${CRR[0]}/$NS/$c" "/run/containerd/runc/$NS/$c"
		fi
	done
	if [ -n "$left" ] && [ $rc -eq 0 ]; then
		fail "left behind after removal:$left"
	fi
	exit $rc
}

# ctr run in the foreground, removed afterwards: crun NAME [ctr-run-options] -- ARGS
crun() {
	local n=$1 o=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do o+=("$1"); shift; done
	shift
	# shellcheck disable=SC2046
	C run --rm $(copts "$n") "${o[@]}" "$CIMG" "$n" "$@"
}
# detached: cstart NAME [options] -- ARGS; waits until RUNNING
cstart() {
	local n=$1 o=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do o+=("$1"); shift; done
	shift
	# shellcheck disable=SC2046
	C run -d $(copts "$n") "${o[@]}" "$CIMG" "$n" "$@" || fail "ctr run -d $n failed"
	wait_for ctask_is "$n" RUNNING || fail "$n not RUNNING: $(C task ls)"
}
ctask_status() { C task ls | awk -v n="$1" '$1 == n { print $3 }'; }
ctask_pid() { C task ls | awk -v n="$1" '$1 == n { print $2 }'; }
ctask_is() { [ "$(ctask_status "$1")" = "$2" ]; }

containerd_exit-0() {
	out=$(crun "$N" -- sh -c 'echo hello') ; rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" hello "output"
}
containerd_exit-3() {
	crun "$N" -- sh -c 'exit 3'
	expect_eq $? 3 "exit status"
}
containerd_exit-126() {
	out=$(crun "$N" -- /etc/passwd 2>&1); rc=$?
	[ $rc -ne 0 ] || fail "ctr run of a non-executable file succeeded"
	expect_match "$out" "*permission denied*" "error message"
}
containerd_exit-127() {
	out=$(crun "$N" -- nosuchcmd 2>&1); rc=$?
	[ $rc -ne 0 ] || fail "ctr run of a missing command succeeded"
	expect_match "$out" '*executable file not found in $PATH*' "error message"
}
containerd_env() {
	out=$(crun "$N" --env FOO=bar -- sh -c 'echo "$FOO:$PATH:$HOME"'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "bar:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root" "env"
}
containerd_tty() {
	# shellcheck disable=SC2046
	out=$(in_pty "${CTR[@]}" run --rm -t $(copts "$N") "$CIMG" "$N" sh -c 'tty; exit 7'); rc=$?
	expect_eq "$rc" 7 "exit status"
	expect_match "$out" "*/dev/pts/*" "tty"
}
containerd_exec() {
	cstart "$N" --env FOO=bar -- sleep 300
	out=$(C task exec --exec-id e1 --fifo-dir "$CD/fifo" "$N" sh -c 'echo "$FOO"; exit 4'); rc=$?
	expect_eq "$rc" 4 "exec exit status"
	expect_eq "$out" bar "exec output (env of the container)"
}
containerd_exec-tty() {
	cstart "$N" -- sleep 300
	out=$(in_pty "${CTR[@]}" task exec -t --exec-id e1 --fifo-dir "$CD/fifo" "$N" sh -c 'tty; exit 6'); rc=$?
	expect_eq "$rc" 6 "exec exit status"
	expect_match "$out" "*/dev/pts/*" "tty"
}
containerd_exec-detach() {
	cstart "$N" -- sleep 300
	C task exec -d --exec-id e1 --fifo-dir "$CD/fifo" "$N" sh -c 'echo detached >/tmp/x; sleep 300' || fail "exec -d failed"
	wait_for C task exec --exec-id e2 --fifo-dir "$CD/fifo" "$N" grep -q detached /tmp/x || fail "detached exec did not run"
	out=$(C task ps "$N" | awk 'NR > 1' | wc -l)
	expect_eq "$out" 2 "processes in the container (init + detached exec)"
}
containerd_ps() {
	cstart "$N" -- sleep 300
	pid=$(ctask_pid "$N")
	out=$(C task ps "$N" | awk 'NR > 1 { print $1 }' | tr '\n' ' '); rc=$?
	expect_eq "$rc" 0 "ctr task ps"
	expect_eq "$out" "$pid " "pids"
}
containerd_pause() {
	cstart "$N" -- sleep 300
	pid=$(ctask_pid "$N")
	C task pause "$N" || fail "pause failed"
	expect_eq "$(ctask_status "$N")" PAUSED "status after pause"
	expect_eq "$(cat "$(cg_of "$pid" freezer)/freezer.state")" FROZEN "freezer.state"
	C task resume "$N" || fail "resume failed"
	expect_eq "$(ctask_status "$N")" RUNNING "status after resume"
	expect_eq "$(cat "$(cg_of "$pid" freezer)/freezer.state")" THAWED "freezer.state"
}
containerd_metrics() {
	cstart "$N" -- sleep 300
	out=$(C task metrics --format json "$N"); rc=$?
	expect_eq "$rc" 0 "ctr task metrics"
	v=$(jq -r '.data.memory.usage.usage // .memory.usage.usage // empty' <<<"$out" 2>/dev/null)
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "no memory usage in metrics: $(head -c 200 <<<"$out")"
	v=$(jq -r '.data.pids.current // .pids.current // empty' <<<"$out" 2>/dev/null)
	expect_eq "$v" 1 "pids.current"
}
containerd_kill() {
	# in the foreground (ctr run returns the exit status), killed from outside
	crun "$N" -- sh -c 'trap "exit 5" TERM; while :; do sleep 0.1; done' &
	fg=$!
	wait_for ctask_is "$N" RUNNING || fail "not RUNNING: $(C task ls)"
	C task kill "$N" || fail "kill (SIGTERM) failed"
	wait "$fg"
	expect_eq $? 5 "exit status of ctr run (the SIGTERM trap's)"
	cstart "$N-2" -- sleep 300
	C task kill -s SIGKILL "$N-2" || fail "kill -s SIGKILL failed"
	wait_for ctask_is "$N-2" STOPPED || fail "not STOPPED after SIGKILL"
}
containerd_restart() {
	cstart "$N" -- sleep 300
	pid1=$(ctask_pid "$N")
	C task kill -s SIGKILL "$N"
	wait_for ctask_is "$N" STOPPED || fail "not STOPPED"
	C task rm "$N" >/dev/null || fail "task rm failed"
	# a new task in the same container: same id, state and cgroup reused
	C task start -d --fifo-dir "$CD/fifo" "$N" || fail "task start of the same container failed"
	wait_for ctask_is "$N" RUNNING || fail "not RUNNING after restart"
	pid2=$(ctask_pid "$N")
	[ "$pid1" != "$pid2" ] || fail "same pid after restart"
}
containerd_rm() {
	cstart "$N" -- sleep 300
	C task rm -f "$N" || fail "task rm -f of a running task failed"
	left=$(leftovers "${CRR[0]}/$NS/$N" "$CGP/ctr/$N")
	[ -z "$left" ] || fail "left behind after task rm -f:$left"
	C containers rm "$N" || fail "container rm failed"
}
containerd_read-only() {
	out=$(crun "$N" --read-only -- sh -c 'touch /x 2>&1; echo rc=$?; awk '\''$2 == "/" { print $4 }'\'' /proc/mounts | cut -d, -f1'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*Read-only file system*rc=1*ro" "write to / and its mount options"
}
containerd_tmpfs() {
	out=$(crun "$N" --mount type=tmpfs,src=tmpfs,dst=/scratch,options=nosuid:size=1m:mode=1777 -- sh -c 'touch /scratch/f && awk '\''$2 == "/scratch" { print $1, $3 }'\'' /proc/mounts && stat -c %a /scratch'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "tmpfs tmpfs
1777" "tmpfs mount and mode"
}
containerd_volume() {
	mkdir -p "$WORK/vol-$N" && echo fromhost >"$WORK/vol-$N/in"
	out=$(crun "$N" --mount "type=bind,src=$WORK/vol-$N,dst=/data,options=rbind:rw" -- sh -c 'cat /data/in; echo fromct >/data/out'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" fromhost "read through the bind mount"
	expect_eq "$(cat "$WORK/vol-$N/out")" fromct "write through the bind mount"
	out=$(crun "$N-ro" --mount "type=bind,src=$WORK/vol-$N,dst=/data,options=rbind:ro" -- sh -c 'echo x >/data/out 2>/dev/null; echo $?')
	expect_eq "$out" 1 "write to a read-only bind mount"
}
containerd_user() {
	# ctr run has no --user; exec has
	cstart "$N" -- sleep 300
	out=$(C task exec --user 1000 --exec-id e1 --fifo-dir "$CD/fifo" "$N" id -u); rc=$?
	expect_eq "$rc" 0 "exec --user exit status"
	expect_eq "$out" 1000 "uid"
}
containerd_cap-drop() {
	out=$(crun "$N" --cap-drop CAP_CHOWN -- sh -c 'chown 1 /tmp 2>/dev/null; echo $?; grep CapEff /proc/self/status'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "1*CapEff:*" "chown without CAP_CHOWN"
	eff=$(crun "$N-all" -- grep CapEff /proc/self/status)
	[ "${out#*CapEff:}" != "${eff#*CapEff:}" ] || fail "CapEff unchanged by --cap-drop"
}
containerd_no-new-privs() {
	out=$(crun "$N" -- awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)
	expect_eq "$out" 1 "NoNewPrivs (ctr default)"
	out=$(crun "$N-2" --allow-new-privs -- awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)
	expect_eq "$out" 0 "NoNewPrivs with --allow-new-privs"
}
containerd_seccomp-default() {
	out=$(crun "$N" --seccomp -- sh -c 'awk '\''/^Seccomp:/ { print $2 }'\'' /proc/self/status; echo ok'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "2
ok" "seccomp mode under containerd's default profile"
}
containerd_seccomp-custom() {
	echo "$SECCOMP_DENY_MKDIR" >"$WORK/seccomp-$N.json"
	out=$(crun "$N" --seccomp --seccomp-profile "$WORK/seccomp-$N.json" -- sh -c 'mkdir /tmp/d 2>&1; echo rc=$?'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*Operation not permitted*rc=1" "mkdir under a profile denying it"
}
containerd_privileged() {
	out=$(crun "$N" --privileged -- sh -c 'test -c /dev/ptmx -o -L /dev/ptmx && grep CapEff /proc/self/status'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "$(grep CapEff /proc/self/status)" "CapEff (all of the host's)"
}
containerd_userns() {
	out=$(crun "$N" --uidmap 0:200000:65536 --gidmap 0:200000:65536 -- sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "0 200000 65536 0 200000 65536 0" "uid_map, gid_map, uid"
	grep -q create "$WORK/pathbin/calls" || fail "runc from containerd's PATH was not called"
	cstart "$N-2" --uidmap 0:200000:65536 --gidmap 0:200000:65536 -- sleep 300
	out=$(C task exec --exec-id e1 --fifo-dir "$CD/fifo" "$N-2" cat /proc/self/uid_map | awk '{print $1, $2, $3}')
	expect_eq "$out" "0 200000 65536" "uid_map of exec"
}
containerd_pid-share() {
	cstart "$N" -- sleep 300
	pid=$(ctask_pid "$N")
	out=$(crun "$N-2" --with-ns "pid:/proc/$pid/ns/pid" -- ps -o comm); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*sleep*" "the first container's process, seen from the second"
}
containerd_ipc-share() {
	cstart "$N" -- sleep 300
	pid=$(ctask_pid "$N")
	out=$(crun "$N-2" --with-ns "ipc:/proc/$pid/ns/ipc" -- readlink /proc/self/ns/ipc); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "$(readlink "/proc/$pid/ns/ipc")" "ipc namespace"
}
containerd_memory() {
	cstart "$N" --memory-limit 67108864 -- sleep 300
	pid=$(ctask_pid "$N")
	expect_eq "$(cat "$(cg_of "$pid" memory)/memory.limit_in_bytes")" 67108864 "memory.limit_in_bytes"
}
containerd_cpu() {
	cstart "$N" --cpus 0.5 -- sleep 300
	pid=$(ctask_pid "$N")
	d=$(cg_of "$pid" cpu)
	expect_eq "$(cat "$d/cpu.cfs_quota_us") $(cat "$d/cpu.cfs_period_us")" "50000 100000" "cfs quota and period"
}
containerd_pids() { na "ctr run (1.6) has no pids limit option"; }
containerd_update() { na "ctr (1.6) has no task update"; }
containerd_no-pivot() {
	out=$(crun "$N" --no-pivot -- sh -c 'echo in; ls /bin/busybox'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "in
/bin/busybox" "output"
	grep -q create "$WORK/pathbin/calls" || fail "runc from containerd's PATH was not called"
	grep -q -- --no-pivot "$WORK/pathbin/calls" || fail "the runtime was not called with --no-pivot"
}
containerd_cwd() {
	out=$(crun "$N" --cwd /tmp -- pwd); rc=$?
	expect_eq "$rc $out" "0 /tmp" "exit status and cwd"
}
containerd_devices() {
	# default devices work; a node made in the container is refused by the
	# device cgroup; --device adds one
	out=$(crun "$N" --device /dev/loop-control -- sh -c 'echo x >/dev/null && head -c 1 /dev/urandom >/dev/null && echo defaults-ok
		mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda >/dev/null 2>&1; echo rc=$?; test -c /dev/loop-control && echo added-ok'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "defaults-ok rc=1 added-ok" "default devices, a denied block device, an added device"
}
containerd_host-ns() {
	out=$(crun "$N" --net-host -- readlink /proc/self/ns/net); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "$(readlink /proc/$$/ns/net)" "network namespace with --net-host"
}
containerd_kill-all() {
	cstart "$N" -- sleep 300
	pid=$(ctask_pid "$N")
	cg=$(cg_of "$pid" pids)
	C task exec -d --exec-id e1 --fifo-dir "$CD/fifo" "$N" sleep 301 || fail "exec -d failed"
	wait_for test "$(wc -l <"$cg/cgroup.procs")" -ge 2 || fail "exec process not in the cgroup"
	C task kill -a -s SIGKILL "$N" || fail "kill --all failed"
	wait_for ctask_is "$N" STOPPED || fail "not STOPPED after kill --all"
	wait_for test ! -s "$cg/cgroup.procs" || fail "processes left in the cgroup: $(cat "$cg/cgroup.procs")"
}
containerd_rootfs-dir() {
	cp -a "$WORK/rootfs" "$WORK/rootfs-$N"
	# shellcheck disable=SC2046
	out=$(C run --rm $(copts "$N") --rootfs --env PATH=/bin "$WORK/rootfs-$N" "$N" sh -c 'echo from-dir; touch /new'); rc=$?
	expect_eq "$rc $out" "0 from-dir" "exit status and output"
	[ -e "$WORK/rootfs-$N/new" ] || fail "write to / did not reach the directory"
}
containerd_rm-paused() {
	cstart "$N" -- sleep 300
	pid=$(ctask_pid "$N")
	C task exec -d --exec-id e1 --fifo-dir "$CD/fifo" "$N" sleep 301 || fail "exec -d failed"
	C task pause "$N" || fail "pause failed"
	C task rm -f "$N" || fail "task rm -f of a paused task failed"
	wait_for test ! -e "/proc/$pid" || fail "the paused init $pid still exists"
	left=$(leftovers "${CRR[0]}/$NS/$N" "$CGP/ctr/$N")
	[ -z "$left" ] || fail "left behind after task rm -f:$left"
}
containerd_annotations() {
	# 3 x 100 KiB of annotations in config.json (each argument < 128 KiB)
	big=$(head -c 102400 /dev/zero | tr '\0' a)
	out=$(crun "$N" --annotation "a1=$big" --annotation "a2=$big" --annotation "a3=$big" -- echo ok); rc=$?
	expect_eq "$rc $out" "0 ok" "exit status and output with 300 KiB of annotations"
}
containerd_parallel() { run_parallel crun --; }
containerd_same-default() {
	crun "$N" -- sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a default ctr container sees" "$WORK/out-$N"
}
containerd_same-privileged() {
	crun "$N" --privileged -- sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a --privileged ctr container sees" "$WORK/out-$N"
}
containerd_same-exec() {
	cstart "$N" -- sleep 300
	C task exec --exec-id e1 --fifo-dir "$CD/fifo" "$N" sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a ctr exec process sees" "$WORK/out-$N"
}

# ================================================================ podman ===

engine_env_podman() {
	PD=$WORK/podman
	export CONTAINERS_CONF=$PD/containers.conf CONTAINERS_STORAGE_CONF=$PD/storage.conf
	PODMAN=(podman --root "$PD/root" --runroot "$PD/runroot" --tmpdir "$PD/tmp" --storage-driver overlay
		--cgroup-manager cgroupfs --events-backend file --runtime "${RT:-runc}")
	PO=(--network none --cgroup-parent "$CGP/podman" --pull never)
	IMG=localhost/myrt-bb:latest
	# runtime state root: conmon passes no --root, so each runtime's default
	case ${RTN:-} in
	myrt) PSTATE=/run/myrt ;;
	*) PSTATE=/run/runc ;;
	esac
}
P() { timeout -k 5 "$T" "${PODMAN[@]}" "$@"; }

engine_version_podman() { echo "podman $(podman --version | awk '{print $3}'), conmon $(conmon --version | awk 'NR == 1 {print $3}')"; }

podman_init() { # private configuration and the image (idempotent)
	local hn np
	engine_env_podman
	[ -f "$PD/ready" ] && return 0
	mkdir -p "$PD/tmp" "$PD/networks"
	hn=$(ulimit -Hn)
	np=$(ulimit -Hu)
	[ "$np" = unlimited ] || [ "$np" -gt 32768 ] && np=32768
	[ "$hn" = unlimited ] || [ "$hn" -gt 1048576 ] && hn=1048576
	cat >"$PD/containers.conf" <<-EOF
		[containers]
		# clamped: this host has no CAP_SYS_RESOURCE to raise hard limits
		default_ulimits = ["nofile=$hn:$hn", "nproc=$np:$np"]
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$PD/events.log"
		volume_path = "$PD/volumes"
		image_copy_tmp_dir = "$PD/tmp"
		runtime_supports_json = ["myrt", "crun", "runc", "kata", "runsc", "youki", "krun"]
		[network]
		network_config_dir = "$PD/networks"
	EOF
	cat >"$PD/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		graphroot = "$PD/root"
		runroot = "$PD/runroot"
	EOF
	P import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$WORK/bb.tar" "$IMG" >/dev/null || return 1
	touch "$PD/ready"
}
# the image as an OCI archive, for containerd
podman_image_archive() {
	[ -f "$WORK/bb-oci.tar" ] && return 0
	podman_init || return 1
	P save --format oci-archive -o "$WORK/bb-oci.tar" "$IMG"
}

engine_setup_podman() { podman_init; }

engine_teardown_podman() {
	[ -f "$WORK/podman/ready" ] || return 0
	engine_env_podman
	P rm -a -f -t 0 >/dev/null
	P rmi -a -f >/dev/null
	rm -f "$PD/ready"
	return 0
}

podman_ids() { # IDs of every container of this scenario, from the event log
	[ -f "$PD/events.log" ] || return 0
	jq -r --arg n "$N" 'select(.Type == "container" and (.Name // "" | . == $n or startswith($n + "-"))) | .ID' "$PD/events.log" 2>/dev/null | sort -u
}

scenario_cleanup_podman() {
	local rc=$? c id left=''
	trap - EXIT
	for c in $(P pod ps --format '{{.Name}}' 2>/dev/null | grep -E "^$N(-|\$)"); do
		P pod rm -f -t 0 "$c" >/dev/null 2>&1
	done
	for c in $(P ps -a --format '{{.Names}}' 2>/dev/null | grep -E "^$N(-|\$)"); do
		P rm -f -t 0 "$c" >/dev/null 2>&1
	done
	for id in $(podman_ids); do
		c=$(leftovers "$PSTATE/$id" "$CGP/podman/libpod-$id")
		if [ -n "$c" ]; then # clean up after the runtime
			left+=$c
			"$RT" delete --force "$id" >/dev/null 2>&1
			rm -rf "${PSTATE:?}/$id"
		fi
	done
	if [ -n "$left" ] && [ $rc -eq 0 ]; then
		fail "left behind after removal:$left"
	fi
	exit $rc
}

# podman run in the foreground, removed afterwards
prun() { local n=$1; shift; P run --rm --name "$n" "${PO[@]}" "$@"; }
# detached; waits until running
pstart() {
	local n=$1
	shift
	P run -d --name "$n" "${PO[@]}" "$@" >/dev/null || fail "podman run -d $n failed"
	wait_for pis "$n" running || fail "$n not running: $(P inspect -f '{{.State.Status}}' "$n")"
}
pis() { [ "$(P inspect -f '{{.State.Status}}' "$1")" = "$2" ]; }
ppid() { P inspect -f '{{.State.Pid}}' "$1"; }

# --sdnotify=container (a systemd Type=notify unit of `podman run`): podman
# 4.3 proxies by itself (its own socket bind-mounted at /run/notify and
# NOTIFY_SOCKET in the config); the runtime must keep both as given. The
# container's READY=1 reaches the caller's socket, with MAINPID=<conmon>.
# (The runtime's own proxy is tested in tests/notify.rs.)
podman_sdnotify() {
	command -v cc >/dev/null || na "no C compiler for the in-container sd_notify sender"
	local d=$WORK/sdnotify.$N pid got
	mkdir -p "$d"
	cc -static -Os -o "$d/sd-notify" "$ENG_DIR/../../tests/helpers/sd_notify.c" || fail "cc sd_notify.c"
	# Every datagram until READY=1 and one more second (runc sends MAINPID
	# in a datagram of its own); podman sends MAINPID=<conmon> first.
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(float(sys.argv[3]))
open(sys.argv[1] + ".ready", "w").close()
got = b""
try:
    while True:
        got += s.recv(512) + b"\n"
        if b"READY=1" in got:
            s.settimeout(1)
except socket.timeout:
    pass
open(sys.argv[2], "wb").write(got)
' "$d/host.sock" "$d/got" "$T" &
	wait_for test -e "$d/host.sock.ready" || fail "notify listener did not start"
	NOTIFY_SOCKET=$d/host.sock timeout -k 5 "$T" "${PODMAN[@]}" run -d --name "$N" "${PO[@]}" \
		--sdnotify=container -v "$d/sd-notify:/sd-notify:ro" "$IMG" \
		sh -c 'sleep 1; /sd-notify READY=1; exec sleep 300' >/dev/null || fail "podman run --sdnotify=container failed"
	wait
	got=$(tr -s '\n' ' ' <"$d/got" 2>/dev/null)
	# podman names conmon as the main process.
	pid=$(P inspect -f '{{.State.ConmonPid}}' "$N")
	expect_match "$got" "*READY=1*" "messages on NOTIFY_SOCKET"
	expect_match "$got" "*MAINPID=$pid *" "MAINPID (conmon)"
}

podman_exit-0() {
	out=$(prun "$N" "$IMG" sh -c 'echo hello'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" hello "output"
}
podman_exit-3() {
	prun "$N" "$IMG" sh -c 'exit 3'
	expect_eq $? 3 "exit status"
}
podman_exit-126() {
	out=$(prun "$N" "$IMG" /etc/passwd 2>&1); rc=$?
	expect_eq "$rc" 126 "exit status of a non-executable command ($out)"
	expect_match "$out" "*permission denied*" "error message"
}
podman_exit-127() {
	out=$(prun "$N" "$IMG" nosuchcmd 2>&1); rc=$?
	expect_eq "$rc" 127 "exit status of a missing command ($out)"
	expect_match "$out" '*executable file not found in $PATH*' "error message"
}
podman_env() {
	out=$(prun "$N" -e FOO=bar "$IMG" sh -c 'echo "$FOO:$PATH:$HOME"'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "bar:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root" "env"
}
podman_tty() {
	# conmon 2.1.6 can lose the pty output of a process that exits at once
	# (seen with runc and with myrt, about 1 run in 8): the short sleep lets it
	# drain the master before the slave side hangs up.
	out=$(in_pty "${PODMAN[@]}" run --rm -it --name "$N" "${PO[@]}" "$IMG" sh -c 'tty; sleep 0.3; exit 7'); rc=$?
	expect_eq "$rc" 7 "exit status"
	expect_match "$out" "*/dev/pts/*" "tty"
}
podman_exec() {
	pstart "$N" -e FOO=bar "$IMG" sleep 300
	out=$(P exec -e A=b "$N" sh -c 'echo "$A:$FOO"; exit 4'); rc=$?
	expect_eq "$rc" 4 "exec exit status"
	expect_eq "$out" b:bar "exec env"
	out=$(P exec "$N" nosuchcmd 2>&1); rc=$?
	expect_eq "$rc" 127 "exec of a missing command ($out)"
}
podman_exec-tty() {
	pstart "$N" "$IMG" sleep 300
	out=$(in_pty "${PODMAN[@]}" exec -it "$N" sh -c 'tty; exit 6'); rc=$?
	expect_eq "$rc" 6 "exec exit status"
	expect_match "$out" "*/dev/pts/*" "tty"
}
podman_exec-detach() {
	pstart "$N" "$IMG" sleep 300
	P exec -d "$N" sh -c 'echo detached >/tmp/x; sleep 300' >/dev/null || fail "exec -d failed"
	wait_for P exec "$N" grep -q detached /tmp/x || fail "detached exec did not run"
	out=$(P exec "$N" sh -c 'ls -d /proc/[0-9]* | wc -l')
	# init, the detached sh (or its sleep), and this sh + ls
	[ "$out" -ge 3 ] || fail "detached exec not running: $out processes"
}
podman_ps() {
	pstart "$N" "$IMG" sleep 300
	out=$(P top "$N" pid comm | awk 'NR > 1 { print $1, $2 }'); rc=$?
	expect_eq "$rc" 0 "podman top"
	expect_eq "$out" "1 sleep" "processes"
	P ps --format '{{.Names}}' | grep -qx "$N" || fail "not listed by podman ps"
}
podman_pause() {
	pstart "$N" "$IMG" sleep 300
	pid=$(ppid "$N")
	P pause "$N" >/dev/null || fail "pause failed"
	pis "$N" paused || fail "status after pause: $(P inspect -f '{{.State.Status}}' "$N")"
	expect_eq "$(cat "$(cg_of "$pid" freezer)/freezer.state")" FROZEN "freezer.state"
	P unpause "$N" >/dev/null || fail "unpause failed"
	pis "$N" running || fail "status after unpause"
	expect_eq "$(cat "$(cg_of "$pid" freezer)/freezer.state")" THAWED "freezer.state"
}
podman_stats() {
	pstart "$N" "$IMG" sleep 300
	out=$(P stats --no-stream --format '{{.PIDs}} {{.MemUsage}}' "$N"); rc=$?
	expect_eq "$rc" 0 "podman stats"
	expect_match "$out" "1 [1-9]*B / *" "pids and memory"
}
podman_kill() {
	pstart "$N" "$IMG" sleep 300
	P kill -s KILL "$N" >/dev/null || fail "kill failed"
	out=$(P wait "$N"); rc=$?
	expect_eq "$rc $out" "0 137" "exit code after SIGKILL"
	pstart "$N-2" "$IMG" sh -c 'trap "exit 5" USR1; while :; do sleep 0.1; done'
	P kill -s USR1 "$N-2" >/dev/null || fail "kill -s USR1 failed"
	expect_eq "$(P wait "$N-2")" 5 "exit code after the trapped signal"
}
podman_stop() {
	pstart "$N" "$IMG" sh -c 'trap "exit 5" TERM; while :; do sleep 0.1; done'
	P stop -t 10 "$N" >/dev/null || fail "stop failed"
	expect_eq "$(P inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$N")" "exited 5" "state after stop (SIGTERM handled)"
	pstart "$N-2" "$IMG" sleep 300
	P stop -t 1 "$N-2" >/dev/null || fail "stop of a SIGTERM-ignoring pid 1 failed"
	expect_eq "$(P inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$N-2")" "exited 137" "state after stop (SIGKILL)"
}
podman_restart() {
	pstart "$N" "$IMG" sleep 300
	pid1=$(ppid "$N")
	P restart -t 1 "$N" >/dev/null || fail "restart failed"
	wait_for pis "$N" running || fail "not running after restart"
	pid2=$(ppid "$N")
	[ "$pid1" != "$pid2" ] || fail "same pid after restart"
	P stop -t 1 "$N" >/dev/null && P start "$N" >/dev/null || fail "stop + start failed"
	pis "$N" running || fail "not running after start"
}
podman_rm() {
	pstart "$N" "$IMG" sleep 300
	id=$(P inspect -f '{{.Id}}' "$N")
	P rm -f -t 0 "$N" >/dev/null || fail "rm -f failed"
	left=$(leftovers "$PSTATE/$id" "$CGP/podman/libpod-$id")
	[ -z "$left" ] || fail "left behind after rm -f:$left"
	P create --name "$N-2" "${PO[@]}" "$IMG" true >/dev/null || fail "create failed"
	P rm "$N-2" >/dev/null || fail "rm of a created container failed"
}
podman_read-only() {
	out=$(prun "$N" --read-only "$IMG" sh -c 'touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*Read-only file system*rc=1*tmp-ok" "write to / and to /tmp"
}
podman_tmpfs() {
	out=$(prun "$N" --tmpfs /scratch --user 65534:65534 "$IMG" sh -c 'touch /scratch/f && stat -c %a /scratch'); rc=$?
	expect_eq "$rc" 0 "exit status (a non-root user writes to the tmpfs)"
	expect_eq "$out" 1777 "tmpfs mode"
	out=$(prun "$N-2" --tmpfs /scratch:size=1m,mode=700 "$IMG" sh -c 'stat -c %a /scratch; grep " /scratch " /proc/mounts'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "700*tmpfs /scratch tmpfs *size=1024k*" "mode= and size= options"
}
podman_volume() {
	mkdir -p "$WORK/vol-$N" && echo fromhost >"$WORK/vol-$N/in"
	out=$(prun "$N" -v "$WORK/vol-$N:/data" "$IMG" sh -c 'cat /data/in; echo fromct >/data/out'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" fromhost "read through the bind mount"
	expect_eq "$(cat "$WORK/vol-$N/out")" fromct "write through the bind mount"
	out=$(prun "$N-ro" -v "$WORK/vol-$N:/data:ro" "$IMG" sh -c 'echo x >/data/out 2>/dev/null; echo $?')
	expect_eq "$out" 1 "write to a :ro volume"
	prun "$N-v1" -v "$N-vol:/v" "$IMG" sh -c 'echo kept >/v/f' || fail "named volume write failed"
	expect_eq "$(prun "$N-v2" -v "$N-vol:/v" "$IMG" cat /v/f)" kept "named volume content"
	P volume rm -f "$N-vol" >/dev/null
}
podman_user() {
	out=$(prun "$N" --user 1000:1000 "$IMG" sh -c 'id -u; id -g; echo $HOME'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "1000 1000 /home/user" "uid gid HOME"
	pstart "$N-2" "$IMG" sleep 300
	expect_eq "$(P exec --user 65534 "$N-2" id -u)" 65534 "exec --user"
}
podman_cap-drop() {
	out=$(prun "$N" --cap-drop ALL "$IMG" awk '/^CapEff/ { print $2 }' /proc/self/status); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" 0000000000000000 "CapEff with --cap-drop ALL"
	out=$(prun "$N-2" --cap-drop CHOWN "$IMG" sh -c 'chown 1 /tmp 2>/dev/null; echo $?')
	expect_eq "$out" 1 "chown without CAP_CHOWN"
}
podman_no-new-privs() {
	out=$(prun "$N" --security-opt no-new-privileges "$IMG" awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)
	expect_eq "$out" 1 "NoNewPrivs with no-new-privileges"
	out=$(prun "$N-2" "$IMG" awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)
	expect_eq "$out" 0 "NoNewPrivs by default"
}
podman_seccomp-default() {
	out=$(prun "$N" "$IMG" sh -c 'awk '\''/^Seccomp:/ { print $2 }'\'' /proc/self/status; echo ok'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "2
ok" "seccomp mode under podman's default profile"
	pstart "$N-2" "$IMG" sleep 300
	expect_eq "$(P exec "$N-2" awk '/^Seccomp:/ { print $2 }' /proc/self/status)" 2 "seccomp mode of exec"
}
podman_seccomp-custom() {
	echo "$SECCOMP_DENY_MKDIR" >"$WORK/seccomp-$N.json"
	out=$(prun "$N" --security-opt "seccomp=$WORK/seccomp-$N.json" "$IMG" sh -c 'mkdir /tmp/d 2>&1; echo rc=$?'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*Operation not permitted*rc=1" "mkdir under a profile denying it"
}
podman_privileged() {
	out=$(prun "$N" --privileged "$IMG" sh -c 'test -c /dev/ptmx -o -L /dev/ptmx && grep CapEff /proc/self/status'); rc=$?
	expect_eq "$rc" 0 "exit status ($out)"
	expect_eq "$out" "$(grep CapEff /proc/self/status)" "CapEff (all of the host's)"
	out=$(in_pty "${PODMAN[@]}" run --rm -it --privileged --name "$N-tty" "${PO[@]}" "$IMG" sh -c 'tty; exit 3'); rc=$?
	expect_eq "$rc" 3 "exit status of a privileged container with a terminal ($out)"
}
podman_userns() {
	out=$(prun "$N" --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /f && echo w'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "0 200000 65536 0 200000 65536 0 w" "uid_map, gid_map, uid, write to /"
	pstart "$N-2" --uidmap 0:200000:65536 --gidmap 0:200000:65536 "$IMG" sleep 300
	expect_eq "$(P exec "$N-2" cat /proc/self/uid_map | awk '{print $1, $2, $3}')" "0 200000 65536" "uid_map of exec"
}
podman_pid-share() {
	pstart "$N" "$IMG" sleep 300
	out=$(prun "$N-2" --pid "container:$N" "$IMG" ps -o comm); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$out" "*sleep*" "the first container's process, seen from the second"
}
podman_ipc-share() {
	pstart "$N" --ipc shareable "$IMG" sleep 300
	pid=$(ppid "$N")
	out=$(prun "$N-2" --ipc "container:$N" "$IMG" readlink /proc/self/ns/ipc); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "$(readlink "/proc/$pid/ns/ipc")" "ipc namespace"
}
podman_memory() {
	pstart "$N" --memory 64m "$IMG" sleep 300
	pid=$(ppid "$N")
	expect_eq "$(cat "$(cg_of "$pid" memory)/memory.limit_in_bytes")" 67108864 "memory.limit_in_bytes"
}
podman_cpu() {
	pstart "$N" --cpus 0.5 --cpu-shares 512 --cpuset-cpus 0 "$IMG" sleep 300
	pid=$(ppid "$N")
	d=$(cg_of "$pid" cpu)
	expect_eq "$(cat "$d/cpu.cfs_quota_us") $(cat "$d/cpu.cfs_period_us") $(cat "$d/cpu.shares")" "50000 100000 512" "cfs quota, period, shares"
	expect_eq "$(cat "$(cg_of "$pid" cpuset)/cpuset.cpus")" 0 "cpuset.cpus"
}
podman_pids() {
	pstart "$N" --pids-limit 20 "$IMG" sleep 300
	pid=$(ppid "$N")
	expect_eq "$(cat "$(cg_of "$pid" pids)/pids.max")" 20 "pids.max"
	out=$(P exec "$N" sh -c 'for i in $(seq 25); do sleep 5 & done 2>&1; kill $(jobs -p) 2>/dev/null' 2>&1)
	expect_match "$out" "*fork*" "fork beyond the limit fails"
}
podman_update() {
	pstart "$N" --memory 64m --cpus 0.5 "$IMG" sleep 300
	pid=$(ppid "$N")
	P update --memory 128m --cpus 1 "$N" >/dev/null || fail "podman update failed"
	expect_eq "$(cat "$(cg_of "$pid" memory)/memory.limit_in_bytes")" 134217728 "memory.limit_in_bytes after update"
	expect_eq "$(cat "$(cg_of "$pid" cpu)/cpu.cfs_quota_us")" 100000 "cfs quota after update"
}
podman_cwd-hostname() {
	out=$(prun "$N" --workdir /tmp --hostname h1 "$IMG" sh -c 'pwd; hostname'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "/tmp h1" "cwd and hostname"
}
podman_rlimit() {
	out=$(prun "$N" --ulimit nofile=1000:2000 --ulimit nproc=500:1000 "$IMG" sh -c 'ulimit -n; ulimit -Hn; ulimit -u'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "1000 2000 500" "RLIMIT_NOFILE soft and hard, RLIMIT_NPROC soft"
	# (with --ulimit, podman drops default_ulimits and raises nproc unless given)
}
podman_sysctl() {
	out=$(prun "$N" --sysctl kernel.msgmax=12345 "$IMG" cat /proc/sys/kernel/msgmax); rc=$?
	expect_eq "$rc $out" "0 12345" "exit status and kernel.msgmax"
}
podman_devices() {
	out=$(prun "$N" --device /dev/zero:/dev/myzero "$IMG" sh -c 'echo x >/dev/null && head -c 1 /dev/urandom >/dev/null && echo defaults-ok
		head -c 2 /dev/myzero | od -An -tx1
		mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda >/dev/null 2>&1; echo rc=$?'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "defaults-ok 00 00 rc=1" "default devices, an added device, a denied block device"
}
podman_logs() {
	P run -d --name "$N" "${PO[@]}" "$IMG" sh -c 'echo out; echo err >&2; exit 2' >/dev/null || fail "run -d failed"
	expect_eq "$(P wait "$N")" 2 "exit code"
	out=$(P logs "$N" 2>&1); rc=$?
	expect_eq "$rc" 0 "podman logs"
	expect_eq "$(echo $out)" "out err" "logs of the detached container"
}
podman_host-ns() {
	out=$(P run --rm --name "$N" --network host --pid host --ipc host --uts host --cgroup-parent "$CGP/podman" --pull never "$IMG" \
		sh -c 'for n in net pid ipc uts; do readlink /proc/self/ns/$n; done'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "$(for n in net pid ipc uts; do readlink /proc/$$/ns/$n; done | tr '\n' ' ' | sed 's/ $//')" "host namespaces"
}
podman_init-process() {
	out=$(prun "$N" --init "$IMG" sh -c 'cat /proc/1/comm; echo $$'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_match "$(echo $out)" "podman-init [0-9]*" "pid 1 is podman's init (catatonit)"
	[ "${out##*$'\n'}" != 1 ] || fail "the command is pid 1"
}
podman_cgroupns() {
	out=$(prun "$N" --cgroupns private "$IMG" sh -c 'grep -c ":/$" /proc/self/cgroup; wc -l </proc/self/cgroup'); rc=$?
	expect_eq "$rc" 0 "exit status"
	set -- $out
	expect_eq "$1" "$2" "cgroup paths at the namespace root (lines ending in :/ of all)"
	out=$(prun "$N-2" --cgroupns host "$IMG" grep memory /proc/self/cgroup)
	expect_match "$out" "*:memory:$CGP/podman/libpod-*" "memory cgroup seen with --cgroupns host"
}
podman_oom-score-adj() {
	out=$(prun "$N" --oom-score-adj 123 "$IMG" cat /proc/self/oom_score_adj); rc=$?
	expect_eq "$rc $out" "0 123" "exit status and oom_score_adj"
}
podman_masked-paths() {
	out=$(prun "$N" "$IMG" sh -c 'awk '\''$5 == "/proc/keys" || $5 == "/sys/firmware" { print $5 }'\'' /proc/self/mountinfo; head -c 1 /proc/keys | wc -c; echo 1 >/proc/sys/kernel/domainname 2>/dev/null; echo rc=$?; ls /sys/firmware | wc -l'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "/proc/keys /sys/firmware 0 rc=1 0" "masked /proc/keys and /sys/firmware, read-only /proc/sys"
}
podman_cap-add() {
	out=$(prun "$N" --cap-add SYS_ADMIN "$IMG" sh -c 'mkdir /m && mount -t tmpfs none /m && echo mounted'); rc=$?
	expect_eq "$rc $out" "0 mounted" "mount with CAP_SYS_ADMIN"
	out=$(prun "$N-2" "$IMG" sh -c 'mkdir /m && mount -t tmpfs none /m 2>/dev/null || echo denied')
	expect_eq "$out" denied "mount without CAP_SYS_ADMIN"
}
podman_shm-size() {
	out=$(prun "$N" --shm-size 2m "$IMG" sh -c 'df -k /dev/shm | awk "NR == 2 { print \$2 }"; grep " /dev/shm " /proc/mounts | cut -d" " -f3'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "2048 tmpfs" "/dev/shm size"
}
podman_rootfs-dir() {
	cp -a "$WORK/rootfs" "$WORK/rootfs-$N"
	out=$(prun "$N" --rootfs "$WORK/rootfs-$N" sh -c 'echo from-dir; touch /new'); rc=$?
	expect_eq "$rc $out" "0 from-dir" "exit status and output"
	[ -e "$WORK/rootfs-$N/new" ] || fail "write to / did not reach the directory"
}
podman_net-share() {
	pstart "$N" "$IMG" sleep 300
	pid=$(ppid "$N")
	out=$(P run --rm --name "$N-2" --network "container:$N" --cgroup-parent "$CGP/podman" --pull never "$IMG" readlink /proc/self/ns/net); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$out" "$(readlink "/proc/$pid/ns/net")" "network namespace"
}
podman_pod() {
	# a pod: an infra container (podman's locally built pause image) whose
	# namespaces the others join by path, as Kubernetes pods do
	P pod create --name "$N-pod" --network none --cgroup-parent "$CGP/podman" >/dev/null || fail "pod create failed"
	P run -d --name "$N-a" --pod "$N-pod" --pull never "$IMG" sleep 300 >/dev/null || fail "run -d in the pod failed"
	wait_for pis "$N-a" running || fail "$N-a not running"
	pid=$(ppid "$N-a")
	out=$(P run --rm --name "$N-b" --pod "$N-pod" --pull never "$IMG" sh -c 'for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname'); rc=$?
	expect_eq "$rc" 0 "exit status"
	expect_eq "$(echo $out)" "$(for n in net ipc uts; do readlink "/proc/$pid/ns/$n"; done | tr '\n' ' ')$(P exec "$N-a" hostname)" "namespaces shared in the pod"
	P pod stop -t 1 "$N-pod" >/dev/null || fail "pod stop failed"
	P pod rm -f "$N-pod" >/dev/null || fail "pod rm failed"
}
podman_rm-paused() {
	pstart "$N" "$IMG" sleep 300
	pid=$(ppid "$N")
	P exec -d "$N" sleep 301 >/dev/null || fail "exec -d failed"
	P pause "$N" >/dev/null || fail "pause failed"
	P rm -f -t 0 "$N" >/dev/null || fail "rm -f of a paused container failed"
	wait_for test ! -e "/proc/$pid" || fail "the paused init $pid still exists"
}
podman_exec-opts() {
	pstart "$N" --cap-drop ALL "$IMG" sleep 300
	out=$(P exec --workdir /tmp --privileged "$N" sh -c 'pwd; awk '\''/^CapEff/ { print $2 }'\'' /proc/self/status'); rc=$?
	expect_eq "$rc" 0 "exec exit status"
	expect_eq "$(echo $out)" "/tmp $(awk '/^CapEff/ { print $2 }' /proc/self/status)" "exec --workdir, exec --privileged (all caps)"
	out=$(P exec "$N" awk '/^CapEff/ { print $2 }' /proc/self/status)
	expect_eq "$out" 0000000000000000 "CapEff of a plain exec"
}
podman_preserve-fds() {
	echo via-fd-3 >"$WORK/fd-$N"
	out=$(P run --rm --name "$N" "${PO[@]}" --preserve-fds 1 "$IMG" sh -c 'cat <&3; ls /proc/self/fd | wc -l' 3<"$WORK/fd-$N"); rc=$?
	expect_eq "$rc" 0 "exit status"
	# fds of `ls`: 0 1 2, 3 (preserved) and the one it reads /proc/self/fd with
	expect_eq "$(echo $out)" "via-fd-3 5" "fd 3 passed, nothing more"
	pstart "$N-2" "$IMG" sleep 300
	out=$(P exec --preserve-fds 1 "$N-2" sh -c 'cat <&3; ls /proc/self/fd | wc -l' 3<"$WORK/fd-$N"); rc=$?
	expect_eq "$rc" 0 "exec exit status"
	expect_eq "$(echo $out)" "via-fd-3 5" "exec: fd 3 passed, nothing more"
}
podman_annotations() {
	big=$(head -c 102400 /dev/zero | tr '\0' a)
	out=$(prun "$N" --annotation "a1=$big" --annotation "a2=$big" --annotation "a3=$big" "$IMG" echo ok); rc=$?
	expect_eq "$rc $out" "0 ok" "exit status and output with 300 KiB of annotations"
}
podman_hooks() {
	# OCI hooks (podman's hooks.d format) run by the runtime at each stage
	local h=$WORK/hooks-$N st
	mkdir -p "$h/d" "$h/out"
	for st in prestart createRuntime poststart poststop; do
		jq -n --arg st "$st" --arg out "$h/out/$st" '{version: "1.0.0",
		  hook: {path: "/bin/sh", args: ["sh", "-c", ("cat >" + $out)]},
		  when: {always: true}, stages: [$st]}' >"$h/d/$st.json"
	done
	jq -n '{version: "1.0.0", hook: {path: "/bin/sh", args: ["sh", "-c", "cat >/tmp/startContainer"]},
	  when: {always: true}, stages: ["startContainer"]}' >"$h/d/startContainer.json"
	P --hooks-dir "$h/d" run -d --name "$N" "${PO[@]}" "$IMG" sleep 300 >/dev/null || fail "run -d with hooks failed"
	wait_for pis "$N" running || fail "not running"
	id=$(P inspect -f '{{.Id}}' "$N")
	for st in prestart createRuntime poststart; do
		wait_for test -s "$h/out/$st" || fail "$st hook did not run (or got no state)"
		expect_eq "$(jq -r .id "$h/out/$st")" "$id" "$st hook: id in the state"
	done
	expect_eq "$(jq -r .status "$h/out/createRuntime")" creating "createRuntime hook: status"
	# runc 1.1 says creating, crun and myrt created (issue 6)
	expect_match "$(jq -r .status "$h/out/prestart")" "creat@(ed|ing)" "prestart hook: status"
	expect_eq "$(P exec "$N" sh -c 'cat /tmp/startContainer' | jq -r .id)" "$id" "startContainer hook (in the container): id"
	P --hooks-dir "$h/d" rm -f -t 0 "$N" >/dev/null || fail "rm failed"
	wait_for test -s "$h/out/poststop" || fail "poststop hook did not run"
	expect_eq "$(jq -r .id "$h/out/poststop")" "$id" "poststop hook: id in the state"
}
podman_parallel() { run_parallel prun "$IMG"; }
podman_stdin() {
	out=$(echo hello-stdin | P run -i --rm --name "$N" "${PO[@]}" "$IMG" cat); rc=$?
	expect_eq "$rc $out" "0 hello-stdin" "run -i: exit status and stdin echoed"
	pstart "$N-2" "$IMG" sleep 300
	out=$(echo hello-exec | P exec -i "$N-2" cat); rc=$?
	expect_eq "$rc $out" "0 hello-exec" "exec -i: exit status and stdin echoed"
}
podman_same-default() {
	prun "$N" --hostname same "$IMG" sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a default podman container sees" "$WORK/out-$N"
}
podman_same-user() {
	prun "$N" --hostname same --user 1000:1000 --group-add 5 --cap-add NET_ADMIN "$IMG" sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a --user 1000 --cap-add container sees" "$WORK/out-$N"
}
podman_same-privileged() {
	prun "$N" --hostname same --privileged "$IMG" sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a --privileged podman container sees" "$WORK/out-$N"
}
podman_same-exec() {
	pstart "$N" --hostname same "$IMG" sleep 300
	P exec --user 1000 "$N" sh -c "$PROBE" >"$WORK/out-$N" 2>&1 || fail "probe failed: $(head -c 200 "$WORK/out-$N")"
	same_as_runc "what a podman exec --user 1000 process sees" "$WORK/out-$N"
}

# ================================================================ docker ===

# shellcheck source=docker.sh
. "$ENG_DIR/docker.sh"
