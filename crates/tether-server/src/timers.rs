//! Timers for one event loop: per-connection deadlines (handshake, ping, idle, close) and application timers, in one heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// An application timer's id, for [`Ctx::cancel_timer`](crate::Ctx::cancel_timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// Check connection `slot` of `generation`.
    Conn { slot: u32, generation: u32 },
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
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Due)>>,
    apps: HashMap<u64, AppTimer>,
    next_id: u64,
}

impl Timers {
    pub(crate) fn arm_conn(&mut self, at: Instant, slot: u32, generation: u32) {
        self.heap
            .push(Reverse((at, Due::Conn { slot, generation })));
    }

    pub(crate) fn add_app(
        &mut self,
        now: Instant,
        after: Duration,
        token: u64,
        repeat: bool,
    ) -> TimerId {
        let id = self.next_id;
        self.next_id += 1;
        let every = repeat.then_some(after.max(Duration::from_millis(1)));
        self.apps.insert(id, AppTimer { token, every });
        self.heap.push(Reverse((now + after, Due::App(id))));
        TimerId(id)
    }

    pub(crate) fn cancel_app(&mut self, id: TimerId) {
        self.apps.remove(&id.0);
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
                Due::Conn { slot, generation } => {
                    return Some(Fired::Conn {
                        slot,
                        generation,
                        at,
                    })
                }
                Due::App(id) => {
                    let Some(t) = self.apps.get(&id) else {
                        continue;
                    };
                    let token = t.token;
                    match t.every {
                        // Re-arm from the planned time so a periodic timer does not drift.
                        Some(every) => self
                            .heap
                            .push(Reverse(((at + every).max(now), Due::App(id)))),
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
    Conn {
        slot: u32,
        generation: u32,
        at: Instant,
    },
    App(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_repeats() {
        let t0 = Instant::now();
        let mut t = Timers::default();
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
                generation: 3,
                ..
            })
        ));
        // The periodic timer, late, was re-armed at `now` (no burst of catch-up firings); the
        // one-shot is due too.
        let mut rest = vec![t.pop_due(now), t.pop_due(now)];
        rest.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(rest, [Some(Fired::App(1)), Some(Fired::App(2))]);
        assert_eq!(t.pop_due(now), None);
        t.cancel_app(once);
        let later = t0 + Duration::from_millis(100);
        let mut n = 0;
        while let Some(f) = t.pop_due(later) {
            assert_eq!(f, Fired::App(2));
            n += 1;
        }
        assert!(n >= 1);
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let id = t.add_app(t0, Duration::from_millis(1), 9, true);
        t.cancel_app(id);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(1)), None);
    }
}
