//! When to try a failed effect again, and when to give up.
//!
//! Why: a flapping backend must not be hammered by every worker of every replica at once
//! (exponential backoff with full jitter spreads the retries), and an effect that keeps failing
//! must end up visibly failed rather than retried forever.
//!
//! Invariants:
//! - The delay after the n-th failure is uniform in `[0, min(cap, base · 2^(n-1))]` ("full
//!   jitter"); it never exceeds `cap` and the upper bound never shrinks as n grows.
//! - A rate-limited attempt waits exactly the Retry-After it carries (at least
//!   `min_rate_limit_wait`), never less, and does not count toward `max_attempts`.
//! - `max_attempts` counts failed attempts (transient, or outcome unknown) since the last admin
//!   retry; reaching it fails the effect.

use std::time::Duration;

use rand::Rng;

/// The retry settings of a worker pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Upper bound of the first retry's delay.
    pub base: Duration,
    /// Largest delay between two attempts.
    pub cap: Duration,
    /// Failed attempts after which the effect fails.
    pub max_attempts: u32,
    /// Shortest wait after a rate-limited answer without a usable Retry-After.
    pub min_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(15 * 60),
            max_attempts: 10,
            min_rate_limit_wait: Duration::from_secs(1),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    After(Duration),
    /// Out of attempts: fail the effect.
    GiveUp,
}

impl RetryPolicy {
    /// Upper bound of the delay after the `failures`-th failure (1-based).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(40);
        let factor = 1u64 << exponent;
        let base_ms = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let cap_ms = u64::try_from(self.cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(base_ms.saturating_mul(factor).min(cap_ms))
    }

    /// The decision after a transient failure that brings the effect to `failures` failures.
    pub fn after_failure(&self, failures: u32, rng: &mut impl Rng) -> RetryDecision {
        if failures >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let ceiling = u64::try_from(self.ceiling(failures).as_millis()).unwrap_or(u64::MAX);
        RetryDecision::After(Duration::from_millis(rng.gen_range(0..=ceiling)))
    }

    /// The wait after a rate-limited answer carrying `retry_after_ms`.
    pub fn rate_limit_wait(&self, retry_after_ms: u64) -> Duration {
        Duration::from_millis(retry_after_ms).max(self.min_rate_limit_wait)
    }
}

/// A `Duration` as whole milliseconds for instant arithmetic.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            max_attempts: 5,
            min_rate_limit_wait: Duration::from_millis(500),
        }
    }

    #[test]
    fn backoff_ceiling_doubles_until_the_cap() {
        let p = policy();
        let ceilings: Vec<u128> = (1..=10).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            vec![100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_spreads() {
        let p = RetryPolicy {
            max_attempts: 100,
            ..policy()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2000 {
            let RetryDecision::After(delay) = p.after_failure(3, &mut rng) else {
                panic!("gave up early");
            };
            assert!(delay <= Duration::from_millis(400));
            seen_low |= delay < Duration::from_millis(100);
            seen_high |= delay > Duration::from_millis(300);
        }
        assert!(seen_low && seen_high, "delays are spread over the range");
    }

    #[test]
    fn gives_up_at_max_attempts() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(1);
        assert!(matches!(
            p.after_failure(4, &mut rng),
            RetryDecision::After(_)
        ));
        assert_eq!(p.after_failure(5, &mut rng), RetryDecision::GiveUp);
    }

    #[test]
    fn rate_limit_waits_at_least_retry_after() {
        let p = policy();
        assert_eq!(p.rate_limit_wait(30_000), Duration::from_secs(30));
        assert_eq!(p.rate_limit_wait(0), Duration::from_millis(500));
    }
}
