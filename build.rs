//! Compiles the wire contract in `proto/` with a pure-Rust protobuf compiler, so no system
//! `protoc` is needed, and emits the descriptor set that server reflection serves.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/canvass/v1/catalog.proto",
        "proto/canvass/v1/submission.proto",
        "proto/canvass/v1/aggregate.proto",
        "proto/canvass/v1/callcenter.proto",
        "proto/canvass/v1/review.proto",
        "proto/canvass/v1/audit.proto",
        "proto/canvass/v1/export.proto",
        "proto/canvass/v1/auth.proto",
        "proto/canvass/v1/briefing.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("canvass_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // prost with small initial buffers: see src/codec.rs.
        .codec_path("crate::codec::CompactCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
