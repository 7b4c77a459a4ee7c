//! Compiles containerd's content API (our own transcription, see proto/content.proto) into tonic
//! server and client code. The client is generated without transport helpers so the library only
//! needs tonic's server side; tests bring their own channel.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/content.proto");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        // Blob data as `Bytes`: received chunks are written without another copy.
        .bytes(".containerd.services.content.v1")
        .compile_protos(&["proto/content.proto"], &["proto"])?;
    Ok(())
}
