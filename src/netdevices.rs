//! `linux.netDevices`: host network interfaces moved into the container's
//! network namespace (renamed to `name` when given), with their permanent
//! addresses kept, through rtnetlink. Done by the parent, from the
//! runtime's network namespace, once the container's exists.

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, send, socket,
};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::sys;

#[derive(Debug, thiserror::Error)]
#[error("linux.netDevices.{dev}: {reason}")]
pub struct Error {
    pub dev: String,
    pub reason: String,
}

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_EXCL: u16 = 0x200;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;

/// Is `name` a valid interface name (as the kernel's dev_valid_name)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn attr(buf: &mut Vec<u8>, typ: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align(buf.len()), 0);
}

/// (type, payload) of the attributes in `b`.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let typ = u16::from_ne_bytes([b[2], b[3]]);
        if len < 4 || len > b.len() {
            break;
        }
        v.push((typ, &b[4..len]));
        b = &b[align(len).min(b.len())..];
    }
    v
}

/// An address to carry over: the ifaddrmsg fields and its attributes.
struct Addr {
    family: u8,
    prefixlen: u8,
    scope: u8,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Netlink {
    fn open() -> sys::Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| sys::io_err("netlink socket", e.into()))?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// Send one request (header added here) and collect the reply
    /// messages' payloads up to the ACK / DONE.
    fn request(&mut self, typ: u16, flags: u16, body: &[u8]) -> sys::Result<Vec<(u16, Vec<u8>)>> {
        self.seq += 1;
        let mut m = Vec::with_capacity(16 + body.len());
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&typ.to_ne_bytes());
        m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        send(self.fd.as_raw_fd(), &m, MsgFlags::empty())
            .map_err(|e| sys::io_err("netlink send", e.into()))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| sys::io_err("netlink recv", e.into()))?;
            let mut b = &buf[..n];
            while b.len() >= 16 {
                let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let mtype = u16::from_ne_bytes([b[4], b[5]]);
                if len < 16 || len > b.len() {
                    return Err(sys::errno("netlink: short message", libc::EPROTO));
                }
                let payload = &b[16..len];
                match mtype {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code =
                            i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        if code != 0 {
                            return Err(sys::errno("netlink", -code));
                        }
                        return Ok(out);
                    }
                    t => out.push((t, payload.to_vec())),
                }
                b = &b[align(len).min(b.len())..];
            }
        }
    }

    /// ifindex of `name`, or None.
    fn index(&mut self, name: &str) -> sys::Result<Option<i32>> {
        let mut body = vec![0u8; 16];
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        attr(&mut body, IFLA_IFNAME, &n);
        match self.request(RTM_GETLINK, NLM_F_ACK, &body) {
            Ok(msgs) => Ok(msgs
                .iter()
                .find(|(t, p)| *t == RTM_NEWLINK && p.len() >= 16)
                .map(|(_, p)| i32::from_ne_bytes([p[4], p[5], p[6], p[7]]))),
            Err(e) if e.source.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The permanent addresses of interface `index`.
    fn addresses(&mut self, index: i32) -> sys::Result<Vec<Addr>> {
        let body = vec![0u8; 8];
        let mut v = Vec::new();
        for (t, p) in self.request(RTM_GETADDR, NLM_F_DUMP, &body)? {
            if t != 20 || p.len() < 8 {
                continue;
            }
            let idx = i32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
            if idx != index {
                continue;
            }
            let a = attrs(&p[8..]);
            let mut flags = p[2] as u32;
            if let Some((_, f)) = a.iter().find(|(t, f)| *t == IFA_FLAGS && f.len() == 4) {
                flags = u32::from_ne_bytes([f[0], f[1], f[2], f[3]]);
            }
            if flags & IFA_F_PERMANENT == 0 {
                continue;
            }
            v.push(Addr {
                family: p[0],
                prefixlen: p[1],
                scope: p[3],
                attrs: a
                    .into_iter()
                    .filter(|(t, _)| matches!(*t, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST))
                    .map(|(t, d)| (t, d.to_vec()))
                    .collect(),
            });
        }
        Ok(v)
    }

    /// Move interface `index` into the namespace `ns`, named `name`.
    fn move_to(&mut self, index: i32, ns: &OwnedFd, name: &str) -> sys::Result<()> {
        let mut body = vec![0u8; 16];
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        attr(&mut body, IFLA_NET_NS_FD, &ns.as_raw_fd().to_ne_bytes());
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        attr(&mut body, IFLA_IFNAME, &n);
        self.request(RTM_NEWLINK, NLM_F_ACK, &body).map(|_| ())
    }

    fn add_address(&mut self, index: i32, a: &Addr) -> sys::Result<()> {
        let mut body = vec![a.family, a.prefixlen, IFA_F_PERMANENT as u8, a.scope];
        body.extend_from_slice(&index.to_ne_bytes());
        for (t, d) in &a.attrs {
            attr(&mut body, *t, d);
        }
        match self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body) {
            Err(e) if e.source.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map(|_| ()),
        }
    }
}

/// A netlink socket in the network namespace `ns` (we enter it for the
/// socket() call only; the socket stays in it).
fn netlink_in(ns: &OwnedFd) -> sys::Result<Netlink> {
    let own = sys::open(Path::new("/proc/self/ns/net"), libc::O_RDONLY, 0)?;
    sys::setns(
        ns.as_raw_fd(),
        libc::CLONE_NEWNET,
        "container network namespace",
    )?;
    let nl = Netlink::open();
    sys::setns(
        own.as_raw_fd(),
        libc::CLONE_NEWNET,
        "back to our network namespace",
    )?;
    nl
}

/// Move the config's `linux.netDevices` into the network namespace of
/// `pid` (the container's init, not yet running user code).
pub fn move_into(spec: &Spec, pid: i32) -> Result<(), Error> {
    let Some(devs) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(());
    };
    if devs.is_empty() {
        return Ok(());
    }
    let err = |dev: &str, reason: String| Error {
        dev: dev.to_string(),
        reason,
    };
    let ns = sys::open(Path::new(&format!("/proc/{pid}/ns/net")), libc::O_RDONLY, 0)
        .map_err(|e| err("", e.to_string()))?;
    let mut host = Netlink::open().map_err(|e| err("", e.to_string()))?;
    let mut theirs = netlink_in(&ns).map_err(|e| err("", e.to_string()))?;
    let mut names: Vec<&String> = devs.keys().collect();
    names.sort();
    for dev in names {
        let new = devs[dev].name().clone().unwrap_or_else(|| dev.clone());
        let index = host
            .index(dev)
            .map_err(|e| err(dev, e.to_string()))?
            .ok_or_else(|| err(dev, "no such network interface".into()))?;
        if theirs
            .index(&new)
            .map_err(|e| err(dev, e.to_string()))?
            .is_some()
        {
            return Err(err(
                dev,
                format!("{new:?} already exists in the container's network namespace"),
            ));
        }
        let addrs = host
            .addresses(index)
            .map_err(|e| err(dev, format!("read addresses: {e}")))?;
        host.move_to(index, &ns, &new)
            .map_err(|e| err(dev, format!("move into the container as {new:?}: {e}")))?;
        let idx = theirs
            .index(&new)
            .map_err(|e| err(dev, e.to_string()))?
            .ok_or_else(|| err(dev, format!("{new:?} missing after the move")))?;
        for a in &addrs {
            theirs
                .add_address(idx, a)
                .map_err(|e| err(dev, format!("restore an address: {e}")))?;
        }
    }
    Ok(())
}
