//! Timers for one event loop: per-connection deadlines (handshake, ping, idle, close) and application timers, in one heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::id::TimerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// Check connection `slot` holding `serial`.
    Conn { slot: u32, serial: u64 },
    /// Application timer.
    App(u64),
}

#[derive(Debug)]
struct AppTimer {
    token: u64,
    every: Option<Duration>,
}

/// A min-heap of deadlines. Connection entries are checked against the connection's own
/// record when they fire, so stale ones cost nothing but their slot in the heap.
#[derive(Debug)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Due)>>,
    apps: HashMap<u64, AppTimer>,
    /// Timer ids: the worker's index in the top bits, a counter below (see [`TimerId`]).
    ids: crate::id::Serials,
}

impl Timers {
    pub(crate) fn new(worker: usize) -> Timers {
        Timers {
            heap: BinaryHeap::new(),
            apps: HashMap::new(),
            ids: crate::id::Serials::new(worker),
        }
    }

    pub(crate) fn arm_conn(&mut self, at: Instant, slot: u32, serial: u64) {
        self.heap.push(Reverse((at, Due::Conn { slot, serial })));
    }

    pub(crate) fn add_app(
        &mut self,
        now: Instant,
        after: Duration,
        token: u64,
        repeat: bool,
    ) -> TimerId {
        let id = self.ids.next();
        let every = repeat.then_some(after.max(Duration::from_millis(1)));
        self.apps.insert(id, AppTimer { token, every });
        self.heap.push(Reverse((now + after, Due::App(id))));
        TimerId(id)
    }

    /// Cancels one of this worker's timers; returns whether it was pending.
    pub(crate) fn cancel_app(&mut self, id: TimerId) -> bool {
        self.apps.remove(&id.0).is_some()
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one due entry. An application timer yields its token (and is re-armed if periodic).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Fired> {
        loop {
            let Reverse((at, due)) = *self.heap.peek()?;
            if at > now {
                return None;
            }
            self.heap.pop();
            match due {
                Due::Conn { slot, serial } => return Some(Fired::Conn { slot, serial, at }),
                Due::App(id) => {
                    let Some(t) = self.apps.get(&id) else {
                        continue;
                    };
                    let token = t.token;
                    match t.every {
                        // Re-arm from the planned time so a periodic timer does not drift;
                        // one that is late by a whole period skips the missed ticks rather
                        // than firing again in this turn.
                        Some(every) => {
                            let mut next = at + every;
                            if next <= now {
                                next = now + every;
                            }
                            self.heap.push(Reverse((next, Due::App(id))));
                        }
                        None => {
                            self.apps.remove(&id);
                        }
                    }
                    return Some(Fired::App(token));
                }
            }
        }
    }
}

/// A timer that is due.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    Conn { slot: u32, serial: u64, at: Instant },
    App(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_repeats() {
        let t0 = Instant::now();
        let mut t = Timers::new(0);
        let once = t.add_app(t0, Duration::from_millis(25), 1, false);
        t.add_app(t0, Duration::from_millis(10), 2, true);
        t.arm_conn(t0 + Duration::from_millis(15), 7, 3);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.pop_due(t0), None);
        let now = t0 + Duration::from_millis(25);
        assert_eq!(t.pop_due(now), Some(Fired::App(2)));
        assert!(matches!(
            t.pop_due(now),
            Some(Fired::Conn {
                slot: 7,
                serial: 3,
                ..
            })
        ));
        // The periodic timer fired 15 ms late: its 20 ms tick is skipped, not fired twice now.
        assert_eq!(t.pop_due(now), Some(Fired::App(1)));
        assert_eq!(t.pop_due(now), None);
        assert!(!t.cancel_app(once), "a fired one-shot is gone");
        let later = t0 + Duration::from_millis(100);
        let mut n = 0;
        while let Some(f) = t.pop_due(later) {
            assert_eq!(f, Fired::App(2));
            n += 1;
        }
        assert!(n >= 1);
    }

    #[test]
    fn a_late_periodic_timer_fires_once_per_turn() {
        let t0 = Instant::now();
        let mut t = Timers::new(0);
        t.add_app(t0, Duration::from_millis(10), 5, true);
        // The loop was busy for 35 ms: one firing now, the next a full period later.
        let now = t0 + Duration::from_millis(35);
        assert_eq!(t.pop_due(now), Some(Fired::App(5)));
        assert_eq!(t.pop_due(now), None, "fired twice in one turn");
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
    }

    #[test]
    fn timer_ids_name_their_worker() {
        let t0 = Instant::now();
        let mut mine = Timers::new(1);
        let mut theirs = Timers::new(2);
        let a = mine.add_app(t0, Duration::from_secs(1), 1, false);
        let b = theirs.add_app(t0, Duration::from_secs(1), 1, false);
        assert_eq!((a.worker(), b.worker()), (1, 2));
        assert_ne!(a, b, "the same counter value on two workers gives two ids");
        assert!(!mine.cancel_app(b), "a stranger's timer is not cancelled");
        assert!(mine.cancel_app(a));
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let t0 = Instant::now();
        let mut t = Timers::new(0);
        let id = t.add_app(t0, Duration::from_millis(1), 9, true);
        t.cancel_app(id);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(1)), None);
    }
}
