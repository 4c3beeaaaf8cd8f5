//! The `myrt` command line (runc's): see [`cli`], one module per
//! subcommand, each calling into the `myrt` library.

#![deny(clippy::undocumented_unsafe_blocks)]

mod cli;

fn main() {
    // Non-dumpable from the start: the container's processes are forks of
    // this one, and must not be ptrace-able or have their /proc/<pid>/exe
    // (this binary) opened from inside the container before their execve.
    // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integers and touches no
    // memory of ours.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // create, run and exec first re-execute from a sealed image of this
    // binary (CVE-2019-5736, see security::exe), before anything else is
    // done (the command line is parsed once, by the sealed image). An error
    // is reported once the container id is known.
    let early = cli::spawns_containers(std::env::args_os().skip(1))
        .then(myrt::security::exe::ensure_sealed);
    std::process::exit(cli::main(early))
}
