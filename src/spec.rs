//! The bundle's `config.json` (and `exec --process` files): loading with the
//! `oci-spec` types, and validation whose errors name the offending field.
//! Anything myrt cannot honour is refused here, before anything is created.

use oci_spec::runtime::{Linux, LinuxNamespaceType, Process, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: {field}: {msg}")]
    Parse {
        file: String,
        field: String,
        msg: String,
    },
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

/// Deserialize `data`, naming the field of an error (`(document)` for the
/// whole). Every typed read of a config, a process.json, a saved config or
/// an `update -r` file goes through here: each deserializer a type is read
/// with instantiates all of its (large) `Deserialize` code once more, so one
/// deserializer keeps the binary, and so every call's resident size, small.
pub fn from_json<T: serde::de::DeserializeOwned>(
    data: &[u8],
) -> std::result::Result<T, (String, String)> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "(document)".into()
        } else {
            field
        };
        (field, e.into_inner().to_string())
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    check_document(path, &data)?;
    // An unknown capability name is ignored with a warning, as runc does
    // ("ignoring unknown or unavailable capabilities"); only on this error,
    // so the common path parses once.
    let r = match from_json(&data) {
        Err((field, msg)) if field.contains("capabilities.") => {
            match without_unknown_caps(&data).and_then(|v| serde_json::to_vec(&v).ok()) {
                Some(data) => from_json(&data),
                None => Err((field, msg)),
            }
        }
        r => r,
    };
    r.map_err(|(field, msg)| Error::Parse {
        file: path.display().to_string(),
        field,
        msg,
    })
}

/// The document with unknown names dropped from the capability sets (of
/// `process.capabilities`, or `capabilities` of a process.json), after a
/// warning naming them; None if there were none.
fn without_unknown_caps(data: &[u8]) -> Option<serde_json::Value> {
    use oci_spec::runtime::Capability;
    let mut v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let caps = match v.get("process") {
        Some(_) => v.pointer_mut("/process/capabilities")?,
        None => v.get_mut("capabilities")?,
    };
    let mut dropped = Vec::new();
    for set in caps.as_object_mut()?.values_mut() {
        if let Some(list) = set.as_array_mut() {
            list.retain(|c| {
                let ok = serde_json::from_value::<Capability>(c.clone()).is_ok();
                if !ok {
                    dropped.push(c.as_str().unwrap_or("?").to_string());
                }
                ok
            });
        }
    }
    if dropped.is_empty() {
        return None;
    }
    dropped.sort();
    dropped.dedup();
    eprintln!(
        "myrt: warning: ignoring unknown capabilities: [{}]",
        dropped.join(" ")
    );
    Some(v)
}

/// What serde would accept but is no config: a document that is not a JSON
/// object (a positional array fills a struct field by field), and strings
/// with NUL bytes (no path, argument or name can hold one; the kernel would
/// see a shorter string). Both are refused naming the field.
fn check_document(path: &Path, data: &[u8]) -> Result<()> {
    let bad = |field: String, msg: &str| Error::Parse {
        file: path.display().to_string(),
        field,
        msg: msg.into(),
    };
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(_) => return Err(bad("(document)".into(), "must be a JSON object")),
    }
    // A NUL can only be written as an escape: look for one before parsing
    // the document a second time to name its field.
    if !data.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Ok(());
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Ok(()); // the typed parse reports the syntax error
    };
    fn find(v: &serde_json::Value, at: &str) -> Option<String> {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(at.to_string()),
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, x)| find(x, &format!("{at}[{i}]"))),
            serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                if k.contains('\0') {
                    Some(here)
                } else {
                    find(x, &here)
                }
            }),
            _ => None,
        }
    }
    match find(&v, "") {
        Some(field) => Err(bad(field, "contains a NUL byte")),
        None => Ok(()),
    }
}

/// Annotation that gives a bundle an overlay root: `"true"` (write layer in
/// the state dir, removed on delete) or an absolute directory (kept).
pub const OVERLAY_ANNOTATION: &str = "org.myrt.rootfs.overlay";

/// Load `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    parse(&bundle.join("config.json"))
}

/// Load a process.json given to `exec --process`.
pub fn load_process(path: &Path) -> Result<Process> {
    let p: Process = parse(path)?;
    validate_process(&p, "process")?;
    refuse_unsupported_process(&p)?;
    Ok(p)
}

/// The absolute root filesystem path of a bundle.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> PathBuf {
    let p = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    if p.is_absolute() { p } else { bundle.join(p) }
}

/// Does the config ask for a new namespace of this type (or join one)?
pub fn has_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// Does the config create a namespace of type `t` (one without a path)?
pub fn new_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t && n.path().is_none()))
}

/// The largest user or group id a container process may have (runc's limit).
pub const MAX_ID: u32 = i32::MAX as u32;

fn check_id_range(field: &str, id: u32) -> Result<()> {
    if id > MAX_ID {
        return Err(invalid(
            field,
            format!("{id} is out of range (ids are 0..={MAX_ID})"),
        ));
    }
    Ok(())
}

pub fn validate_process(p: &Process, field: &str) -> Result<()> {
    let args = p.args().as_ref().map(|a| a.len()).unwrap_or(0);
    if args == 0 {
        return Err(invalid(format!("{field}.args"), "must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(invalid(
            format!("{field}.cwd"),
            format!("{:?} is not an absolute path", p.cwd()),
        ));
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') || e.starts_with('=') {
            return Err(invalid(
                format!("{field}.env[{i}]"),
                format!("{e:?} is not KEY=VALUE"),
            ));
        }
    }
    // The kernel reads (uid_t)-1 as "leave unchanged": 4294967295 would keep
    // the process root. Ids are refused above 2^31-1, as runc does.
    let u = p.user();
    check_id_range(&format!("{field}.user.uid"), u.uid())?;
    check_id_range(&format!("{field}.user.gid"), u.gid())?;
    for (i, g) in u.additional_gids().iter().flatten().enumerate() {
        check_id_range(&format!("{field}.user.additionalGids[{i}]"), *g)?;
    }
    let mut seen = HashSet::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(invalid(
                format!("{field}.rlimits[{i}].type"),
                format!("duplicate rlimit {:?}", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(invalid(
                format!("{field}.rlimits[{i}]"),
                "soft limit is greater than hard limit",
            ));
        }
    }
    if let Some(b) = p.console_size() {
        for (what, v) in [("height", b.height()), ("width", b.width())] {
            if v > u16::MAX as u64 {
                return Err(invalid(
                    format!("{field}.consoleSize.{what}"),
                    format!("{v} is out of range (0..={})", u16::MAX),
                ));
            }
        }
    }
    Ok(())
}

/// Validate a config for `create`. `bundle` is absolute. The checks go
/// section by section, in the order of the runtime-spec's config.md; each
/// is named after the field it checks, and the first error wins.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    validate_version(spec)?;
    validate_root(spec, bundle)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing (required)"))?;
    validate_process(process, "process")?;
    validate_mounts(spec)?;
    if let Some(hooks) = spec.hooks() {
        validate_hooks(hooks)?;
    }
    refuse_unsupported(spec)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("linux", "missing (required on Linux)"))?;
    validate_namespaces(linux)?;
    if !has_namespace(spec, LinuxNamespaceType::Mount) {
        refuse_needing_mount_namespace(spec)?;
    }
    validate_id_mappings(spec, linux)?;
    validate_uts_names(spec)?;
    validate_time_offsets(spec, linux)?;
    validate_sysctl(spec, linux)?;
    validate_rootfs_propagation(linux)?;
    validate_net_devices(spec, linux)?;
    validate_devices(linux)
}

/// `ociVersion`: a 1.x runtime-spec.
fn validate_version(spec: &Spec) -> Result<()> {
    let v = spec.version();
    if !v.starts_with("1.") {
        return Err(invalid(
            "ociVersion",
            format!("{v:?} is not a supported runtime-spec version (1.x)"),
        ));
    }
    Ok(())
}

/// `root`: present, with a `path` that is a directory.
fn validate_root(spec: &Spec, bundle: &Path) -> Result<()> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing (required)"))?;
    if root.path().as_os_str().is_empty() {
        return Err(invalid("root.path", "must not be empty"));
    }
    let rootfs = rootfs_path(spec, bundle);
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        )),
        Err(e) => Err(invalid("root.path", format!("{}: {e}", rootfs.display()))),
    }
}

/// `mounts`: a relative destination is taken relative to "/" (runtime-spec
/// 1.1 relaxed the MUST to match what runtimes always did); an empty one
/// would be the container's root itself.
fn validate_mounts(spec: &Spec) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination().as_os_str().is_empty() {
            return Err(invalid(
                format!("mounts[{i}].destination"),
                "must not be empty (it would mount over the container's root)",
            ));
        }
    }
    Ok(())
}

/// `hooks`: absolute paths, and timeouts above zero and within
/// `hooks::MAX_TIMEOUT`.
fn validate_hooks(hooks: &oci_spec::runtime::Hooks) -> Result<()> {
    use crate::hooks::{Kind, MAX_TIMEOUT, hooks_of};
    for kind in Kind::ALL {
        for (i, h) in hooks_of(hooks, kind).iter().enumerate() {
            let field = |f: &str| format!("hooks.{kind}[{i}].{f}");
            if !h.path().is_absolute() {
                return Err(invalid(
                    field("path"),
                    format!("{:?} is not an absolute path", h.path()),
                ));
            }
            match h.timeout() {
                Some(t) if t <= 0 => {
                    return Err(invalid(field("timeout"), "must be greater than zero"));
                }
                Some(t) if t > MAX_TIMEOUT => {
                    return Err(invalid(
                        field("timeout"),
                        format!("{t} seconds is too large (at most {MAX_TIMEOUT})"),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// `linux.namespaces`: each type once, paths absolute.
fn validate_namespaces(linux: &Linux) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                format!("duplicate namespace {:?}", ns.typ()),
            ));
        }
        if let Some(p) = ns.path()
            && !p.is_absolute()
        {
            return Err(invalid(
                format!("linux.namespaces[{i}].path"),
                format!("{:?} is not an absolute path", p),
            ));
        }
    }
    Ok(())
}

/// `linux.uidMappings` / `linux.gidMappings`: required by a new user
/// namespace, and only valid with a user namespace.
fn validate_id_mappings(spec: &Spec, linux: &Linux) -> Result<()> {
    let userns = new_namespace(spec, LinuxNamespaceType::User);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if userns && !has_maps {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if has_maps && !has_namespace(spec, LinuxNamespaceType::User) {
        return Err(invalid(
            "linux.uidMappings",
            "mappings are only valid with a new user namespace",
        ));
    }
    Ok(())
}

/// `hostname` and `domainname`: setting either needs a uts namespace.
fn validate_uts_names(spec: &Spec) -> Result<()> {
    let uts = has_namespace(spec, LinuxNamespaceType::Uts);
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_ref().is_some_and(|h| !h.is_empty()) && !uts {
            return Err(invalid(
                field,
                format!("setting the {field} needs a uts namespace"),
            ));
        }
    }
    Ok(())
}

/// `linux.timeOffsets`: only for a new time namespace.
fn validate_time_offsets(spec: &Spec, linux: &Linux) -> Result<()> {
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new_namespace(spec, LinuxNamespaceType::Time)
    {
        return Err(invalid(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    Ok(())
}

/// The namespace a sysctl belongs to (None: not namespaced, a host-wide
/// setting).
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC_KEYS: [&str; 4] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
    ];
    if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key.starts_with("fs.mqueue.")
        || IPC_KEYS.contains(&key)
        || key.starts_with("kernel.shm")
    {
        Some(LinuxNamespaceType::Ipc)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// `linux.sysctl`: only namespaced keys, each with its new namespace, and
/// keys that stay below /proc/sys.
fn validate_sysctl(spec: &Spec, linux: &Linux) -> Result<()> {
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        match sysctl_namespace(key) {
            Some(t) if !new_namespace(spec, t) => {
                return Err(invalid(
                    format!("linux.sysctl.{key}"),
                    format!("needs a new {t:?} namespace"),
                ));
            }
            None => {
                return Err(invalid(
                    format!("linux.sysctl.{key}"),
                    "not a namespaced sysctl; refusing to change the host",
                ));
            }
            _ => {}
        }
        if key.contains("..") || key.contains('/') {
            return Err(invalid(format!("linux.sysctl.{key}"), "invalid key"));
        }
    }
    Ok(())
}

/// `linux.rootfsPropagation`: one of the mount propagation modes.
fn validate_rootfs_propagation(linux: &Linux) -> Result<()> {
    const MODES: [&str; 9] = [
        "",
        "private",
        "rprivate",
        "slave",
        "rslave",
        "shared",
        "rshared",
        "unbindable",
        "runbindable",
    ];
    if let Some(p) = linux.rootfs_propagation()
        && !MODES.contains(&p.as_str())
    {
        return Err(invalid(
            "linux.rootfsPropagation",
            format!("{p:?} is not a propagation mode"),
        ));
    }
    Ok(())
}

/// `linux.netDevices`: a network namespace to move them into, and valid
/// interface names.
fn validate_net_devices(spec: &Spec, linux: &Linux) -> Result<()> {
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    if !has_namespace(spec, LinuxNamespaceType::Network) {
        return Err(invalid(
            "linux.netDevices",
            "needs a network namespace (the interfaces would stay on the host)",
        ));
    }
    for (k, d) in devs {
        if !crate::netdevices::valid_name(k) {
            return Err(invalid(
                format!("linux.netDevices.{k}"),
                "not a valid interface name",
            ));
        }
        if let Some(n) = d.name()
            && !crate::netdevices::valid_name(n)
        {
            return Err(invalid(
                format!("linux.netDevices.{k}.name"),
                format!("{n:?} is not a valid interface name"),
            ));
        }
    }
    Ok(())
}

/// `linux.devices`: absolute paths and device numbers the kernel can hold
/// (12-bit major, 20-bit minor).
fn validate_devices(linux: &Linux) -> Result<()> {
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() {
            return Err(invalid(
                format!("linux.devices[{i}].path"),
                format!("{:?} is not an absolute path", d.path()),
            ));
        }
        for (what, v, max) in [("major", d.major(), 0xfff), ("minor", d.minor(), 0xf_ffff)] {
            if !(0..=max).contains(&v) {
                return Err(invalid(
                    format!("linux.devices[{i}].{what}"),
                    format!("{v} is out of range (0..={max})"),
                ));
            }
        }
    }
    Ok(())
}

/// Without a mount namespace the container runs in the host's, chrooted
/// into its root: anything that would mount, unmount or create nodes
/// there would change the host, and masks could not be applied, so such
/// fields are refused (runc refuses masked and read-only paths too).
fn refuse_needing_mount_namespace(spec: &Spec) -> Result<()> {
    let why = "needs a mount namespace (without one it would change the host's mounts)";
    if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(invalid("mounts", why));
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        return Err(invalid("root.readonly", why));
    }
    if spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(OVERLAY_ANNOTATION))
        .is_some_and(|v| !matches!(v.trim(), "" | "false"))
    {
        return Err(invalid(format!("annotations.{OVERLAY_ANNOTATION}"), why));
    }
    if let Some(l) = spec.linux() {
        let fields = [
            (
                "linux.maskedPaths",
                l.masked_paths().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            (
                "linux.readonlyPaths",
                l.readonly_paths().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            (
                "linux.devices",
                l.devices().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            (
                "linux.rootfsPropagation",
                l.rootfs_propagation()
                    .as_ref()
                    .is_some_and(|v| !v.is_empty()),
            ),
        ];
        if let Some((f, _)) = fields.iter().find(|(_, set)| *set) {
            return Err(invalid(*f, why));
        }
    }
    Ok(())
}

/// Fields myrt does not implement: refused with an error rather than
/// silently ignored (fail closed).
fn refuse_unsupported(spec: &Spec) -> Result<()> {
    let no = |field: &str| Err(invalid(field, "not supported by myrt"));
    if let Some(p) = spec.process() {
        refuse_unsupported_process(p)?;
    }
    if let Some(l) = spec.linux() {
        if l.intel_rdt().is_some() {
            return no("linux.intelRdt");
        }
        if let Some(m) = l.memory_policy() {
            check_memory_policy(m)?;
        }
        if l.mount_label().as_ref().is_some_and(|m| !m.is_empty()) && selinux_enabled() {
            return no("linux.mountLabel");
        }
        if let Some(p) = l.personality()
            && p.flags().as_ref().is_some_and(|f| !f.is_empty())
        {
            return no("linux.personality.flags");
        }
    }
    Ok(())
}

/// The process fields myrt refuses (also for `exec --process`).
pub fn refuse_unsupported_process(p: &Process) -> Result<()> {
    let no = |field: &str| Err(invalid(field, "not supported by myrt"));
    if let Some(a) = p.exec_cpu_affinity() {
        for (f, v) in [("initial", a.initial()), ("final", a.cpu_affinity_final())] {
            if let Some(v) = v {
                crate::security::parse_list(v, "CPU")
                    .map_err(|e| invalid(format!("process.execCPUAffinity.{f}"), e))?;
            }
        }
    }
    if p.selinux_label().as_ref().is_some_and(|l| !l.is_empty()) && selinux_enabled() {
        return no("process.selinuxLabel");
    }
    Ok(())
}

/// `linux.memoryPolicy`: the nodes each mode needs or forbids
/// (runtime-spec config-linux.md), and a well-formed node list.
fn check_memory_policy(m: &oci_spec::runtime::LinuxMemoryPolicy) -> Result<()> {
    use oci_spec::runtime::MemoryPolicyModeType as M;
    let nodes = m.nodes().as_deref().unwrap_or("").trim();
    crate::security::parse_list(nodes, "node")
        .map_err(|e| invalid("linux.memoryPolicy.nodes", e))?;
    match m.mode() {
        M::MpolDefault | M::MpolLocal if !nodes.is_empty() => Err(invalid(
            "linux.memoryPolicy.nodes",
            format!("{} takes no nodes", m.mode()),
        )),
        M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
            if nodes.is_empty() =>
        {
            Err(invalid(
                "linux.memoryPolicy.nodes",
                format!("{} needs at least one node", m.mode()),
            ))
        }
        _ => Ok(()),
    }
}

/// SELinux labels are ignored on hosts without SELinux (as runc does).
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Check a container id: `^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$`.
pub fn validate_id(id: &str) -> std::result::Result<(), String> {
    let b = id.as_bytes();
    let ok_first = b.first().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"_.+-".contains(c));
    if !ok_first || !ok_rest || b.len() > 1024 {
        return Err(format!(
            "invalid container id {id:?}: must match ^[A-Za-z0-9][A-Za-z0-9_.+-]{{0,1023}}$"
        ));
    }
    Ok(())
}

/// Merge `KEY=VALUE` entries into an environment: an entry replaces any of
/// the same key, and goes last.
pub fn merge_env(base: &mut Vec<String>, extra: &[String]) {
    for e in extra {
        let key = e.split('=').next().unwrap_or("");
        base.retain(|b| b.split('=').next() != Some(key));
        base.push(e.clone());
    }
}

/// [`merge_env`] into `process.env` (for the variables the runtime itself
/// hands the container: `NOTIFY_SOCKET`, `LISTEN_FDS`).
pub fn merge_process_env(spec: &mut Spec, extra: &[String]) {
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        merge_env(&mut env, extra);
        p.set_env(Some(env));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["a", "abc-1.2_3+x", "0"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", "../x", "a/b", "-x", ".x", "x y", &"a".repeat(1025)] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    fn write(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::write(dir.join("config.json"), json).unwrap();
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("myrt-spec-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn parse_errors_name_the_field() {
        let d = tmp("ns");
        write(
            &d,
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
               "linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#,
        );
        let e = load(&d).unwrap_err().to_string();
        assert!(e.contains("linux.namespaces[1]"), "{e}");
        write(&d, "{not json");
        assert!(load(&d).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn validation_names_the_field() {
        let d = tmp("val");
        let base = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"CWD"},
               "linux":{"namespaces":[{"type":"mount"}]}}"#;
        write(&d, &base.replace("CWD", "rel"));
        let e = validate(&load(&d).unwrap(), &d).unwrap_err().to_string();
        assert!(e.contains("process.cwd"), "{e}");
        write(&d, &base.replace("CWD", "/"));
        validate(&load(&d).unwrap(), &d).unwrap();
        write(
            &d,
            &base.replace("CWD", "/").replace("rootfs\"}", "nope\"}"),
        );
        let e = validate(&load(&d).unwrap(), &d).unwrap_err().to_string();
        assert!(e.contains("root.path"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
