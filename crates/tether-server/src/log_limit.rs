//! Warnings a peer (or a failing system call) could repeat at will, let through at most once per period with a count of those held back, so that nothing floods the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of warning, rate-limited: [`check`](Self::check) says whether to write it now.
///
/// Meant for a `static`, shared by every worker:
/// ```
/// use std::time::{Duration, Instant};
/// use tether_server::LogLimit;
///
/// static SEND_FAILED: LogLimit = LogLimit::new(Duration::from_secs(10));
/// if let Some(held_back) = SEND_FAILED.check(Instant::now()) {
///     log::warn!("a send failed ({held_back} more since the last report)");
/// }
/// ```
#[derive(Debug)]
pub struct LogLimit {
    every: Duration,
    /// When one was last let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimit {
    /// Lets one warning through per `every`.
    pub const fn new(every: Duration) -> LogLimit {
        LogLimit {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held_back)` when a warning may be written at `now` (`held_back`: how many were
    /// not since the last one was); `None` when it must not.
    #[must_use]
    pub fn check(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, held_back) = &mut *state;
        let due = !matches!(last, Some(t) if now.saturating_duration_since(*t) < self.every);
        if due {
            *last = Some(now);
            Some(std::mem::take(held_back))
        } else {
            *held_back += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_period_with_the_count_held_back() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.check(t0), Some(0));
        for s in 0..5 {
            assert_eq!(limit.check(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(limit.check(t0 + Duration::from_millis(9_999)), None);
        assert_eq!(limit.check(t0 + Duration::from_secs(10)), Some(6));
        assert_eq!(limit.check(t0 + Duration::from_secs(11)), None);
        assert_eq!(limit.check(t0 + Duration::from_secs(25)), Some(1));
        // A clock read before the last report (another thread's) is not due.
        assert_eq!(limit.check(t0), None);
    }
}
