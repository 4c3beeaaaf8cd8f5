//! Known container-runtime vulnerability classes (mostly runc CVEs), each
//! replayed against the runtime under test. Every test states the CVE, the
//! class of bug, and what must hold for the runtime to be safe.
//!
//! Attacks that could damage the runtime binary only ever target a private
//! copy of it (`runtime_copy`), never the binary cargo built.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Value of a `Key:\tvalue` line of /proc/self/status as printed in `out`.
fn status_field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} not in {out}"))
        .trim()
}

/// Absolute path of the runtime under test (`runc` is looked up in PATH).
fn runtime_path() -> PathBuf {
    let bin = runtime_bin();
    if bin.contains('/') {
        return PathBuf::from(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(&bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{bin} not found in PATH"))
}

/// A private copy of the runtime binary, inside the bundle directory (so it
/// goes away with the bundle). Attacks on "the runtime binary" can at worst
/// hit this copy.
fn runtime_copy(b: &Bundle) -> PathBuf {
    let src = runtime_path();
    let dir = b.path("runtime-copy");
    fs::create_dir_all(&dir).unwrap();
    let dst = dir.join(src.file_name().unwrap());
    fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    dst
}

fn sha256(p: &Path) -> String {
    let o = host("sha256sum", &[p.to_str().unwrap()]);
    o.ok();
    o.stdout.split_whitespace().next().unwrap_or("").to_string()
}

/// `runtime --root ROOT ARGS...` run from the binary at `bin`.
fn command_of(bin: &Path, rt: &Runtime, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.arg("--root").arg(&rt.root).args(args);
    c
}

/// A directory on the host, outside every bundle (the "host path" that a
/// hostile symlink points at); removed on drop unless something is mounted
/// on it.
struct HostDir(PathBuf);

impl HostDir {
    fn new(name: &str) -> HostDir {
        let p = std::env::temp_dir().join(format!("myrt-cve-host-{}", unique(name)));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        HostDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
    /// Names in the directory (it is created empty).
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
    /// Panics if anything was created in it or mounted on it (host view).
    #[track_caller]
    fn assert_untouched(&self, ctx: &dyn std::fmt::Display) {
        let m = mounts_mentioning(&self.0);
        assert!(
            m.is_empty(),
            "host mount at {}: {m:?}\n{ctx}",
            self.0.display()
        );
        assert_eq!(
            self.entries(),
            Vec::<String>::new(),
            "something was created in the host directory {}\n{ctx}",
            self.0.display()
        );
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        if mounts_mentioning(&self.0).is_empty() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Makes `cmd` start with each `(fd, n)` open (not close-on-exec) as fd
/// number `n`: what a careless caller (an engine, a shell) leaks into the
/// runtime.
fn leak_fds(cmd: &mut Command, fds: Vec<(OwnedFd, RawFd)>) {
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move every source out of the way first, so that one dup2 cannot
            // clobber a source that happens to have a target's number.
            let mut tmp = Vec::with_capacity(fds.len());
            for (i, (f, _)) in fds.iter().enumerate() {
                let t = libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 600 + i as i32);
                if t < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                tmp.push(t);
            }
            for (t, (_, n)) in tmp.iter().zip(&fds) {
                if libc::dup2(*t, *n) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn open_fd(p: &str) -> OwnedFd {
    OwnedFd::from(fs::File::open(p).unwrap_or_else(|e| panic!("open {p}: {e}")))
}

/// The fds 3..=9 a careless caller might leak: directories of the host (the
/// CVE-2024-21626 kind of handle), the host's procfs and cgroupfs, files.
fn host_leaks() -> Vec<(OwnedFd, RawFd)> {
    vec![
        (open_fd("/"), 3),
        (open_fd("/etc/hostname"), 4),
        (open_fd("/tmp"), 5),
        (open_fd("/proc"), 6),
        (open_fd("/"), 7),
        (open_fd("/sys/fs/cgroup"), 8),
        (open_fd("/etc"), 9),
    ]
}

/// Foreground `run` with `extra` options and fds leaked by the caller.
fn run_leaking(rt: &Runtime, b: &Bundle, extra: &[&str], fds: Vec<(OwnedFd, RawFd)>) -> Output {
    let _c = rt.guard(b);
    b.write();
    let mut args = vec!["run", "--bundle", b.dir_str()];
    args.extend_from_slice(extra);
    args.push(&b.id);
    let mut cmd = rt.command(&args);
    leak_fds(&mut cmd, fds);
    exec_cmd(cmd, None, Sink::Pipe, CMD_TIMEOUT)
}

/// Foreground `exec [opts] ID args` with fds leaked by the caller.
fn exec_leaking(c: &Container, opts: &[&str], args: &[&str], fds: Vec<(OwnedFd, RawFd)>) -> Output {
    let mut a = vec!["exec"];
    a.extend_from_slice(opts);
    a.push(&c.id);
    a.extend_from_slice(args);
    let mut cmd = c.rt.command(&a);
    leak_fds(&mut cmd, fds);
    exec_cmd(cmd, None, Sink::Pipe, CMD_TIMEOUT)
}

/// `(fd, target)` of each line of `ls -l /proc/self/fd`, without the
/// directory fd `ls` itself opened to list it.
fn listed_fds(out: &str) -> Vec<(i32, String)> {
    out.lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_string()))
        })
        .filter(|(_, t)| {
            !(t.starts_with("/proc/") && t.ends_with("/fd") && t.matches('/').count() == 3)
        })
        .collect()
}

/// Prints INSIDE if the cwd lies under the container's root: walking `..`
/// from the cwd stops at `/` only if the cwd is inside it (`..` is clamped at
/// the process root). From a cwd outside (a host directory, the host's
/// procfs), the walk ends elsewhere and it prints OUTSIDE and what it sees.
const WHERE_AM_I: &str = "r=$(stat -c %d:%i /); \
    c=$(stat -L -c %d:%i ../../../../../../../../../../../../../../../..); \
    if [ \"$r\" = \"$c\" ]; then echo INSIDE; \
    else echo \"OUTSIDE top=$c root=$r sees: $(ls | head -n 8 | tr '\\n' ' ')\"; fi";

/// Checks that a process asked to start in `cwd` either was refused or
/// started inside its root; describes the problem otherwise.
fn cwd_problem(o: &Output, cwd: &str) -> Option<String> {
    if o.stdout.contains("OUTSIDE") {
        Some(format!(
            "cwd {cwd:?}: started OUTSIDE the container root: {}",
            o.stdout.trim()
        ))
    } else if !o.stdout.contains("INSIDE") && o.success() {
        Some(format!(
            "cwd {cwd:?}: neither refused nor confirmed inside: {o}"
        ))
    } else {
        None
    }
}

/// Panics with every problem found (all cases run before failing, so the
/// report names each escaping cwd).
#[track_caller]
fn assert_no_problems(problems: &[String], last: &Output) {
    assert!(
        problems.is_empty(),
        "{} case(s) failed:\n{}\n(last command: {})",
        problems.len(),
        problems.join("\n"),
        last.cmdline
    );
}

/// A pipe whose buffer is full: a process that writes to it blocks until
/// the read end is drained (used to hold a process still, race-free).
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
    fill_pipe(&w);
    (r, w)
}

fn fill_pipe(w: &OwnedFd) {
    let fd = w.as_raw_fd();
    // SAFETY: fcntl and write on the pipe's write end, which `w` keeps
    // open; buf outlives each write.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        let buf = [b'.'; 4096];
        while libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) > 0 {}
        // A last partial page, if any room is left.
        while libc::write(fd, buf.as_ptr() as *const libc::c_void, 1) > 0 {}
        libc::fcntl(fd, libc::F_SETFL, fl);
    }
}

/// Reads a pipe to EOF in the background.
fn drain(r: OwnedFd) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut f = fs::File::from(r);
        let mut buf = [0u8; 65536];
        while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
    })
}

/// A child process that is killed and reaped if the test ends early.
struct KillOnDrop(Child);

impl KillOnDrop {
    /// Waits for it to exit (at most `timeout`); true if it did.
    fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reaps pids re-parented to us (we are a subreaper) that no guard knows.
struct Reap(Vec<i32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &p in &self.0 {
            if p > 0 {
                let _ = wait_pid(p, Duration::from_secs(5));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// CVE-2019-5736: overwriting the runtime binary through /proc/<pid>/exe
// ---------------------------------------------------------------------------

/// The attacker of CVE-2019-5736, run inside the container (busybox sh).
/// It scans /proc for any process whose executable is not the container's
/// busybox — i.e. a process still running the runtime's binary — and tries
/// to get a handle on that binary by opening `/proc/<pid>/exe`. With a
/// handle it keeps trying, for 5 s, to write through it (`/proc/self/fd/3`
/// reopens the same inode for writing; ETXTBSY until no process executes it
/// any more). Log lines in /tmp/attack.log:
/// `GOT pid dev:ino target`, `WROTE pid`, `NOWRITE pid error`, `DENIED pid comm`.
/// With `$TARGET` set it only goes after that one pid.
const EXE_ATTACKER: &str = r#"
log=/tmp/attack.log
bb=$(stat -L -c %d:%i /bin/busybox)
echo READY >> $log
while :; do
  if [ -n "$TARGET" ]; then set -- /proc/$TARGET; else set -- /proc/[0-9]*; fi
  for d in "$@"; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    [ -e /tmp/got.$p ] && continue
    ( exec 3<"$d/exe" || exit 3
      id=$(stat -L -c %d:%i /proc/self/fd/3) || exit 4
      [ "$id" = "$bb" ] && exit 0
      : > /tmp/got.$p
      echo "GOT $p $id $(readlink /proc/self/fd/3)" >> $log
      i=0
      while [ $i -lt 100 ]; do
        if err=$( (echo PWNED >> /proc/self/fd/3) 2>&1 ); then
          echo "WROTE $p" >> $log; exit 0
        fi
        i=$((i+1)); usleep 50000
      done
      echo "NOWRITE $p $err" >> $log
    ) 2>/dev/null
    rc=$?
    if [ $rc = 3 ] && [ -e "$d" ] && [ ! -e /tmp/denied.$p ]; then
      : > /tmp/denied.$p
      echo "DENIED $p $(cat $d/comm 2>/dev/null)" >> $log
    fi
  done
done
"#;

fn attack_log(b: &Bundle) -> String {
    fs::read_to_string(b.rootfs().join("tmp/attack.log")).unwrap_or_default()
}

/// Waits (at most `timeout`) until the attack log, past its first `skip`
/// lines, has a line starting with `word`; returns those lines.
fn wait_log(b: &Bundle, skip: usize, word: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let lines: Vec<String> = attack_log(b)
            .lines()
            .skip(skip)
            .map(str::to_string)
            .collect();
        if lines.iter().any(|l| l.starts_with(word)) || Instant::now() > deadline {
            return lines;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// After a round in which the attacker got a handle (GOT), waits until it
/// reported the outcome of its write attempts.
fn wait_write_outcome(b: &Bundle, skip: usize) {
    let lines = wait_log(b, skip, "GOT", Duration::ZERO);
    for got in lines.iter().filter(|l| l.starts_with("GOT ")) {
        let pid = got.split(' ').nth(1).unwrap_or("");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let log = attack_log(b);
            if log
                .lines()
                .any(|l| l == format!("WROTE {pid}") || l.starts_with(&format!("NOWRITE {pid} ")))
            {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A writable bundle whose init is the /proc/<pid>/exe attacker, plus a
/// private copy of the runtime binary and its hash.
fn attacker_bundle(name: &str) -> (Bundle, PathBuf, String) {
    let b = Bundle::new(name).own_rootfs().sh(EXE_ATTACKER);
    // The CVE-2019-5736 trigger: a program whose interpreter is
    // /proc/self/exe, i.e. whatever binary the exec'ing process runs.
    let evil = b.rootfs().join("evil");
    fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
    let copy = runtime_copy(&b);
    install_shared_libs(&copy, b.rootfs());
    let hash = sha256(&copy);
    (b, copy, hash)
}

/// Copies the dynamic loader and shared libraries `bin` needs into
/// `rootfs`, at the host's paths. Any real image (a distribution's libc)
/// has them; without them the kernel cannot start a dynamically linked
/// runtime binary inside the container (its ELF interpreter is looked up in
/// the container's mount namespace), which would hide the attack rather
/// than defend against it. A static binary needs nothing.
fn install_shared_libs(bin: &Path, rootfs: &Path) {
    let o = host("ldd", &[bin.to_str().unwrap()]);
    for lib in o.stdout.split_whitespace().filter(|w| w.starts_with('/')) {
        let dst = rootfs.join(lib.trim_start_matches('/'));
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(lib, &dst).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
    }
}

#[track_caller]
fn assert_binary_intact(b: &Bundle, copy: &Path, before: &str) {
    let log = attack_log(b);
    eprintln!("attack log:\n{log}");
    assert_eq!(
        sha256(copy),
        before,
        "the runtime binary ({}) was modified from inside the container; attack log:\n{log}",
        copy.display()
    );
    assert!(
        !log.lines().any(|l| l.starts_with("WROTE")),
        "the container wrote to the runtime binary; attack log:\n{log}"
    );
}

/// CVE-2019-5736 (runtime binary overwrite via `/proc/self/exe`), `exec`
/// path. The container makes `exec` run `/evil`, a script whose interpreter
/// is `#!/proc/self/exe`: the exec'ing process resolves that magic link to
/// the binary it is running itself, the runtime's. If that is the host
/// binary, the container then holds a process executing the host runtime
/// binary (dumpable, with the container's own credentials), opens its
/// `/proc/<pid>/exe`, and writes to the binary once it stops running.
/// `/proc/self/exe` given directly as the command is the same attack.
///
/// The process running the interpreter is held still (its stdout/stderr is
/// a full pipe) until the attacker had its chance, so the test does not
/// depend on winning a race. Only a copy of the runtime binary is used.
///
/// What defends a runtime: the process that does the execve must not be
/// executing the host binary (runc: a sealed memfd clone of itself; crun: a
/// read-only bind or sealed copy), or refuse to run `/proc/self/exe`.
/// Non-dumpability does not help here — execve makes the process dumpable.
#[test]
fn root_cve_2019_5736_exec_proc_self_exe() {
    let rt = Runtime::new();
    let (b, copy, before) = attacker_bundle("cve5736exec");
    let c = rt.create_start(&b);
    wait_log(&b, 0, "READY", Duration::from_secs(10));
    exec_proc_self_exe_rounds(&rt, &b, &c, &copy);
    assert_binary_intact(&b, &copy, &before);
    drop(c);
}

/// Runs `exec ID /evil` and `exec ID /proc/self/exe` from the runtime copy,
/// each held on a full pipe until the attacker in the container had its
/// chance at the exec'd process's image.
fn exec_proc_self_exe_rounds(rt: &Runtime, b: &Bundle, c: &Container, copy: &Path) {
    for target in ["/evil", "/proc/self/exe"] {
        let skip = attack_log(b).lines().count();
        let (r, w) = full_pipe();
        let mut cmd = command_of(copy, rt, &["exec", &c.id, target]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(w.try_clone().unwrap()))
            .stderr(Stdio::from(w));
        let mut child = KillOnDrop(cmd.spawn().expect("spawn exec"));
        drop(cmd);
        // Give the attacker its chance while the exec'd process is blocked.
        wait_log(b, skip, "GOT", Duration::from_secs(5));
        let d = drain(r);
        if !child.wait(Duration::from_secs(15)) {
            // Not this test's concern (the binary check below is): say so
            // and stop the exec; the container's teardown kills the rest.
            eprintln!("note: `exec {target}` still running after 15 s; killed it");
            let _ = child.0.kill();
            let _ = child.0.wait();
        }
        let _ = d.join();
        wait_write_outcome(b, skip);
    }
}

/// CVE-2019-5736, init path: the container's own process is
/// `/proc/self/exe`, so the init resolves it to the binary it runs — the
/// runtime's, unless the runtime defends. A second process of the container
/// (no pid namespace here, so it outlives the init, as it would in a shared
/// pid namespace) opens the init's `/proc/<pid>/exe` while the init is held
/// on a full stdout/stderr pipe, then tries to write the binary after the
/// init exited. Only a copy of the runtime binary is used (`create` runs
/// from the copy, so the init is a fork of the copy).
#[test]
fn root_cve_2019_5736_init_proc_self_exe() {
    let rt = Runtime::new();
    let (b, copy, before) = attacker_bundle("cve5736init");
    let b = b
        .args(&["/proc/self/exe", "--myrt-cve-bogus-flag"])
        .with(|v| {
            let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "pid");
        });
    let mut reap = Reap(Vec::new());
    let c = rt.guard(&b);
    b.write();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
    let mut cmd = command_of(&copy, &rt, &["create", "--bundle", b.dir_str(), &c.id]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(w.try_clone().unwrap()))
        .stderr(Stdio::from(w.try_clone().unwrap()));
    let mut create = KillOnDrop(cmd.spawn().expect("spawn create"));
    drop(cmd);
    assert!(create.wait(CMD_TIMEOUT), "create did not finish");
    assert!(
        create.0.try_wait().unwrap().is_some_and(|s| s.success()),
        "create failed"
    );
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    reap.0.push(pid);
    // Now fill the init's stdout/stderr, so it blocks on its first write.
    fill_pipe(&w);
    drop(w);
    c.start().ok();
    // The attacker: a second container process, after only that pid.
    let pidfile = b.path("attacker.pid");
    let target = format!("TARGET={pid}");
    let mut a = vec!["exec", "-d", "--pid-file", pidfile.to_str().unwrap()];
    a.extend(["-e", &target, &c.id, "sh", "-c", EXE_ATTACKER]);
    let o = exec_cmd(
        rt.command(&a),
        None,
        Sink::Files(b.path("attacker.out"), b.path("attacker.err")),
        CMD_TIMEOUT,
    );
    // If the init is already gone, nothing runs the binary any more: there
    // is nothing to attack, and only the binary check below remains.
    let apid: i32 = if o.success() {
        fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    } else {
        eprintln!("note: could not start the attacker: {o}");
        0
    };
    reap.0.push(apid);
    if apid > 0 {
        wait_log(&b, 0, "GOT", Duration::from_secs(5));
    }
    let d = drain(r);
    wait_pid(pid, Duration::from_secs(20)).expect("init did not exit");
    let _ = d.join();
    wait_write_outcome(&b, 0);
    // The attacker is our child (subreaper) and not in a pid namespace that
    // dies with the init: stop it ourselves.
    if apid > 0 {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(apid), nix::sys::signal::SIGKILL);
        let _ = wait_pid(apid, Duration::from_secs(5));
    }
    assert_binary_intact(&b, &copy, &before);
    drop(c);
}

/// CVE-2019-5736 (runtime binary overwrite), the race variant, and
/// CVE-2016-9962 (a container process accessing a joining runtime process
/// through /proc before it finished set-up). While `exec` joins the
/// container, the runtime's process is visible in the container's pid
/// namespace running the runtime's binary; the container's init scans /proc
/// as fast as it can and tries to open `/proc/<pid>/exe` (and then write the
/// binary). It must never get a handle: the joining process is non-dumpable
/// (and holds capabilities the container lacks) until execve replaces the
/// binary. Only a copy of the runtime binary is used.
#[test]
fn root_cve_2019_5736_exec_runtime_process_not_reachable() {
    let rt = Runtime::new();
    let (b, copy, before) = attacker_bundle("cve5736race");
    let c = rt.create_start(&b);
    wait_log(&b, 0, "READY", Duration::from_secs(10));
    for _ in 0..40 {
        let cmd = command_of(&copy, &rt, &["exec", &c.id, "true"]);
        exec_cmd(cmd, None, Sink::Pipe, CMD_TIMEOUT).ok();
    }
    // Let a handle grabbed at the very end show up.
    thread::sleep(Duration::from_millis(500));
    wait_write_outcome(&b, 0);
    let log = attack_log(&b);
    assert!(
        !log.lines().any(|l| l.starts_with("GOT")),
        "a runtime process in the container was dumpable with no more capabilities \
         than the container: the container opened its /proc/<pid>/exe (and could \
         open its fds the same way); attack log:\n{log}"
    );
    assert_binary_intact(&b, &copy, &before);
    drop(c);
}

/// Adds CAP_SYS_PTRACE to every capability set of the config.
fn with_sys_ptrace(v: &mut serde_json::Value) {
    for set in ["bounding", "effective", "permitted"] {
        v["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_PTRACE"));
    }
}

/// CVE-2019-5736 through a container process that may ptrace (holds
/// CAP_SYS_PTRACE) and sees the init: non-dumpability does not stop it, so
/// it opens a created (not started) init's `/proc/<pid>/exe` — the image
/// the init runs until its execve. Once `start` replaced that image, no
/// process executes the file any more and a handle on the host binary
/// could write it. The victim is created from a private copy of the
/// runtime; the attacker is a second container in the victim's pid
/// namespace (`shared_pidns`) or, like the victim, in the host's.
///
/// What defends: the init never runs the binary's own file but a read-only
/// view of it that cannot be made writable (myrt: a private lower-only
/// overlayfs, else a sealed memfd copy).
fn ptrace_capable_attacker(name: &str, shared_pidns: bool) {
    let rt = Runtime::new();
    let (ab, copy, before) = attacker_bundle(name);
    let vb = Bundle::new(&format!("{name}v"))
        .args(&["sleep", "30"])
        .with(|v| {
            if !shared_pidns {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "pid");
            }
        });
    let victim = rt.guard(&vb);
    vb.write();
    let cmd = command_of(
        &copy,
        &rt,
        &["create", "--bundle", vb.dir_str(), &victim.id],
    );
    exec_cmd(
        cmd,
        None,
        Sink::Files(vb.path("create.out"), vb.path("create.err")),
        CMD_TIMEOUT,
    )
    .ok();
    let vpid = victim.state()["pid"].as_i64().unwrap() as i32;
    let target = if shared_pidns { 1 } else { vpid };
    let ab = ab.with(|v| {
        with_sys_ptrace(v);
        v["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("TARGET={target}")));
        let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        if shared_pidns {
            ns.push(json!({"type": "pid", "path": format!("/proc/{vpid}/ns/pid")}));
        }
    });
    let attacker = rt.create_start(&ab);
    let log = wait_log(&ab, 0, "GOT", Duration::from_secs(10));
    assert!(
        log.iter().any(|l| l.starts_with("GOT ")),
        "the attacker (CAP_SYS_PTRACE) could not even open the created init's \
         /proc/{target}/exe, so this test proves nothing; attack log:\n{}",
        log.join("\n")
    );
    // The init execs `sleep`: nothing runs the runtime's image any more.
    victim.start().ok();
    wait_write_outcome(&ab, 0);
    assert_binary_intact(&ab, &copy, &before);
    drop(attacker);
    drop(victim);
}

#[test]
fn root_cve_2019_5736_ptrace_capable_container_host_pidns() {
    ptrace_capable_attacker("cve5736ptr", false);
}

#[test]
fn root_cve_2019_5736_ptrace_capable_container_shared_pidns() {
    ptrace_capable_attacker("cve5736pts", true);
}

/// A seccomp profile that kills on `execveat` (recorded from runc, which
/// uses only execve) still runs containers: the final exec of the init and
/// of `exec` must be a plain execve, with no trampoline exec'd through
/// execveat.
#[test]
fn root_seccomp_killing_execveat_still_runs_containers() {
    let rt = Runtime::new();
    let b = Bundle::new("noexecveat").args(&["sleep", "30"]).set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_KILL"}]
        }),
    );
    let c = rt.create_start(&b);
    c.wait_status("running");
    let o = c.exec(&[], &["sh", "-c", "echo exec-ran"]);
    o.ok();
    assert!(o.stdout.contains("exec-ran"), "{o}");
    assert_eq!(c.status(), "running");
}

/// CVE-2019-5736, `exec` path, under a seccomp profile that refuses
/// `execveat` (EPERM): whatever the last exec into the container is, a
/// `#!/proc/self/exe` program must not get the host binary (before the
/// fix, the trampoline's execveat failed and myrt fell back to exec'ing
/// from its own, host, image).
#[test]
fn root_cve_2019_5736_exec_proc_self_exe_execveat_denied() {
    let rt = Runtime::new();
    let (b, copy, before) = attacker_bundle("cve5736nx");
    let b = b.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]
        }),
    );
    let c = rt.create_start(&b);
    wait_log(&b, 0, "READY", Duration::from_secs(10));
    exec_proc_self_exe_rounds(&rt, &b, &c, &copy);
    assert_binary_intact(&b, &copy, &before);
    drop(c);
}

// ---------------------------------------------------------------------------
// CVE-2016-9962: the init is non-dumpable during set-up
// ---------------------------------------------------------------------------

/// `setpriv` options: root, but without CAP_SYS_PTRACE. Such a process may
/// read /proc/<pid>/{exe,fd,environ} of a root process whose capabilities
/// are a subset of its own only if that process is dumpable.
const NO_PTRACE: &[&str] = &["--bounding-set", "-sys_ptrace"];

fn as_no_ptrace(args: &[&str]) -> Output {
    let mut a = NO_PTRACE.to_vec();
    a.extend_from_slice(args);
    host("setpriv", &a)
}

/// CVE-2016-9962 (container processes could ptrace / open /proc of the
/// runtime's init while it still held host resources). A created but not
/// started container's init has dropped to the container's capabilities and
/// waits inside the container's namespaces, still running the runtime's
/// binary with its fds open: it must be non-dumpable until execve, so that
/// its /proc/<pid>/exe, fd/N, cwd and root are closed to anyone without
/// CAP_SYS_PTRACE — even to root holding a superset of its capabilities
/// (checked from the host with `setpriv`), and of course to an
/// unprivileged uid. A control process proves that such a caller can follow
/// those links of a dumpable process, and after `start` (execve) the init is
/// dumpable again. (environ and maps are not checked: this kernel lets such
/// a caller read them even for a non-dumpable process.)
///
/// What defends myrt: its init is a fork of the runtime that calls
/// PR_SET_DUMPABLE 0 first thing, before it joins or creates anything, and
/// must stay non-dumpable until the execve of the container's program (any
/// intermediate execve, e.g. of a sealed copy of the runtime, makes a
/// process dumpable again and must be followed by PR_SET_DUMPABLE 0 before
/// it is reachable); an exec'd process does the same.
#[test]
fn root_cve_2016_9962_created_init_not_dumpable() {
    let rt = Runtime::new();
    let b = Bundle::new("cve9962").args(&["sleep", "30"]);
    let c = rt.create(&b, &[]);
    let pid = c.pid();
    assert!(pid > 0);
    let links = ["exe", "fd/0", "fd/1", "cwd", "root"].map(|l| format!("/proc/{pid}/{l}"));

    // Control: a dumpable root process with the same reduced bounding set.
    let mut ctl = Command::new("setpriv");
    ctl.args(NO_PTRACE).args(["sleep", "30"]);
    let ctl = KillOnDrop(ctl.spawn().unwrap());
    let cpid = ctl.0.id();
    thread::sleep(Duration::from_millis(100));
    for l in ["exe", "fd/0", "cwd", "root"] {
        as_no_ptrace(&["readlink", "-v", &format!("/proc/{cpid}/{l}")]).ok();
    }
    drop(ctl);

    if !skip_known_runc_deviation(
        "runc 1.1's `runc init` is dumpable again once it dropped its \
         capabilities; it relies on its /proc/self/exe being a read-only \
         clone of the binary instead",
    ) {
        for l in &links {
            let o = as_no_ptrace(&["readlink", "-v", l]);
            o.fails();
            assert!(o.stderr.contains("Permission denied"), "{o}");
            let o = host(
                "setpriv",
                &["--reuid", "65534", "--regid", "65534", "--clear-groups"]
                    .into_iter()
                    .chain(["readlink", "-v", l.as_str()])
                    .collect::<Vec<_>>(),
            );
            o.fails();
        }
    }

    // After execve the process is the container's program, dumpable again.
    c.start().ok();
    c.wait_status("running");
    let o = as_no_ptrace(&["readlink", "-v", &links[0]]);
    o.ok();
    assert!(o.stdout.contains("busybox"), "{o}");
}

// ---------------------------------------------------------------------------
// CVE-2024-21626: leaked fds and a cwd outside the container
// ---------------------------------------------------------------------------

/// CVE-2024-21626 (leaked fds, "Leaky Vessels"), the fd part: no fd other
/// than 0, 1, 2 reaches a container process, even when the caller of the
/// runtime leaked fds 3..=9 into it (directories of the host, its procfs and
/// cgroupfs, files) — for the init of `run`, for `exec`, and for the init
/// of `create`+`start` (checked from the host).
#[test]
fn root_cve_2024_21626_no_leaked_fds() {
    let rt = Runtime::new();
    let b = Bundle::new("cve21626fd").args(&["ls", "-l", "/proc/self/fd"]);
    let o = run_leaking(&rt, &b, &[], host_leaks());
    o.ok();
    let fds = listed_fds(&o.stdout);
    let nums: Vec<i32> = fds.iter().map(|f| f.0).collect();
    assert_eq!(nums, [0, 1, 2], "run: fds {fds:?} in the container: {o}");

    // create (with leaks) + start: look at the init from the host.
    let b = Bundle::new("cve21626fd2").args(&["sleep", "30"]);
    // Declared before the guard: reaps the init (our child, as subreaper)
    // after the guard killed it, if the test fails half-way.
    let mut reap = Reap(Vec::new());
    let c = rt.guard(&b);
    b.write();
    let mut cmd = rt.command(&["create", "--bundle", b.dir_str(), &c.id]);
    leak_fds(&mut cmd, host_leaks());
    exec_cmd(
        cmd,
        None,
        Sink::Files(c.out_path(), c.err_path()),
        CMD_TIMEOUT,
    )
    .ok();
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    reap.0.push(pid);
    c.start().ok();
    // `start` may return before the init's execve: wait for the program.
    wait_until("the init to exec sleep", Duration::from_secs(5), || {
        fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .filter(|p| p.ends_with("busybox"))
    });
    let mut open: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    open.sort();
    let targets: Vec<String> = open
        .iter()
        .map(|n| {
            fs::read_link(format!("/proc/{pid}/fd/{n}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(open, [0, 1, 2], "create+start: init has fds {targets:?}");

    // exec, with leaks from exec's caller.
    let o = exec_leaking(&c, &[], &["ls", "-l", "/proc/self/fd"], host_leaks());
    o.ok();
    let fds = listed_fds(&o.stdout);
    let nums: Vec<i32> = fds.iter().map(|f| f.0).collect();
    assert_eq!(nums, [0, 1, 2], "exec: fds {fds:?} in the process: {o}");
    c.kill("KILL").ok();
    let _ = wait_pid(pid, Duration::from_secs(10));
    reap.0.clear();
    drop(c);
}

/// CVE-2024-21626 (leaked fds): `--preserve-fds N` passes exactly the
/// caller's fds 3..3+N to the container process and nothing above them
/// (`run` and `exec`).
#[test]
fn root_cve_2024_21626_preserve_fds_passes_only_listed() {
    let rt = Runtime::new();
    let marker = std::env::temp_dir().join(format!("myrt-cve-{}-preserved", unique("pfd")));
    fs::write(&marker, "kept\n").unwrap();
    let leaks = || {
        vec![
            (open_fd(marker.to_str().unwrap()), 3),
            (open_fd("/"), 4),
            (open_fd("/proc"), 7),
        ]
    };
    let check = |o: &Output, what: &str| {
        o.ok();
        let fds = listed_fds(&o.stdout);
        let nums: Vec<i32> = fds.iter().map(|f| f.0).collect();
        assert_eq!(nums, [0, 1, 2, 3], "{what}: fds {fds:?}: {o}");
        assert!(fds[3].1.ends_with("-preserved"), "{what}: fd 3 is {fds:?}");
    };
    let b = Bundle::new("cve21626pfd").sh("ls -l /proc/self/fd; cat <&3");
    let o = run_leaking(&rt, &b, &["--preserve-fds", "1"], leaks());
    check(&o, "run");
    assert!(o.stdout.ends_with("kept\n"), "{o}");

    let b = Bundle::new("cve21626pfd2").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let o = exec_leaking(
        &c,
        &["--preserve-fds", "1"],
        &["ls", "-l", "/proc/self/fd"],
        leaks(),
    );
    check(&o, "exec");
    drop(c);
    let _ = fs::remove_file(&marker);
}

/// CVE-2024-21626 (leaked fds + `process.cwd`), attack 1: a config (or
/// image) sets `process.cwd` to `/proc/self/fd/N`. If any fd N of the init
/// is a directory outside the container when it changes directory —
/// one the runtime opened for itself (runc leaked /sys/fs/cgroup) or one its
/// caller leaked into it (here fds 3..=9 are host directories and files) —
/// the container starts with a cwd on the host. Every N in 3..=20 must be
/// refused or land inside the container's root.
#[test]
fn root_cve_2024_21626_run_cwd_proc_self_fd() {
    let rt = Runtime::new();
    let mut problems = Vec::new();
    let mut last = None;
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let b = Bundle::new("cve21626cwd")
            .set("/process/cwd", json!(cwd))
            .sh(WHERE_AM_I);
        let o = run_leaking(&rt, &b, &[], host_leaks());
        problems.extend(cwd_problem(&o, &cwd));
        last = Some(o);
    }
    assert_no_problems(&problems, &last.unwrap());
}

/// CVE-2024-21626, attack 1 with a careful caller: no fd leaked into the
/// runtime, so only the runtime's own fds (state dir, exec FIFO, procfs or
/// cgroup handles, sync socket...) are candidates — the leak runc had.
/// Every `process.cwd` `/proc/self/fd/N`, N in 3..=20, must be refused or
/// land inside the container's root.
#[test]
fn root_cve_2024_21626_run_cwd_proc_self_fd_internal() {
    let rt = Runtime::new();
    let mut problems = Vec::new();
    let mut last = None;
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let b = Bundle::new("cve21626cwdi")
            .set("/process/cwd", json!(cwd))
            .sh(WHERE_AM_I);
        let o = run_leaking(&rt, &b, &[], Vec::new());
        problems.extend(cwd_problem(&o, &cwd));
        last = Some(o);
    }
    assert_no_problems(&problems, &last.unwrap());
}

/// CVE-2024-21626 (leaked fds + cwd), attack 2: `exec --cwd /proc/self/fd/N`
/// into a running container, with fds 3..=9 leaked by exec's caller. Every N
/// in 3..=20 must be refused or land inside the container's root.
#[test]
fn root_cve_2024_21626_exec_cwd_proc_self_fd() {
    let rt = Runtime::new();
    let b = Bundle::new("cve21626xcwd").args(&["sleep", "60"]);
    let c = rt.create_start(&b);
    let mut problems = Vec::new();
    let mut last = None;
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let o = exec_leaking(
            &c,
            &["--cwd", &cwd],
            &["sh", "-c", WHERE_AM_I],
            host_leaks(),
        );
        problems.extend(cwd_problem(&o, &cwd));
        last = Some(o);
    }
    // And without anything leaked by the caller.
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let o = exec_leaking(&c, &["--cwd", &cwd], &["sh", "-c", WHERE_AM_I], Vec::new());
        problems.extend(cwd_problem(&o, &format!("{cwd} (nothing leaked)")));
        last = Some(o);
    }
    assert_no_problems(&problems, &last.unwrap());
    drop(c);
}

/// CVE-2024-21626 class (cwd outside the rootfs), path forms: a
/// `process.cwd` that climbs with `..` or goes through a symlink of the
/// image pointing above the root (`/up -> ../../../../../..`,
/// `/hostproc -> /proc/self/fd/7` with fd 7 a leaked host directory)
/// resolves inside the root (or is refused).
#[test]
fn root_cve_2024_21626_cwd_dotdot_and_symlinks() {
    let rt = Runtime::new();
    let mut problems = Vec::new();
    let mut last = None;
    for cwd in ["/../../..", "/../../../tmp", "/up", "/up/tmp", "/hostfd"] {
        let b = Bundle::new("cve21626dots")
            .own_rootfs()
            .set("/process/cwd", json!(cwd))
            .sh(WHERE_AM_I);
        symlink("../../../../../../../..", b.rootfs().join("up")).unwrap();
        symlink("/proc/self/fd/7", b.rootfs().join("hostfd")).unwrap();
        let o = run_leaking(&rt, &b, &[], host_leaks());
        problems.extend(cwd_problem(&o, cwd));
        last = Some(o);
    }
    assert_no_problems(&problems, &last.unwrap());
}

// ---------------------------------------------------------------------------
// CVE-2022-29162: inheritable capabilities
// ---------------------------------------------------------------------------

/// CVE-2022-29162 (runc gave container processes a non-empty inheritable
/// capability set, which e.g. file capabilities or an ambient raise can turn
/// into effective ones). CapInh must be exactly
/// `process.capabilities.inheritable`: 0 when it is absent, even though the
/// bounding/permitted sets are larger; only the listed cap when one is
/// listed.
#[test]
fn root_cve_2022_29162_inheritable_exactly_as_configured() {
    let rt = Runtime::new();
    let caps = json!([
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_AUDIT_WRITE"
    ]);
    let b = Bundle::new("cve29162")
        .set(
            "/process/capabilities",
            json!({"bounding": caps, "effective": caps, "permitted": caps}),
        )
        .args(&["cat", "/proc/self/status"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(status_field(&o.stdout, "CapBnd"), "0000000020000421", "{o}");
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000000", "{o}");

    let b = Bundle::new("cve29162b")
        .set(
            "/process/capabilities",
            json!({"bounding": caps, "effective": caps, "permitted": caps,
                   "inheritable": ["CAP_KILL"]}),
        )
        .args(&["cat", "/proc/self/status"]);
    let o = rt.run(&b);
    o.ok();
    // CAP_KILL is bit 5.
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000020", "{o}");
}

/// CVE-2022-29162, `exec` path (`runc exec --cap` added the capability to
/// the inheritable set too): an exec'd process — plain, with `--cap`, or
/// from a process.json without `inheritable` — has CapInh 0 when the
/// container's inheritable set is empty.
#[test]
fn root_cve_2022_29162_exec_cap_not_inheritable() {
    let rt = Runtime::new();
    let b = Bundle::new("cve29162x").args(&["sleep", "30"]);
    let c = rt.create_start(&b);
    let o = c.exec(&[], &["cat", "/proc/self/status"]);
    o.ok();
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000000", "{o}");

    let o = c.exec(&["--cap", "CAP_CHOWN"], &["cat", "/proc/self/status"]);
    o.ok();
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000000", "{o}");
    // The added capability is there (bit 0), just not inheritable.
    assert_eq!(status_field(&o.stdout, "CapEff"), "0000000020000421", "{o}");

    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
    let process = json!({
        "terminal": false, "user": {"uid": 0, "gid": 0},
        "args": ["cat", "/proc/self/status"], "cwd": "/",
        "env": ["PATH=/bin"],
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}
    });
    let pj = b.path("process.json");
    fs::write(&pj, process.to_string()).unwrap();
    let o = c.exec(&["-p", pj.to_str().unwrap()], &[]);
    o.ok();
    assert_eq!(status_field(&o.stdout, "CapInh"), "0000000000000000", "{o}");
    drop(c);
}

// ---------------------------------------------------------------------------
// Mount destinations through symlinks
// ---------------------------------------------------------------------------

/// Says (with --nocapture) whether the runtime refused the config or ran it.
fn report_outcome(o: &Output) {
    if o.success() {
        eprintln!("ran: {}", o.stdout.trim());
    } else {
        eprintln!("refused (exit {}): {}", o.code, o.stderr.trim());
    }
}

/// The first of `paths` that exists on this host.
fn existing(paths: &[&'static str]) -> Option<&'static str> {
    paths.iter().copied().find(|p| Path::new(p).exists())
}

/// Creates `<rootfs>/<host path>`: the in-root target of a symlink that
/// points at that absolute host path, so that a runtime resolving the link
/// inside the root has a directory to mount on.
fn precreate_in_root(b: &Bundle, h: &HostDir) {
    fs::create_dir_all(b.rootfs().join(h.as_str().trim_start_matches('/'))).unwrap();
}

/// CVE-2019-16884 / CVE-2023-28642 (procfs mounted through a symlinked
/// `/proc` of the image, so that the runtime's later writes and masks under
/// /proc miss the real procfs — runc bypassed AppArmor this way). The image
/// has `/proc -> <host dir>` (an absolute path that exists on the host),
/// with and without that path existing inside the rootfs too. The runtime
/// must refuse, or mount inside the rootfs: the host directory gets no mount
/// and no new entries, and in the container `/proc` is a procfs whose
/// maskedPaths and readonlyPaths are in force.
#[test]
fn root_cve_2019_16884_proc_symlink_in_rootfs() {
    let rt = Runtime::new();
    let h = HostDir::new("proc");
    let masked = existing(&["/proc/kcore", "/proc/keys", "/proc/timer_list"]).unwrap();
    for precreate in [false, true] {
        let b = Bundle::new("cve16884").own_rootfs().sh(&format!(
            "stat -f -c %T /proc/; stat -c %t:%T {masked}; \
             echo x > /proc/sys/kernel/hostname; echo rc=$?"
        ));
        fs::remove_dir(b.rootfs().join("proc")).unwrap();
        symlink(h.path(), b.rootfs().join("proc")).unwrap();
        if precreate {
            precreate_in_root(&b, &h);
        }
        let o = rt.run(&b);
        report_outcome(&o);
        h.assert_untouched(&o);
        if o.success() {
            assert_eq!(o.stdout, "proc\n1:3\nrc=1\n", "{o}");
        } else {
            assert!(o.stdout.is_empty(), "container ran, then failed: {o}");
        }
    }
}

/// CVE-2019-16884 / CVE-2025-52881 class: the runtime must not trust the
/// container's `/proc` for its own security decisions. The config
/// bind-mounts a file saying `deny` over the init's `/proc/self/setgroups`
/// (resolved inside the root: the file of pid 1 in the container's fresh
/// procfs). A runtime that reads that file through the container's `/proc`
/// after pivot_root believes setgroups(2) is forbidden, skips it, and the
/// process keeps the runtime's own supplementary groups (root's here)
/// instead of exactly `additionalGids`. Refusing the mount (runc refuses
/// bind mounts into /proc other than a few known files) is as good.
///
/// What defends myrt: every /proc access of the container set-up goes
/// through the host's procfs handle, opened before the clone and checked
/// to be procfs, with `openat2(RESOLVE_BENEATH|RESOLVE_NO_XDEV|
/// RESOLVE_NO_MAGICLINKS)` (an over-mount is an error, never followed).
#[test]
fn root_cve_2019_16884_fake_proc_setgroups() {
    let rt = Runtime::new();
    let b = Bundle::new("fakesetgroups");
    let fake = b.path("fake-setgroups");
    fs::write(&fake, "deny\n").unwrap();
    let b = b
        .set(
            "/process/user",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]}),
        )
        .with(|v| {
            v["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/proc/self/setgroups", "type": "bind",
                "source": fake, "options": ["bind", "ro"]
            }))
        })
        .sh("grep '^Groups' /proc/self/status; cat /proc/self/setgroups");
    let o = rt.run(&b);
    if !o.success() {
        eprintln!("the runtime refused the config: {o}");
        return;
    }
    let groups: Vec<&str> = o
        .stdout
        .lines()
        .find(|l| l.starts_with("Groups:"))
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .collect();
    assert_eq!(
        groups,
        ["2000"],
        "supplementary groups are not exactly additionalGids: a fake \
         /proc/self/setgroups made the runtime skip setgroups(2); {o}"
    );
}

/// CVE-2023-27561 (re-introduced CVE-2019-19921) / CVE-2021-30465 class: a
/// bind mount whose destination in the image is a symlink to a host path
/// (`/mnt/link -> <host dir>`), also as the parent of the destination. The
/// symlink must be resolved inside the rootfs: the host directory stays
/// empty and unmounted, and in the container the bind shows at the in-root
/// target of the link. When that target exists in the rootfs the mount must
/// succeed (images have such links, e.g. /var/run -> /run); when it does not,
/// the runtime may refuse or create it inside the rootfs.
#[test]
fn root_cve_2023_27561_bind_destination_symlink_to_host() {
    let rt = Runtime::new();
    let h = HostDir::new("bind");
    for precreate in [false, true] {
        for dest in ["/mnt/link", "/mnt/link/sub"] {
            let b = Bundle::new("cve27561").own_rootfs();
            let src = b.path("src");
            fs::create_dir_all(&src).unwrap();
            fs::write(src.join("marker"), "from-bundle\n").unwrap();
            let in_root = format!("{}{}", h.as_str(), &dest["/mnt/link".len()..]);
            let b = b
                .set(
                    "/mounts/-",
                    json!({"destination": dest, "type": "bind",
                           "source": src, "options": ["rbind", "ro"]}),
                )
                .sh(&format!("cat {dest}/marker; cat {in_root}/marker"));
            fs::create_dir_all(b.rootfs().join("mnt")).unwrap();
            symlink(h.path(), b.rootfs().join("mnt/link")).unwrap();
            if precreate {
                precreate_in_root(&b, &h);
            }
            let o = rt.run(&b);
            report_outcome(&o);
            h.assert_untouched(&o);
            if precreate || o.success() {
                assert_eq!(
                    o.stdout, "from-bundle\nfrom-bundle\n",
                    "{dest} (target in rootfs: {precreate}): {o}"
                );
            }
        }
    }
}

/// CVE-2021-30465 (symlink-exchange race on mount destinations), the static
/// case: destinations whose parent is a symlink to `/` (`/slash -> /`) or
/// climbs above the root (`/up -> ../../../../../../../..`), or that climb
/// with `..` themselves, must resolve inside the rootfs. Each names a host
/// directory: nothing may appear in (or be mounted on) the host directory,
/// and in the container the tmpfs is at the in-root path. When the in-root
/// directory exists, the symlinked forms must succeed; a destination with
/// `..` components may be refused.
#[test]
fn root_cve_2021_30465_destination_parent_symlink_escapes() {
    let rt = Runtime::new();
    let h = HostDir::new("race");
    let hs = h.as_str();
    for precreate in [false, true] {
        for (dest, may_refuse) in [
            (format!("/slash{hs}/a"), !precreate),
            (format!("/up{hs}/b"), !precreate),
            (format!("/../../../..{hs}/c"), true),
        ] {
            let leaf = &dest[dest.len() - 1..];
            let b = Bundle::new("cve30465")
                .own_rootfs()
                .set(
                    "/mounts/-",
                    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "size=64k"]}),
                )
                .sh(&format!("stat -f -c %T {hs}/{leaf}"));
            symlink("/", b.rootfs().join("slash")).unwrap();
            symlink("../../../../../../../..", b.rootfs().join("up")).unwrap();
            if precreate {
                precreate_in_root(&b, &h);
            }
            let o = rt.run(&b);
            report_outcome(&o);
            h.assert_untouched(&o);
            if o.success() || !may_refuse {
                assert_eq!(
                    o.stdout, "tmpfs\n",
                    "{dest} (in-root dir exists: {precreate}): {o}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// maskedPaths / readonlyPaths and /dev
// ---------------------------------------------------------------------------

/// Masked and read-only /proc and /sys paths (the `runc spec` defaults; the
/// class of host-information leaks and host-kernel writes through procfs
/// and sysfs, e.g. /proc/kcore, /proc/sysrq-trigger, /sys/firmware). Each
/// masked file that exists on the host is /dev/null in the container, each
/// masked directory is empty, /proc/sys is read-only — and a container
/// without CAP_SYS_ADMIN cannot undo any of it: remounting rw, unmounting a
/// mask, or mounting a fresh procfs/sysfs all fail.
#[test]
fn root_masked_and_readonly_paths_cannot_be_undone() {
    let rt = Runtime::new();
    let b = Bundle::new("maskro");
    let masked: Vec<String> = b.config["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .filter(|p| Path::new(p).exists())
        .collect();
    let (files, dirs): (Vec<&String>, Vec<&String>) =
        masked.iter().partition(|p| Path::new(p).is_file());
    assert!(!files.is_empty() && !dirs.is_empty(), "{masked:?}");
    let mut script = String::new();
    for f in &files {
        script += &format!("echo \"{f} $(stat -c %t:%T {f}) $(wc -c < {f})\"; ");
    }
    for d in &dirs {
        script += &format!("echo \"{d} $(ls -A {d} | wc -l)\"; ");
    }
    let f0 = files[0];
    let d0 = dirs[0];
    script += &format!(
        "echo x > /proc/sys/kernel/hostname 2>/dev/null; echo write-sys rc=$?; \
         mount -o remount,rw /proc/sys 2>/dev/null; echo remount rc=$?; \
         mount -o remount,bind,rw /proc/sys 2>/dev/null; echo remount-bind rc=$?; \
         umount {f0} 2>/dev/null; echo umount-file rc=$?; \
         umount -l {d0} 2>/dev/null; echo umount-dir rc=$?; \
         mount -t proc proc /tmp 2>/dev/null; echo mount-proc rc=$?; \
         mount -t sysfs sysfs /tmp 2>/dev/null; echo mount-sysfs rc=$?; \
         echo x > /proc/sys/kernel/hostname 2>/dev/null; echo write-sys-again rc=$?; \
         echo \"{f0} $(stat -c %t:%T {f0})\"; echo \"{d0} $(ls -A {d0} | wc -l)\""
    );
    let b = b.sh(&script);
    let o = rt.run(&b);
    o.ok();
    let mut want = String::new();
    for f in &files {
        want += &format!("{f} 1:3 0\n");
    }
    for d in &dirs {
        want += &format!("{d} 0\n");
    }
    for w in [
        "write-sys",
        "remount",
        "remount-bind",
        "umount-file",
        "umount-dir",
        "mount-proc",
        "mount-sysfs",
        "write-sys-again",
    ] {
        want += &format!("{w} rc=1\n");
    }
    want += &format!("{f0} 1:3\n{d0} 0\n");
    // busybox mount/umount exit 255 on failure: normalise the codes.
    let got = o
        .stdout
        .lines()
        .map(|l| match l.rsplit_once(" rc=") {
            Some((w, c)) if c != "0" => format!("{w} rc=1\n"),
            _ => format!("{l}\n"),
        })
        .collect::<String>();
    assert_eq!(got, want, "{o}");
}

/// Host device leaks (the class behind e.g. privileged-container escapes
/// through /dev/sda, /dev/mem, /dev/kmsg): /dev in the container holds only
/// the runtime's default devices and symlinks plus `linux.devices`, nothing
/// of the host's /dev; and even with CAP_MKNOD the container can neither
/// create nor open a node for the host's root disk or /dev/mem (devices
/// cgroup).
#[test]
fn root_dev_holds_only_default_and_configured_devices() {
    let rt = Runtime::new();
    let b = Bundle::new("devs")
        .set(
            "/linux/devices",
            json!([{"path": "/dev/myrt-extra", "type": "c", "major": 1, "minor": 3,
                    "fileMode": 438, "uid": 0, "gid": 0}]),
        )
        .args(&["ls", "-A", "/dev"]);
    let o = rt.run(&b);
    o.ok();
    let allowed = [
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "tty",
        "ptmx",
        "pts",
        "shm",
        "mqueue",
        "fd",
        "stdin",
        "stdout",
        "stderr",
        "core",
        "myrt-extra",
    ];
    let got: Vec<&str> = o.stdout.split_whitespace().collect();
    let extra: Vec<&&str> = got.iter().filter(|d| !allowed.contains(d)).collect();
    assert!(
        extra.is_empty(),
        "unexpected entries {extra:?} in /dev: {o}"
    );
    for must in [
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "tty",
        "myrt-extra",
    ] {
        assert!(got.contains(&must), "/dev/{must} missing: {o}");
    }

    // mknod of host devices, with CAP_MKNOD (on the /dev tmpfs, which is
    // not nodev).
    let st = fs::metadata("/").unwrap();
    use std::os::unix::fs::MetadataExt;
    let (maj, min) = (libc::major(st.dev()), libc::minor(st.dev()));
    let caps = json!(["CAP_MKNOD", "CAP_KILL"]);
    let b = Bundle::new("devs2")
        .set(
            "/process/capabilities",
            json!({"bounding": caps, "effective": caps, "permitted": caps}),
        )
        .sh(&format!(
            "mknod /dev/hostdisk b {maj} {min}; \
             echo disk=$(head -c 512 /dev/hostdisk 2>/dev/null | wc -c); \
             mknod /dev/hostmem c 1 1; \
             echo mem=$(head -c 16 /dev/hostmem 2>/dev/null | wc -c); \
             mknod /dev/hostkmsg c 1 11; \
             echo kmsg=$(head -c 16 /dev/hostkmsg 2>/dev/null | wc -c)"
        ));
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.stdout, "disk=0\nmem=0\nkmsg=0\n", "{o}");
}
