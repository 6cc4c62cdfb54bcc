//! Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1): fails at the first byte that can never become valid.

use crate::error::ProtocolError;

/// Validates a text message fed in arbitrary pieces.
///
/// Each call to [`feed`](Self::feed) fails as soon as the bytes seen so far cannot be the
/// start of valid UTF-8, even in the middle of a frame; only an unfinished final character is
/// carried between calls (at most 3 bytes). [`finish`](Self::finish) fails if one is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece of the message.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), ProtocolError> {
        if self.carry_len > 0 {
            let have = self.carry_len as usize;
            let need = sequence_len(self.carry[0]);
            let take = (need - have).min(data.len());
            let mut tmp = self.carry;
            tmp[have..have + take].copy_from_slice(&data[..take]);
            match std::str::from_utf8(&tmp[..have + take]) {
                Ok(_) => {
                    self.carry_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix of one character: all of `data` went into it.
                    self.carry = tmp;
                    self.carry_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(ProtocolError::InvalidUtf8),
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            // `error_len() == None`: the tail is a valid but unfinished character.
            Err(e) if e.error_len().is_none() => {
                let tail = &data[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(ProtocolError::InvalidUtf8),
        }
    }

    /// Ends the message: fails if it stopped inside a character. Resets for the next message.
    pub(crate) fn finish(&mut self) -> Result<(), ProtocolError> {
        let complete = self.carry_len == 0;
        *self = Self::default();
        if complete {
            Ok(())
        } else {
            Err(ProtocolError::InvalidUtf8)
        }
    }

    /// Whether a character is unfinished.
    #[cfg(test)]
    fn is_mid_character(&self) -> bool {
        self.carry_len != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_every_split(bytes: &[u8]) {
        let whole_ok = std::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let r = v
                .feed(&bytes[..cut])
                .and_then(|_| v.feed(&bytes[cut..]))
                .and_then(|_| v.finish());
            assert_eq!(r.is_ok(), whole_ok, "{bytes:x?} cut at {cut}");
        }
        let mut v = Utf8Validator::new();
        let r: Result<(), _> = bytes
            .iter()
            .try_for_each(|b| v.feed(std::slice::from_ref(b)));
        assert_eq!(
            r.and_then(|_| v.finish()).is_ok(),
            whole_ok,
            "{bytes:x?} bytewise"
        );
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let cases: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "你好!服务器".as_bytes(),
            "𝄞 and 😀".as_bytes(),
            &[0xED, 0xA0, 0x80],       // surrogate
            &[0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
            &[0xC0, 0xAF],             // overlong
            &[0xE0, 0x80, 0xAF],       // overlong
            &[0xF0, 0x9F, 0x98],       // truncated
            &[0x80],                   // lone continuation
            &[0xFF],
            &[
                0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80,
                0x65, 0x64,
            ],
        ];
        for c in cases {
            check_every_split(c);
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        let mut v = Utf8Validator::new();
        v.feed(b"ok ").unwrap();
        v.feed(&[0xF4]).unwrap(); // could still become U+10xxxx
        assert_eq!(v.feed(&[0x90]), Err(ProtocolError::InvalidUtf8)); // never valid
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[b'a', 0xED, 0xA0]), Err(ProtocolError::InvalidUtf8));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_std_on_any_bytes_split_anywhere(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), cut in proptest::prelude::any::<proptest::sample::Index>()) {
            let c = cut.index(data.len() + 1);
            let mut v = Utf8Validator::new();
            let ok = v.feed(&data[..c]).and_then(|_| v.feed(&data[c..])).and_then(|_| v.finish()).is_ok();
            proptest::prop_assert_eq!(ok, std::str::from_utf8(&data).is_ok());
        }
    }

    #[test]
    fn unfinished_character_fails_at_finish() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xE4, 0xBD]).unwrap();
        assert!(v.is_mid_character());
        assert_eq!(v.finish(), Err(ProtocolError::InvalidUtf8));
        assert!(!v.is_mid_character());
    }
}
