//! Where client masking keys and handshake nonces come from (RFC 6455 §5.3, §10.3): unpredictable by default, injectable for tests.

use crate::error::UsageError;

/// A source of the random bytes a client needs: a fresh 4-byte key per frame and a 16-byte
/// `Sec-WebSocket-Key` nonce.
///
/// RFC 6455 §10.3 requires keys an attacker cannot predict: use [`OsRandom`] outside tests.
pub trait MaskSource: Send {
    /// Fills `dst` with random bytes.
    fn fill(&mut self, dst: &mut [u8]) -> Result<(), UsageError>;

    /// A fresh masking key.
    fn mask_key(&mut self) -> Result<[u8; 4], UsageError> {
        let mut k = [0u8; 4];
        self.fill(&mut k)?;
        Ok(k)
    }
}

/// Randomness from the operating system's CSPRNG (`getrandom`), drawn 256 bytes at a time so
/// a busy client does not make a system call per frame.
pub struct OsRandom {
    pool: [u8; 256],
    used: usize,
}

impl OsRandom {
    /// A source with an empty pool; the first use draws from the OS.
    pub fn new() -> Self {
        OsRandom {
            pool: [0; 256],
            used: 256,
        }
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OsRandom")
    }
}

impl MaskSource for OsRandom {
    fn fill(&mut self, mut dst: &mut [u8]) -> Result<(), UsageError> {
        while !dst.is_empty() {
            if self.used == self.pool.len() {
                getrandom::fill(&mut self.pool).map_err(|_| UsageError::Random)?;
                self.used = 0;
            }
            let n = dst.len().min(self.pool.len() - self.used);
            dst[..n].copy_from_slice(&self.pool[self.used..self.used + n]);
            // Never hand out the same bytes twice.
            self.pool[self.used..self.used + n].fill(0);
            self.used += n;
            dst = &mut dst[n..];
        }
        Ok(())
    }
}

/// A predictable sequence for tests and reproducible fuzzing: cycles through `bytes`.
///
/// Never use it on a real connection: predictable masks defeat §10.3.
#[derive(Debug, Clone)]
pub struct FixedMasks {
    bytes: Vec<u8>,
    at: usize,
}

impl FixedMasks {
    /// Cycles through `bytes` (an empty sequence gives zeros).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        FixedMasks {
            bytes: bytes.into(),
            at: 0,
        }
    }
}

impl MaskSource for FixedMasks {
    fn fill(&mut self, dst: &mut [u8]) -> Result<(), UsageError> {
        for b in dst {
            *b = if self.bytes.is_empty() {
                0
            } else {
                let v = self.bytes[self.at % self.bytes.len()];
                self.at = self.at.wrapping_add(1);
                v
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_differs_between_draws() {
        let mut r = OsRandom::new();
        let a = r.mask_key().unwrap();
        let b = r.mask_key().unwrap();
        let mut big = [0u8; 600];
        r.fill(&mut big).unwrap();
        // 2^-32 chance of a false failure for the keys; the 600 bytes are never all zero.
        assert_ne!(a, b);
        assert!(big.iter().any(|&x| x != 0));
    }

    #[test]
    fn fixed_masks_cycle() {
        let mut f = FixedMasks::new([1, 2, 3]);
        assert_eq!(f.mask_key().unwrap(), [1, 2, 3, 1]);
        assert_eq!(f.mask_key().unwrap(), [2, 3, 1, 2]);
    }
}
