//! `update`: change a running container's resource limits. The resources
//! are a `LinuxResources` JSON file (`-r FILE`, `-` for stdin) or the
//! container's current ones; the flags (runc's names) then set single
//! values on top. A flag's value may be negative in a separate argument
//! (`--memory -1`: unlimited), as runc's flag parser takes it.

use super::{Command, values};
use clap::Args;
use myrt::container::{self, Global};
use oci_spec::runtime::LinuxResources;
use std::path::PathBuf;

#[derive(Args)]
pub struct Update {
    /// LinuxResources JSON file ("-" for stdin)
    #[arg(short, long)]
    resources: Option<PathBuf>,
    #[arg(long, value_parser = values::size, allow_negative_numbers = true)]
    memory: Option<i64>,
    #[arg(long = "memory-reservation", value_parser = values::size, allow_negative_numbers = true)]
    memory_reservation: Option<i64>,
    #[arg(long = "memory-swap", value_parser = values::size, allow_negative_numbers = true)]
    memory_swap: Option<i64>,
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU realtime period in microseconds (cgroup v1 cpu.rt_period_us)
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds (cgroup v1 cpu.rt_runtime_us)
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    cpu_rt_runtime: Option<i64>,
    /// Intel RDT L3 cache schema: refused (myrt does not support intelRdt)
    #[arg(short = 'l', long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema: refused (as above)
    #[arg(long = "mem-bw-schema")]
    mem_bw_schema: Option<String>,
    id: String,
}

impl Command for Update {
    const NAME: &'static str = "update";

    fn id(&self) -> &str {
        &self.id
    }

    fn run(self, g: &Global) -> Result<i32, String> {
        for (flag, v) in [
            ("--l3-cache-schema", &self.l3_cache_schema),
            ("--mem-bw-schema", &self.mem_bw_schema),
        ] {
            if v.is_some() {
                return Err(format!(
                    "{flag}: Intel RDT (linux.intelRdt) is not supported by myrt"
                ));
            }
        }
        let file = self.resources.as_ref().map(read_resources).transpose()?;
        container::update(g, &self.id, file, |r| self.apply(r)).map_err(|e| e.to_string())?;
        Ok(0)
    }
}

impl Update {
    /// Set the values the flags give on `r`, keeping the others. A section
    /// no flag names is left as it is (absent stays absent).
    fn apply(&self, r: &mut LinuxResources) {
        if self
            .memory
            .or(self.memory_reservation)
            .or(self.memory_swap)
            .is_some()
        {
            let m = r.memory_mut().get_or_insert_with(Default::default);
            m.set_limit(self.memory.or(m.limit()));
            m.set_reservation(self.memory_reservation.or(m.reservation()));
            m.set_swap(self.memory_swap.or(m.swap()));
        }
        let cpuset = self.cpuset_cpus.is_some() || self.cpuset_mems.is_some();
        let cpu = self
            .cpu_shares
            .or(self.cpu_period)
            .or(self.cpu_rt_period)
            .is_some()
            || self.cpu_quota.or(self.cpu_rt_runtime).is_some();
        if cpuset || cpu {
            let c = r.cpu_mut().get_or_insert_with(Default::default);
            c.set_shares(self.cpu_shares.or(c.shares()));
            c.set_quota(self.cpu_quota.or(c.quota()));
            c.set_period(self.cpu_period.or(c.period()));
            c.set_realtime_period(self.cpu_rt_period.or(c.realtime_period()));
            c.set_realtime_runtime(self.cpu_rt_runtime.or(c.realtime_runtime()));
            if let Some(cpus) = &self.cpuset_cpus {
                c.set_cpus(Some(cpus.clone()));
            }
            if let Some(mems) = &self.cpuset_mems {
                c.set_mems(Some(mems.clone()));
            }
        }
        if let Some(limit) = self.pids_limit {
            r.pids_mut()
                .get_or_insert_with(Default::default)
                .set_limit(limit);
        }
        if let Some(weight) = self.blkio_weight {
            let b = r.block_io_mut().get_or_insert_with(Default::default);
            b.set_weight(Some(weight));
        }
    }
}

/// The `-r` file (`-`: stdin), a `LinuxResources` JSON object.
fn read_resources(p: &PathBuf) -> Result<LinuxResources, String> {
    let data = if p.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|e| e.to_string())?;
        v
    } else {
        std::fs::read(p).map_err(|e| format!("--resources {}: {e}", p.display()))?
    };
    myrt::spec::from_json(&data).map_err(|(field, e)| format!("--resources: {field}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        update: Update,
    }

    fn apply(args: &[&str], r: serde_json::Value) -> serde_json::Value {
        let line = Line::try_parse_from(["update"].iter().chain(args).chain(&["ctr"])).unwrap();
        let mut r: LinuxResources = serde_json::from_value(r).unwrap();
        line.update.apply(&mut r);
        serde_json::to_value(&r).unwrap()
    }

    #[test]
    fn flags_set_single_values_over_the_others() {
        let base = serde_json::json!({"memory": {"limit": 1, "swap": 5}, "cpu": {"shares": 2}});
        let r = apply(
            &[
                "--memory",
                "64m",
                "--cpuset-cpus",
                "0-1",
                "--pids-limit",
                "9",
            ],
            base,
        );
        assert_eq!(
            r,
            serde_json::json!({
                "memory": {"limit": 64 << 20, "swap": 5},
                "cpu": {"shares": 2, "cpus": "0-1"},
                "pids": {"limit": 9},
            })
        );
    }

    #[test]
    fn negative_values_in_their_own_argument() {
        let args = ["--memory", "-1", "--memory-swap", "-1", "--cpu-quota", "-1"];
        let r = apply(
            &[&args[..], &["--pids-limit", "-1"]].concat(),
            serde_json::json!({}),
        );
        let want = serde_json::json!({
            "memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1}, "pids": {"limit": -1},
        });
        assert_eq!(r, want);
    }

    #[test]
    fn realtime_flags_set_the_cpu_section() {
        let r = apply(
            &["--cpu-rt-period", "500000", "--cpu-rt-runtime", "-1"],
            serde_json::json!({"cpu": {"shares": 2}}),
        );
        let want = serde_json::json!({
            "cpu": {"shares": 2, "realtimePeriod": 500000, "realtimeRuntime": -1},
        });
        assert_eq!(r, want);
    }

    #[test]
    fn no_flags_change_nothing() {
        let base = serde_json::json!({"memory": {"limit": 1}});
        assert_eq!(apply(&[], base.clone()), base);
    }

    #[test]
    fn a_flag_makes_only_its_own_section() {
        let r = apply(
            &["--cpu-quota=-1", "--blkio-weight", "500"],
            serde_json::json!({}),
        );
        assert_eq!(
            r,
            serde_json::json!({"cpu": {"quota": -1}, "blockIO": {"weight": 500}})
        );
    }
}
