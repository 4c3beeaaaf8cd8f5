//! The cgroup v2 device filter: [`DeviceRule`]s compiled into a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, an interpreter for the unit tests,
//! and the bpf(2) calls that load and attach it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::super::super::common::{Error, OsError, Result, open_dir};
use super::rule::{ACC_ALL, DevKind, DeviceRule, FIELD};

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst register in the low nibble, src register in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const BPF_LDX_MEM_W: u8 = 0x61;
const BPF_ALU64_K: u8 = 0x07;
const BPF_ALU64_X: u8 = 0x0f;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JMP_K: u8 = 0x05;
const BPF_JEQ: u8 = 0x10;
const BPF_JSET: u8 = 0x40;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x95;

fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    Insn {
        code: BPF_LDX_MEM_W,
        regs: dst | (src << 4),
        off,
        imm: 0,
    }
}
fn alu_k(op: u8, dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU64_K | op,
        regs: dst,
        off: 0,
        imm,
    }
}
fn mov_x(dst: u8, src: u8) -> Insn {
    Insn {
        code: BPF_ALU64_X | BPF_MOV,
        regs: dst | (src << 4),
        off: 0,
        imm: 0,
    }
}
fn jmp_k(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn {
        code: BPF_JMP_K | op,
        regs: dst,
        off,
        imm,
    }
}
fn exit() -> Insn {
    Insn {
        code: BPF_EXIT,
        regs: 0,
        off: 0,
        imm: 0,
    }
}

// Registers: r1 = ctx (struct bpf_cgroup_dev_ctx), r2 = device kind,
// r3 = access bits, r4 = major, r5 = minor, r6 = scratch, r0 = verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

/// Compile `rules` into a program for `BPF_PROG_TYPE_CGROUP_DEVICE`:
/// checks the rules from the last to the first, the first that matches
/// decides; else the default set by the last `a *:*` rule (allow if none).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut default_allow = true;
    let mut active: Vec<&DeviceRule> = Vec::new();
    for r in rules {
        if r.is_all() {
            default_allow = r.allow;
            active.clear();
        } else {
            active.push(r);
        }
    }
    let mut p = vec![
        // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
        // access_type = (access << 16) | type
        ldx_w(R2, R1, 0),
        alu_k(BPF_AND, R2, 0xffff),
        ldx_w(R3, R1, 0),
        alu_k(BPF_RSH, R3, 16),
        ldx_w(R4, R1, 4),
        ldx_w(R5, R1, 8),
    ];
    for r in active.iter().rev() {
        // Rules that cannot change the outcome are left out.
        if r.allow == default_allow && !active.iter().any(|o| o.allow != r.allow) {
            continue;
        }
        // Each conditional jump goes to the end of this rule's block; the
        // offset is filled in once the block's length is known.
        let mut b: Vec<Insn> = Vec::new();
        let mut jumps = Vec::new();
        if r.kind != DevKind::All {
            jumps.push(b.len());
            b.push(jmp_k(BPF_JNE, R2, r.kind as i32, 0));
        }
        if r.allow {
            if r.access & ACC_ALL != ACC_ALL {
                // Skip if the request asks for a bit the rule does not grant.
                jumps.push(b.len());
                b.push(jmp_k(BPF_JSET, R3, (!r.access & ACC_ALL) as i32, 0));
            }
        } else if r.access & ACC_ALL != ACC_ALL {
            // Skip if the request asks for none of the denied bits.
            b.push(mov_x(R6, R3));
            b.push(alu_k(BPF_AND, R6, r.access as i32));
            jumps.push(b.len());
            b.push(jmp_k(BPF_JEQ, R6, 0, 0));
        }
        if let Some(m) = r.major {
            jumps.push(b.len());
            b.push(jmp_k(BPF_JNE, R4, m as i32, 0));
        }
        if let Some(m) = r.minor {
            jumps.push(b.len());
            b.push(jmp_k(BPF_JNE, R5, m as i32, 0));
        }
        b.push(alu_k(BPF_MOV, R0, r.allow as i32));
        b.push(exit());
        let len = b.len();
        for j in jumps {
            b[j].off = (len - j - 1) as i16;
        }
        p.extend(b);
    }
    p.push(alu_k(BPF_MOV, R0, default_allow as i32));
    p.push(exit());
    p
}

#[cfg(test)]
/// Run `prog` on one request (the instructions [`program`] emits only):
/// lets unit tests check the program against [`allowed`] without a kernel.
pub fn interpret(prog: &[Insn], kind: DevKind, access: u8, major: u32, minor: u32) -> u64 {
    let ctx = [((access as u32) << 16) | kind as u32, major, minor];
    let mut reg = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm = i.imm as i64 as u64;
        pc += 1;
        match i.code {
            BPF_LDX_MEM_W => {
                assert_eq!(src, 1, "loads only from ctx");
                reg[dst] = ctx[(i.off / 4) as usize] as u64;
            }
            c if c == BPF_ALU64_K | BPF_AND => reg[dst] &= imm,
            c if c == BPF_ALU64_K | BPF_RSH => reg[dst] >>= imm,
            c if c == BPF_ALU64_K | BPF_MOV => reg[dst] = imm,
            c if c == BPF_ALU64_X | BPF_MOV => reg[dst] = reg[src],
            c if c == BPF_JMP_K | BPF_JEQ
                || c == BPF_JMP_K | BPF_JNE
                || c == BPF_JMP_K | BPF_JSET =>
            {
                let taken = match c & 0xf0 {
                    BPF_JEQ => reg[dst] == imm,
                    BPF_JNE => reg[dst] != imm,
                    _ => reg[dst] & imm != 0,
                };
                if taken {
                    pc = (pc as i64 + i.off as i64) as usize;
                }
            }
            BPF_EXIT => return reg[R0 as usize],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

// ---------------------------------------------------------------------------
// bpf(2)

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: attr is a properly laid out, fully initialised bpf_attr prefix
    // and lives for the duration of the call; the size passed is its size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn sys_err(what: impl Into<String>, e: io::Error) -> Error {
    Error::Sys {
        field: FIELD.into(),
        what: what.into(),
        source: OsError(e),
    }
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    static LICENSE: &[u8] = b"Apache-2.0\0";
    let mut log = vec![0u8; 0];
    let mut attempt = 0;
    loop {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: prog.len() as u32,
            insns: prog.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        attr.prog_name[..11].copy_from_slice(b"myrt_device");
        if attempt == 1 {
            log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
        }
        match bpf(BPF_PROG_LOAD, &mut attr) {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
            Err(e)
                if attempt == 0
                    && matches!(e.raw_os_error(), Some(libc::EACCES | libc::EINVAL)) =>
            {
                // Load again with the verifier log, for the error message.
                attempt = 1;
            }
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                let what = if text.trim().is_empty() {
                    "bpf(BPF_PROG_LOAD) of the device filter".to_string()
                } else {
                    format!(
                        "bpf(BPF_PROG_LOAD) of the device filter (verifier: {})",
                        text.trim()
                    )
                };
                return Err(sys_err(what, e));
            }
        }
    }
}

/// Ids of the device programs attached directly to the cgroup `dirfd`.
fn attached(dirfd: &OwnedFd) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: dirfd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| sys_err("bpf(BPF_PROG_QUERY)", e))?;
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok(ids)
}

/// Load `prog` and attach it to the cgroup directory `dir`, replacing any
/// device program attached there before (attach the new one, then detach
/// the old ones, so there is no moment without a filter).
pub fn attach_program(dir: &Path, prog: &[Insn]) -> Result<()> {
    let dirfd = open_dir(dir)?;
    let old = attached(&dirfd)?;
    let pfd = load(prog)?;
    let mut attr = AttachAttr {
        target_fd: dirfd.as_raw_fd() as u32,
        attach_bpf_fd: pfd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| sys_err(format!("bpf(BPF_PROG_ATTACH) to {}", dir.display()), e))?;
    for id in old {
        let mut a = GetFdByIdAttr {
            prog_id: id,
            ..Default::default()
        };
        let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut a) {
            // SAFETY: a new fd owned by nobody else.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(sys_err("bpf(BPF_PROG_GET_FD_BY_ID)", e)),
        };
        let mut d = AttachAttr {
            target_fd: dirfd.as_raw_fd() as u32,
            attach_bpf_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        match bpf(BPF_PROG_DETACH, &mut d) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(sys_err("bpf(BPF_PROG_DETACH) of the old device filter", e)),
        }
    }
    Ok(())
}
