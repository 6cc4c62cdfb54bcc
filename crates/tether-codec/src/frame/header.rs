//! The frame header (RFC 6455 §5.2): 2 to 14 bytes, decoded incrementally and encoded into a stack array.

use super::opcode::Opcode;
use crate::error::ProtocolError;
use crate::status::Status;

/// A frame header: decoded from the wire with [`decode`](Self::decode), or built with
/// [`new`](Self::new) to [`encode`](Self::encode).
///
/// A header from `decode` keeps every rule a frame obeys whatever the role (see `decode`);
/// the fields are read through methods so that no one can break those rules afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this frame ends its message.
    pub(crate) fin: bool,
    /// The RSV1–3 bits, in place (`0x40`, `0x20`, `0x10`).
    pub(crate) rsv: u8,
    /// The frame's kind.
    pub(crate) opcode: Opcode,
    /// The masking key, present on every client-to-server frame.
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload length in bytes (at most 2^63 - 1).
    pub(crate) payload_len: u64,
}

impl FrameHeader {
    /// The longest header: 2 bytes, 8 of extended length, 4 of mask key.
    pub const MAX_LEN: usize = 14;

    /// A header with no RSV bits; `payload_len` keeps its low 63 bits (the most a frame can
    /// declare, §5.2).
    pub fn new(fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, payload_len: u64) -> Self {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload_len & (u64::MAX >> 1),
        }
    }

    /// This header with the RSV bits in `rsv & 0x70` set (for a negotiated extension).
    #[must_use]
    pub fn with_rsv(self, rsv: u8) -> Self {
        FrameHeader {
            rsv: rsv & 0x70,
            ..self
        }
    }

    /// FIN: this frame ends its message.
    pub fn fin(&self) -> bool {
        self.fin
    }

    /// The RSV1–3 bits, in place (`0x40`, `0x20`, `0x10`).
    pub fn rsv(&self) -> u8 {
        self.rsv
    }

    /// The frame's kind.
    pub fn opcode(&self) -> Opcode {
        self.opcode
    }

    /// The masking key, present on every client-to-server frame.
    pub fn mask(&self) -> Option<[u8; 4]> {
        self.mask
    }

    /// The payload length in bytes (at most 2^63 - 1).
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// Decodes a header from the start of `buf`.
    ///
    /// Returns the header and its length in bytes, or `Partial` when `buf` is too short.
    /// Enforces the rules every frame obeys whatever the role: no reserved opcode, control
    /// frames unfragmented and at most 125 bytes, a 64-bit length without its top bit, and the
    /// length in its shortest form. Role rules (masking, RSV bits, size limits) are the caller's.
    /// Rules are checked as soon as the bytes they need are present.
    #[inline]
    pub fn decode(buf: &[u8]) -> Result<Status<(FrameHeader, usize)>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(Status::Partial);
        };
        let opcode = Opcode::from_u8(b0 & 0x0F)?;
        let fin = b0 & 0x80 != 0;
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControl);
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(Status::Partial);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if opcode.is_control() && len7 > 125 {
            return Err(ProtocolError::ControlTooLong);
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        if buf.len() < 2 + ext {
            return Ok(Status::Partial);
        }
        let payload_len = match len7 {
            126 => {
                let n = u16::from_be_bytes([buf[2], buf[3]]) as u64;
                if n < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                n
            }
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let n = u64::from_be_bytes(b);
                if n >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                if n <= 0xFFFF {
                    return Err(ProtocolError::NonMinimalLength);
                }
                n
            }
            n => n as u64,
        };
        if buf.len() < header_len {
            return Ok(Status::Partial);
        }
        let mask = masked.then(|| {
            let at = 2 + ext;
            [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]
        });
        let header = FrameHeader {
            fin,
            rsv: b0 & 0x70,
            opcode,
            mask,
            payload_len,
        };
        Ok(Status::Complete((header, header_len)))
    }

    /// Encodes this header into `out` and returns how many bytes it used.
    ///
    /// The length is always written in its shortest form (no header holds one over 2^63 - 1).
    #[must_use = "only the first bytes of `out` are the header"]
    pub fn encode(&self, out: &mut [u8; Self::MAX_LEN]) -> usize {
        out[0] = (self.fin as u8) << 7 | (self.rsv & 0x70) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
            2
        } else if self.payload_len <= 0xFFFF {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            let len = self.payload_len & (u64::MAX >> 1);
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }

    /// The header length this frame encodes to.
    pub fn encoded_len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }
}

/// A frame header for a payload of `len` bytes, in a stack array, and its length.
pub(crate) fn encode_header(
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: usize,
) -> ([u8; FrameHeader::MAX_LEN], usize) {
    encode_header_rsv(fin, 0, opcode, mask, len)
}

/// [`encode_header`] with RSV bits (`rsv & 0x70`) set, for a negotiated extension.
pub(crate) fn encode_header_rsv(
    fin: bool,
    rsv: u8,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: usize,
) -> ([u8; FrameHeader::MAX_LEN], usize) {
    let header = FrameHeader {
        fin,
        rsv: rsv & 0x70,
        opcode,
        mask,
        payload_len: len as u64,
    };
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut head);
    (head, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` whole, then every prefix: each prefix is Partial (or the same error).
    fn decode_all_ways(bytes: &[u8]) -> Result<(FrameHeader, usize), ProtocolError> {
        let whole = FrameHeader::decode(bytes);
        for cut in 0..bytes.len() {
            match (FrameHeader::decode(&bytes[..cut]), &whole) {
                (Ok(Status::Partial), _) => {}
                (Ok(Status::Complete(h)), Ok(Status::Complete(w))) => assert_eq!(&h, w),
                (Err(e), Err(w)) => assert_eq!(&e, w),
                (other, _) => panic!("prefix {cut} gave {other:?}, whole gave {whole:?}"),
            }
        }
        match whole? {
            Status::Complete(x) => Ok(x),
            Status::Partial => panic!("whole vector is partial"),
        }
    }

    fn hdr(fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn rfc_5_7_examples() {
        // Unmasked "Hello".
        let (h, n) = decode_all_ways(&[0x81, 0x05]).unwrap();
        assert_eq!((h, n), (hdr(true, Opcode::Text, None, 5), 2));
        // Masked "Hello".
        let (h, n) = decode_all_ways(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]).unwrap();
        assert_eq!(
            (h, n),
            (
                hdr(true, Opcode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), 5),
                6
            )
        );
        // Fragmented "Hel" + "lo".
        let (h, _) = decode_all_ways(&[0x01, 0x03]).unwrap();
        assert_eq!(h, hdr(false, Opcode::Text, None, 3));
        let (h, _) = decode_all_ways(&[0x80, 0x02]).unwrap();
        assert_eq!(h, hdr(true, Opcode::Continuation, None, 2));
        // Ping "Hello".
        let (h, _) = decode_all_ways(&[0x89, 0x05]).unwrap();
        assert_eq!(h, hdr(true, Opcode::Ping, None, 5));
        // 256 bytes binary, 16-bit length.
        let (h, n) = decode_all_ways(&[0x82, 0x7E, 0x01, 0x00]).unwrap();
        assert_eq!((h.payload_len, n), (256, 4));
        // 64 KiB binary, 64-bit length.
        let v = [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        let (h, n) = decode_all_ways(&v).unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn encodes_rfc_examples_byte_for_byte() {
        let mut out = [0u8; FrameHeader::MAX_LEN];
        let n = hdr(true, Opcode::Text, None, 5).encode(&mut out);
        assert_eq!(&out[..n], &[0x81, 0x05]);
        let n = hdr(true, Opcode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), 5).encode(&mut out);
        assert_eq!(&out[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        let n = hdr(false, Opcode::Text, None, 3).encode(&mut out);
        assert_eq!(&out[..n], &[0x01, 0x03]);
        let n = hdr(true, Opcode::Binary, None, 256).encode(&mut out);
        assert_eq!(&out[..n], &[0x82, 0x7E, 0x01, 0x00]);
        let n = hdr(true, Opcode::Binary, None, 65536).encode(&mut out);
        assert_eq!(&out[..n], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            hdr(true, Opcode::Binary, Some([0; 4]), 65536).encoded_len(),
            14
        );
    }

    #[test]
    fn every_rule_is_enforced() {
        assert_eq!(
            decode_all_ways(&[0x83, 0x00]),
            Err(ProtocolError::ReservedOpcode(3))
        );
        assert_eq!(
            decode_all_ways(&[0x8B, 0x00]),
            Err(ProtocolError::ReservedOpcode(0xB))
        );
        assert_eq!(
            decode_all_ways(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControl)
        );
        assert_eq!(
            decode_all_ways(&[0x89, 0x7E, 0, 126]),
            Err(ProtocolError::ControlTooLong)
        );
        let msb = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode_all_ways(&msb), Err(ProtocolError::LengthOverflow));
        assert_eq!(
            decode_all_ways(&[0x82, 0x7E, 0, 125]),
            Err(ProtocolError::NonMinimalLength)
        );
        let short64 = [0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        assert_eq!(
            decode_all_ways(&short64),
            Err(ProtocolError::NonMinimalLength)
        );
        // RSV bits are reported, not judged: that depends on negotiated extensions.
        let (h, _) = decode_all_ways(&[0xC1, 0x00]).unwrap();
        assert_eq!(h.rsv, 0x40);
    }

    #[test]
    fn errors_surface_at_the_first_telling_byte() {
        assert_eq!(
            FrameHeader::decode(&[0x83]),
            Err(ProtocolError::ReservedOpcode(3))
        );
        assert_eq!(
            FrameHeader::decode(&[0x08]),
            Err(ProtocolError::FragmentedControl)
        );
        assert_eq!(FrameHeader::decode(&[]), Ok(Status::Partial));
    }
}
