//! Isolation that must never fail open (issue 7): ids the kernel would read
//! as "unchanged", the state root's mode, the pid file's temp file, the
//! default device policy, cgroups that belong to someone else, and input
//! that must give an error rather than a panic.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

// ---------------------------------------------------------------------------
// process.user: ids outside 0..2^31-1

/// (uid_t)-1 means "leave unchanged" to setresuid: a config with uid
/// 4294967295 ran its process as root. Such ids (and any above 2^31-1) are
/// refused, naming the field, as runc does.
#[test]
fn root_user_id_minus_one_is_refused() {
    let rt = Runtime::new();
    for (user, field) in [
        (
            json!({"uid": 4294967295u32, "gid": 1000}),
            "process.user.uid",
        ),
        (
            json!({"uid": 1000, "gid": 4294967295u32}),
            "process.user.gid",
        ),
        (
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 4294967295u32]}),
            "process.user.additionalGids[1]",
        ),
        (
            json!({"uid": 2147483648u32, "gid": 1000}),
            "process.user.uid",
        ),
    ] {
        let b = Bundle::new("uidneg")
            .set("/process/user", user.clone())
            .sh("id -u; id -g; id -G");
        let o = rt.run(&b);
        o.fails();
        assert!(
            !o.stdout.lines().any(|l| l == "0"),
            "ran as root with {user}: {o}"
        );
        assert_myrt_error(&o.stderr, "run", &b.id, &[field]);
    }
}

/// `exec --user 4294967295` is refused as well (it went through the same
/// unchecked setresuid).
#[test]
fn root_exec_user_id_minus_one_is_refused() {
    let rt = Runtime::new();
    let b = Bundle::new("uidexec").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    for user in ["4294967295", "1000:4294967295"] {
        let o = c.exec(&["--user", user], &["id", "-u"]);
        o.fails();
        assert_ne!(o.stdout.trim(), "0", "exec --user {user} ran as root: {o}");
        assert_myrt_error(&o.stderr, "exec", &c.id, &["process.user"]);
    }
    let o = c.exec(
        &["--user", "1000", "--additional-gids", "4294967295"],
        &["id", "-u"],
    );
    o.fails();
    assert_myrt_error(
        &o.stderr,
        "exec",
        &c.id,
        &["process.user.additionalGids[0]"],
    );
}

// ---------------------------------------------------------------------------
// --root

/// `--root` on a directory that exists must not change it (`--root /tmp`
/// once chmodded /tmp to 0700); a root myrt makes itself is 0700.
#[test]
fn root_state_root_mode_left_alone() {
    let base = std::env::temp_dir().join(unique("myrt-rootmode"));
    fs::create_dir_all(&base).unwrap();
    fs::set_permissions(&base, fs::Permissions::from_mode(0o1777)).unwrap();
    let b = Bundle::new("rootmode").args(&["true"]);
    b.write();
    let run = |root: &Path| {
        let mut c = std::process::Command::new(runtime_bin());
        c.arg("--root")
            .arg(root)
            .args(["run", "--bundle", b.dir_str(), &b.id]);
        exec_cmd(c, None, Sink::Pipe, std::time::Duration::from_secs(30))
    };
    run(&base).ok();
    let mode = fs::metadata(&base).unwrap().mode() & 0o7777;
    assert_eq!(
        mode, 0o1777,
        "--root changed an existing directory to {mode:o}"
    );

    let fresh = base.join("a/b/state");
    run(&fresh).ok();
    assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(base.join("a")).unwrap().mode() & 0o777, 0o755);
    fs::remove_dir_all(&base).unwrap();
}

// ---------------------------------------------------------------------------
// --pid-file

/// The pid file is written through a temp file next to it. That temp file
/// must be a new file (O_EXCL|O_NOFOLLOW): a symlink planted at its name in
/// a directory others can write would make the runtime overwrite any file of
/// the host. The runtime runs in a private pid namespace here, so its pid
/// (and the temp file's name) is known in advance.
#[test]
fn root_pid_file_temp_never_follows_symlinks() {
    let rt = Runtime::new();
    let b = Bundle::new("pidtmp").args(&["sleep", "30"]);
    b.write();
    let victim = b.path("victim");
    fs::write(&victim, "precious").unwrap();
    let dir = b.path("pids");
    fs::create_dir(&dir).unwrap();
    for pid in 1..64 {
        std::os::unix::fs::symlink(&victim, dir.join(format!("c.tmp{pid}"))).unwrap();
    }
    let pidfile = dir.join("c.pid");
    let _c = rt.guard(&b);
    let bin = runtime_bin();
    let root = rt.root.display().to_string();
    let script = format!(
        "{bin} --root {root} create --bundle {} --pid-file {} {id} >/dev/null 2>{err}; echo create=$?; \
         cat {} 2>/dev/null; echo; {bin} --root {root} delete -f {id}",
        b.dir_str(),
        pidfile.display(),
        pidfile.display(),
        id = b.id,
        err = b.path("create.err").display(),
    );
    let o = host(
        "unshare",
        &["--pid", "--fork", "--mount-proc", "sh", "-c", &script],
    );
    let err = fs::read_to_string(b.path("create.err")).unwrap_or_default();
    assert!(o.stdout.starts_with("create=0\n"), "{o}\n{err}");
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious",
        "the pid file's temp file followed a symlink"
    );
    let pid: i32 = o.stdout.lines().nth(1).unwrap_or("").parse().unwrap_or(0);
    assert!(pid > 1, "pid file: {o}");
    assert!(
        fs::symlink_metadata(&pidfile)
            .unwrap()
            .file_type()
            .is_file()
    );
}
