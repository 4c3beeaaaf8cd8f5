//! Terminals: `process.terminal` (where the pty master goes, checked before
//! anything is made), the console socket (the pty master sent with
//! SCM_RIGHTS, runc's protocol), and the foreground supervisor: signal
//! forwarding, reaping, and the pty relay with its raw mode and window
//! size.

use std::io::{IoSlice, IoSliceMut};
use std::ops::RangeInclusive;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use oci_spec::runtime::Process;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::sys::stat::{FileStat, fstat};
use nix::sys::statfs::{DEVPTS_SUPER_MAGIC, fstatfs};
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("console socket {path}: {source}")]
    Socket {
        path: String,
        source: std::io::Error,
    },
    #[error("process.terminal: a terminal needs --console-socket (or run in the foreground)")]
    InitNeedsConsoleSocket,
    #[error("--tty with --detach needs --console-socket")]
    DetachedExecNeedsConsoleSocket,
    /// The pty could not be made, or what was opened is not a pty of the
    /// container's devpts.
    #[error("process.terminal: {0}")]
    Pty(String),
    #[error(transparent)]
    Sys(#[from] sys::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Connect to the caller's console socket (`--console-socket`).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).map_err(|source| Error::Socket {
        path: path.display().to_string(),
        source,
    })?;
    Ok(s.into())
}

/// Send `fd` over a unix socket with `name` as the message body.
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> sys::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| sys::errno("send pty master", e as i32))?;
    Ok(())
}

/// Receive one fd sent with [`send_fd`] (its message body, the fd's name,
/// is read and dropped).
pub fn recv_fd(sock: RawFd) -> sys::Result<Option<OwnedFd>> {
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| sys::errno("receive fd", e as i32))?;
    let mut got = None;
    for c in msg
        .cmsgs()
        .map_err(|e| sys::errno("receive fd", e as i32))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: SCM_RIGHTS installed `fd` in this process just now;
                // nothing else holds it, so this OwnedFd is its only owner.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    Ok(got)
}

/// The pty multiplexer's device (TTYAUX_MAJOR 5, minor 2) and its inode
/// number in every devpts instance.
const PTMX_RDEV: (u32, u32) = (5, 2);
const PTMX_INO: u64 = 2;
/// The char majors of Unix98 pty peers (UNIX98_PTY_SLAVE_MAJOR, 8 majors).
const PTY_PEER_MAJORS: RangeInclusive<u32> = 136..=143;

fn pty_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Pty(format!("{what}: {e}"))
}

fn not_ptmx(why: &str) -> Error {
    Error::Pty(format!(
        "/dev/pts/ptmx in the container is not a devpts pseudo-terminal multiplexer ({why})"
    ))
}

fn describe(st: &FileStat) -> String {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFCHR => "char device",
        libc::S_IFBLK => "block device",
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "file",
    };
    let (maj, min) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    format!("a {kind} {maj}:{min}, inode {}", st.st_ino)
}

/// Open the pty multiplexer of the devpts mounted at /dev/pts in the
/// container whose root is `root`: for the init's terminal and `exec -t`
/// alike. Never the container's /dev/ptmx, which its processes may have
/// replaced with anything. Nothing is opened for reading or writing before
/// it is known to be devpts's: /dev/pts (resolved in the root) must be a
/// devpts mount (fstatfs); its `ptmx` is opened without leaving that mount,
/// so a bind mount over it (another devpts instance's multiplexer, a file)
/// or a symlink is refused; and what was opened must be the multiplexer
/// itself, char 5:2 with inode 2.
pub fn open_ptmx(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let dir = sys::open_in_root(
        root.as_raw_fd(),
        Path::new("/dev/pts"),
        libc::O_PATH | libc::O_DIRECTORY,
    )
    .map_err(|e| {
        pty_err(
            "a terminal needs a devpts mount at /dev/pts in the container",
            e,
        )
    })?;
    let fs = fstatfs(&dir).map_err(|e| pty_err("fstatfs /dev/pts in the container", e))?;
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC {
        return Err(Error::Pty(format!(
            "/dev/pts in the container is not a devpts mount (filesystem type {:#x})",
            fs.filesystem_type().0
        )));
    }
    let master = sys::open_entry_same_mount(dir.as_fd(), "ptmx", libc::O_RDWR | libc::O_NOCTTY)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EXDEV) => not_ptmx("something is mounted over it"),
            Some(libc::ELOOP) => not_ptmx("a symlink"),
            _ => pty_err("open /dev/pts/ptmx in the container", e),
        })?;
    let st = fstat(&master).map_err(|e| pty_err("fstat /dev/pts/ptmx in the container", e))?;
    let ptmx = libc::makedev(PTMX_RDEV.0, PTMX_RDEV.1);
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != ptmx || st.st_ino != PTMX_INO {
        return Err(not_ptmx(&describe(&st)));
    }
    Ok(master)
}

/// Unlock a pty master and open its peer (the slave) without a path lookup
/// (TIOCGPTPEER), then check that the peer is a Unix98 pty of a devpts.
pub fn open_peer(master: &OwnedFd) -> Result<OwnedFd> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int through the pointer, which lives
    // on this stack frame for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(Error::Pty(sys::last("unlock pty").to_string()));
    }
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::Pty(sys::last("open pty peer").to_string()));
    }
    // SAFETY: the ioctl returned a fresh fd that only we hold.
    let peer = unsafe { OwnedFd::from_raw_fd(fd) };
    let fs = fstatfs(&peer).map_err(|e| pty_err("fstatfs pty peer", e))?;
    let st = fstat(&peer).map_err(|e| pty_err("fstat pty peer", e))?;
    let major = libc::major(st.st_rdev);
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC
        || st.st_mode & libc::S_IFMT != libc::S_IFCHR
        || !PTY_PEER_MAJORS.contains(&major)
    {
        return Err(Error::Pty(format!(
            "the pty peer is not a devpts pseudo-terminal ({}, filesystem type {:#x})",
            describe(&st),
            fs.filesystem_type().0
        )));
    }
    Ok(peer)
}

/// Set the window size of the terminal `fd` (best effort, as runc).
pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which lives
    // on this stack frame for the call.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Copy the window size of `from` to `to` (SIGWINCH handling).
pub fn copy_size(from: RawFd, to: RawFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize and TIOCSWINSZ reads one, both
    // through a pointer to `ws`, which lives on this stack frame.
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: as above.
        unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    }
}

/// Make `slave` the controlling terminal and stdio of this process (which
/// must be a session leader).
pub fn become_console(slave: &OwnedFd) -> sys::Result<()> {
    for target in 0..3 {
        // SAFETY: dup2 replaces stdio 0..2 of this process with the pty peer
        // on purpose; no Rust object owns fds 0..2 here.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(sys::last("dup2 pty"));
        }
    }
    // SAFETY: TIOCSCTTY takes an int by value (0: do not steal).
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(sys::last("set controlling terminal"));
    }
    Ok(())
}

/// Puts the terminal on stdin in raw mode and restores it when dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal.
    pub fn enter_stdin() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !std::io::IsTerminal::is_terminal(&stdin) {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// `process.terminal` of one process and where its pty master goes,
/// settled by the parent before anything is made. The child allocates the
/// pty (from the container's devpts, see [`open_ptmx`]) and
/// calls [`Terminal::hand_out`]; the foreground relay is [`supervise`].
pub struct Terminal {
    /// `process.terminal`.
    wanted: bool,
    /// The caller's `--console-socket`, connected (also without a
    /// terminal: a socket that does not answer is an error either way).
    console_socket: Option<OwnedFd>,
    /// No console socket, in the foreground: the master comes back to this
    /// myrt, for its relay.
    relay: bool,
    /// `process.consoleSize`: rows, columns (validated to fit).
    size: Option<(u16, u16)>,
}

impl Terminal {
    /// For a container's init (`create`, `run`): a terminal needs a
    /// console socket, or a `run` in the foreground that relays it.
    pub fn for_init(p: &Process, console_socket: Option<&Path>, foreground: bool) -> Result<Self> {
        let relay = foreground && console_socket.is_none();
        if p.terminal() == Some(true) && console_socket.is_none() && !relay {
            return Err(Error::InitNeedsConsoleSocket);
        }
        Terminal::new(p, console_socket, relay)
    }

    /// For `exec`: a detached terminal needs a console socket.
    pub fn for_exec(p: &Process, console_socket: Option<&Path>, detach: bool) -> Result<Self> {
        if p.terminal() == Some(true) && detach && console_socket.is_none() {
            return Err(Error::DetachedExecNeedsConsoleSocket);
        }
        Terminal::new(p, console_socket, !detach && console_socket.is_none())
    }

    fn new(p: &Process, console_socket: Option<&Path>, relay: bool) -> Result<Self> {
        Ok(Terminal {
            wanted: p.terminal() == Some(true),
            console_socket: console_socket.map(connect).transpose()?,
            relay,
            size: p
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
        })
    }

    /// Does the process get a terminal?
    pub fn wanted(&self) -> bool {
        self.wanted
    }

    /// In the child, with a new pty master: open its peer, size it, and send
    /// the master to the console socket, or with `to_parent` to the relay.
    /// Returns the peer, the process's terminal-to-be (see
    /// [`become_console`]).
    pub fn hand_out(
        &self,
        master: &OwnedFd,
        to_parent: impl FnOnce(&OwnedFd) -> sys::Result<()>,
    ) -> std::result::Result<OwnedFd, String> {
        let peer = open_peer(master).map_err(|e| e.to_string())?;
        if let Some((rows, cols)) = self.size {
            set_size(peer.as_raw_fd(), rows, cols);
        }
        if let Some(sock) = &self.console_socket {
            send_fd(sock.as_raw_fd(), master.as_raw_fd(), "/dev/ptmx")
                .map_err(|e| format!("--console-socket: {e}"))?;
        } else if self.relay {
            to_parent(master).map_err(|e| e.to_string())?;
        }
        Ok(peer)
    }
}

/// Block the signals the foreground supervisor handles; call before the
/// clone so none is lost. Returns a signalfd.
pub fn block_signals() -> sys::Result<OwnedFd> {
    // SAFETY: the set is a local, initialised by sigfillset before use;
    // signalfd returns a new fd that nothing else owns.
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
    let _raw = master.as_ref().and_then(|_| RawMode::enter_stdin());
    if let Some(m) = &master {
        copy_size(0, m.as_raw_fd());
    }
    let mut relay = master.map(Relay::new);
    loop {
        let mut fds = vec![pollin(sigfd.as_raw_fd())];
        if let Some(r) = &relay {
            fds.extend(r.open_fds().map(pollin));
        }
        // SAFETY: fds is a live array of fds.len() pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        for pfd in fds.iter().filter(|p| p.revents != 0) {
            if pfd.fd == sigfd.as_raw_fd() {
                if let Some(code) = on_signal(pid, sigfd, relay.as_ref()) {
                    return code;
                }
            } else if let Some(r) = &mut relay {
                r.copy_from(pfd.fd);
            }
        }
    }
    let mut st = 0;
    // SAFETY: waitpid writes only the status, a live local.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    exit_code(st)
}

fn pollin(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// One signal from the signalfd: SIGCHLD reaps (and returns `pid`'s exit
/// code once it is gone), SIGWINCH resizes the pty, anything else goes to
/// `pid`.
fn on_signal(pid: i32, sigfd: &OwnedFd, relay: Option<&Relay>) -> Option<i32> {
    // SAFETY: signalfd_siginfo is plain data, all zeroes is a valid value.
    let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    // SAFETY: reads at most size_of::<signalfd_siginfo>() bytes into si.
    let n = unsafe {
        libc::read(
            sigfd.as_raw_fd(),
            &mut si as *mut _ as *mut libc::c_void,
            std::mem::size_of::<libc::signalfd_siginfo>(),
        )
    };
    if n <= 0 {
        return None;
    }
    match si.ssi_signo as i32 {
        libc::SIGCHLD => {
            // Reap everything; stop when the container's init is gone.
            loop {
                let mut st = 0;
                // SAFETY: waitpid writes only the status, a live local.
                let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                if r <= 0 {
                    return None;
                }
                if r == pid {
                    if let Some(relay) = relay {
                        drain(relay.master.as_raw_fd());
                    }
                    return Some(exit_code(st));
                }
            }
        }
        libc::SIGWINCH => {
            if let Some(relay) = relay {
                copy_size(0, relay.master.as_raw_fd());
            }
            None
        }
        sig => {
            // SAFETY: kill takes no pointers.
            unsafe { libc::kill(pid, sig) };
            None
        }
    }
}

/// The foreground pty relay: our stdin to the master, the master to our
/// stdout, each until its end closes.
struct Relay {
    master: OwnedFd,
    master_open: bool,
    stdin_open: bool,
    buf: [u8; 8192],
}

impl Relay {
    fn new(master: OwnedFd) -> Self {
        Relay {
            master,
            master_open: true,
            stdin_open: true,
            buf: [0; 8192],
        }
    }

    /// The fds still to be read.
    fn open_fds(&self) -> impl Iterator<Item = RawFd> {
        let master = self.master_open.then_some(self.master.as_raw_fd());
        let stdin = self.stdin_open.then_some(0);
        master.into_iter().chain(stdin)
    }

    /// Copy what `fd` (the master or stdin) has to the other side.
    fn copy_from(&mut self, fd: RawFd) {
        let master = self.master.as_raw_fd();
        let (to, open) = if fd == master {
            (1, &mut self.master_open)
        } else if fd == 0 {
            (master, &mut self.stdin_open)
        } else {
            return;
        };
        // SAFETY: buf is a live, writable buffer of buf.len() bytes.
        let n = unsafe {
            libc::read(
                fd,
                self.buf.as_mut_ptr() as *mut libc::c_void,
                self.buf.len(),
            )
        };
        if n <= 0 {
            *open = false;
        } else {
            write_all(to, &self.buf[..n as usize]);
        }
    }
}

/// Copy what is left in the pty to stdout, without waiting.
fn drain(fd: RawFd) {
    let mut buf = [0u8; 8192];
    loop {
        let mut pfd = pollin(fd);
        // SAFETY: one pollfd, a live local.
        if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 || pfd.revents & libc::POLLIN == 0 {
            return;
        }
        // SAFETY: buf is a live, writable buffer of buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            return;
        }
        write_all(1, &buf[..n as usize]);
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: data is a live buffer of data.len() bytes.
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
