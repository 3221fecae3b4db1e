//! Code generated from `proto/canvass/v1`.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("canvass.v1");
}

/// Descriptors of the Canvass services, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("canvass_descriptor");
