//! Container state under `<root>/<id>/`: `state.json` (written to a temp
//! file and renamed), a copy of the config the container was created from,
//! the exec FIFO of the create/start split, and a per-container `flock`.
//! The status is derived from the live process (pid + start time), never
//! trusted from disk.

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
    /// The cgroup directories myrt created for this container
    /// (`Cgroup::created`): only those are removed, and processes are
    /// killed only in a cgroup whose leaf is among them. `None` in state
    /// written before this was recorded (treated as owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_created: Option<Vec<PathBuf>>,
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
        if self.pid <= 0 {
            return false;
        }
        match sys::proc_stat(self.pid) {
            Some((st, start)) => start == self.start_time && st != 'Z' && st != 'X',
            None => false,
        }
    }
}

/// `<root>/<id>`: one container's directory.
pub struct Dir {
    pub path: PathBuf,
    pub id: String,
    _lock: Option<OwnedFd>,
}

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const FIFO: &str = "exec.fifo";

fn lock(path: &Path, exclusive: bool) -> Result<OwnedFd> {
    let fd = sys::open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    if unsafe { libc::flock(fd.as_raw_fd(), op) } < 0 {
        return Err(sys::last(format!("flock {}", path.display())).into());
    }
    Ok(fd)
}

/// Make the state root if it is missing: its parents with the usual 0755,
/// the root itself 0700 (it holds every container's config). A directory
/// that is already there is left exactly as it is (`--root /tmp` must not
/// change /tmp).
fn create_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |e| sys::io_err(format!("create state root {}", root.display()), e);
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

impl Dir {
    /// Create the directory of a new container (fails if the id exists),
    /// locked exclusively.
    pub fn create(root: &Path, id: &str) -> Result<Dir> {
        create_root(root)?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.into()));
            }
            Err(e) => return Err(sys::io_err(format!("mkdir {}", path.display()), e).into()),
        }
        let l = lock(&path, true)?;
        Ok(Dir {
            path,
            id: id.into(),
            _lock: Some(l),
        })
    }

    /// Open an existing container's directory, locked (shared for readers).
    pub fn open(root: &Path, id: &str, exclusive: bool) -> Result<Dir> {
        let path = root.join(id);
        let l = match lock(&path, exclusive) {
            Ok(l) => l,
            Err(Error::Sys(e)) if e.source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.into()));
            }
            Err(e) => return Err(e),
        };
        // Deleted while we waited for the lock?
        if !path.join(STATE_FILE).exists() && !path.exists() {
            return Err(Error::NotFound(id.into()));
        }
        Ok(Dir {
            path,
            id: id.into(),
            _lock: Some(l),
        })
    }

    pub fn load(&self) -> Result<State> {
        let p = self.path.join(STATE_FILE);
        let data = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
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

    /// Remove the directory and everything in it.
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(sys::io_err(format!("remove {}", self.path.display()), e).into()),
        }
    }
}

/// Ids of all containers under `root`, sorted.
pub fn list(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}
