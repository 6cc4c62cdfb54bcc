//! Timers for one event loop: per-connection deadlines (handshake, ping, idle, close) in a heap of 16-byte entries on a millisecond clock, and application timers in a heap of their own.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::id::TimerId;

/// A time on a worker's clock: milliseconds since the worker started. Connection deadlines
/// need no finer grain, and 8 bytes in each connection and timer entry are half an `Instant`.
pub(crate) type Millis = u64;

/// No timer armed (in `Conn::timer_at`).
pub(crate) const NO_TIMER: Millis = Millis::MAX;

#[derive(Debug)]
struct AppTimer {
    token: u64,
    every: Option<Duration>,
}

/// Two min-heaps of deadlines: one entry of 16 bytes per armed connection (its deadline and
/// slot), and the application's timers apart. Connection entries are checked against the
/// connection's own record when they fire, so stale ones cost nothing but their slot in the
/// heap.
#[derive(Debug)]
pub(crate) struct Timers {
    /// The worker's clock starts here.
    epoch: Instant,
    conns: BinaryHeap<Reverse<(Millis, u32)>>,
    apps_due: BinaryHeap<Reverse<(Instant, u64)>>,
    apps: HashMap<u64, AppTimer>,
    /// Timer ids: the worker's index in the top bits, a counter below (see [`TimerId`]).
    ids: crate::id::Serials,
}

impl Timers {
    pub(crate) fn new(worker: usize, epoch: Instant) -> Timers {
        Timers {
            epoch,
            conns: BinaryHeap::new(),
            apps_due: BinaryHeap::new(),
            apps: HashMap::new(),
            ids: crate::id::Serials::new(worker),
        }
    }

    /// `t` on this clock, rounded down: a deadline is met once the clock reaches it.
    pub(crate) fn millis(&self, t: Instant) -> Millis {
        t.saturating_duration_since(self.epoch).as_millis() as Millis
    }

    /// `d` in milliseconds, rounded up: a timeout never fires early.
    pub(crate) fn span(d: Duration) -> Millis {
        d.as_nanos()
            .div_ceil(1_000_000)
            .try_into()
            .unwrap_or(Millis::MAX)
    }

    /// The instant a time on this clock stands for (`None` past what `Instant` can hold).
    pub(crate) fn instant(&self, at: Millis) -> Option<Instant> {
        self.epoch.checked_add(Duration::from_millis(at))
    }

    pub(crate) fn arm_conn(&mut self, at: Millis, slot: u32) {
        self.conns.push(Reverse((at, slot)));
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
        self.apps_due.push(Reverse((now + after, id)));
        TimerId(id)
    }

    /// Cancels one of this worker's timers; returns whether it was pending.
    pub(crate) fn cancel_app(&mut self, id: TimerId) -> bool {
        self.apps.remove(&id.0).is_some()
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let conn = self
            .conns
            .peek()
            .and_then(|Reverse((at, _))| self.instant(*at));
        let app = self.apps_due.peek().map(|Reverse((at, _))| *at);
        conn.into_iter().chain(app).min()
    }

    /// Pops one due entry. An application timer yields its token (and is re-armed if periodic).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Fired> {
        let now_ms = self.millis(now);
        loop {
            let conn = self.conns.peek().map(|&Reverse(e)| e);
            let app = self.apps_due.peek().map(|&Reverse(e)| e);
            // The earlier of the two heads; a connection's first on a tie.
            let conn_first = match (conn, app) {
                (Some((c, _)), Some((a, _))) => self.instant(c).is_some_and(|c| c <= a),
                (conn, _) => conn.is_some(),
            };
            if conn_first {
                let (at, slot) = conn?;
                if at > now_ms {
                    return None;
                }
                self.conns.pop();
                return Some(Fired::Conn { slot, at });
            }
            let (at, id) = app?;
            if at > now {
                return None;
            }
            self.apps_due.pop();
            let Some(t) = self.apps.get(&id) else {
                continue;
            };
            let token = t.token;
            match t.every {
                // Re-arm from the planned time so a periodic timer does not drift; one that
                // is late by a whole period skips the missed ticks rather than firing again
                // in this turn.
                Some(every) => {
                    let mut next = at + every;
                    if next <= now {
                        next = now + every;
                    }
                    self.apps_due.push(Reverse((next, id)));
                }
                None => {
                    self.apps.remove(&id);
                }
            }
            return Some(Fired::App(token));
        }
    }
}

/// A timer that is due.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// The connection in `slot` (whichever it is now) is to be checked; `at` was the entry's time.
    Conn {
        slot: u32,
        at: Millis,
    },
    App(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_repeats() {
        let t0 = Instant::now();
        let mut t = Timers::new(0, t0);
        let once = t.add_app(t0, Duration::from_millis(25), 1, false);
        t.add_app(t0, Duration::from_millis(10), 2, true);
        t.arm_conn(15, 7);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.pop_due(t0), None);
        let now = t0 + Duration::from_millis(25);
        assert_eq!(t.pop_due(now), Some(Fired::App(2)));
        assert!(matches!(
            t.pop_due(now),
            Some(Fired::Conn { slot: 7, at: 15 })
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
        let mut t = Timers::new(0, t0);
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
        let mut mine = Timers::new(1, t0);
        let mut theirs = Timers::new(2, t0);
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
        let mut t = Timers::new(0, t0);
        let id = t.add_app(t0, Duration::from_millis(1), 9, true);
        t.cancel_app(id);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn the_clock_rounds_deadlines_up_and_times_down() {
        let t0 = Instant::now();
        let t = Timers::new(0, t0);
        assert_eq!(t.millis(t0 + Duration::from_micros(1999)), 1);
        assert_eq!(Timers::span(Duration::from_micros(1001)), 2);
        assert_eq!(Timers::span(Duration::MAX), Millis::MAX);
        assert_eq!(t.instant(3), Some(t0 + Duration::from_millis(3)));
    }

    #[test]
    fn a_connection_entry_is_two_words() {
        assert_eq!(std::mem::size_of::<Reverse<(Millis, u32)>>(), 16);
    }
}
