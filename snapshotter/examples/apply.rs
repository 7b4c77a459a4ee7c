//! Applies one layer file onto a directory: `apply <layer> <dir>` (for profiling).

use dm_snapshotter::layer::{apply_layer, ApplyOptions, DevicePolicy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opts = ApplyOptions {
        devices: DevicePolicy::Create,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let stats = apply_layer(
        std::fs::File::open(&args[1]).unwrap(),
        args[2].as_ref(),
        &opts,
    )
    .unwrap();
    eprintln!("{stats:?} in {:?}", t.elapsed());
}
