//! myrt: an OCI container runtime.
//!
//! The library is the runtime; the binary (`main.rs`, `cli/`) only parses
//! the command line and calls one function of [`container`] per subcommand. Modules are named
//! after the runtime-spec's own table of contents.

// Every `unsafe` block says why it is sound (a `// SAFETY:` comment).
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod activation;
pub mod cgroups;
pub mod container;
pub mod fault;
pub mod hooks;
pub mod mountinfo;
pub mod namespaces;
pub mod netdevices;
pub mod notify;
pub mod process;
pub mod rootfs;
pub mod rootless;
pub mod security;
pub mod spec;
pub mod state;
pub mod sys;
pub mod syscall;
pub mod tty;
