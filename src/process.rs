//! Creating the container's processes: one fork-like `clone3` into the new
//! namespaces (and, on cgroup v2, straight into the cgroup), the parent↔child
//! sync channel (a SOCK_SEQPACKET pair with small tagged messages and a
//! timeout on every wait), the init sequence up to the exec FIFO and execve,
//! `exec`'s join path, and the foreground supervisor (signals, pty relay).

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroups::Cgroup;
use crate::hooks;
use crate::namespaces::{self, Join};
use crate::rootfs;
use crate::security::{self, Caps, seccomp};
use crate::sys;
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
        let mut fds = [0; 2];
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(sys::last("socketpair"));
        }
        unsafe {
            Ok((
                Channel(OwnedFd::from_raw_fd(fds[0])),
                Channel(OwnedFd::from_raw_fd(fds[1])),
            ))
        }
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
                unsafe { libc::write(fd, buf, len) }
            } else {
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
        self.expect_fds(want, timeout, stage, &mut Fds::default())
    }

    /// Like `expect`; a pty master or a seccomp notify fd sent on the way
    /// is stored in `fds`.
    fn expect_fds(
        &self,
        want: u8,
        timeout: Option<Duration>,
        stage: &'static str,
        fds: &mut Fds,
    ) -> Result<Vec<u8>> {
        loop {
            match self.recv(timeout, stage)? {
                Some((t, p)) if t == want => return Ok(p),
                Some((PTY, _)) => {
                    if let Some((fd, _)) = tty::recv_fd(self.0.as_raw_fd())? {
                        fds.pty = Some(fd);
                    }
                }
                Some((NOTIFY, _)) => {
                    if let Some((fd, _)) = tty::recv_fd(self.0.as_raw_fd())? {
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
struct Fds {
    /// The pty master (foreground relay).
    pty: Option<OwnedFd>,
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

impl Fds {
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

/// Everything the container's init needs; prepared by the parent before
/// the clone so that the child mostly makes syscalls.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: PathBuf,
    pub overlay: Option<rootfs::Overlay>,
    pub fifo: PathBuf,
    /// `None`: no cgroup of its own (rootless without cgroup access).
    pub cgroup: Option<&'a Cgroup>,
    pub console_socket: Option<OwnedFd>,
    /// Send the pty master to the parent (foreground `run` without a console socket).
    pub relay_tty: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub seccomp: Option<seccomp::Program>,
    /// The state dir's lock fd, closed first thing in the child.
    pub lock_fd: Option<RawFd>,
}

/// Handles the parent opens for the child.
struct Handles {
    fifo: OwnedFd,
    /// The host's procfs: every /proc access of the set-up goes through it.
    procfd: sys::ProcFs,
    /// Namespaces to unshare after joining a user namespace by path (so
    /// that they are owned by it).
    unshare_later: i32,
    /// Idmapped mounts, made here in the host's user namespace.
    idmapped: Vec<Option<OwnedFd>>,
}

/// The container's init as the parent sees it after `create`.
pub struct Init {
    pub pid: i32,
    pub start_time: u64,
    pub master: Option<OwnedFd>,
}

/// The parent's callbacks during init set-up.
pub trait Parent {
    /// prestart + createRuntime hooks, with the child's pid known.
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
    let (mut flags, joins) = namespaces::plan(linux)?;
    // The cgroup namespace is unshared by the child after it was put into
    // its cgroup, so that the namespace's root is the container's cgroup.
    let cgroupns = flags & libc::CLONE_NEWCGROUP != 0;
    flags &= !libc::CLONE_NEWCGROUP;
    // A time namespace is prepared here (offsets can only be set before a
    // process enters it); a pid or time namespace given by path is entered
    // here too, since both only apply to children.
    let time_orig = if flags & libc::CLONE_NEWTIME != 0 {
        flags &= !libc::CLONE_NEWTIME;
        Some(namespaces::prepare_time(linux)?)
    } else {
        None
    };
    let mut restore = Vec::new();
    if let Some(t) = time_orig {
        restore.push((t, libc::CLONE_NEWTIME));
    }
    for j in &joins {
        if j.typ == LinuxNamespaceType::Pid || j.typ == LinuxNamespaceType::Time {
            let own = sys::open(
                Path::new(&format!("/proc/self/ns/{}", namespaces::proc_name(j.typ))),
                libc::O_RDONLY,
                0,
            )?;
            namespaces::enter(j)?;
            restore.push((own, namespaces::flag(j.typ)));
        }
    }
    let userns =
        flags & libc::CLONE_NEWUSER != 0 || joins.iter().any(|j| j.typ == LinuxNamespaceType::User);
    let caps = Caps::resolve(process_of(a.spec).capabilities().as_ref())?;
    let (ours, theirs) = Channel::pair()?;
    let cg_fd = a.cgroup.map(Cgroup::dir_fd).transpose()?.flatten();
    // The exec FIFO and a handle on the host's procfs, opened here so the
    // child needs no access to the state dir (a user namespace's root may
    // not be able to reach it), and kept across pivot_root to reopen the
    // FIFO for writing once `create` is done.
    let fifo = sys::open(&a.fifo, libc::O_PATH, 0)?;
    let procfd = sys::ProcFs::open_host()?;
    // With a user namespace joined by path, the other new namespaces are
    // created after joining it (only the pid namespace has to come from
    // the clone), so that they are owned by that user namespace.
    let mut unshare_later = 0;
    // A new pid namespace must be owned by that user namespace too (or
    // /proc cannot be mounted): it is unshared after joining as well, and
    // the container's init is then a fork of the clone (the one case with an
    // intermediate process, which reports the init's pid and exits).
    if joins.iter().any(|j| j.typ == LinuxNamespaceType::User) {
        unshare_later = flags;
        flags = 0;
    }
    let intermediate = unshare_later & libc::CLONE_NEWPID != 0;
    let idmapped =
        rootfs::idmapped_mounts(a.spec, a.bundle).map_err(|e| Error::Child(e.to_string()))?;
    let handles = Handles {
        fifo,
        procfd,
        unshare_later,
        idmapped,
    };

    // A user who is not root writes the new user namespace's maps (or has
    // newuidmap write them) through the child's /proc files, which are the
    // caller's only while the child is dumpable: it is born dumpable and
    // turns that off once the maps are written (at GO), as runc's init does.
    let maps_unprivileged = flags & libc::CLONE_NEWUSER != 0 && !crate::rootless::privileged();
    if maps_unprivileged {
        sys::prctl(libc::PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE")?;
    }
    let pid = sys::clone3_pidfd(flags as u64, cg_fd.as_ref().map(|f| f.as_raw_fd()));
    if maps_unprivileged && !matches!(pid, Ok((0, _))) {
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE");
    }
    // Back to our own namespaces for children (hooks run from here); only
    // in the parent: the child stays where it was born.
    if !matches!(pid, Ok((0, _))) {
        for (fd, t) in restore.iter().rev() {
            let _ = sys::setns(fd.as_raw_fd(), *t, "restore namespace");
        }
    }
    let (pid, pidfd) = pid?;
    if pid == 0 {
        drop(ours);
        let err = init_child(&a, &theirs, &joins, cgroupns, userns, &caps, handles);
        let msg = match err {
            Err(e) => e,
            Ok(never) => match never {},
        };
        let _ = theirs.send_child(ERROR, msg.as_bytes());
        unsafe { libc::_exit(1) };
    }
    drop(theirs);
    let mut procs = Procs {
        clone: pid,
        clone_fd: pidfd,
        clone_reaped: false,
        init: None,
    };
    let result = drive_init(&a, &ours, &mut procs, parent, linux, intermediate);
    match result {
        Ok((fds, pid)) => {
            let start_time = sys::proc_stat(pid).map(|(_, s)| s).unwrap_or(0);
            Ok(Init {
                pid,
                start_time,
                master: fds.pty,
            })
        }
        Err(e) => {
            // Never by a pid number that may have been reaped and reused:
            // the intermediate (reaped above) and the init (not our child)
            // are signalled through pidfds.
            if let Some((pid, fd)) = &procs.init {
                sys::kill_child(*pid, fd.as_ref(), libc::SIGKILL);
            }
            if !procs.clone_reaped {
                sys::kill_child(procs.clone, procs.clone_fd.as_ref(), libc::SIGKILL);
                let mut st = 0;
                unsafe { libc::waitpid(procs.clone, &mut st, 0) };
            }
            Err(e)
        }
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

fn drive_init(
    a: &InitArgs,
    ch: &Channel,
    procs: &mut Procs,
    parent: &mut dyn Parent,
    linux: &oci_spec::runtime::Linux,
    intermediate: bool,
) -> Result<(Fds, i32)> {
    let pid = procs.clone;
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if new_userns {
        namespaces::write_id_maps(pid, linux)?;
    }
    if let Some(cg) = a.cgroup
        && cg.dir_fd()?.is_none()
    {
        cg.add_pid(pid)?;
    }
    if let Some(adj) = process_of(a.spec).oom_score_adj() {
        // Written from outside so that lowering it does not need the
        // container to hold CAP_SYS_RESOURCE.
        sys::write_file(
            &format!("/proc/{pid}/oom_score_adj"),
            adj.to_string().as_bytes(),
        )
        .map_err(|e| Error::Child(format!("process.oomScoreAdj: {e}")))?;
    }
    ch.send(GO, &[])?;
    let mut pid = pid;
    if intermediate {
        let p = ch.expect(PID, Some(STAGE_TIMEOUT), "joining the user namespace")?;
        let init = i32::from_ne_bytes(
            p.get(..4)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default(),
        );
        // The intermediate sends the init's pidfd right after, if it has one.
        let fd = if p.get(4) == Some(&1) {
            tty::recv_fd(ch.0.as_raw_fd())?.map(|(fd, _)| fd)
        } else {
            None
        };
        procs.init = Some((init, fd));
        let mut st = 0;
        unsafe { libc::waitpid(pid, &mut st, 0) };
        procs.clone_reaped = true;
        pid = init;
    }
    let mut fds = Fds::default();
    ch.expect_fds(
        HOOKS,
        Some(STAGE_TIMEOUT),
        "mounting the root filesystem",
        &mut fds,
    )?;
    // linux.netDevices: the container's network namespace exists now.
    crate::netdevices::move_into(a.spec, pid).map_err(|e| Error::Child(e.to_string()))?;
    parent.run_create_hooks(pid).map_err(Error::Child)?;
    ch.send(HOOKS_DONE, &parent.hook_state(pid))?;
    // createContainer hooks run in the child during the next stage.
    let t =
        STAGE_TIMEOUT + hooks::total_timeout(a.spec.hooks().as_ref(), hooks::Kind::CreateContainer);
    fds.listener = listener_of(a.seccomp.as_ref(), pid, parent.hook_state(pid));
    ch.expect_fds(READY, Some(t), "finishing the container set-up", &mut fds)?;
    Ok((fds, pid))
}

/// Make the child a clean slate for the container: default signal
/// dispositions (Rust ignores SIGPIPE), nothing blocked.
fn reset_signals() {
    unsafe {
        for s in 1..libc::SIGRTMAX() {
            if s != libc::SIGKILL && s != libc::SIGSTOP {
                libc::signal(s, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

type ChildResult = std::result::Result<std::convert::Infallible, String>;

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The container's init, from birth to execve. Returns only on error.
fn init_child(
    a: &InitArgs,
    ch: &Channel,
    joins: &[Join],
    cgroupns: bool,
    userns: bool,
    caps: &Caps,
    handles: Handles,
) -> ChildResult {
    let Handles {
        fifo,
        procfd,
        unshare_later,
        idmapped,
    } = handles;
    if let Some(fd) = a.lock_fd {
        unsafe { libc::close(fd) };
    }
    reset_signals();
    let _ = sys::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as _,
        "PR_SET_PDEATHSIG",
    );
    let p = process_of(a.spec);

    ch.expect(GO, None, "waiting for the parent").map_err(s)?;
    // Dumpable until here only when an unprivileged parent wrote our maps.
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE");
    for j in joins {
        if j.typ != LinuxNamespaceType::Pid && j.typ != LinuxNamespaceType::Time {
            namespaces::enter(j)
                .map_err(|e| format!("linux.namespaces ({}): {e}", namespaces::proc_name(j.typ)))?;
        }
    }
    if userns {
        // Root in the container's user namespace (maps were written by the
        // parent, or it was joined above).
        become_userns_root()?;
    }
    if unshare_later != 0 && unsafe { libc::unshare(unshare_later) } < 0 {
        return Err(format!("linux.namespaces: {}", sys::last("unshare")));
    }
    if unshare_later & libc::CLONE_NEWPID != 0 {
        match sys::clone3_pidfd(0, None) {
            Ok((0, _)) => {}
            Ok((init, fd)) => {
                // The init's pid, then its pidfd: the parent signals it
                // through that, never by a number.
                let mut m = init.to_ne_bytes().to_vec();
                m.push(fd.is_some() as u8);
                let _ = ch.send_child(PID, &m);
                if let Some(fd) = fd {
                    let _ = tty::send_fd(ch.0.as_raw_fd(), fd.as_raw_fd(), "pidfd");
                }
                unsafe { libc::_exit(0) };
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    if cgroupns && unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } < 0 {
        return Err(sys::last("unshare cgroup namespace").to_string());
    }
    if unsafe { libc::setsid() } < 0 {
        return Err(sys::last("setsid").to_string());
    }
    unsafe { libc::umask(0o022) };

    if let Some(h) = a.spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| format!("hostname: sethostname: {e}"))?;
    }
    if let Some(d) = a.spec.domainname().as_ref().filter(|h| !h.is_empty()) {
        let c = sys::cstr(d);
        if unsafe { libc::setdomainname(c.as_ptr(), d.len()) } < 0 {
            return Err(format!("domainname: {}", sys::last("setdomainname")));
        }
    }

    let plan = rootfs::Plan {
        spec: a.spec,
        bundle: a.bundle,
        rootfs: a.rootfs.clone(),
        overlay: a.overlay.as_ref().map(|o| rootfs::Overlay {
            lower: o.lower.clone(),
            upper: o.upper.clone(),
            work: o.work.clone(),
            merged: o.merged.clone(),
        }),
        // Without a cgroup of its own the container sees the hierarchy
        // it was born in (the caller's).
        cgroup_path: a.cgroup.map_or("", Cgroup::path),
        cgroupns,
        userns,
        idmapped: &idmapped,
        host_cgroups: None,
        sys: crate::syscall::LINUX,
    };
    // Without a mount namespace the container runs in the host's: no
    // rootfs set-up at all (validation refused every field that needs
    // one), only a chroot into root.path, as runc does.
    let mountns = crate::spec::has_namespace(a.spec, LinuxNamespaceType::Mount);
    let root = if mountns {
        rootfs::prepare(&plan).map_err(s)?
    } else {
        rootfs::Root::open(&a.rootfs, crate::syscall::LINUX).map_err(s)?
    };
    drop(idmapped);

    // Terminal: the pty comes from the container's devpts instance.
    let mut slave = None;
    if p.terminal() == Some(true) {
        let master = rootfs::open_ptmx(&root).map_err(|e| format!("process.terminal: {e}"))?;
        let peer = hand_out_pty(&master, p, a.console_socket.as_ref(), a.relay_tty, ch)?;
        rootfs::bind_console(&root, &peer)
            .map_err(|e| format!("process.terminal: /dev/console: {e}"))?;
        slave = Some(peer);
    }
    if mountns {
        rootfs::mask_and_protect(a.spec, &root).map_err(s)?;
    }
    rootfs::sysctl(a.spec).map_err(s)?;

    ch.send_child(HOOKS, &[]).map_err(s)?;
    let states = ch
        .expect(HOOKS_DONE, None, "waiting for createRuntime hooks")
        .map_err(s)?;
    if let Some(h) = a.spec.hooks() {
        // In the container's namespaces, before pivot_root, as runc does
        // (the hook path resolves in the runtime's filesystem).
        hooks::run(
            hooks::Kind::CreateContainer,
            hooks::hooks_of(h, hooks::Kind::CreateContainer),
            &states,
        )
        .map_err(s)?;
    }

    // runc creates a missing cwd; do it while the root is still writable.
    let _ = rootfs::mkdir_all(&root.fd, p.cwd(), false);
    if mountns {
        rootfs::enter(a.spec, &root, a.no_pivot).map_err(s)?;
    } else {
        rootfs::chroot(&root).map_err(s)?;
    }
    let cwd = open_cwd(p.cwd())?;
    if let Some(peer) = &slave {
        tty::become_console(peer).map_err(s)?;
    }

    if !a.no_new_keyring {
        security::new_session_keyring(a.id);
    }
    let linux = a.spec.linux().as_ref();
    let ready = become_process(
        p,
        linux.and_then(|l| l.personality().as_ref()),
        linux.and_then(|l| l.memory_policy().as_ref()),
        caps,
        a.seccomp.as_ref(),
        cwd,
        a.preserve_fds,
        ch,
        &procfd,
    )?;

    // The seccomp filter may be loaded: from here on only syscalls that
    // every profile allows (runc makes the same ones after its filter):
    // prctl, write, openat, close, execve.
    // Ready: `create` may return. From here on nobody waits for our
    // errors except `start` (through the FIFO) and our own stderr.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, "PR_SET_PDEATHSIG");
    ch.send_child(READY, &[]).map_err(s)?;
    let path = sys::cstr(format!("self/fd/{}", fifo.as_raw_fd()));
    let w = unsafe {
        libc::openat(
            procfd.fd().as_raw_fd(),
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
    drop(fifo);
    drop(procfd);
    // startContainer hooks run now, in the container, with the state
    // `created` (as runc gives it); their failure is reported to `start`
    // through the FIFO: "0" is success, "1<error>" not.
    if let Some(h) = a.spec.hooks()
        && let list = hooks::hooks_of(h, hooks::Kind::StartContainer)
        && !list.is_empty()
        && let Err(e) = hooks::run(
            hooks::Kind::StartContainer,
            list,
            &hooks::with_status(&states, "created"),
        )
    {
        let m = format!("1{e}");
        unsafe { libc::write(w, m.as_ptr() as *const libc::c_void, m.len()) };
        unsafe { libc::_exit(127) };
    }
    // "0": started. The FIFO stays open (close-on-exec) until the execve:
    // `start` waits for it to close, and a failed execve is reported to it
    // as "2<error>" before the FIFO closes.
    unsafe { libc::write(w, b"0".as_ptr() as *const libc::c_void, 1) };
    let e = exec(a.seccomp.as_ref(), &ready);
    let m = match e {
        Err(m) => m,
        Ok(never) => match never {},
    };
    let report = format!("2{m}");
    unsafe { libc::write(w, report.as_ptr() as *const libc::c_void, report.len()) };
    fail_after_start(&m)
}

/// An error after `create` returned: to our stderr (as runc's init does),
/// then exit 127 (the shell's "cannot execute").
fn fail_after_start(msg: &str) -> ! {
    let line = format!("myrt: container init: error: {msg}\n");
    unsafe {
        libc::write(2, line.as_ptr() as *const libc::c_void, line.len());
        libc::_exit(127)
    }
}

/// The final, plain execve, under the seccomp filter if any (profiles
/// recorded from runc allow execve, not always execveat). This process runs
/// myrt's sealed image (`security::exe`), so even a program whose
/// interpreter is `/proc/self/exe` only ever reaches that read-only image.
fn exec(filter: Option<&seccomp::Program>, r: &Ready) -> ChildResult {
    let Ready {
        exe, argv, envp, ..
    } = r;
    let mut av: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    av.push(std::ptr::null());
    let mut ev: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    ev.push(std::ptr::null());
    // A filter that kills execve would kill us silently: say so instead.
    if filter.is_some_and(|f| f.kills(libc::SYS_execve, [0; 6])) {
        return Err(format!(
            "exec {}: linux.seccomp kills the process at execve (SIGSYS)",
            exe.to_string_lossy()
        ));
    }
    unsafe { libc::execve(exe.as_ptr(), av.as_ptr(), ev.as_ptr()) };
    Err(format!(
        "exec {}: {}",
        exe.to_string_lossy(),
        errno_text(&std::io::Error::last_os_error())
    ))
}

/// An errno as runc (Go) words it: "argument list too long".
fn errno_text(e: &std::io::Error) -> String {
    let raw = e.raw_os_error().unwrap_or(0);
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
fn open_cwd(cwd: &Path) -> std::result::Result<OwnedFd, String> {
    let field = || format!("process.cwd ({})", cwd.display());
    let root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| format!("{}: {e}", field()))?;
    sys::open_in_root(root.as_raw_fd(), cwd, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| format!("{}: {e}", field()))
}

/// Change into the cwd opened by `open_cwd` (as the container user), and
/// check that it is inside the container's root.
fn enter_cwd(dir: &OwnedFd, cwd: &Path) -> std::result::Result<(), String> {
    let field = || format!("process.cwd ({})", cwd.display());
    if unsafe { libc::fchdir(dir.as_raw_fd()) } < 0 {
        return Err(format!("{}: {}", field(), sys::last("chdir")));
    }
    match std::env::current_dir() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(format!("{}: is outside the container", field())),
    }
}

/// Open the peer of a new pty master, size it (`process.consoleSize`), and
/// send the master to the console socket, or to the parent for its relay.
fn hand_out_pty(
    master: &OwnedFd,
    p: &Process,
    console_socket: Option<&OwnedFd>,
    relay: bool,
    ch: &Channel,
) -> std::result::Result<OwnedFd, String> {
    let peer = tty::open_peer(master).map_err(|e| format!("process.terminal: {e}"))?;
    if let Some(b) = p.console_size() {
        tty::set_size(peer.as_raw_fd(), b.height() as u16, b.width() as u16);
    }
    if let Some(sock) = console_socket {
        tty::send_fd(sock.as_raw_fd(), master.as_raw_fd(), "/dev/ptmx")
            .map_err(|e| format!("--console-socket: {e}"))?;
    } else if relay {
        ch.send_child(PTY, &[]).map_err(s)?;
        tty::send_fd(ch.0.as_raw_fd(), master.as_raw_fd(), "/dev/ptmx").map_err(s)?;
    }
    Ok(peer)
}

/// A process ready for its final execve.
struct Ready {
    exe: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
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
#[allow(clippy::too_many_arguments)]
fn become_process(
    p: &Process,
    personality: Option<&oci_spec::runtime::LinuxPersonality>,
    memory_policy: Option<&oci_spec::runtime::LinuxMemoryPolicy>,
    caps: &Caps,
    seccomp: Option<&seccomp::Program>,
    cwd: OwnedFd,
    preserve_fds: u32,
    ch: &Channel,
    proc: &sys::ProcFs,
) -> std::result::Result<Ready, String> {
    security::set_personality(personality).map_err(s)?;
    security::set_io_priority(p).map_err(s)?;
    security::set_scheduler(p).map_err(s)?;
    security::set_memory_policy(memory_policy).map_err(s)?;
    security::set_rlimits(p).map_err(s)?;
    security::set_apparmor(p, proc).map_err(s)?;
    let env = container_env(p);
    let exe = find_executable(p, &env)?;
    let (argv, envp) = exec_vectors(p, env)?;
    enter_cwd(&cwd, p.cwd())?;
    drop(cwd);
    security::close_fds(preserve_fds).map_err(s)?;
    caps.drop_bounding().map_err(s)?;
    security::set_user(p, proc).map_err(s)?;
    let nnp = p.no_new_privileges() == Some(true);
    if !nnp && let Some(prog) = seccomp {
        if p.user().uid() != 0 {
            Caps::raise_effective().map_err(s)?;
        }
        load_filter(prog, ch)?;
    }
    caps.apply().map_err(s)?;
    security::set_no_new_privs(p).map_err(s)?;
    if nnp && let Some(prog) = seccomp {
        load_filter(prog, ch)?;
    }
    Ok(Ready { exe, argv, envp })
}

/// Load the seccomp filter; a notify fd goes to the parent, which hands it
/// to the agent at `linux.seccomp.listenerPath`.
fn load_filter(prog: &seccomp::Program, ch: &Channel) -> std::result::Result<(), String> {
    let fd = prog
        .load()
        .map_err(|e| format!("linux.seccomp: load: {e}"))?;
    if let Some(fd) = fd {
        ch.send_child(NOTIFY, &[]).map_err(s)?;
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
fn find_executable(p: &Process, env: &[String]) -> std::result::Result<CString, String> {
    use std::os::unix::fs::PermissionsExt;
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let fail = |why: String| Err(format!("process.args[0]: exec: {arg0:?}: {why}"));
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

fn exec_vectors(
    p: &Process,
    env: Vec<String>,
) -> std::result::Result<(Vec<CString>, Vec<CString>), String> {
    let argv = p
        .args()
        .iter()
        .flatten()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| "process.args: contains a NUL byte".to_string())
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let envp = env
        .into_iter()
        .map(|e| CString::new(e).map_err(|_| "process.env: contains a NUL byte".to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((argv, envp))
}

/// What `exec` needs to start a process in a running container.
pub struct ExecArgs<'a> {
    pub id: &'a str,
    pub container_pid: i32,
    /// A pidfd of the container's init, opened before its liveness check:
    /// the namespaces are joined through it, never by pid number.
    pub container: OwnedFd,
    pub process: &'a Process,
    pub namespaces: Vec<LinuxNamespaceType>,
    /// `None`: the container has no cgroup of its own.
    pub cgroup: Option<&'a Cgroup>,
    pub console_socket: Option<OwnedFd>,
    pub relay_tty: bool,
    pub preserve_fds: u32,
    pub seccomp: Option<seccomp::Program>,
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    pub memory_policy: Option<oci_spec::runtime::LinuxMemoryPolicy>,
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
    let caps = Caps::resolve(a.process.capabilities().as_ref())?;
    let userns = joins & libc::CLONE_NEWUSER != 0;
    let (ours, theirs) = Channel::pair()?;
    // The host's procfs, for the child's /proc accesses once it is in the
    // container's mount namespace (where /proc is the container's).
    let proc = sys::ProcFs::open_host()?;
    let cg_fd = a.cgroup.map(Cgroup::dir_fd).transpose()?.flatten();
    // Entering the pid namespace for our child needs CAP_SYS_ADMIN in our
    // own user namespace too, which a user who is not root lacks: then the
    // child joins every namespace itself and forks the process (with
    // CLONE_PARENT, so it is our child), reports its pid and exits, as
    // runc's and crun's exec do. Costs a fork, only in that case.
    let intermediate = joins & libc::CLONE_NEWPID != 0 && userns && !crate::rootless::privileged();
    let mut restore = None;
    if joins & libc::CLONE_NEWPID != 0 && !intermediate {
        let own = sys::open(Path::new("/proc/self/ns/pid"), libc::O_RDONLY, 0)?;
        namespaces::join_process(&a.container, libc::CLONE_NEWPID)?;
        restore = Some(own);
    }
    let pid = sys::clone3(0, cg_fd.as_ref().map(|f| f.as_raw_fd()));
    if let Some(own) = restore.as_ref().filter(|_| !matches!(pid, Ok(0))) {
        let _ = sys::setns(own.as_raw_fd(), libc::CLONE_NEWPID, "restore pid namespace");
    }
    let pid = pid?;
    if pid == 0 {
        drop(ours);
        let r = exec_child(
            &a,
            &theirs,
            (joins, intermediate),
            userns,
            &caps,
            chroot.as_ref(),
            &proc,
        );
        let msg = match r {
            Err(e) => e,
            Ok(never) => match never {},
        };
        let _ = theirs.send_child(ERROR, msg.as_bytes());
        unsafe { libc::_exit(255) };
    }
    drop(theirs);
    let mut pid = pid;
    let mut clone_reaped = false;
    let r = (|| -> Result<Option<OwnedFd>> {
        // execCPUAffinity.initial: before the move into the cgroup (which
        // resets the affinity to the cgroup's cpuset).
        if let Some(cpus) = a
            .process
            .exec_cpu_affinity()
            .as_ref()
            .and_then(|x| x.initial().as_ref())
        {
            security::set_affinity(pid, cpus, "process.execCPUAffinity.initial")?;
        }
        if let Some(cg) = a.cgroup.filter(|_| cg_fd.is_none()) {
            cg.add_pid(pid)?;
        }
        if let Some(adj) = a.process.oom_score_adj() {
            sys::write_file(
                &format!("/proc/{pid}/oom_score_adj"),
                adj.to_string().as_bytes(),
            )
            .map_err(|e| Error::Child(format!("process.oomScoreAdj: {e}")))?;
        }
        ours.send(GO, &[])?;
        let mut master = None;
        let mut fds = Fds {
            pty: None,
            listener: listener_of(a.seccomp.as_ref(), pid, a.state_json.clone()),
        };
        loop {
            match ours.recv(Some(STAGE_TIMEOUT), "exec")? {
                // EOF: the close-on-exec channel closed, execve succeeded.
                None => return Ok(master),
                Some((PTY, _)) => {
                    if let Some((fd, _)) = tty::recv_fd(ours.0.as_raw_fd())? {
                        master = Some(fd);
                    }
                }
                Some((NOTIFY, _)) => {
                    if let Some((fd, _)) = tty::recv_fd(ours.0.as_raw_fd())? {
                        fds.notify(fd)?;
                    }
                }
                Some((PID, p)) if intermediate && !clone_reaped => {
                    // The intermediate's fork, our child (CLONE_PARENT):
                    // its pid cannot be reused before we reap it.
                    let mut st = 0;
                    // SAFETY: waitpid on our own child; st is a valid out pointer.
                    unsafe { libc::waitpid(pid, &mut st, 0) };
                    clone_reaped = true;
                    pid = p
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .ok_or_else(|| Error::Child("bad pid message".into()))?;
                    fds.listener = listener_of(a.seccomp.as_ref(), pid, a.state_json.clone());
                    // Only now may it go on (whatever it sends is its own).
                    ours.send(GO, &[])?;
                }
                Some((ERROR, p)) => {
                    return Err(Error::Child(String::from_utf8_lossy(&p).into_owned()));
                }
                Some((t, _)) => return Err(Error::Child(format!("unexpected sync message {t}"))),
            }
        }
    })();
    match r {
        Ok(m) => Ok((pid, m)),
        Err(e) => {
            // SAFETY: pid is our unreaped child (the intermediate, or its
            // fork once the intermediate was reaped): kill and reap it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let mut st = 0;
            // SAFETY: as above; st is a valid out pointer.
            unsafe { libc::waitpid(pid, &mut st, 0) };
            Err(e)
        }
    }
}

fn exec_child(
    a: &ExecArgs,
    ch: &Channel,
    (joins, intermediate): (i32, bool),
    userns: bool,
    caps: &Caps,
    chroot: Option<&OwnedFd>,
    proc: &sys::ProcFs,
) -> ChildResult {
    if let Some(fd) = a.lock_fd {
        unsafe { libc::close(fd) };
    }
    reset_signals();
    let _ = sys::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as _,
        "PR_SET_PDEATHSIG",
    );
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE");
    let p = a.process;
    ch.expect(GO, None, "waiting for the parent").map_err(s)?;
    if intermediate {
        namespaces::join_process(&a.container, joins)
            .map_err(|e| format!("join the container's namespaces: {e}"))?;
        match sys::clone3(CLONE_PARENT, None).map_err(s)? {
            0 => {
                let _ = sys::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as _,
                    "PR_SET_PDEATHSIG",
                );
                ch.expect(GO, None, "waiting for the parent").map_err(s)?;
            }
            child => {
                let _ = ch.send_child(PID, &child.to_ne_bytes());
                // SAFETY: _exit ends this forked process without running
                // the parent's atexit handlers.
                unsafe { libc::_exit(0) };
            }
        }
    } else {
        namespaces::join_process(&a.container, joins & !libc::CLONE_NEWPID)
            .map_err(|e| format!("join the container's namespaces: {e}"))?;
    }
    // execCPUAffinity.final: now that the process is in the cgroup.
    if let Some(cpus) = p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|x| x.cpu_affinity_final().as_ref())
    {
        security::set_affinity(0, cpus, "process.execCPUAffinity.final").map_err(s)?;
    }
    if userns {
        become_userns_root()?;
    }
    if let Some(root) = chroot {
        let dot = sys::cstr(".");
        if unsafe { libc::fchdir(root.as_raw_fd()) } < 0
            || unsafe { libc::chroot(dot.as_ptr()) } < 0
        {
            return Err(format!(
                "enter the container's root: {}",
                sys::last("chroot")
            ));
        }
    }
    if unsafe { libc::setsid() } < 0 {
        return Err(sys::last("setsid").to_string());
    }
    unsafe { libc::umask(0o022) };
    if p.terminal() == Some(true) {
        let master = sys::open(Path::new("/dev/ptmx"), libc::O_RDWR | libc::O_NOCTTY, 0)
            .map_err(|e| format!("process.terminal: {e}"))?;
        let peer = hand_out_pty(&master, p, a.console_socket.as_ref(), a.relay_tty, ch)?;
        tty::become_console(&peer).map_err(s)?;
    }
    let cwd = open_cwd(p.cwd())?;
    let ready = become_process(
        p,
        a.personality.as_ref(),
        a.memory_policy.as_ref(),
        caps,
        a.seccomp.as_ref(),
        cwd,
        a.preserve_fds,
        ch,
        proc,
    )?;
    // A detached exec outlives us.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, "PR_SET_PDEATHSIG");
    exec(a.seccomp.as_ref(), &ready)
}

/// Block the signals the foreground supervisor handles; call before the
/// clone so none is lost. Returns a signalfd.
pub fn block_signals() -> sys::Result<OwnedFd> {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGABRT,
            libc::SIGTRAP,
        ] {
            libc::sigdelset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(sys::last("signalfd"));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Exit status of a wait status, shell style (128+N for signal N).
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Foreground supervision: forward signals to `pid`, relay the pty if any,
/// reap children (we are a subreaper), and return `pid`'s exit code.
pub fn supervise(pid: i32, sigfd: &OwnedFd, master: Option<OwnedFd>) -> i32 {
    let _raw = master.as_ref().and_then(|_| tty::RawMode::enter(0));
    if let Some(m) = &master {
        tty::copy_size(0, m.as_raw_fd());
    }
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![libc::pollfd {
            fd: sigfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(m) = &master {
            if master_open {
                fds.push(libc::pollfd {
                    fd: m.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            if stdin_open {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        for pfd in &fds {
            if pfd.revents == 0 {
                continue;
            }
            if pfd.fd == sigfd.as_raw_fd() {
                let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
                let n = unsafe {
                    libc::read(
                        sigfd.as_raw_fd(),
                        &mut si as *mut _ as *mut libc::c_void,
                        std::mem::size_of::<libc::signalfd_siginfo>(),
                    )
                };
                if n <= 0 {
                    continue;
                }
                let sig = si.ssi_signo as i32;
                match sig {
                    libc::SIGCHLD => {
                        // Reap everything; stop when the container's init is gone.
                        loop {
                            let mut st = 0;
                            let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                            if r <= 0 {
                                break;
                            }
                            if r == pid {
                                if let Some(m) = &master {
                                    drain(m.as_raw_fd());
                                }
                                return exit_code(st);
                            }
                        }
                    }
                    libc::SIGWINCH => {
                        if let Some(m) = &master {
                            tty::copy_size(0, m.as_raw_fd());
                        }
                    }
                    _ => unsafe {
                        libc::kill(pid, sig);
                    },
                }
            } else if Some(pfd.fd) == master.as_ref().map(|m| m.as_raw_fd()) {
                let n =
                    unsafe { libc::read(pfd.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if n <= 0 {
                    master_open = false;
                } else {
                    write_all(1, &buf[..n as usize]);
                }
            } else if pfd.fd == 0 {
                let n = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if n <= 0 {
                    stdin_open = false;
                } else if let Some(m) = &master {
                    write_all(m.as_raw_fd(), &buf[..n as usize]);
                }
            }
        }
    }
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    exit_code(st)
}

fn drain(fd: RawFd) {
    let mut buf = [0u8; 8192];
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 || pfd.revents & libc::POLLIN == 0 {
            return;
        }
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            return;
        }
        write_all(1, &buf[..n as usize]);
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        let n = unsafe { libc::write(fd, data.as_ptr() as *const libc::c_void, data.len()) };
        if n <= 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// setresgid/setresuid(0) after entering a user namespace; a failure (no
/// mapping for 0) is an error, never a process left with the host's ids.
fn become_userns_root() -> std::result::Result<(), String> {
    if unsafe { libc::setresgid(0, 0, 0) } < 0 {
        return Err(format!("linux.gidMappings: {}", sys::last("setresgid 0")));
    }
    if unsafe { libc::setresuid(0, 0, 0) } < 0 {
        return Err(format!("linux.uidMappings: {}", sys::last("setresuid 0")));
    }
    Ok(())
}
