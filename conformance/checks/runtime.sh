# shellcheck shell=bash
# runtime.md: state, lifecycle, operations, errors; config.md hooks lifecycle.
# Each check: one-line paraphrase of the requirement, then the function.

# ------------------------------------------------------------------- state ---

# Query State: error when no container ID is given.
check runtime.state.no_id "runtime.md#query-state" c_state_no_id
c_state_no_id() {
	if rt state >/dev/null 2>&1; then fail "state without an ID succeeded"; fi
}

# Query State: querying a container that does not exist is an error.
check runtime.state.nonexistent "runtime.md#query-state" c_state_nonexistent
c_state_nonexistent() {
	if rt state "mc-does-not-exist-$$" >/dev/null 2>&1; then fail "state of a nonexistent container succeeded"; fi
}

# State: ociVersion, id, status, pid, bundle; status `created` after create.
check runtime.state.created "runtime.md#state, #create" c_state_created
c_state_created() {
	new_bundle
	set_args sleep 30
	must_create
	local s
	s=$(ctr_state) || fail "state failed after create"
	jq -e . >/dev/null <<<"$s" || fail "state output is not JSON: $s"
	expect_eq "$(jq -r '.ociVersion | type' <<<"$s")" string "ociVersion type"
	jq -e '.ociVersion | test("^[0-9]+\\.[0-9]+\\.[0-9]+")' >/dev/null <<<"$s" ||
		fail "ociVersion is not a SemVer version: $(jq -c .ociVersion <<<"$s")"
	expect_eq "$(jq -r .id <<<"$s")" "$ID" "id"
	expect_eq "$(jq -r .status <<<"$s")" created "status after create"
	expect_eq "$(jq -r '.pid | type' <<<"$s")" number "pid type"
	local pid
	pid=$(jq -r .pid <<<"$s")
	[ "$pid" -gt 0 ] || fail "pid is $pid"
	pid_alive "$pid" || fail "pid $pid is not a live process"
	expect_eq "$(jq -r .bundle <<<"$s")" "$(realpath "$BUNDLE")" "bundle (absolute bundle path)"
}

# State: status `running` once start has run the user program; pid unchanged.
check runtime.state.running "runtime.md#state, #start" c_state_running
c_state_running() {
	new_bundle
	set_args sleep 30
	must_create
	local pid
	pid=$(state_field .pid)
	must_start
	expect_eq "$(status_of)" running "status after start"
	expect_eq "$(state_field .pid)" "$pid" "pid after start"
}

# State pid: the ID of the container process as seen by the host.
check runtime.state.pid_is_container_process "runtime.md#state" c_state_pid_process
c_state_pid_process() {
	new_bundle
	set_args sleep 31
	must_create
	must_start
	local pid cmd i
	pid=$(state_field .pid)
	# start may return a moment before the process has executed the program
	for ((i = 0; i < 40; i++)); do
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
		[ "$cmd" = "sleep 31 " ] && break
		sleep 0.05
	done
	expect_eq "$cmd" "sleep 31 " "cmdline of state pid $pid"
}

# State: status `stopped` after the container process exited.
check runtime.state.stopped "runtime.md#state, #kill" c_state_stopped
c_state_stopped() {
	new_bundle
	set_args true
	must_create
	must_start
	wait_status stopped "$ID" 10 || fail "status did not become stopped after the process exited (is $(status_of))"
	local s
	s=$(ctr_state) || fail "state of a stopped container failed"
	expect_eq "$(jq -r .id <<<"$s")" "$ID" "id of stopped container"
	expect_eq "$(jq -r .bundle <<<"$s")" "$(realpath "$BUNDLE")" "bundle of stopped container"
}

# State: a container whose process has exited but is not reaped (zombie) has exited: `stopped`.
check runtime.state.zombie_is_stopped "runtime.md#state" c_state_zombie
c_state_zombie() {
	new_bundle
	set_args sh -c 'read x; exit 0'
	mkfifo "$CT/stdin"
	# A subreaper of our own that never reaps: the container is re-parented to it.
	start_holder perl -e 'syscall($ARGV[0], 36, 1, 0, 0, 0) == 0 or die "prctl: $!";
		my $p = fork // die; if (!$p) { open(STDIN, "<", $ARGV[1]) or die; exec @ARGV[2..$#ARGV] or die }
		waitpid($p, 0); open(my $f, ">", "$ARGV[1].rc") or die; print $f ($? >> 8); close $f; sleep 120' \
		"$( [ "$(uname -m)" = x86_64 ] && echo 157 || echo 167)" "$CT/stdin" \
		timeout 30 "$RT" --root "$STATE_ROOT" create --bundle "$BUNDLE" "$ID"
	exec 8>"$CT/stdin"
	local i
	for ((i = 0; i < 200; i++)); do [ -e "$CT/stdin.rc" ] && break; sleep 0.05; done
	expect_eq "$(cat "$CT/stdin.rc" 2>/dev/null)" 0 "exit status of create"
	local pid
	pid=$(state_field .pid) || fail "state failed"
	CT_PIDS+=("$pid:$ID")
	must_start
	exec 8>&- # the container's `read` returns: it exits
	for ((i = 0; i < 200; i++)); do
		[ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && break
		sleep 0.05
	done
	[ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] ||
		skip "could not make the container process a zombie"
	expect_eq "$(status_of)" stopped "status of an exited, unreaped (zombie) container process"
}

# State annotations: the annotations of config.json are in the state.
check runtime.state.annotations "runtime.md#state; config.md#annotations" c_state_annotations
c_state_annotations() {
	new_bundle
	cfg '.annotations = {"com.example.key": "value", "org.example.empty": "", "com.example.json": "{\"a\":1}"}'
	must_create
	local got
	got=$(state_field '.annotations | tojson')
	[ "$(jq -S . <<<"$got")" = "$(jq -S .annotations "$CONFIG")" ] || fail "state annotations $got differ from config"
}

# ------------------------------------------------------------------ create ---

# Create: error if no container ID is given.
check runtime.create.no_id "runtime.md#create" c_create_no_id
c_create_no_id() {
	new_bundle
	if rt create --bundle "$BUNDLE" >"$CT/ctr.out" 2>&1 </dev/null; then
		fail "create without an ID succeeded"
	fi
}

# Create: error if no bundle is given (working directory is not a bundle).
check runtime.create.no_bundle "runtime.md#create" c_create_no_bundle
c_create_no_bundle() {
	new_bundle
	mkdir "$CT/empty"
	if (cd "$CT/empty" && rt create "$ID" >"$CT/ctr.out" 2>&1 </dev/null); then
		fail "create without a bundle (cwd has no config.json) succeeded"
	fi
	if ctr_state >/dev/null 2>&1; then fail "a container was left behind"; fi
}

# Create: an ID that is not unique is an error; the existing container is untouched.
check runtime.create.duplicate_id "runtime.md#create, #state (id unique)" c_create_duplicate
c_create_duplicate() {
	new_bundle
	set_args sleep 30
	must_create
	local pid
	pid=$(state_field .pid)
	mkdir "$CT/b2"
	cp -a "$BUNDLE/rootfs" "$CT/b2/rootfs"
	cp "$CONFIG" "$CT/b2/config.json"
	if rt create --bundle "$CT/b2" "$ID" >"$CT/ctr2.out" 2>&1 </dev/null; then
		fail "second create with the same ID succeeded"
	fi
	expect_eq "$(status_of)" created "status of the first container"
	expect_eq "$(state_field .pid)" "$pid" "pid of the first container"
	expect_eq "$(state_field .bundle)" "$(realpath "$BUNDLE")" "bundle of the first container"
	pid_alive "$pid" || fail "the first container's process died"
}

# Create: an invalid ID (path separators, `..`) is an error and creates nothing.
check runtime.create.invalid_id "runtime.md#create" c_create_invalid_id
c_create_invalid_id() {
	new_bundle
	local bad
	for bad in "../mc-escape-$$" "mc/slash-$$" ""; do
		if rt create --bundle "$BUNDLE" "$bad" >"$CT/ctr.out" 2>&1 </dev/null; then
			rt delete --force "$bad" >/dev/null 2>&1
			fail "create with invalid ID '$bad' succeeded"
		fi
	done
	[ -e "$WORK/mc-escape-$$" ] && fail "create with ID ../mc-escape wrote outside the state root"
	return 0
}

# Create: the user program is not run by create; start runs it.
check runtime.create.program_not_run "runtime.md#lifecycle step 2, #create, #start" c_create_not_run
c_create_not_run() {
	new_bundle
	set_args echo program-ran
	must_create
	sleep 0.3
	[ -s "$CT/ctr.out" ] && fail "user program ran during create: $(cat "$CT/ctr.out")"
	expect_eq "$(status_of)" created "status"
	must_start
	wait_status stopped || fail "container did not stop"
	expect_eq "$(cat "$CT/ctr.out")" program-ran "output after start"
}

# Lifecycle: updates to config.json after create do not affect the container.
check runtime.create.config_changes_ignored "runtime.md#lifecycle step 2, #create" c_create_config_change
c_create_config_change() {
	new_bundle
	cfg '.hostname = "before"'
	set_script 'echo "$(hostname) $MARK"'
	cfg '.process.env += ["MARK=before"]'
	must_create
	cfg '.hostname = "after" | .process.env += ["MARK=after"] | .process.args = ["echo", "changed"]'
	must_start
	wait_status stopped || fail "container did not stop"
	expect_eq "$(cat "$CT/ctr.out")" "before before" "output"
}

# Errors: a failed create leaves no container (no state, no cgroup).
check runtime.create.error_leaves_nothing "runtime.md#errors, #create" c_create_error_nothing
c_create_error_nothing() {
	new_bundle
	cfg '.root.path = "does-not-exist"'
	expect_create_error "root.path does not exist"
}

# Errors: create failing late (bad mount, after cgroup set-up) leaves no cgroup, state or process.
check runtime.create.late_error_leaves_nothing "runtime.md#errors, #create" c_create_late_error
c_create_late_error() {
	new_bundle
	cfg '.linux.resources.pids = {limit: 100}'
	add_mount '{"destination": "/mnt", "type": "bind", "source": "/nonexistent-mc-source", "options": ["rbind"]}'
	expect_create_error "bind mount of a nonexistent source"
	[ ! -e "$STATE_ROOT/$ID" ] || fail "state directory entry left for $ID"
}

# ------------------------------------------------------------------- start ---

check runtime.start.no_id "runtime.md#start" c_start_no_id
c_start_no_id() {
	if rt start >/dev/null 2>&1; then fail "start without an ID succeeded"; fi
}

check runtime.start.nonexistent "runtime.md#start" c_start_nonexistent
c_start_nonexistent() {
	if rt start "mc-does-not-exist-$$" >/dev/null 2>&1; then fail "start of a nonexistent container succeeded"; fi
}

# Start: starting a container that is not `created` (running) is an error and has no effect.
check runtime.start.running "runtime.md#start" c_start_running
c_start_running() {
	new_bundle
	set_script 'echo started; exec sleep 30'
	must_create
	must_start
	local pid
	pid=$(state_field .pid)
	if ctr_start; then fail "second start succeeded"; fi
	expect_eq "$(status_of)" running "status"
	expect_eq "$(state_field .pid)" "$pid" "pid"
	sleep 0.2
	expect_eq "$(cat "$CT/ctr.out")" started "program output (must run once)"
}

# Start: starting a stopped container is an error and has no effect.
check runtime.start.stopped "runtime.md#start" c_start_stopped
c_start_stopped() {
	new_bundle
	set_args echo once
	must_create
	must_start
	wait_status stopped || fail "container did not stop"
	if ctr_start; then fail "start of a stopped container succeeded"; fi
	expect_eq "$(status_of)" stopped "status"
	sleep 0.2
	expect_eq "$(cat "$CT/ctr.out")" once "program output (must run once)"
}

# Start: error if `process` was not set (it is REQUIRED when start is called).
check runtime.start.no_process "runtime.md#start; config.md#process" c_start_no_process
c_start_no_process() {
	new_bundle
	cfg 'del(.process)'
	if ctr_create; then
		if ctr_start; then fail "start of a container without process succeeded"; fi
	fi
	return 0
}

# Start: runs the user program as specified by process.
check runtime.start.runs_program "runtime.md#start, #lifecycle step 8" c_start_runs
c_start_runs() {
	new_bundle
	run_out 'echo "hello $0"'
	expect_eq "$OUT" "hello /bin/sh" "program output"
}

# -------------------------------------------------------------------- kill ---

check runtime.kill.no_id "runtime.md#kill" c_kill_no_id
c_kill_no_id() {
	if rt kill >/dev/null 2>&1; then fail "kill without an ID succeeded"; fi
}

check runtime.kill.nonexistent "runtime.md#kill" c_kill_nonexistent
c_kill_nonexistent() {
	if rt kill "mc-does-not-exist-$$" KILL >/dev/null 2>&1; then fail "kill of a nonexistent container succeeded"; fi
}

# Kill: sends the given signal to the container process.
check runtime.kill.signal_delivered "runtime.md#kill" c_kill_signal
c_kill_signal() {
	new_bundle
	set_script 'trap "echo got-usr1; exit 0" USR1; echo ready; while :; do sleep 0.05; done'
	must_create
	must_start
	local i
	for ((i = 0; i < 100; i++)); do grep -q ready "$CT/ctr.out" && break; sleep 0.05; done
	ctr_kill "$ID" USR1 || fail "kill USR1 failed: $(tail -c 300 "$CT/rt.err")"
	wait_status stopped || fail "container did not exit after SIGUSR1"
	grep -q got-usr1 "$CT/ctr.out" || fail "the process did not receive SIGUSR1 (output: $(cat "$CT/ctr.out"))"
}

# Kill: a `created` container can be signalled; SIGKILL stops it without running the program.
check runtime.kill.created "runtime.md#kill" c_kill_created
c_kill_created() {
	new_bundle
	set_args echo program-ran
	must_create
	ctr_kill "$ID" KILL || fail "kill of a created container failed: $(tail -c 300 "$CT/rt.err")"
	wait_status stopped || fail "status did not become stopped after SIGKILL"
	[ -s "$CT/ctr.out" ] && fail "user program ran: $(cat "$CT/ctr.out")"
	return 0
}

# Kill: signalling a stopped container is an error and has no effect.
check runtime.kill.stopped "runtime.md#kill" c_kill_stopped
c_kill_stopped() {
	new_bundle
	set_args true
	must_create
	must_start
	wait_status stopped || fail "container did not stop"
	if ctr_kill "$ID" KILL; then fail "kill of a stopped container succeeded"; fi
	expect_eq "$(status_of)" stopped "status"
}

# ------------------------------------------------------------------ delete ---

check runtime.delete.no_id "runtime.md#delete" c_delete_no_id
c_delete_no_id() {
	if rt delete >/dev/null 2>&1; then fail "delete without an ID succeeded"; fi
}

check runtime.delete.nonexistent "runtime.md#delete" c_delete_nonexistent
c_delete_nonexistent() {
	if rt delete "mc-does-not-exist-$$" >/dev/null 2>&1; then fail "delete of a nonexistent container succeeded"; fi
}

# Delete: deleting a running container is an error and has no effect.
check runtime.delete.running "runtime.md#delete" c_delete_running
c_delete_running() {
	new_bundle
	set_args sleep 30
	must_create
	must_start
	local pid
	pid=$(state_field .pid)
	if ctr_delete "$ID"; then fail "delete of a running container succeeded"; fi
	expect_eq "$(status_of)" running "status"
	expect_eq "$(state_field .pid)" "$pid" "pid"
	pid_alive "$pid" || fail "container process died"
}

# Delete: deleting a `created` (not stopped) container is an error and has no effect.
check runtime.delete.created "runtime.md#delete" c_delete_created
c_delete_created() {
	new_bundle
	set_args sleep 30
	must_create
	local pid
	pid=$(state_field .pid)
	if ctr_delete "$ID"; then fail "delete of a created (not stopped) container succeeded"; fi
	expect_eq "$(status_of)" created "status"
	pid_alive "$pid" || fail "container process died"
}

# Delete: removes what create made (state, cgroup, processes); the ID can be reused.
check runtime.delete.removes_resources "runtime.md#delete, #lifecycle step 12" c_delete_removes
c_delete_removes() {
	new_bundle
	cfg '.linux.resources.pids = {limit: 100}'
	set_args true
	must_create
	local pid
	pid=$(state_field .pid)
	[ -n "$(cgroup_dirs "$ID")" ] || fail "no cgroup directory for cgroupsPath after create"
	must_start
	wait_status stopped || fail "container did not stop"
	ctr_delete "$ID" || fail "delete of a stopped container failed: $(tail -c 300 "$CT/rt.err")"
	if ctr_state >/dev/null 2>&1; then fail "state still succeeds after delete"; fi
	local left
	left=$(cgroup_dirs "$ID")
	[ -z "$left" ] || fail "cgroup left after delete: $left"
	pid_alive "$pid" && fail "container process $pid still alive after delete"
	must_create
	ctr_delete --force "$ID" || true
}

# Delete: resources associated with, but not created by, the container are not deleted.
check runtime.delete.keeps_foreign_resources "runtime.md#delete" c_delete_foreign
c_delete_foreign() {
	new_bundle
	start_holder unshare --net sleep 60
	local h=$HOLDER_PID i
	for ((i = 0; i < 100; i++)); do
		[ "$(readlink "/proc/$h/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.02
	done
	local nsid
	nsid=$(readlink "/proc/$h/ns/net")
	mkdir -p "$CT/vol"
	echo keep >"$CT/vol/file"
	cfg --arg p "/proc/$h/ns/net" '.linux.namespaces |= map(if .type == "network" then .path = $p else . end)'
	add_mount "$(jq -n --arg s "$CT/vol" '{destination: "/mnt", type: "bind", source: $s, options: ["rbind", "rw"]}')"
	set_args true
	run_ctr
	ctr_delete "$ID" || fail "delete failed: $(tail -c 300 "$CT/rt.err")"
	pid_alive "$h" || fail "the process holding the joined network namespace died"
	expect_eq "$(readlink "/proc/$h/ns/net")" "$nsid" "joined network namespace"
	expect_eq "$(cat "$CT/vol/file" 2>/dev/null)" keep "bind-mount source content"
}

# ------------------------------------------------------------------- hooks ---

# Lifecycle 3-5: prestart, createRuntime, createContainer run during create, in that order, before the program.
check runtime.hooks.create_phase "runtime.md#lifecycle steps 3-5; config.md#prestart, #createRuntime-hooks, #createContainer-hooks" c_hooks_create_phase
c_hooks_create_phase() {
	new_bundle
	all_hooks
	set_script 'echo program >>/out/hooks.log; exec sleep 30'
	must_create
	expect_eq "$(hooks_log)" "prestart createRuntime createContainer" "hooks run by create"
}

# Lifecycle 7-9: startContainer before the program, poststart before start returns.
check runtime.hooks.start_phase "runtime.md#lifecycle steps 7-9; config.md#startContainer-hooks, #poststart" c_hooks_start_phase
c_hooks_start_phase() {
	new_bundle
	all_hooks
	set_script 'grep -q startContainer /out/hooks.log && echo program-after-startContainer >>/out/hooks.log; exec sleep 30'
	must_create
	: >"$CT/out/hooks.log"
	must_start
	local log
	log=$(hooks_log)
	case " $log " in *" startContainer "*) ;; *) fail "startContainer hook not run by start (log: $log)" ;; esac
	case " $log " in *" poststart "*) ;; *) fail "poststart hook not run before start returned (log: $log)" ;; esac
	case " $log " in *" poststop "* | *" prestart "* | *" createRuntime "*) fail "unexpected hooks during start: $log" ;; esac
	local i
	for ((i = 0; i < 60; i++)); do grep -q program-after "$CT/out/hooks.log" && break; sleep 0.05; done
	grep -q program-after-startContainer "$CT/out/hooks.log" ||
		fail "program did not see the startContainer hook's work (log: $(hooks_log))"
}

# Lifecycle 13: poststop hooks run by delete, after the container is deleted, before delete returns.
check runtime.hooks.poststop_on_delete "runtime.md#lifecycle step 13; config.md#poststop" c_hooks_poststop
c_hooks_poststop() {
	new_bundle
	all_hooks
	set_args true
	must_create
	must_start
	wait_status stopped || fail "container did not stop"
	case " $(hooks_log) " in *" poststop "*) fail "poststop ran before delete: $(hooks_log)" ;; esac
	ctr_delete "$ID" || fail "delete failed: $(tail -c 300 "$CT/rt.err")"
	case " $(hooks_log) " in *" poststop "*) ;; *) fail "poststop not run before delete returned (log: $(hooks_log))" ;; esac
}

# Hooks: called in the listed order.
check config.hooks.listed_order "config.md#posix-platform-hooks" c_hooks_order
c_hooks_order() {
	new_bundle
	hooks_setup
	add_hook createRuntime cr-1
	add_hook createRuntime cr-2
	add_hook createRuntime cr-3
	add_hook poststart ps-1
	add_hook poststart ps-2
	set_args sleep 30
	must_create
	must_start
	expect_eq "$(hooks_log)" "cr-1 cr-2 cr-3 ps-1 ps-2" "hook order"
}

# Hooks: the container state is passed on stdin (id, bundle, pid as seen by the runtime).
check config.hooks.state_on_stdin "config.md#posix-platform-hooks; runtime.md#state" c_hooks_stdin
c_hooks_stdin() {
	new_bundle
	all_hooks
	cfg '.annotations = {"com.example.hook": "yes"}'
	set_args sleep 30
	must_create
	must_start
	local pid h s
	pid=$(state_field .pid)
	ctr_kill "$ID" KILL || fail "kill failed"
	wait_status stopped || fail "container did not stop"
	ctr_delete "$ID" || fail "delete failed"
	for h in prestart createRuntime createContainer poststart poststop; do
		s=$(cat "$CT/out/stdin.$h" 2>/dev/null)
		jq -e . >/dev/null 2>&1 <<<"$s" || fail "$h hook stdin is not JSON: '$s'"
		expect_eq "$(jq -r .id <<<"$s")" "$ID" "$h hook state id"
		expect_eq "$(jq -r .bundle <<<"$s")" "$(realpath "$BUNDLE")" "$h hook state bundle"
		expect_eq "$(jq -r '.ociVersion | type' <<<"$s")" string "$h hook state ociVersion"
		expect_eq "$(jq -r '.annotations["com.example.hook"]' <<<"$s")" yes "$h hook state annotations"
	done
	for h in prestart createRuntime poststart; do
		expect_eq "$(jq -r .pid "$CT/out/stdin.$h")" "$pid" "$h hook state pid (runtime namespace)"
	done
	s=$(cat "$CT/out/stdin.startContainer" 2>/dev/null)
	expect_eq "$(jq -r .id <<<"$s" 2>/dev/null)" "$ID" "startContainer hook state id"
}

# Hooks prestart/createRuntime/poststart/poststop: executed in the runtime namespace.
check config.hooks.runtime_namespace "config.md#posix-platform-hooks" c_hooks_runtime_ns
c_hooks_runtime_ns() {
	new_bundle
	all_hooks
	set_args true
	run_ctr
	ctr_delete "$ID" || fail "delete failed"
	local h ns
	for h in prestart createRuntime poststart poststop; do
		[ -s "$CT/out/ns.$h" ] || fail "$h hook did not run"
		for ns in mnt net uts ipc; do
			expect_eq "$(grep "^$ns=" "$CT/out/ns.$h" | cut -d= -f2)" "$(readlink /proc/self/ns/$ns)" "$h hook $ns namespace"
		done
	done
}

# Hooks createContainer: executed in the container namespace (path resolved in the runtime namespace).
check config.hooks.createContainer_namespace "config.md#createContainer-hooks" c_hooks_cc_ns
c_hooks_cc_ns() {
	new_bundle
	all_hooks
	set_args sleep 30
	must_create
	local pid ns
	pid=$(state_field .pid)
	[ -s "$CT/out/ns.createContainer" ] || fail "createContainer hook did not run"
	for ns in mnt net uts ipc; do
		expect_eq "$(grep "^$ns=" "$CT/out/ns.createContainer" | cut -d= -f2)" "$(readlink "/proc/$pid/ns/$ns")" "createContainer hook $ns namespace"
	done
}

# createRuntime: after the environment (namespaces, mounts) is created, before pivot_root.
check config.hooks.createRuntime_before_pivot "config.md#createRuntime-hooks" c_hooks_cr_pivot
c_hooks_cr_pivot() {
	new_bundle
	hooks_setup
	cat >"$CT/cr-hook.sh" <<'EOF2'
#!/bin/sh
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
{
	echo "root=$(readlink /proc/$pid/root)"
	[ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] && echo mntns-created
} >"$1/cr.result"
EOF2
	chmod 755 "$CT/cr-hook.sh"
	cfg --arg p "$CT/cr-hook.sh" --arg d "$CT/out" '.hooks.createRuntime = [{path: $p, args: ["cr-hook.sh", $d]}]'
	set_args sleep 30
	must_create
	local r
	r=$(cat "$CT/out/cr.result" 2>/dev/null)
	grep -qx mntns-created <<<"$r" || fail "container mount namespace not created when createRuntime ran: $r"
	grep -qx 'root=/' <<<"$r" || fail "createRuntime ran after pivot_root (container root already $(grep root= <<<"$r"))"
}

# createContainer: after the mount namespace is set up (mounts done), before pivot_root.
check config.hooks.createContainer_before_pivot "config.md#createContainer-hooks" c_hooks_cc_pivot
c_hooks_cc_pivot() {
	new_bundle
	hooks_setup
	cat >"$CT/cc-hook.sh" <<'EOF2'
#!/bin/sh
{
	echo "root=$(readlink /proc/self/root)"
	awk -v r="$2/rootfs/proc" '$5 == r {print "proc-mounted"}' /proc/self/mountinfo
} >"$1/cc.result"
EOF2
	chmod 755 "$CT/cc-hook.sh"
	cfg --arg p "$CT/cc-hook.sh" --arg d "$CT/out" --arg b "$(realpath "$BUNDLE")" \
		'.hooks.createContainer = [{path: $p, args: ["cc-hook.sh", $d, $b]}]'
	set_args sleep 30
	must_create
	local r
	r=$(cat "$CT/out/cc.result" 2>/dev/null)
	[ -n "$r" ] || fail "createContainer hook did not run"
	grep -qx proc-mounted <<<"$r" || fail "the rootfs mounts (/proc) were not set up when createContainer ran: $r"
	grep -qx 'root=/' <<<"$r" || fail "createContainer ran after pivot_root: $r"
}

# Hooks startContainer: path resolved and executed in the container namespace.
check config.hooks.startContainer_namespace "config.md#startContainer-hooks" c_hooks_sc_ns
c_hooks_sc_ns() {
	new_bundle
	all_hooks
	set_args sleep 30
	must_create
	must_start
	local pid ns
	pid=$(state_field .pid)
	[ -s "$CT/out/ns.startContainer" ] || fail "startContainer hook (a path that exists only in the rootfs) did not run"
	for ns in mnt net uts ipc; do
		expect_eq "$(grep "^$ns=" "$CT/out/ns.startContainer" | cut -d= -f2)" "$(readlink "/proc/$pid/ns/$ns")" "startContainer hook $ns namespace"
	done
}

# Hooks poststart: called after the user-specified process is executed.
check config.hooks.poststart_after_exec "config.md#poststart" c_hooks_poststart_exec
c_hooks_poststart_exec() {
	new_bundle
	hooks_setup
	cat >"$CT/ps-hook.sh" <<'EOF'
#!/bin/sh
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
tr '\0' ' ' </proc/$pid/cmdline >"$1/poststart.cmdline"
EOF
	chmod 755 "$CT/ps-hook.sh"
	cfg --arg p "$CT/ps-hook.sh" --arg d "$CT/out" '.hooks.poststart = [{path: $p, args: ["ps-hook.sh", $d]}]'
	set_args sleep 32
	must_create
	must_start
	expect_eq "$(cat "$CT/out/poststart.cmdline" 2>/dev/null)" "sleep 32 " "container process command line seen by the poststart hook"
}

# hook_failure KIND: a failing KIND hook makes create fail, stops and destroys the container.
hook_failure_on_create() {
	new_bundle
	hooks_setup
	add_hook "$1" "$1-fails" fail
	set_args echo program-ran
	expect_create_error "$1 hook failed"
	[ -s "$CT/ctr.out" ] && fail "user program ran"
	return 0
}

check runtime.hooks.prestart_failure "runtime.md#lifecycle step 3" c_hooks_prestart_fail
c_hooks_prestart_fail() { hook_failure_on_create prestart; }

check runtime.hooks.createRuntime_failure "runtime.md#lifecycle step 4" c_hooks_cr_fail
c_hooks_cr_fail() { hook_failure_on_create createRuntime; }

check runtime.hooks.createContainer_failure "runtime.md#lifecycle step 5" c_hooks_cc_fail
c_hooks_cc_fail() { hook_failure_on_create createContainer; }

# Lifecycle: after a failing createRuntime hook the lifecycle continues at step 12, so poststop hooks run.
check runtime.hooks.failure_runs_poststop "runtime.md#lifecycle steps 4, 12, 13" c_hooks_fail_poststop
c_hooks_fail_poststop() {
	new_bundle
	hooks_setup
	add_hook createRuntime createRuntime-fails fail
	add_hook poststop poststop
	if ctr_create; then fail "create succeeded although a createRuntime hook failed"; fi
	grep -qx poststop "$CT/out/hooks.log" 2>/dev/null || fail "poststop hooks not invoked after the failed create (log: $(hooks_log))"
}

# Lifecycle 7: a failing startContainer hook makes start fail; the program does not run.
check runtime.hooks.startContainer_failure "runtime.md#lifecycle step 7" c_hooks_sc_fail
c_hooks_sc_fail() {
	new_bundle
	hooks_setup
	cfg '.hooks.startContainer = [{path: "/bin/start-hook", args: ["start-hook", "fail"]}]'
	set_args echo program-ran
	must_create
	if ctr_start; then fail "start succeeded although the startContainer hook failed"; fi
	sleep 0.3
	[ -s "$CT/ctr.out" ] && fail "user program ran: $(cat "$CT/ctr.out")"
	local s
	s=$(status_of 2>/dev/null)
	case $s in "" | stopped) ;; *) fail "container not stopped after the hook failure (status $s)" ;; esac
}

# Lifecycle 9: a failing poststart hook is a warning; remaining hooks and the lifecycle continue.
check runtime.hooks.poststart_failure_is_warning "runtime.md#lifecycle step 9" c_hooks_ps_fail
c_hooks_ps_fail() {
	new_bundle
	hooks_setup
	add_hook poststart ps-fails fail
	add_hook poststart ps-2
	set_args sleep 30
	must_create
	ctr_start || fail "start failed because a poststart hook failed: $(tail -c 300 "$CT/rt.err")"
	grep -qx ps-2 "$CT/out/hooks.log" || fail "the poststart hook after the failing one did not run"
	expect_eq "$(status_of)" running "status"
}

# Lifecycle 13: a failing poststop hook is a warning; remaining hooks run, delete completes.
check runtime.hooks.poststop_failure_is_warning "runtime.md#lifecycle step 13" c_hooks_pst_fail
c_hooks_pst_fail() {
	new_bundle
	hooks_setup
	add_hook poststop pst-fails fail
	add_hook poststop pst-2
	set_args true
	run_ctr
	ctr_delete "$ID" || fail "delete failed because a poststop hook failed: $(tail -c 300 "$CT/rt.err")"
	grep -qx pst-2 "$CT/out/hooks.log" || fail "the poststop hook after the failing one did not run"
	ctr_state >/dev/null 2>&1 && fail "container still exists after delete"
	return 0
}
