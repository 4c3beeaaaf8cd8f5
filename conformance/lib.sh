# shellcheck shell=bash
# Helper library of the runtime-spec conformance suite.
#
# Sourced by `run` (to build the shared fixtures and to list the checks) and by
# every check process. A check is a bash function registered with `check`; it
# runs in its own bash process with a fresh bundle directory ($CT), and
# `cleanup` (an EXIT trap) removes everything it created, even on failure.
#
# The runtime is driven through the runc-compatible command line, the same one
# containerd and podman use:
#   RT --root DIR create --bundle DIR [--console-socket S] ID
#   RT --root DIR start|state ID
#   RT --root DIR kill ID SIGNAL
#   RT --root DIR delete [--force] ID
#   RT --root DIR run --bundle DIR ID        (only the terminal checks)
#
# Variables exported by `run`: RT (runtime binary), CONF_DIR, WORK (suite temp
# dir), STATE_ROOT, ROOTFS_TEMPLATE, BASE_CONFIG, CGROUP_MODE (v1 or v2).

CG_PARENT=myrt-conformance
RT_TIMEOUT=${RT_TIMEOUT:-20}

# ---------------------------------------------------------------- registry ---

# shellcheck disable=SC2034 # read by `run`
CHECK_NAMES=()
declare -A CHECK_FN CHECK_FILE CHECK_REQ

# check NAME REQUIREMENT-REF FUNCTION
# shellcheck disable=SC2034 # the tables are read by `run`
check() {
	CHECK_NAMES+=("$1")
	CHECK_REQ[$1]=$2
	CHECK_FN[$1]=$3
	CHECK_FILE[$1]=${BASH_SOURCE[1]}
}

# ---------------------------------------------------------------- fixtures ---

# cgroup mode, detected like runc: statfs(/sys/fs/cgroup) is cgroup2 => v2.
detect_cgroup_mode() {
	if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
		echo v2
	else
		echo v1
	fi
}

# build_rootfs and write_base_config live in base.sh (shared with bench/).
# shellcheck source=SCRIPTDIR/base.sh
. "$(dirname "${BASH_SOURCE[0]}")/base.sh"

# ------------------------------------------------------------ check result ---

# fail MESSAGE: the check failed; the message is the reason shown.
fail() {
	printf '%s\n' "$*" >"$CT_REASON"
	echo "FAIL: $*" >&2
	exit 1
}

# skip REASON: the host cannot do what the check needs.
skip() {
	printf '%s\n' "$*" >"$CT_REASON"
	exit 77
}

# note MESSAGE: extra information for the log.
note() { echo "note: $*" >&2; }

expect_eq() { # ACTUAL EXPECTED WHAT
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

need_cgroup() { # v1|v2
	[ "$CGROUP_MODE" = "$1" ] || skip "needs cgroup $1, host is cgroup $CGROUP_MODE"
}

# ------------------------------------------------------------- the runtime ---

# rt ARGS...: run the runtime with our state root and a time limit.
rt() {
	timeout -k 5 "$RT_TIMEOUT" "$RT" --root "$STATE_ROOT" "$@"
}

# new_bundle [ID [DIR]]: fresh bundle (default $CT/bundle) with a copy of the
# rootfs and the base config; sets BUNDLE, ID, CONFIG.
new_bundle() {
	ID=${1:-mc-$CHECK_SEQ-$$-$RANDOM}
	BUNDLE=$CT/bundle
	[ -n "${2:-}" ] && BUNDLE=$2
	CONFIG=$BUNDLE/config.json
	mkdir -p "$BUNDLE"
	cp -a "$ROOTFS_TEMPLATE" "$BUNDLE/rootfs"
	jq --arg p "/$CG_PARENT/$ID" '.linux.cgroupsPath = $p' "$BASE_CONFIG" >"$CONFIG"
	IDS+=("$ID")
}

# cfg [JQ-OPTIONS...] FILTER: edit config.json in place.
cfg() {
	jq "$@" <"$CONFIG" >"$CONFIG.new" || fail "jq edit of config.json failed: $*"
	mv "$CONFIG.new" "$CONFIG"
}

# set_args ARG...: process.args
set_args() {
	cfg --argjson a "$(json_array "$@")" '.process.args = $a'
}

# json_array STRING...: a JSON array of the strings (any content).
json_array() {
	local opts=() f='' i=0 x
	for x in "$@"; do
		opts+=(--arg "a$i" "$x")
		f+="\$a$i,"
		i=$((i + 1))
	done
	jq -nc "${opts[@]}" "[${f%,}]"
}

# set_script TEXT: process.args = sh -c TEXT
set_script() {
	set_args /bin/sh -c "$1"
}

# add_mount JSON: append a mount entry.
add_mount() {
	cfg --argjson m "$1" '.mounts += [$m]'
}

# bind_out DIR-IN-CONTAINER: a host dir $CT/out bind-mounted read-write.
bind_out() {
	mkdir -p "$CT/out"
	chmod 777 "$CT/out"
	mkdir -p "$BUNDLE/rootfs$1"
	add_mount "$(jq -n --arg s "$CT/out" --arg d "$1" \
		'{destination: $d, type: "bind", source: $s, options: ["rbind", "rw"]}')"
}

# ctr_create [ID] [RUNTIME-CREATE-OPTIONS...]: create; container stdio go to
# $CT/ctr.out and $CT/ctr.err (the runtime's own messages land there too).
ctr_create() {
	local id=${1:-$ID}
	shift || true
	rt create --bundle "$BUNDLE" "$@" "$id" >"$CT/ctr.out" 2>"$CT/ctr.err" </dev/null
	local rc=$?
	if [ $rc -eq 0 ]; then
		local p
		p=$(state_field .pid "$id" 2>/dev/null)
		[ -n "$p" ] && [ "$p" != null ] && CT_PIDS+=("$p:$id")
	fi
	return $rc
}

ctr_start() { rt start "${1:-$ID}" >>"$CT/rt.out" 2>>"$CT/rt.err"; }
ctr_delete() { rt delete "$@" >>"$CT/rt.out" 2>>"$CT/rt.err"; }
ctr_kill() { rt kill "$@" >>"$CT/rt.out" 2>>"$CT/rt.err"; }
ctr_state() { rt state "${1:-$ID}" 2>>"$CT/rt.err"; }

# state_field JQ-PATH [ID]
state_field() {
	local s
	s=$(ctr_state "${2:-$ID}") || return 1
	jq -r "$1" <<<"$s"
}

status_of() { state_field .status "${1:-$ID}"; }

# wait_status WANT [ID] [SECONDS]
wait_status() {
	local want=$1 id=${2:-$ID} secs=${3:-10} s i
	for ((i = 0; i < secs * 20; i++)); do
		s=$(status_of "$id" 2>/dev/null)
		[ "$s" = "$want" ] && return 0
		sleep 0.05
	done
	echo "status of $id is '$s', waited for '$want'" >&2
	return 1
}

# must_create / must_start: fail the check with the runtime's message.
# shellcheck disable=SC2120 # arguments are optional
must_create() {
	ctr_create "$@" || fail "create failed: $(tail -c 600 "$CT/ctr.err" | tr '\n' ' ')"
}
# shellcheck disable=SC2120
must_start() {
	ctr_start "$@" || fail "start failed: $(tail -c 600 "$CT/rt.err" | tr '\n' ' ')"
}

# run_ctr: create + start + wait until stopped; container stdout in $OUT.
run_ctr() {
	must_create
	must_start
	wait_status stopped "$ID" 15 || fail "container did not stop (status $(status_of))"
	# shellcheck disable=SC2034 # read by the checks
	OUT=$(cat "$CT/ctr.out")
	# shellcheck disable=SC2034
	ERR=$(cat "$CT/ctr.err")
}

# run_out SCRIPT: run `sh -c SCRIPT` in the container and set $OUT.
run_out() {
	set_script "$1"
	run_ctr
}

# expect_create_error WHAT: create must fail and leave no container behind.
expect_create_error() {
	if ctr_create; then
		fail "create succeeded, expected an error ($1)"
	fi
	if ctr_state >/dev/null 2>&1; then
		fail "create failed but a container '$ID' is left (state succeeds)"
	fi
	no_cgroup_left "$ID" || fail "create failed but cgroup $(cgroup_dirs "$ID" | head -1) is left"
}

# expect_create_or_start_error WHAT: create or start must fail (for errors a
# runtime may find at either point).
expect_create_or_start_error() {
	if ctr_create; then
		if ctr_start; then
			fail "create and start succeeded, expected an error ($1)"
		fi
	fi
	return 0
}

# pid_alive PID: exists and is not a zombie
pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)
	[ "$st" != Z ] && [ "$st" != X ]
}

# holder: start a background process we own (namespace holders etc.); its PID
# is returned in HOLDER_PID and killed by cleanup.
start_holder() {
	"$@" </dev/null >/dev/null 2>&1 &
	HOLDER_PID=$!
	HOLDERS+=("$HOLDER_PID")
}

# -------------------------------------------------------------------- hooks ---

# write_hook FILE: a host hook script: `hook NAME` appends NAME to $CT/out/hooks.log
# and saves its stdin, namespaces and environment.
write_hook() {
	cat >"$1" <<'EOF'
#!/bin/sh
name=$1 dir=$2
cat >"$dir/stdin.$name"
for ns in mnt net pid uts ipc; do
	printf '%s=%s\n' "$ns" "$(readlink /proc/self/ns/$ns)"
done >"$dir/ns.$name"
echo "$name" >>"$dir/hooks.log"
case ${3:-} in
fail) exit 1 ;;
sleep) exec sleep "$4" ;;
esac
exit 0
EOF
	chmod 755 "$1"
}

# hook_json NAME [MODE [ARG]]: a hook entry running the host hook script.
hook_json() {
	jq -n --arg p "$CT/hook.sh" --arg n "$1" --arg d "$CT/out" --arg m "${2:-}" --arg a "${3:-}" \
		'{path: $p, args: (["hook.sh", $n, $d] + (if $m == "" then [] else [$m, $a] end))}'
}

# add_hook KIND NAME [MODE [ARG]]
add_hook() {
	cfg --arg k "$1" --argjson h "$(hook_json "$2" "${3:-}" "${4:-}")" '.hooks[$k] += [$h]'
}

# hooks_setup: hook script, /out bind mount, the in-container startContainer hook.
hooks_setup() {
	write_hook "$CT/hook.sh"
	bind_out /out
	cat >"$BUNDLE/rootfs/bin/start-hook" <<'EOF'
#!/bin/sh
cat >/out/stdin.startContainer
for ns in mnt net pid uts ipc; do
	printf '%s=%s\n' "$ns" "$(readlink /proc/self/ns/$ns)"
done >/out/ns.startContainer
echo startContainer >>/out/hooks.log
[ "${1:-}" = fail ] && exit 1
exit 0
EOF
	chmod 755 "$BUNDLE/rootfs/bin/start-hook"
}

hooks_log() { tr '\n' ' ' <"$CT/out/hooks.log" 2>/dev/null | sed 's/ $//'; }

all_hooks() {
	hooks_setup
	add_hook prestart prestart
	add_hook createRuntime createRuntime
	add_hook createContainer createContainer
	cfg '.hooks.startContainer = [{path: "/bin/start-hook", args: ["start-hook"]}]'
	add_hook poststart poststart
	add_hook poststop poststop
}

# ------------------------------------------------------------------ cgroups ---

# cgroup_dirs ID: existing cgroup directories of the container.
cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/*/"$CG_PARENT/$1" /sys/fs/cgroup/"$CG_PARENT/$1"; do
		[ -d "$d" ] && echo "$d"
	done
}

no_cgroup_left() { [ -z "$(cgroup_dirs "$1")" ]; }

# cg_file CONTROLLER FILE: path of a cgroup file of the container ($ID).
cg_file() {
	if [ "$CGROUP_MODE" = v2 ]; then
		echo "/sys/fs/cgroup/$CG_PARENT/$ID/$2"
	else
		echo "/sys/fs/cgroup/$1/$CG_PARENT/$ID/$2"
	fi
}

remove_cgroup_tree() {
	local d=$1 i
	[ -d "$d" ] || return 0
	for ((i = 0; i < 50; i++)); do
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$d" ] || return 0
		sleep 0.1
	done
	echo "cleanup: could not remove cgroup $d" >&2
}

# ------------------------------------------------------------------ cleanup ---

# our_pids: processes that are ours for sure: members of our containers'
# cgroups, and processes whose command line names our unique check directory
# (the runtime we started, or a clone of it that has not exec'ed yet).
our_pids() {
	local id f p args
	for id in "${IDS[@]}"; do
		find /sys/fs/cgroup/*/"$CG_PARENT/$id" /sys/fs/cgroup/"$CG_PARENT/$id" -name cgroup.procs -exec cat {} + 2>/dev/null
	done
	for f in $(grep -lsF -- "$CT/" /proc/[0-9]*/cmdline 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/cmdline}
		[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
		mapfile -d '' args <"$f" 2>/dev/null || continue
		[[ " ${args[*]} " == *"$CT/"* ]] && echo "$p"
	done
}

cleanup() {
	local id p pid cid d i
	trap - EXIT TERM INT
	RT_TIMEOUT=10
	for id in "${IDS[@]}"; do
		rt delete --force "$id" >/dev/null 2>&1
	done
	for p in "${CT_PIDS[@]}"; do
		pid=${p%%:*} cid=${p#*:}
		if [ -r "/proc/$pid/cgroup" ] && grep -q "/$CG_PARENT/$cid\$" "/proc/$pid/cgroup" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null
		fi
	done
	for pid in "${HOLDERS[@]}"; do
		kill -9 "$pid" 2>/dev/null
	done
	for ((i = 0; i < 5; i++)); do
		pid=$(our_pids | sort -u | tr '\n' ' ')
		[ -z "${pid// /}" ] && break
		echo "cleanup: killing leftover processes: $pid" >&2
		# shellcheck disable=SC2086
		kill -9 $pid 2>/dev/null
		sleep 0.1
	done
	for pid in "${HOLDERS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for id in "${IDS[@]}"; do
		for d in /sys/fs/cgroup/*/"$CG_PARENT/$id" /sys/fs/cgroup/"$CG_PARENT/$id"; do
			remove_cgroup_tree "$d"
		done
		[ -e "$STATE_ROOT/$id" ] && rm -rf --one-file-system "${STATE_ROOT:?}/$id"
	done
	# Mounts the runtime may have leaked on the host under our temp dir.
	local m
	for m in $(awk -v p="$CT" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		echo "cleanup: unmounting $m" >&2
		umount -l "$m" 2>/dev/null
	done
	[ -n "${CT:-}" ] && [ -d "$CT" ] && rm -rf --one-file-system "$CT"
}

# run_check NAME: body of one check process (called by `run`).
run_check() {
	local name=$1
	IDS=() CT_PIDS=() HOLDERS=()
	CT=$(mktemp -d "$WORK/c.XXXXXX")
	chmod 755 "$CT"
	trap cleanup EXIT
	trap 'echo "check interrupted (time limit?)" >"$CT_REASON"; exit 1' TERM INT
	cd "$CT" || exit 1
	"${CHECK_FN[$name]}"
}
