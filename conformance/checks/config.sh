# shellcheck shell=bash
# config.md: root, mounts, process, hostname, domainname, annotations,
# extensibility, valid values. (Hook checks live in runtime.sh.)

# mnt_field MOUNTPOINT: "<per-mount options> - <fstype> <source> <super options>"
# of the last mount on MOUNTPOINT, as a container shell snippet.
MNT_FN='mnt() { awk -v m="$1" '"'"'$5 == m {l = $0} END {print l}'"'"' /proc/self/mountinfo | sed "s/^[^ ]* [^ ]* [^ ]* [^ ]* [^ ]* //"; }'

# -------------------------------------------------------------------- root ---

# Root path: absolute path (outside the bundle) is used as the root filesystem.
check config.root.path_absolute "config.md#root" c_root_abs
c_root_abs() {
	new_bundle
	mv "$BUNDLE/rootfs" "$CT/elsewhere"
	echo abs-root >"$CT/elsewhere/marker"
	cfg --arg p "$CT/elsewhere" '.root.path = $p'
	run_out 'cat /marker'
	expect_eq "$OUT" abs-root "content of /marker"
}

# Root path: relative to the bundle (the conventional `rootfs`).
check config.root.path_relative "config.md#root" c_root_rel
c_root_rel() {
	new_bundle
	mkdir -p "$BUNDLE/sub"
	mv "$BUNDLE/rootfs" "$BUNDLE/sub/rfs"
	echo rel-root >"$BUNDLE/sub/rfs/marker"
	cfg '.root.path = "sub/rfs"'
	# create from another working directory: the path is relative to the bundle
	run_out 'cat /marker'
	expect_eq "$OUT" rel-root "content of /marker"
}

# Root path: a directory MUST exist at root.path; a regular file there is an error.
check config.root.path_not_directory "config.md#root; runtime.md#lifecycle step 2" c_root_file
c_root_file() {
	new_bundle
	rm -rf "$BUNDLE/rootfs"
	echo not-a-dir >"$BUNDLE/rootfs"
	expect_create_error "root.path is a regular file"
}

# Root readonly true: the root filesystem is read-only inside the container.
check config.root.readonly "config.md#root" c_root_ro
c_root_ro() {
	new_bundle
	cfg '.root.readonly = true'
	run_out "$MNT_FN"'; touch /mc-file 2>/dev/null && echo writable || echo read-only; mnt /'
	local first opts
	first=$(head -1 <<<"$OUT")
	expect_eq "$first" read-only "write to /"
	opts=$(sed -n 2p <<<"$OUT" | cut -d' ' -f1)
	case ,$opts, in *,ro,*) ;; *) fail "mount options of / are '$opts', expected ro" ;; esac
	[ -e "$BUNDLE/rootfs/mc-file" ] && fail "file created in the read-only root"
	return 0
}

# Root readonly false (default): the root filesystem is writable.
check config.root.readwrite "config.md#root" c_root_rw
c_root_rw() {
	new_bundle
	cfg '.root.readonly = false'
	run_out 'echo data >/mc-file && cat /mc-file'
	expect_eq "$OUT" data "write to /"
}

# ------------------------------------------------------------------ mounts ---

# Mounts: entries are mounted in the listed order (later mount on the same destination wins).
check config.mounts.order_same_destination "config.md#mounts" c_mounts_order
c_mounts_order() {
	new_bundle
	mkdir -p "$CT/a" "$CT/b" "$BUNDLE/rootfs/mnt/same"
	touch "$CT/a/from-a" "$CT/b/from-b"
	add_mount "$(jq -n --arg s "$CT/a" '{destination: "/mnt/same", type: "bind", source: $s, options: ["rbind"]}')"
	add_mount "$(jq -n --arg s "$CT/b" '{destination: "/mnt/same", type: "bind", source: $s, options: ["rbind"]}')"
	run_out 'ls /mnt/same'
	expect_eq "$OUT" from-b "content of /mnt/same (second mount on top)"
}

# Mounts: listed order with nesting (a tmpfs listed after a bind mounts on top of a directory inside it).
check config.mounts.order_nested "config.md#mounts" c_mounts_nested
c_mounts_nested() {
	new_bundle
	mkdir -p "$CT/vol/inner" "$BUNDLE/rootfs/nest"
	touch "$CT/vol/top" "$CT/vol/inner/hidden"
	add_mount "$(jq -n --arg s "$CT/vol" '{destination: "/nest", type: "bind", source: $s, options: ["rbind"]}')"
	add_mount '{"destination": "/nest/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}'
	run_out "$MNT_FN"'; ls /nest; echo "inner:$(ls /nest/inner)"; mnt /nest/inner'
	grep -qx top <<<"$OUT" || fail "bind mount not visible at /nest: $OUT"
	grep -qx 'inner:' <<<"$OUT" || fail "/nest/inner is not the (empty) tmpfs: $OUT"
	[ "$(tail -1 <<<"$OUT" | sed 's/.* - //' | cut -d' ' -f1)" = tmpfs ] || fail "/nest/inner is not a tmpfs: $(tail -1 <<<"$OUT")"
	[ -e "$CT/vol/inner/hidden" ] || fail "host directory changed"
}

# Mounts: bind mount of a host directory, read-write.
check config.mounts.bind_rw "config.md#mounts" c_mounts_bind_rw
c_mounts_bind_rw() {
	new_bundle
	mkdir -p "$CT/vol" "$BUNDLE/rootfs/data"
	echo host >"$CT/vol/in"
	add_mount "$(jq -n --arg s "$CT/vol" '{destination: "/data", type: "bind", source: $s, options: ["rbind", "rw"]}')"
	run_out 'cat /data/in; echo container >/data/out'
	expect_eq "$OUT" host "file read through the bind mount"
	expect_eq "$(cat "$CT/vol/out" 2>/dev/null)" container "file written through the bind mount"
}

# Mounts: bind mount with `ro` is read-only.
check config.mounts.bind_ro "config.md#mounts, #linux-mount-options (ro)" c_mounts_bind_ro
c_mounts_bind_ro() {
	new_bundle
	mkdir -p "$CT/vol" "$BUNDLE/rootfs/data"
	echo host >"$CT/vol/in"
	add_mount "$(jq -n --arg s "$CT/vol" '{destination: "/data", type: "bind", source: $s, options: ["rbind", "ro"]}')"
	run_out 'cat /data/in; echo x >/data/out 2>/dev/null && echo writable || echo read-only'
	expect_eq "$OUT" "host
read-only" "read and write through an ro bind mount"
	[ -e "$CT/vol/out" ] && fail "file created through the ro bind mount"
	return 0
}

# Mounts: bind source relative to the bundle.
check config.mounts.bind_relative_source "config.md#mounts (source)" c_mounts_rel_src
c_mounts_rel_src() {
	new_bundle
	mkdir -p "$BUNDLE/vol" "$BUNDLE/rootfs/data"
	echo relative >"$BUNDLE/vol/in"
	add_mount '{"destination": "/data", "type": "bind", "source": "vol", "options": ["rbind"]}'
	run_out 'cat /data/in'
	expect_eq "$OUT" relative "file read through a bind mount with a bundle-relative source"
}

# Mounts: bind mount of a single file.
check config.mounts.bind_file "config.md#mounts (source)" c_mounts_bind_file
c_mounts_bind_file() {
	new_bundle
	echo file-content >"$CT/host-file"
	touch "$BUNDLE/rootfs/etc/bound"
	add_mount "$(jq -n --arg s "$CT/host-file" '{destination: "/etc/bound", type: "bind", source: $s, options: ["bind"]}')"
	run_out 'cat /etc/bound'
	expect_eq "$OUT" file-content "bind-mounted file"
}

# Mounts (Linux): a relative destination is interpreted relative to "/".
check config.mounts.relative_destination "config.md#mounts (destination)" c_mounts_rel_dest
c_mounts_rel_dest() {
	new_bundle
	mkdir -p "$BUNDLE/rootfs/reltarget"
	add_mount '{"destination": "reltarget", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}'
	run_out "$MNT_FN"'; mnt /reltarget'
	[ "$(sed 's/.* - //' <<<"$OUT" | cut -d' ' -f1)" = tmpfs ] || fail "no tmpfs at /reltarget: '$OUT'"
}

# Mounts: tmpfs with filesystem-independent flags and filesystem-specific data (size).
check config.mounts.tmpfs_options "config.md#mounts, #linux-mount-options" c_mounts_tmpfs
c_mounts_tmpfs() {
	new_bundle
	mkdir -p "$BUNDLE/rootfs/t"
	add_mount '{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "mode=710", "size=1m"]}'
	run_out "$MNT_FN"'; mnt /t'
	local line opts super
	line=$(head -1 <<<"$OUT")
	opts=$(cut -d' ' -f1 <<<"$line")
	super=$(sed 's/.* - //' <<<"$line" | cut -d' ' -f3)
	local o
	for o in nosuid nodev noexec; do
		case ,$opts, in *,$o,*) ;; *) fail "option $o missing on /t: $opts" ;; esac
	done
	case ,$super, in *,size=1024k,*) ;; *) fail "size=1m not applied: $super" ;; esac
}

# Mounts: MUST options take effect (flags visible in mountinfo).
check config.mounts.option_flags "config.md#linux-mount-options" c_mounts_flags
c_mounts_flags() {
	new_bundle
	local o
	for o in ro nosuid nodev noexec noatime nodiratime strictatime relatime sync dirsync lazytime; do
		mkdir -p "$BUNDLE/rootfs/f/$o"
		add_mount "$(jq -n --arg o "$o" '{destination: ("/f/" + $o), type: "tmpfs", source: "tmpfs", options: [$o, "size=64k"]}')"
	done
	run_out "$MNT_FN"'; for o in ro nosuid nodev noexec noatime nodiratime strictatime relatime sync dirsync lazytime; do echo "$o $(mnt /f/$o)"; done'
	local line opts super want
	while read -r o line; do
		opts=,$(cut -d' ' -f1 <<<"$line"),
		super=,$(sed 's/.* - //' <<<"$line" | cut -d' ' -f3),
		case $o in
		strictatime) [[ $opts != *,relatime,* && $opts != *,noatime,* ]] || fail "strictatime: per-mount options $opts" ;;
		sync | dirsync | lazytime) [[ $super == *,$o,* ]] || fail "$o: superblock options $super" ;;
		*) [[ $opts == *,$o,* ]] || fail "$o: per-mount options $opts" ;;
		esac
		want=$((${want:-0} + 1))
	done <<<"$OUT"
	expect_eq "${want:-0}" 11 "number of mounts checked"
}

# Mounts: options are applied left to right like mount(8) (a later option overrides an earlier one).
check config.mounts.option_override "config.md#linux-mount-options (as mount(8))" c_mounts_override
c_mounts_override() {
	new_bundle
	local pair
	for pair in ro,rw nosuid,suid nodev,dev noexec,exec noatime,atime sync,async; do
		mkdir -p "$BUNDLE/rootfs/o/${pair%,*}"
		add_mount "$(jq -n --arg a "${pair%,*}" --arg b "${pair#*,}" '{destination: ("/o/" + $a), type: "tmpfs", source: "tmpfs", options: [$a, $b, "size=64k"]}')"
	done
	run_out "$MNT_FN"'; for o in ro nosuid nodev noexec noatime sync; do echo "$o $(mnt /o/$o)"; done'
	local o line opts super
	while read -r o line; do
		opts=,$(cut -d' ' -f1 <<<"$line"),
		super=,$(sed 's/.* - //' <<<"$line" | cut -d' ' -f3),
		[[ $opts$super != *,$o,* ]] || fail "'$o' followed by its opposite still set on /o/$o: $opts $super"
		[ -n "$line" ] || fail "no mount at /o/$o"
	done <<<"$OUT"
}

# Mounts: every filesystem-independent MUST option string is accepted.
MUST_FS_OPTIONS="async atime defaults dev diratime dirsync exec iversion lazytime loud noatime nodev nodiratime noexec
	noiversion nolazytime norelatime nostrictatime nosuid relatime ro rw silent strictatime suid sync"
check config.mounts.options_accepted "config.md#linux-mount-options" c_mounts_accepted
c_mounts_accepted() {
	new_bundle
	local o
	for o in $MUST_FS_OPTIONS; do
		mkdir -p "$BUNDLE/rootfs/a/$o"
		add_mount "$(jq -n --arg o "$o" '{destination: ("/a/" + $o), type: "tmpfs", source: "tmpfs", options: [$o, "size=64k"]}')"
	done
	set_script 'ls /a | wc -l; awk '"'"'$5 ~ "^/a/"'"'"' /proc/self/mountinfo | wc -l'
	if ! ctr_create; then
		# find the options that are refused, one container each
		local bad=() base
		base=$(jq '.mounts |= map(select(.destination | startswith("/a/") | not))' "$CONFIG")
		for o in $MUST_FS_OPTIONS; do
			jq --arg o "$o" '.mounts += [{destination: ("/a/" + $o), type: "tmpfs", source: "tmpfs", options: [$o, "size=64k"]}]' <<<"$base" >"$CONFIG"
			if rt create --bundle "$BUNDLE" "$ID" >/dev/null 2>&1 </dev/null; then
				rt delete --force "$ID" >/dev/null 2>&1
			else
				bad+=("$o")
			fi
		done
		fail "mount options refused: ${bad[*]}"
	fi
	must_start
	wait_status stopped || fail "container did not stop"
	expect_eq "$(tr '\n' ' ' <"$CT/ctr.out")" "26 26 " "mounts made with each option"
}

# Mounts: bind and propagation MUST options are accepted and applied.
check config.mounts.propagation_options "config.md#linux-mount-options" c_mounts_propagation
c_mounts_propagation() {
	new_bundle
	mkdir -p "$CT/vol"
	local o
	for o in bind rbind private rprivate shared rshared slave rslave unbindable runbindable; do
		mkdir -p "$BUNDLE/rootfs/p/$o"
		case $o in bind | rbind) set -- "$o" ;; *) set -- rbind "$o" ;; esac
		add_mount "$(jq -n --arg s "$CT/vol" --argjson opts "$(json_array "$@")" --arg o "$o" '{destination: ("/p/" + $o), type: "bind", source: $s, options: $opts}')"
	done
	run_out 'for o in bind rbind private rprivate shared rshared slave rslave unbindable runbindable; do echo "$o $(awk -v m=/p/$o '"'"'$5 == m {l = $0} END {split(l, a, " - "); n = split(a[1], f, " "); s = ""; for (i = 7; i <= n; i++) s = s " " f[i]; print s}'"'"' /proc/self/mountinfo)"; done'
	local line opt fields
	while read -r opt fields; do
		case $opt in
		shared | rshared) [[ " $fields " == *" shared:"* ]] || fail "$opt: mount not shared (optional fields '$fields')" ;;
		unbindable | runbindable) [[ " $fields " == *" unbindable"* ]] || fail "$opt: mount not unbindable ('$fields')" ;;
		private | rprivate) [[ " $fields " != *" shared:"* && " $fields " != *" master:"* ]] || fail "$opt: mount not private ('$fields')" ;;
		slave | rslave) [[ " $fields " != *" shared:"* ]] || fail "$opt: mount still shared ('$fields')" ;;
		esac
	done <<<"$OUT"
	[ "$(wc -l <<<"$OUT")" -eq 10 ] || fail "expected 10 mounts: $OUT"
}

# Mounts idmap: no mount mappings and no user namespace => an error MUST be returned.
check config.mounts.idmap_without_mappings "config.md#linux-mount-options (idmap)" c_mounts_idmap
c_mounts_idmap() {
	new_bundle
	mkdir -p "$CT/vol" "$BUNDLE/rootfs/data"
	add_mount "$(jq -n --arg s "$CT/vol" '{destination: "/data", type: "bind", source: $s, options: ["rbind", "idmap"]}')"
	expect_create_or_start_error "idmap mount without mappings in a container without a user namespace"
}

# ----------------------------------------------------------------- process ---

# Process args: argv exactly as configured.
check config.process.args "config.md#process (args)" c_proc_args
c_proc_args() {
	new_bundle
	set_args /bin/sh -c 'printf "[%s]" "$0" "$@"' zero 'a b' '' '*' '$HOME' "new
line"
	run_ctr
	expect_eq "$OUT" '[zero][a b][][*][$HOME][new
line]' "argv"
}

# Process args: args[0] without a slash is searched in the container's PATH (execvp).
check config.process.args_path_search "config.md#process (args)" c_proc_args_path
c_proc_args_path() {
	new_bundle
	mkdir -p "$BUNDLE/rootfs/opt/mc-bin"
	printf '#!/bin/sh\necho found-in-path "$@"\n' >"$BUNDLE/rootfs/opt/mc-bin/mc-hello"
	chmod 755 "$BUNDLE/rootfs/opt/mc-bin/mc-hello"
	cfg '.process.env = ["PATH=/opt/mc-bin:/bin"]'
	set_args mc-hello arg
	run_ctr
	expect_eq "$OUT" "found-in-path arg" "output"
}

# Process args: a missing executable is an error of create or start (the environment cannot be created).
check config.process.args_missing_executable "config.md#process (args); runtime.md#lifecycle step 2" c_proc_args_missing
c_proc_args_missing() {
	new_bundle
	set_args /mc-no-such-program
	expect_create_or_start_error "executable does not exist"
}

# Process args: at least one entry is REQUIRED; an empty args is an invalid value.
check config.process.args_empty "config.md#process (args), #valid-values" c_proc_args_empty
c_proc_args_empty() {
	new_bundle
	cfg '.process.args = []'
	expect_create_or_start_error "empty process.args"
}

# Process env: the process environment is exactly env (environ semantics).
check config.process.env "config.md#process (env)" c_proc_env
c_proc_env() {
	new_bundle
	cfg '.process.env = ["PATH=/bin", "FOO=bar", "EMPTY=", "WITH_EQ=a=b", "SPACE=x y"]'
	set_args env
	run_ctr
	local v
	for v in "PATH=/bin" "FOO=bar" "EMPTY=" "WITH_EQ=a=b" "SPACE=x y"; do
		grep -qxF "$v" <<<"$OUT" || fail "'$v' missing from the environment: $(tr '\n' ' ' <<<"$OUT")"
	done
	grep -q '^MYRT_CONFORMANCE_LEAK=' <<<"$OUT" && fail "the runtime's environment leaked into the container"
	return 0
}

# Process cwd: the working directory is set.
check config.process.cwd "config.md#process (cwd)" c_proc_cwd
c_proc_cwd() {
	new_bundle
	cfg '.process.cwd = "/home/user"'
	run_out 'pwd'
	expect_eq "$OUT" /home/user "working directory"
}

# Process cwd: MUST be absolute; a relative cwd is an invalid value (error).
check config.process.cwd_relative "config.md#process (cwd), #valid-values" c_proc_cwd_rel
c_proc_cwd_rel() {
	new_bundle
	cfg '.process.cwd = "home/user"'
	expect_create_or_start_error "relative process.cwd"
}

# Process user: uid and gid.
check config.process.user "config.md#user" c_proc_user
c_proc_user() {
	new_bundle
	cfg '.process.user = {uid: 1000, gid: 1001}'
	run_out 'grep -E "^(Uid|Gid):" /proc/self/status | tr -s "\t " " "'
	expect_eq "$(tr '\n' ';' <<<"$OUT")" "Uid: 1000 1000 1000 1000;Gid: 1001 1001 1001 1001;" "ids"
}

# Process user: additionalGids are the supplementary groups.
check config.process.additionalGids "config.md#user" c_proc_groups
c_proc_groups() {
	new_bundle
	cfg '.process.user = {uid: 1000, gid: 1000, additionalGids: [10, 20, 30]}'
	run_out 'grep "^Groups:" /proc/self/status | cut -f2'
	local g
	g=$(tr ' ' '\n' <<<"$OUT" | grep -v '^$' | grep -vx 1000 | sort -n | tr '\n' ' ')
	expect_eq "$g" "10 20 30 " "supplementary groups"
}

# Process user: umask.
check config.process.umask "config.md#user (umask)" c_proc_umask
c_proc_umask() {
	new_bundle
	cfg '.process.user.umask = 63'
	run_out 'umask'
	expect_eq "$OUT" 0077 "umask"
}

capmask() { # CAP_NAME... -> 16-hex-digit mask
	local m=0 c n
	for c in "$@"; do
		case $c in
		CAP_CHOWN) n=0 ;; CAP_DAC_OVERRIDE) n=1 ;; CAP_FOWNER) n=3 ;; CAP_KILL) n=5 ;;
		CAP_SETGID) n=6 ;; CAP_SETUID) n=7 ;; CAP_NET_BIND_SERVICE) n=10 ;; CAP_NET_RAW) n=13 ;;
		CAP_SYS_CHROOT) n=18 ;; CAP_MKNOD) n=27 ;; CAP_AUDIT_WRITE) n=29 ;; CAP_SETFCAP) n=31 ;;
		*) fail "capmask: unknown $c" ;;
		esac
		m=$((m | (1 << n)))
	done
	printf '%016x' "$m"
}

# Capabilities: the sets as configured for root (noNewPrivileges keeps execve from raising permitted).
check config.process.capabilities.root "config.md#linux-process (capabilities)" c_caps_root
c_caps_root() {
	new_bundle
	cfg '.process.noNewPrivileges = true | .process.capabilities = {bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		effective: ["CAP_CHOWN", "CAP_KILL"], permitted: ["CAP_CHOWN", "CAP_KILL"]}'
	run_out 'grep ^Cap /proc/self/status | tr -s "\t" " "'
	local bnd prm
	bnd=$(capmask CAP_CHOWN CAP_KILL CAP_NET_BIND_SERVICE)
	prm=$(capmask CAP_CHOWN CAP_KILL)
	grep -qx "CapBnd: $bnd" <<<"$OUT" || fail "bounding set: $(grep CapBnd <<<"$OUT"), expected $bnd"
	grep -qx "CapPrm: $prm" <<<"$OUT" || fail "permitted set: $(grep CapPrm <<<"$OUT"), expected $prm"
	grep -qx "CapEff: $prm" <<<"$OUT" || fail "effective set: $(grep CapEff <<<"$OUT"), expected $prm"
	grep -qx "CapInh: 0000000000000000" <<<"$OUT" || fail "inheritable set not empty: $(grep CapInh <<<"$OUT")"
	grep -qx "CapAmb: 0000000000000000" <<<"$OUT" || fail "ambient set not empty: $(grep CapAmb <<<"$OUT")"
}

# Capabilities: all five sets for a non-root user (effective/permitted reach it through ambient).
check config.process.capabilities.nonroot_sets "config.md#linux-process (capabilities)" c_caps_nonroot
c_caps_nonroot() {
	new_bundle
	cfg '.process.user = {uid: 1000, gid: 1000} | .process.capabilities = {
		bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		effective: ["CAP_NET_BIND_SERVICE"], permitted: ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
		inheritable: ["CAP_NET_BIND_SERVICE"], ambient: ["CAP_NET_BIND_SERVICE"]}'
	run_out 'grep ^Cap /proc/self/status | tr -s "\t" " "'
	local nbs want
	nbs=$(capmask CAP_NET_BIND_SERVICE)
	want="CapInh: $nbs;CapPrm: $nbs;CapEff: $nbs;CapBnd: $(capmask CAP_CHOWN CAP_KILL CAP_NET_BIND_SERVICE);CapAmb: $nbs;"
	expect_eq "$(tr '\n' ';' <<<"$OUT")" "$want" "capability sets of uid 1000"
}

# Capabilities: a capability left out is not usable; one given is.
check config.process.capabilities.enforced "config.md#linux-process (capabilities)" c_caps_enforced
c_caps_enforced() {
	new_bundle
	cfg '.process.capabilities = {bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"]}'
	run_out 'touch /tmp/f; chown 1 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied'
	expect_eq "$OUT" chown-denied "chown without CAP_CHOWN"
	rt delete --force "$ID" >/dev/null 2>&1
	new_bundle "" "$CT/bundle2"
	cfg '.process.capabilities = {bounding: ["CAP_CHOWN"], effective: ["CAP_CHOWN"], permitted: ["CAP_CHOWN"]}'
	run_out 'touch /tmp/f; chown 1 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied'
	expect_eq "$OUT" chown-ok "chown with CAP_CHOWN"
}

# Rlimits: rlim_cur and rlim_max match soft and hard.
check config.process.rlimits "config.md#posix-process (rlimits)" c_rlimits
c_rlimits() {
	new_bundle
	cfg '.process.rlimits = [{type: "RLIMIT_NOFILE", soft: 512, hard: 1000},
		{type: "RLIMIT_CORE", soft: 0, hard: 4096}, {type: "RLIMIT_MSGQUEUE", soft: 4096, hard: 8192}]'
	run_out 'grep -E "^Max (open files|core file size|msgqueue size)" /proc/self/limits | sed "s/  */ /g"'
	grep -q "^Max open files 512 1000 " <<<"$OUT" || fail "RLIMIT_NOFILE: $(grep 'open files' <<<"$OUT")"
	grep -q "^Max core file size 0 4096 " <<<"$OUT" || fail "RLIMIT_CORE: $(grep 'core' <<<"$OUT")"
	grep -q "^Max msgqueue size 4096 8192" <<<"$OUT" || fail "RLIMIT_MSGQUEUE: $(grep 'msgqueue' <<<"$OUT")"
}

# Rlimits: a type that cannot be mapped to a kernel interface is an error.
check config.process.rlimits_invalid_type "config.md#posix-process (rlimits)" c_rlimits_invalid
c_rlimits_invalid() {
	new_bundle
	cfg '.process.rlimits = [{type: "RLIMIT_MC_BOGUS", soft: 1, hard: 1}]'
	expect_create_or_start_error "unknown rlimit type"
}

# Rlimits: duplicated entries with the same type are an error.
check config.process.rlimits_duplicate "config.md#posix-process (rlimits)" c_rlimits_dup
c_rlimits_dup() {
	new_bundle
	cfg '.process.rlimits = [{type: "RLIMIT_NOFILE", soft: 512, hard: 1000}, {type: "RLIMIT_NOFILE", soft: 256, hard: 512}]'
	expect_create_or_start_error "duplicated rlimit type"
}

# noNewPrivileges true: no_new_privs is set.
check config.process.noNewPrivileges "config.md#linux-process" c_nnp
c_nnp() {
	new_bundle
	cfg '.process.noNewPrivileges = true'
	run_out 'grep ^NoNewPrivs: /proc/self/status | cut -f2'
	expect_eq "$OUT" 1 "NoNewPrivs"
}

# noNewPrivileges false: the process may gain privileges (no_new_privs not set).
check config.process.noNewPrivileges_false "config.md#linux-process" c_nnp_false
c_nnp_false() {
	new_bundle
	cfg '.process.noNewPrivileges = false'
	run_out 'grep ^NoNewPrivs: /proc/self/status | cut -f2'
	expect_eq "$OUT" 0 "NoNewPrivs"
}

# oomScoreAdj set: oom_score_adj is the given value.
check config.process.oomScoreAdj "config.md#linux-process" c_oom
c_oom() {
	new_bundle
	cfg '.process.oomScoreAdj = 123'
	run_out 'cat /proc/self/oom_score_adj'
	expect_eq "$OUT" 123 "oom_score_adj"
}

# oomScoreAdj unset: the runtime does not change oom_score_adj (the caller's value is kept).
check config.process.oomScoreAdj_unset "config.md#linux-process" c_oom_unset
c_oom_unset() {
	new_bundle
	cfg 'del(.process.oomScoreAdj)'
	local cur want
	cur=$(cat /proc/self/oom_score_adj)
	want=$((cur < 990 ? cur + 7 : cur))
	echo "$want" >/proc/self/oom_score_adj || skip "cannot change our own oom_score_adj"
	run_out 'cat /proc/self/oom_score_adj'
	expect_eq "$OUT" "$want" "oom_score_adj (inherited from the runtime's caller)"
}

# consoleSize is ignored when terminal is false.
check config.process.consoleSize_ignored "config.md#process (consoleSize)" c_console_size_ignored
c_console_size_ignored() {
	new_bundle
	cfg '.process.terminal = false | .process.consoleSize = {height: 10, width: 20}'
	run_out '[ -t 1 ] && echo tty || echo not-a-tty'
	expect_eq "$OUT" not-a-tty "stdout"
}

# Terminal true: a pseudoterminal is allocated and duplicated on stdio (run in the
# foreground under script(1), which gives the runtime a terminal of its own).
check config.process.terminal "config.md#process (terminal); config-linux.md#default-devices (/dev/console)" c_terminal
c_terminal() {
	command -v script >/dev/null || skip "script(1) not installed"
	new_bundle
	bind_out /out
	cfg '.process.terminal = true'
	set_script 't=no-tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && t=stdio-tty; { echo $t; tty; stat -c "%F %t" /dev/console; } >/out/result 2>&1'
	timeout 30 script -qec "$(printf '%q ' "$RT" --root "$STATE_ROOT" run --bundle "$BUNDLE" "$ID")" /dev/null </dev/null >"$CT/script.out" 2>&1 ||
		fail "run with terminal failed: $(tail -c 300 "$CT/script.out" | tr '\n' ' ')"
	local r
	r=$(cat "$CT/out/result" 2>/dev/null)
	grep -qx stdio-tty <<<"$r" || fail "stdin/stdout/stderr are not a terminal: $r"
	grep -q '^/dev/pts/' <<<"$r" || fail "tty is not a devpts pseudoterminal: $r"
	grep -q '^character special file 88$' <<<"$r" || fail "/dev/console is not the pseudoterminal (major 136): $r"
}

# ------------------------------------------------------------------- hooks ---

# Hooks args/env: args with execv argv semantics (args[0] is argv[0]); env is the hook's environment.
check config.hooks.args_env "config.md#posix-platform-hooks" c_hooks_args_env
c_hooks_args_env() {
	new_bundle
	bind_out /out
	# /bin/busybox dispatches on argv[0]: it only runs as `sh` if args[0] is passed as argv[0].
	cfg --arg d "$CT/out" '.hooks.createRuntime = [{path: "/bin/busybox",
		args: ["sh", "-c", "echo \"$0|$1|$2\" >\"$1/args\"; env >\"$1/env\"", "zero", $d, "two"],
		env: ["HOOK_VAR=hook value", "PATH=/usr/bin:/bin"]}]'
	must_create
	expect_eq "$(cat "$CT/out/args" 2>/dev/null)" "zero|$CT/out|two" "hook argv"
	grep -qx 'HOOK_VAR=hook value' "$CT/out/env" || fail "HOOK_VAR missing from hook environment: $(tr '\n' ' ' <"$CT/out/env")"
	grep -q '^MYRT_CONFORMANCE_LEAK=' "$CT/out/env" && fail "the runtime's environment leaked into the hook (env is not the configured one)"
	return 0
}

# Hooks timeout: the hook is aborted after `timeout` seconds (create then fails).
check config.hooks.timeout "config.md#posix-platform-hooks; runtime.md#lifecycle step 4" c_hooks_timeout
c_hooks_timeout() {
	new_bundle
	hooks_setup
	cfg --argjson h "$(hook_json slow sleep 20)" '.hooks.createRuntime = [$h + {timeout: 1}]'
	local t0 t1
	t0=$(date +%s)
	if ctr_create; then fail "create succeeded although the createRuntime hook ran past its timeout"; fi
	t1=$(date +%s)
	[ $((t1 - t0)) -lt 10 ] || fail "create took $((t1 - t0))s: hook not aborted after its 1s timeout"
	ctr_state >/dev/null 2>&1 && fail "a container is left after the hook failure"
	return 0
}

# Hooks timeout: if set, MUST be greater than zero (0 is an invalid value: error).
check config.hooks.timeout_zero "config.md#posix-platform-hooks; config.md#valid-values" c_hooks_timeout_zero
c_hooks_timeout_zero() {
	new_bundle
	hooks_setup
	cfg --argjson h "$(hook_json cr)" '.hooks.createRuntime = [$h + {timeout: 0}]'
	expect_create_error "hook timeout 0"
}

# ---------------------------------------------------------- hostname & co ---

# Hostname: the container's hostname.
check config.hostname "config.md#hostname" c_hostname
c_hostname() {
	new_bundle
	cfg '.hostname = "mc-host.example"'
	run_out 'hostname; cat /proc/sys/kernel/hostname'
	expect_eq "$(tr '\n' ' ' <<<"$OUT")" "mc-host.example mc-host.example " "hostname"
	[ "$(hostname)" = mc-host.example ] && fail "host hostname changed"
	return 0
}

# Domainname: the container's domainname.
check config.domainname "config.md#domainname" c_domainname
c_domainname() {
	new_bundle
	cfg '.domainname = "mc-domain.test"'
	run_out 'cat /proc/sys/kernel/domainname'
	expect_eq "$OUT" mc-domain.test "domainname"
}

# ----------------------------------------------- annotations, extensibility ---

# Annotations: unknown keys (also in the org.opencontainers namespace) are not an error.
check config.annotations.unknown_keys "config.md#annotations, #extensibility" c_annotations_unknown
c_annotations_unknown() {
	new_bundle
	cfg '.annotations = {"com.example.unknown": "1", "org.opencontainers.mc.unknown": "2", "x": ""}'
	run_out 'echo ran'
	expect_eq "$OUT" ran "output"
}

# Extensibility: unknown properties are ignored, not an error.
check config.extensibility.unknown_properties "config.md#extensibility" c_unknown_props
c_unknown_props() {
	new_bundle
	cfg '.mcUnknown = {a: [1, 2]} | .process.mcUnknown = "x" | .linux.mcUnknown = true
		| .root.mcUnknown = 1 | .mounts[0].mcUnknown = "y" | .linux.resources.mcUnknown = {}'
	run_out 'echo ran'
	expect_eq "$OUT" ran "output"
}

# Valid values / ociVersion: a non-SemVer ociVersion is an invalid value (error).
check config.ociVersion.invalid "config.md#specification-version, #valid-values" c_ociversion
c_ociversion() {
	new_bundle
	cfg '.ociVersion = "not-a-version"'
	expect_create_or_start_error "ociVersion is not SemVer"
}

# Valid values: an invalid namespace type is an error.
check config.valid_values.namespace_type "config.md#valid-values; config-linux.md#namespaces" c_invalid_ns_type
c_invalid_ns_type() {
	new_bundle
	cfg '.linux.namespaces += [{type: "mc-bogus"}]'
	expect_create_error "namespace type mc-bogus"
}
