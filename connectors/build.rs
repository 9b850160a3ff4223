//! Generates the gRPC ingest service from `proto/ingest.proto` (and the
//! reading message it imports from the dataflow crate) with protox: no
//! `protoc` needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/ingest.proto");
    println!("cargo:rerun-if-changed=../dataflow/proto/reading.proto");
    let files = protox::compile(["proto/ingest.proto"], ["proto", "../dataflow/proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Clients bring their own channel (tests, other services): no transport here.
        .build_transport(false)
        .compile_fds(files)?;
    Ok(())
}
