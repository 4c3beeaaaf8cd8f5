//! `linux.resources.hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes`,
//! v2 `hugetlb.<size>.max` (and `.rsvd.max` where the kernel has it).

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use super::super::common::{Error, Result, V1Dirs, v2_limit, write_file, write_v2};

pub(super) fn v1(dirs: &V1Dirs, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let d = dirs.require("hugetlb", &field)?;
        let f = d.join(format!("hugetlb.{}.limit_in_bytes", l.page_size()));
        if !f.exists() {
            return Err(Error::unsupported(
                field,
                format!(
                    "page size {:?} is not supported by the kernel",
                    l.page_size()
                ),
            ));
        }
        write_file(&field, &f, &l.limit().to_string())?;
    }
    Ok(())
}

pub(super) fn v2(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let v = v2_limit(&field, l.limit())?;
        let f = d.join(format!("hugetlb.{}.max", l.page_size()));
        if !f.exists() {
            return Err(Error::unsupported(
                field,
                format!(
                    "{} does not exist (unsupported page size {:?}, or the hugetlb controller is not available)",
                    f.display(),
                    l.page_size()
                ),
            ));
        }
        write_v2(&field, &f, &v)?;
        let rsvd = d.join(format!("hugetlb.{}.rsvd.max", l.page_size()));
        if rsvd.exists() {
            write_v2(&field, &rsvd, &v)?;
        }
    }
    Ok(())
}
