//! Compiles containerd's diff API (our own transcription, see proto/diff.proto) with the tonic
//! and prost releases containerd-snapshots uses, so the diff service and the snapshots service
//! share one tonic server. The client is generated (no transport helpers) for tests.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/diff.proto");
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .compile(&["proto/diff.proto"], &["proto"])?;
    Ok(())
}
