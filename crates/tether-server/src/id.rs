//! Ids of connections and timers: each names the worker that holds it, and none is ever reused.

/// A connection's id, stable for its life and never reused by a later connection.
///
/// It names the worker thread that holds the connection, so any thread can reach it. The
/// serial is a per-worker counter of 56 bits: at a million connections a second it would
/// take two thousand years to wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Worker index in the top 8 bits, then the worker's connection counter.
    serial: u64,
    /// Where the connection sits in its worker's table: a lookup hint, checked against `serial`.
    slot: u32,
}

const SERIAL_BITS: u32 = 56;
const SERIAL_MASK: u64 = (1 << SERIAL_BITS) - 1;

impl ConnId {
    pub(crate) fn new(serial: u64, slot: u32) -> ConnId {
        ConnId { serial, slot }
    }

    /// The worker thread that holds the connection.
    pub fn worker(self) -> usize {
        (self.serial >> SERIAL_BITS) as usize
    }

    /// An id known by its serial alone (from [`as_u64`](Self::as_u64)): good for comparing
    /// with [`same_conn`](Self::same_conn), not for reaching the connection.
    pub(crate) fn from_serial(serial: u64) -> ConnId {
        ConnId {
            serial,
            slot: u32::MAX,
        }
    }

    /// Whether both name the same connection (serials are never reused).
    pub(crate) fn same_conn(self, other: ConnId) -> bool {
        self.serial == other.serial
    }

    pub(crate) fn slot(self) -> u32 {
        self.slot
    }

    pub(crate) fn serial(self) -> u64 {
        self.serial
    }

    /// The id as one number, unique over the life of the process (for logs and application maps).
    pub fn as_u64(self) -> u64 {
        self.serial
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.worker(),
            self.slot,
            self.serial & SERIAL_MASK
        )
    }
}

/// Hands out the serials of one worker: its index in the top bits, a counter below.
#[derive(Debug)]
pub(crate) struct Serials {
    worker: u64,
    next: u64,
}

impl Serials {
    pub(crate) fn new(worker: usize) -> Serials {
        Serials {
            worker: (worker as u64) << SERIAL_BITS,
            next: 1,
        }
    }

    /// The next serial, never one given before (the counter saturates rather than wraps).
    pub(crate) fn next(&mut self) -> u64 {
        let n = self.next;
        self.next = (self.next + 1).min(SERIAL_MASK);
        self.worker | n
    }
}

/// An application timer's id, for [`Ctx::cancel_timer`](crate::Ctx::cancel_timer). It names
/// the worker that owns the timer, so another worker's cancel cannot reach a stranger's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub(crate) u64);

impl TimerId {
    /// The worker whose loop runs the timer.
    pub fn worker(self) -> usize {
        (self.0 >> SERIAL_BITS) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_name_their_worker_and_never_repeat() {
        let mut s = Serials::new(255);
        let a = ConnId::new(s.next(), 7);
        let b = ConnId::new(s.next(), 7);
        assert_eq!((a.worker(), b.worker()), (255, 255));
        assert_ne!(a, b, "the same slot gets a new id");
        assert_ne!(a.as_u64(), b.as_u64());
        let mut other = Serials::new(3);
        let c = ConnId::new(other.next(), 7);
        assert_eq!(c.worker(), 3);
        assert_ne!(a.as_u64(), c.as_u64());
        assert_eq!(a.to_string(), "255-7-1");
    }

    #[test]
    fn a_slot_reused_four_billion_times_still_gets_fresh_ids() {
        // The old 32-bit generation wrapped here and named an old connection again.
        let mut s = Serials::new(0);
        s.next = u32::MAX as u64;
        let before = s.next();
        let after = s.next();
        assert!(after > before && after > u32::MAX as u64);
    }
}
