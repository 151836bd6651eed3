//! The Rust types and stubs generated from `proto/databook.proto` by
//! `build.rs`, and its encoded descriptor set for server reflection.

#![allow(clippy::all, clippy::pedantic)]

tonic::include_proto!("databook.v1");

/// `proto/databook.proto` compiled to an encoded `FileDescriptorSet`, which
/// server reflection hands to clients such as `grpcurl`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/databook_descriptor.bin"));
