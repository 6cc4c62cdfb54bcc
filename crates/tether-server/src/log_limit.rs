//! A rate limit for log lines a peer or a failing system call could otherwise repeat without end.

use std::time::{Duration, Instant};

/// Lets one line through per period and counts the ones it held back.
#[derive(Debug)]
pub(crate) struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub(crate) fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held back since the
    /// last one; `None` when this one is to be held back.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_and_a_count_of_the_rest() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(Duration::from_secs(10));
        assert_eq!(r.allow(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(r.allow(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(r.allow(t0 + Duration::from_secs(10)), Some(1000));
        assert_eq!(r.allow(t0 + Duration::from_secs(11)), None);
    }
}
