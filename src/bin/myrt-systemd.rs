//! `myrt-systemd`: the systemd cgroup driver's D-Bus client, run by
//! `myrt --systemd-cgroup` for each call to systemd (see `cgroups::bus`).
//! Installed beside `myrt`.

fn main() {
    std::process::exit(myrt::cgroups::dbus::main());
}
