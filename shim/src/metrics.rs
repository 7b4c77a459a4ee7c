//! Task stats: the init's cgroup metrics in containerd's cgroups v1 or v2 protobuf types.

use crate::error::Result;
use containerd_shim::cgroup::{collect_metrics, collect_metrics_v2, get_cgroup};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;

/// Metrics of the cgroup `pid` lives in, as the Any `ctr task metrics` decodes.
pub fn stats(pid: u32) -> Result<Any> {
    let cg = get_cgroup(pid)?;
    let (type_url, value) = if cg.v2() {
        let m = collect_metrics_v2(&cg)?;
        ("io.containerd.cgroups.v2.Metrics", m.write_to_bytes())
    } else {
        let m = collect_metrics(&cg)?;
        ("io.containerd.cgroups.v1.Metrics", m.write_to_bytes())
    };
    Ok(Any {
        type_url: type_url.into(),
        value: value.map_err(containerd_shim::Error::from)?,
        ..Default::default()
    })
}
