use oci_spec::runtime::LinuxResources;

use super::*;

fn resources(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).expect("resources")
}

fn get<'a>(p: &'a Props, name: &str) -> Option<&'a Prop> {
    let all: Vec<_> = p.iter().filter(|(n, _)| *n == name).collect();
    assert!(all.len() <= 1, "{name} given {} times: {p:?}", all.len());
    all.first().map(|(_, v)| v)
}

#[test]
fn path_defaults_to_system_slice_and_myrt_prefix() {
    for p in [None, Some("")] {
        let u = UnitPath::parse(p, "c1").unwrap();
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.unit, "myrt-c1.scope");
        assert_eq!(u.cgroup, "/system.slice/myrt-c1.scope");
    }
}

#[test]
fn path_slice_prefix_name() {
    let u = UnitPath::parse(Some("machine.slice:crio:abc"), "x").unwrap();
    assert_eq!(
        (u.slice.as_str(), u.unit.as_str(), u.cgroup.as_str()),
        (
            "machine.slice",
            "crio-abc.scope",
            "/machine.slice/crio-abc.scope"
        )
    );
    // Empty slice: system.slice; empty prefix: name.scope; "-": the root slice.
    let u = UnitPath::parse(Some("::abc"), "x").unwrap();
    assert_eq!(u.cgroup, "/system.slice/abc.scope");
    let u = UnitPath::parse(Some("-:p:abc"), "x").unwrap();
    assert_eq!(
        (u.slice.as_str(), u.cgroup.as_str()),
        ("-.slice", "/p-abc.scope")
    );
}

/// Under a user's manager (rootless): the default slice is user.slice, and
/// every unit's cgroup is under the manager's own.
#[test]
fn user_path_is_under_the_manager() {
    let m = "/user.slice/user-4242.slice/user@4242.service";
    for p in [None, Some(""), Some(":myrt:c1")] {
        let u = UnitPath::parse_user(p, "c1", m).unwrap();
        assert_eq!(u.slice, "user.slice");
        assert_eq!(u.unit, "myrt-c1.scope");
        assert_eq!(u.cgroup, format!("{m}/user.slice/myrt-c1.scope"));
    }
    let u = UnitPath::parse_user(Some("user-libpod.slice:libpod:abc"), "x", m).unwrap();
    assert_eq!(
        u.cgroup,
        format!("{m}/user.slice/user-libpod.slice/libpod-abc.scope")
    );
    let u = UnitPath::parse_user(Some("-:p:abc"), "x", &format!("{m}/")).unwrap();
    assert_eq!(u.cgroup, format!("{m}/p-abc.scope"));
    let e = UnitPath::parse_user(Some("nodot:p:x"), "x", m).unwrap_err();
    assert!(e.to_string().starts_with(PATH_FIELD), "{e}");
}

/// The controllers a config's limits need, each named by a field that
/// needs it (rootless: checked against what the user's manager has).
#[test]
fn controllers_the_limits_need() {
    let r = resources(serde_json::json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 1048576},
        "cpu": {"shares": 512, "cpus": "0"},
        "pids": {"limit": 10},
        "unified": {"io.weight": "100", "memory.high": "max", "cgroup.freeze": "0"}
    }));
    let got = needed_controllers(&r);
    let want = [
        ("cpuset", "linux.resources.cpu.cpus"),
        ("cpu", "linux.resources.cpu.shares"),
        ("memory", "linux.resources.memory"),
        ("pids", "linux.resources.pids"),
        ("io", "linux.resources.unified.io.weight"),
    ];
    let got: Vec<(&str, &str)> = got.iter().map(|(c, f)| (c.as_str(), f.as_str())).collect();
    assert_eq!(got, want);
    // Devices only, empty sections, or zeros (unset: Docker's blockIO
    // weight 0): none.
    let r = resources(serde_json::json!({
        "devices": [], "memory": {}, "cpu": {"shares": 0}, "blockIO": {"weight": 0}
    }));
    assert!(needed_controllers(&r).is_empty());
}

#[test]
fn path_slices_nest_at_dashes() {
    let u = UnitPath::parse(Some("kubepods-besteffort-pod12.slice:cri:c"), "x").unwrap();
    assert_eq!(
        u.cgroup,
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-c.scope"
    );
    assert_eq!(expand_slice("-.slice").unwrap(), "/");
    assert_eq!(expand_slice("a.slice").unwrap(), "/a.slice");
}

#[test]
fn path_errors_name_the_field() {
    for bad in [
        "a:b",
        "a:b:c:d",
        "/myrt/c1",
        "nodot:p:n",
        "a/b.slice:p:n",
        "-a.slice:p:n",
        "a-.slice:p:n",
        "a--b.slice:p:n",
        ".slice:p:n",
        "a.slice:p:",
        "a.slice:p:n/../x",
        "a.slice:p:sp ace",
    ] {
        let e = UnitPath::parse(Some(bad), "c1").expect_err(bad).to_string();
        assert!(e.starts_with("linux.cgroupsPath: "), "{bad}: {e}");
    }
    let e = UnitPath::parse(Some("a.slice:p:sub.slice"), "c").unwrap_err();
    assert!(e.to_string().contains("slice unit of its own"), "{e}");
}

#[test]
fn scope_properties_place_and_delegate() {
    let u = UnitPath::parse(Some("a-b.slice:p:n"), "c1").unwrap();
    let p = scope_properties(&u.slice, "c1", 4242, Mode::V2, Vec::new());
    assert_eq!(get(&p, "Slice"), Some(&Prop::Str("a-b.slice".into())));
    assert_eq!(get(&p, "Delegate"), Some(&Prop::Bool(true)));
    assert_eq!(get(&p, "PIDs"), Some(&Prop::U32s(vec![4242])));
    assert_eq!(
        get(&p, "Description"),
        Some(&Prop::Str("myrt container c1".into()))
    );
    assert_eq!(get(&p, "IOAccounting"), Some(&Prop::Bool(true)));
    let p = scope_properties(&u.slice, "c1", 1, Mode::V1, Vec::new());
    assert_eq!(get(&p, "BlockIOAccounting"), Some(&Prop::Bool(true)));
    assert_eq!(get(&p, "IOAccounting"), None);
}

#[test]
fn memory_v2() {
    let r = resources(serde_json::json!({
        "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200}
    }));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "MemoryMax"), Some(&Prop::U64(104857600)));
    assert_eq!(get(&p, "MemoryLow"), Some(&Prop::U64(52428800)));
    // memory.swap is memory+swap: systemd's MemorySwapMax is swap alone.
    assert_eq!(get(&p, "MemorySwapMax"), Some(&Prop::U64(104857600)));
    assert_eq!(get(&p, "MemoryLimit"), None);
    let r = resources(serde_json::json!({"memory": {"limit": -1, "swap": -1}}));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "MemoryMax"), Some(&Prop::U64(INFINITY)));
    assert_eq!(get(&p, "MemorySwapMax"), Some(&Prop::U64(INFINITY)));
    // A swap limit without a memory limit is refused, as by the v2 files.
    let r = resources(serde_json::json!({"memory": {"swap": 1000}}));
    let e = resource_properties(&r, &[], Mode::V2)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.memory.swap"), "{e}");
}

#[test]
fn memory_v1() {
    let r = resources(serde_json::json!({"memory": {"limit": 1048576, "reservation": 1000}}));
    let p = resource_properties(&r, &[], Mode::V1).unwrap();
    assert_eq!(get(&p, "MemoryLimit"), Some(&Prop::U64(1048576)));
    assert_eq!(get(&p, "MemoryMax"), None);
    assert_eq!(get(&p, "MemoryLow"), None);
}

#[test]
fn cpu_weight_quota_period_sets() {
    let r = resources(serde_json::json!({"cpu": {
        "shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-2,9", "mems": "0"
    }}));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(
        get(&p, "CPUWeight"),
        Some(&Prop::U64(shares_to_weight(1024)))
    );
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(500_000)));
    assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Prop::U64(100_000)));
    assert_eq!(
        get(&p, "AllowedCPUs"),
        Some(&Prop::Bytes(vec![0b0000_0111, 0b0000_0010]))
    );
    assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Prop::Bytes(vec![1])));
    let p = resource_properties(&r, &[], Mode::V1).unwrap();
    assert_eq!(get(&p, "CPUShares"), Some(&Prop::U64(1024)));
    assert_eq!(get(&p, "CPUWeight"), None);
}

#[test]
fn cpu_quota_rounds_up_to_whole_percent() {
    // 12345 µs per 100 ms is 123450 µs/s: 13 % of a CPU for systemd.
    let mut p = Props::new();
    cpu_quota(12345, 100_000, &mut p);
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(130_000)));
    // No period: the kernel's default 100 ms; quota -1: no limit.
    let mut p = Props::new();
    cpu_quota(20000, 0, &mut p);
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(200_000)));
    assert_eq!(get(&p, "CPUQuotaPeriodUSec"), None);
    let mut p = Props::new();
    cpu_quota(-1, 50_000, &mut p);
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(INFINITY)));
    let mut p = Props::new();
    cpu_quota(0, 0, &mut p);
    assert!(p.is_empty());
}

#[test]
fn pids_limit() {
    let r = resources(serde_json::json!({"pids": {"limit": 42}}));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "TasksMax"), Some(&Prop::U64(42)));
    let r = resources(serde_json::json!({"pids": {"limit": -1}}));
    let p = resource_properties(&r, &[], Mode::V1).unwrap();
    assert_eq!(get(&p, "TasksMax"), Some(&Prop::U64(INFINITY)));
    let r = resources(serde_json::json!({"pids": {"limit": 0}}));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "TasksMax"), None);
}

#[test]
fn unified_keys_override_typed_fields() {
    let r = resources(serde_json::json!({
        "memory": {"limit": 1000000},
        "cpu": {"quota": 10000, "period": 100000},
        "unified": {"memory.max": "2000000", "memory.high": "max", "pids.max": "7",
                    "cpu.max": "max 50000", "cpu.weight": "300", "io.weight": "100"}
    }));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "MemoryMax"), Some(&Prop::U64(2_000_000)));
    assert_eq!(get(&p, "MemoryHigh"), Some(&Prop::U64(INFINITY)));
    assert_eq!(get(&p, "TasksMax"), Some(&Prop::U64(7)));
    assert_eq!(get(&p, "CPUWeight"), Some(&Prop::U64(300)));
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(INFINITY)));
    assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Prop::U64(50_000)));
    let r = resources(serde_json::json!({"unified": {"memory.max": "lots"}}));
    let e = resource_properties(&r, &[], Mode::V2)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.unified.memory.max"), "{e}");
}

#[test]
fn range_bits_errors() {
    assert_eq!(range_bits("f", "0").unwrap(), vec![1]);
    assert_eq!(range_bits("f", "8").unwrap(), vec![0, 1]);
    for bad in ["", "a", "3-1", "1-", "0,,1"] {
        assert!(range_bits("f", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn devices_default_policy_is_strict_allow_list() {
    let r = resources(serde_json::json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]}));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "DevicePolicy"), Some(&Prop::Str("strict".into())));
    let Some(Prop::Pairs(allow)) = get(&p, "DeviceAllow") else {
        panic!("no DeviceAllow: {p:?}")
    };
    let has = |n: &str, a: &str| allow.iter().any(|(x, y)| x == n && y == a);
    assert!(has("/dev/char/10:200", "rw"), "{allow:?}");
    // The runtime's defaults: /dev/null and the pty slaves (major 136).
    assert!(has("/dev/char/1:3", "rwm"), "{allow:?}");
    assert!(
        allow.iter().any(|(x, _)| x.starts_with("char-")),
        "{allow:?}"
    );
    // mknod of any node (a runtime default) is a wildcard of each kind.
    assert!(has("char-*", "m") && has("block-*", "m"), "{allow:?}");
    // Only what some rule allows: no block device may be read or written.
    assert!(
        !allow.iter().any(|(x, a)| x.contains("block") && a != "m"),
        "{allow:?}"
    );
}

#[test]
fn devices_allow_all_is_auto() {
    let r = resources(serde_json::json!({"devices": [{"allow": true, "access": "rwm"}]}));
    let p = resource_properties(&r, &[], Mode::V2).unwrap();
    assert_eq!(get(&p, "DevicePolicy"), Some(&Prop::Str("auto".into())));
    assert_eq!(get(&p, "DeviceAllow"), Some(&Prop::Pairs(Vec::new())));
}

#[test]
fn proc_devices_names() {
    let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n136 blk-x\n";
    assert_eq!(
        proc_devices_name(text, DevKind::Char, 136).as_deref(),
        Some("pts")
    );
    assert_eq!(
        proc_devices_name(text, DevKind::Block, 136).as_deref(),
        Some("blk-x")
    );
    assert_eq!(proc_devices_name(text, DevKind::Block, 1), None);
}

#[test]
fn gvariant_values_unit_properties_use() {
    assert_eq!(gvariant("true"), Some(Prop::Bool(true)));
    assert_eq!(gvariant(" false "), Some(Prop::Bool(false)));
    assert_eq!(
        gvariant("'inactive-or-failed'"),
        Some(Prop::Str("inactive-or-failed".into()))
    );
    assert_eq!(
        gvariant(r#""a \"b\" c""#),
        Some(Prop::Str(r#"a "b" c"#.into()))
    );
    assert_eq!(gvariant(r"'it\'s'"), Some(Prop::Str("it's".into())));
    assert_eq!(gvariant("uint64 123456789"), Some(Prop::U64(123456789)));
    assert_eq!(gvariant("@t 5"), Some(Prop::U64(5)));
    assert_eq!(gvariant("uint32 7"), Some(Prop::U32(7)));
    assert_eq!(gvariant("int64 -3"), Some(Prop::I64(-3)));
    assert_eq!(gvariant("42"), Some(Prop::I32(42)));
    assert_eq!(gvariant("@b true"), Some(Prop::Bool(true)));
    for bad in [
        "",
        "yes",
        "'open",
        "'a'b'",
        "uint64 -1",
        "uint64 x",
        "double 1.5",
        "[1, 2]",
    ] {
        assert_eq!(gvariant(bad), None, "{bad:?}");
    }
}

#[test]
fn annotations_become_properties_as_runc_takes_them() {
    let a: std::collections::HashMap<String, String> = [
        ("org.systemd.property.TimeoutStopUSec", "uint64 123456789"),
        ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
        ("org.systemd.property.RuntimeMaxSec", "7"),
        ("org.opencontainers.image.title", "not ours"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut got = annotation_properties(&a).unwrap();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        vec![
            (
                "CollectMode".to_string(),
                Prop::Str("inactive-or-failed".into())
            ),
            ("RuntimeMaxUSec".to_string(), Prop::U64(7_000_000)),
            ("TimeoutStopUSec".to_string(), Prop::U64(123456789)),
        ]
    );
    for (k, v, why) in [
        ("org.systemd.property.Bad-Name", "1", "property name"),
        ("org.systemd.property.lower", "1", "property name"),
        (
            "org.systemd.property.CollectMode",
            "inactive",
            "not a value",
        ),
        ("org.systemd.property.TimeoutStopSec", "'ten'", "seconds"),
        ("org.systemd.property.TimeoutStopSec", "-1", "seconds"),
    ] {
        let one: std::collections::HashMap<String, String> =
            [(k.to_string(), v.to_string())].into_iter().collect();
        let e = annotation_properties(&one).unwrap_err().to_string();
        assert!(e.contains(&format!("annotations[{k:?}]")), "{e}");
        assert!(e.contains(why), "{k}={v}: {e}");
    }
}
