//! seccomp: compiling linux.seccomp to BPF (in the parent) and loading it
//! (in the container process, at the end of its set-up, before execve).
//!
//! [`compile`] runs libseccomp in the runtime before the container process
//! is cloned and keeps only the exported BPF instructions and the kernel
//! filter flags. [`Program::load`] is all the child does: one raw
//! `seccomp(SECCOMP_SET_MODE_FILTER)` call, with no allocation and no
//! libseccomp call, so it is safe between `clone()` and `execve()`.
//!
//! The child must have set `no_new_privs` (or hold `CAP_SYS_ADMIN`) before
//! [`Program::load`]; libseccomp's own NNP handling is switched off because
//! myrt decides that itself.
//!
//! With `SCMP_ACT_NOTIFY` the filter is loaded with
//! `SECCOMP_FILTER_FLAG_NEW_LISTENER` and [`Program::load`] returns the
//! listener fd. The container process passes it to the runtime over its
//! set-up channel, and the runtime (never the container) hands it to the
//! agent at `linux.seccomp.listenerPath` with [`send_to_listener`], with
//! the container's state.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use libseccomp::ScmpSyscall;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

// Kernel ABI constants (include/uapi/linux/seccomp.h).
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1 << 0;
const SECCOMP_FILTER_FLAG_LOG: libc::c_ulong = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: libc::c_ulong = 1 << 4;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

/// The errno used when `errnoRet`/`defaultErrnoRet` is absent (runtime-spec).
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
#[cfg(test)]
const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
#[cfg(test)]
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;
/// Syscalls have at most six arguments.
const MAX_ARGS: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of linux.seccomp has a value myrt cannot honour.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// libseccomp refused something; `field` says what we were doing.
    #[error("{field}: {source}")]
    Libseccomp {
        field: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Exporting the compiled filter failed.
    #[error("linux.seccomp: exporting the BPF program: {0}")]
    Export(#[source] io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn lib_err(field: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> Error {
    let field = field.into();
    move |source| Error::Libseccomp { field, source }
}

/// A compiled seccomp filter, ready to be loaded by the container process.
#[derive(Debug, Clone)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    skipped: Vec<String>,
}

impl Program {
    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)`; returns the
    /// notify fd when SCMP_ACT_NOTIFY is used (flag NEW_LISTENER), else None.
    ///
    /// Async-signal-safe: no allocation, no lock, one system call (see
    /// `Syscall::seccomp_load`, which the container's init calls).
    pub fn load(&self) -> io::Result<Option<OwnedFd>> {
        use crate::syscall::Syscall;
        crate::syscall::LINUX.seccomp_load(&self.filter, self.flags)
    }

    /// Whether some rule uses SCMP_ACT_NOTIFY (so `load` returns a listener fd).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// `linux.seccomp.listenerPath` and `listenerMetadata`, when notify is used.
    pub fn listener(&self) -> Option<(&Path, Option<&str>)> {
        match &self.listener_path {
            Some(p) if self.notify => Some((p.as_path(), self.listener_metadata.as_deref())),
            _ => None,
        }
    }

    /// The syscall names that were skipped because libseccomp does not know
    /// them for this architecture (for a debug log line).
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// The BPF instructions.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.filter
    }

    /// The `seccomp(2)` flags the filter is loaded with.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Whether the filter lets syscall `nr` with `args` through (ALLOW or
    /// LOG), found by running the BPF program on it as the kernel would
    /// (native architecture, instruction pointer 0). Only the tests use it,
    /// to check the interpreter behind [`Program::kills`] against the kernel.
    /// A program this interpreter cannot follow counts as not allowing.
    #[cfg(test)]
    pub fn allows(&self, nr: libc::c_long, args: [u64; 6]) -> bool {
        matches!(
            self.verdict(nr, args),
            Some(SECCOMP_RET_ALLOW | SECCOMP_RET_LOG)
        )
    }

    /// Whether the filter kills the caller of syscall `nr` (KILL_PROCESS,
    /// KILL_THREAD, or TRAP, whose SIGSYS kills a process that does not
    /// handle it).
    pub fn kills(&self, nr: libc::c_long, args: [u64; 6]) -> bool {
        matches!(
            self.verdict(nr, args),
            Some(SECCOMP_RET_KILL_PROCESS | SECCOMP_RET_KILL_THREAD | SECCOMP_RET_TRAP)
        )
    }

    /// The filter's action (SECCOMP_RET_* without data) for `nr` and `args`.
    fn verdict(&self, nr: libc::c_long, args: [u64; 6]) -> Option<u32> {
        const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;
        run_bpf(&self.filter, &seccomp_data(nr, args)).map(|r| r & SECCOMP_RET_ACTION_FULL)
    }
}

/// `struct seccomp_data` for the native architecture, as bytes.
fn seccomp_data(nr: libc::c_long, args: [u64; 6]) -> [u8; 64] {
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xc000_003e;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xc000_00b7;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const AUDIT_ARCH: u32 = 0;
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&(nr as i32).to_ne_bytes());
    d[4..8].copy_from_slice(&AUDIT_ARCH.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    d
}

/// A classic-BPF interpreter for seccomp programs (the instructions the
/// kernel's seccomp checker accepts). `None` on anything malformed.
fn run_bpf(prog: &[libc::sock_filter], data: &[u8; 64]) -> Option<u32> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let load = |off: u32| -> Option<u32> {
        let o = off as usize;
        (o.is_multiple_of(4) && o + 4 <= data.len())
            .then(|| u32::from_ne_bytes(data[o..o + 4].try_into().unwrap()))
    };
    for _ in 0..=prog.len() {
        let ins = prog.get(pc)?;
        let k = ins.k;
        pc += 1;
        let code = ins.code as u32;
        match code & 0x07 {
            // BPF_LD
            0x00 => match code {
                0x20 => a = load(k)?,              // LD W ABS
                0x00 => a = k,                     // LD IMM
                0x80 => a = data.len() as u32,     // LD W LEN
                0x60 => a = *mem.get(k as usize)?, // LD MEM
                _ => return None,
            },
            // BPF_LDX
            0x01 => match code {
                0x01 => x = k,                     // LDX IMM
                0x81 => x = data.len() as u32,     // LDX W LEN
                0x61 => x = *mem.get(k as usize)?, // LDX MEM
                _ => return None,
            },
            0x02 => *mem.get_mut(k as usize)? = a, // ST
            0x03 => *mem.get_mut(k as usize)? = x, // STX
            // BPF_ALU
            0x04 => {
                let v = if code & 0x08 != 0 { x } else { k };
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(v),
                    0x10 => a.wrapping_sub(v),
                    0x20 => a.wrapping_mul(v),
                    0x30 => a.checked_div(v)?,
                    0x40 => a | v,
                    0x50 => a & v,
                    0x60 => a.checked_shl(v).unwrap_or(0),
                    0x70 => a.checked_shr(v).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(v)?,
                    0xa0 => a ^ v,
                    _ => return None,
                };
            }
            // BPF_JMP
            0x05 => {
                let v = if code & 0x08 != 0 { x } else { k };
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc = pc.checked_add(k as usize)?;
                        continue;
                    }
                    0x10 => a == v,
                    0x20 => a > v,
                    0x30 => a >= v,
                    0x40 => a & v != 0,
                    _ => return None,
                };
                pc += if taken { ins.jt } else { ins.jf } as usize;
            }
            // BPF_RET
            0x06 => {
                return Some(match code & 0x18 {
                    0x00 => k,
                    0x10 => a,
                    _ => return None,
                });
            }
            // BPF_MISC
            0x07 => match code {
                0x07 => x = a, // TAX
                0x87 => a = x, // TXA
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

/// Compile linux.seccomp to a BPF program.
pub fn compile(s: &LinuxSeccomp) -> Result<Program> {
    let default_action = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default_action == ScmpAction::Notify {
        return Err(invalid(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let mut ctx =
        ScmpFilterContext::new(default_action).map_err(lib_err("linux.seccomp.defaultAction"))?;
    // myrt sets no_new_privs itself (process.noNewPrivileges); the export
    // below carries no NNP anyway, but keep libseccomp's view consistent.
    ctx.set_ctl_nnp(false).map_err(lib_err(
        "linux.seccomp (disabling libseccomp's no_new_privs)",
    ))?;

    let mut archs = Vec::new();
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let a = scmp_arch(*arch);
        archs.push(a);
        // The native architecture is always in a new filter.
        let present = ctx.is_arch_present(a).map_err(lib_err(field.clone()))?;
        if !present {
            ctx.add_arch(a).map_err(lib_err(field))?;
        }
    }

    let mut notify = false;
    let mut skipped = Vec::new();
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        if add_syscall_rules(&mut ctx, i, call, default_action, &mut skipped)? {
            notify = true;
        }
    }

    if notify && s.listener_path().is_none() {
        return Err(invalid(
            "linux.seccomp.listenerPath",
            "must be set when SCMP_ACT_NOTIFY is used",
        ));
    }
    // A listenerPath without any SCMP_ACT_NOTIFY rule has nothing to receive
    // and is accepted (runc does too); `Program::listener` is then None.

    let flags = filter_flags(s.flags().as_deref().unwrap_or(&[]), notify)?;
    // runc's -ENOSYS stub first (super::enosys), then libseccomp's filter
    let mut filter = super::enosys::stub(s, &archs, default_action);
    filter.extend(export(&ctx)?);
    Ok(Program {
        filter,
        flags,
        notify,
        listener_path: s.listener_path().clone(),
        listener_metadata: s.listener_metadata().clone(),
        skipped,
    })
}

/// Add the rules of `linux.seccomp.syscalls[i]`; returns whether it notifies.
fn add_syscall_rules(
    ctx: &mut ScmpFilterContext,
    i: usize,
    call: &LinuxSyscall,
    default_action: ScmpAction,
    skipped: &mut Vec<String>,
) -> Result<bool> {
    let base = format!("linux.seccomp.syscalls[{i}]");
    let act = action(call.action(), call.errno_ret(), &format!("{base}.errnoRet"))?;
    let conds = conditions(&base, call.args().as_deref().unwrap_or(&[]))?;
    // libseccomp refuses (EACCES) a rule whose action is the default one; such
    // a rule changes nothing, so it is dropped.
    if act == default_action {
        return Ok(false);
    }
    // Each argument may be compared only once per libseccomp rule. When one
    // index appears several times, each comparison becomes its own rule,
    // which makes them alternatives (OR) instead of all required (AND); this
    // is how runc reads such profiles, and profiles in the wild rely on it.
    let mut per_index = [0usize; MAX_ARGS];
    for c in &conds {
        per_index[c.0] += 1;
    }
    let repeated = per_index.iter().any(|&n| n > 1);

    for (j, name) in call.names().iter().enumerate() {
        let field = format!("{base}.names[{j}]");
        // A name libseccomp cannot resolve for this architecture is skipped,
        // not an error: profiles list syscalls of every architecture and of
        // newer kernels (runc ignores them the same way).
        let sys = match ScmpSyscall::from_name(name) {
            Ok(sys) => sys,
            Err(_) => {
                skipped.push(name.clone());
                continue;
            }
        };
        if repeated {
            for (_, c) in &conds {
                ctx.add_rule_conditional(act, sys, std::slice::from_ref(c))
                    .map_err(lib_err(format!("{field} ({name:?})")))?;
            }
        } else {
            let cmps: Vec<ScmpArgCompare> = conds.iter().map(|(_, c)| *c).collect();
            ctx.add_rule_conditional(act, sys, &cmps)
                .map_err(lib_err(format!("{field} ({name:?})")))?;
        }
    }
    Ok(act == ScmpAction::Notify)
}

/// The comparisons of one syscall rule, with their argument index.
fn conditions(base: &str, args: &[LinuxSeccompArg]) -> Result<Vec<(usize, ScmpArgCompare)>> {
    let mut out = Vec::with_capacity(args.len());
    for (k, a) in args.iter().enumerate() {
        let index = a.index();
        if index >= MAX_ARGS {
            return Err(invalid(
                format!("{base}.args[{k}].index"),
                format!("{index} is out of range (a syscall has arguments 0 to 5)"),
            ));
        }
        let value = a.value();
        let cmp = match a.op() {
            LinuxSeccompOperator::ScmpCmpNe => {
                ScmpArgCompare::new(index as u32, ScmpCompareOp::NotEqual, value)
            }
            LinuxSeccompOperator::ScmpCmpLt => {
                ScmpArgCompare::new(index as u32, ScmpCompareOp::Less, value)
            }
            LinuxSeccompOperator::ScmpCmpLe => {
                ScmpArgCompare::new(index as u32, ScmpCompareOp::LessOrEqual, value)
            }
            LinuxSeccompOperator::ScmpCmpEq => {
                ScmpArgCompare::new(index as u32, ScmpCompareOp::Equal, value)
            }
            LinuxSeccompOperator::ScmpCmpGe => {
                ScmpArgCompare::new(index as u32, ScmpCompareOp::GreaterEqual, value)
            }
            LinuxSeccompOperator::ScmpCmpGt => {
                ScmpArgCompare::new(index as u32, ScmpCompareOp::Greater, value)
            }
            // `value` is the mask and `valueTwo` the value the masked argument
            // must equal: (arg & value) == valueTwo.
            LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
                index as u32,
                ScmpCompareOp::MaskedEqual(value),
                a.value_two().unwrap_or(0),
            ),
        };
        out.push((index, cmp));
    }
    Ok(out)
}

/// The libseccomp action for an OCI action and its optional errno.
fn action(a: LinuxSeccompAction, errno_ret: Option<u32>, errno_field: &str) -> Result<ScmpAction> {
    use LinuxSeccompAction as A;
    let takes_errno = matches!(a, A::ScmpActErrno | A::ScmpActTrace);
    if errno_ret.is_some() && !takes_errno {
        // runtime-spec: "When the action doesn't support an errno, the
        // runtime MUST print and error and fail."
        return Err(invalid(
            errno_field,
            format!("{a} does not take an errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"),
        ));
    }
    let errno = errno_ret.unwrap_or(DEFAULT_ERRNO);
    if takes_errno && errno > u16::MAX as u32 {
        return Err(invalid(
            errno_field,
            format!("{errno} does not fit the 16 bits seccomp returns"),
        ));
    }
    Ok(match a {
        // SCMP_ACT_KILL is the old name of SCMP_ACT_KILL_THREAD.
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno as i32),
        A::ScmpActTrace => ScmpAction::Trace(errno as u16),
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
    })
}

fn scmp_arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The seccomp(2) flags for linux.seccomp.flags, checked against the kernel.
fn filter_flags(flags: &[LinuxSeccompFilterFlag], notify: bool) -> Result<libc::c_ulong> {
    let mut bits: libc::c_ulong = 0;
    for (i, f) in flags.iter().enumerate() {
        let bit = match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                if !notify {
                    // Only meaningful with a listener (the kernel refuses it
                    // without one); with no SCMP_ACT_NOTIFY rule it is a no-op.
                    continue;
                }
                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        };
        if !kernel_knows_flag(bit) {
            return Err(invalid(
                format!("linux.seccomp.flags[{i}]"),
                format!("{f} is not supported by this kernel"),
            ));
        }
        bits |= bit;
    }
    if notify {
        bits |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // The kernel refuses TSYNC with NEW_LISTENER unless TSYNC_ESRCH says
        // how to report a thread that could not be synchronised.
        if bits & SECCOMP_FILTER_FLAG_TSYNC != 0 {
            bits |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    Ok(bits)
}

/// Whether the kernel accepts a filter flag: it checks the flags before it
/// reads the program, so a NULL program gives EFAULT for a known flag and
/// EINVAL for an unknown one. Nothing is ever installed.
fn kernel_knows_flag(bit: libc::c_ulong) -> bool {
    let mut probe = bit;
    if bit == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
        probe |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    // SAFETY: a NULL program is never dereferenced by a successful path.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            probe,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Export the filter as BPF and read it back as instructions.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    // libseccomp 2.5 has no seccomp_export_bpf_mem: export to a memfd.
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(c"myrt-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| Error::Export(e.into()))?;
    let mut f = File::from(fd);
    ctx.export_bpf(&f)
        .map_err(lib_err("linux.seccomp (exporting BPF)"))?;
    let mut bytes = Vec::new();
    f.rewind().map_err(Error::Export)?;
    f.read_to_end(&mut bytes).map_err(Error::Export)?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % size != 0 || bytes.len() / size > u16::MAX as usize {
        return Err(Error::Export(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("libseccomp exported {} bytes of BPF", bytes.len()),
        )));
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Hand the notify fd to the seccomp agent listening at `listener_path`, as
/// runtime-spec config-linux.md ("The Container Process State") says: one
/// JSON message on a UNIX stream socket, the fd passed with SCM_RIGHTS.
///
/// `state_json` is the container's state (as `state` prints it); `pid` is
/// the container process.
pub fn send_to_listener(
    listener_path: &Path,
    metadata: Option<&str>,
    pid: i32,
    state_json: &[u8],
    notify_fd: BorrowedFd<'_>,
) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::unix::net::UnixStream;

    let state: serde_json::Value = serde_json::from_slice(state_json)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let oci_version = state
        .get("ociVersion")
        .cloned()
        .unwrap_or_else(|| serde_json::Value::String("1.0.2".into()));
    let mut msg = serde_json::json!({
        "ociVersion": oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata {
        msg["metadata"] = serde_json::Value::String(m.to_string());
    }
    let payload = serde_json::to_vec(&msg).map_err(io::Error::other)?;

    let sock = UnixStream::connect(listener_path)?;
    let fds = [notify_fd.as_raw_fd()];
    let iov = [io::IoSlice::new(&payload)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(io::Error::from)?;
    if sent < payload.len() {
        // The fd went with the first part; send the rest of the JSON plainly.
        use std::io::Write;
        (&sock).write_all(&payload[sent..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};
    use std::os::fd::FromRawFd;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    /// Fork; in the child set no_new_privs, load `prog`, run `f` and exit
    /// with its result. Only async-signal-safe calls happen in the child.
    fn run_loaded(prog: &Program, f: fn() -> i32) -> WaitStatus {
        // SAFETY: the child only makes raw syscalls and _exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                // SAFETY: plain syscalls; _exit never returns.
                unsafe {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                        libc::_exit(200);
                    }
                    if prog.load().is_err() {
                        libc::_exit(201);
                    }
                    libc::_exit(f());
                }
            }
            ForkResult::Parent { child } => waitpid(child, None).unwrap(),
        }
    }

    fn errno() -> i32 {
        io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// mkdir on a path that cannot exist: seccomp's errno, or ENOENT.
    fn try_mkdir() -> i32 {
        // SAFETY: valid C string.
        let r = unsafe { libc::mkdir(c"/nonexistent-myrt-dir/x".as_ptr(), 0o700) };
        if r == 0 { 0 } else { errno() }
    }

    fn mkdir_eperm_profile() -> LinuxSeccomp {
        profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
    }

    #[test]
    fn mkdir_gets_eperm_and_others_work() {
        let prog = compile(&mkdir_eperm_profile()).unwrap();
        assert!(!prog.uses_notify());
        assert_eq!(prog.flags(), 0);
        // Without the filter, mkdir fails with ENOENT.
        assert_eq!(try_mkdir(), libc::ENOENT);
        let st = run_loaded(&prog, try_mkdir);
        assert!(matches!(st, WaitStatus::Exited(_, libc::EPERM)), "{st:?}");
        // Other syscalls still work under the filter.
        let st = run_loaded(&prog, || {
            // SAFETY: plain syscalls on valid arguments.
            unsafe {
                let fd = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"x".as_ptr().cast(), 1) != 1 {
                    return 1;
                }
                libc::close(fd);
                if libc::getpid() <= 0 {
                    return 2;
                }
            }
            0
        });
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");
    }

    #[test]
    fn errno_ret_is_used() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        );
        let st = run_loaded(&compile(&p).unwrap(), try_mkdir);
        assert!(matches!(st, WaitStatus::Exited(_, 38)), "{st:?}");
    }

    #[test]
    fn default_errno_ret() {
        // Everything fails with EOPNOTSUPP except exiting.
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":95,
                "syscalls":[{"names":["exit_group","exit"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let st = run_loaded(&compile(&p).unwrap(), try_mkdir);
        assert!(matches!(st, WaitStatus::Exited(_, 95)), "{st:?}");
        // Without defaultErrnoRet the default errno is EPERM.
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO",
                "syscalls":[{"names":["exit_group","exit"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let st = run_loaded(&compile(&p).unwrap(), try_mkdir);
        assert!(matches!(st, WaitStatus::Exited(_, libc::EPERM)), "{st:?}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn calls_above_the_profile_get_enosys() {
        // runc's -ENOSYS stub (super::enosys): with a denying default, a call
        // numbered above every call the profile names (close_range, 436) gets
        // ENOSYS, as from an older kernel; one below it (mkdir) the default
        // action. Docker's profile is shaped so (default EPERM).
        fn call_1000() -> i32 {
            // SAFETY: a system call number no kernel has; no arguments.
            let r = unsafe { libc::syscall(1000) };
            if r < 0 { errno() } else { 0 }
        }
        for default in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"] {
            let p = profile(&format!(
                r#"{{"defaultAction":"{default}",
                    "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                    "syscalls":[{{"names":["exit_group","exit","close_range"],"action":"SCMP_ACT_ALLOW"}}]}}"#
            ));
            let prog = compile(&p).unwrap();
            let st = run_loaded(&prog, call_1000);
            assert!(
                matches!(st, WaitStatus::Exited(_, libc::ENOSYS)),
                "{default}: {st:?}"
            );
            let st = run_loaded(&prog, try_mkdir);
            if default == "SCMP_ACT_ERRNO" {
                assert!(matches!(st, WaitStatus::Exited(_, libc::EPERM)), "{st:?}");
            } else {
                assert!(matches!(st, WaitStatus::Signaled(_, _, _)), "{st:?}");
            }
        }
        // An allowing default has no stub: the program is libseccomp's alone.
        let allow = compile(&mkdir_eperm_profile()).unwrap();
        assert_eq!(
            run_bpf(allow.instructions(), &seccomp_data(1000, [0; 6])),
            Some(SECCOMP_RET_ALLOW)
        );
    }

    fn personality(arg: libc::c_ulong) -> i32 {
        // SAFETY: personality takes an integer.
        let r = unsafe { libc::personality(arg) };
        if r < 0 { errno() } else { 0 }
    }

    #[test]
    fn interpreter_agrees_with_the_filter() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
                "syscalls":[{"names":["write","execve"],"action":"SCMP_ACT_ALLOW"},
                            {"names":["personality"],"action":"SCMP_ACT_ALLOW",
                             "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                            {"names":["clone"],"action":"SCMP_ACT_ALLOW",
                             "args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]},
                            {"names":["getpid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        );
        let prog = compile(&p).unwrap();
        let nr = |n: libc::c_long, a0: u64| (n, [a0, 0, 0, 0, 0, 0]);
        for (n, a, want) in [
            (nr(libc::SYS_write, 0), true),
            (nr(libc::SYS_execve, 0), true),
            (nr(libc::SYS_execveat, 0), false),
            (nr(libc::SYS_close_range, 0), false),
            (nr(libc::SYS_personality, 8), true),
            (nr(libc::SYS_personality, 0), false),
            (nr(libc::SYS_personality, 0x1_0000_0008), false),
            (nr(libc::SYS_clone, libc::SIGCHLD as u64), true),
            (nr(libc::SYS_clone, libc::CLONE_NEWNS as u64), false),
        ]
        .map(|((n, a), w)| (n, a, w))
        {
            assert_eq!(prog.allows(n, a), want, "syscall {n} {a:?}");
        }
        assert!(prog.kills(libc::SYS_getpid, [0; 6]));
        assert!(!prog.kills(libc::SYS_mkdir, [0; 6]));
        // A KILL default kills anything not listed.
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let prog = compile(&p).unwrap();
        assert!(prog.allows(libc::SYS_read, [0; 6]));
        assert!(prog.kills(libc::SYS_execve, [0; 6]));
    }

    #[test]
    fn args_rule_eq() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
                             "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let prog = compile(&p).unwrap();
        let st = run_loaded(&prog, || personality(0xffff_ffff));
        assert!(matches!(st, WaitStatus::Exited(_, 33)), "{st:?}");
        // Another argument is not matched.
        let st = run_loaded(&prog, || personality(0));
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");
    }

    #[test]
    fn args_rule_masked_eq_and_ops() {
        // (arg0 & 0xff00) == 0x0100 -> ENOTTY(25)
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":25,
                             "args":[{"index":0,"value":65280,"valueTwo":256,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        let prog = compile(&p).unwrap();
        let st = run_loaded(&prog, || personality(0x0123));
        assert!(matches!(st, WaitStatus::Exited(_, 25)), "{st:?}");
        let st = run_loaded(&prog, || personality(0x0200));
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");

        // GT: arg0 > 0x10 -> EDOM(33)
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
                             "args":[{"index":0,"value":16,"op":"SCMP_CMP_GT"}]}]}"#,
        );
        let prog = compile(&p).unwrap();
        let st = run_loaded(&prog, || personality(0x20));
        assert!(matches!(st, WaitStatus::Exited(_, 33)), "{st:?}");
        let st = run_loaded(&prog, || personality(0x8));
        assert!(matches!(st, WaitStatus::Exited(_, 0)), "{st:?}");

        // Every operator compiles.
        for op in ["NE", "LT", "LE", "EQ", "GE", "GT"] {
            let p = profile(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW",
                    "syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO",
                                 "args":[{{"index":0,"value":8,"op":"SCMP_CMP_{op}"}}]}}]}}"#
            ));
            compile(&p).unwrap();
        }
    }

    #[test]
    fn same_index_twice_means_either() {
        // personality(8) or personality(9) -> EDOM; personality(0) allowed.
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
                             "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},
                                     {"index":0,"value":9,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let prog = compile(&p).unwrap();
        assert!(matches!(
            run_loaded(&prog, || personality(8)),
            WaitStatus::Exited(_, 33)
        ));
        assert!(matches!(
            run_loaded(&prog, || personality(9)),
            WaitStatus::Exited(_, 33)
        ));
        assert!(matches!(
            run_loaded(&prog, || personality(0)),
            WaitStatus::Exited(_, 0)
        ));
    }

    #[test]
    fn kill_process_gives_sigsys() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        );
        let st = run_loaded(&compile(&p).unwrap(), || personality(0));
        assert!(
            matches!(
                st,
                WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGSYS, _)
            ),
            "{st:?}"
        );
    }

    #[test]
    fn unknown_syscall_names_are_skipped() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["no_such_syscall","mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let prog = compile(&p).unwrap();
        assert_eq!(prog.skipped_syscalls(), ["no_such_syscall"]);
        let st = run_loaded(&prog, try_mkdir);
        assert!(matches!(st, WaitStatus::Exited(_, libc::EPERM)), "{st:?}");
    }

    #[test]
    fn other_architectures_syscalls_compile() {
        // socketcall exists only on 32-bit architectures.
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO",
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["socketcall","read","write","exit_group","exit"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let prog = compile(&p).unwrap();
        let native_only = compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO",
                "syscalls":[{"names":["socketcall","read","write","exit_group","exit"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .unwrap();
        assert!(prog.instructions().len() > native_only.instructions().len());
    }

    #[test]
    fn errno_on_action_without_errno_is_error() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
                            {"names":["rmdir"],"action":"SCMP_ACT_KILL","errnoRet":1}]}"#,
        );
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.starts_with("linux.seccomp.syscalls[1].errnoRet: "), "{e}");
        let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":1}"#);
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.starts_with("linux.seccomp.defaultErrnoRet: "), "{e}");
    }

    #[test]
    fn invalid_actions_are_errors_naming_the_field() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#);
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.starts_with("linux.seccomp.defaultAction: "), "{e}");
        // An action name the spec does not have is refused when config.json
        // is parsed (serde names the bad variant).
        let e = serde_json::from_str::<LinuxSeccomp>(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_BOGUS"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("SCMP_ACT_BOGUS"), "{e}");
        let e = serde_json::from_str::<LinuxSeccomp>(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BOGUS"]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("SECCOMP_FILTER_FLAG_BOGUS"), "{e}");
    }

    #[test]
    fn bad_arg_index_and_big_errno_are_errors() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO",
                             "args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let e = compile(&p).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].args[0].index: "),
            "{e}"
        );
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
        );
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.starts_with("linux.seccomp.syscalls[0].errnoRet: "), "{e}");
    }

    #[test]
    fn rule_equal_to_default_is_dropped() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},
                            {"names":["exit_group","exit"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        compile(&p).unwrap();
    }

    #[test]
    fn flags_are_passed_and_load() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                         "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let prog = compile(&p).unwrap();
        // WAIT_KILLABLE_RECV is dropped without a listener.
        assert_eq!(
            prog.flags(),
            SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
        let st = run_loaded(&prog, try_mkdir);
        assert!(matches!(st, WaitStatus::Exited(_, libc::EPERM)), "{st:?}");
    }

    #[test]
    fn notify_without_listener_path_is_error() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        let e = compile(&p).unwrap_err().to_string();
        assert!(e.starts_with("linux.seccomp.listenerPath: "), "{e}");
    }

    #[test]
    fn notify_end_to_end() {
        use std::os::unix::net::UnixListener;

        let dir = std::env::temp_dir().join(format!("myrt-seccomp-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock_path = dir.join("agent.sock");
        let listener = UnixListener::bind(&sock_path).unwrap();

        let p = profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{}","listenerMetadata":"hello",
                "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls":[{{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
            sock_path.display()
        ));
        let prog = compile(&p).unwrap();
        assert!(prog.uses_notify());
        assert_eq!(prog.listener(), Some((sock_path.as_path(), Some("hello"))));
        assert_eq!(
            prog.flags(),
            SECCOMP_FILTER_FLAG_TSYNC
                | SECCOMP_FILTER_FLAG_NEW_LISTENER
                | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        );

        // The child loads the filter, reports the listener fd number on a
        // pipe, then calls mkdir (which blocks until the agent answers).
        let mut pfd = [0; 2];
        // SAFETY: valid array.
        assert_eq!(unsafe { libc::pipe2(pfd.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child only makes raw syscalls and _exits.
        let child = match unsafe { fork() }.unwrap() {
            // SAFETY: raw syscalls on our own fds, then _exit.
            ForkResult::Child => unsafe {
                libc::close(pfd[0]);
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(200);
                }
                let fd = match prog.load() {
                    Ok(Some(fd)) => fd,
                    _ => libc::_exit(201),
                };
                let n: i32 = fd.as_raw_fd();
                libc::write(pfd[1], (&n as *const i32).cast(), 4);
                libc::close(pfd[1]);
                libc::_exit(try_mkdir());
            },
            ForkResult::Parent { child } => child,
        };
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(pfd[1]) };
        let mut n = [0u8; 4];
        // SAFETY: pfd[0] is the pipe's read end, owned by nothing else.
        let mut r = File::from(unsafe { OwnedFd::from_raw_fd(pfd[0]) });
        r.read_exact(&mut n).unwrap();
        let child_fd = i32::from_ne_bytes(n);
        // Take the listener fd out of the child (as the runtime's sync socket would).
        // SAFETY: raw syscalls with integer arguments.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
        assert!(pidfd >= 0);
        // SAFETY: as above.
        let nfd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd as i32, child_fd, 0) };
        assert!(nfd >= 0, "{}", io::Error::last_os_error());
        // SAFETY: nfd is a new fd that pidfd_getfd gave us.
        let notify_fd = unsafe { OwnedFd::from_raw_fd(nfd as i32) };
        // SAFETY: pidfd is ours and not used again.
        unsafe { libc::close(pidfd as i32) };

        let state =
            br#"{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":1,"bundle":"/b"}"#;
        send_to_listener(
            &sock_path,
            Some("hello"),
            child.as_raw(),
            state,
            std::os::fd::AsFd::as_fd(&notify_fd),
        )
        .unwrap();
        drop(notify_fd);

        // The agent side: read the JSON and the fd, answer EACCES.
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
        let mut agent_fd = None;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                agent_fd = Some(fds[0]);
            }
        }
        let len = msg.bytes;
        let agent_fd = agent_fd.expect("no fd received");
        let v: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(v["metadata"], "hello");
        assert_eq!(v["pid"], child.as_raw());
        assert_eq!(v["state"]["id"], "c1");
        assert_eq!(v["ociVersion"], "1.0.2");

        let req = libseccomp::ScmpNotifReq::receive(agent_fd).unwrap();
        assert_eq!(req.pid, child.as_raw() as u32);
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc::EACCES,
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(agent_fd)
        .unwrap();
        let st = waitpid(child, None).unwrap();
        // SAFETY: closing the fd we received.
        unsafe { libc::close(agent_fd) };
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(st, WaitStatus::Exited(_, libc::EACCES)), "{st:?}");
    }
}
