//! Creating the container's processes: one fork-like `clone3` into the new
//! namespaces (and, on cgroup v2, straight into the cgroup), the parent↔child
//! sync channel (a SOCK_SEQPACKET pair with small tagged messages and a
//! timeout on every wait), the init sequence up to the exec FIFO and execve,
//! and `exec`'s join path.

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroups::Cgroup;
use crate::hooks;
use crate::namespaces::{self, Join};
use crate::rootfs;
use crate::security::{self, Caps, seccomp};
use crate::spec::OVERLAY_ANNOTATION;
use crate::sys;
use crate::syscall::{LINUX, Syscall};
use crate::tty;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error reported by the container process during set-up.
    #[error("{0}")]
    Child(String),
    #[error("{stage}: timed out after {secs}s waiting for the container process")]
    Timeout { stage: &'static str, secs: u64 },
    #[error("{stage}: the container process exited without reporting")]
    Died { stage: &'static str },
    #[error(transparent)]
    Sys(#[from] sys::Error),
    #[error(transparent)]
    Namespace(#[from] namespaces::Error),
    #[error(transparent)]
    Security(#[from] security::Error),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::Error),
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error(transparent)]
    Tty(#[from] tty::Error),
    #[error(transparent)]
    Seccomp(#[from] seccomp::Error),
    /// A config field `process` cannot honour, found before anything is made.
    #[error("{field}: {reason}")]
    Config { field: String, reason: String },
}

pub type Result<T> = std::result::Result<T, Error>;

// Sync channel message tags.
const GO: u8 = 1;
const HOOKS: u8 = 2;
const HOOKS_DONE: u8 = 3;
const READY: u8 = 4;
const ERROR: u8 = 5;
const PTY: u8 = 6;
const PID: u8 = 7;
/// The seccomp notify fd follows (SCM_RIGHTS).
const NOTIFY: u8 = 8;
/// clone3 flag: the new process is a child of our parent.
const CLONE_PARENT: u64 = libc::CLONE_PARENT as u64;

/// The largest datagram on the channel (payload bytes); larger payloads
/// are split (see `Channel::send`).
const CHUNK: usize = 32 * 1024;

/// One end of the parent↔child channel.
pub struct Channel(OwnedFd);

impl Channel {
    pub fn pair() -> sys::Result<(Channel, Channel)> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| sys::errno("socketpair", e as i32))?;
        Ok((Channel(a), Channel(b)))
    }

    /// Send one framed message: the first datagram carries the tag, the
    /// payload's total length (u32, little endian) and up to `CHUNK` bytes
    /// of it; the rest follows in datagrams of at most `CHUNK` bytes. No
    /// payload is too large for the socket's buffer (annotations reach
    /// hooks through here, and Kubernetes allows 256 KiB of them).
    fn send(&self, tag: u8, payload: &[u8]) -> sys::Result<()> {
        self.send_framed(tag, payload, false)
    }

    /// The child's send: plain write(2)s, which every seccomp profile
    /// allows (messages may follow the filter; send/sendto need not be
    /// allowed). A parent that is gone means a SIGPIPE, which is fine here.
    fn send_child(&self, tag: u8, payload: &[u8]) -> sys::Result<()> {
        self.send_framed(tag, payload, true)
    }

    fn send_framed(&self, tag: u8, payload: &[u8], child: bool) -> sys::Result<()> {
        let len =
            u32::try_from(payload.len()).map_err(|_| sys::errno("sync send", libc::EMSGSIZE))?;
        let first = payload.len().min(CHUNK);
        let mut msg = Vec::with_capacity(first + 5);
        msg.push(tag);
        msg.extend_from_slice(&len.to_le_bytes());
        msg.extend_from_slice(&payload[..first]);
        self.send_datagram(&msg, child)?;
        for chunk in payload[first..].chunks(CHUNK) {
            self.send_datagram(chunk, child)?;
        }
        Ok(())
    }

    fn send_datagram(&self, msg: &[u8], child: bool) -> sys::Result<()> {
        loop {
            let (fd, buf, len) = (
                self.0.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
            );
            let r = if child {
                // SAFETY: buf points to msg, which is len bytes and outlives
                // the call.
                unsafe { libc::write(fd, buf, len) }
            } else {
                // SAFETY: as above.
                unsafe { libc::send(fd, buf, len, libc::MSG_NOSIGNAL) }
            };
            if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if r < 0 {
                return Err(sys::last("sync send"));
            }
            return Ok(());
        }
    }

    /// Receive one framed message (see `send`); `None` on EOF (the peer is
    /// gone).
    fn recv(
        &self,
        timeout: Option<Duration>,
        stage: &'static str,
    ) -> Result<Option<(u8, Vec<u8>)>> {
        let mut buf = vec![0u8; CHUNK + 5];
        let n = self.recv_datagram(&mut buf, timeout, stage)?;
        if n == 0 {
            return Ok(None);
        }
        if n < 5 {
            return Err(Error::Child(format!("{stage}: short sync message")));
        }
        let tag = buf[0];
        let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if n - 5 > len {
            return Err(Error::Child(format!("{stage}: malformed sync message")));
        }
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(&buf[5..n]);
        while payload.len() < len {
            let n = self.recv_datagram(&mut buf[..CHUNK], timeout, stage)?;
            if n == 0 {
                return Err(Error::Died { stage });
            }
            if payload.len() + n > len {
                return Err(Error::Child(format!("{stage}: malformed sync message")));
            }
            payload.extend_from_slice(&buf[..n]);
        }
        Ok(Some((tag, payload)))
    }

    /// One datagram into `buf` (0 on EOF), waiting at most `timeout`.
    fn recv_datagram(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
        stage: &'static str,
    ) -> Result<usize> {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout
            .map(|t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX))
            .unwrap_or(-1);
        loop {
            // SAFETY: one pollfd, a live local.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if r < 0 {
                return Err(sys::last("sync poll").into());
            }
            if r == 0 {
                return Err(Error::Timeout {
                    stage,
                    secs: timeout.map(|t| t.as_secs()).unwrap_or(0),
                });
            }
            break;
        }
        loop {
            // SAFETY: buf is a live, writable buffer of buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if n < 0 {
                return Err(sys::last("sync recv").into());
            }
            return Ok(n as usize);
        }
    }

    /// Wait for `want`; an ERROR message or EOF becomes an error.
    fn expect(&self, want: u8, timeout: Option<Duration>, stage: &'static str) -> Result<Vec<u8>> {
        self.expect_fds(Some(want), timeout, stage, &mut ReceivedFds::default())
    }

    /// Like `expect`; a pty master or a seccomp notify fd sent on the way
    /// is stored in `fds`. With `want` None, wait for EOF (the child's
    /// execve closed its close-on-exec end).
    fn expect_fds(
        &self,
        want: Option<u8>,
        timeout: Option<Duration>,
        stage: &'static str,
        fds: &mut ReceivedFds,
    ) -> Result<Vec<u8>> {
        loop {
            match self.recv(timeout, stage)? {
                Some((t, p)) if Some(t) == want => return Ok(p),
                None if want.is_none() => return Ok(Vec::new()),
                Some((PTY, _)) => {
                    if let Some(fd) = tty::recv_fd(self.0.as_raw_fd())? {
                        fds.pty_master = Some(fd);
                    }
                }
                Some((NOTIFY, _)) => {
                    if let Some(fd) = tty::recv_fd(self.0.as_raw_fd())? {
                        fds.notify(fd)?;
                    }
                }
                Some((ERROR, p)) => {
                    return Err(Error::Child(String::from_utf8_lossy(&p).into_owned()));
                }
                Some((t, _)) => {
                    return Err(Error::Child(format!(
                        "{stage}: unexpected sync message {t}"
                    )));
                }
                None => return Err(Error::Died { stage }),
            }
        }
    }
}

/// Fds the child hands to the parent during set-up.
#[derive(Default)]
struct ReceivedFds {
    /// The pty master (foreground relay).
    pty_master: Option<OwnedFd>,
    /// Where the seccomp notify fd goes.
    listener: Option<Listener>,
}

/// The seccomp agent at `linux.seccomp.listenerPath`, and what it is told.
struct Listener {
    path: PathBuf,
    metadata: Option<String>,
    /// The container process that loaded the filter.
    pid: i32,
    /// The container's state JSON.
    state: Vec<u8>,
}

impl ReceivedFds {
    /// Hand the notify fd to the agent at once: the container process may
    /// already be waiting in a notified syscall.
    fn notify(&mut self, fd: OwnedFd) -> Result<()> {
        let Some(l) = &self.listener else {
            return Err(Error::Child(
                "linux.seccomp: a notify fd came without a listenerPath".into(),
            ));
        };
        seccomp::send_to_listener(
            &l.path,
            l.metadata.as_deref(),
            l.pid,
            &l.state,
            std::os::fd::AsFd::as_fd(&fd),
        )
        .map_err(|e| {
            Error::Child(format!(
                "linux.seccomp.listenerPath: {}: {e}",
                l.path.display()
            ))
        })
    }
}

fn listener_of(prog: Option<&seccomp::Program>, pid: i32, state: Vec<u8>) -> Option<Listener> {
    let (path, metadata) = prog?.listener()?;
    Some(Listener {
        path: path.to_path_buf(),
        metadata: metadata.map(str::to_string),
        pid,
        state,
    })
}

/// How long the parent waits for each stage of the child's set-up.
const STAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the init needs from the config besides the spec itself, made by
/// `create` before anything else, so that an error here leaves nothing
/// behind: the seccomp filter (compiled once, in the parent), the terminal
/// (checked, its console socket connected) and the overlay root (decided;
/// its directories are made later, by [`InitConfig::make_overlay_dirs`]).
pub struct InitConfig {
    common: ProcessConfig,
    overlay: Option<OverlayRoot>,
}

impl InitConfig {
    /// `state_dir` is the container's state directory (which need not
    /// exist yet); `foreground`: a `run` that relays the terminal.
    pub fn prepare(
        spec: &Spec,
        rootfs: &Path,
        state_dir: &Path,
        console_socket: Option<&Path>,
        foreground: bool,
    ) -> Result<InitConfig> {
        let linux = spec.linux().as_ref().expect("validated: linux present");
        let seccomp = compile_seccomp(linux)?;
        let terminal = tty::Terminal::for_init(process_of(spec), console_socket, foreground)?;
        let overlay = OverlayRoot::of(spec, rootfs, state_dir)?;
        Ok(InitConfig {
            common: ProcessConfig::new(linux, seccomp, terminal),
            overlay,
        })
    }

    /// The overlay's write layer directory, and whether `delete` keeps it
    /// (None without an overlay root): for the state record.
    pub fn overlay_dir(&self) -> Option<(&Path, bool)> {
        self.overlay.as_ref().map(|o| (o.dir.as_path(), o.keep))
    }

    /// Make the overlay root's directories, if it has one.
    pub fn make_overlay_dirs(&self) -> Result<()> {
        let Some(o) = &self.overlay else {
            return Ok(());
        };
        for d in [&o.layers.upper, &o.layers.work, &o.layers.merged] {
            std::fs::create_dir_all(d).map_err(|e| Error::Config {
                field: format!("annotations.{OVERLAY_ANNOTATION}"),
                reason: format!("mkdir {}: {e}", d.display()),
            })?;
        }
        Ok(())
    }
}

/// An overlay root (see [`OVERLAY_ANNOTATION`]): the bundle's rootfs is its
/// read-only lower layer.
struct OverlayRoot {
    layers: rootfs::Overlay,
    /// The directory of the write layer (upper and work).
    dir: PathBuf,
    /// A directory the config named, kept on delete; otherwise one in the
    /// state dir, removed with it.
    keep: bool,
}

impl OverlayRoot {
    /// The overlay root the annotation asks for (nothing is made here).
    fn of(spec: &Spec, rootfs: &Path, state_dir: &Path) -> Result<Option<OverlayRoot>> {
        let v = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(OVERLAY_ANNOTATION))
            .map(|s| s.trim().to_string());
        let (dir, keep) = match v.as_deref() {
            None | Some("") | Some("false") => return Ok(None),
            Some("true") => (state_dir.join("overlay"), false),
            Some(p) if Path::new(p).is_absolute() => (PathBuf::from(p), true),
            Some(p) => {
                return Err(Error::Config {
                    field: format!("annotations.{OVERLAY_ANNOTATION}"),
                    reason: format!("{p:?} is neither \"true\" nor an absolute directory"),
                });
            }
        };
        Ok(Some(OverlayRoot {
            layers: rootfs::Overlay {
                lower: rootfs.to_path_buf(),
                upper: dir.join("upper"),
                work: dir.join("work"),
                merged: state_dir.join("rootfs"),
            },
            dir,
            keep,
        }))
    }
}

/// What an exec'd process needs from the config besides the process, made
/// before it is started (see [`ProcessConfig`]).
pub struct ExecConfig(ProcessConfig);

impl ExecConfig {
    /// `detach`: `exec -d` (no foreground relay).
    pub fn prepare(
        linux: &oci_spec::runtime::Linux,
        p: &Process,
        console_socket: Option<&Path>,
        detach: bool,
    ) -> Result<ExecConfig> {
        let seccomp = compile_seccomp(linux)?;
        let terminal = tty::Terminal::for_exec(p, console_socket, detach)?;
        Ok(ExecConfig(ProcessConfig::new(linux, seccomp, terminal)))
    }
}

/// `linux.seccomp`, compiled once, in the parent.
fn compile_seccomp(linux: &oci_spec::runtime::Linux) -> Result<Option<seccomp::Program>> {
    Ok(linux.seccomp().as_ref().map(seccomp::compile).transpose()?)
}

/// What every container process (the init, an exec'd one) takes from the
/// config besides `process`: the seccomp filter, the terminal (checked,
/// its console socket connected) and the `linux` fields that apply to
/// every process.
struct ProcessConfig {
    seccomp: Option<seccomp::Program>,
    terminal: tty::Terminal,
    personality: Option<oci_spec::runtime::LinuxPersonality>,
    memory_policy: Option<oci_spec::runtime::LinuxMemoryPolicy>,
}

impl ProcessConfig {
    fn new(
        linux: &oci_spec::runtime::Linux,
        seccomp: Option<seccomp::Program>,
        terminal: tty::Terminal,
    ) -> Self {
        ProcessConfig {
            seccomp,
            terminal,
            personality: linux.personality().clone(),
            memory_policy: linux.memory_policy().clone(),
        }
    }

    /// What `become_process` applies to `process`.
    fn setup<'a>(
        &'a self,
        process: &'a Process,
        caps: &'a Caps,
        preserve_fds: u32,
    ) -> ProcessSetup<'a> {
        ProcessSetup {
            process,
            personality: self.personality.as_ref(),
            memory_policy: self.memory_policy.as_ref(),
            caps,
            seccomp: self.seccomp.as_ref(),
            preserve_fds,
            sys: LINUX,
        }
    }
}

/// Everything the container's init needs; prepared by the parent before
/// the clone so that the child mostly makes syscalls.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: PathBuf,
    pub config: &'a InitConfig,
    pub fifo: PathBuf,
    /// `None`: no cgroup of its own (rootless without cgroup access).
    pub cgroup: Option<&'a dyn Cgroup>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// The state dir's lock fd, closed first thing in the child.
    pub lock_fd: Option<RawFd>,
}

/// What the parent opens and makes for the init before the clone.
struct InitFds {
    /// The exec FIFO (O_PATH), reopened for writing once `create` is done.
    exec_fifo: OwnedFd,
    /// The host's procfs: every /proc access of the set-up goes through it.
    host_proc: sys::ProcFs,
    /// Idmapped mounts, made here in the host's user namespace, by index
    /// in `mounts`.
    idmapped_mounts: Vec<Option<OwnedFd>>,
}

impl InitFds {
    /// Opened here so the child needs no access to the state dir (a user
    /// namespace's root may not be able to reach it); the procfs handle
    /// outlives pivot_root to reopen the FIFO.
    fn open(a: &InitArgs) -> Result<InitFds> {
        let exec_fifo = sys::open(&a.fifo, libc::O_PATH, 0)?;
        let host_proc = sys::ProcFs::open_host()?;
        let idmapped_mounts =
            rootfs::idmapped_mounts(a.spec, a.bundle).map_err(|e| Error::Child(e.to_string()))?;
        Ok(InitFds {
            exec_fifo,
            host_proc,
            idmapped_mounts,
        })
    }
}

/// How the init's namespaces come about: made by the clone, entered by
/// the parent for the clone (pid and time namespaces only apply to
/// children), or made and joined by the child itself.
struct NamespaceSetup {
    /// The namespaces the clone creates.
    clone_flags: i32,
    /// Namespaces given by path, in join order.
    joins: Vec<Join>,
    /// A new time namespace, prepared by the parent (offsets can only be
    /// set before a process enters it).
    new_time: bool,
    /// A new cgroup namespace: unshared by the child after it was put into
    /// its cgroup, so that the namespace's root is the container's cgroup.
    cgroupns: bool,
    /// Namespaces the child unshares after joining a user namespace by
    /// path, so that they are owned by it.
    unshare_later: i32,
}

impl NamespaceSetup {
    fn plan(linux: &oci_spec::runtime::Linux) -> Result<NamespaceSetup> {
        let (mut flags, joins) = namespaces::plan(linux)?;
        let cgroupns = flags & libc::CLONE_NEWCGROUP != 0;
        flags &= !libc::CLONE_NEWCGROUP;
        let new_time = flags & libc::CLONE_NEWTIME != 0;
        flags &= !libc::CLONE_NEWTIME;
        let joins_userns = joins.iter().any(|j| j.typ == LinuxNamespaceType::User);
        // With a user namespace joined by path, the other new namespaces
        // are created after joining it (only the pid namespace has to come
        // from the clone), so that they are owned by that user namespace.
        let mut unshare_later = 0;
        if joins_userns {
            unshare_later = flags;
            flags = 0;
        }
        Ok(NamespaceSetup {
            clone_flags: flags,
            joins,
            new_time,
            cgroupns,
            unshare_later,
        })
    }

    /// A new pid namespace must be owned by a user namespace joined by path
    /// too (or /proc cannot be mounted): it is unshared after joining as
    /// well, and the container's init is then a fork of the clone (the one
    /// case with an intermediate process, which reports the init's pid and
    /// exits).
    fn intermediate(&self) -> bool {
        self.unshare_later & libc::CLONE_NEWPID != 0
    }

    fn new_userns(&self) -> bool {
        self.clone_flags & libc::CLONE_NEWUSER != 0
    }

    /// The init is root in a user namespace (new, or joined by path).
    fn userns(&self) -> bool {
        self.new_userns() || self.joins.iter().any(|j| j.typ == LinuxNamespaceType::User)
    }

    /// Enter, in the parent, the namespaces that only apply to children:
    /// a new time namespace and pid or time namespaces given by path.
    /// Returns the parent's own ones, for [`restore_namespaces`].
    fn enter_for_clone(&self, linux: &oci_spec::runtime::Linux) -> Result<Vec<(OwnedFd, i32)>> {
        let mut own = Vec::new();
        if self.new_time {
            own.push((namespaces::prepare_time(linux)?, libc::CLONE_NEWTIME));
        }
        for j in &self.joins {
            if j.typ == LinuxNamespaceType::Pid || j.typ == LinuxNamespaceType::Time {
                match enter_keeping_own(j.typ, || namespaces::enter(j)) {
                    Ok(entered) => own.push(entered),
                    Err(e) => {
                        restore_namespaces(own);
                        return Err(e);
                    }
                }
            }
        }
        Ok(own)
    }
}

/// Enter a namespace of type `typ` for the clone (`enter` does it) and
/// return our own one of that type, for [`restore_namespaces`].
fn enter_keeping_own(
    typ: LinuxNamespaceType,
    enter: impl FnOnce() -> namespaces::Result<()>,
) -> Result<(OwnedFd, i32)> {
    let own = sys::open(
        Path::new(&format!("/proc/self/ns/{}", namespaces::proc_name(typ))),
        libc::O_RDONLY,
        0,
    )?;
    enter()?;
    Ok((own, namespaces::flag(typ)))
}

/// Back to the parent's own namespaces (see `enter_for_clone`).
fn restore_namespaces(own: Vec<(OwnedFd, i32)>) {
    for (fd, t) in own.iter().rev() {
        let _ = sys::setns(fd.as_raw_fd(), *t, "restore namespace");
    }
}

/// The container's init as the parent sees it after `create`.
pub struct Init {
    pub pid: i32,
    pub master: Option<OwnedFd>,
}

/// The parent's callbacks during init set-up.
pub trait Parent {
    /// The init's pid is known: record it (with its start time, which
    /// `state` checks), then run the prestart + createRuntime hooks.
    fn run_create_hooks(&mut self, pid: i32) -> std::result::Result<(), String>;
    /// The state JSON (status `creating`) given to createContainer and
    /// startContainer hooks in the child.
    fn hook_state(&self, pid: i32) -> Vec<u8>;
}

fn process_of(spec: &Spec) -> &Process {
    spec.process().as_ref().expect("validated: process present")
}

/// Clone the container's init and drive it to `created`.
pub fn spawn_init(a: InitArgs, parent: &mut dyn Parent) -> Result<Init> {
    let linux = a.spec.linux().as_ref().expect("validated: linux present");
    let ns = NamespaceSetup::plan(linux)?;
    let caps = Caps::resolve(process_of(a.spec).capabilities().as_ref())?;
    let (ours, theirs) = Channel::pair()?;
    let cg_fd = a.cgroup.map(Cgroup::dir_fd).transpose()?.flatten();
    let fds = InitFds::open(&a)?;
    // A user who is not root writes the new user namespace's maps (or has
    // newuidmap write them) through the child's /proc files, which are the
    // caller's only while the child is dumpable: it is born dumpable and
    // turns that off once the maps are written (at GO), as runc's init does.
    let maps_unprivileged = ns.new_userns() && !crate::rootless::privileged();
    if maps_unprivileged {
        sys::prctl(libc::PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE")?;
    }
    let own_ns = ns.enter_for_clone(linux)?;
    let cloned = sys::clone3_pidfd(ns.clone_flags as u64, cg_fd.as_ref().map(|f| f.as_raw_fd()));
    if maps_unprivileged && !matches!(cloned, Ok((0, _))) {
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE");
    }
    // Back to our own namespaces for children (hooks run from here); only
    // in the parent: the child stays where it was born.
    if !matches!(cloned, Ok((0, _))) {
        restore_namespaces(own_ns);
    }
    let (pid, pidfd) = cloned.map_err(|e| clone_error(e, a.cgroup))?;
    if pid == 0 {
        drop(ours);
        run_child(&theirs, 1, || init_child(&a, &theirs, &ns, &caps, fds));
    }
    drop(theirs);
    let mut procs = Procs {
        clone: pid,
        clone_fd: pidfd,
        clone_reaped: false,
        init: None,
    };
    match drive_init(&a, &ours, &mut procs, parent, &ns, cg_fd.is_some()) {
        Ok((fds, pid)) => Ok(Init {
            pid,
            master: fds.pty_master,
        }),
        Err(e) => {
            procs.kill();
            Err(e)
        }
    }
}

/// A clone into the container's cgroup refused to a user who is not root
/// (EACCES) is about where the caller runs: the kernel moves a process
/// only between cgroups below one whose cgroup.procs the user may write.
fn clone_error(e: sys::Error, cgroup: Option<&dyn Cgroup>) -> Error {
    match cgroup {
        Some(cg)
            if e.source.raw_os_error() == Some(libc::EACCES) && !crate::rootless::privileged() =>
        {
            Error::Child(format!(
                "linux.cgroupsPath: {}: {e}: a user who is not root may only move a process into a cgroup of a delegated subtree it runs in (run myrt from a cgroup inside that subtree)",
                cg.path()
            ))
        }
        _ => e.into(),
    }
}

/// The processes `create` made, for clean-up on failure.
struct Procs {
    /// The clone: the init, or the intermediate that forks it.
    clone: i32,
    clone_fd: Option<OwnedFd>,
    /// The intermediate was reaped (its pid may belong to anyone now).
    clone_reaped: bool,
    /// The init forked by the intermediate: pid and pidfd.
    init: Option<(i32, Option<OwnedFd>)>,
}

impl Procs {
    /// Kill them all. Never by a pid number that may have been reaped and
    /// reused: the intermediate (once reaped) and the init it forked (not
    /// our child) are signalled through pidfds.
    fn kill(&self) {
        if let Some((pid, fd)) = &self.init {
            sys::kill_child(*pid, fd.as_ref(), libc::SIGKILL);
        }
        if !self.clone_reaped {
            kill_and_reap(self.clone, self.clone_fd.as_ref());
        }
    }
}

/// Kill a child of ours (not reaped yet, so `pid` is still its) and reap it.
fn kill_and_reap(pid: i32, pidfd: Option<&OwnedFd>) {
    sys::kill_child(pid, pidfd, libc::SIGKILL);
    reap(pid);
}

/// Wait for a child of ours to exit; returns its wait status.
fn reap(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waitpid writes only the status through the pointer, which
    // points to a live local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

/// The parent's side of the init's set-up, stage by stage.
fn drive_init(
    a: &InitArgs,
    ch: &Channel,
    procs: &mut Procs,
    parent: &mut dyn Parent,
    ns: &NamespaceSetup,
    born_in_cgroup: bool,
) -> Result<(ReceivedFds, i32)> {
    let mut pid = procs.clone;
    if ns.new_userns() {
        let linux = a.spec.linux().as_ref().expect("validated: linux present");
        namespaces::write_id_maps(pid, linux)?;
    }
    release_child(ch, pid, a.cgroup, born_in_cgroup, process_of(a.spec))?;
    if ns.intermediate() {
        pid = receive_init_pid(ch, procs)?;
    }
    let mut fds = ReceivedFds::default();
    ch.expect_fds(
        Some(HOOKS),
        Some(STAGE_TIMEOUT),
        "mounting the root filesystem",
        &mut fds,
    )?;
    // linux.netDevices: the container's network namespace exists now.
    crate::netdevices::move_into(a.spec, pid).map_err(|e| Error::Child(e.to_string()))?;
    parent.run_create_hooks(pid).map_err(Error::Child)?;
    let state = parent.hook_state(pid);
    ch.send(HOOKS_DONE, &state)?;
    // createContainer hooks run in the child during the next stage.
    let t =
        STAGE_TIMEOUT + hooks::total_timeout(a.spec.hooks().as_ref(), hooks::Kind::CreateContainer);
    fds.listener = listener_of(a.config.common.seccomp.as_ref(), pid, state);
    ch.expect_fds(
        Some(READY),
        Some(t),
        "finishing the container set-up",
        &mut fds,
    )?;
    Ok((fds, pid))
}

/// The intermediate reports the init it forked: its pid, then its pidfd
/// if it has one. The intermediate is reaped; the init is not our child.
fn receive_init_pid(ch: &Channel, procs: &mut Procs) -> Result<i32> {
    let p = ch.expect(PID, Some(STAGE_TIMEOUT), "joining the user namespace")?;
    let init = i32::from_ne_bytes(
        p.get(..4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default(),
    );
    let fd = if p.get(4) == Some(&1) {
        tty::recv_fd(ch.0.as_raw_fd())?
    } else {
        None
    };
    procs.init = Some((init, fd));
    reap(procs.clone);
    procs.clone_reaped = true;
    Ok(init)
}

/// What the parent does for every child (the init and an exec'd process)
/// before letting it go on: put it into the container's cgroup, if it has
/// one and the child was not born there, and write `process.oomScoreAdj`
/// from outside, so that lowering it does not need the container to hold
/// CAP_SYS_RESOURCE.
fn release_child(
    ch: &Channel,
    pid: i32,
    cgroup: Option<&dyn Cgroup>,
    born_in_cgroup: bool,
    p: &Process,
) -> Result<()> {
    if let Some(cg) = cgroup.filter(|_| !born_in_cgroup) {
        cg.add_pid(pid)?;
    }
    if let Some(adj) = p.oom_score_adj() {
        sys::write_file(
            &format!("/proc/{pid}/oom_score_adj"),
            adj.to_string().as_bytes(),
        )
        .map_err(|e| Error::Child(format!("process.oomScoreAdj: {e}")))?;
    }
    ch.send(GO, &[])?;
    Ok(())
}

/// Make the child a clean slate for the container: default signal
/// dispositions (Rust ignores SIGPIPE), nothing blocked.
fn reset_signals() {
    for s in 1..libc::SIGRTMAX() {
        if s != libc::SIGKILL && s != libc::SIGSTOP {
            // SAFETY: SIG_DFL installs no handler; the child is single-threaded.
            unsafe { libc::signal(s, libc::SIG_DFL) };
        }
    }
    // SAFETY: the set is a local initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// An error of a child during set-up, worded for the parent, which reports
/// it as the error of `create` or `exec`. Any error converts into one, by
/// its text.
struct ChildError(String);

impl<E: std::fmt::Display> From<E> for ChildError {
    fn from(e: E) -> Self {
        ChildError(e.to_string())
    }
}

/// What a child step returns; the whole child returns only on error.
type ChildResult<T = std::convert::Infallible> = std::result::Result<T, ChildError>;

/// Run a cloned child's `body`, which returns only on error: the error goes
/// to the parent, and the child exits with `code`.
fn run_child(ch: &Channel, code: i32, body: impl FnOnce() -> ChildResult) -> ! {
    let Err(ChildError(text)) = body();
    let _ = ch.send_child(ERROR, text.as_bytes());
    // SAFETY: _exit ends this clone at once, running none of the runtime's
    // exit handlers and flushing none of its buffers (they are the parent's).
    unsafe { libc::_exit(code) }
}

/// The first steps of every child (the init and an exec'd process): let go
/// of the state dir's lock, start from default signal handling, die with
/// the parent until set-up is over, wait for the parent's go, then stay
/// non-dumpable until execve (no /proc/<pid>/exe of the runtime for the
/// container). Dumpable until the go, so that a parent who is not root can
/// write the child's /proc files (uid/gid maps, oom_score_adj); before it
/// the child is in none of the container's namespaces.
fn child_preamble(lock_fd: Option<RawFd>, ch: &Channel) -> ChildResult<()> {
    if let Some(fd) = lock_fd {
        // SAFETY: the lock fd is the parent's; this clone closes only its
        // own copy and never uses the number again.
        unsafe { libc::close(fd) };
    }
    reset_signals();
    let _ = sys::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as _,
        "PR_SET_PDEATHSIG",
    );
    ch.expect(GO, None, "waiting for the parent")?;
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE");
    Ok(())
}

/// A new session, so that a pty can become the controlling terminal, and
/// the usual umask.
fn start_session() -> ChildResult<()> {
    nix::unistd::setsid().map_err(|e| sys::errno("setsid", e as i32))?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    Ok(())
}

/// The container's init, from birth to execve, in the order of the
/// runtime-spec's lifecycle; each step names what it sets up. Returns only
/// on an error before `create` returned; later errors go to `start`
/// through the exec FIFO.
fn init_child(
    a: &InitArgs,
    ch: &Channel,
    ns: &NamespaceSetup,
    caps: &Caps,
    fds: InitFds,
) -> ChildResult {
    let InitFds {
        exec_fifo,
        host_proc,
        idmapped_mounts,
    } = fds;
    let p = process_of(a.spec);
    child_preamble(a.lock_fd, ch)?;
    // The cgroup we were born in (before a cgroup namespace hides it), for
    // the container's cgroup mount when it has no cgroup of its own.
    let born_in = match a.cgroup {
        None => crate::cgroups::own_v2_path(),
        Some(_) => String::new(),
    };
    enter_namespaces(LINUX, ns, ch)?;
    start_session()?;
    set_uts_names(LINUX, a.spec)?;
    let mountns = crate::spec::has_namespace(a.spec, LinuxNamespaceType::Mount);
    let root = prepare_root(a, ns, mountns, &idmapped_mounts, &born_in)?;
    drop(idmapped_mounts);
    let console = set_up_terminal(a, &root, ch)?;
    if mountns {
        rootfs::mask_and_protect(a.spec, &root)?;
    }
    rootfs::sysctl(a.spec)?;
    let hook_state = run_create_container_hooks(a.spec, ch)?;
    enter_root(a, &root, mountns)?;
    let cwd = open_cwd(p.cwd())?;
    if let Some(peer) = &console {
        tty::become_console(peer)?;
    }
    if !a.no_new_keyring {
        security::new_session_keyring(a.id);
    }
    let execve = become_process(
        &a.config.common.setup(p, caps, a.preserve_fds),
        cwd,
        ch,
        &host_proc,
    )?;
    // The seccomp filter may be loaded: from here on only syscalls that
    // every profile allows (runc makes the same ones after its filter):
    // prctl, write, openat, close, execve.
    let report = wait_for_start(ch, exec_fifo, host_proc)?;
    if let Err(e) = run_start_container_hooks(a.spec, &hook_state) {
        report.write(format!("1{e}").as_bytes());
        // SAFETY: _exit ends the process at once (see `run_child`).
        unsafe { libc::_exit(127) };
    }
    // "0": started. The FIFO stays open (close-on-exec) until the execve:
    // `start` waits for it to close, and a failed execve is reported to it
    // as "2<error>" before the FIFO closes.
    report.write(b"0");
    let Err(ChildError(e)) = exec(LINUX, a.config.common.seccomp.as_ref(), &execve);
    report.write(format!("2{e}").as_bytes());
    fail_after_start(&e)
}

/// Join the namespaces given by path (but pid and time ones, which the
/// parent entered for the clone), become root in the user namespace,
/// unshare what had to wait for it, and the cgroup namespace last.
fn enter_namespaces(sc: &dyn Syscall, ns: &NamespaceSetup, ch: &Channel) -> ChildResult<()> {
    for j in &ns.joins {
        if j.typ != LinuxNamespaceType::Pid && j.typ != LinuxNamespaceType::Time {
            let name = namespaces::proc_name(j.typ);
            sc.setns(j.fd.as_fd(), namespaces::flag(j.typ), name)
                .map_err(|e| format!("linux.namespaces ({name}): {e}"))?;
        }
    }
    if ns.userns() {
        // Root in the container's user namespace (maps were written by the
        // parent, or it was joined above).
        become_userns_root()?;
    }
    if ns.unshare_later != 0 {
        sc.unshare(ns.unshare_later)
            .map_err(|e| format!("linux.namespaces: {e}"))?;
    }
    if ns.intermediate() {
        fork_init(ch)?;
    }
    if ns.cgroupns {
        sc.unshare(libc::CLONE_NEWCGROUP)
            .map_err(|e| sys::io_err("unshare cgroup namespace", e.source))?;
    }
    Ok(())
}

/// In the intermediate (see `NamespaceSetup::intermediate`): fork the init
/// into the new pid namespace, report its pid and pidfd to the parent (who
/// signals it through that, never by a number), and exit. Returns in the
/// init.
fn fork_init(ch: &Channel) -> ChildResult<()> {
    let (init, fd) = sys::clone3_pidfd(0, None)?;
    if init == 0 {
        return Ok(());
    }
    let mut m = init.to_ne_bytes().to_vec();
    m.push(fd.is_some() as u8);
    let _ = ch.send_child(PID, &m);
    if let Some(fd) = fd {
        let _ = tty::send_fd(ch.0.as_raw_fd(), fd.as_raw_fd(), "pidfd");
    }
    // SAFETY: _exit ends the intermediate at once (see `run_child`).
    unsafe { libc::_exit(0) }
}

/// `hostname` and `domainname`, in the container's uts namespace.
fn set_uts_names(sc: &dyn Syscall, spec: &Spec) -> ChildResult<()> {
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        sc.sethostname(h).map_err(|e| format!("hostname: {e}"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|h| !h.is_empty()) {
        sc.setdomainname(d)
            .map_err(|e| format!("domainname: {e}"))?;
    }
    Ok(())
}

/// The container's root: set up in spec order by `rootfs::prepare`. Without
/// a mount namespace the container runs in the host's: no rootfs set-up at
/// all (validation refused every field that needs one), only the root
/// opened for a chroot, as runc does.
fn prepare_root(
    a: &InitArgs,
    ns: &NamespaceSetup,
    mountns: bool,
    idmapped_mounts: &[Option<OwnedFd>],
    born_in: &str,
) -> ChildResult<rootfs::Root<'static>> {
    if !mountns {
        return Ok(rootfs::Root::open(&a.rootfs, LINUX)?);
    }
    let plan = rootfs::RootfsSetup {
        spec: a.spec,
        bundle: a.bundle,
        rootfs: a.rootfs.clone(),
        overlay: a.config.overlay.as_ref().map(|o| &o.layers),
        // Without a cgroup of its own the container is in the caller's.
        cgroup_path: a.cgroup.map_or(born_in, Cgroup::path),
        cgroupns: ns.cgroupns,
        userns: ns.userns(),
        idmapped: idmapped_mounts,
        host_cgroups: None,
        sys: LINUX,
    };
    Ok(rootfs::prepare(&plan)?)
}

/// `process.terminal`: a pty from the container's own devpts instance; its
/// master is handed out, its peer bound on /dev/console. Returns the peer,
/// which becomes the controlling terminal once the root is entered.
fn set_up_terminal(
    a: &InitArgs,
    root: &rootfs::Root,
    ch: &Channel,
) -> ChildResult<Option<OwnedFd>> {
    if !a.config.common.terminal.wanted() {
        return Ok(None);
    }
    let master = tty::open_ptmx(root.fd.as_fd())?;
    let peer = hand_out_pty(&a.config.common.terminal, &master, ch)?;
    rootfs::bind_console(root, &peer)
        .map_err(|e| format!("process.terminal: /dev/console: {e}"))?;
    Ok(Some(peer))
}

/// Let the parent run the prestart and createRuntime hooks, then run the
/// createContainer hooks here: in the container's namespaces, before
/// pivot_root, as runc does (the hook path resolves in the runtime's
/// filesystem). Returns the state JSON the parent sent, for startContainer.
fn run_create_container_hooks(spec: &Spec, ch: &Channel) -> ChildResult<Vec<u8>> {
    ch.send_child(HOOKS, &[])?;
    let hook_state = ch.expect(HOOKS_DONE, None, "waiting for createRuntime hooks")?;
    if let Some(h) = spec.hooks() {
        hooks::run(
            hooks::Kind::CreateContainer,
            hooks::hooks_of(h, hooks::Kind::CreateContainer),
            &hook_state,
        )?;
    }
    Ok(hook_state)
}

/// Enter the container's root: pivot_root (or a chroot without a mount
/// namespace). runc creates a missing cwd; done first, while the root is
/// still writable.
fn enter_root(a: &InitArgs, root: &rootfs::Root, mountns: bool) -> ChildResult<()> {
    let _ = rootfs::mkdir_all(&root.fd, process_of(a.spec).cwd(), false);
    if mountns {
        rootfs::enter(a.spec, root, a.no_pivot)?;
    } else {
        rootfs::chroot(root)?;
    }
    Ok(())
}

/// Tell the parent that set-up is done (`create` may return), then wait
/// for `start`: opening the exec FIFO for writing blocks until it reads.
/// From here on nobody waits for our errors except `start` (through the
/// FIFO) and our own stderr.
fn wait_for_start(
    ch: &Channel,
    exec_fifo: OwnedFd,
    host_proc: sys::ProcFs,
) -> ChildResult<StartReport> {
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, "PR_SET_PDEATHSIG");
    ch.send_child(READY, &[])?;
    let path = sys::cstr(format!("self/fd/{}", exec_fifo.as_raw_fd()));
    // SAFETY: a plain openat of a NUL-terminated path below a live procfs
    // fd (openat, not openat2: every seccomp profile allows it).
    let w = unsafe {
        libc::openat(
            host_proc.fd().as_raw_fd(),
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    };
    if w < 0 {
        fail_after_start(&format!(
            "open exec fifo: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(StartReport(w))
}

/// The exec FIFO, open for writing: what `start` reads. "0" is started,
/// "1<error>" a failed startContainer hook, "2<error>" a failed execve.
/// Left open: execve closes it (close-on-exec), and `start` waits for that.
struct StartReport(RawFd);

impl StartReport {
    fn write(&self, m: &[u8]) {
        // SAFETY: m is a live buffer of m.len() bytes; the fd stays open.
        unsafe { libc::write(self.0, m.as_ptr() as *const libc::c_void, m.len()) };
    }
}

/// startContainer hooks, in the container, with the state `created` (as
/// runc gives it).
fn run_start_container_hooks(spec: &Spec, hook_state: &[u8]) -> hooks::Result<()> {
    match spec.hooks() {
        Some(h) => hooks::run(
            hooks::Kind::StartContainer,
            hooks::hooks_of(h, hooks::Kind::StartContainer),
            &hooks::with_status(hook_state, "created"),
        ),
        None => Ok(()),
    }
}

/// An error after `create` returned: to our stderr (as runc's init does),
/// then exit 127 (the shell's "cannot execute").
fn fail_after_start(msg: &str) -> ! {
    let line = format!("myrt: container init: error: {msg}\n");
    // SAFETY: a write of a live buffer, then _exit (see `run_child`).
    unsafe {
        libc::write(2, line.as_ptr() as *const libc::c_void, line.len());
        libc::_exit(127)
    }
}

/// The final, plain execve, under the seccomp filter if any (profiles
/// recorded from runc allow execve, not always execveat). This process runs
/// myrt's sealed image (`security::exe`), so even a program whose
/// interpreter is `/proc/self/exe` only ever reaches that read-only image.
fn exec(sc: &dyn Syscall, filter: Option<&seccomp::Program>, execve: &ExecveArgs) -> ChildResult {
    let ExecveArgs { path, argv, envp } = execve;
    let mut av: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    av.push(std::ptr::null());
    let mut ev: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    ev.push(std::ptr::null());
    // A filter that kills execve would kill us silently: say so instead.
    if filter.is_some_and(|f| f.kills(libc::SYS_execve, [0; 6])) {
        return Err(format!(
            "exec {}: linux.seccomp kills the process at execve (SIGSYS)",
            path.to_string_lossy()
        )
        .into());
    }
    // av and ev are NULL-terminated arrays of pointers into CStrings that
    // outlive the call.
    let e = sc.execve(path, &av, &ev);
    Err(format!("exec {}: {}", path.to_string_lossy(), errno_text(&e)).into())
}

/// An errno as runc (Go) words it: "argument list too long".
fn errno_text(e: &std::io::Error) -> String {
    let raw = e.raw_os_error().unwrap_or(0);
    // SAFETY: strerror returns a pointer to a NUL-terminated static or
    // thread-local string; it is copied at once.
    let t = unsafe { std::ffi::CStr::from_ptr(libc::strerror(raw)) }
        .to_string_lossy()
        .into_owned();
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => t,
    }
}

/// Open `process.cwd` inside the container (still privileged): resolved
/// without leaving the root and without magic links (CVE-2024-21626: a cwd
/// such as /proc/self/fd/N must not land on an fd of the runtime).
fn open_cwd(cwd: &Path) -> ChildResult<OwnedFd> {
    let field = || format!("process.cwd ({})", cwd.display());
    let root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| format!("{}: {e}", field()))?;
    Ok(
        sys::open_in_root(root.as_raw_fd(), cwd, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| format!("{}: {e}", field()))?,
    )
}

/// Change into the cwd opened by `open_cwd` (as the container user), and
/// check that it is inside the container's root.
fn enter_cwd(dir: &OwnedFd, cwd: &Path) -> ChildResult<()> {
    let field = || format!("process.cwd ({})", cwd.display());
    nix::unistd::fchdir(dir)
        .map_err(|e| format!("{}: {}", field(), sys::errno("chdir", e as i32)))?;
    match std::env::current_dir() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(format!("{}: is outside the container", field()).into()),
    }
}

/// Hand a new pty master out (see `tty::Terminal::hand_out`): to the parent
/// over the channel, for its relay.
fn hand_out_pty(terminal: &tty::Terminal, master: &OwnedFd, ch: &Channel) -> ChildResult<OwnedFd> {
    Ok(terminal.hand_out(master, |m| {
        ch.send_child(PTY, &[])?;
        tty::send_fd(ch.0.as_raw_fd(), m.as_raw_fd(), "/dev/ptmx")
    })?)
}

/// The arguments of the final execve.
struct ExecveArgs {
    /// The executable, looked up in the container's PATH.
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

/// The process attributes `become_process` applies: the process, and the
/// `linux` fields that apply to every process of the container.
struct ProcessSetup<'a> {
    process: &'a Process,
    personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    caps: &'a Caps,
    seccomp: Option<&'a seccomp::Program>,
    preserve_fds: u32,
    /// The system calls of the privilege drop (`syscall::LINUX`; a fake in
    /// unit tests).
    sys: &'a dyn Syscall,
}

/// The process attributes shared by the init and `exec`.
///
/// A seccomp profile need not allow what the runtime does for itself, so
/// everything that can be done before the filter is loaded is done before
/// it: personality, io priority, rlimits, AppArmor, the executable lookup,
/// the cwd (entered as root, as runc does), the fd sweep, the bounding set
/// and the user change. Without no_new_privs the filter is loaded next
/// (that needs CAP_SYS_ADMIN, still effective), and only capget/capset and
/// prctl follow it here; with no_new_privs it is loaded last. After this
/// the callers make only write/openat/close/prctl and the execve, the same
/// syscalls runc makes after loading its filter.
fn become_process(
    s: &ProcessSetup,
    cwd: OwnedFd,
    ch: &Channel,
    proc: &sys::ProcFs,
) -> ChildResult<ExecveArgs> {
    let p = s.process;
    security::set_personality(s.personality)?;
    security::set_io_priority(p)?;
    security::set_scheduler(p)?;
    security::set_memory_policy(s.memory_policy)?;
    security::set_rlimits(p)?;
    security::set_apparmor(p, proc)?;
    let env = container_env(p);
    let path = find_executable(p, &env)?;
    let (argv, envp) = exec_vectors(p, env)?;
    enter_cwd(&cwd, p.cwd())?;
    drop(cwd);
    drop_privileges(s, ch, proc)?;
    Ok(ExecveArgs { path, argv, envp })
}

/// The end of `become_process`, in this order: the fd sweep, the bounding
/// set, the user change; then without no_new_privs the seccomp filter
/// (which needs CAP_SYS_ADMIN, raised again after a uid change), the
/// capability sets; with no_new_privs the capability sets, no_new_privs,
/// then the filter.
fn drop_privileges(s: &ProcessSetup, ch: &Channel, proc: &sys::ProcFs) -> ChildResult<()> {
    let (p, sc) = (s.process, s.sys);
    security::close_fds(s.preserve_fds, sc)?;
    s.caps.drop_bounding(sc)?;
    security::set_user(p, proc, sc)?;
    let nnp = p.no_new_privileges() == Some(true);
    if !nnp && let Some(prog) = s.seccomp {
        if p.user().uid() != 0 {
            Caps::raise_effective(sc)?;
        }
        load_filter(sc, prog, ch)?;
    }
    s.caps.apply(sc)?;
    security::set_no_new_privs(p, sc)?;
    if nnp && let Some(prog) = s.seccomp {
        load_filter(sc, prog, ch)?;
    }
    Ok(())
}

/// Load the seccomp filter; a notify fd goes to the parent, which hands it
/// to the agent at `linux.seccomp.listenerPath`.
fn load_filter(sc: &dyn Syscall, prog: &seccomp::Program, ch: &Channel) -> ChildResult<()> {
    let fd = sc
        .seccomp_load(prog.instructions(), prog.flags())
        .map_err(|e| format!("linux.seccomp: load: {e}"))?;
    if let Some(fd) = fd {
        ch.send_child(NOTIFY, &[])?;
        tty::send_fd(ch.0.as_raw_fd(), fd.as_raw_fd(), "seccomp")
            .map_err(|e| format!("linux.seccomp: pass the notify fd: {e}"))?;
    }
    Ok(())
}

/// `process.env`, plus HOME from the container's /etc/passwd when it is
/// missing (as runc does).
fn container_env(p: &Process) -> Vec<String> {
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let uid = p.user().uid();
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
                        .then(|| f[5].to_string())
                })
            })
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Look `args[0]` up in the container's PATH (from `process.env`), as runc
/// does (Go's `exec.LookPath`: a regular file with some execute bit), and
/// with runc's words, which engines map to exit codes (podman: "executable
/// file not found in $PATH" and "no such file or directory" give 127,
/// "permission denied" 126).
fn find_executable(p: &Process, env: &[String]) -> ChildResult<CString> {
    use std::os::unix::fs::PermissionsExt;
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let fail = |why: String| -> ChildResult<CString> {
        Err(format!("process.args[0]: exec: {arg0:?}: {why}").into())
    };
    let check = |path: &Path| -> std::result::Result<(), String> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
            Ok(_) => Err("permission denied".into()),
            Err(e) => Err(format!("stat {}: {}", path.display(), errno_text(&e))),
        }
    };
    if arg0.contains('/') {
        let path = if Path::new(&arg0).is_absolute() {
            PathBuf::from(&arg0)
        } else {
            p.cwd().join(&arg0)
        };
        return match check(&path) {
            Ok(()) => Ok(sys::cstr(&path)),
            Err(why) => fail(why),
        };
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if !arg0.is_empty() {
        for dir in path_var.split(':') {
            // "" is the cwd; a relative entry is relative to it.
            let cand = p.cwd().join(dir).join(&arg0);
            if check(&cand).is_ok() {
                return Ok(sys::cstr(&cand));
            }
        }
    }
    fail("executable file not found in $PATH".into())
}

fn exec_vectors(p: &Process, env: Vec<String>) -> ChildResult<(Vec<CString>, Vec<CString>)> {
    let argv = p
        .args()
        .iter()
        .flatten()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| "process.args: contains a NUL byte"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let envp = env
        .into_iter()
        .map(|e| CString::new(e).map_err(|_| "process.env: contains a NUL byte"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((argv, envp))
}

/// What `exec` needs to start a process in a running container.
pub struct ExecArgs<'a> {
    pub container_pid: i32,
    /// A pidfd of the container's init, opened before its liveness check:
    /// the namespaces are joined through it, never by pid number.
    pub container: OwnedFd,
    pub process: &'a Process,
    pub namespaces: Vec<LinuxNamespaceType>,
    /// `None`: the container has no cgroup of its own.
    pub cgroup: Option<&'a dyn Cgroup>,
    /// When `cgroup` (v2) may hold no process because its controllers are
    /// enabled for sub-cgroups (EBUSY), join the init's cgroup instead, as
    /// runc does; false for an explicit `exec --cgroup`.
    pub init_cgroup_fallback: bool,
    pub config: ExecConfig,
    pub preserve_fds: u32,
    pub lock_fd: Option<RawFd>,
    /// The container's state JSON, for a seccomp agent (listenerPath).
    pub state_json: Vec<u8>,
}

/// Start a process inside a running container's namespaces and cgroup.
/// Returns (pid, pty master for the relay).
pub fn spawn_exec(a: ExecArgs) -> Result<(i32, Option<OwnedFd>)> {
    let joins = namespaces::of_process(a.container_pid, &a.namespaces);
    // A container without a mount namespace is chrooted in the host's:
    // the exec'd process enters the same root.
    let chroot = if a.namespaces.contains(&LinuxNamespaceType::Mount) {
        None
    } else {
        Some(sys::open(
            Path::new(&format!("/proc/{}/root", a.container_pid)),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?)
    };
    // Still the init that passed the liveness check (the pidfd was opened
    // before it): then `/proc/<pid>` read above (namespaces, root) was that
    // process. Checked here too because with no namespace to join nothing
    // else would.
    if sys::pidfd_send_signal(&a.container, 0).is_err() {
        return Err(Error::Child(
            "the container's init exited (container not running)".into(),
        ));
    }
    let ns = ExecNamespaces {
        joins,
        // Entering the pid namespace for our child needs CAP_SYS_ADMIN in
        // our own user namespace too, which a user who is not root lacks:
        // then the child joins every namespace itself and forks the process
        // (with CLONE_PARENT, so it is our child), reports its pid and
        // exits, as runc's and crun's exec do. Costs a fork, only then.
        intermediate: joins & libc::CLONE_NEWPID != 0
            && joins & libc::CLONE_NEWUSER != 0
            && !crate::rootless::privileged(),
        chroot,
    };
    let caps = Caps::resolve(a.process.capabilities().as_ref())?;
    let (ours, theirs) = Channel::pair()?;
    // The host's procfs, for the child's /proc accesses once it is in the
    // container's mount namespace (where /proc is the container's).
    let proc = sys::ProcFs::open_host()?;
    let mut cg_fd = a.cgroup.map(Cgroup::dir_fd).transpose()?.flatten();
    // The pid namespace only applies to children: entered here for the
    // clone (unless the child forks the process, see above).
    let mut own_ns = Vec::new();
    if joins & libc::CLONE_NEWPID != 0 && !ns.intermediate {
        own_ns.push(enter_keeping_own(LinuxNamespaceType::Pid, || {
            namespaces::join_process(&a.container, libc::CLONE_NEWPID)
        })?);
    }
    let mut pid = sys::clone3(0, cg_fd.as_ref().map(|f| f.as_raw_fd()));
    if let (Err(e), Some(cg)) = (&pid, a.cgroup)
        && e.source.raw_os_error() == Some(libc::EBUSY)
    {
        if !a.init_cgroup_fallback {
            restore_namespaces(own_ns);
            return Err(Error::Child(format!(
                "--cgroup: cannot join {}: {e}: its controllers are enabled for sub-cgroups, so it holds no process (give --cgroup SUB)",
                cg.path()
            )));
        }
        cg_fd = Some(init_cgroup_fd(a.container_pid, cg)?);
        pid = sys::clone3(0, cg_fd.as_ref().map(|f| f.as_raw_fd()));
    }
    if !matches!(pid, Ok(0)) {
        restore_namespaces(own_ns);
    }
    let mut pid = pid.map_err(|e| clone_error(e, a.cgroup))?;
    if pid == 0 {
        drop(ours);
        run_child(&theirs, 255, || exec_child(&a, &theirs, &ns, &caps, &proc));
    }
    drop(theirs);
    match drive_exec(&a, &ours, &mut pid, ns.intermediate, cg_fd.is_some()) {
        Ok(master) => Ok((pid, master)),
        Err(e) => {
            // Our unreaped child: the intermediate, or its fork once the
            // intermediate was reaped.
            kill_and_reap(pid, None);
            Err(e)
        }
    }
}

/// The cgroup v2 directory of the container's init, which must be the
/// container's cgroup `cg` or below it (the init may have moved itself, as
/// systemd does, but never out of the container's cgroup).
fn init_cgroup_fd(init: i32, cg: &dyn Cgroup) -> Result<OwnedFd> {
    let err = |why: String| Error::Child(format!("exec: join the init's cgroup: {why}"));
    let path = crate::cgroups::v2_path_of(&init.to_string())
        .ok_or_else(|| err(format!("no cgroup v2 line in /proc/{init}/cgroup")))?;
    let path = path.as_str();
    let top = cg.path().trim_end_matches('/');
    if !path
        .strip_prefix(top)
        .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    {
        return Err(err(format!(
            "{path} is not below the container's cgroup {top}"
        )));
    }
    crate::cgroups::open(path)
        .dir_fd()?
        .ok_or_else(|| err(format!("no directory for {path}")))
}

/// How an exec'd process enters the container.
struct ExecNamespaces {
    /// The namespaces of the container that are not ours (CLONE_NEW* flags).
    joins: i32,
    /// The child joins the pid namespace too and forks the process.
    intermediate: bool,
    /// The root of a container without a mount namespace.
    chroot: Option<OwnedFd>,
}

/// The parent's side of `exec`: affinity, cgroup, go (twice with an
/// intermediate), then the fds the child sends until its execve closes the
/// channel. `pid` is always our unreaped child.
fn drive_exec(
    a: &ExecArgs,
    ch: &Channel,
    pid: &mut i32,
    intermediate: bool,
    born_in_cgroup: bool,
) -> Result<Option<OwnedFd>> {
    // execCPUAffinity.initial: before the move into the cgroup (which
    // resets the affinity to the cgroup's cpuset).
    if let Some(cpus) = a
        .process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|x| x.initial().as_ref())
    {
        security::set_affinity(*pid, cpus, "process.execCPUAffinity.initial")?;
    }
    release_child(ch, *pid, a.cgroup, born_in_cgroup, a.process)?;
    if intermediate {
        let p = ch.expect(PID, Some(STAGE_TIMEOUT), "exec")?;
        let forked = p
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_ne_bytes)
            .ok_or_else(|| Error::Child("bad pid message".into()))?;
        // The intermediate's fork is our child (CLONE_PARENT): its pid
        // cannot be reused before we reap it.
        reap(*pid);
        *pid = forked;
        // Only now may it go on (whatever it sends is its own).
        ch.send(GO, &[])?;
    }
    let mut fds = ReceivedFds {
        pty_master: None,
        listener: listener_of(a.config.0.seccomp.as_ref(), *pid, a.state_json.clone()),
    };
    // Until EOF: the close-on-exec channel closed, execve succeeded.
    ch.expect_fds(None, Some(STAGE_TIMEOUT), "exec", &mut fds)?;
    Ok(fds.pty_master)
}

/// An exec'd process, from birth to execve. Returns only on error.
fn exec_child(
    a: &ExecArgs,
    ch: &Channel,
    ns: &ExecNamespaces,
    caps: &Caps,
    proc: &sys::ProcFs,
) -> ChildResult {
    let p = a.process;
    child_preamble(a.lock_fd, ch)?;
    join_container(a, ch, ns)?;
    // execCPUAffinity.final: now that the process is in the cgroup.
    if let Some(cpus) = p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|x| x.cpu_affinity_final().as_ref())
    {
        security::set_affinity(0, cpus, "process.execCPUAffinity.final")?;
    }
    if ns.joins & libc::CLONE_NEWUSER != 0 {
        // Root in the container's user namespace.
        become_userns_root()?;
    }
    if let Some(root) = &ns.chroot {
        chroot_into(root)?;
    }
    start_session()?;
    if a.config.0.terminal.wanted() {
        // The container's root, which we are in now (its mount namespace
        // joined, or chrooted into): the pty comes from its /dev/pts.
        let root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| format!("process.terminal: {e}"))?;
        let master = tty::open_ptmx(root.as_fd())?;
        let peer = hand_out_pty(&a.config.0.terminal, &master, ch)?;
        tty::become_console(&peer)?;
    }
    let cwd = open_cwd(p.cwd())?;
    let execve = become_process(&a.config.0.setup(p, caps, a.preserve_fds), cwd, ch, proc)?;
    // A detached exec outlives us.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, "PR_SET_PDEATHSIG");
    exec(LINUX, a.config.0.seccomp.as_ref(), &execve)
}

/// Join the container's namespaces through its init's pidfd: all but the
/// pid namespace, which the parent entered for the clone; or, with an
/// intermediate, all of them, and fork the process into the pid namespace.
fn join_container(a: &ExecArgs, ch: &Channel, ns: &ExecNamespaces) -> ChildResult<()> {
    let joins = if ns.intermediate {
        ns.joins
    } else {
        ns.joins & !libc::CLONE_NEWPID
    };
    namespaces::join_process(&a.container, joins)
        .map_err(|e| format!("join the container's namespaces: {e}"))?;
    if !ns.intermediate {
        return Ok(());
    }
    let forked = sys::clone3(CLONE_PARENT, None)?;
    if forked != 0 {
        let _ = ch.send_child(PID, &forked.to_ne_bytes());
        // SAFETY: _exit ends the intermediate at once (see `run_child`).
        unsafe { libc::_exit(0) };
    }
    let _ = sys::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as _,
        "PR_SET_PDEATHSIG",
    );
    ch.expect(GO, None, "waiting for the parent")?;
    Ok(())
}

/// Enter the root of a container without a mount namespace (its init's
/// `/proc/<pid>/root`, opened by the parent).
fn chroot_into(root: &OwnedFd) -> ChildResult<()> {
    nix::unistd::fchdir(root)
        .and_then(|()| nix::unistd::chroot("."))
        .map_err(|e| {
            format!(
                "enter the container's root: {}",
                sys::errno("chroot", e as i32)
            )
        })?;
    Ok(())
}

/// setresgid/setresuid(0) after entering a user namespace; a failure (no
/// mapping for 0) is an error, never a process left with the host's ids.
fn become_userns_root() -> std::result::Result<(), String> {
    use nix::unistd::{Gid, Uid, setresgid, setresuid};
    let root_gid = Gid::from_raw(0);
    setresgid(root_gid, root_gid, root_gid)
        .map_err(|e| format!("linux.gidMappings: {}", sys::errno("setresgid 0", e as i32)))?;
    let root_uid = Uid::from_raw(0);
    setresuid(root_uid, root_uid, root_uid)
        .map_err(|e| format!("linux.uidMappings: {}", sys::errno("setresuid 0", e as i32)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The privilege drop and the execve through the recording fake: the
    //! position of the seccomp filter, without root.
    use super::*;
    use crate::syscall::fake::{Call, TestDir};

    fn process(nnp: bool) -> Process {
        serde_json::from_value(serde_json::json!({
            "cwd": "/",
            "args": ["/bin/true"],
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
            "noNewPrivileges": nnp,
            "capabilities": {
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
            }
        }))
        .unwrap()
    }

    fn filter() -> seccomp::Program {
        let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .unwrap();
        seccomp::compile(&s).unwrap()
    }

    /// The calls of the privilege drop and execve, as short names.
    fn sequence(nnp: bool) -> Vec<String> {
        let t = TestDir::new("drop");
        let rec = t.recorder();
        let p = process(nnp);
        let caps = Caps::resolve(p.capabilities().as_ref()).unwrap();
        let prog = filter();
        let setup = ProcessSetup {
            process: &p,
            personality: None,
            memory_policy: None,
            caps: &caps,
            seccomp: Some(&prog),
            preserve_fds: 2,
            sys: &rec,
        };
        let (ch, _peer) = Channel::pair().unwrap();
        let proc = sys::ProcFs::open_host().unwrap();
        if let Err(ChildError(e)) = drop_privileges(&setup, &ch, &proc) {
            panic!("{e}");
        }
        let execve = ExecveArgs {
            path: sys::cstr("/bin/true"),
            argv: vec![sys::cstr("/bin/true")],
            envp: vec![],
        };
        let Err(ChildError(e)) = exec(&rec, Some(&prog), &execve);
        assert!(e.starts_with("exec /bin/true"), "{e}");
        let mut out: Vec<String> = Vec::new();
        for c in rec.calls() {
            let name = match c {
                Call::CloexecFrom(n) => format!("cloexec_from {n}"),
                // Many of these (every capability not in bounding): one line.
                Call::DropBounding(_) => "drop_bounding".into(),
                Call::Setgroups(g) => format!("setgroups {g:?}"),
                Call::Setresgid(g) => format!("setresgid {g}"),
                Call::Setresuid(u) => format!("setresuid {u}"),
                Call::SeccompLoad { flags, .. } => format!("seccomp {flags:#x}"),
                Call::SetCaps(set, v) => format!("capset {set} {v:?}"),
                Call::NoNewPrivs => "no_new_privs".into(),
                Call::Execve(p) => format!("execve {p}"),
                other => format!("{other:?}"),
            };
            if out.last() != Some(&name) {
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn seccomp_comes_after_the_fd_sweep_and_the_user_change_and_before_execve() {
        use caps::Capability::{CAP_KILL, CAP_NET_BIND_SERVICE};
        let got = sequence(false);
        let flags = filter().flags();
        let both = format!("{:?}", [CAP_KILL, CAP_NET_BIND_SERVICE]);
        let kill = format!("{:?}", [CAP_KILL]);
        // The effective set raised again (the uid change cleared it) is
        // the calling thread's permitted set: not asserted, host-dependent.
        assert!(got[5].starts_with("capset Effective"), "{got:#?}");
        let want = [
            "cloexec_from 5".to_string(),
            "drop_bounding".into(),
            "setgroups [10]".into(),
            "setresgid 1000".into(),
            "setresuid 1000".into(),
            got[5].clone(),
            format!("seccomp {flags:#x}"),
            format!("capset Effective {both}"),
            format!("capset Permitted {both}"),
            format!("capset Effective {kill}"),
            "capset Inheritable []".into(),
            "execve /bin/true".into(),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn with_no_new_privileges_seccomp_is_the_last_call_before_execve() {
        let got = sequence(true);
        let flags = filter().flags();
        let n = got.len();
        assert_eq!(
            got[n - 3..],
            [
                "no_new_privs".to_string(),
                format!("seccomp {flags:#x}"),
                "execve /bin/true".into()
            ],
            "{got:#?}"
        );
        // No effective-set raise: no_new_privs needs no CAP_SYS_ADMIN.
        assert_eq!(
            got[..5],
            [
                "cloexec_from 5",
                "drop_bounding",
                "setgroups [10]",
                "setresgid 1000",
                "setresuid 1000"
            ]
        );
        assert!(
            got[5].starts_with("capset Effective [CAP_KILL, CAP_NET_BIND_SERVICE]"),
            "{got:#?}"
        );
    }

    #[test]
    fn namespaces_are_joined_then_unshared_cgroup_last_then_uts_names() {
        let t = TestDir::new("ns");
        let rec = t.recorder();
        let open = |p: &str| sys::open(Path::new(p), libc::O_RDONLY, 0).unwrap();
        let ns = NamespaceSetup {
            clone_flags: 0,
            joins: vec![
                Join {
                    typ: LinuxNamespaceType::Network,
                    fd: open("/proc/self/ns/net"),
                },
                // Joined by the parent before the clone: not here.
                Join {
                    typ: LinuxNamespaceType::Pid,
                    fd: open("/proc/self/ns/pid"),
                },
            ],
            new_time: false,
            cgroupns: true,
            unshare_later: libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
        };
        let (ch, _peer) = Channel::pair().unwrap();
        if let Err(ChildError(e)) = enter_namespaces(&rec, &ns, &ch) {
            panic!("{e}");
        }
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2", "hostname": "box", "domainname": "example"
        }))
        .unwrap();
        if let Err(ChildError(e)) = set_uts_names(&rec, &spec) {
            panic!("{e}");
        }
        assert_eq!(
            rec.calls(),
            [
                Call::Setns(libc::CLONE_NEWNET),
                Call::Unshare(libc::CLONE_NEWIPC | libc::CLONE_NEWUTS),
                Call::Unshare(libc::CLONE_NEWCGROUP),
                Call::Sethostname("box".into()),
                Call::Setdomainname("example".into()),
            ]
        );
    }
}
