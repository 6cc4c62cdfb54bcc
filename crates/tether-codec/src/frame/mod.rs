//! Frames on the wire (RFC 6455 §5.2–§5.3): opcodes, the header codec and masking.

pub mod header;
pub mod mask;
pub mod opcode;
mod simd;
