//! The -ENOSYS stub put in front of a seccomp program, as runc does it:
//! a system call whose number is above the largest one the profile names
//! (for the caller's architecture) gets ENOSYS instead of the default
//! action. Profiles written before a kernel added a call (Docker's, whose
//! default is EPERM, is the common one) then look to the C library like an
//! older kernel, and it falls back (glibc's fchmodat2, clone3 and
//! faccessat2 fallbacks act on ENOSYS only; EPERM is a hard failure).
//!
//! Only for a default action that denies (not ALLOW or LOG), and only for
//! the architectures the profile lists. A denied call stays denied: ENOSYS
//! replaces the default action for numbers no rule can name, nothing else.
//! The cost in the container is a handful of BPF instructions per call.

use libc::sock_filter;
use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};
use oci_spec::runtime::LinuxSeccomp;

// Classic BPF opcodes (linux/filter.h) and seccomp_data offsets.
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// x32 system calls run under AUDIT_ARCH_X86_64 with this bit in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The AUDIT_ARCH_* value the kernel reports for `a` (x32 reports x86_64's).
fn audit_arch(a: ScmpArch) -> Option<u32> {
    Some(match a {
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::Riscv64 => 0xc000_00f3,
        // s390 multiplexes unknown calls through setup(2) (runc special-cases
        // it) and the others are not built for here: no stub, the filter's
        // own action applies.
        _ => return None,
    })
}

/// Per reported architecture: the largest number the profile names, for its
/// own calls and (x86_64 only) for x32 calls (with the x32 bit).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Last {
    audit: u32,
    native: Option<u32>,
    x32: Option<u32>,
}

fn last_syscalls(s: &LinuxSeccomp, archs: &[ScmpArch]) -> Vec<Last> {
    let mut out: Vec<Last> = Vec::new();
    for &a in archs {
        let mut a = a;
        if a == ScmpArch::Native {
            a = ScmpArch::native();
        }
        let Some(audit) = audit_arch(a) else { continue };
        let names = s.syscalls().iter().flatten().flat_map(|c| c.names());
        let max = names
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, a).ok())
            .map(|sys| sys.as_raw_syscall())
            .filter(|&nr| nr >= 0)
            .max();
        let Some(max) = max else { continue };
        let i = match out.iter().position(|l| l.audit == audit) {
            Some(i) => i,
            None => {
                out.push(Last {
                    audit,
                    ..Last::default()
                });
                out.len() - 1
            }
        };
        let slot = if a == ScmpArch::X32 {
            &mut out[i].x32
        } else {
            &mut out[i].native
        };
        let max = if a == ScmpArch::X32 {
            max as u32 | X32_SYSCALL_BIT
        } else {
            max as u32
        };
        *slot = Some(slot.map_or(max, |m| m.max(max)));
    }
    out
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The stub for the profile, to be put before the compiled filter (empty
/// when there is none to make); `archs` are its `architectures`. It ends
/// by jumping over its ENOSYS return into the filter.
pub(super) fn stub(
    s: &LinuxSeccomp,
    archs: &[ScmpArch],
    default_action: ScmpAction,
) -> Vec<sock_filter> {
    if matches!(default_action, ScmpAction::Allow | ScmpAction::Log) {
        return Vec::new();
    }
    let lasts = last_syscalls(s, archs);
    if lasts.is_empty() {
        return Vec::new();
    }
    // Every block jumps to one of two places after the stub's body: the
    // ENOSYS return or the filter. Blocks are built with placeholder
    // targets (255 = ENOSYS, 254 = filter) that are resolved at the end.
    const TO_ENOSYS: u8 = 255;
    const TO_FILTER: u8 = 254;
    let mut body = vec![stmt(LD_W_ABS, OFF_ARCH)];
    for l in &lasts {
        let mut block = vec![stmt(LD_W_ABS, OFF_NR)];
        if l.audit == AUDIT_ARCH_X86_64 {
            match l.x32 {
                Some(x32) => {
                    // nr has the x32 bit: compare with the x32 maximum
                    let native_len = if l.native.is_some() { 2 } else { 1 };
                    block.push(jump(JMP_JSET_K, X32_SYSCALL_BIT, native_len, 0));
                    if let Some(n) = l.native {
                        block.push(jump(JMP_JGT_K, n, TO_ENOSYS, 0));
                    }
                    block.push(jump(JMP_JA, 0, TO_FILTER, TO_FILTER));
                    block.push(jump(JMP_JGT_K, x32, TO_ENOSYS, 0));
                }
                None => {
                    block.push(jump(JMP_JSET_K, X32_SYSCALL_BIT, TO_FILTER, 0));
                    if let Some(n) = l.native {
                        block.push(jump(JMP_JGT_K, n, TO_ENOSYS, 0));
                    }
                }
            }
        } else if let Some(n) = l.native {
            block.push(jump(JMP_JGT_K, n, TO_ENOSYS, 0));
        }
        block.push(jump(JMP_JA, 0, TO_FILTER, TO_FILTER));
        // the arch test: into the block, or past it to the next test
        body.push(jump(JMP_JEQ_K, l.audit, 0, block.len() as u8));
        body.extend(block);
    }
    // no listed architecture matched: the filter decides
    body.push(jump(JMP_JA, 0, TO_FILTER, TO_FILTER));
    let enosys = body.len();
    body.push(stmt(RET_K, SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    let filter = body.len();
    for (pc, ins) in body.iter_mut().enumerate() {
        let target = |t: u8| match t {
            TO_ENOSYS => (enosys - pc - 1) as u8,
            TO_FILTER => (filter - pc - 1) as u8,
            t => t,
        };
        if ins.code == JMP_JA {
            // `ja` jumps by k; the placeholders were put in jt/jf
            if ins.jt == TO_FILTER {
                ins.k = (filter - pc - 1) as u32;
            }
            ins.jt = 0;
            ins.jf = 0;
        } else if ins.code & 0x07 == 0x05 {
            ins.jt = target(ins.jt);
            ins.jf = target(ins.jf);
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    const ERRNO_X86: &str = r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read", "write", "close_range", "nosuchcall"], "action": "SCMP_ACT_ALLOW"}]}"#;

    #[test]
    fn largest_named_call_per_architecture() {
        let archs = [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32];
        let l = last_syscalls(&profile(ERRNO_X86), &archs);
        // close_range: 436 on x86_64 and on i386 (the same number there),
        // 436 | the x32 bit for x32
        assert_eq!(
            l,
            vec![
                Last {
                    audit: AUDIT_ARCH_X86_64,
                    native: Some(436),
                    x32: Some(436 | X32_SYSCALL_BIT),
                },
                Last {
                    audit: 0x4000_0003,
                    native: Some(436),
                    x32: None,
                },
            ]
        );
    }

    #[test]
    fn no_stub_for_allowing_defaults_or_no_architectures() {
        let allow = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(stub(&allow, &[ScmpArch::X8664], ScmpAction::Allow).is_empty());
        let none = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(stub(&none, &[], ScmpAction::Errno(1)).is_empty());
    }
}
