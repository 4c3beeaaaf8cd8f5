//! The lifecycle operations (create, start, state, kill, delete, run, exec,
//! list, ps, pause, resume, update, events, spec, features): orchestration
//! of the other modules, one public function per subcommand.

use oci_spec::runtime::{LinuxResources, Process, Spec};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroups::{self, Cgroup, Owned};
use crate::hooks::{self, Kind};
use crate::process::{self, ExecArgs, InitArgs};
use crate::spec::{self, OVERLAY_ANNOTATION};
use crate::state::{self, ContainerDir, State, Status};
use crate::sys;
use crate::tty;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Failure(String),
    #[error(transparent)]
    Spec(#[from] spec::Error),
    #[error(transparent)]
    State(#[from] state::Error),
    #[error(transparent)]
    Process(#[from] process::Error),
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error(transparent)]
    Tty(#[from] tty::Error),
    #[error(transparent)]
    Sys(#[from] sys::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// An error found by the lifecycle itself (not by a module below it).
fn failure(s: impl Into<String>) -> Error {
    Error::Failure(s.into())
}

/// Options every command shares.
#[derive(Debug, Clone)]
pub struct Global {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub bundle: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

fn check_id(id: &str) -> Result<()> {
    spec::validate_id(id).map_err(Error::Failure)
}

/// `--preserve-fds N`: fds 3..3+N must be fd numbers (an int), and ones a
/// process can have: no fd number reaches the kernel's fs.nr_open (read
/// only for N above 1024, so the usual values cost nothing).
fn check_preserve_fds(n: u32) -> Result<()> {
    if n > i32::MAX as u32 - 3 {
        return Err(failure(format!(
            "--preserve-fds: {n} is too large (at most {})",
            i32::MAX - 3
        )));
    }
    if n > 1024
        && let Some(max) = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        && u64::from(n) + 3 > max
    {
        return Err(failure(format!(
            "--preserve-fds: {n} is too large: fd numbers stop below fs.nr_open ({max}), \
             so at most {} fds can be passed",
            max.saturating_sub(3)
        )));
    }
    Ok(())
}

/// The live status of a container, from its processes: `creating` while
/// the `create` that wrote the record is at work; then `stopped` unless the
/// init (pid + start time) lives; `created` while the init still holds the
/// exec FIFO (a `start` killed after opening it leaves the FIFO behind, but
/// the init has let go of it and runs).
pub fn status_of(dir: &ContainerDir, st: &State) -> Status {
    if st.creator_alive() {
        Status::Creating
    } else if !st.alive() {
        Status::Stopped
    } else if !st.no_cgroup && cgroup_handle(st).is_frozen().unwrap_or(false) {
        Status::Paused
    } else if state::holds_file(st.pid, &dir.fifo()) != Some(false) {
        Status::Created
    } else {
        Status::Running
    }
}

fn state_json(st: &State, status: Status) -> Vec<u8> {
    serde_json::to_vec(&st.oci(status)).expect("state serializes")
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    sys::write_atomic(&path, pid.to_string().as_bytes(), 0o644)
        .map_err(|e| failure(format!("--pid-file: {e}")))
}

/// Records the init's pid and runs prestart/createRuntime hooks for
/// `process::spawn_init`.
struct HookRunner<'a> {
    spec: &'a Spec,
    dir: &'a ContainerDir,
    template: State,
    /// Set once the create hooks started: a failure from then on runs the
    /// poststop hooks (runtime-spec lifecycle: "continue at poststop").
    started: &'a std::cell::Cell<bool>,
}

impl process::Parent for HookRunner<'_> {
    fn run_create_hooks(&mut self, pid: i32) -> std::result::Result<(), String> {
        // The init is born: record it before it can outlive us. Until the
        // parent answers this stage the init dies with us (PDEATHSIG, EOF on
        // the channel); from then on the record names it.
        self.template.pid = pid;
        self.template.start_time = sys::proc_stat(pid).map(|(_, s)| s).unwrap_or(0);
        self.dir.save(&self.template).map_err(|e| e.to_string())?;
        crate::fault::point("init recorded");
        let Some(h) = self.spec.hooks() else {
            return Ok(());
        };
        self.started.set(true);
        let st = &self.template;
        // prestart sees `created` (as crun gives it, and as the runtime-spec
        // lifecycle's validation suite expects); createRuntime sees
        // `creating`, as runc gives it.
        for (kind, status) in [
            (Kind::Prestart, Status::Created),
            (Kind::CreateRuntime, Status::Creating),
        ] {
            let list = hooks::hooks_of(h, kind);
            if !list.is_empty() {
                hooks::run(kind, list, &state_json(st, status)).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn hook_state(&self, pid: i32) -> Vec<u8> {
        let mut st = self.template.clone();
        st.pid = pid;
        state_json(&st, Status::Creating)
    }
}

struct Created {
    dir: ContainerDir,
    state: State,
    master: Option<OwnedFd>,
}

/// What `create` works from, loaded and checked before anything is made.
struct CreateInputs {
    bundle: PathBuf,
    spec: Spec,
    rootfs: PathBuf,
    /// `NOTIFY_SOCKET` was set: the container gets a notify socket
    /// (`crate::notify`).
    notify: bool,
    /// Rootless without access to cgroups: the container has none.
    no_cgroup: bool,
    /// The systemd unit the cgroup is (`--systemd-cgroup`), and the
    /// manager's bus.
    unit: Option<(String, cgroups::systemd::Bus)>,
    init: process::InitConfig,
}

impl CreateInputs {
    fn linux(&self) -> &oci_spec::runtime::Linux {
        self.spec.linux().as_ref().expect("validated")
    }
}

/// `create` (and `run`, which relays the terminal in the `foreground`):
/// check everything, write the record of what is about to be made, make
/// it; on an error, remove what was made.
fn create_inner(g: &Global, id: &str, o: &CreateOpts, foreground: bool) -> Result<Created> {
    let (c, mut cgroup) = load_for_create(g, id, o, foreground)?;
    let mut template = record_ahead(id, &c, &*cgroup);
    template.set_creator();
    crate::fault::point("validated");
    let dir = ContainerDir::create(&g.root, id, &template)?;
    let hooks_started = std::cell::Cell::new(false);
    let mut runner = HookRunner {
        spec: &c.spec,
        dir: &dir,
        template: template.clone(),
        started: &hooks_started,
    };
    match make_container(id, o, &c, &mut *cgroup, &mut runner) {
        Ok((state, master)) => Ok(Created { dir, state, master }),
        Err(e) => {
            let e = undo_create(id, &c, &mut *cgroup, &template, hooks_started.get(), e);
            let _ = dir.remove();
            Err(e)
        }
    }
}

/// Everything `create` checks before it makes anything: the id, the
/// options, the bundle's config, where its cgroup goes, and what `process`
/// prepares (seccomp filter, terminal, overlay root).
fn load_for_create(
    g: &Global,
    id: &str,
    o: &CreateOpts,
    foreground: bool,
) -> Result<(CreateInputs, Box<dyn Cgroup>)> {
    check_id(id)?;
    check_preserve_fds(o.preserve_fds)?;
    let bundle = o.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    let bundle = std::fs::canonicalize(&bundle)
        .map_err(|e| failure(format!("--bundle {}: {e}", bundle.display())))?;
    let mut spec = spec::load(&bundle)?;
    spec::validate(&spec, &bundle)?;
    // After validation: the notify mount is ours, not the config's.
    let notify = crate::notify::host_socket().is_some();
    if notify {
        crate::notify::add_to_spec(&mut spec, &g.root.join(id));
    }
    let listen_fds = crate::activation::passed();
    if listen_fds > 0 {
        crate::activation::add_to_spec(&mut spec, listen_fds);
    }
    crate::rootless::check(&spec).map_err(Error::Failure)?;
    let linux = spec.linux().as_ref().expect("validated");
    if g.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        return Err(failure(
            "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)",
        ));
    }
    let cgroups_path = linux.cgroups_path().as_ref().and_then(|p| p.to_str());
    let unit = if g.systemd_cgroup {
        cgroups::bus::check_installed()?;
        let extra = cgroups::systemd::annotation_properties(spec.annotations().iter().flatten())?;
        Some((systemd_unit(cgroups_path, id, linux)?, extra))
    } else {
        None
    };
    let cg_path = match &unit {
        Some(((_, u), _)) => u.cgroup.clone(),
        None => cgroups::resolve_path(cgroups_path, id, false)?,
    };
    let rootfs = spec::rootfs_path(&spec, &bundle);
    let init = process::InitConfig::prepare(
        &spec,
        &rootfs,
        &g.root.join(id),
        o.console_socket.as_deref(),
        foreground,
    )?;
    let cgroup: Box<dyn Cgroup> = match unit.as_ref() {
        Some(((bus, u), extra)) => Box::new(cgroups::systemd::Systemd::new(
            bus.clone(),
            Owned::new(&cg_path),
            u,
            id,
            extra.clone(),
        )),
        None => cgroups::open(&cg_path),
    };
    let no_cgroup = skip_cgroup(id, linux, &*cgroup)?;
    let inputs = CreateInputs {
        bundle,
        spec,
        rootfs,
        notify,
        no_cgroup,
        unit: unit.map(|((bus, u), _)| (u.unit, bus)),
        init,
    };
    Ok((inputs, cgroup))
}

/// `--systemd-cgroup`: the manager and where its unit goes. Root asks the
/// system manager; a rootless caller its own user manager (`systemd
/// --user`) on the user's bus, whose cgroup the unit goes under (one call
/// of the helper more, only for this driver rootless), and which must have
/// the controllers the limits need.
fn systemd_unit(
    cgroups_path: Option<&str>,
    id: &str,
    linux: &oci_spec::runtime::Linux,
) -> Result<(cgroups::systemd::Bus, cgroups::systemd::UnitPath)> {
    use cgroups::systemd::{Bus, UnitPath};
    if !crate::rootless::active() {
        return Ok((Bus::System, UnitPath::parse(cgroups_path, id)?));
    }
    let bus = Bus::user(crate::rootless::host_uid())?;
    let manager = cgroups::bus::manager_cgroup(&bus)?;
    let path = UnitPath::parse_user(cgroups_path, id, &manager)?;
    if let Some(r) = linux.resources() {
        cgroups::systemd::check_delegated(&manager, r)?;
    }
    Ok((bus, path))
}

/// The write-ahead record: everything this create is about to make.
fn record_ahead(id: &str, c: &CreateInputs, cgroup: &dyn Cgroup) -> State {
    State {
        id: id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: c.bundle.clone(),
        rootfs: c.rootfs.clone(),
        created: sys::rfc3339_now(),
        owner: String::new(),
        annotations: c
            .spec
            .annotations()
            .as_ref()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
        cgroup_path: cgroup.path().to_string(),
        overlay_dir: c.init.overlay_dir().map(|(d, _)| d.to_path_buf()),
        overlay_keep: c.init.overlay_dir().is_some_and(|(_, keep)| keep),
        own_pid_ns: spec::new_namespace(&c.spec, oci_spec::runtime::LinuxNamespaceType::Pid),
        cgroup_created: Some(if c.no_cgroup {
            Vec::new()
        } else {
            cgroup.missing_dirs()
        }),
        no_cgroup: c.no_cgroup,
        systemd_unit: c.unit.as_ref().map(|(u, _)| u.clone()),
        systemd_bus: c
            .unit
            .as_ref()
            .map(|(_, b)| b.clone())
            .filter(|b| *b != cgroups::systemd::Bus::System),
        creator_pid: 0,
        creator_start: 0,
    }
}

/// Make what the record names, in its order: the saved config, the exec
/// FIFO, the cgroup, the overlay's directories; then the init, driven to
/// `created`, recorded, and its pid file.
fn make_container(
    id: &str,
    o: &CreateOpts,
    c: &CreateInputs,
    cgroup: &mut dyn Cgroup,
    runner: &mut HookRunner,
) -> Result<(State, Option<OwnedFd>)> {
    let dir = runner.dir;
    sys::write_atomic(
        &dir.config(),
        &serde_json::to_vec(&c.spec).expect("spec serializes"),
        0o600,
    )?;
    crate::fault::point("config saved");
    make_exec_fifo(&dir.fifo())?;
    crate::fault::point("fifo made");
    if !c.no_cgroup {
        cgroup.create()?;
        crate::fault::point("cgroup made");
        // Always: the device policy is default-deny even without
        // resources (except rootless: see cgroups::devices_enforced).
        let linux = c.linux();
        cgroup.set(
            linux
                .resources()
                .as_ref()
                .unwrap_or(&LinuxResources::default()),
            linux.devices().as_deref().unwrap_or_default(),
        )?;
        crate::fault::point("cgroup set");
    }
    if c.init.overlay_dir().is_some() {
        c.init.make_overlay_dirs()?;
        crate::fault::point("overlay dirs made");
    }
    if c.notify {
        crate::notify::make_dir(&dir.path)
            .map_err(|e| failure(format!("NOTIFY_SOCKET: mkdir {}: {e}", dir.path.display())))?;
    }
    let init = process::spawn_init(
        InitArgs {
            id,
            spec: &c.spec,
            bundle: &c.bundle,
            rootfs: c.rootfs.clone(),
            config: &c.init,
            fifo: dir.fifo(),
            cgroup: (!c.no_cgroup).then_some(&*cgroup),
            no_pivot: o.no_pivot,
            no_new_keyring: o.no_new_keyring,
            preserve_fds: o.preserve_fds,
            lock_fd: dir.lock_fd(),
        },
        runner,
    )?;
    crate::fault::point("init ready");
    // The init was recorded (pid and start time) when the create hooks'
    // stage reported it: `Parent::run_create_hooks`.
    let st = runner.template.clone();
    debug_assert_eq!(st.pid, init.pid);
    if let Some(p) = &o.pid_file {
        write_pid_file(p, init.pid)?;
        crate::fault::point("pid file written");
    }
    Ok((st, init.master))
}

/// The exec FIFO, which `start` opens; writable by any user, since the
/// container may run as any user (mkfifo honours the umask).
fn make_exec_fifo(path: &Path) -> Result<()> {
    let fifo = sys::cstr(path);
    // SAFETY: fifo is a NUL-terminated path that outlives both calls.
    if unsafe { libc::mkfifo(fifo.as_ptr(), 0o622) } < 0 {
        return Err(sys::last("mkfifo exec.fifo").into());
    }
    // SAFETY: as above.
    unsafe { libc::chmod(fifo.as_ptr(), 0o622) };
    Ok(())
}

/// After a failed create, before its state dir goes: the init was killed
/// by `process::spawn_init`, and its mounts died with its mount
/// namespace. Only a cgroup myrt created is emptied and removed (one that
/// was there before belongs to someone else); the poststop hooks run if
/// the create hooks had started; an overlay write layer made in the state
/// dir goes. Returns the error, explained if the OOM killer caused it.
fn undo_create(
    id: &str,
    c: &CreateInputs,
    cgroup: &mut dyn Cgroup,
    template: &State,
    hooks_started: bool,
    e: Error,
) -> Error {
    let e = if c.no_cgroup {
        e
    } else {
        let e = explain_oom(cgroup, c.linux(), e);
        if cgroup.owns_leaf() {
            let _ = cgroup.kill_all(libc::SIGKILL);
        }
        let _ = cgroup.destroy();
        cgroups::remove_dirs(template.cgroup_created.as_deref().unwrap_or_default());
        e
    };
    if hooks_started && let Some(h) = c.spec.hooks() {
        let st = serde_json::json!({
            "ociVersion": state::OCI_VERSION, "id": id, "status": "stopped",
            "bundle": c.bundle, "rootfs": c.rootfs, "pid": 0,
        });
        hooks::run_warn(
            Kind::Poststop,
            hooks::hooks_of(h, Kind::Poststop),
            st.to_string().as_bytes(),
        );
    }
    if let Some(d) = template
        .overlay_dir
        .as_ref()
        .filter(|_| !template.overlay_keep)
    {
        let _ = std::fs::remove_dir_all(d);
    }
    e
}

/// Rootless (see [`crate::rootless`]) without write access to where the
/// cgroup would be made: whether the container goes on without a cgroup
/// (with a warning). As runc: only when the config names no cgroupsPath and
/// asks for no limit; otherwise an error naming the field, since a limit
/// that was asked for is never silently dropped. Device rules are not a
/// limit here: a rootless caller cannot install them at all, and needs
/// none (see `cgroups::devices_enforced`).
fn skip_cgroup(id: &str, linux: &oci_spec::runtime::Linux, cgroup: &dyn Cgroup) -> Result<bool> {
    use nix::unistd::AccessFlags;
    if !crate::rootless::active() {
        return Ok(false);
    }
    let missing = cgroup.missing_dirs();
    let denied = missing.iter().filter_map(|d| d.parent()).find(|p| {
        !missing.iter().any(|m| m == p)
            && nix::unistd::access(*p, AccessFlags::W_OK | AccessFlags::X_OK).is_err()
    });
    let Some(denied) = denied else {
        return Ok(false);
    };
    let why = format!(
        "{} may not create cgroups in {} (rootless: use a cgroup v2 subtree delegated to this user)",
        crate::rootless::who(),
        denied.display()
    );
    if let Some(p) = linux.cgroups_path() {
        return Err(failure(format!(
            "linux.cgroupsPath: {}: {why}",
            p.display()
        )));
    }
    if let Some(f) = linux.resources().as_ref().and_then(requested_limit) {
        return Err(failure(format!(
            "linux.resources.{f}: the limit cannot be applied: {why}, or remove the limit"
        )));
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "myrt: warning: container {id} runs without a cgroup: {why}"
    );
    Ok(true)
}

/// The first `linux.resources` section other than `devices` that sets
/// something (an empty object sets nothing).
fn requested_limit(r: &LinuxResources) -> Option<String> {
    let v = serde_json::to_value(r).ok()?;
    v.as_object()?
        .iter()
        .find(|(k, v)| {
            *k != "devices"
                && match v {
                    serde_json::Value::Null => false,
                    serde_json::Value::Object(o) => o.values().any(|x| !x.is_null()),
                    serde_json::Value::Array(a) => !a.is_empty(),
                    _ => true,
                }
        })
        .map(|(k, _)| k.clone())
}

/// A set-up that failed because the container's process was OOM-killed
/// (its memory limit is below what it needs to start; the kernel only
/// refuses a limit below the usage, EBUSY, once the process is in the
/// cgroup) is reported as that, naming the field.
fn explain_oom(cgroup: &dyn Cgroup, linux: &oci_spec::runtime::Linux, e: Error) -> Error {
    let Some(limit) = linux
        .resources()
        .as_ref()
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .filter(|l| *l > 0)
    else {
        return e;
    };
    match cgroup.oom_kills() {
        Some((kills, peak)) if kills > 0 => {
            let peak = peak
                .map(|p| format!(", peak usage {p} bytes"))
                .unwrap_or_default();
            failure(format!(
                "linux.resources.memory.limit: {limit} bytes is below the memory the container \
                 needs to start: the kernel's OOM killer killed its process during set-up \
                 (memory usage over the limit{peak}; {e})"
            ))
        }
        _ => e,
    }
}

pub fn create(g: &Global, id: &str, o: &CreateOpts) -> Result<()> {
    create_inner(g, id, o, false).map(|_| ())
}

fn start_inner(dir: &ContainerDir, st: &State) -> Result<()> {
    match status_of(dir, st) {
        Status::Created => {}
        s => {
            return Err(failure(format!(
                "cannot start a container that is {s} (only a created container can be started)"
            )));
        }
    }
    crate::fault::point("start checked");
    let fifo = sys::open(&dir.fifo(), libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
    crate::fault::point("fifo opened");
    // The init blocks opening the FIFO for writing; it writes one byte once
    // we are here. Wait for it, watching that it is still alive.
    let spec = load_config(dir)?;
    let deadline = Instant::now()
        + Duration::from_secs(30)
        + hooks::total_timeout(spec.hooks().as_ref(), Kind::StartContainer);
    // The init writes "0" once the startContainer hooks passed (or "1" and
    // their error), keeps the FIFO open until its execve closes it, and
    // writes "2" and the error if the execve failed. So we read to EOF.
    let mut got = Vec::new();
    loop {
        let mut pfd = libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll reads and writes one pollfd on this stack frame.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            let mut b = [0u8; 4096];
            // SAFETY: read writes at most b.len() bytes into `b`.
            let n = unsafe {
                libc::read(
                    fifo.as_raw_fd(),
                    b.as_mut_ptr() as *mut libc::c_void,
                    b.len(),
                )
            };
            if n > 0 {
                got.extend_from_slice(&b[..n as usize]);
                continue;
            }
            if n == 0 && !got.is_empty() {
                break;
            }
        }
        if got.is_empty() && !st.alive() {
            let _ = std::fs::remove_file(dir.fifo());
            return Err(failure(
                "the container process exited before it was started",
            ));
        }
        if Instant::now() > deadline {
            return Err(failure(
                "timed out waiting for the container process to start",
            ));
        }
    }
    crate::fault::point("fifo read");
    match got.first() {
        Some(b'0') if got.get(1) == Some(&b'2') => {
            let _ = std::fs::remove_file(dir.fifo());
            return Err(failure(String::from_utf8_lossy(&got[2..]).into_owned()));
        }
        Some(b'0') => {
            if let Some(e) = killed_at_exec(st.pid) {
                let _ = std::fs::remove_file(dir.fifo());
                return Err(failure(e));
            }
        }
        _ => {
            let _ = std::fs::remove_file(dir.fifo());
            let _ = signal_init(st, libc::SIGKILL);
            return Err(failure(String::from_utf8_lossy(&got[1..]).into_owned()));
        }
    }
    let _ = std::fs::remove_file(dir.fifo());
    crate::fault::point("fifo removed");
    if let Some(h) = spec.hooks() {
        hooks::run_warn(
            Kind::Poststart,
            hooks::hooks_of(h, Kind::Poststart),
            &state_json(st, Status::Running),
        );
        crate::fault::point("poststart hooks run");
    }
    Ok(())
}

/// After the FIFO closed: was the init killed by SIGSYS (a seccomp KILL
/// action) instead of running its program? Its exit code is set before
/// its fds are closed, so it can be read at once (`/proc/PID/stat` field
/// 52), with no wait on the success path.
fn killed_at_exec(pid: i32) -> Option<String> {
    // Field 52: exit_code.
    let code: i32 = sys::with_proc_stat(pid, |f| f.get(49)?.parse().ok())?;
    (libc::WIFSIGNALED(code) && libc::WTERMSIG(code) == libc::SIGSYS).then(|| {
        "the container process was killed by SIGSYS (bad system call) as it started: \
         linux.seccomp does not allow a syscall it needs (e.g. execve)"
            .to_string()
    })
}

pub fn start(g: &Global, id: &str) -> Result<()> {
    check_id(id)?;
    let dir = ContainerDir::open(&g.root, id, true)?;
    let st = dir.load()?;
    let notify = notify_listener(&dir)?;
    start_inner(&dir, &st)?;
    // The wait for READY holds no lock: kill and delete work meanwhile.
    drop(dir);
    forward_ready(notify.as_ref(), st.pid, &st)
}

/// With `NOTIFY_SOCKET` set, the container's notify socket, bound before
/// its init is released (`crate::notify`).
fn notify_listener(dir: &ContainerDir) -> Result<Option<crate::notify::Listener>> {
    let Some(host) = crate::notify::host_socket() else {
        return Ok(None);
    };
    crate::notify::Listener::bind(&dir.path, host)
        .map_err(|e| failure(format!("NOTIFY_SOCKET: bind the container's socket: {e}")))
}

/// Pass the container's READY on with `MAINPID=main_pid`, waiting while
/// its init lives.
fn forward_ready(l: Option<&crate::notify::Listener>, main_pid: i32, st: &State) -> Result<()> {
    let Some(l) = l else {
        return Ok(());
    };
    l.forward_ready(main_pid, || st.alive())
        .map_err(|e| failure(format!("NOTIFY_SOCKET: {e}")))
}

fn load_config(dir: &ContainerDir) -> Result<Spec> {
    let data =
        std::fs::read(dir.config()).map_err(|e| failure(format!("read saved config: {e}")))?;
    spec::from_json(&data).map_err(|(field, e)| failure(format!("saved config: {field}: {e}")))
}

/// `state`: the runtime-spec state JSON, pretty-printed like runc. Takes no
/// lock: the state file is always whole, and the status comes from the
/// processes.
pub fn state(g: &Global, id: &str) -> Result<String> {
    check_id(id)?;
    let dir = ContainerDir::peek(&g.root, id)?;
    let st = dir.load()?;
    let status = status_of(&dir, &st);
    Ok(serde_json::to_string_pretty(&st.oci(status)).expect("state serializes"))
}

/// Parse a signal: `9`, `KILL`, `SIGKILL`, `kill`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(failure(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    // The aliases nix's Signal does not parse.
    let canonical = match name {
        "IOT" => "ABRT",
        "CLD" => "CHLD",
        "POLL" => "IO",
        other => other,
    };
    if let Ok(sig) = format!("SIG{canonical}").parse::<nix::sys::signal::Signal>() {
        return Ok(sig as i32);
    }
    // RTMIN+k and RTMAX-k, within SIGRTMIN..=SIGRTMAX.
    let (lo, hi) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let rt = if let Some(rest) = name.strip_prefix("RTMIN+") {
        rest.parse::<i32>().ok().and_then(|k| lo.checked_add(k))
    } else if let Some(rest) = name.strip_prefix("RTMAX-") {
        rest.parse::<i32>().ok().and_then(|k| hi.checked_sub(k))
    } else {
        None
    };
    if let Some(n) = rt.filter(|n| (lo..=hi).contains(n)) {
        return Ok(n);
    }
    match name {
        "RTMIN" => Ok(lo),
        "RTMAX" => Ok(hi),
        _ => Err(failure(format!("invalid signal {s:?}"))),
    }
}

/// Signal the init process through a pidfd checked against its start
/// time, so a recycled pid is never signalled.
fn signal_init(st: &State, sig: i32) -> Result<()> {
    let fd = match sys::pidfd_open(st.pid) {
        Ok(fd) => fd,
        Err(e) if e.source.raw_os_error() == Some(libc::ESRCH) => {
            return Err(failure("container not running"));
        }
        Err(e) => return Err(e.into()),
    };
    if !st.alive() {
        return Err(failure("container not running"));
    }
    sys::pidfd_send_signal(&fd, sig)?;
    Ok(())
}

/// `kill`: signal `sig` (see [`parse_signal`]) to the init, or to every
/// process in the cgroup.
pub fn kill(g: &Global, id: &str, sig: i32, all: bool) -> Result<()> {
    check_id(id)?;
    let dir = ContainerDir::open(&g.root, id, false)?;
    let st = dir.load()?;
    let status = status_of(&dir, &st);
    if status == Status::Stopped && !all {
        return Err(failure("container not running"));
    }
    if all && st.no_cgroup {
        // No cgroup: "all" is the container's pid namespace.
        for pid in pid_ns_members(&st)? {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, sig) };
        }
        return Ok(());
    }
    if all {
        let cg = cgroup_handle(&st);
        cg.kill_all(sig)?;
        if sig == libc::SIGKILL && status == Status::Paused {
            let _ = cg.freeze(false);
        }
        return Ok(());
    }
    signal_init(&st, sig)
}

/// Wait (up to `timeout`) for the init process to be gone or a zombie.
fn wait_dead(st: &State, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while st.alive() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// The cgroup of a container that has one, for `op` (which needs it).
fn own_cgroup(st: &State, op: &str) -> Result<Box<dyn Cgroup>> {
    if st.no_cgroup {
        return Err(failure(format!(
            "{op} needs the container's cgroup, and it has none (created rootless without write access to cgroups)"
        )));
    }
    Ok(cgroup_handle(st))
}

/// A handle on the container's cgroup that owns nothing (to look at it,
/// signal it, pause it or update it), through the driver that made it: a
/// systemd scope's cgroup goes away with its last process, which the
/// systemd handle knows.
fn cgroup_handle(st: &State) -> Box<dyn Cgroup> {
    handle_with(st, Owned::new(&st.cgroup_path))
}

/// The container's cgroup on its driver (the recorded systemd unit and
/// bus, or the host's cgroupfs back end), owning `owned`.
fn handle_with(st: &State, owned: Owned) -> Box<dyn Cgroup> {
    match &st.systemd_unit {
        Some(u) => Box::new(cgroups::systemd::Systemd::existing(
            st.systemd_bus.clone().unwrap_or_default(),
            owned,
            u,
        )),
        None => cgroups::open_with(owned),
    }
}

/// The processes of a container without a cgroup: those in its own pid
/// namespace (the init's), found through /proc: the init, its
/// descendants (orphans in the namespace are re-parented to it), and the
/// others whose pid namespace is the init's (`exec`'d ones; their
/// `ns/pid` is readable once they run the container's program). Without
/// a pid namespace of its own the container's processes cannot be told
/// from the caller's.
fn pid_ns_members(st: &State) -> Result<Vec<i32>> {
    use std::os::unix::fs::MetadataExt;
    if !st.own_pid_ns {
        return Err(failure(
            "the container has no cgroup (rootless) and no pid namespace of its own: its processes cannot be told apart",
        ));
    }
    if !st.alive() {
        return Ok(Vec::new());
    }
    let ns =
        |pid: i32| std::fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| (m.dev(), m.ino()));
    let want = ns(st.pid).ok();
    let mut parent = BTreeMap::new();
    for e in std::fs::read_dir("/proc")
        .map_err(|e| failure(format!("read /proc: {e}")))?
        .flatten()
    {
        if let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok())
            && let Some(ppid) = ppid_of(pid)
        {
            parent.insert(pid, ppid);
        }
    }
    let mut pids: Vec<i32> = parent
        .keys()
        .copied()
        .filter(|&p| {
            let mut q = p;
            // Up the parents to the init (or to the top).
            for _ in 0..parent.len() {
                if q == st.pid {
                    return true;
                }
                match parent.get(&q) {
                    Some(&pp) if pp > 0 => q = pp,
                    _ => break,
                }
            }
            want.is_some() && ns(p).ok() == want
        })
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// The parent pid of `pid` (field 4 of /proc/<pid>/stat).
fn ppid_of(pid: i32) -> Option<i32> {
    sys::with_proc_stat(pid, |f| f.get(1)?.parse().ok())
}

/// The container's cgroup, owning what its state says myrt created.
fn cgroup_of(st: &State) -> Box<dyn Cgroup> {
    let owned = match &st.cgroup_created {
        Some(dirs) => Owned::with_created(&st.cgroup_path, dirs.clone()),
        None => Owned::untracked(&st.cgroup_path),
    };
    handle_with(st, owned)
}

/// The cgroup part of [`destroy`]: what is left in it, and the cgroup.
fn destroy_cgroup(st: &State) -> Result<()> {
    let mut cg = cgroup_of(st);
    let busy = || cg.pids().map(|p| !p.is_empty()).unwrap_or(false);
    // A cgroup that was there before the container is left as it is
    // (processes and directory); only what myrt created is removed.
    // `destroy` removes the cgroup and every directory the record says
    // `create` made (`Owned::remove_created`), or fails.
    let destroyed = if !cg.owns_leaf() {
        cg.destroy()?;
        true
    } else if cg.exists() {
        if busy() {
            if cg.is_frozen().unwrap_or(false) {
                let _ = cg.freeze(false);
            }
            // Without its own pid namespace the container's processes
            // outlive its init: kill them (as runc does). With one, the
            // kernel kills them with the init; what is left after that
            // belongs to someone sharing the cgroup and is not ours to kill.
            if !st.own_pid_ns && cg.owns_leaf() {
                let _ = cg.kill_all(libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(if st.own_pid_ns { 2 } else { 5 });
            while busy() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if busy() {
            false
        } else {
            cg.destroy()?;
            true
        }
    } else {
        false
    };
    crate::fault::point("cgroup removed");
    if destroyed {
        return Ok(());
    }
    // The leaf is gone already (a crash after its removal) or still busy:
    // the directories the record names, as far as they are empty.
    let left = cgroups::remove_dirs(st.cgroup_created.as_deref().unwrap_or_default());
    let leaf_left: Vec<_> = left
        .iter()
        .filter(|d| d.ends_with(st.cgroup_path.trim_start_matches('/')))
        .collect();
    if !leaf_left.is_empty() {
        return Err(failure(format!(
            "cgroup {} is still in use ({}); the container's record is kept",
            st.cgroup_path,
            leaf_left[0].display()
        )));
    }
    Ok(())
}

/// Remove everything the record names: processes left in the cgroup, the
/// cgroup (and the parents `create` made), the overlay write layer, the
/// state dir (last: until then a retry finds the record); then poststop
/// hooks. An error means something is really left, and the record stays.
fn destroy(dir: &ContainerDir, st: &State) -> Result<()> {
    if !st.no_cgroup {
        destroy_cgroup(st)?;
    }
    let spec = load_config(dir).ok();
    if let Some(dir) = st.overlay_dir.as_ref().filter(|_| !st.overlay_keep) {
        let _ = std::fs::remove_dir_all(dir);
    }
    crate::fault::point("overlay removed");
    dir.remove()?;
    if let Some(h) = spec.as_ref().and_then(|s| s.hooks().as_ref()) {
        hooks::run_warn(
            Kind::Poststop,
            hooks::hooks_of(h, Kind::Poststop),
            &state_json(st, Status::Stopped),
        );
    }
    Ok(())
}

pub fn delete(g: &Global, id: &str, force: bool) -> Result<()> {
    check_id(id)?;
    let dir = match ContainerDir::open(&g.root, id, true) {
        Ok(d) => d,
        Err(state::Error::NotFound(_)) if force => {
            // What a create or delete killed half-way left under a
            // temporary name.
            let left = state::sweep(&g.root, id);
            if let Some(l) = left.first() {
                return Err(failure(format!("cannot remove {}", l.display())));
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    crate::fault::point("locked");
    let st = match dir.load() {
        Ok(st) => st,
        Err(state::Error::NotFound(_) | state::Error::Corrupt { .. }) if force => {
            // No record (state from an older myrt killed half-way) or an
            // unreadable one: nothing it names can be found; remove the
            // directory.
            dir.remove()?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    match status_of(&dir, &st) {
        Status::Stopped => {}
        s if force => {
            if s == Status::Paused {
                let _ = own_cgroup(&st, "thaw").map(|c| c.freeze(false));
            }
            let _ = signal_init(&st, libc::SIGKILL);
            crate::fault::point("init killed");
            if !wait_dead(&st, Duration::from_secs(10)) {
                return Err(failure("container did not die after SIGKILL"));
            }
        }
        s => {
            return Err(failure(format!(
                "cannot delete container {id} that is not stopped: {s}"
            )));
        }
    }
    destroy(&dir, &st)
}

#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub create: CreateOpts,
    pub detach: bool,
    pub keep: bool,
}

/// `run`: create + start; in the foreground, supervise and delete, and
/// return the container's exit code.
pub fn run(g: &Global, id: &str, o: &RunOpts) -> Result<i32> {
    let sigfd = if o.detach {
        None
    } else {
        sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")?;
        Some(tty::block_signals()?)
    };
    let mut c = create_inner(g, id, &o.create, !o.detach)?;
    // Set-up is over (on disk, `creating` lasts while this process lives,
    // until the foreground case below records otherwise).
    c.state.creator_pid = 0;
    c.state.creator_start = 0;
    let started = notify_listener(&c.dir).and_then(|l| start_inner(&c.dir, &c.state).map(|()| l));
    let notify = match started {
        Ok(l) => l,
        Err(e) => {
            let _ = signal_init(&c.state, libc::SIGKILL);
            wait_dead(&c.state, Duration::from_secs(5));
            let _ = destroy(&c.dir, &c.state);
            return Err(e);
        }
    };
    let Some(sigfd) = sigfd else {
        let Created { dir, state, .. } = c;
        drop(dir);
        forward_ready(notify.as_ref(), state.pid, &state)?;
        return Ok(0);
    };
    // In the foreground myrt is the main process: it stays, and exits with
    // the container's status.
    if let Some(l) = notify {
        let st = c.state.clone();
        std::thread::spawn(move || forward_ready(Some(&l), std::process::id() as i32, &st));
    }
    let pid = c.state.pid;
    // Set-up is over: the status comes from the init from now on.
    c.dir.save(&c.state)?;
    crate::fault::point("run: created");
    let Created { dir, state, master } = c;
    // Release the lock while the container runs, so other commands work.
    drop(dir);
    let code = tty::supervise(pid, &sigfd, master);
    crate::fault::point("run: exited");
    if !o.keep {
        let dir = ContainerDir::open(&g.root, id, true)?;
        destroy(&dir, &state)?;
    }
    Ok(code)
}

#[derive(Debug, Clone, Default)]
pub struct ExecOpts {
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_new_privs: bool,
    pub caps: Vec<String>,
    pub apparmor: Option<String>,
    /// `--process-label`: `process.selinuxLabel` of the process.
    pub process_label: Option<String>,
    /// `--cgroup SUB`: join this sub-cgroup of the container's (`/`: its
    /// own, with no fall-back to the init's).
    pub cgroup: Option<String>,
}

/// `exec --cgroup SUB`: the cgroup `SUB` below the container's, which must
/// exist; `/` is the container's own. runc's `controller:path` form (cgroup
/// v1, one controller at a time) is refused.
fn sub_cgroup(st: &State, sub: &str) -> Result<Box<dyn Cgroup>> {
    let bad = |why: &str| failure(format!("--cgroup {sub:?}: {why}"));
    if sub.contains(':') {
        return Err(bad(
            "the controller:path form is not supported; give a path below the container's cgroup",
        ));
    }
    let rel = Path::new(sub.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(bad(
            "must be a path below the container's cgroup (no \"..\")",
        ));
    }
    if rel.as_os_str().is_empty() {
        return Ok(cgroup_handle(st));
    }
    let path = format!("{}/{}", st.cgroup_path.trim_end_matches('/'), rel.display());
    let cg = cgroups::open(&path);
    if !cg.exists() {
        return Err(bad(&format!("no cgroup {path}")));
    }
    Ok(cg)
}

fn exec_process(spec: &Spec, o: &ExecOpts) -> Result<Process> {
    if let Some(p) = &o.process {
        return Ok(spec::load_process(p)?);
    }
    let mut p = spec.process().clone().unwrap_or_default();
    if o.args.is_empty() {
        return Err(failure("exec: no command given (args or --process)"));
    }
    p.set_args(Some(o.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for (i, e) in o.env.iter().enumerate() {
        if !e.contains('=') {
            return Err(failure(format!("--env[{i}]: {e:?} is not KEY=VALUE")));
        }
    }
    spec::merge_env(&mut env, &o.env);
    p.set_env(Some(env));
    if let Some(c) = &o.cwd {
        p.set_cwd(c.clone());
    }
    p.set_terminal(Some(o.tty));
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .map_err(|_| failure(format!("--user {u:?}: not UID[:GID]")))?;
        let gid: u32 = match gid {
            Some(g) => g
                .parse()
                .map_err(|_| failure(format!("--user {u:?}: not UID[:GID]")))?,
            None => 0,
        };
        let user = p.user_mut();
        user.set_uid(uid);
        user.set_gid(gid);
    }
    if !o.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(o.additional_gids.clone()));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &o.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &o.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !o.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        let extra: Vec<oci_spec::runtime::Capability> = o
            .caps
            .iter()
            .map(|s| {
                serde_json::from_value(serde_json::Value::String(s.clone()))
                    .map_err(|_| failure(format!("--cap {s:?}: unknown capability")))
            })
            .collect::<Result<_>>()?;
        for set in [
            c.bounding().clone(),
            c.effective().clone(),
            c.permitted().clone(),
        ]
        .iter()
        .enumerate()
        {
            let mut s = set.1.clone().unwrap_or_default();
            s.extend(extra.iter().cloned());
            match set.0 {
                0 => c.set_bounding(Some(s)),
                1 => c.set_effective(Some(s)),
                _ => c.set_permitted(Some(s)),
            };
        }
        p.set_capabilities(Some(c));
    }
    spec::validate_process(&p, "process")?;
    Ok(p)
}

/// `exec`: run a process in a running container; returns its exit code
/// (0 when detached).
pub fn exec(g: &Global, id: &str, o: &ExecOpts) -> Result<i32> {
    check_id(id)?;
    check_preserve_fds(o.preserve_fds)?;
    let dir = ContainerDir::open(&g.root, id, false)?;
    let st = dir.load()?;
    // The init's pidfd first, then the liveness check (pid + start time):
    // the pidfd is then known to be the container's init, and the
    // namespaces are joined through it.
    let container = sys::pidfd_open(st.pid).ok();
    let status = status_of(&dir, &st);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(failure(format!("cannot exec in a {status} container")));
    }
    crate::fault::point("exec checked");
    let container = container.ok_or_else(|| failure("container not running"))?;
    let mut spec = load_config(&dir)?;
    let p = exec_process(&spec, o)?;
    // Taken out of the spec (not used after this), not copied.
    let linux = spec.linux_mut().take().unwrap_or_default();
    let config = process::ExecConfig::prepare(&linux, &p, o.console_socket.as_deref(), o.detach)?;
    let cgroup = match (&o.cgroup, st.no_cgroup) {
        (_, true) => None,
        (None, false) => Some(cgroup_handle(&st)),
        (Some(sub), false) => Some(sub_cgroup(&st, sub)?),
    };
    let sigfd = if o.detach {
        None
    } else {
        Some(tty::block_signals()?)
    };
    let (pid, master) = process::spawn_exec(ExecArgs {
        container_pid: st.pid,
        container,
        process: &p,
        namespaces: linux
            .namespaces()
            .iter()
            .flatten()
            .map(|n| n.typ())
            .collect(),
        cgroup: cgroup.as_deref(),
        init_cgroup_fallback: o.cgroup.is_none(),
        config,
        preserve_fds: o.preserve_fds,
        lock_fd: dir.lock_fd(),
        state_json: state_json(&st, status),
    })
    .map_err(|e| match &o.cgroup {
        // The join's error names the container's cgroup; say which flag.
        Some(sub) if matches!(e, process::Error::Cgroup(_)) => {
            failure(format!("--cgroup {sub:?}: {e}"))
        }
        _ => e.into(),
    })?;
    crate::fault::point("exec spawned");
    if let Some(pf) = &o.pid_file {
        write_pid_file(pf, pid)?;
    }
    drop(dir);
    match sigfd {
        None => Ok(0),
        Some(sigfd) => Ok(tty::supervise(pid, &sigfd, master)),
    }
}

/// One row of `list`.
fn list_entries(g: &Global) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for id in state::list(&g.root) {
        let Ok(dir) = ContainerDir::peek(&g.root, &id) else {
            continue;
        };
        let Ok(st) = dir.load() else { continue };
        let status = status_of(&dir, &st);
        out.push(serde_json::to_value(st.oci(status)).expect("state serializes"));
    }
    out
}

pub fn list(g: &Global, format: &str, quiet: bool) -> Result<String> {
    let entries = list_entries(g);
    if quiet {
        return Ok(entries
            .iter()
            .map(|e| format!("{}\n", e["id"].as_str().unwrap_or("")))
            .collect());
    }
    match format {
        "json" => Ok(serde_json::to_string(&entries).expect("json") + "\n"),
        "table" => {
            let mut rows = vec![
                ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                    .map(String::from)
                    .to_vec(),
            ];
            for e in &entries {
                rows.push(vec![
                    e["id"].as_str().unwrap_or("").into(),
                    e["pid"].to_string(),
                    e["status"].as_str().unwrap_or("").into(),
                    e["bundle"].as_str().unwrap_or("").into(),
                    e["created"].as_str().unwrap_or("").into(),
                    e["owner"].as_str().unwrap_or("").into(),
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
                .collect();
            let mut s = String::new();
            for r in rows {
                for (c, cell) in r.iter().enumerate() {
                    if c == 5 {
                        s.push_str(cell);
                    } else {
                        s.push_str(&format!("{:w$}   ", cell, w = widths[c]));
                    }
                }
                s.push('\n');
            }
            Ok(s)
        }
        f => Err(failure(format!("--format {f:?}: must be table or json"))),
    }
}

/// `ps`: the container's processes (pids as JSON, or `ps` output).
pub fn ps(g: &Global, id: &str, format: &str, ps_args: &[String]) -> Result<String> {
    check_id(id)?;
    let dir = ContainerDir::peek(&g.root, id)?;
    let st = dir.load()?;
    let pids = if st.no_cgroup {
        pid_ns_members(&st)?
    } else {
        cgroup_handle(&st).pids()?
    };
    match format {
        "json" => Ok(serde_json::to_string(&pids).expect("json") + "\n"),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| failure(format!("run ps: {e}")))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| failure("ps output has no PID column"))?;
            let mut s = format!("{header}\n");
            for l in lines {
                if let Some(p) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    && pids.contains(&p)
                {
                    s.push_str(l);
                    s.push('\n');
                }
            }
            Ok(s)
        }
        f => Err(failure(format!("--format {f:?}: must be table or json"))),
    }
}

pub fn pause(g: &Global, id: &str) -> Result<()> {
    check_id(id)?;
    let dir = ContainerDir::open(&g.root, id, true)?;
    let st = dir.load()?;
    match status_of(&dir, &st) {
        Status::Running | Status::Created => Ok(own_cgroup(&st, "pause")?.freeze(true)?),
        s => Err(failure(format!("container not running: {s}"))),
    }
}

pub fn resume(g: &Global, id: &str) -> Result<()> {
    check_id(id)?;
    let dir = ContainerDir::open(&g.root, id, true)?;
    let st = dir.load()?;
    match status_of(&dir, &st) {
        Status::Paused => Ok(own_cgroup(&st, "resume")?.freeze(false)?),
        s => Err(failure(format!("container not paused: {s}"))),
    }
}

/// `update`: new resource limits: `resources` (by default the current
/// ones) with `edit` applied (the command line's single values).
pub fn update(
    g: &Global,
    id: &str,
    resources: Option<LinuxResources>,
    edit: impl FnOnce(&mut LinuxResources),
) -> Result<()> {
    check_id(id)?;
    let dir = ContainerDir::open(&g.root, id, true)?;
    let st = dir.load()?;
    if status_of(&dir, &st) == Status::Stopped {
        return Err(failure("container not running"));
    }
    let mut spec = load_config(&dir)?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut merged = resources
        .or_else(|| linux.resources().clone())
        .unwrap_or_default();
    edit(&mut merged);
    own_cgroup(&st, "update")?.set(&merged, linux.devices().as_deref().unwrap_or_default())?;
    linux.set_resources(Some(merged));
    spec.set_linux(Some(linux));
    sys::write_atomic(
        &dir.config(),
        &serde_json::to_vec(&spec).expect("spec"),
        0o600,
    )?;
    Ok(())
}

/// `events --stats`: one stats object in runc's event shape.
pub fn stats(g: &Global, id: &str) -> Result<String> {
    check_id(id)?;
    let dir = ContainerDir::peek(&g.root, id)?;
    let st = dir.load()?;
    if status_of(&dir, &st) == Status::Stopped {
        return Err(failure("container not running"));
    }
    let data = own_cgroup(&st, "events")?.stats()?;
    Ok(serde_json::json!({"type": "stats", "id": id, "data": data}).to_string())
}

/// `spec`: write a default config.json (runc's defaults) into `bundle`.
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(failure(format!(
            "{} exists; remove it first",
            path.display()
        )));
    }
    let mut s = if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    s.set_version("1.0.2-dev".into());
    s.set_hostname(Some("myrt".into()));
    if let Some(l) = s.linux_mut() {
        // Deny every device but the defaults, as runc's default spec does.
        let deny_all: oci_spec::runtime::LinuxDeviceCgroup =
            serde_json::from_value(serde_json::json!({"allow": false, "access": "rwm"}))
                .expect("device rule");
        let mut r = l.resources().clone().unwrap_or_default();
        r.set_devices(Some(vec![deny_all]));
        l.set_resources(Some(r));
    }
    if let Some(p) = s.process_mut() {
        p.set_terminal(Some(true));
        // No inheritable capabilities by default (CVE-2022-29162 class).
        if let Some(mut c) = p.capabilities().clone() {
            c.set_inheritable(None);
            p.set_capabilities(Some(c));
        }
    }
    let data = serde_json::to_vec_pretty(&s).expect("spec serializes");
    std::fs::write(&path, data).map_err(|e| failure(format!("write {}: {e}", path.display())))?;
    Ok(())
}

/// `features`: what this build of myrt supports (runtime-spec features.md).
pub fn features() -> String {
    let mount_options = [
        "async",
        "atime",
        "bind",
        "defaults",
        "dev",
        "diratime",
        "dirsync",
        "exec",
        "lazytime",
        "mand",
        "noatime",
        "nodev",
        "nodiratime",
        "noexec",
        "nolazytime",
        "nomand",
        "norelatime",
        "nostrictatime",
        "nosuid",
        "nosymfollow",
        "private",
        "ratime",
        "rbind",
        "rdev",
        "rdiratime",
        "relatime",
        "remount",
        "rexec",
        "rnoatime",
        "rnodev",
        "rnodiratime",
        "rnoexec",
        "rnorelatime",
        "rnosuid",
        "ro",
        "rprivate",
        "rrelatime",
        "rro",
        "rrw",
        "rshared",
        "rslave",
        "rstrictatime",
        "rsuid",
        "runbindable",
        "rw",
        "shared",
        "slave",
        "strictatime",
        "suid",
        "symfollow",
        "sync",
        "tmpcopyup",
        "unbindable",
    ];
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    // The systemd driver, for root and rootless (systemd --user) alike.
    let systemd = cgroups::bus::available();
    serde_json::to_string_pretty(&serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options.to_vec(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": systemd, "systemdUser": systemd, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false}
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            OVERLAY_ANNOTATION: "\"true\" or an absolute directory: overlay root with a per-container write layer"
        }
    }))
    .expect("json")
}

#[cfg(test)]
mod tests {
    use super::{ExecOpts, exec_process, parse_signal};

    /// The exec flags land in the process that `spec::validate_process`
    /// checks (so `--process-label` is refused on an SELinux host as
    /// `process.selinuxLabel` is, never dropped).
    #[test]
    fn exec_flags_make_the_process() {
        let spec = crate::spec::from_json(br#"{"ociVersion": "1.0.2", "process": {"cwd": "/", "args": ["sh"], "env": ["A=1", "B=2"], "user": {"uid": 0, "gid": 0}}}"#).unwrap();
        let o = ExecOpts {
            args: vec!["env".into()],
            env: vec!["B=3".into()],
            user: Some("7:8".into()),
            process_label: Some("system_u:system_r:container_t:s0".into()),
            apparmor: Some("prof".into()),
            ..Default::default()
        };
        let p = exec_process(&spec, &o).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["env".to_string()][..]));
        assert_eq!(
            p.env().as_deref(),
            Some(&["A=1".to_string(), "B=3".to_string()][..])
        );
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        assert_eq!(
            p.selinux_label().as_deref(),
            Some("system_u:system_r:container_t:s0")
        );
        assert_eq!(p.apparmor_profile().as_deref(), Some("prof"));
    }

    #[test]
    fn signal_names_numbers_and_aliases() {
        assert_eq!(parse_signal("HUP").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("SIGKILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("IOT").unwrap(), libc::SIGABRT);
        assert_eq!(parse_signal("SIGCLD").unwrap(), libc::SIGCHLD);
        assert_eq!(parse_signal("poll").unwrap(), libc::SIGIO);
        assert_eq!(parse_signal("PWR").unwrap(), libc::SIGPWR);
        assert_eq!(parse_signal("STKFLT").unwrap(), libc::SIGSTKFLT);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("64").unwrap(), 64);
        assert_eq!(parse_signal("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse_signal("RTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
        assert_eq!(parse_signal("SIGRTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        assert_eq!(parse_signal("RTMAX").unwrap(), libc::SIGRTMAX());
        for bad in ["0", "65", "FOO", "SIG", "RTMIN+100", "RTMAX-100", ""] {
            assert!(parse_signal(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
