//! A small async token bucket: each channel driver sends at most `rate_per_second` messages a
//! second, with bursts of up to one second's worth, shared by every task that sends on it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The shared limiter of one driver. Callers queue fairly: each call reserves the next token,
/// even one not yet refilled, and sleeps until it is due.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter { bucket: Mutex::new(Bucket::new(per_second, Instant::now())) }
    }

    /// Waits for this caller's turn.
    pub async fn acquire(&self) {
        let wait = self.bucket.lock().unwrap_or_else(|e| e.into_inner()).reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The bucket's arithmetic, pure: `reserve` is given the time.
#[derive(Debug, Clone)]
pub struct Bucket {
    per_second: f64,
    /// Tokens available at `updated`; negative while callers wait for tokens not yet refilled.
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    pub fn new(per_second: u32, now: Instant) -> Bucket {
        let per_second = f64::from(per_second.max(1));
        Bucket { per_second, tokens: per_second, updated: now }
    }

    /// Takes one token; returns how long to wait before using it (zero when one was there).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.updated = now.max(self.updated);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second) - 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.per_second) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_spaces_requests() {
        let start = Instant::now();
        let mut bucket = Bucket::new(2, start);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        // The third and fourth wait for refills, in order.
        assert_eq!(bucket.reserve(start), Duration::from_millis(500));
        assert_eq!(bucket.reserve(start), Duration::from_millis(1000));
        // Two seconds later the backlog is paid and the bucket is full again.
        let later = start + Duration::from_secs(2);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::from_millis(500));
    }

    #[test]
    fn idle_time_refills_no_more_than_one_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new(3, start);
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(much_later), Duration::ZERO);
        }
        assert!(bucket.reserve(much_later) > Duration::ZERO);
        assert_eq!(Bucket::new(0, start).reserve(start), Duration::ZERO, "a zero rate is read as 1");
    }

    #[tokio::test]
    async fn the_limiter_lets_a_burst_through_at_once() {
        let limiter = RateLimiter::new(50);
        let started = std::time::Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
