//! Times the cgroup work of one container start and delete on this host:
//! `Cgroup::new` + `create` + `apply` (memory, pids, cpu, default devices) + `destroy`.
//! Usage (root): `churn [iterations]`.

use std::time::Instant;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let res: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{"memory":{"limit":67108864},"pids":{"limit":100},"cpu":{"shares":512},
            "devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#,
    )
    .unwrap();
    let mut phases = [0u128; 4];
    for i in 0..n {
        let t0 = Instant::now();
        let mut cg =
            dm_cgroups::Cgroup::new(None, &format!("dmcg-churn-{}-{i}", std::process::id()))
                .unwrap();
        let t1 = Instant::now();
        cg.create().unwrap();
        let t2 = Instant::now();
        cg.apply(&res).unwrap();
        let t3 = Instant::now();
        cg.destroy().unwrap();
        let t4 = Instant::now();
        for (p, (a, b)) in phases
            .iter_mut()
            .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
        {
            *p += (b - a).as_micros();
        }
    }
    let names = ["new", "create", "apply", "destroy"];
    for (name, total) in names.iter().zip(phases) {
        println!("{name:8} {:7.1} µs", total as f64 / f64::from(n));
    }
}
