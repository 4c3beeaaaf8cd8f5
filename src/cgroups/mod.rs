//! Control groups: one interface (`Cgroup`) with back ends for v1 (hybrid included) and v2.
//!
//! - [`detect`] tells the host's mode the way runc does (`statfs("/sys/fs/cgroup")`).
//! - [`resolve_path`] turns `linux.cgroupsPath` into a path from the hierarchy root.
//! - [`Cgroup`] is a handle for one container's cgroup in every hierarchy:
//!   `create`, `set` (the `linux.resources` limits), `add_pid`, `freeze`,
//!   `kill_all`, `destroy`, `stats`.
//!
//! v1 ([`v1`]): every mounted v1 controller hierarchy found in
//! `/proc/self/mountinfo`, plus, on hybrid hosts, the cgroup2 mount at
//! `/sys/fs/cgroup/unified` (the process is placed there too, as runc does).
//! v2 ([`v2`]): one unified hierarchy; device rules become an eBPF program
//! ([`devices`]).
//!
//! Every error names the config field (`linux.resources.memory.limit`) or the
//! cgroup file that failed, so a user can tell which setting the kernel refused.

pub mod devices;
pub mod mountinfo;
pub mod v1;
pub mod v2;

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxDevice, LinuxResources};

pub use devices::{DeviceRule, allow_rules_for_devices, default_allowed_devices};

/// Where cgroup file systems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The prefix for container cgroups whose `linux.cgroupsPath` is relative or unset.
pub const DEFAULT_PARENT: &str = "/myrt";

/// An OS error shown the way the C library's `strerror` does
/// ("Device or resource busy"), without Rust's "(os error 16)" suffix.
#[derive(Debug)]
pub struct OsError(pub io::Error);

impl std::fmt::Display for OsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.raw_os_error() {
            Some(n) => f.write_str(nix::errno::Errno::from_raw(n).desc()),
            None => self.0.fmt(f),
        }
    }
}

impl std::error::Error for OsError {}

impl From<io::Error> for OsError {
    fn from(e: io::Error) -> Self {
        OsError(e)
    }
}

/// Errors of the cgroups module. The first word of each message is the
/// config field (e.g. `linux.resources.memory.limit`) or the operation
/// (`linux.cgroupsPath`) that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation on a cgroup file system failed.
    #[error("{field}: {op} {}: {source}", path.display())]
    Io {
        field: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: OsError,
    },
    /// A system call that is not about one path (bpf, kill) failed.
    #[error("{field}: {what}: {source}")]
    Sys {
        field: String,
        what: String,
        #[source]
        source: OsError,
    },
    /// The config value is malformed or out of range.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// The config asks for something this host or cgroup mode cannot do.
    #[error("{field}: {msg}")]
    Unsupported { field: String, msg: String },
    /// Waiting for the kernel (freezer, rmdir) took too long.
    #[error("{field}: {msg}")]
    Timeout { field: String, msg: String },
}

impl Error {
    /// The errno behind this error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Sys { source, .. } => source.0.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn io(
        field: impl Into<String>,
        op: &'static str,
        path: &Path,
        e: io::Error,
    ) -> Error {
        Error::Io {
            field: field.into(),
            op,
            path: path.to_path_buf(),
            source: OsError(e),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Unsupported {
            field: field.into(),
            msg: msg.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Legacy or hybrid: one hierarchy per controller (plus maybe `unified`).
    V1,
    /// Unified: one cgroup2 hierarchy at `/sys/fs/cgroup`.
    V2,
}

/// The host's cgroup mode: `statfs("/sys/fs/cgroup")` is `CGROUP2_SUPER_MAGIC`
/// means v2, anything else v1 (hybrid included). Computed once per process.
pub fn detect() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| match nix::sys::statfs::statfs(CGROUP_ROOT) {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => Mode::V2,
        _ => Mode::V1,
    })
}

/// Whether the device rules (`linux.resources.devices` and the defaults)
/// are installed in the cgroup: not when rootless (see `crate::rootless`),
/// as runc does. That does not open anything: a rootless caller cannot
/// install them at all (the v1 `devices` files and the v2 eBPF device
/// program need CAP_SYS_ADMIN on the host), and its container cannot reach a
/// device the user could not open anyway: its processes are the user's (or
/// subordinate) ids on the host, mknod of a device needs CAP_MKNOD on the
/// host, and file systems mounted in a user namespace are nodev; the device
/// nodes it has are bind mounts of the host's, opened with the user's rights.
pub fn devices_enforced() -> bool {
    !crate::rootless::active()
}

const PATH_FIELD: &str = "linux.cgroupsPath";

/// cgroupsPath resolution: absolute -> as is (from the hierarchy root); relative "a/b" -> "/myrt/a/b"; None or "" -> "/myrt/<id>".
/// Systemd style "slice:prefix:name" (when systemd==true) -> Err naming linux.cgroupsPath and saying systemd is not supported/running. Reject ".." components.
pub fn resolve_path(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<String> {
    if systemd {
        let what = match cgroups_path {
            Some(p) if p.split(':').count() == 3 => format!("{p:?} is a systemd cgroup path"),
            Some(p) if !p.is_empty() => format!(
                "{p:?} is not of the systemd form \"slice:prefix:name\", and the systemd cgroup driver was requested"
            ),
            _ => "the systemd cgroup driver was requested".to_string(),
        };
        return Err(Error::unsupported(
            PATH_FIELD,
            format!(
                "{what}; myrt manages cgroups through cgroupfs only (systemd is not supported and not running here); use a plain path such as \"/myrt/{id}\" without --systemd-cgroup"
            ),
        ));
    }
    let raw = match cgroups_path {
        None | Some("") => {
            if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                return Err(Error::invalid(
                    PATH_FIELD,
                    format!("container id {id:?} cannot name a cgroup"),
                ));
            }
            format!("{DEFAULT_PARENT}/{id}")
        }
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("{DEFAULT_PARENT}/{p}"),
    };
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::invalid(
                    PATH_FIELD,
                    format!("{raw:?}: \"..\" components are not allowed"),
                ));
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Error::invalid(
            PATH_FIELD,
            format!("{raw:?} names the root cgroup; a container needs a cgroup of its own"),
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// runc's conversion of cgroup v1 `cpu.shares` [2, 262144] to v2 `cpu.weight` [1, 10000].
/// 0 means "unset" and stays 0.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// v1 `blkio.weight` [10, 1000] to v2 `io.weight` [1, 10000] (runc's formula).
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = weight.clamp(10, 1000);
    1 + ((w - 10) * 9999) / 990
}

/// The value for v2 `memory.swap.max`. The spec's `memory.swap` is memory+swap
/// (v1 semantics); v2 limits swap alone, so the value is `swap - limit`.
/// `limit` is the memory limit in effect (-1 = unlimited). Returns `None` when
/// nothing should be written (swap unset or 0).
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>> {
    const FIELD: &str = "linux.resources.memory.swap";
    let swap = match swap {
        None | Some(0) => return Ok(None),
        Some(s) => s,
    };
    if swap == -1 {
        return Ok(Some("max".into()));
    }
    if swap < -1 {
        return Err(Error::invalid(FIELD, format!("invalid value {swap}")));
    }
    match limit {
        None | Some(0) | Some(-1) => Err(Error::invalid(
            FIELD,
            format!(
                "a swap limit ({swap}) needs a memory limit (linux.resources.memory.limit) on cgroup v2"
            ),
        )),
        Some(l) if l < -1 => Err(Error::invalid(
            "linux.resources.memory.limit",
            format!("invalid value {l}"),
        )),
        Some(l) if swap < l => Err(Error::invalid(
            FIELD,
            format!("memory+swap limit ({swap}) must not be lower than the memory limit ({l})"),
        )),
        Some(l) => Ok(Some((swap - l).to_string())),
    }
}

/// One line of `rdma.max`: "mlx4_0 hca_handle=2 hca_object=max".
pub(crate) fn rdma_line(dev: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
    let v = |x: Option<u32>| x.map_or_else(|| "max".to_string(), |n| n.to_string());
    format!(
        "{dev} hca_handle={} hca_object={}",
        v(l.hca_handles()),
        v(l.hca_objects())
    )
}

// ---------------------------------------------------------------------------
// cgroupfs file helpers

/// Write `value` to an existing cgroup file with a single write(2).
pub(crate) fn write_file(field: &str, path: &Path, value: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(field, "write", path, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| Error::io(field, "write", path, e))
}

pub(crate) fn read_file(field: &str, path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io(field, "read", path, e))
}

/// Read a cgroup file; `None` when it cannot be read (stats are best effort).
pub(crate) fn read_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    let s = read_opt(path)?;
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// "key value" lines (memory.stat, cpu.stat, cgroup.events) as a JSON object of numbers.
pub(crate) fn read_flat_keyed(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    if let Some(s) = read_opt(path) {
        for line in s.lines() {
            let mut it = line.split_whitespace();
            if let (Some(k), Some(v)) = (it.next(), it.next())
                && let Ok(n) = v.parse::<u64>()
            {
                m.insert(k.to_string(), n.into());
            }
        }
    }
    m
}

pub(crate) fn parse_pids(field: &str, path: &Path) -> Result<Vec<i32>> {
    let s = read_file(field, path)?;
    Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// `mountpoint` + cgroup path ("/a/b"). "." and ".." components are dropped,
/// so no path handed to [`Cgroup::new`] can leave the hierarchy.
pub(crate) fn join(mountpoint: &Path, cgpath: &str) -> PathBuf {
    let mut p = mountpoint.to_path_buf();
    for c in cgpath.split('/') {
        if !matches!(c, "" | "." | "..") {
            p.push(c);
        }
    }
    p
}

/// mkdir -p of `dir` below `root` (which must exist). Returns the directories
/// it created, top down. Tolerates a concurrent rmdir of a parent (retries).
pub(crate) fn mkdir_p(root: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut attempt = 0;
    'again: loop {
        let mut created = Vec::new();
        let mut cur = root.to_path_buf();
        for c in rel.components() {
            cur.push(c);
            match fs::create_dir(&cur) {
                Ok(()) => created.push(cur.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && attempt < 10 => {
                    // A parent was removed under us (another container's destroy).
                    attempt += 1;
                    continue 'again;
                }
                Err(e) => return Err(Error::io(PATH_FIELD, "mkdir", &cur, e)),
            }
        }
        return Ok(created);
    }
}

/// rmdir a cgroup directory and every cgroup below it (children first).
/// Missing is fine; EBUSY (processes still exiting) is retried for about 1 s.
pub(crate) fn remove_cgroup_dir(dir: &Path) -> Result<()> {
    if let Ok(rd) = fs::read_dir(dir) {
        for ent in rd.flatten() {
            if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_dir(&ent.path())?;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_millis(1000);
    let mut delay = Duration::from_millis(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::EAGAIN) =>
            {
                if Instant::now() >= deadline {
                    return Err(Error::io(PATH_FIELD, "rmdir", dir, e));
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::io(PATH_FIELD, "rmdir", dir, e)),
        }
    }
}

/// Processes in the cgroup `dir` and every cgroup below it.
pub(crate) fn count_procs(dir: &Path) -> usize {
    let mut n = read_opt(&dir.join("cgroup.procs"))
        .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    if let Ok(rd) = fs::read_dir(dir) {
        for ent in rd.flatten() {
            if ent.file_type().is_ok_and(|t| t.is_dir()) {
                n += count_procs(&ent.path());
            }
        }
    }
    n
}

/// rmdir that ignores every failure (used for parents that may be in use).
pub(crate) fn try_rmdir(dir: &Path) -> bool {
    fs::remove_dir(dir).is_ok()
}

/// Send `sig` to every pid; pids that are gone already are fine.
pub(crate) fn signal_pids(pids: &[i32], sig: i32) -> Result<()> {
    for &pid in pids {
        if pid <= 0 {
            continue;
        }
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(pid, sig) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::Sys {
                    field: "kill".into(),
                    what: format!("kill({pid}, {sig})"),
                    source: OsError(e),
                });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The handle

/// Handle for one container's cgroup in every hierarchy. Constructing it does
/// no disk access; the host layout is read (once per process) on first use.
///
/// Ownership: a handle knows the directories myrt created for it
/// ([`Cgroup::created`]; persisted in the container's state and given back
/// with [`Cgroup::with_created`]). Only a cgroup whose leaf myrt created is
/// killed in or removed ([`Cgroup::owns_leaf`]); a cgroup that was there
/// before is used only if it holds no process, and is left in place.
#[derive(Debug)]
pub struct Cgroup {
    path: String,
    /// Directories this handle created (full paths, top down, leaf
    /// directories included), so `destroy` removes what it made and nothing
    /// that existed before.
    created: Mutex<Vec<PathBuf>>,
    /// False only for containers whose state predates the record of created
    /// directories: they are treated as owned (the behaviour they were
    /// created with).
    tracked: bool,
}

impl Cgroup {
    /// `path` is the result of [`resolve_path`], e.g. "/myrt/c1". The handle
    /// owns nothing until [`Cgroup::create`] makes directories.
    pub fn new(path: &str) -> Cgroup {
        Cgroup {
            path: path.to_string(),
            created: Mutex::new(Vec::new()),
            tracked: true,
        }
    }

    /// A handle that owns `created` (what [`Cgroup::created`] returned
    /// after `create`), for `delete` in a later process.
    pub fn with_created(path: &str, created: Vec<PathBuf>) -> Cgroup {
        Cgroup {
            path: path.to_string(),
            created: Mutex::new(created),
            tracked: true,
        }
    }

    /// A handle for a container whose state has no record of what was
    /// created: treated as owning its leaf.
    pub fn untracked(path: &str) -> Cgroup {
        Cgroup {
            path: path.to_string(),
            created: Mutex::new(Vec::new()),
            tracked: false,
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The host mode this handle acts in.
    pub fn mode(&self) -> Mode {
        detect()
    }

    pub(crate) fn remember_created(&self, dirs: Vec<PathBuf>) {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(dirs);
    }

    fn take_created(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The directories this handle created (top down), to persist.
    pub fn created(&self) -> Vec<PathBuf> {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// May `destroy` remove the cgroup directory `dir`?
    pub(crate) fn may_remove(&self, dir: &Path) -> bool {
        !self.tracked
            || self
                .created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|d| d == dir)
    }

    /// The leaf directories of this cgroup, one per hierarchy.
    fn leaves(&self) -> Vec<PathBuf> {
        match detect() {
            Mode::V1 => v1::leaves(self),
            Mode::V2 => vec![v2::leaf(self)],
        }
    }

    /// Did myrt create this cgroup (its leaf in every hierarchy)? Only then
    /// may it kill what is in it.
    pub fn owns_leaf(&self) -> bool {
        self.leaves().iter().all(|d| self.may_remove(d))
    }

    /// Create the cgroup (mkdir -p) in every hierarchy. A leaf that exists
    /// already must hold no process (in it or below it): a container never
    /// shares, or rewrites the limits of, a cgroup in use ("cgroup is not
    /// empty", as runc says).
    pub fn create(&self) -> Result<()> {
        match detect() {
            Mode::V1 => v1::create(self)?,
            Mode::V2 => v2::create(self)?,
        }
        for leaf in self.leaves() {
            if self.may_remove(&leaf) {
                continue;
            }
            let n = count_procs(&leaf);
            if n > 0 {
                return Err(Error::invalid(
                    PATH_FIELD,
                    format!(
                        "cgroup {} is not empty: {n} process(es) found in {}; a container needs a cgroup of its own",
                        self.path,
                        leaf.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Apply `linux.resources` with no `linux.devices` nodes: see
    /// [`Cgroup::set_with_devices`].
    pub fn set(&self, r: &LinuxResources) -> Result<()> {
        self.set_with_devices(r, &[])
    }

    /// Apply `linux.resources`. Only limits that are set are written; the
    /// device policy is always applied ([`devices::policy`]: deny-all, the
    /// config's rules, the nodes of `linux.devices`, the runtime defaults).
    pub fn set_with_devices(&self, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()> {
        match detect() {
            Mode::V1 => v1::set(self, r, nodes),
            Mode::V2 => v2::set(self, r, nodes),
        }
    }

    /// Move `pid` into the cgroup (every hierarchy; on hybrid hosts the unified one too).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        match detect() {
            Mode::V1 => v1::add_pid(self, pid),
            Mode::V2 => v2::add_pid(self, pid),
        }
    }

    /// v2: an `O_DIRECTORY|O_CLOEXEC` fd of the leaf for `clone3(CLONE_INTO_CGROUP)`; v1: `None`.
    pub fn dir_fd(&self) -> Result<Option<OwnedFd>> {
        match detect() {
            Mode::V1 => Ok(None),
            Mode::V2 => v2::dir_fd(self).map(Some),
        }
    }

    /// Processes in the cgroup (not recursive).
    pub fn pids(&self) -> Result<Vec<i32>> {
        match detect() {
            Mode::V1 => v1::pids(self),
            Mode::V2 => v2::pids(self),
        }
    }

    /// Freeze (`true`) or thaw (`false`), waiting until the state has settled.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        match detect() {
            Mode::V1 => v1::freeze(self, frozen),
            Mode::V2 => v2::freeze(self, frozen),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        match detect() {
            Mode::V1 => v1::is_frozen(self),
            Mode::V2 => v2::is_frozen(self),
        }
    }

    /// Signal every process in the cgroup. The cgroup is frozen while the
    /// signals go out (so nothing forks past them) and thawed afterwards; a
    /// cgroup that was frozen before stays frozen, except for SIGKILL.
    pub fn kill_all(&self, sig: i32) -> Result<()> {
        match detect() {
            Mode::V1 => v1::kill_all(self, sig),
            Mode::V2 => v2::kill_all(self, sig),
        }
    }

    /// Remove the cgroup in every hierarchy where this handle created it
    /// (missing is fine; a leaf that existed before is left alone). Also
    /// removes empty parents that this handle created, and empty parents
    /// below `/myrt` (the runtime's own prefix); never any other directory.
    pub fn destroy(&self) -> Result<()> {
        let res = match detect() {
            Mode::V1 => v1::destroy(self),
            Mode::V2 => v2::destroy(self),
        };
        // Parents created by this handle, deepest first.
        let created = self.take_created();
        for d in created.iter().rev() {
            try_rmdir(d);
        }
        res
    }

    /// The directories [`create`](Self::create) would make now: the missing
    /// ones along the path in every hierarchy, top down. `create` records
    /// them before making them, so a `delete` after a crash removes those
    /// and never a directory that was there before.
    pub fn missing_dirs(&self) -> Vec<PathBuf> {
        let leaves = match detect() {
            Mode::V1 => v1::roots_and_leaves(self),
            Mode::V2 => v2::roots_and_leaves(self),
        };
        let mut out = Vec::new();
        for (root, leaf) in leaves {
            let rel = leaf.strip_prefix(&root).unwrap_or(&leaf).to_path_buf();
            let mut cur = root.clone();
            for c in rel.components() {
                cur.push(c);
                if !cur.is_dir() {
                    out.push(cur.clone());
                }
            }
        }
        out
    }

    /// How many processes the kernel's OOM killer killed in this cgroup,
    /// and its peak memory usage in bytes (where the kernel tells).
    pub fn oom_kills(&self) -> Option<(u64, Option<u64>)> {
        match detect() {
            Mode::V1 => v1::oom_kills(self),
            Mode::V2 => v2::oom_kills(self),
        }
    }

    /// rmdir `dirs` (as recorded by [`missing_dirs`](Self::missing_dirs)),
    /// deepest first, where empty; returns the ones still there.
    pub fn remove_dirs(dirs: &[PathBuf]) -> Vec<PathBuf> {
        for d in dirs.iter().rev() {
            try_rmdir(d);
        }
        dirs.iter().filter(|d| d.is_dir()).cloned().collect()
    }

    pub fn exists(&self) -> bool {
        match detect() {
            Mode::V1 => v1::exists(self),
            Mode::V2 => v2::exists(self),
        }
    }

    /// runc `events --stats` shaped data (best effort): cpu usage and
    /// throttling, memory usage/limit, pids current/limit.
    pub fn stats(&self) -> Result<serde_json::Value> {
        match detect() {
            Mode::V1 => v1::stats(self),
            Mode::V2 => v2::stats(self),
        }
    }

    /// Parents of the leaf that belong to myrt's own prefix (`/myrt/...`),
    /// deepest first, as cgroup paths. Empty for paths outside `/myrt`.
    pub(crate) fn owned_parents(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.path.starts_with(&format!("{DEFAULT_PARENT}/")) {
            return out;
        }
        let mut p = self.path.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if p.is_empty() {
                break;
            }
            out.push(p.to_string());
            if p == DEFAULT_PARENT {
                break;
            }
        }
        out
    }

    /// rmdir (if empty) the `/myrt/...` parents of the leaf below `mountpoint`.
    pub(crate) fn remove_owned_parents(&self, mountpoint: &Path) {
        for p in self.owned_parents() {
            if !try_rmdir(&join(mountpoint, &p)) {
                break;
            }
        }
    }
}

/// Poll `check` until it returns `Ok(true)` or `timeout` passes.
pub(crate) fn wait_until(
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_micros(200);
    loop {
        if check()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests;
