//! Terminals: pty allocation, the console socket (the pty master sent with
//! SCM_RIGHTS, runc's protocol), and the foreground relay's raw mode and
//! window size.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("console socket {path}: {source}")]
    Socket {
        path: String,
        source: std::io::Error,
    },
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

/// Receive one fd sent with [`send_fd`]; also returns the message body.
pub fn recv_fd(sock: RawFd) -> sys::Result<Option<(OwnedFd, Vec<u8>)>> {
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| sys::errno("receive fd", e as i32))?;
    let n = msg.bytes;
    let mut got = None;
    for c in msg
        .cmsgs()
        .map_err(|e| sys::errno("receive fd", e as i32))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    Ok(got.map(|fd| (fd, buf[..n].to_vec())))
}

/// Unlock a pty master and open its peer (the slave) without a path lookup.
pub fn open_peer(master: &OwnedFd) -> sys::Result<OwnedFd> {
    let unlock: libc::c_int = 0;
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(sys::last("unlock pty"));
    }
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(sys::last("open pty peer"));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Copy the window size of `from` to `to` (SIGWINCH handling).
pub fn copy_size(from: RawFd, to: RawFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } == 0 {
        unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    }
}

/// Make `slave` the controlling terminal and stdio of this process (which
/// must be a session leader).
pub fn become_console(slave: &OwnedFd) -> sys::Result<()> {
    for target in 0..3 {
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(sys::last("dup2 pty"));
        }
    }
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(sys::last("set controlling terminal"));
    }
    Ok(())
}

/// Puts a terminal in raw mode and restores it when dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        if unsafe { libc::isatty(fd) } != 1 {
            return None;
        }
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
            return None;
        }
        let saved = t;
        unsafe { libc::cfmakeraw(&mut t) };
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}
