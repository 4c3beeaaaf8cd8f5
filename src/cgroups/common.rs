//! The [`Cgroup`] trait and what its back ends share: errors, the record of
//! what a handle created ([`Owned`]), and the cgroupfs file helpers.
//!
//! This module imports nothing else of `cgroups`: the controllers
//! (`resources`) and the back ends ([`super::v1`], [`super::v2`]) build on it.

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode as FileMode;
use oci_spec::runtime::{LinuxDevice, LinuxResources};

use crate::mountinfo;

/// Where cgroup file systems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The prefix for container cgroups whose `linux.cgroupsPath` is relative or unset.
pub const DEFAULT_PARENT: &str = "/myrt";

/// The config field named by errors about the cgroup itself.
pub(crate) const PATH_FIELD: &str = "linux.cgroupsPath";

// ---------------------------------------------------------------------------
// The trait

/// One container's cgroup, in every hierarchy of the host (the model is
/// youki's `CgroupManager` and crun's table of cgroup functions).
///
/// Back ends: [`super::v1::V1`] (one directory per mounted controller
/// hierarchy, hybrid hosts included) and [`super::v2::V2`] (the unified
/// hierarchy). A back end that creates the cgroup some other way (a systemd
/// unit) implements `create`/`destroy`/`set` itself and hands the file
/// writing to the cgroupfs back end of the host ([`super::open_with`]).
///
/// Ownership: a handle knows the directories myrt created for it
/// ([`Owned`]; persisted in the container's state). Only a cgroup whose
/// leaf myrt created is killed in or removed ([`Cgroup::owns_leaf`]); a
/// cgroup that was there before is used only if it holds no process, and is
/// left in place.
pub trait Cgroup {
    /// The path and the record of created directories.
    fn owned(&self) -> &Owned;

    /// Create the cgroup (mkdir -p) in every hierarchy. A leaf that exists
    /// already must hold no process (in it or below it): a container never
    /// shares, or rewrites the limits of, a cgroup in use ("cgroup is not
    /// empty", as runc says).
    fn create(&mut self) -> Result<()>;

    /// Apply `linux.resources`. Only limits that are set are written; the
    /// device policy is always applied (`devices::policy`: deny-all, the
    /// nodes of `linux.devices`, the config's rules, the runtime defaults).
    fn set(&self, r: &LinuxResources, nodes: &[LinuxDevice]) -> Result<()>;

    /// Move `pid` into the cgroup (every hierarchy; on hybrid hosts the unified one too).
    fn add_pid(&self, pid: i32) -> Result<()>;

    /// An `O_DIRECTORY|O_CLOEXEC` fd of the leaf for
    /// `clone3(CLONE_INTO_CGROUP)`, where the host can do that (v2); `None`
    /// means: start the process, then [`add_pid`](Self::add_pid).
    fn dir_fd(&self) -> Result<Option<OwnedFd>>;

    /// Processes in the cgroup and the cgroups below it.
    fn pids(&self) -> Result<Vec<i32>>;

    /// Freeze (`true`) or thaw (`false`), waiting until the state has settled.
    fn freeze(&self, frozen: bool) -> Result<()>;

    fn is_frozen(&self) -> Result<bool>;

    /// Signal every process in the cgroup. The cgroup is frozen while the
    /// signals go out (so nothing forks past them) and thawed afterwards; a
    /// cgroup that was frozen before stays frozen, except for SIGKILL.
    fn kill_all(&self, sig: i32) -> Result<()>;

    /// Remove the cgroup in every hierarchy where this handle created it
    /// (missing is fine; a leaf that existed before is left alone). Also
    /// removes empty parents that this handle created, and empty parents
    /// below `/myrt` (the runtime's own prefix); never any other directory.
    fn destroy(&mut self) -> Result<()>;

    /// Does the cgroup exist (in any hierarchy)?
    fn exists(&self) -> bool;

    /// runc `events --stats` shaped data (best effort): cpu usage and
    /// throttling, memory usage/limit, pids current/limit.
    fn stats(&self) -> Result<serde_json::Value>;

    /// How many processes the kernel's OOM killer killed in this cgroup,
    /// and its peak memory usage in bytes (where the kernel tells).
    fn oom_kills(&self) -> Option<(u64, Option<u64>)>;

    /// (hierarchy root, leaf directory) for every hierarchy the cgroup lives in.
    fn roots_and_leaves(&self) -> Vec<(PathBuf, PathBuf)>;

    /// The cgroup path from the hierarchy root, e.g. "/myrt/c1".
    fn path(&self) -> &str {
        &self.owned().path
    }

    /// Did myrt create this cgroup (its leaf in every hierarchy)? Only then
    /// may it kill what is in it.
    fn owns_leaf(&self) -> bool {
        self.roots_and_leaves()
            .iter()
            .all(|(_, leaf)| self.owned().may_remove(leaf))
    }

    /// The directories [`create`](Self::create) would make now: the missing
    /// ones along the path in every hierarchy, top down. `create` records
    /// them before making them, so a `delete` after a crash removes those
    /// and never a directory that was there before.
    fn missing_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (root, leaf) in self.roots_and_leaves() {
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
}

// ---------------------------------------------------------------------------
// Ownership

/// A cgroup path and the directories a handle created for it (full paths,
/// top down, leaf directories included), so `destroy` removes what it made
/// and nothing that existed before.
#[derive(Debug, Clone)]
pub struct Owned {
    path: String,
    created: Vec<PathBuf>,
    /// False only for containers whose state predates the record of created
    /// directories: they are treated as owned (the behaviour they were
    /// created with).
    tracked: bool,
}

impl Owned {
    /// `path` is the result of `resolve_path`, e.g. "/myrt/c1". It owns
    /// nothing until `create` makes directories.
    pub fn new(path: &str) -> Owned {
        Owned {
            path: path.to_string(),
            created: Vec::new(),
            tracked: true,
        }
    }

    /// What `created` returned after `create`, for `delete` in a later process.
    pub fn with_created(path: &str, created: Vec<PathBuf>) -> Owned {
        Owned {
            created,
            ..Owned::new(path)
        }
    }

    /// A container whose state has no record of what was created: treated
    /// as owning its leaf.
    pub fn untracked(path: &str) -> Owned {
        Owned {
            tracked: false,
            ..Owned::new(path)
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn remember(&mut self, dirs: Vec<PathBuf>) {
        self.created.extend(dirs);
    }

    /// May `destroy` remove the cgroup directory `dir`?
    pub(crate) fn may_remove(&self, dir: &Path) -> bool {
        !self.tracked || self.created.iter().any(|d| d == dir)
    }

    /// rmdir the directories this handle created (deepest first, where
    /// empty) and forget them: the last step of every `destroy`.
    pub(crate) fn remove_created(&mut self) {
        for d in std::mem::take(&mut self.created).iter().rev() {
            try_rmdir(d);
        }
    }

    /// Refuse a leaf that myrt did not create and that holds processes.
    pub(crate) fn check_leaves_empty(&self, leaves: &[PathBuf]) -> Result<()> {
        for leaf in leaves.iter().filter(|l| !self.may_remove(l)) {
            let n = count_procs(leaf);
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
    fn remove_owned_parents(&mut self, mountpoint: &Path) {
        for p in self.owned_parents() {
            let dir = join(mountpoint, &p);
            if !try_rmdir(&dir) {
                break;
            }
            self.forget(&dir);
        }
    }

    /// A directory that is gone is no longer [`remove_created`](Self::remove_created)'s
    /// to rmdir.
    fn forget(&mut self, dir: &Path) {
        self.created.retain(|d| d != dir);
    }

    /// The part of `destroy` for one hierarchy mounted at `root`: remove
    /// the cgroup `leaf` with every cgroup below it, where this handle may
    /// ([`may_remove`](Self::may_remove)), then its empty `/myrt` parents.
    /// What this removed is forgotten, so `remove_created` does not try
    /// again (one failing rmdir fewer per directory and hierarchy).
    pub(crate) fn remove_leaf(&mut self, root: &Path, leaf: &Path) -> Result<()> {
        if !self.may_remove(leaf) {
            return Ok(());
        }
        remove_cgroup_dir(leaf)?;
        self.forget(leaf);
        self.remove_owned_parents(root);
        Ok(())
    }
}

/// rmdir `dirs` (as recorded by [`Cgroup::missing_dirs`]), deepest first,
/// where empty; returns the ones still there (in `dirs` order): those whose
/// rmdir failed other than with ENOENT (no second look at each).
pub fn remove_dirs(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut left: Vec<PathBuf> = dirs
        .iter()
        .rev()
        .filter(|d| fs::remove_dir(d).is_err_and(|e| e.kind() != io::ErrorKind::NotFound))
        .cloned()
        .collect();
    left.reverse();
    left
}

// ---------------------------------------------------------------------------
// Errors

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

    /// ENOENT for `path` (a cgroup that does not exist).
    pub(crate) fn missing(path: &Path) -> Error {
        Error::io(
            PATH_FIELD,
            "stat",
            path,
            io::Error::from_raw_os_error(libc::ENOENT),
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;

// ---------------------------------------------------------------------------
// Where a cgroup's files are

/// A cgroup's directories on a v1 host: one per mounted controller hierarchy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V1Dirs<'a> {
    pub path: &'a str,
}

impl V1Dirs<'_> {
    /// The directory of this cgroup in the hierarchy of `controller`, if mounted.
    pub fn dir(&self, controller: &str) -> Option<PathBuf> {
        mountinfo::host()
            .hierarchy(controller)
            .map(|h| join(&h.mountpoint, self.path))
    }

    /// Like [`dir`](Self::dir), but an error naming `field` when the
    /// controller is not mounted.
    pub fn require(&self, controller: &str, field: &str) -> Result<PathBuf> {
        self.dir(controller).ok_or_else(|| {
            Error::unsupported(
                field,
                format!("the {controller} cgroup controller is not mounted on this host"),
            )
        })
    }
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
    crate::sys::read_small(path).map_err(|e| Error::io(field, "read", path, e))
}

/// Write a v2 cgroup file; a missing file means the controller is not enabled.
pub(crate) fn write_v2(field: &str, path: &Path, value: &str) -> Result<()> {
    write_file(field, path, value).map_err(|e| {
        if e.errno() == Some(libc::ENOENT) && path.parent().is_some_and(Path::exists) {
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
            let ctrl = file.split('.').next().unwrap_or(file);
            Error::unsupported(
                field,
                format!(
                    "{} does not exist (is the {ctrl} controller available to this cgroup?)",
                    path.display()
                ),
            )
        } else {
            e
        }
    })
}

/// A v2 limit value: -1 is "max", other negative values are invalid.
pub(crate) fn v2_limit(field: &str, v: i64) -> Result<String> {
    match v {
        -1 => Ok("max".into()),
        v if v < -1 => Err(Error::invalid(field, format!("invalid value {v}"))),
        v => Ok(v.to_string()),
    }
}

/// A `linux.resources` value where 0 (the type's default) means unset.
pub(crate) fn unless_zero<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

/// A v1 value in [`lo`, `hi`] mapped linearly onto a v2 weight in
/// [1, 10000] (runc's formulas); 0 means unset and stays 0.
pub(crate) fn v2_weight(v: u64, lo: u64, hi: u64) -> u64 {
    if v == 0 {
        return 0;
    }
    1 + ((v.clamp(lo, hi) - lo) * 9999) / (hi - lo)
}

/// Read a cgroup file; `None` when it cannot be read (stats are best effort).
pub(crate) fn read_opt(path: &Path) -> Option<String> {
    crate::sys::read_small(path).ok()
}

/// A number file; "max" reads as `u64::MAX`.
pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    let s = read_opt(path)?;
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// A limit file for stats: "max" (no limit) and unreadable read as 0.
pub(crate) fn read_limit(path: &Path) -> u64 {
    read_u64(path)
        .map(|v| if v == u64::MAX { 0 } else { v })
        .unwrap_or(0)
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

pub(crate) fn parse_pids(path: &Path) -> Result<Vec<i32>> {
    let s = read_file(PATH_FIELD, path)?;
    Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// The processes of the cgroup `dir` and of every cgroup below it (the
/// container's processes may have moved into sub-cgroups of its own, as
/// systemd in a container does): `cgroup.procs` of each, parents first. A
/// sub-cgroup removed meanwhile is skipped.
pub(crate) fn pids_below(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = parse_pids(&dir.join("cgroup.procs"))?;
    let mut todo = subdirs(dir);
    while let Some(d) = todo.pop() {
        if let Ok(p) = parse_pids(&d.join("cgroup.procs")) {
            pids.extend(p);
            todo.extend(subdirs(&d));
        }
    }
    Ok(pids)
}

/// The directories in `dir` (none if it cannot be read).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Open a cgroup directory (`O_RDONLY|O_DIRECTORY|O_CLOEXEC`).
pub(crate) fn open_dir(dir: &Path) -> Result<OwnedFd> {
    open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        FileMode::empty(),
    )
    .map_err(|e| Error::io(PATH_FIELD, "open", dir, io::Error::from(e)))
}

/// `mountpoint` + cgroup path ("/a/b"). "." and ".." components are dropped,
/// so no cgroup path can leave the hierarchy.
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

/// Signal every process of a cgroup with the freezer held around the
/// signals: freeze (unless frozen already), signal, thaw what was frozen
/// here. A paused cgroup is thawed only for SIGKILL when `thaw_for_kill`
/// (frozen v1 tasks cannot die otherwise).
pub(crate) fn kill_frozen(cg: &dyn Cgroup, sig: i32, thaw_for_kill: bool) -> Result<()> {
    let was_frozen = cg.is_frozen().unwrap_or(false);
    let froze = !was_frozen && cg.freeze(true).is_ok();
    let res = cg.pids().and_then(|p| signal_pids(&p, sig));
    if froze || (was_frozen && thaw_for_kill && sig == libc::SIGKILL) {
        cg.freeze(false)?;
    }
    res
}
