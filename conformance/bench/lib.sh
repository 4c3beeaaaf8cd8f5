# shellcheck shell=bash
# Shared by `run` and `profile`: the private mount namespace both work in,
# the benchmark bundle, and the clean-up of what the containers leave.
#
# Flow: the script calls bench_setup (temp dir, helper, EXIT trap that cleans
# up on the host side), then bench_enter SCRIPT, which re-runs SCRIPT with
# BENCH_INNER=1 in a private mount namespace under the reaping helper. There
# the script calls bench_private_mounts and does its work.

# shellcheck disable=SC2034 # REPO, FS, HELPER are for the sourcing script
REPO=$(cd "$HERE/../.." && pwd)
CG_PARENT=myrt-bench
# build_rootfs, write_base_config: the same rootfs and base config as the
# conformance suite.
# shellcheck source=SCRIPTDIR/../base.sh
. "$HERE/../base.sh"

log() { printf '== %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# ----------------------------------------------------------------- cgroups ---

# cleanup_cgroups: kill what is left in this run's cgroups (only processes of
# our own containers live there) and remove the cgroups; remove
# /myrt-bench itself where this run created it.
cleanup_cgroups() {
	local h d pid
	for _ in 1 2 3; do
		for h in /sys/fs/cgroup/*/; do
			is_cgroupfs "$h" || continue
			for d in "$h$CG_PARENT/$TOKEN"-*; do
				[ -d "$d" ] || continue
				while read -r pid; do
					if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
				done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
				find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
			done
		done
		leftover_cgroups >/dev/null || break
		sleep 0.2
	done
	for h in /sys/fs/cgroup/*/; do
		if ! is_cgroupfs "$h" || [ ! -d "$h$CG_PARENT" ]; then continue; fi
		grep -qxF "$h$CG_PARENT" "$WORK/cg-preexisting" 2>/dev/null && continue
		rmdir "$h$CG_PARENT" 2>/dev/null || true
	done
	local left
	if left=$(leftover_cgroups); then
		warn "could not remove cgroups: $left"
	fi
}

# is_cgroupfs DIR: DIR is a mounted cgroup hierarchy (in the inner namespace,
# /sys/fs/cgroup/unified is a throwaway tmpfs instead).
is_cgroupfs() {
	case $(stat -f -c %T "$1" 2>/dev/null) in
	cgroupfs | cgroup2fs) return 0 ;;
	*) return 1 ;;
	esac
}

# leftover_cgroups: print this run's cgroups that still exist; false if none.
leftover_cgroups() {
	local h d found=1
	for h in /sys/fs/cgroup/*/; do
		is_cgroupfs "$h" || continue
		for d in "$h$CG_PARENT/$TOKEN"-*; do
			[ -d "$d" ] && printf '%s ' "$d" && found=0
		done
	done
	return $found
}

# bench_setup: WORK (temp dir), TOKEN (prefix of every container id and
# cgroup of this run), the compiled helper, and the host-side clean-up trap.
bench_setup() {
	WORK=$(mktemp -d /tmp/myrt-bench.XXXXXX)
	TOKEN=b$$
	trap 'cleanup_cgroups; rm -rf "$WORK"' EXIT
	trap 'exit 130' INT TERM
	# /myrt-bench hierarchies that exist already are left in place at the end.
	ls -d /sys/fs/cgroup/*/"$CG_PARENT" >"$WORK/cg-preexisting" 2>/dev/null || true
	cc -O2 -Wall -o "$WORK/helper" "$HERE/helper.c" || die "could not compile helper.c"
	export WORK TOKEN
}

# bench_enter SCRIPT: run SCRIPT again (BENCH_INNER=1) in a private mount
# namespace, as a child of the helper acting as subreaper (containers whose
# runtime exited are reaped at once instead of lingering as zombies under
# this machine's slow PID 1). Exits with its status; the EXIT trap cleans up.
# With NICE set, everything runs at that nice level (e.g. -10 so that other
# work on a shared machine disturbs the samples less).
bench_enter() {
	local rc=0 pre=()
	[ -n "${NICE:-}" ] && pre=(nice -n "$NICE")
	BENCH_INNER=1 "${pre[@]}" unshare -m --propagation private \
		"$WORK/helper" reap bash "$1" || rc=$?
	exit "$rc"
}

# bench_private_mounts: (inside the namespace) the cgroup layout every runtime
# sees, and a tmpfs at $FS for bundles and state dirs. Sets FS and HELPER.
bench_private_mounts() {
	# shellcheck disable=SC2034
	FS=$WORK/fs
	HELPER=$WORK/helper
	# Same cgroup layout for everyone: plain v1 (see README.md). A fresh
	# tmpfs goes where the cgroup2 mount was: runtimes that follow the "0::"
	# line of /proc/self/cgroup still mkdir and write there, and without it
	# those writes would land in the host's /sys/fs/cgroup tmpfs, hidden
	# under the host's unified mount.
	if mountpoint -q /sys/fs/cgroup/unified; then
		umount /sys/fs/cgroup/unified || die "cannot unmount /sys/fs/cgroup/unified"
		mount -t tmpfs -o mode=0755,size=1m bench-unified /sys/fs/cgroup/unified
	fi
	mkdir -p "$FS"
	mount -t tmpfs -o mode=0755 bench "$FS"
	build_rootfs "$FS/rootfs"
}

# write_config FILE ROOTFS CGROUPS-PATH ARG...: the one config every runtime
# gets: shaped like `runc spec` (no terminal), with pid, ipc, uts, mount and
# network namespaces and an absolute cgroupsPath.
write_config() {
	local file=$1 rootfs=$2 cg=$3
	shift 3
	write_base_config "$file.base"
	jq --arg rootfs "$rootfs" --arg cg "$cg" --args '
	  .process.args = $ARGS.positional
	  | .process.env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
	  | .root = {path: $rootfs, readonly: true}
	  | .hostname = "bench"
	  | .linux.cgroupsPath = $cg
	  | .linux.namespaces |= map(select(.type != "cgroup"))
	' "$@" <"$file.base" >"$file"
	rm -f "$file.base"
}

