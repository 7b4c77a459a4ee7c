//! Figures for bench/: snapshot Prepare+Commit latency (library and gRPC over a unix socket) and
//! layer application throughput against GNU `tar -x` of the same layer (plain, gzip, zstd).
//!
//! `cargo run --release -p dm-snapshotter --example measure -- <source dir> [runs]` as root;
//! the source directory becomes the layer (e.g. /usr/share).

use containerd_snapshots::api::snapshots::v1 as api;
use containerd_snapshots::api::snapshots::v1::snapshots_client::SnapshotsClient;
use containerd_snapshots::tonic::transport::Endpoint;
use dm_snapshotter::layer::{apply_layer, ApplyOptions, DevicePolicy};
use dm_snapshotter::{service, Snapshotter};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let src = Path::new(args.get(1).map(String::as_str).unwrap_or("/usr/share"));
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let work = dm_testkit::TempDir::new("dm-measure");
    snapshots(work.path());
    layers(work.path(), src, runs);
}

fn snapshots(work: &Path) {
    let s = Arc::new(Snapshotter::open(&work.join("snaproot")).unwrap());
    s.prepare("base-key", "", HashMap::new()).unwrap();
    s.commit("base", "base-key", HashMap::new()).unwrap();
    let n = 200;
    let mut lib = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        s.prepare(&format!("k{i}"), "base", HashMap::new()).unwrap();
        s.commit(&format!("c{i}"), &format!("k{i}"), HashMap::new())
            .unwrap();
        lib.push(t.elapsed());
    }
    let sock = work.join("snap.sock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let grpc = rt.block_on(async {
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(service::serve(
            s.clone(),
            None,
            listener,
            std::future::pending(),
        ));
        let sock2 = sock.clone();
        let ch = Endpoint::try_from("http://localhost")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_| {
                tokio::net::UnixStream::connect(sock2.clone())
            }))
            .await
            .unwrap();
        let mut c = SnapshotsClient::new(ch);
        let mut v = Vec::new();
        for i in 0..n {
            let t = Instant::now();
            c.prepare(api::PrepareSnapshotRequest {
                snapshotter: String::new(),
                key: format!("g{i}"),
                parent: "base".into(),
                labels: HashMap::new(),
            })
            .await
            .unwrap();
            c.commit(api::CommitSnapshotRequest {
                snapshotter: String::new(),
                name: format!("gc{i}"),
                key: format!("g{i}"),
                labels: HashMap::new(),
            })
            .await
            .unwrap();
            v.push(t.elapsed());
        }
        server.abort();
        v
    });
    println!(
        "prepare+commit (median of {n}): library {:.2} ms, gRPC over unix socket {:.2} ms",
        median(lib).as_secs_f64() * 1e3,
        median(grpc).as_secs_f64() * 1e3
    );
}

fn sh(cmd: &mut Command) {
    let st = cmd.status().unwrap();
    assert!(st.success(), "{cmd:?}");
}

fn layers(work: &Path, src: &Path, runs: usize) {
    let tar = work.join("layer.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(src)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    sh(Command::new("gzip").arg("-k").arg("-6").arg(&tar));
    sh(Command::new("zstd").arg("-q").arg("-k").arg("-3").arg(&tar));
    let size = std::fs::metadata(&tar).unwrap().len() as f64 / 1e6;
    println!(
        "layer: {} as tar, {size:.0} MB uncompressed; median of {runs}, interleaved",
        src.display()
    );
    let opts = ApplyOptions {
        devices: DevicePolicy::Create,
        ..Default::default()
    };
    for (ext, flag) in [("", None), (".gz", Some("-z")), (".zst", Some("--zstd"))] {
        let file = work.join(format!("layer.tar{ext}"));
        let (mut ours, mut gnu) = (Vec::new(), Vec::new());
        for i in 0..runs {
            // Alternate who goes first, and flush the previous run's writes and removals
            // before timing, so neither side pays for the other's leftovers.
            let mut pair = [true, false];
            if i % 2 == 1 {
                pair.reverse();
            }
            for is_ours in pair {
                sh(&mut Command::new("sync"));
                let d = work.join(format!("out{i}-{is_ours}"));
                std::fs::create_dir(&d).unwrap();
                let t = Instant::now();
                if is_ours {
                    apply_layer(std::fs::File::open(&file).unwrap(), &d, &opts).unwrap();
                    ours.push(t.elapsed());
                } else {
                    let mut c = Command::new("tar");
                    c.arg("-C").arg(&d);
                    if let Some(f) = flag {
                        c.arg(f);
                    }
                    sh(c.arg("-xf").arg(&file));
                    gnu.push(t.elapsed());
                }
                std::fs::remove_dir_all(&d).unwrap();
            }
        }
        let (o, g) = (median(ours).as_secs_f64(), median(gnu).as_secs_f64());
        println!(
            "  tar{ext:<4}: apply_layer {:.0} MB/s ({o:.3} s), tar -x {:.0} MB/s ({g:.3} s), ratio {:.2}x",
            size / o,
            size / g,
            o / g
        );
    }
}
