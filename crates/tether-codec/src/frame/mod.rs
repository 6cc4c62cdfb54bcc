//! Frames on the wire (RFC 6455 §5.2–§5.3): opcodes, the header codec and masking; `simd` also holds `Utf8Bytes` (§5.6), whose O(1) `as_str` is `unsafe`.

pub mod header;
pub mod mask;
pub mod opcode;
mod simd;

pub use simd::Utf8Bytes;
