//! Unit tests of the rootfs set-up through the recording fake: the order
//! and flags of its system calls, without root.
