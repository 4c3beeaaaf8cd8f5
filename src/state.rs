//! Container state under `<root>/<id>/`: `state.json` (written to a temp
//! file, synced and renamed), a copy of the config the container was created
//! from, the exec FIFO of the create/start split, and a per-container `flock`.
//! The status is derived from the live processes (pid + start time of the
//! init and of the `create` still working on it), never trusted from disk.
//!
//! `state.json` is also the write-ahead record of `create`: it is written
//! (durably) before anything else exists, names everything `create` is about
//! to make (cgroup directories, overlay layer, the init once it is born), and
//! appears under `<root>/<id>` in one rename. So a `create` killed at any
//! point leaves a container that `state` and `list` show and `delete -f`
//! removes completely. Readers (`state`, `list`, `ps`) take no lock.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container with id {0:?} already exists")]
    Exists(String),
    #[error("container {id:?} is busy: {holder} holds its lock (waited {waited:?})")]
    Locked {
        id: String,
        holder: String,
        waited: std::time::Duration,
    },
    #[error(transparent)]
    Sys(#[from] sys::Error),
    #[error("state file {path}: {msg}")]
    Corrupt { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What myrt keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (from /proc/<pid>/stat).
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Absolute cgroup path (same in every hierarchy).
    pub cgroup_path: String,
    /// Overlay write layer (upper/work parent dir) and whether delete removes it.
    #[serde(default)]
    pub overlay_dir: Option<PathBuf>,
    #[serde(default)]
    pub overlay_keep: bool,
    /// The namespaces the container created itself (config types).
    #[serde(default)]
    pub own_pid_ns: bool,
    /// The cgroup directories myrt creates for this container: recorded
    /// (as those missing along the path, `Cgroup::missing_dirs`) before
    /// `create` makes them. Only those are removed, and processes are killed
    /// only in a cgroup whose leaf is among them. `None` in state written
    /// before this was recorded (treated as owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_created: Option<Vec<PathBuf>>,
    /// No cgroup of its own (rootless without write access to cgroups):
    /// `cgroup_path` names nothing, and nothing is done in it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cgroup: bool,
    /// The systemd unit the cgroup is (`--systemd-cgroup`): `update` sets
    /// its properties, `delete` stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// The manager of that unit when it is not the system's: a user's
    /// (`systemd --user`, rootless), its bus and uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_bus: Option<crate::cgroups::bus::Bus>,
    /// The `create` (or `run`) process still setting the container up, with
    /// its start time; 0 once set-up is over. While it lives the status is
    /// `creating`.
    #[serde(default)]
    pub creator_pid: i32,
    #[serde(default)]
    pub creator_start: u64,
}

/// The JSON of `myrt state` and of hooks' stdin (runtime-spec `state`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

pub const OCI_VERSION: &str = "1.2.0";

impl State {
    /// The state as the runtime-spec describes it, with a given status.
    pub fn oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }

    /// Is the container's init process still the one we started (and not a
    /// zombie)?
    pub fn alive(&self) -> bool {
        pid_alive(self.pid, self.start_time)
    }

    /// Is the `create` that wrote this record still at work?
    pub fn creator_alive(&self) -> bool {
        pid_alive(self.creator_pid, self.creator_start)
    }

    /// Mark this process as the one creating the container.
    pub fn set_creator(&mut self) {
        let me = std::process::id() as i32;
        self.creator_pid = me;
        self.creator_start = sys::proc_stat(me).map(|(_, s)| s).unwrap_or(0);
    }
}

/// Is `pid` alive (not a zombie) and the process that started at `start`?
pub fn pid_alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match sys::proc_stat(pid) {
        Some((st, s)) => s == start && st != 'Z' && st != 'X',
        None => false,
    }
}

/// Does process `pid` hold an fd on the file `path` (same device and inode)?
/// `Some(false)` when `path` does not exist, `None` when the fd table
/// cannot be read. The init holds the exec FIFO
/// until `start` has opened it, and never again afterwards: this tells a
/// container that is `created` from one whose `start` died half-way.
pub fn holds_file(pid: i32, path: &Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let want = match std::fs::metadata(path) {
        Ok(m) => (m.dev(), m.ino()),
        Err(_) => return Some(false),
    };
    let rd = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for e in rd.flatten() {
        if let Ok(m) = std::fs::metadata(e.path())
            && (m.dev(), m.ino()) == want
        {
            return Some(true);
        }
    }
    Some(false)
}

/// `<root>/<id>`: one container's directory, with the flock taken on it
/// (if any) held for as long as the value lives.
pub struct ContainerDir {
    pub path: PathBuf,
    pub id: String,
    _lock: Option<OwnedFd>,
}

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const FIFO: &str = "exec.fifo";
/// Prefixes of a container directory still being made (`.new.<id>.<pid>`)
/// or being removed (`.dead.<id>.<pid>`); `list` skips dot names.
const NEW_PREFIX: &str = ".new.";
const DEAD_PREFIX: &str = ".dead.";

/// How long commands that need a container's lock wait for it:
/// `MYRT_LOCK_TIMEOUT` seconds (default 10).
pub fn lock_timeout() -> std::time::Duration {
    let secs = std::env::var("MYRT_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(10.0);
    std::time::Duration::from_secs_f64(secs.min(86400.0))
}

fn flock_nb(fd: &OwnedFd, exclusive: bool) -> std::io::Result<bool> {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    // SAFETY: flock takes two integers and touches no memory of ours; `fd`
    // is open (borrowed) for the call. (nix's Flock would take ownership of
    // the fd, which ContainerDir keeps.)
    if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

fn dev_ino(fd: &OwnedFd) -> Option<(u64, u64)> {
    let st = nix::sys::stat::fstat(fd).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Who holds a flock on the inode of `fd`: "pid N (command line)", from
/// /proc/locks.
fn lock_holder(fd: &OwnedFd) -> String {
    let Some((dev, ino)) = dev_ino(fd) else {
        return "another process".into();
    };
    let key = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    let locks = crate::sys::read_small("/proc/locks").unwrap_or_default();
    for l in locks.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; blocked waiters
        // are listed as "1: -> FLOCK ...".
        if f.get(1) != Some(&"FLOCK") || f.get(5) != Some(&key.as_str()) {
            continue;
        }
        let pid = f.get(4).copied().unwrap_or("?");
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        return if cmd.is_empty() {
            format!("pid {pid}")
        } else {
            format!("pid {pid} ({cmd})")
        };
    }
    "another process".into()
}

/// What a user who is not root should do about a state root they cannot
/// write (empty for root).
fn hint() -> String {
    crate::rootless::root_hint()
        .map(|h| format!(" ({h})"))
        .unwrap_or_default()
}

/// Make the state root if it is missing: its parents with the usual 0755,
/// the root itself 0700 (it holds every container's config). A directory
/// that is already there is left exactly as it is (`--root /tmp` must not
/// change /tmp).
fn create_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |e| sys::io_err(format!("create state root {}{}", root.display(), hint()), e);
    match std::fs::DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = root.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(err)?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(root) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(err(e).into()),
            }
        }
        Err(e) => Err(err(e).into()),
    }
}

impl ContainerDir {
    /// Make the directory of a new container, with `record` as its state
    /// (the write-ahead record), locked exclusively. The directory is built
    /// under a temporary name and renamed into place without replacing
    /// anything: of several creates of one id exactly one wins, and the id
    /// never exists without its record.
    pub fn create(root: &Path, id: &str, record: &State) -> Result<ContainerDir> {
        create_root(root)?;
        let path = root.join(id);
        if path.exists() {
            return Err(Error::Exists(id.into()));
        }
        let tmp = root.join(format!("{NEW_PREFIX}{id}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp)
            .map_err(|e| sys::io_err(format!("mkdir {}{}", tmp.display(), hint()), e))?;
        let dir = (|| {
            let l = sys::open(&tmp, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            flock_nb(&l, true).map_err(|e| sys::io_err(format!("flock {}", tmp.display()), e))?;
            let dir = ContainerDir {
                path: tmp.clone(),
                id: id.into(),
                _lock: Some(l),
            };
            dir.save_durable(record)?;
            crate::fault::point("record written");
            Ok::<_, Error>(dir)
        })();
        let mut dir = match dir {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = sys::rename_noreplace(&tmp, &path) {
            let _ = std::fs::remove_dir_all(&tmp);
            let exists = matches!(
                e.source.raw_os_error(),
                Some(libc::EEXIST) | Some(libc::ENOTEMPTY)
            );
            return Err(if exists {
                Error::Exists(id.into())
            } else {
                e.into()
            });
        }
        // The directory itself is not fsynced: after a crash of the machine
        // (the only case where it matters) the cgroups and processes the
        // record names are gone anyway, and the directory is there under
        // one of its two names, both of which `delete -f` removes.
        dir.path = path;
        crate::fault::point("record in place");
        Ok(dir)
    }

    /// Open an existing container's directory and lock it (shared or
    /// exclusive), waiting at most [`lock_timeout`]; then name the holder.
    /// The lock is checked to be on the directory that is at the path now
    /// (not one deleted, and maybe re-created, while we waited).
    pub fn open(root: &Path, id: &str, exclusive: bool) -> Result<ContainerDir> {
        let path = root.join(id);
        let timeout = lock_timeout();
        let t0 = std::time::Instant::now();
        let mut delay = std::time::Duration::from_micros(500);
        loop {
            let fd = match sys::open(&path, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
                Ok(fd) => fd,
                Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotFound(id.into()));
                }
                Err(e) => return Err(e.into()),
            };
            crate::fault::named("directory opened");
            let got = flock_nb(&fd, exclusive)
                .map_err(|e| sys::io_err(format!("flock {}", path.display()), e))?;
            if !got {
                let waited = t0.elapsed();
                if waited >= timeout {
                    return Err(Error::Locked {
                        id: id.into(),
                        holder: lock_holder(&fd),
                        waited,
                    });
                }
                std::thread::sleep(delay.min(timeout - waited));
                delay = (delay * 2).min(std::time::Duration::from_millis(20));
                continue;
            }
            // Locked; but is it still the container's directory?
            let now = std::fs::metadata(&path).ok().map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino())
            });
            match now {
                None => return Err(Error::NotFound(id.into())),
                Some(di) if Some(di) != dev_ino(&fd) => continue,
                Some(_) => {}
            }
            return Ok(ContainerDir {
                path,
                id: id.into(),
                _lock: Some(fd),
            });
        }
    }

    /// An existing container's directory, without a lock (for readers: the
    /// state file is replaced atomically, so it is always whole). Nothing
    /// is looked at yet: a missing directory is [`Error::NotFound`] from
    /// [`load`](Self::load).
    pub fn peek(root: &Path, id: &str) -> Result<ContainerDir> {
        let path = root.join(id);
        Ok(ContainerDir {
            path,
            id: id.into(),
            _lock: None,
        })
    }

    pub fn load(&self) -> Result<State> {
        let p = self.path.join(STATE_FILE);
        let data = std::fs::read(&p).map_err(|e| {
            // ENOTDIR: `<root>/<id>` is no directory (see `peek`).
            if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) {
                Error::NotFound(self.id.clone())
            } else {
                sys::io_err(format!("read {}", p.display()), e).into()
            }
        })?;
        serde_json::from_slice(&data).map_err(|e| Error::Corrupt {
            path: p.display().to_string(),
            msg: e.to_string(),
        })
    }

    pub fn save(&self, st: &State) -> Result<()> {
        let data = serde_json::to_vec(st).expect("state serializes");
        sys::write_atomic(&self.path.join(STATE_FILE), &data, 0o600)?;
        Ok(())
    }

    /// Like [`save`](Self::save), and the data is on disk before the rename
    /// (fdatasync: after a crash of the machine the record is whole, never
    /// an empty file).
    pub fn save_durable(&self, st: &State) -> Result<()> {
        let data = serde_json::to_vec(st).expect("state serializes");
        sys::write_atomic_sync(&self.path.join(STATE_FILE), &data, 0o600)?;
        Ok(())
    }

    /// The fd holding the lock: a forked child must close it, or the lock
    /// (shared by the open file description) outlives this command.
    pub fn lock_fd(&self) -> Option<std::os::fd::RawFd> {
        self._lock.as_ref().map(|l| l.as_raw_fd())
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    pub fn config(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// Remove the directory and everything in it: first renamed out of the
    /// way in one step (so the id is gone at once, record included, even if
    /// we are killed while removing the rest), then removed.
    pub fn remove(&self) -> Result<()> {
        let parent = self.path.parent().unwrap_or(Path::new("/"));
        let dead = parent.join(format!("{DEAD_PREFIX}{}.{}", self.id, std::process::id()));
        let _ = std::fs::remove_dir_all(&dead);
        let target = match std::fs::rename(&self.path, &dead) {
            Ok(()) => dead,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => self.path.clone(),
        };
        crate::fault::point("state dir renamed");
        match std::fs::remove_dir_all(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(sys::io_err(format!("remove {}", target.display()), e).into()),
        }
    }
}

/// Remove what a killed `create` or `delete` of `id` left under temporary
/// names (nothing else exists yet, or any more, for those): directories
/// nobody holds the lock of (a locked one belongs to a live create or delete).
/// Returns the ones that could not be removed.
pub fn sweep(root: &Path, id: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return left;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name
            .strip_prefix(NEW_PREFIX)
            .or_else(|| name.strip_prefix(DEAD_PREFIX))
        else {
            continue;
        };
        // rest = "<id>.<pid>"
        let Some((rid, pid)) = rest.rsplit_once('.') else {
            continue;
        };
        if rid != id || pid.parse::<u32>().is_err() {
            continue;
        }
        let p = e.path();
        let free = sys::open(&p, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .ok()
            .is_some_and(|fd| flock_nb(&fd, true).unwrap_or(false));
        if free && std::fs::remove_dir_all(&p).is_err() && p.exists() {
            left.push(p);
        }
    }
    left
}

/// Ids of all containers under `root`, sorted.
pub fn list(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}
